"use client";

import { useCallback, useEffect, useReducer, useRef, useState } from "react";
import type { ChatClient, Conversation, FollowEvent, StreamEvent } from "@/lib/api";
import { ApiError, isAbort } from "@/lib/http";
import type { useConversation } from "./useConversation";
import type { useReplyStream } from "./useReplyStream";

// --- the turn's state machine ---------------------------------------------------------------------

/**
 * Where the last turn is: `sending` until the API has stored the message (its `start` event),
 * `streaming` while the reply arrives (also a reply followed after a reload), then `done`
 * (complete), `stopped` (the reader stopped it, or the API stored it as cancelled) or `failed`
 * (refused before it started, or ended by an error). Opening another conversation goes back to
 * `idle`: the reply goes on on the server.
 */
export type TurnPhase = "idle" | "sending" | "streaming" | "done" | "failed" | "stopped";

export interface TurnState {
  phase: TurnPhase;
  /** Why the last message could not be sent (shown above the composer); null when nothing to say. */
  banner: string | null;
  /** What a screen reader hears when the reply ends. */
  announce: string;
}

export type TurnAction =
  | { type: "send" }
  /** No turn after all (the conversation could not be created, or is still loading). */
  | { type: "abandon"; banner?: string }
  | { type: "start" }
  | { type: "finish"; status: "complete" | "cancelled" }
  /** An error event, or the stream broke after the message was stored. */
  | { type: "fail"; message: string; announce: boolean }
  /** Refused before anything was stored: the message goes back to the composer. */
  | { type: "refuse"; message: string }
  | { type: "stop" }
  /** A reply already under way is followed (the conversation was opened mid-reply). */
  | { type: "follow" }
  /** The reader opened another conversation: this one's reply is no longer read here. */
  | { type: "leave" }
  | { type: "dismiss" };

export const initialTurn: TurnState = { phase: "idle", banner: null, announce: "" };

const BUSY: readonly TurnPhase[] = ["sending", "streaming"];

/** The turn's transitions; an action that does not apply to the current phase changes nothing. */
export function turnReducer(state: TurnState, action: TurnAction): TurnState {
  const busy = BUSY.includes(state.phase);
  switch (action.type) {
    case "send":
      return busy ? state : { phase: "sending", banner: null, announce: "" };
    case "abandon":
      return state.phase === "sending" ? { ...state, phase: "idle", banner: action.banner ?? null } : state;
    case "start":
      return state.phase === "sending" ? { ...state, phase: "streaming" } : state;
    case "finish":
      if (!busy) return state;
      return action.status === "complete"
        ? { ...state, phase: "done", announce: "Reply finished" }
        : { ...state, phase: "stopped", announce: "Reply stopped" };
    case "fail":
      if (!busy) return state;
      return { ...state, phase: "failed", announce: action.announce ? `Reply failed: ${action.message}` : state.announce };
    case "refuse":
      return state.phase === "sending" ? { ...state, phase: "failed", banner: action.message } : state;
    case "stop":
      return busy ? { ...state, phase: "stopped", announce: "Reply stopped" } : state;
    case "follow":
      return busy ? state : { phase: "streaming", banner: null, announce: "" };
    case "leave":
      return busy ? { ...state, phase: "idle" } : state;
    case "dismiss":
      return state.banner === null ? state : { ...state, banner: null };
  }
}

// --- the hook -------------------------------------------------------------------------------------

type ActiveStreamLike = { stopped: boolean; left: boolean };

let localSeq = 0;

interface TurnDeps {
  client: ChatClient;
  /** The conversation the URL names (null: a new one). */
  currentId: string | null;
  conversation: ReturnType<typeof useConversation>;
  reply: ReturnType<typeof useReplyStream>;
  model: string;
  /** A conversation got a turn: move it to the top of the list. */
  touch: (conv: Partial<Conversation> & { id: string }) => void;
  /** A conversation was created by its first message: show it in the URL. */
  opened: (id: string) => void;
  /** The reader should see the newest message. */
  stick: () => void;
}

