"use client";

import { useCallback, useEffect, useState } from "react";
import type { ChatClient, Conversation } from "@/lib/api";

/**
 * The conversation list, newest first, a page at a time (`loadMore` follows the cursor), with the
 * local changes a chat makes to it: a conversation moved to the top when it gets a turn, renamed,
 * or gone.
 */
export function useConversations(client: ChatClient, pageSize = 20) {
  const [items, setItems] = useState<Conversation[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<string | null>(null);

  const loadPage = useCallback(
    async (after: string | null) => {
      setLoading(true);
      try {
        const page = await client.listConversations(pageSize, after);
        setItems((cur) => {
          const base = after ? cur : [];
          const seen = new Set(base.map((c) => c.id));
          return [...base, ...page.items.filter((c) => !seen.has(c.id))];
        });
        setCursor(page.next_cursor);
        setError(null);
      } catch (e) {
        setError(`Could not load the conversations: ${(e as Error).message}`);
      } finally {
        setLoading(false);
      }
    },
    [client, pageSize],
  );

  useEffect(() => {
    void loadPage(null);
  }, [loadPage]);

  /** Put a conversation (new or known) at the top, with what changed. */
  const touch = useCallback((conv: Partial<Conversation> & { id: string }) => {
    setItems((cur) => {
      const old = cur.find((c) => c.id === conv.id);
      const now = new Date().toISOString();
      const merged: Conversation = {
        title: "",
        model: null,
        created_at: now,
        ...old,
        ...conv,
        updated_at: now,
      } as Conversation;
      return [merged, ...cur.filter((c) => c.id !== conv.id)];
    });
  }, []);

  /** Change a conversation where it stands (a rename). */
  const update = useCallback((conv: Partial<Conversation> & { id: string }) => {
    setItems((cur) => cur.map((c) => (c.id === conv.id ? { ...c, ...conv } : c)));
  }, []);

  const remove = useCallback((id: string) => {
    setItems((cur) => cur.filter((c) => c.id !== id));
  }, []);

  return {
    items,
    hasMore: !!cursor,
    loading,
    error,
    setError,
    loadMore: () => void loadPage(cursor),
    touch,
    update,
    remove,
  };
}
