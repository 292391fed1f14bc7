/**
 * The chat API client: typed calls (whose errors are ApiError, lib/http.ts) and the streaming
 * send (SSE over POST, read with fetch so it can be aborted).
 */

import type { AppConfig } from "./config";
import { ApiError, errorFromResponse, networkError, requestJson } from "./http";
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

// --- client ---------------------------------------------------------------------------------------

export interface SendOptions {
  signal?: AbortSignal;
}

export class ChatClient {
  constructor(
    private readonly config: Pick<AppConfig, "chatApiUrl" | "chatStreamUrl">,
    private readonly fetchImpl: typeof fetch = (...args) => fetch(...args),
  ) {}

  private request<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    return requestJson("chat API", method, this.config.chatApiUrl + path, { body, signal, fetchImpl: this.fetchImpl });
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
      throw networkError(e, url, "chat API");
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
      throw networkError(e, url, "chat API");
    }
    throw new ApiError(0, "stream_closed", "The connection closed before the reply finished");
  }
}
