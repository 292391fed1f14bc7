/**
 * The chat API client: typed calls (whose errors are ApiError, lib/http.ts) and the streaming
 * send (SSE over POST, read with fetch so it can be aborted).
 */

import type { AppConfig } from "./config";
import type { components } from "./generated/chat";
import { ApiError, errorFromResponse, networkError, requestJson } from "./http";
import { readSSE } from "./sse";

// --- shapes (functions/chat/schemas.py, generated: lib/generated/chat.ts) -----------------------

type Schemas = components["schemas"];

export type MessageStatus = Schemas["MessageOut"]["status"];
export type Usage = Schemas["Usage"];
export type Conversation = Schemas["ConversationOut"];
export type Message = Schemas["MessageOut"];
export type ConversationDetail = Schemas["ConversationDetail"];
export type ConversationPage = Schemas["ConversationPage"];
export type Model = Schemas["ModelOut"];
export type ModelGroup = Schemas["ModelGroupOut"];
export type ModelsResponse = Schemas["ModelsOut"];
export type Provider = Schemas["ProviderOut"];
export type ProvidersResponse = Schemas["ProvidersOut"];
export type PutProviderBody = Schemas["PutProvider"];
export type CancelResult = Schemas["CancelResult"];

// The stream's events are server-sent events, which OpenAPI does not describe: written here
// (functions/chat/service.py).
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

/** What following a reply yields (its `start` only names the message, which the caller knows). */
export type FollowEvent = DeltaEvent | DoneEvent | ErrorEvent;

// --- client ---------------------------------------------------------------------------------------

export interface SendOptions {
  signal?: AbortSignal;
}

export interface FollowOptions extends SendOptions {
  /** Characters of the reply already received (the `id` of the last delta); default: all of it. */
  offset?: number;
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

  cancel(id: string): Promise<CancelResult> {
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
   * client stop reading; the reply goes on on the server (stop it with `cancel`, follow it again
   * with `followReply`).
   */
  async *sendMessage(
    conversationId: string,
    content: string,
    model: string,
    opts: SendOptions = {},
  ): AsyncGenerator<StreamEvent, void, undefined> {
    const url = `${this.config.chatStreamUrl}/api/conversations/${encodeURIComponent(conversationId)}/messages`;
    yield* this.events(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
      body: JSON.stringify({ content, model }),
      signal: opts.signal,
      cache: "no-store",
    });
  }

  /**
   * Follow a reply still being written (after a reload, or from another tab): its text so far as
   * one delta, then the rest as it comes, then `done` or `error`. Served by any instance.
   */
  async *followReply(
    conversationId: string,
    messageId: string,
    opts: FollowOptions = {},
  ): AsyncGenerator<FollowEvent, void, undefined> {
    const q = opts.offset ? `?offset=${opts.offset}` : "";
    const url =
      `${this.config.chatStreamUrl}/api/conversations/${encodeURIComponent(conversationId)}` +
      `/messages/${encodeURIComponent(messageId)}/stream${q}`;
    for await (const ev of this.events(url, {
      method: "GET",
      headers: { Accept: "text/event-stream" },
      signal: opts.signal,
      cache: "no-store",
    })) {
      if (ev.type !== "start") yield ev;
    }
  }

  /** A request answered with server-sent events: the chat's events until `done` or `error`. */
  private async *events(url: string, init: RequestInit): AsyncGenerator<StreamEvent, void, undefined> {
    let resp: Response;
    try {
      resp = await this.fetchImpl(url, init);
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
