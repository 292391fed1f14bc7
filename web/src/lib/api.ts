/**
 * The chat API client: typed calls, one error type (ApiError) whatever went wrong, and the
 * streaming send (SSE over POST, read with fetch so it can be aborted).
 */

import type { AppConfig } from "./config";
import { readSSE } from "./sse";

// --- shapes (functions/chat/schemas.py) ------------------------------------------------------------

export type MessageStatus = "complete" | "cancelled" | "error" | "streaming";

export interface Usage {
  prompt_tokens: number | null;
  completion_tokens: number | null;
  total_tokens: number | null;
}

export interface Conversation {
  id: string;
  title: string;
  model: string | null;
  created_at: string;
  updated_at: string;
}

export interface Message {
  id: string;
  role: "system" | "user" | "assistant";
  content: string;
  status: MessageStatus;
  created_at: string;
  model?: string | null;
  provider?: string | null;
  usage?: Usage | null;
  cost_usd?: number | null;
  latency_ms?: number | null;
  ttft_ms?: number | null;
  error?: { code: string | null; message: string | null } | null;
  inference_event_id?: string | null;
}

export interface ConversationDetail extends Conversation {
  messages: Message[];
}

export interface ConversationPage {
  items: Conversation[];
  next_cursor: string | null;
}

export interface Model {
  id: string;
  name: string;
  label: string;
  demo: boolean;
}

export interface ModelGroup {
  provider: string;
  label: string;
  models: Model[];
  error: string | null;
}

export interface ModelsResponse {
  providers: ModelGroup[];
  default_model: string | null;
}

export interface Provider {
  id: string;
  label: string;
  configured: boolean;
  key_required: boolean;
  base_url_required: boolean;
  has_key: boolean;
  key_last4: string | null;
  base_url: string | null;
  models: string[];
  updated_at: string | null;
}

export interface ProvidersResponse {
  providers: Provider[];
  demo_model: boolean;
  creds_key_configured: boolean;
}

export interface PutProviderBody {
  api_key?: string;
  base_url?: string;
  models?: string[];
}

// --- stream events --------------------------------------------------------------------------------

export interface StartEvent {
  type: "start";
  conversation_id: string;
  user_message_id: string;
  message_id: string;
  model: string;
  provider: string;
  title: string;
}

export interface DeltaEvent {
  type: "delta";
  content: string;
}

export interface ReplyStats {
  conversation_id?: string;
  message_id?: string;
  model?: string;
  usage?: Usage | null;
  cost_usd?: number | null;
  latency_ms?: number | null;
  ttft_ms?: number | null;
  inference_event_id?: string | null;
}

export interface DoneEvent extends ReplyStats {
  type: "done";
  status: "complete" | "cancelled";
  finish_reason?: string | null;
  cancel_reason?: string | null;
}

export interface ErrorEvent extends ReplyStats {
  type: "error";
  status?: "error";
  code: string;
  message: string;
}

export type StreamEvent = StartEvent | DeltaEvent | DoneEvent | ErrorEvent;

// --- errors ---------------------------------------------------------------------------------------

export class ApiError extends Error {
  /** HTTP status; 0 when no answer came (network, CORS, aborted). */
  readonly status: number;
  /** Machine-readable: the API's error code, or "network_error", "aborted", "bad_response". */
  readonly code: string;

  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
  }
}

export function isAbort(e: unknown): boolean {
  return (
    (e instanceof ApiError && e.code === "aborted") ||
    (typeof e === "object" && e !== null && (e as { name?: string }).name === "AbortError")
  );
}

function detailMessage(detail: unknown): string | null {
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    const parts = detail.map((d) => {
      if (d && typeof d === "object") {
        const o = d as { loc?: unknown[]; msg?: unknown };
        const loc = Array.isArray(o.loc) ? o.loc.filter((p) => p !== "body").join(".") : "";
        const msg = typeof o.msg === "string" ? o.msg : JSON.stringify(d);
        return loc ? `${loc}: ${msg}` : msg;
      }
      return String(d);
    });
    return parts.join("; ") || null;
  }
  return null;
}

/** An ApiError from a non-2xx response: `{"error": {code, message}}`, FastAPI's `{"detail"}`, or text. */
export async function errorFromResponse(resp: Response): Promise<ApiError> {
  const fallback = `The chat API answered HTTP ${resp.status}${resp.statusText ? ` ${resp.statusText}` : ""}`;
  let text = "";
  try {
    text = await resp.text();
  } catch {
    return new ApiError(resp.status, `http_${resp.status}`, fallback);
  }
  try {
    const body = JSON.parse(text) as Record<string, unknown>;
    const err = body?.error;
    if (err && typeof err === "object") {
      const e = err as { code?: unknown; message?: unknown };
      return new ApiError(
        resp.status,
        typeof e.code === "string" ? e.code : `http_${resp.status}`,
        typeof e.message === "string" && e.message ? e.message : fallback,
      );
    }
    if (typeof err === "string") return new ApiError(resp.status, `http_${resp.status}`, err);
    const detail = detailMessage(body?.detail);
    if (detail) return new ApiError(resp.status, `http_${resp.status}`, detail);
  } catch {
    // not JSON: fall through
  }
  const snippet = text.trim().slice(0, 200);
  return new ApiError(resp.status, `http_${resp.status}`, snippet ? `${fallback}: ${snippet}` : fallback);
}

