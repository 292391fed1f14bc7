/**
 * The query API client (metrics, logs) and the pure helpers the metrics and logs pages share:
 * windows, query strings, number formatting and chart data shaping.
 */

import { ApiError, errorFromResponse } from "./api";

// --- shapes (functions/query/service.py) ------------------------------------------------------------

export type EventStatus = "ok" | "error" | "cancelled";
export type GroupKey = "model" | "provider" | "status";
export const WINDOWS = ["1h", "6h", "24h", "7d", "30d"] as const;
export type WindowName = (typeof WINDOWS)[number];
export const WINDOW_LABELS: Record<WindowName, string> = {
  "1h": "Last hour",
  "6h": "Last 6 hours",
  "24h": "Last 24 hours",
  "7d": "Last 7 days",
  "30d": "Last 30 days",
};
const WINDOW_MS: Record<WindowName, number> = {
  "1h": 3_600_000,
  "6h": 6 * 3_600_000,
  "24h": 24 * 3_600_000,
  "7d": 7 * 86_400_000,
  "30d": 30 * 86_400_000,
};

export interface Percentiles {
  avg: number | null;
  p50: number | null;
  p90: number | null;
  p95: number | null;
  p99: number | null;
  max?: number | null;
}

export interface Stats {
  requests: number;
  errors: number;
  error_rate: number | null;
  requests_per_minute: number | null;
  latency_ms: Percentiles;
  ttft_ms: Percentiles;
  tokens: { prompt: number; completion: number; total: number };
  cost_usd: number;
}

export type GroupKeyValues = Partial<Record<GroupKey, string | null>>;

export interface Summary {
  from: string;
  to: string;
  group_by: GroupKey[];
  percentile_relative_error: number;
  total: Stats;
  groups: (Stats & { key: GroupKeyValues })[];
}

export interface Point extends Stats {
  t: string;
}

export interface Timeseries {
  from: string;
  to: string;
  step_seconds: number;
  group_by: GroupKey[];
  percentile_relative_error: number;
  series: { key: GroupKeyValues; points: Point[] }[];
}

export interface LogItem {
  id: string;
  created_at: string;
  ts_start: string;
  ts_end: string;
  latency_ms: number | null;
  ttft_ms: number | null;
  provider: string;
  model: string;
  response_model: string | null;
  status: EventStatus | string;
  finish_reason: string | null;
  error_type: string | null;
  prompt_tokens: number | null;
  completion_tokens: number | null;
  total_tokens: number | null;
  cost_usd: number | null;
  conversation_id: string | null;
  message_id: string | null;
  trace_id: string | null;
  user_id: string | null;
  tags: string[];
}

export interface LogPage {
  items: LogItem[];
  next_cursor: string | null;
}

export interface ToolCall {
  idx: number;
  name: string;
  tool_call_id: string | null;
  status: string;
  arguments: unknown;
  result: unknown;
  error: string | null;
  latency_ms: number | null;
}

export interface LogDetail extends LogItem {
  error_message: string | null;
  cached_tokens: number | null;
  reasoning_tokens: number | null;
  cost_note: string | null;
  span_id: string | null;
  metadata: Record<string, unknown> | null;
  redactions: Record<string, number> | null;
  sdk: string | null;
  tools: ToolCall[];
  payload: { request?: unknown; response?: unknown } | null;
  payload_location: "inline" | "object_store" | null;
  payload_error: string | null;
}

// --- windows and query strings --------------------------------------------------------------------

export interface Range {
  from: string;
  to: string;
}

/** The [from, to) of a named window ending at `now`, as ISO 8601 in UTC. */
export function windowRange(name: WindowName, now: Date = new Date()): Range {
  return { from: new Date(now.getTime() - WINDOW_MS[name]).toISOString(), to: now.toISOString() };
}

export function isWindow(v: unknown): v is WindowName {
  return typeof v === "string" && (WINDOWS as readonly string[]).includes(v);
}

export interface MetricFilters {
  model?: string[];
  provider?: string[];
  status?: EventStatus[];
}

export interface LogFilters extends MetricFilters {
  conversation_id?: string;
  trace_id?: string;
  user_id?: string;
  tag?: string;
}

/** A query string: repeated keys for lists; empty values and lists left out. */
export function buildQuery(params: Record<string, string | number | readonly string[] | null | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === null || v === undefined) continue;
    if (Array.isArray(v)) {
      for (const item of v) if (item !== "") q.append(k, item);
    } else if (typeof v === "number") {
      q.set(k, String(v));
    } else if (typeof v === "string") {
      const t = v.trim();
      if (t) q.set(k, t);
    }
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}

// --- client ---------------------------------------------------------------------------------------

export class QueryClient {
  constructor(
    private readonly baseUrl: string,
    private readonly fetchImpl: typeof fetch = (...args) => fetch(...args),
  ) {}

