/** The metrics page's view, its headline tiles, and the saved dashboard a view is stored as. */

import { formatCostOf, formatCount, formatDuration, formatRate } from "../format";
import type { DashboardSpec, EventStatus, Figure, Panel, Stats } from "./types";
import { isWindow, type WindowName } from "./windows";

/** `GET /api/dashboards?project=*`: the dashboards of every project the reader may read. */
export const EVERY_PROJECT = "*";

/** Whose dashboards are listed: the chosen project's, or every project's when the reader looks at
 * every project (each dashboard belongs to one project, and the list then names it). */
export function dashboardProject(project: string | null): string {
  return project ?? EVERY_PROJECT;
}

/** The project a new dashboard goes in: the chosen one, else the one picked when saving in the
 * every-project view (`default` unless another is picked). */
export function newDashboardProject(project: string | null, picked: string): string {
  return project ?? (picked || "default");
}

/** What the metrics page shows: a saved dashboard is this, as panels. */
export interface MetricsView {
  window: WindowName;
  model: string;
  provider: string;
  status: string;
  breakdown: boolean;
}

export const DEFAULT_METRICS_VIEW: MetricsView = { window: "24h", model: "", provider: "", status: "", breakdown: false };

export const STAT_FIGURES: Figure[] = [
  "requests",
  "error_rate",
  "latency_ms.p50",
  "latency_ms.p95",
  "ttft_ms.p95",
  "tokens.total",
  "cost_usd",
];

/** The metrics page's view as a dashboard spec: the tiles, one panel per chart, the per-model table.
 * A chart's figures are paths of the metrics responses (the API refuses one it does not know). */
export function viewToSpec(v: MetricsView, charts: { title: string; figures: string[] }[]): Required<DashboardSpec> {
  const filters = {
    model: v.model ? [v.model] : [],
    provider: v.provider ? [v.provider] : [],
    status: v.status ? [v.status as EventStatus] : [],
  };
  return {
    window: v.window,
    panels: [
      { title: "Totals", kind: "stat", figures: STAT_FIGURES, group_by: [], filters },
      ...charts.map(
        (c): Panel => ({ title: c.title, kind: "timeseries", figures: c.figures as Figure[], group_by: v.breakdown ? ["model"] : [], filters }),
      ),
      { title: "By model", kind: "table", figures: ["requests", "errors", "latency_ms.p95"], group_by: ["model"], filters },
    ],
  };
}

/** The view a dashboard spec describes (the first panel's filters; a breakdown if a timeseries has one). */
export function specToView(spec: Partial<DashboardSpec> | null | undefined): MetricsView {
  const panels = Array.isArray(spec?.panels) ? spec.panels : [];
  const f = panels[0]?.filters ?? {};
  const status = f.status?.[0] ?? "";
  return {
    window: isWindow(spec?.window) ? spec.window : DEFAULT_METRICS_VIEW.window,
    model: f.model?.[0] ?? "",
    provider: f.provider?.[0] ?? "",
    status: ["ok", "error", "cancelled"].includes(status) ? status : "",
    breakdown: panels.some((p) => p.kind === "timeseries" && (p.group_by ?? []).includes("model")),
  };
}

export interface Tile {
  label: string;
  value: string;
  testId: string;
}

/** The headline tiles of the metrics page. */
export function headlineTiles(s: Stats): Tile[] {
  return [
    { label: "Requests", value: formatCount(s.requests), testId: "tile-requests" },
    { label: "Error rate", value: formatRate(s.error_rate), testId: "tile-error-rate" },
    { label: "Latency p50", value: formatDuration(s.latency_ms.p50), testId: "tile-latency-p50" },
    { label: "Latency p95", value: formatDuration(s.latency_ms.p95), testId: "tile-latency-p95" },
    { label: "TTFT p95", value: formatDuration(s.ttft_ms.p95), testId: "tile-ttft-p95" },
    { label: "Tokens", value: formatCount(s.tokens.total), testId: "tile-tokens" },
    { label: "Cost", value: formatCostOf(s.cost_usd, s.unpriced), testId: "tile-cost" },
  ];
}

// --- the view in the URL (a view is shared by link) ----------------------------------------------

/** The metrics view a URL names (`?window=7d&model=...&breakdown=1`); what it leaves out is the default. */
export function parseMetricsView(params: URLSearchParams): MetricsView {
  const w = params.get("window");
  const status = params.get("status") ?? "";
  return {
    window: isWindow(w) ? w : DEFAULT_METRICS_VIEW.window,
    model: params.get("model") ?? "",
    provider: params.get("provider") ?? "",
    status: ["ok", "error", "cancelled"].includes(status) ? status : "",
    breakdown: params.get("breakdown") === "1",
  };
}

/** The query string of a view (defaults left out; `extra` first, e.g. a dashboard's id). */
export function metricsViewQuery(v: MetricsView, extra: Record<string, string> = {}): string {
  const q = new URLSearchParams(extra);
  if (v.window !== DEFAULT_METRICS_VIEW.window) q.set("window", v.window);
  if (v.model) q.set("model", v.model);
  if (v.provider) q.set("provider", v.provider);
  if (v.status) q.set("status", v.status);
  if (v.breakdown) q.set("breakdown", "1");
  const s = q.toString();
  return s ? `?${s}` : "";
}

/** Where a saved dashboard opens (a static export has no page per id: a query parameter). */
export function dashboardHref(id: string): string {
  return `/dashboards/view/?id=${encodeURIComponent(id)}`;
}

/** The titles of the timeseries panels a spec shows (null: not a spec of panels, show every chart). */
export function specCharts(spec: Partial<DashboardSpec> | null | undefined): string[] | null {
  const panels = Array.isArray(spec?.panels) ? spec.panels : [];
  const charts = panels.filter((p) => p.kind === "timeseries").map((p) => p.title ?? "");
  return panels.length ? charts : null;
}

/** A name for a copy of `name` that none of `taken` uses, whatever the case ("Latency (copy)", "Latency (copy 2)"). */
export function copyName(name: string, taken: string[]): string {
  const used = new Set(taken.map((t) => t.toLowerCase()));
  const base = name.slice(0, 180);
  for (let i = 1; ; i++) {
    const candidate = i === 1 ? `${base} (copy)` : `${base} (copy ${i})`;
    if (!used.has(candidate.toLowerCase())) return candidate;
  }
}
