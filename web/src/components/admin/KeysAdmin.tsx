"use client";

import { useState, type FormEvent } from "react";
import { useFetch } from "@/hooks/useFetch";
import { useSession } from "@/hooks/useSession";
import { formatTime } from "@/lib/format";
import type { ApiKey, CreatedKey, KeyKind } from "@/lib/identity";
import { useApp } from "../AppContext";
import { act, ActionStatus, AdminShell, ShownOnce, type Status } from "./AdminShell";
import { AdminTable, type AdminColumn } from "./AdminTable";

const KEY_COLUMNS: AdminColumn<ApiKey>[] = [
  { header: "Prefix", cell: (k) => <code>{k.prefix}</code> },
  { header: "Name", cell: (k) => k.name },
  { header: "Kind", cell: (k) => (k.kind === "ingest" ? "ingestion" : "read token") },
  { header: "Project / user", cell: (k) => (k.kind === "ingest" ? k.project : k.user_email) },
  { header: "Created", cell: (k) => formatTime(k.created_at) },
  { header: "Last used", cell: (k) => (k.last_used_at ? formatTime(k.last_used_at) : "never") },
  { header: "Expires", cell: (k) => (k.expires_at ? formatTime(k.expires_at) : "never") },
  { header: "Status", cell: (k) => k.status },
];

/** Keys: ingestion keys (one project) and personal read tokens; create (shown once), revoke. */
export function KeysAdmin() {
  const { identity } = useApp();
  const { can } = useSession();
  const list = useFetch(can("admin") ? "keys" : null, () => identity.listKeys());
  const [status, setStatus] = useState<Status>(null);
  const reload = async () => void (await list.reload());

  async function revoke(k: ApiKey) {
    if (!window.confirm(`Revoke ${k.name} (${k.prefix})? It stops working at once.`)) return;
    if (await act(setStatus, () => identity.revokeKey(k.id), `Revoked ${k.prefix}.`)) await reload();
  }

  return (
    <AdminShell title="API keys">
      <CreateKeyForm onCreated={reload} />
      <ActionStatus status={status} />
      <AdminTable
        label="Keys"
        what="the keys"
        error={list.error}
        rows={list.data}
        rowKey={(k) => k.id}
        rowData={(k) => ({ "data-key": k.prefix })}
        columns={KEY_COLUMNS}
        actions={(k) =>
          k.status === "active" && (
            <button type="button" className="btn small danger ghost" onClick={() => void revoke(k)}>
              Revoke
            </button>
          )
        }
      />
    </AdminShell>
  );
}

function CreateKeyForm({ onCreated }: { onCreated: () => Promise<void> }) {
  const { identity } = useApp();
  const projects = useFetch("projects", () => identity.listProjects());
  const [kind, setKind] = useState<KeyKind>("ingest");
  const [name, setName] = useState("");
  const [project, setProject] = useState("");
  const [expires, setExpires] = useState("");
  const [created, setCreated] = useState<CreatedKey | null>(null);
  const [status, setStatus] = useState<Status>(null);
  const chosen = project || projects.data?.[0]?.slug || "";

  async function submit(e: FormEvent) {
    e.preventDefault();
    const ok = await act(setStatus, async () => {
      setCreated(
        await identity.createKey({
          kind,
          name: name.trim(),
          project: kind === "ingest" ? chosen : null,
          // the end of the chosen day, in the reader's time zone
          expires_at: expires ? new Date(`${expires}T23:59:59`).toISOString() : null,
        }),
      );
    });
    if (ok) {
      setName("");
      await onCreated();
    }
  }

  return (
    <section className="card" aria-labelledby="create-key-title">
      <h2 id="create-key-title">Create a key</h2>
      <form className="inline-form" onSubmit={submit}>
        <div className="field">
          <label htmlFor="key-kind">Kind</label>
          <select id="key-kind" value={kind} onChange={(e) => setKind(e.target.value as KeyKind)}>
            <option value="ingest">Ingestion key (sends events to a project)</option>
            <option value="read">Personal read token (the query API as you)</option>
          </select>
        </div>
        <div className="field">
          <label htmlFor="key-name">Name</label>
          <input id="key-name" required maxLength={200} value={name} onChange={(e) => setName(e.target.value)} />
        </div>
        {kind === "ingest" && (
          <div className="field">
            <label htmlFor="key-project">Project</label>
            <select id="key-project" value={chosen} onChange={(e) => setProject(e.target.value)} required>
              {projects.data?.map((p) => (
                <option key={p.slug} value={p.slug}>
                  {p.name} ({p.slug})
                </option>
              ))}
            </select>
          </div>
        )}
        <div className="field">
          <label htmlFor="key-expires">Expires (optional)</label>
          <input id="key-expires" type="date" value={expires} onChange={(e) => setExpires(e.target.value)} />
        </div>
        <button type="submit" className="btn primary">
          Create
        </button>
      </form>
      <ActionStatus status={status} />
      {created && (
        <ShownOnce
          label={`${created.kind === "ingest" ? "Ingestion key" : "Read token"} “${created.name}”.`}
          value={created.token}
          onDone={() => setCreated(null)}
        />
      )}
    </section>
  );
}