  private get<T>(path: string, signal?: AbortSignal): Promise<T> {
    return this.request("GET", path, undefined, signal);
  }

  private async request<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    const url = this.baseUrl + path;
    let resp: Response;
    try {
      resp = await this.fetchImpl(url, {
        method,
        headers:
          method === "GET" ? { Accept: "application/json" } : { Accept: "application/json", "Content-Type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
        cache: "no-store",
      });
    } catch (e) {
      if ((e as { name?: string })?.name === "AbortError") throw new ApiError(0, "aborted", "The request was stopped");
      throw new ApiError(
        0,
        "network_error",
        `Cannot reach the query API at ${new URL(url).origin}. Is it running, and does it allow this page's origin (PRISM_CORS_ORIGINS)?`,
      );
    }
    if (!resp.ok) {
      const err = await errorFromResponse(resp);
      throw new ApiError(err.status, err.code, err.message.replace("The chat API", "The query API"));
    }
    if (resp.status === 204) return undefined as T;
    try {
      return (await resp.json()) as T;
    } catch {
      throw new ApiError(resp.status, "bad_response", "The query API sent a response that is not JSON");
    }
  }

  summary(range: Range, filters: MetricFilters, groupBy: GroupKey[] = [], signal?: AbortSignal): Promise<Summary> {
    return this.get(`/api/metrics/summary${buildQuery({ ...range, ...filters, group_by: groupBy })}`, signal);
  }

  timeseries(
    range: Range,
    filters: MetricFilters,
    groupBy: GroupKey[] = [],
    step?: number,
    signal?: AbortSignal,
  ): Promise<Timeseries> {
    return this.get(`/api/metrics/timeseries${buildQuery({ ...range, ...filters, group_by: groupBy, step })}`, signal);
  }

  logs(range: Range, filters: LogFilters, limit: number, cursor?: string | null, signal?: AbortSignal): Promise<LogPage> {
    return this.get(`/api/logs${buildQuery({ ...range, ...filters, limit, cursor })}`, signal);
  }

  log(id: string, signal?: AbortSignal): Promise<LogDetail> {
    return this.get(`/api/logs/${encodeURIComponent(id)}`, signal);
  }

  listDashboards(signal?: AbortSignal): Promise<Dashboard[]> {
    return this.get("/api/dashboards", signal);
  }

  createDashboard(name: string, spec: DashboardSpec): Promise<Dashboard> {
    return this.request("POST", "/api/dashboards", { name, spec });
  }

  deleteDashboard(id: string): Promise<void> {
    return this.request("DELETE", `/api/dashboards/${encodeURIComponent(id)}`);
  }
}

// --- saved dashboards (functions/query/schemas.py) ------------------------------------------------

export interface Panel {
  title: string;
  kind: "timeseries" | "stat" | "table";
  figures: string[];
  group_by?: GroupKey[];
  filters?: { model?: string[]; provider?: string[]; status?: EventStatus[] };
  step_seconds?: number | null;
}

export interface DashboardSpec {
  window: WindowName;
  panels: Panel[];
}

export interface Dashboard {
  id: string;
  name: string;
  spec: DashboardSpec;
  created_at: string;
  updated_at: string;
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

export const STAT_FIGURES = [
  "requests",
  "error_rate",
  "latency_ms.p50",
  "latency_ms.p95",
  "ttft_ms.p95",
  "tokens.total",
  "cost_usd",
];

/** The metrics page's view as a dashboard spec: the tiles, one panel per chart, the per-model table. */
export function viewToSpec(v: MetricsView, charts: { title: string; figures: string[] }[]): DashboardSpec {
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
        (c): Panel => ({ title: c.title, kind: "timeseries", figures: c.figures, group_by: v.breakdown ? ["model"] : [], filters }),
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

// --- formatting -----------------------------------------------------------------------------------

export function formatCount(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return "–";
  const abs = Math.abs(n);
  if (abs >= 1e9) return `${(n / 1e9).toFixed(abs >= 1e10 ? 0 : 1)}B`;
  if (abs >= 1e6) return `${(n / 1e6).toFixed(abs >= 1e7 ? 0 : 1)}M`;
  if (abs >= 1e4) return `${(n / 1e3).toFixed(abs >= 1e5 ? 0 : 1)}k`;
  return Number.isInteger(n) ? n.toLocaleString("en-US") : n.toFixed(1);
}

export function formatRate(r: number | null | undefined): string {
  if (r === null || r === undefined || !Number.isFinite(r)) return "–";
  if (r === 0) return "0 %";
  const pct = r * 100;
  return `${pct < 0.1 ? "<0.1" : pct < 10 ? pct.toFixed(1) : pct.toFixed(0)} %`;
}

/** "percentiles ±2.4 %" from the API's relative error (0.0244). */
export function formatPercentileError(rel: number | null | undefined): string | null {
  if (rel === null || rel === undefined || !Number.isFinite(rel)) return null;
  return `percentiles ±${(rel * 100).toFixed(1)} %`;
}

export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "–";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  return `${(ms / 60_000).toFixed(1)} min`;
}

export function formatUsd(usd: number | null | undefined): string {
  if (usd === null || usd === undefined || !Number.isFinite(usd)) return "–";
  if (usd === 0) return "$0";
  if (usd < 0.0001) return "<$0.0001";
  if (usd < 1) return `$${usd.toFixed(4)}`;
  return `$${usd.toFixed(2)}`;
}

/** A timestamp as local date and time to the second ("2026-11-27 10:02:03"). */
export function formatTime(iso: string | null | undefined): string {
  if (!iso) return "–";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** A chart axis label: time of day for windows up to 12 hours, date and time up to two days, else the date. */
export function formatAxisTime(ms: number, spanMs: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, "0");
  const time = `${p(d.getHours())}:${p(d.getMinutes())}`;
  const date = `${p(d.getMonth() + 1)}-${p(d.getDate())}`;
  if (spanMs <= 12 * 3_600_000) return time;
  if (spanMs <= 2 * 86_400_000) return `${date} ${time}`;
  return `${d.getFullYear()}-${date}`;
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
    { label: "Cost", value: formatUsd(s.cost_usd), testId: "tile-cost" },
  ];
}

