"use client";

import { useCallback, useEffect, useRef, useState } from "react";
import type { ChatClient, ConversationDetail, Message } from "@/lib/api";
import { ApiError, isAbort } from "@/lib/http";

export interface Detail {
  id: string;
  title: string;
  messages: Message[];
}

interface Callbacks {
  /** Every time the URL's conversation changes, before anything else (e.g. stop a reply elsewhere). */
  onSwitch?: (id: string | null) => void;
  /** When another conversation is opened (its id), or none (null); not when it is already shown. */
  onOpen?: (id: string | null) => void;
  onLoaded?: (d: ConversationDetail) => void;
}

/**
 * The open conversation: read when the URL names another one, kept here as the chat changes it
 * (`setDetail`, `patchMessage`). One just created by a first message is shown as it is. `loads`
 * counts the reads from the API: a read whose last reply is still `streaming` is followed
 * (useChatTurn).
 */
export function useConversation(client: ChatClient, currentId: string | null, callbacks: Callbacks = {}) {
  const [detail, setDetail] = useState<Detail | null>(null);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [loads, setLoads] = useState(0);
  const shownId = useRef<string | null>(null);
  shownId.current = detail?.id ?? null;
  const cb = useRef(callbacks);
  cb.current = callbacks;

  useEffect(() => {
    cb.current.onSwitch?.(currentId);
    if (!currentId) {
      cb.current.onOpen?.(null);
      setDetail(null);
      setError(null);
      return;
    }
    // Already shown: the conversation was just created by sending its first message.
    if (shownId.current === currentId) return;
    cb.current.onOpen?.(currentId);
    const ac = new AbortController();
    setLoading(true);
    setError(null);
    setDetail(null);
    client
      .getConversation(currentId, ac.signal)
      .then((d) => {
        setDetail({ id: d.id, title: d.title, messages: d.messages });
        setLoads((n) => n + 1);
        cb.current.onLoaded?.(d);
      })
      .catch((e) => {
        if (isAbort(e)) return;
        setError(
          e instanceof ApiError && e.status === 404
            ? "This conversation does not exist (it may have been deleted)."
            : `Could not load the conversation: ${(e as Error).message}`,
        );
      })
      .finally(() => {
        if (!ac.signal.aborted) setLoading(false);
      });
    return () => ac.abort();
    // Only when the URL changes (not when the shown detail does).
  }, [currentId, client]);

  const patchMessage = useCallback((conversationId: string, id: string, fn: (m: Message) => Message) => {
    setDetail((d) =>
      d && d.id === conversationId ? { ...d, messages: d.messages.map((m) => (m.id === id ? fn(m) : m)) } : d,
    );
  }, []);

  return { detail, setDetail, loading, error, shownId, patchMessage, loads };
}
