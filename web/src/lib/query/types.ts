/** The query API's shapes (functions/query/service.py, functions/query/schemas.py): what it answers and the filters it takes. */

import type { WindowName } from "./windows";

export type EventStatus = "ok" | "error" | "cancelled";
export type GroupKey = "model" | "provider" | "status";

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
