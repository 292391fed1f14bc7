"use client";

import { useState, type FormEvent } from "react";
import { useFetch } from "@/hooks/useFetch";
import { useSession } from "@/hooks/useSession";
import { formatTime } from "@/lib/format";
import { SLUG_PATTERN, type Project } from "@/lib/identity";
import { useApp } from "../AppContext";
import { act, ActionStatus, AdminShell, type Status } from "./AdminShell";
import { AdminTable, type AdminColumn } from "./AdminTable";

const PROJECT_COLUMNS: AdminColumn<Project>[] = [
  { header: "Slug", cell: (p) => <code>{p.slug}</code> },
  { header: "Name", cell: (p) => p.name },
  { header: "Created", cell: (p) => formatTime(p.created_at) },
];

/** Projects: create, rename, delete; and the project the chat's own events go to. */
export function ProjectsAdmin() {
  const { identity } = useApp();
  const { can } = useSession();
  const admin = can("admin");
  const list = useFetch(admin ? "projects" : null, () => identity.listProjects());
  const chat = useFetch(admin ? "chat-project" : null, () => identity.chatProject());
  const [status, setStatus] = useState<Status>(null);
  const reload = async () => void (await list.reload());

  async function rename(p: Project) {
    const name = window.prompt(`New name for ${p.slug}`, p.name)?.trim();
    if (!name || name === p.name) return;
    if (await act(setStatus, () => identity.renameProject(p.slug, name), `Renamed ${p.slug}.`)) await reload();
  }

  async function remove(p: Project) {
    if (!window.confirm(`Delete the project ${p.slug} and its ingestion keys? Its events stay.`)) return;
    if (await act(setStatus, () => identity.deleteProject(p.slug), `Deleted ${p.slug}.`)) await reload();
  }

  async function chooseChat(slug: string) {
    if (await act(setStatus, () => identity.setChatProject(slug), `The chat's events now go to ${slug}.`)) await chat.reload();
  }

  return (
    <AdminShell title="Projects">
      <CreateProjectForm onCreated={reload} />
      <section className="card" aria-labelledby="chat-project-title">
        <h2 id="chat-project-title">The chat&apos;s project</h2>
        <div className="field">
          <label htmlFor="chat-project">The chat&apos;s own events go to</label>
          <select
            id="chat-project"
            value={chat.data?.project ?? ""}
            onChange={(e) => void chooseChat(e.target.value)}
            disabled={!chat.data}
          >
            {list.data?.map((p) => (
              <option key={p.slug} value={p.slug}>
                {p.name} ({p.slug})
              </option>
            ))}
          </select>
        </div>
      </section>
      <ActionStatus status={status} />
      <AdminTable
        label="Projects"
        what="the projects"
        error={list.error}
        rows={list.data}
        rowKey={(p) => p.slug}
        rowData={(p) => ({ "data-project": p.slug })}
        columns={PROJECT_COLUMNS}
        actions={(p) => (
          <>
            <button type="button" className="btn small" onClick={() => void rename(p)}>
              Rename
            </button>
            <button type="button" className="btn small danger ghost" onClick={() => void remove(p)}>
              Delete
            </button>
          </>
        )}
      />
    </AdminShell>
  );
}

function CreateProjectForm({ onCreated }: { onCreated: () => Promise<void> }) {
  const { identity } = useApp();
  const [slug, setSlug] = useState("");
  const [name, setName] = useState("");
  const [status, setStatus] = useState<Status>(null);

  async function submit(e: FormEvent) {
    e.preventDefault();
    const s = slug.trim();
    if (await act(setStatus, () => identity.createProject(s, name.trim() || s), `Created ${s}.`)) {
      setSlug("");
      setName("");
      await onCreated();
    }
  }

  return (
    <section className="card" aria-labelledby="create-project-title">
      <h2 id="create-project-title">Create a project</h2>
      <form className="inline-form" onSubmit={submit}>
        <div className="field">
          <label htmlFor="project-slug">Slug</label>
          <input
            id="project-slug"
            required
            pattern={SLUG_PATTERN}
            title="Lower-case letters, digits and dashes, starting with a letter or digit"
            placeholder="prod"
            value={slug}
            onChange={(e) => setSlug(e.target.value)}
          />
        </div>
        <div className="field">
          <label htmlFor="project-name">Name</label>
          <input id="project-name" maxLength={200} placeholder="Production" value={name} onChange={(e) => setName(e.target.value)} />
        </div>
        <button type="submit" className="btn primary">
          Create
        </button>
      </form>
      <ActionStatus status={status} />
    </section>
  );
}
