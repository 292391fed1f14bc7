/** An inference event's status: ok, error, or cancelled. */
export function StatusBadge({ status }: { status: string }) {
  const cls = status === "ok" ? "badge ok" : status === "error" ? "badge err" : "badge warn";
  return (
    <span className={cls} data-testid="log-status">
      {status}
    </span>
  );
}
