"use client";

import Link from "next/link";
import { useState, type FormEvent } from "react";
import { ApiError } from "@/lib/http";
import { dashboardProject, newDashboardProject, specToView, viewToSpec, type MetricsView } from "@/lib/query/dashboards";
import type { Dashboard } from "@/lib/query/types";
import { WINDOW_LABELS } from "@/lib/query/windows";
import { useFetch } from "@/hooks/useFetch";
import { useProject } from "@/hooks/useProject";
import { useApp } from "./AppContext";
import { DashboardProjectLabel, DashboardProjectPick } from "./DashboardProject";

/** Saved dashboards: the current view saved under a name; opening one restores its view. */
export function Dashboards({
  view,
  charts,
  onOpen,
}: {
  view: MetricsView;
  /** The page's charts, saved as timeseries panels. */
  charts: { title: string; figures: string[] }[];
  onOpen: (v: MetricsView) => void;
}) {
  const { query } = useApp();
  const { project } = useProject();
  const listed = dashboardProject(project);
  const list = useFetch(query ? ["dashboards", listed] : null, () => query!.listDashboards(listed));
  const items = list.data ?? null;
  const [name, setName] = useState("");
  const [picked, setPicked] = useState("default");
  const [busy, setBusy] = useState(false);
  const [msg, setMsg] = useState<{ kind: "ok" | "error"; text: string } | null>(null);
  const shown = msg ?? (list.error ? { kind: "error" as const, text: `Could not load the dashboards: ${list.error.message}` } : null);
  const load = list.reload;

  async function save(e: FormEvent) {
    e.preventDefault();
    if (!query) return;
    const n = name.trim();
    if (!n) {
      setMsg({ kind: "error", text: "Name the dashboard." });
      return;
    }
    setBusy(true);
    setMsg(null);
    try {
      await query.createDashboard(n, viewToSpec(view, charts), newDashboardProject(project, picked));
      setName("");
      setMsg({ kind: "ok", text: project ? `Saved “${n}”.` : `Saved “${n}” in ${newDashboardProject(project, picked)}.` });
      await load();
    } catch (err) {
      const taken = err instanceof ApiError && err.code === "name_taken";
      setMsg({ kind: "error", text: taken ? `A dashboard named “${n}” already exists: choose another name.` : (err as Error).message });
    } finally {
      setBusy(false);
    }
  }

  async function remove(d: Dashboard) {
    if (!query || !window.confirm(`Delete the dashboard “${d.name}”?`)) return;
    setBusy(true);
    setMsg(null);
    try {
      await query.deleteDashboard(d.id);
      await load();
    } catch (err) {
      setMsg({ kind: "error", text: (err as Error).message });
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="card dashboards" aria-labelledby="dash-title" data-testid="dashboards">
      <h2 id="dash-title">Saved dashboards</h2>
      <p className="small">
        <Link href="/dashboards/">Manage dashboards</Link> (open, rename, duplicate, delete)
      </p>
      {items && items.length === 0 && <p className="muted small">None yet: save the current view to come back to it.</p>}
      {items && items.length > 0 && (
        <ul className="dash-list">
          {items.map((d) => {
            const v = specToView(d.spec);
            const filters = [v.model, v.provider, v.status].filter(Boolean).join(", ");
            return (
              <li key={d.id} data-dashboard={d.name} data-project={d.project}>
                <button type="button" className="btn small" onClick={() => onOpen(v)} aria-label={`Open ${d.name}`}>
                  Open
                </button>
                <span className="dash-name">{d.name}</span>
                <DashboardProjectLabel slug={d.project} />
                <span className="muted small">
                  {WINDOW_LABELS[v.window]}
                  {filters && ` · ${filters}`}
                  {v.breakdown && " · by model"}
                </span>
                <button
                  type="button"
                  className="icon-btn danger"
                  onClick={() => void remove(d)}
                  disabled={busy}
                  aria-label={`Delete ${d.name}`}
                >
                  Delete
                </button>
              </li>
            );
          })}
        </ul>
      )}
      <form className="row" onSubmit={save}>
        <label htmlFor="dash-name" className="sr-only">
          Dashboard name
        </label>
        <input
          id="dash-name"
          className="text-input"
          placeholder="Dashboard name"
          value={name}
          maxLength={200}
          onChange={(e) => setName(e.target.value)}
        />
        <DashboardProjectPick id="dash-project" value={picked} onChange={setPicked} />
        <button type="submit" className="btn" disabled={busy}>
          Save current view
        </button>
        {shown && (
          <span className={shown.kind === "ok" ? "ok-text small" : "field-error"} role={shown.kind === "ok" ? "status" : "alert"}>
            {shown.text}
          </span>
        )}
      </form>
    </section>
  );
}
