"use client";

import Link from "next/link";
import { useRouter, useSearchParams } from "next/navigation";
import { useEffect, useMemo, useState, type FormEvent } from "react";
import { ApiError } from "@/lib/http";
import {
  copyName,
  DEFAULT_METRICS_VIEW,
  dashboardHref,
  dashboardProject,
  metricsViewQuery,
  newDashboardProject,
  parseMetricsView,
  specCharts,
  specToView,
  viewToSpec,
} from "@/lib/query/dashboards";
import type { Dashboard } from "@/lib/query/types";
import { WINDOW_LABELS } from "@/lib/query/windows";
import { formatTime } from "@/lib/format";
import { useFetch } from "@/hooks/useFetch";
import { useProject, withProject } from "@/hooks/useProject";
import { useApp } from "./AppContext";
import { DashboardProjectLabel, DashboardProjectPick } from "./DashboardProject";
import { MetricsPage, SPEC_CHARTS } from "./MetricsPage";
import { QueryApiMissing } from "./QueryApiMissing";

type Msg = { kind: "ok" | "error"; text: string } | null;

/** What went wrong, as the reader should read it (a name taken said plainly). */
function problem(err: unknown, name: string): string {
  if (err instanceof ApiError && err.code === "name_taken") return `A dashboard named “${name}” already exists: choose another name.`;
  return (err as Error).message;
}

function Status({ msg }: { msg: Msg }) {
  if (!msg) return null;
  return (
    <span className={msg.kind === "ok" ? "ok-text small" : "field-error"} role={msg.kind === "ok" ? "status" : "alert"}>
      {msg.text}
    </span>
  );
}

