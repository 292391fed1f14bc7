// @vitest-environment jsdom
import { act, cleanup, renderHook, waitFor } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import { useConversations } from "@/hooks/useConversations";
import type { ChatClient, Conversation, ConversationPage } from "@/lib/api";

afterEach(cleanup);

const conv = (id: string, title = id): Conversation => ({
  id,
  title,
  model: null,
  created_at: "2026-11-27T10:00:00Z",
  updated_at: "2026-11-27T10:00:00Z",
});

/** A chat client that only lists: pages of two, from a fixed list. */
function fakeClient(all: Conversation[]) {
  const calls: (string | null | undefined)[] = [];
  const client = {
    async listConversations(limit: number, cursor?: string | null): Promise<ConversationPage> {
      calls.push(cursor);
      const start = cursor ? Number(cursor) : 0;
      const next = start + limit < all.length ? String(start + limit) : null;
      return { items: all.slice(start, start + limit), next_cursor: next };
    },
  } as unknown as ChatClient;
  return { client, calls };
}

describe("useConversations", () => {
  it("pages with Load more, and keeps a chat's changes on top of the pages read", async () => {
    const { client, calls } = fakeClient([conv("a"), conv("b"), conv("c")]);
    const { result } = renderHook(() => useConversations(client, 2));
    await waitFor(() => expect(result.current.items.map((c) => c.id)).toEqual(["a", "b"]));
    expect(result.current.hasMore).toBe(true);

    act(() => result.current.loadMore());
    await waitFor(() => expect(result.current.items.map((c) => c.id)).toEqual(["a", "b", "c"]));
    expect(result.current.hasMore).toBe(false);
    expect(calls).toEqual([null, "2"]);

    act(() => result.current.update({ id: "c", title: "renamed" }));
    act(() => result.current.touch({ id: "c", model: "m" }));
    act(() => result.current.touch({ id: "new", title: "fresh" }));
    act(() => result.current.remove("a"));
    expect(result.current.items.map((c) => [c.id, c.title])).toEqual([
      ["new", "fresh"],
      ["c", "renamed"],
      ["b", "b"],
    ]);
    expect(result.current.items[1].model).toBe("m");
  });
});