// --- chart data -----------------------------------------------------------------------------------

/** A figure of Stats by dotted path, e.g. "latency_ms.p95" (the dashboards' figure names). */
export function figure(s: Stats, path: string): number | null {
  let v: unknown = s;
  for (const part of path.split(".")) {
    if (v === null || typeof v !== "object") return null;
    v = (v as Record<string, unknown>)[part];
  }
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

export interface Line {
  label: string;
  values: (number | null)[];
}

export interface ChartData {
  times: number[]; // epoch ms of each point
  lines: Line[];
}

export function seriesLabel(key: GroupKeyValues): string {
  const parts = Object.values(key).map((v) => v ?? "(none)");
  return parts.length ? parts.join(" · ") : "all";
}

/**
 * Chart lines from a timeseries. Without a breakdown (one series, or none when there is no data)
 * each figure is a line; with one, each series is a line of the first figure. A percentile of an
 * empty step is null (a gap), a count is 0.
 */
export function chartData(ts: Timeseries, figures: { path: string; label: string }[], maxLines = 8): ChartData {
  const first = ts.series[0];
  const times = first ? first.points.map((p) => Date.parse(p.t)) : stepTimes(ts);
  if (ts.group_by.length === 0) {
    const points = first?.points ?? [];
    return {
      times,
      lines: figures.map((f) => ({
        label: f.label,
        values: points.length ? points.map((p) => figure(p, f.path)) : times.map(() => (isCount(f.path) ? 0 : null)),
      })),
    };
  }
  const f = figures[0];
  return {
    times,
    lines: ts.series.slice(0, maxLines).map((s) => ({ label: seriesLabel(s.key), values: s.points.map((p) => figure(p, f.path)) })),
  };
}

function isCount(path: string): boolean {
  return path === "requests" || path === "errors" || path.startsWith("tokens.") || path === "cost_usd";
}

function stepTimes(ts: Timeseries): number[] {
  const out: number[] = [];
  const start = Date.parse(ts.from);
  const end = Date.parse(ts.to);
  const step = ts.step_seconds * 1000;
  if (!Number.isFinite(start) || !Number.isFinite(end) || step <= 0) return out;
  for (let t = start; t < end && out.length < 5000; t += step) out.push(t);
  return out;
}

/** The largest value of the lines (0 when none). */
export function maxValue(lines: Line[]): number {
  let m = 0;
  for (const l of lines) for (const v of l.values) if (v !== null && v > m) m = v;
  return m;
}

/** SVG path data for one line: gaps where the value is null. */
export function linePath(
  times: number[],
  values: (number | null)[],
  box: { x0: number; x1: number; y0: number; y1: number },
  yMax: number,
): string {
  if (times.length === 0) return "";
  const tMin = times[0];
  const tMax = times[times.length - 1];
  const xs = (t: number) => (tMax === tMin ? (box.x0 + box.x1) / 2 : box.x0 + ((t - tMin) / (tMax - tMin)) * (box.x1 - box.x0));
  const ys = (v: number) => (yMax <= 0 ? box.y1 : box.y1 - (v / yMax) * (box.y1 - box.y0));
  let d = "";
  let pen = false;
  for (let i = 0; i < times.length; i++) {
    const v = values[i];
    if (v === null || v === undefined) {
      pen = false;
      continue;
    }
    d += `${pen ? "L" : "M"}${xs(times[i]).toFixed(1)} ${ys(v).toFixed(1)}`;
    // A lone point between gaps is drawn as a dot-sized segment.
    const next = values[i + 1];
    if (!pen && (next === null || next === undefined)) d += `h0.01`;
    pen = true;
  }
  return d;
}

/** A "nice" axis maximum ≥ v: 1, 2, 2.5 or 5 times a power of ten. */
export function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

// --- logs helpers ---------------------------------------------------------------------------------

/** The logs list's state, kept in the URL so Back from a detail view restores it. */
export interface LogsView {
  window: WindowName;
  model: string;
  status: string;
  conversation_id: string;
  tag: string;
}

export const DEFAULT_LOGS_VIEW: LogsView = { window: "24h", model: "", status: "", conversation_id: "", tag: "" };

export function parseLogsView(params: URLSearchParams): LogsView {
  const w = params.get("window");
  const status = params.get("status") ?? "";
  return {
    window: isWindow(w) ? w : DEFAULT_LOGS_VIEW.window,
    model: params.get("model") ?? "",
    status: ["ok", "error", "cancelled"].includes(status) ? status : "",
    conversation_id: params.get("conversation_id") ?? "",
    tag: params.get("tag") ?? "",
  };
}

/** The URL of a logs view (defaults left out). */
export function logsViewHref(v: LogsView): string {
  return `/logs/${buildQuery({
    window: v.window === DEFAULT_LOGS_VIEW.window ? null : v.window,
    model: v.model,
    status: v.status,
    conversation_id: v.conversation_id,
    tag: v.tag,
  })}`;
}

export function logsViewFilters(v: LogsView): LogFilters {
  return {
    model: v.model ? [v.model] : [],
    status: v.status ? [v.status as EventStatus] : [],
    conversation_id: v.conversation_id || undefined,
    tag: v.tag || undefined,
  };
}

/** A chat message's content as text: a string, or the text parts of a list of parts, else JSON. */
export function messageText(content: unknown): string {
  if (content === null || content === undefined) return "";
  if (typeof content === "string") return content;
  if (Array.isArray(content)) {
    return content
      .map((part) => {
        if (typeof part === "string") return part;
        if (part && typeof part === "object") {
          const p = part as Record<string, unknown>;
          if (typeof p.text === "string") return p.text;
          return `[${typeof p.type === "string" ? p.type : "part"}]`;
        }
        return String(part);
      })
      .join("\n");
  }
  return prettyJson(content);
}

export function prettyJson(v: unknown): string {
  if (typeof v === "string") {
    try {
      return JSON.stringify(JSON.parse(v), null, 2);
    } catch {
      return v;
    }
  }
  try {
    return JSON.stringify(v, null, 2) ?? String(v);
  } catch {
    return String(v);
  }
}

export interface ChatMessage {
  role: string;
  text: string;
}

/** The messages of a logged request (OpenAI shape), if it has them. */
export function requestMessages(request: unknown): ChatMessage[] {
  if (!request || typeof request !== "object") return [];
  const msgs = (request as { messages?: unknown }).messages;
  if (!Array.isArray(msgs)) return [];
  return msgs.map((m) => {
    const o = (m && typeof m === "object" ? m : {}) as Record<string, unknown>;
    return { role: typeof o.role === "string" ? o.role : "?", text: messageText(o.content) };
  });
}

/** The text of a logged response: `content`, or the first choice's message, if there is one. */
export function responseText(response: unknown): string | null {
  if (!response || typeof response !== "object") return typeof response === "string" ? response : null;
  const r = response as Record<string, unknown>;
  if (r.content !== undefined && r.content !== null) return messageText(r.content);
  const choices = r.choices;
  if (Array.isArray(choices) && choices[0] && typeof choices[0] === "object") {
    const msg = (choices[0] as { message?: { content?: unknown } }).message;
    if (msg?.content !== undefined && msg.content !== null) return messageText(msg.content);
  }
  return null;
}

/** An object without the given keys (null when nothing is left). */
export function without(o: unknown, keys: string[]): Record<string, unknown> | null {
  if (!o || typeof o !== "object" || Array.isArray(o)) return null;
  const rest = Object.fromEntries(Object.entries(o as Record<string, unknown>).filter(([k]) => !keys.includes(k)));
  return Object.keys(rest).length ? rest : null;
}

export function tokensText(item: Pick<LogItem, "prompt_tokens" | "completion_tokens" | "total_tokens">): string {
  if (item.total_tokens === null && item.prompt_tokens === null && item.completion_tokens === null) return "–";
  const total = item.total_tokens ?? (item.prompt_tokens ?? 0) + (item.completion_tokens ?? 0);
  return `${total}`;
}
