export function QueryApiMissing({ page }: { page: string }) {
  return (
    <div className="page-status">
      <h1>{page}</h1>
      <div className="alert warn" role="alert">
        This page needs the query API: set <code>queryApiUrl</code> in <code>config.json</code>, e.g.{" "}
        <code>{'"queryApiUrl": "http://localhost:8102"'}</code>.
      </div>
    </div>
  );
}
