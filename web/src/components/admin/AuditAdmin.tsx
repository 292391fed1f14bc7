"use client";

import { useCursorPages } from "@/hooks/useFetch";
import { useSession } from "@/hooks/useSession";
import { formatTime } from "@/lib/format";
import { useApp } from "../AppContext";
import type { AuditEntry } from "@/lib/identity";
import { AdminShell } from "./AdminShell";
import { AdminTable, type AdminColumn } from "./AdminTable";

const PAGE_SIZE = 50;

const AUDIT_COLUMNS: AdminColumn<AuditEntry>[] = [
  { header: "When", cell: (e) => formatTime(e.at) },
  { header: "Who", cell: (e) => e.actor },
  { header: "What", cell: (e) => <code>{e.action}</code> },
  { header: "Target", cell: (e) => e.target ?? "" },
  { header: "Address", cell: (e) => e.address ?? "" },
  { header: "Detail", cell: (e) => (Object.keys(e.detail).length ? <code>{JSON.stringify(e.detail)}</code> : "") },
];

/** The audit log, newest first, a page at a time. */
export function AuditAdmin() {
  const { identity } = useApp();
  const { can } = useSession();
  const list = useCursorPages(can("admin") ? ["audit", PAGE_SIZE] : null, (cursor) => identity.audit(cursor, PAGE_SIZE));
  const items = list.pages.flatMap((p) => p.items);
  return (
    <AdminShell title="Audit log">
      <AdminTable
        label="Audit log"
        what="the audit log"
        error={list.error}
        rows={items}
        rowKey={(e) => e.id}
        rowData={(e) => ({ "data-action": e.action })}
        columns={AUDIT_COLUMNS}
      />
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
