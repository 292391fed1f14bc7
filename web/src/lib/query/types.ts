/**
 * The query API's shapes: what it answers, generated from its OpenAPI document
 * (functions/query/schemas.py -> web/openapi/query.json -> lib/generated/query.ts; regenerate with
 * `python -m scripts.openapi && npm run gen:api`), and the filters the pages take.
 */

import type { components } from "@/lib/generated/query";

type Schemas = components["schemas"];

export type EventStatus = Schemas["LogItem"]["status"];
export type GroupKey = Schemas["Summary"]["group_by"][number];

export type Percentiles = Schemas["Percentiles"];
export type LatencyFigures = Schemas["LatencyFigures"];
/** The figures of a window, a group or a step. */
export type Stats = Schemas["Figures"];
export type GroupKeyValues = Schemas["GroupFigures"]["key"];
export type Summary = Schemas["Summary"];
export type Point = Schemas["Point"];
export type Series = Schemas["Series"];
export type Timeseries = Schemas["Timeseries"];

export type LogItem = Schemas["LogItem"];
export type LogPage = Schemas["LogsPage"];
export type ToolCall = Schemas["ToolInvocation"];
export type LogDetail = Schemas["LogDetail"];

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

// --- saved dashboards (functions/query/schemas.py) ------------------------------------------------

export type Panel = Schemas["Panel"];
/** A panel's figure: the path of a field of the metrics responses ("latency_ms.p95"). */
export type Figure = Panel["figures"][number];
export type DashboardSpec = Schemas["DashboardSpec"];
export type Dashboard = Schemas["DashboardOut"];
