import Link from "next/link";

export default function NotFound() {
  return (
    <div className="page-status">
      <h1>Not found</h1>
      <p>
        <Link href="/">Back to the chat</Link>
      </p>
    </div>
  );
}
