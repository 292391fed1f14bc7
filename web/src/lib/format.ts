import type { Message } from "./api";

export function formatMs(ms: number | null | undefined): string | null {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return null;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}

export function formatCost(usd: number | null | undefined): string | null {
  if (usd === null || usd === undefined || !Number.isFinite(usd)) return null;
  if (usd === 0) return "$0";
  if (usd < 0.0001) return "<$0.0001";
  if (usd < 1) return `$${usd.toFixed(4)}`;
  return `$${usd.toFixed(2)}`;
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