/** /dashboards/: the saved dashboards; new, open, rename, duplicate, delete. */
export function DashboardList() {
  const { query } = useApp();
  const { project } = useProject();
  const listed = dashboardProject(project);
  const router = useRouter();
  const list = useFetch(query ? ["dashboards", listed] : null, () => query!.listDashboards(listed));
  const items = list.data ?? null;
  const [name, setName] = useState("");
  const [picked, setPicked] = useState("default");
  const [renaming, setRenaming] = useState<{ id: string; name: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const [msg, setMsg] = useState<Msg>(null);

  if (!query) return <QueryApiMissing page="Dashboards" />;
  const q = query;

  async function act(what: () => Promise<unknown>, nameForError: string, ok?: string): Promise<boolean> {
    setBusy(true);
    setMsg(null);
    try {
      await what();
      if (ok) setMsg({ kind: "ok", text: ok });
      await list.reload();
      return true;
    } catch (err) {
      setMsg({ kind: "error", text: problem(err, nameForError) });
      return false;
    } finally {
      setBusy(false);
    }
  }

  async function create(e: FormEvent) {
    e.preventDefault();
    const n = name.trim();
    if (!n) return setMsg({ kind: "error", text: "Name the dashboard." });
    let made: Dashboard | null = null;
    const ok = await act(async () => {
      made = await q.createDashboard(n, viewToSpec(DEFAULT_METRICS_VIEW, SPEC_CHARTS), newDashboardProject(project, picked));
    }, n);
    if (ok && made) router.push(withProject(dashboardHref((made as Dashboard).id), project));
  }

  async function rename(e: FormEvent, d: Dashboard) {
    e.preventDefault();
    const n = renaming?.name.trim() ?? "";
    if (!n) return setMsg({ kind: "error", text: "Name the dashboard." });
    if (await act(() => q.replaceDashboard(d.id, n, d.spec), n, `Renamed to “${n}”.`)) setRenaming(null);
  }

  function duplicate(d: Dashboard) {
    const n = copyName(
      d.name,
      (items ?? []).filter((x) => x.project === d.project).map((x) => x.name),
    );
    void act(() => q.createDashboard(n, d.spec, d.project), n, `Saved a copy as “${n}”.`);
  }

  function remove(d: Dashboard) {
    if (!window.confirm(`Delete the dashboard “${d.name}”?`)) return;
    void act(() => q.deleteDashboard(d.id), d.name, `Deleted “${d.name}”.`);
  }

  return (
    <div className="page dashboards-page">
      <header className="page-head">
        <h1>Dashboards</h1>
        <p className="muted small">Saved views of the metrics: a window, filters and charts.</p>
      </header>
      <form className="row card" onSubmit={create} aria-label="New dashboard">
        <label htmlFor="new-dash-name" className="sr-only">
          New dashboard name
        </label>
        <input
          id="new-dash-name"
          className="text-input"
          placeholder="New dashboard name"
          value={name}
          maxLength={200}
          onChange={(e) => setName(e.target.value)}
        />
        <DashboardProjectPick id="new-dash-project" value={picked} onChange={setPicked} />
        <button type="submit" className="btn primary" disabled={busy}>
          New dashboard
        </button>
        <Status msg={msg} />
      </form>
      {list.error && (
        <div className="alert" role="alert">
          Could not load the dashboards: {list.error.message}
        </div>
      )}
      {items && items.length === 0 && (
        <p className="muted" data-testid="dashboards-empty">
          None yet: make one here, or save a view from <Link href={withProject("/metrics/", project)}>Metrics</Link>.
        </p>
      )}
      {items && items.length > 0 && (
        <ul className="dash-list card" data-testid="dashboard-list">
          {items.map((d) => {
            const v = specToView(d.spec);
            const filters = [v.model, v.provider, v.status].filter(Boolean).join(", ");
            const editing = renaming?.id === d.id;
            return (
              <li key={d.id} data-dashboard={d.name} data-project={d.project}>
                {editing ? (
                  <form className="row grow" onSubmit={(e) => void rename(e, d)}>
                    <label htmlFor={`rename-${d.id}`} className="sr-only">
                      New name for {d.name}
                    </label>
                    <input
                      id={`rename-${d.id}`}
                      className="text-input"
                      value={renaming.name}
                      maxLength={200}
                      autoFocus
                      onChange={(e) => setRenaming({ id: d.id, name: e.target.value })}
                    />
                    <button type="submit" className="btn small" disabled={busy}>
                      Save name
                    </button>
                    <button type="button" className="btn small ghost" onClick={() => setRenaming(null)}>
                      Cancel
                    </button>
                  </form>
                ) : (
                  <>
                    <Link href={withProject(dashboardHref(d.id), project)} className="dash-name">
                      {d.name}
                    </Link>
                    <DashboardProjectLabel slug={d.project} />
                    <span className="muted small">
                      {WINDOW_LABELS[v.window]}
                      {filters && ` · ${filters}`}
                      {v.breakdown && " · by model"} · changed {formatTime(d.updated_at)}
                    </span>
                    <span className="dash-actions">
                      <button
                        type="button"
                        className="btn small"
                        onClick={() => setRenaming({ id: d.id, name: d.name })}
                        aria-label={`Rename ${d.name}`}
                      >
                        Rename
                      </button>
                      <button type="button" className="btn small" onClick={() => duplicate(d)} disabled={busy} aria-label={`Duplicate ${d.name}`}>
                        Duplicate
                      </button>
                      <button
                        type="button"
                        className="icon-btn danger"
                        onClick={() => remove(d)}
                        disabled={busy}
                        aria-label={`Delete ${d.name}`}
                      >
                        Delete
                      </button>
                    </span>
                  </>
                )}
              </li>
            );
          })}
        </ul>
      )}
    </div>
  );
}

const VIEW_KEYS = ["window", "model", "provider", "status", "breakdown"];

/** /dashboards/view/?id=...: one dashboard as the metrics page; its window, filters and charts edited and saved. */
export function DashboardView() {
  const { query } = useApp();
  const { project } = useProject();
  const router = useRouter();
  const params = useSearchParams();
  const id = params?.get("id") ?? "";
  const found = useFetch(query && id ? ["dashboard", id] : null, () => query!.getDashboard(id));
  const d = found.data ?? null;
  const [charts, setCharts] = useState<string[] | null>(null);
  const [name, setName] = useState("");
  const [busy, setBusy] = useState(false);
  const [msg, setMsg] = useState<Msg>(null);
  const view = useMemo(() => parseMetricsView(new URLSearchParams(params?.toString() ?? "")), [params]);

  // Opened without a view in the URL: the dashboard's own (a link with one shows that one).
  useEffect(() => {
    if (!d) return;
    setCharts(specCharts(d.spec) ?? SPEC_CHARTS.map((c) => c.title));
    setName(d.name);
    if (!VIEW_KEYS.some((k) => params?.has(k))) {
      const extra: Record<string, string> = { id: d.id };
      if (project) extra.project = project;
      router.replace(`/dashboards/view/${metricsViewQuery(specToView(d.spec), extra)}`, { scroll: false });
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [d]);

  useEffect(() => {
    if (d) document.title = `${d.name} · Dashboards · Prism`;
  }, [d]);

  if (!query) return <QueryApiMissing page="Dashboards" />;
  if (!id) return <p className="page-status">No dashboard named: open one from <Link href="/dashboards/">Dashboards</Link>.</p>;
  if (found.error)
    return (
      <div className="page-status" role="alert">
        <p>{found.error.status === 404 ? "This dashboard does not exist (it may have been deleted)." : found.error.message}</p>
        <p>
          <Link href="/dashboards/">All dashboards</Link>
        </p>
      </div>
    );
  if (!d || charts === null) return <p className="page-status muted">Loading…</p>;

  const dashboard = d;
  async function save(e: FormEvent) {
    e.preventDefault();
    const n = name.trim();
    if (!n) return setMsg({ kind: "error", text: "Name the dashboard." });
    const spec = viewToSpec(view, SPEC_CHARTS.filter((c) => charts!.includes(c.title)));
    setBusy(true);
    setMsg(null);
    try {
      await query!.replaceDashboard(dashboard.id, n, spec);
      await found.reload();
      setMsg({ kind: "ok", text: "Saved." });
    } catch (err) {
      setMsg({ kind: "error", text: problem(err, n) });
    } finally {
      setBusy(false);
    }
  }

  function toggle(title: string, on: boolean) {
    setCharts((cs) => {
      const next = new Set(cs ?? []);
      if (on) next.add(title);
      else next.delete(title);
      return SPEC_CHARTS.map((c) => c.title).filter((t) => next.has(t));
    });
  }

  const head = (
    <header className="page-head">
      <p className="small">
        <Link href={withProject("/dashboards/", project)}>← Dashboards</Link>
      </p>
      <h1 data-testid="dashboard-title">{dashboard.name}</h1>
      <form className="dash-edit card" onSubmit={save} aria-label="Edit dashboard">
        <div className="field">
          <label htmlFor="dash-edit-name">Name</label>
          <input id="dash-edit-name" className="text-input" value={name} maxLength={200} onChange={(e) => setName(e.target.value)} />
        </div>
        <fieldset className="chart-picks">
          <legend>Charts</legend>
          {SPEC_CHARTS.map((c) => (
            <label key={c.title} className="check">
              <input type="checkbox" checked={charts.includes(c.title)} onChange={(e) => toggle(c.title, e.target.checked)} /> {c.title}
            </label>
          ))}
        </fieldset>
        <button type="submit" className="btn primary" disabled={busy}>
          Save dashboard
        </button>
        <Status msg={msg} />
        <p className="muted small">The window and filters below are saved with it; the link of this page shares the view.</p>
      </form>
    </header>
  );
  return <MetricsPage charts={charts} head={head} saved={false} />;
}
