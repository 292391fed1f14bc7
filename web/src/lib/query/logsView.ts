/** The logs list's state in the URL (so Back from a detail view restores it). */

import { buildQuery } from "./client";
import type { EventStatus, LogFilters } from "./types";
import { isWindow, type WindowName } from "./windows";

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
