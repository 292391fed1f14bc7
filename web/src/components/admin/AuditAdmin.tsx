"use client";

import { useCursorPages } from "@/hooks/useFetch";
import { useSession } from "@/hooks/useSession";
import { formatTime } from "@/lib/format";
import { useApp } from "../AppContext";
import { AdminShell } from "./AdminShell";

const PAGE_SIZE = 50;

/** The audit log, newest first, a page at a time. */
export function AuditAdmin() {
  const { identity } = useApp();
  const { can } = useSession();
  const list = useCursorPages(can("admin") ? ["audit", PAGE_SIZE] : null, (cursor) => identity.audit(cursor, PAGE_SIZE));
  const items = list.pages.flatMap((p) => p.items);
  return (
    <AdminShell title="Audit log">
      {list.error && (
        <div className="alert" role="alert">
          Could not load the audit log: {list.error.message}
        </div>
      )}
      <table className="data-table" aria-label="Audit log">
        <thead>
          <tr>
            <th>When</th>
            <th>Who</th>
            <th>What</th>
            <th>Target</th>
            <th>Address</th>
            <th>Detail</th>
          </tr>
        </thead>
        <tbody>
          {items.map((e) => (
            <tr key={e.id} data-action={e.action}>
              <td>{formatTime(e.at)}</td>
              <td>{e.actor}</td>
              <td>
                <code>{e.action}</code>
              </td>
              <td>{e.target ?? ""}</td>
              <td>{e.address ?? ""}</td>
              <td>{Object.keys(e.detail).length ? <code>{JSON.stringify(e.detail)}</code> : ""}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {list.loading && (
        <p className="muted" role="status">
          Loading…
        </p>
      )}
      {!list.loading && items.length === 0 && !list.error && <p className="muted">Nothing recorded yet.</p>}
      {list.cursor && (
        <button type="button" className="btn" onClick={() => void list.loadMore()} disabled={list.loading}>
          Load more
        </button>
      )}
    </AdminShell>
  );
}
