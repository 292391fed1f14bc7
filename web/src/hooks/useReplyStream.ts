"use client";

import { useCallback, useRef, useState } from "react";
import type { ChatClient, FollowEvent, StreamEvent } from "@/lib/api";

export interface ActiveStream {
  controller: AbortController;
  conversationId: string;
  messageId: string;
  /** The reader pressed Stop: the reply is being cancelled. */
  stopped: boolean;
  /** The reader opened another conversation: this page stopped reading, the reply goes on. */
  left: boolean;
}

/**
 * The reply being streamed, if any: at most one at a time. `stream` reads a new reply's events,
 * `follow` those of a reply already under way (a reload, another tab); `stop` ends it (asking the
 * API to cancel it); `leaveUnless` stops reading it when the reader opens another conversation: the
 * server goes on writing it, and opening the conversation again follows it.
 */
export function useReplyStream(client: ChatClient) {
  const active = useRef<ActiveStream | null>(null);
  const [streaming, setStreaming] = useState(false);

  /** Start reading a reply: from now on it is the active one. */
  const begin = useCallback((conversationId: string, messageId: string): ActiveStream => {
    const a: ActiveStream = { controller: new AbortController(), conversationId, messageId, stopped: false, left: false };
    active.current = a;
    setStreaming(true);
    return a;
  }, []);

  const stream = useCallback(
    (a: ActiveStream, text: string, model: string): AsyncGenerator<StreamEvent, void, undefined> =>
      client.sendMessage(a.conversationId, text, model, { signal: a.controller.signal }),
    [client],
  );

  const follow = useCallback(
    (a: ActiveStream): AsyncGenerator<FollowEvent, void, undefined> =>
      client.followReply(a.conversationId, a.messageId, { signal: a.controller.signal }),
    [client],
  );

  const end = useCallback((a: ActiveStream) => {
    if (active.current === a) {
      active.current = null;
      setStreaming(false);
    }
  }, []);

  const stop = useCallback(() => {
    const a = active.current;
    if (!a) return;
    a.stopped = true;
    a.controller.abort();
    // Closing the stream no longer stops a reply: ask the API to (harmless once it is over).
    client.cancel(a.conversationId).catch(() => undefined);
  }, [client]);

  /** Opening another conversation stops reading this one's reply (it goes on on the server). */
  const leaveUnless = useCallback((conversationId: string | null) => {
    const a = active.current;
    if (a && a.conversationId !== conversationId) {
      a.left = true;
      a.controller.abort();
      active.current = null;
      setStreaming(false);
    }
  }, []);

  return { active, streaming, begin, stream, follow, end, stop, leaveUnless };
}
