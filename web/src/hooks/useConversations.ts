"use client";

import { useCallback, useMemo, useRef, useState } from "react";
import type { ChatClient, Conversation } from "@/lib/api";
import { useCursorPages } from "./useFetch";

let visits = 0;

/**
 * The conversation list, newest first, a page at a time (`loadMore` follows the cursor, through
 * SWR), with the changes a chat makes to it on top of the pages read: a conversation moved to the
 * top when it gets a turn, renamed, or gone.
 */
export function useConversations(client: ChatClient, pageSize = 20) {
  // Every visit to the page reads the list afresh.
  const [visit] = useState(() => ++visits);
  const list = useCursorPages(["conversations", visit, pageSize], (cursor) => client.listConversations(pageSize, cursor));
  const [front, setFront] = useState<Conversation[]>([]);
  const [edits, setEdits] = useState<Record<string, Partial<Conversation>>>({});
  const [gone, setGone] = useState<ReadonlySet<string>>(() => new Set());
  const [localError, setError] = useState<string | null>(null);

  const items = useMemo(() => {
    const seen = new Set<string>();
    const out: Conversation[] = [];
    for (const c of [...front, ...list.pages.flatMap((p) => p.items)]) {
      if (seen.has(c.id) || gone.has(c.id)) continue;
      seen.add(c.id);
      out.push(edits[c.id] ? { ...c, ...edits[c.id] } : c);
    }
    return out;
  }, [front, list.pages, edits, gone]);

  // What the pages and the renames were at the last render: `touch` runs in a turn that outlives it.
  const pages = useRef(list.pages);
  pages.current = list.pages;
  const renames = useRef(edits);
  renames.current = edits;

  /** Put a conversation (new or known) at the top, with what changed. */
  const touch = useCallback((conv: Partial<Conversation> & { id: string }) => {
    const now = new Date().toISOString();
    setFront((cur) => {
      const old =
        cur.find((c) => c.id === conv.id) ?? pages.current.flatMap((p) => p.items).find((c) => c.id === conv.id);
      const merged = { title: "", model: null, created_at: now, ...old, ...renames.current[conv.id], ...conv, updated_at: now };
      return [merged as Conversation, ...cur.filter((c) => c.id !== conv.id)];
    });
    setEdits((cur) => {
      if (!(conv.id in cur)) return cur;
      const rest = { ...cur };
      delete rest[conv.id];
      return rest;
    });
  }, []);

  /** Change a conversation where it stands (a rename). */
  const update = useCallback((conv: Partial<Conversation> & { id: string }) => {
    setEdits((cur) => ({ ...cur, [conv.id]: { ...cur[conv.id], ...conv } }));
  }, []);

  const remove = useCallback((id: string) => {
    setGone((cur) => new Set(cur).add(id));
  }, []);

  return {
    items,
    hasMore: !!list.cursor,
    loading: list.loading,
    error: localError ?? (list.error ? `Could not load the conversations: ${list.error.message}` : null),
    setError,
    loadMore: () => {
      setError(null);
      void list.loadMore();
    },
    touch,
    update,
    remove,
  };
}