/**
 * Sending a message and reading its reply: the draft, the turn's phase (`turnReducer`), the
 * messages shown while the reply streams (local ids until the API's `start` event gives its own),
 * and, after a stop, what the server stored.
 */
export function useChatTurn({ client, currentId, conversation, reply, model, touch, opened, stick }: TurnDeps) {
  const [state, dispatch] = useReducer(turnReducer, initialTurn);
  const [input, setInput] = useState("");
  const { detail, setDetail, patchMessage, shownId, loads } = conversation;
  // No second turn while the first is being set up (double Enter): a ref, set before any render.
  const sending = useRef(false);

  /** After a stop, read back what the server stored (status, partial text, stats, ids). */
  const syncStored = useCallback(
    async (conversationId: string) => {
      for (let i = 0; i < 15; i++) {
        await new Promise((r) => setTimeout(r, 300));
        if (shownId.current !== conversationId) return;
        try {
          const d = await client.getConversation(conversationId);
          if (d.messages.some((m) => m.status === "streaming")) continue;
          if (reply.active.current?.conversationId === conversationId) return; // a new turn began
          setDetail((cur) => (cur && cur.id === conversationId ? { ...cur, title: d.title, messages: d.messages } : cur));
          return;
        } catch {
          return;
        }
      }
    },
    [client, shownId, reply.active, setDetail],
  );

  /** A reply's delta, `done` or `error`: shown on message `replyId` of conversation `cid`. */
  function apply(cid: string, replyId: string, ev: FollowEvent) {
    switch (ev.type) {
      case "delta":
        patchMessage(cid, replyId, (m) => ({ ...m, content: m.content + ev.content }));
        break;
      case "done":
        patchMessage(cid, replyId, (m) => ({
          ...m,
          status: ev.status,
          usage: ev.usage ?? null,
          cost_usd: ev.cost_usd ?? null,
          latency_ms: ev.latency_ms ?? null,
          ttft_ms: ev.ttft_ms ?? null,
          model: ev.model ?? m.model,
          inference_event_id: ev.inference_event_id ?? null,
        }));
        dispatch({ type: "finish", status: ev.status });
        break;
      case "error":
        patchMessage(cid, replyId, (m) => ({
          ...m,
          status: "error",
          error: { code: ev.code, message: ev.message },
          usage: ev.usage ?? null,
          cost_usd: ev.cost_usd ?? null,
          latency_ms: ev.latency_ms ?? null,
          ttft_ms: ev.ttft_ms ?? null,
        }));
        dispatch({ type: "fail", message: ev.message, announce: true });
        break;
    }
  }

  /** The stream of reply `replyId` ended without its `done`/`error`: why, and what is shown. */
  function broken(cid: string, replyId: string, active: ActiveStreamLike, e: unknown) {
    if (active.left) {
      dispatch({ type: "leave" }); // another conversation is shown; the reply goes on
    } else if (isAbort(e) || active.stopped) {
      patchMessage(cid, replyId, (m) => (m.status === "streaming" ? { ...m, status: "cancelled" } : m));
      dispatch({ type: "stop" });
      void syncStored(cid);
    } else {
      const err = e as ApiError;
      patchMessage(cid, replyId, (m) => ({
        ...m,
        status: "error",
        error: { code: err.code ?? "stream_closed", message: err.message },
      }));
      dispatch({ type: "fail", message: err.message, announce: false });
    }
  }

  /** Follow a reply already under way (the conversation was opened mid-reply): its text so far
   * replaces what the conversation showed, then the rest arrives as it is written. */
  async function follow(cid: string, replyId: string) {
    const active = reply.begin(cid, replyId);
    dispatch({ type: "follow" });
    let first = true;
    try {
      for await (const ev of reply.follow(active)) {
        if (first && ev.type === "delta") patchMessage(cid, replyId, (m) => ({ ...m, content: "" }));
        first = false;
        apply(cid, replyId, ev);
        if (ev.type !== "delta") return;
      }
    } catch (e) {
      broken(cid, replyId, active, e);
    } finally {
      reply.end(active);
    }
  }

  // A conversation read from the API whose last reply is still being written: follow it.
  useEffect(() => {
    if (loads === 0 || !detail || reply.active.current) return;
    const last = detail.messages.at(-1);
    if (last && last.role === "assistant" && last.status === "streaming") void follow(detail.id, last.id);
    // Only when a read from the API arrives (not at every delta).
  }, [loads]);

  async function turn(text: string, fromDraft: boolean) {
    dispatch({ type: "send" });
    let conversationId = currentId;
    if (!conversationId || detail?.id !== conversationId) {
      if (conversationId && detail?.id !== conversationId) {
        dispatch({ type: "abandon" }); // still loading
        return;
      }
      try {
        const conv = await client.createConversation();
        conversationId = conv.id;
        shownId.current = conv.id;
        setDetail({ id: conv.id, title: conv.title, messages: [] });
        touch(conv);
        opened(conv.id);
      } catch (e) {
        dispatch({ type: "abandon", banner: `Could not start a conversation: ${(e as Error).message}` });
        return;
      }
    }
    const cid = conversationId;
    const seq = ++localSeq;
    let userId = `local-user-${seq}`;
    let replyId = `local-reply-${seq}`;
    const now = new Date().toISOString();
    setDetail((d) =>
      d && d.id === cid
        ? {
            ...d,
            messages: [
              ...d.messages,
              { id: userId, role: "user", content: text, status: "complete", created_at: now },
              { id: replyId, role: "assistant", content: "", status: "streaming", created_at: now, model },
            ],
          }
        : d,
    );
    if (fromDraft) setInput(""); // a retry leaves what is being typed alone
    stick();
    const active = reply.begin(cid, replyId);
    let started = false;

    function handle(ev: StreamEvent) {
      switch (ev.type) {
        case "start": {
          started = true;
          dispatch({ type: "start" });
          const oldUser = userId;
          const oldReply = replyId;
          userId = ev.user_message_id;
          replyId = ev.message_id;
          active.messageId = ev.message_id;
          setDetail((d) =>
            d && d.id === cid
              ? {
                  ...d,
                  title: ev.title || d.title,
                  messages: d.messages.map((m) =>
                    m.id === oldUser
                      ? { ...m, id: ev.user_message_id }
                      : m.id === oldReply
                        ? { ...m, id: ev.message_id, model: ev.model, provider: ev.provider }
                        : m,
                  ),
                }
              : d,
          );
          touch({ id: cid, title: ev.title, model: ev.model });
          break;
        }
        default:
          apply(cid, replyId, ev);
      }
    }

    try {
      for await (const ev of reply.stream(active, text, model)) handle(ev);
    } catch (e) {
      if (started || active.left || active.stopped || isAbort(e)) {
        broken(cid, replyId, active, e);
      } else {
        // Refused before anything was stored (e.g. unknown model): take the message back.
        setDetail((d) =>
          d && d.id === cid ? { ...d, messages: d.messages.filter((m) => m.id !== userId && m.id !== replyId) } : d,
        );
        setInput((cur) => cur || text);
        dispatch({ type: "refuse", message: (e as Error).message });
      }
    } finally {
      reply.end(active);
    }
  }

  /** Send the draft (or `again`, a failed turn's message re-sent), unless it is empty, no model is
   * picked, or a turn is already under way. */
  async function send(again?: string) {
    const text = again ?? input;
    if (!text.trim() || reply.active.current || sending.current || !model) return;
    sending.current = true;
    try {
      await turn(text, again === undefined);
    } finally {
      sending.current = false;
    }
  }

  const dismiss = useCallback(() => dispatch({ type: "dismiss" }), []);

  return { ...state, input, setInput, send, dismiss };
}
