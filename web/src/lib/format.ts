/** How the UI writes numbers, durations, costs, times, reply stats and error hints. */

import type { Message } from "./api";

function known(v: number | null | undefined): v is number {
  return v !== null && v !== undefined && Number.isFinite(v);
}

function duration(ms: number, minutes: boolean): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (!minutes || ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  return `${(ms / 60_000).toFixed(1)} min`;
}

/** A duration for tables and tiles: "610 ms", "2.15 s", "1.6 min"; "–" when unknown. */
export function formatDuration(ms: number | null | undefined): string {
  return known(ms) ? duration(ms, true) : "–";
}

/** A chat reply's duration, in seconds past a minute ("65.0 s"); null when unknown. */
export function formatMs(ms: number | null | undefined): string | null {
  return known(ms) ? duration(ms, false) : null;
}

/** A cost in US dollars: "$0", "<$0.0001", "$0.0475", "$12.50"; "–" when unknown. */
export function formatUsd(usd: number | null | undefined): string {
  return formatCost(usd) ?? "–";
}

/** A cost in US dollars, as formatUsd; null when unknown. */
export function formatCost(usd: number | null | undefined): string | null {
  if (!known(usd)) return null;
  if (usd === 0) return "$0";
  if (usd < 0.0001) return "<$0.0001";
  if (usd < 1) return `$${usd.toFixed(4)}`;
  return `$${usd.toFixed(2)}`;
}

/**
 * The cost of a window or a group that may hold calls of unknown cost (no price known): those are
 * not zero. "$0.0475"; "unknown (3 unpriced)" when no call was priced; "$0.0475 + unknown (3 unpriced)".
 */
export function formatCostOf(usd: number | null | undefined, unpriced: number | null | undefined): string {
  if (!unpriced) return formatUsd(usd);
  const unknown = `unknown (${formatCount(unpriced)} unpriced)`;
  return usd ? `${formatUsd(usd)} + ${unknown}` : unknown;
}

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

export interface Stat {
  label: string;
  value: string;
}

/** The small stats shown under a finished reply: latency, TTFT, tokens, cost. */
export function replyStats(m: Pick<Message, "latency_ms" | "ttft_ms" | "usage" | "cost_usd">): Stat[] {
  const out: Stat[] = [];
  const latency = formatMs(m.latency_ms);
  if (latency) out.push({ label: "Latency", value: latency });
  const ttft = formatMs(m.ttft_ms);
  if (ttft) out.push({ label: "TTFT", value: ttft });
  const u = m.usage;
  if (u && (u.total_tokens ?? null) !== null) {
    const detail =
      u.prompt_tokens !== null && u.completion_tokens !== null ? ` (${u.prompt_tokens} in, ${u.completion_tokens} out)` : "";
    out.push({ label: "Tokens", value: `${u.total_tokens}${detail}` });
  } else if (u && u.completion_tokens !== null) {
    out.push({ label: "Tokens", value: `${u.completion_tokens} out` });
  }
  const cost = formatCost(m.cost_usd);
  if (cost) out.push({ label: "Cost", value: cost });
  return out;
}

const HINTS: Record<string, string> = {
  provider_auth_failed: "Check this provider's API key in Settings.",
  provider_rate_limited: "The provider is limiting requests: wait a moment, then try again.",
  provider_timeout: "The provider did not answer in time: try again, or pick another model.",
  provider_unreachable: "Check the provider's base URL in Settings, and that the server is running.",
  provider_unavailable: "The provider is unavailable right now: try again later, or pick another model.",
  model_not_found: "Pick another model, or check the provider's model list in Settings.",
  context_too_long:
    "The conversation is too long for this model: start a new conversation, or pick a model with a larger context.",
  stream_closed: "The connection dropped: reload the conversation to see what was stored.",
  network_error: "Check that the chat API is running and reachable from this page.",
};

/** What a person can do about an error code, if we know. */
export function errorHint(code: string | null | undefined): string | null {
  return (code && HINTS[code]) || null;
}

export function conversationTitle(title: string | null | undefined): string {
  return title && title.trim() ? title : "New conversation";
}