function networkError(e: unknown, url: string): ApiError {
  if (isAbort(e)) return new ApiError(0, "aborted", "The request was stopped");
  const origin = (() => {
    try {
      return new URL(url).origin;
    } catch {
      return url;
    }
  })();
  return new ApiError(
    0,
    "network_error",
    `Cannot reach the chat API at ${origin}. Is it running, and does it allow this page's origin (PRISM_CORS_ORIGINS)?`,
  );
}

// --- client ---------------------------------------------------------------------------------------

export interface SendOptions {
  signal?: AbortSignal;
}

export class ChatClient {
  constructor(
    private readonly config: Pick<AppConfig, "chatApiUrl" | "chatStreamUrl">,
    private readonly fetchImpl: typeof fetch = (...args) => fetch(...args),
  ) {}

  private async request<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    const url = this.config.chatApiUrl + path;
    let resp: Response;
    try {
      resp = await this.fetchImpl(url, {
        method,
        // Every state change is sent as JSON, body or not: the APIs refuse a POST of any other type
        // (no HTML form or simple cross-site request can act on them).
        headers: method === "GET" ? { Accept: "application/json" } : { "Content-Type": "application/json", Accept: "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
        cache: "no-store",
      });
    } catch (e) {
      throw networkError(e, url);
    }
    if (!resp.ok) throw await errorFromResponse(resp);
    if (resp.status === 204) return undefined as T;
    try {
      return (await resp.json()) as T;
    } catch {
      throw new ApiError(resp.status, "bad_response", "The chat API sent a response that is not JSON");
    }
  }

  listModels(signal?: AbortSignal): Promise<ModelsResponse> {
    return this.request("GET", "/api/models", undefined, signal);
  }

  listConversations(limit: number, cursor?: string | null, signal?: AbortSignal): Promise<ConversationPage> {
    const q = new URLSearchParams({ limit: String(limit) });
    if (cursor) q.set("cursor", cursor);
    return this.request("GET", `/api/conversations?${q}`, undefined, signal);
  }

  createConversation(title?: string): Promise<Conversation> {
    return this.request("POST", "/api/conversations", title ? { title } : {});
  }

  getConversation(id: string, signal?: AbortSignal): Promise<ConversationDetail> {
    return this.request("GET", `/api/conversations/${encodeURIComponent(id)}`, undefined, signal);
  }

  renameConversation(id: string, title: string): Promise<Conversation> {
    return this.request("PATCH", `/api/conversations/${encodeURIComponent(id)}`, { title });
  }

  deleteConversation(id: string): Promise<void> {
    return this.request("DELETE", `/api/conversations/${encodeURIComponent(id)}`);
  }

  cancel(id: string): Promise<{ cancelled: boolean; message_ids: string[] }> {
    return this.request("POST", `/api/conversations/${encodeURIComponent(id)}/cancel`);
  }

  listProviders(signal?: AbortSignal): Promise<ProvidersResponse> {
    return this.request("GET", "/api/settings/providers", undefined, signal);
  }

  putProvider(provider: string, body: PutProviderBody): Promise<Provider> {
    return this.request("PUT", `/api/settings/providers/${encodeURIComponent(provider)}`, body);
  }

  deleteProvider(provider: string): Promise<void> {
    return this.request("DELETE", `/api/settings/providers/${encodeURIComponent(provider)}`);
  }

  /**
   * Send a message and yield the reply's events as they arrive. Errors before the stream starts
   * (404, 422, network) throw ApiError; aborting `signal` closes the stream, which makes the
   * server stop the model call and store the reply as cancelled.
   */
  async *sendMessage(
    conversationId: string,
    content: string,
    model: string,
    opts: SendOptions = {},
  ): AsyncGenerator<StreamEvent, void, undefined> {
    const url = `${this.config.chatStreamUrl}/api/conversations/${encodeURIComponent(conversationId)}/messages`;
    let resp: Response;
    try {
      resp = await this.fetchImpl(url, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
        body: JSON.stringify({ content, model }),
        signal: opts.signal,
        cache: "no-store",
      });
    } catch (e) {
      throw networkError(e, url);
    }
    if (!resp.ok) throw await errorFromResponse(resp);
    const ctype = resp.headers.get("content-type") ?? "";
    if (!ctype.includes("text/event-stream") || !resp.body) {
      throw new ApiError(resp.status, "bad_response", `Expected a stream of events, got "${ctype || "nothing"}"`);
    }
    try {
      for await (const msg of readSSE(resp.body)) {
        let data: Record<string, unknown>;
        try {
          data = JSON.parse(msg.data) as Record<string, unknown>;
        } catch {
          continue; // not ours (e.g. a proxy's keep-alive): skip
        }
        if (msg.event === "start" || msg.event === "delta" || msg.event === "done" || msg.event === "error") {
          yield { ...data, type: msg.event } as StreamEvent;
          if (msg.event === "done" || msg.event === "error") return;
        }
      }
    } catch (e) {
      throw networkError(e, url);
    }
    throw new ApiError(0, "stream_closed", "The connection closed before the reply finished");
  }
}
