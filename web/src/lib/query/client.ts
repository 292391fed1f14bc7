/** The query API client (metrics, logs, saved dashboards). */

import { requestJson } from "../http";
import type {
  Dashboard,
  DashboardSpec,
  GroupKey,
  LogDetail,
  LogFilters,
  LogPage,
  MetricFilters,
  Summary,
  Timeseries,
} from "./types";
import type { Range } from "./windows";

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

export class QueryClient {
  constructor(
    private readonly baseUrl: string,
    private readonly fetchImpl: typeof fetch = (...args) => fetch(...args),
    /** Read only this project's events (its slug); null: every project. */
    readonly project: string | null = null,
  ) {}

  /** The same API, its metrics and logs read for `project` only (null: every project). */
  forProject(project: string | null): QueryClient {
    return project === this.project ? this : new QueryClient(this.baseUrl, this.fetchImpl, project);
  }

  /** The `project` filter of every metrics and logs read. */
  private get scope(): { project?: string[] } {
    return this.project ? { project: [this.project] } : {};
  }

  private get<T>(path: string, signal?: AbortSignal): Promise<T> {
    return this.request("GET", path, undefined, signal);
  }

  private request<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    return requestJson("query API", method, this.baseUrl + path, { body, signal, fetchImpl: this.fetchImpl });
  }

  summary(range: Range, filters: MetricFilters, groupBy: GroupKey[] = [], signal?: AbortSignal): Promise<Summary> {
    return this.get(`/api/metrics/summary${buildQuery({ ...range, ...filters, ...this.scope, group_by: groupBy })}`, signal);
  }

  timeseries(
    range: Range,
    filters: MetricFilters,
    groupBy: GroupKey[] = [],
    step?: number,
    signal?: AbortSignal,
  ): Promise<Timeseries> {
    return this.get(`/api/metrics/timeseries${buildQuery({ ...range, ...filters, ...this.scope, group_by: groupBy, step })}`, signal);
  }

  logs(range: Range, filters: LogFilters, limit: number, cursor?: string | null, signal?: AbortSignal): Promise<LogPage> {
    return this.get(`/api/logs${buildQuery({ ...range, ...filters, ...this.scope, limit, cursor })}`, signal);
  }

  log(id: string, signal?: AbortSignal): Promise<LogDetail> {
    return this.get(`/api/logs/${encodeURIComponent(id)}`, signal);
  }

  /** One project's saved dashboards (its slug; `*`: every project's the caller may read), most recently changed first. */
  listDashboards(project: string, signal?: AbortSignal): Promise<Dashboard[]> {
    return this.get(`/api/dashboards${buildQuery({ project })}`, signal);
  }

  /** A new dashboard in `project` (a name the caller already uses there: ApiError 409 name_taken). */
  createDashboard(name: string, spec: DashboardSpec, project: string): Promise<Dashboard> {
    return this.request("POST", "/api/dashboards", { name, spec, project });
  }

  getDashboard(id: string, signal?: AbortSignal): Promise<Dashboard> {
    return this.get(`/api/dashboards/${encodeURIComponent(id)}`, signal);
  }

  /** Rename and/or replace the spec (a name the owner already uses: ApiError 409 name_taken). */
  replaceDashboard(id: string, name: string, spec: DashboardSpec): Promise<Dashboard> {
    return this.request("PUT", `/api/dashboards/${encodeURIComponent(id)}`, { name, spec });
  }

  deleteDashboard(id: string): Promise<void> {
    return this.request("DELETE", `/api/dashboards/${encodeURIComponent(id)}`);
  }
}
