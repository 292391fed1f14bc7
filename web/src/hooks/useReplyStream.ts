"use client";

import { useCallback, useRef, useState } from "react";
import type { ChatClient, StreamEvent } from "@/lib/api";

export interface ActiveStream {
  controller: AbortController;
  conversationId: string;
  messageId: string;
  stopped: boolean;
}

/**
 * The reply being streamed, if any: at most one at a time. `stream` reads its events; `stop`
 * ends it (closing the stream, and asking the API to cancel, for proxies that do not pass a
 * disconnect on); `stopUnless` ends it when the reader leaves its conversation.
 */
export function useReplyStream(client: ChatClient) {
  const active = useRef<ActiveStream | null>(null);
  const [streaming, setStreaming] = useState(false);

  /** Start a reply: from now on it is the active one. */
  const begin = useCallback((conversationId: string, messageId: string): ActiveStream => {
    const a: ActiveStream = { controller: new AbortController(), conversationId, messageId, stopped: false };
    active.current = a;
    setStreaming(true);
    return a;
  }, []);

  const stream = useCallback(
    (a: ActiveStream, text: string, model: string): AsyncGenerator<StreamEvent, void, undefined> =>
      client.sendMessage(a.conversationId, text, model, { signal: a.controller.signal }),
    [client],
  );

  const end = useCallback((a: ActiveStream) => {
    if (active.current === a) active.current = null;
    setStreaming(false);
  }, []);

  const stop = useCallback(() => {
    const a = active.current;
    if (!a) return;
    a.stopped = true;
    a.controller.abort();
    // Closing the stream cancels the reply; also ask explicitly, for deployments whose proxy does
    // not pass the disconnect on (harmless when the reply is already over).
    client.cancel(a.conversationId).catch(() => undefined);
  }, [client]);

  /** Leaving a conversation while its reply streams stops the reply (it is stored as cancelled). */
  const stopUnless = useCallback((conversationId: string | null) => {
    const a = active.current;
    if (a && a.conversationId !== conversationId) {
      a.stopped = true;
      a.controller.abort();
    }
  }, []);

  return { active, streaming, begin, stream, end, stop, stopUnless };
}
