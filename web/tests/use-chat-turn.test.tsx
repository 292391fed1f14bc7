// @vitest-environment jsdom
import { act, cleanup, renderHook, waitFor } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import { initialTurn, turnReducer, useChatTurn, type TurnAction, type TurnState } from "@/hooks/useChatTurn";
import { useConversation } from "@/hooks/useConversation";
import { useReplyStream } from "@/hooks/useReplyStream";
import type { ChatClient, Conversation, FollowEvent, StreamEvent } from "@/lib/api";
import { ApiError } from "@/lib/http";

afterEach(cleanup);

function run(actions: TurnAction[], from: TurnState = initialTurn): TurnState {
  return actions.reduce(turnReducer, from);
}

describe("turnReducer", () => {
  it("goes idle -> sending -> streaming -> done, announcing the end", () => {
    expect(run([{ type: "send" }]).phase).toBe("sending");
    expect(run([{ type: "send" }, { type: "start" }]).phase).toBe("streaming");
    const done = run([{ type: "send" }, { type: "start" }, { type: "finish", status: "complete" }]);
    expect(done).toEqual({ phase: "done", banner: null, announce: "Reply finished" });
  });

  it("following a reply under way streams; leaving the conversation goes back to idle", () => {
    expect(run([{ type: "follow" }])).toEqual({ phase: "streaming", banner: null, announce: "" });
    expect(run([{ type: "follow" }, { type: "finish", status: "complete" }]).phase).toBe("done");
    expect(run([{ type: "send" }, { type: "start" }, { type: "leave" }]).phase).toBe("idle");
    expect(turnReducer(initialTurn, { type: "leave" })).toBe(initialTurn);
    const busy = run([{ type: "send" }]);
    expect(turnReducer(busy, { type: "follow" })).toBe(busy);
  });

  it("a cancelled reply or a stop ends stopped; an error event ends failed", () => {
    expect(run([{ type: "send" }, { type: "start" }, { type: "finish", status: "cancelled" }]).phase).toBe("stopped");
    expect(run([{ type: "send" }, { type: "stop" }])).toMatchObject({ phase: "stopped", announce: "Reply stopped" });
    const failed = run([{ type: "send" }, { type: "start" }, { type: "fail", message: "boom", announce: true }]);
    expect(failed).toMatchObject({ phase: "failed", announce: "Reply failed: boom", banner: null });
  });

  it("a refusal before the start says why in the banner; the next send clears it", () => {
    const refused = run([{ type: "send" }, { type: "refuse", message: "Unknown model" }]);
    expect(refused).toMatchObject({ phase: "failed", banner: "Unknown model" });
    expect(run([{ type: "send" }], refused)).toEqual({ phase: "sending", banner: null, announce: "" });
    expect(run([{ type: "dismiss" }], refused).banner).toBeNull();
  });

  it("ignores what does not apply: no second send while busy, no start or finish when idle", () => {
    const sending = run([{ type: "send" }]);
    expect(turnReducer(sending, { type: "send" })).toBe(sending);
    expect(turnReducer(initialTurn, { type: "start" })).toBe(initialTurn);
    expect(turnReducer(initialTurn, { type: "finish", status: "complete" })).toBe(initialTurn);
    expect(turnReducer(initialTurn, { type: "stop" })).toBe(initialTurn);
    const started = run([{ type: "send" }, { type: "start" }]);
    expect(turnReducer(started, { type: "refuse", message: "late" })).toBe(started); // too late to take back
  });

  it("abandons a turn that could not begin, with the reason when there is one", () => {
    expect(run([{ type: "send" }, { type: "abandon", banner: "Could not start" }])).toMatchObject({
      phase: "idle",
      banner: "Could not start",
    });
  });
});

const conv: Conversation = { id: "c1", title: "", model: null, created_at: "2026-11-27T10:00:00Z", updated_at: "2026-11-27T10:00:00Z" };

/** A chat client whose send yields `events`, or throws `refusal` before anything. */
function fakeClient(events: StreamEvent[], refusal?: ApiError) {
  const created: string[] = [];
  const client = {
    async createConversation() {
      created.push(conv.id);
      return conv;
    },
    async getConversation() {
      return { ...conv, messages: [] };
    },
    async *sendMessage(): AsyncGenerator<StreamEvent, void, undefined> {
      if (refusal) throw refusal;
      for (const ev of events) yield ev;
    },
    async cancel() {
      return { cancelled: true, message_ids: [] };
    },
  } as unknown as ChatClient;
  return { client, created };
}

function useTurn(client: ChatClient, touched: string[], opened: string[]) {
  const reply = useReplyStream(client);
  const conversation = useConversation(client, null);
  const turn = useChatTurn({
    client,
    currentId: null,
    conversation,
    reply,
    model: "demo/prism-demo",
    touch: (c) => touched.push(c.id),
    opened: (id) => opened.push(id),
    stick: () => undefined,
  });
  return { turn, conversation, reply };
}

describe("useChatTurn", () => {
  it("opening a conversation whose reply is still being written follows it to its end", async () => {
    const followed: string[] = [];
    const client = {
      async getConversation() {
        return {
          ...conv,
          messages: [
            { id: "u1", role: "user", content: "Hello?", status: "complete", created_at: conv.created_at },
            { id: "r1", role: "assistant", content: "Hi", status: "streaming", created_at: conv.created_at },
          ],
        };
      },
      async *followReply(cid: string, mid: string): AsyncGenerator<FollowEvent, void, undefined> {
        followed.push(`${cid}/${mid}`);
        yield { type: "delta", content: "Hi th" }; // the text so far replaces what was read
        yield { type: "delta", content: "ere" };
        yield { type: "done", status: "complete", latency_ms: 12 };
      },
    } as unknown as ChatClient;
    const { result } = renderHook(() => {
      const reply = useReplyStream(client);
      const conversation = useConversation(client, "c1");
      const turn = useChatTurn({
        client, currentId: "c1", conversation, reply, model: "demo/prism-demo",
        touch: () => undefined, opened: () => undefined, stick: () => undefined,
      });
      return { turn, conversation, reply };
    });
    await waitFor(() => expect(result.current.turn.phase).toBe("done"));
    expect(followed).toEqual(["c1/r1"]);
    const r = result.current.conversation.detail?.messages[1];
    expect([r?.content, r?.status, r?.latency_ms]).toEqual(["Hi there", "complete", 12]);
    expect(result.current.reply.streaming).toBe(false);
  });

  it("creates the conversation, shows the message and the reply as it streams, with the API's ids", async () => {
    const { client, created } = fakeClient([
      { type: "start", conversation_id: "c1", user_message_id: "u1", message_id: "r1", model: "demo/prism-demo", provider: "demo", title: "Hello" },
      { type: "delta", content: "Hi " },
      { type: "delta", content: "there" },
      { type: "done", status: "complete", cost_usd: 0.001, inference_event_id: "ev1" },
    ]);
    const touched: string[] = [];
    const opened: string[] = [];
    const { result } = renderHook(() => useTurn(client, touched, opened));
    act(() => result.current.turn.setInput("Hello?"));
    await act(() => result.current.turn.send());
    await waitFor(() => expect(result.current.turn.phase).toBe("done"));
    expect(created).toEqual(["c1"]);
    expect(opened).toEqual(["c1"]);
    expect(touched).toEqual(["c1", "c1"]);
    const d = result.current.conversation.detail;
    expect(d?.title).toBe("Hello");
    expect(d?.messages.map((m) => [m.id, m.role, m.content, m.status])).toEqual([
      ["u1", "user", "Hello?", "complete"],
      ["r1", "assistant", "Hi there", "complete"],
    ]);
    expect(d?.messages[1].inference_event_id).toBe("ev1");
    expect(result.current.turn.input).toBe("");
    expect(result.current.turn.announce).toBe("Reply finished");
    expect(result.current.reply.streaming).toBe(false);
  });

  it("a refused message goes back to the composer, with the reason", async () => {
    const { client } = fakeClient([], new ApiError(422, "unknown_model", "Unknown model: x"));
    const { result } = renderHook(() => useTurn(client, [], []));
    act(() => result.current.turn.setInput("Hello?"));
    await act(() => result.current.turn.send());
    await waitFor(() => expect(result.current.turn.phase).toBe("failed"));
    expect(result.current.turn.banner).toBe("Unknown model: x");
    expect(result.current.turn.input).toBe("Hello?");
    expect(result.current.conversation.detail?.messages).toEqual([]);
  });

  it("an error event marks the reply failed and says so", async () => {
    const { client } = fakeClient([
      { type: "start", conversation_id: "c1", user_message_id: "u1", message_id: "r1", model: "m", provider: "p", title: "" },
      { type: "error", code: "provider_auth", message: "Incorrect API key" },
    ]);
    const { result } = renderHook(() => useTurn(client, [], []));
    act(() => result.current.turn.setInput("Hello?"));
    await act(() => result.current.turn.send());
    await waitFor(() => expect(result.current.turn.phase).toBe("failed"));
    const r = result.current.conversation.detail?.messages[1];
    expect(r).toMatchObject({ id: "r1", status: "error", error: { code: "provider_auth", message: "Incorrect API key" } });
    expect(result.current.turn.announce).toBe("Reply failed: Incorrect API key");
    expect(result.current.turn.banner).toBeNull();
  });

  it("sends nothing for an empty draft", async () => {
    const { client, created } = fakeClient([]);
    const { result } = renderHook(() => useTurn(client, [], []));
    act(() => result.current.turn.setInput("   "));
    await act(() => result.current.turn.send());
    expect(created).toEqual([]);
    expect(result.current.turn.phase).toBe("idle");
  });

  it("Retry re-sends the failed turn's message and leaves the draft being typed alone", async () => {
    const sent: string[] = [];
    let fail = true;
    const base = fakeClient([]).client;
    const client = {
      ...base,
      createConversation: base.createConversation,
      getConversation: base.getConversation,
      async *sendMessage(_cid: string, content: string): AsyncGenerator<StreamEvent, void, undefined> {
        sent.push(content);
        yield { type: "start", conversation_id: "c1", user_message_id: `u${sent.length}`, message_id: `r${sent.length}`, model: "m", provider: "p", title: "" };
        if (fail) {
          fail = false;
          yield { type: "error", code: "provider_unavailable", message: "The provider answered 500" };
          return;
        }
        yield { type: "delta", content: "Fine now" };
        yield { type: "done", status: "complete" };
      },
    } as unknown as ChatClient;
    const { result } = renderHook(() => useTurn(client, [], []));
    act(() => result.current.turn.setInput("Hello?"));
    await act(() => result.current.turn.send());
    await waitFor(() => expect(result.current.turn.phase).toBe("failed"));
    act(() => result.current.turn.setInput("half a new thought"));
    await act(() => result.current.turn.send("Hello?"));
    await waitFor(() => expect(result.current.turn.phase).toBe("done"));
    expect(sent).toEqual(["Hello?", "Hello?"]);
    expect(result.current.turn.input).toBe("half a new thought");
    expect(result.current.conversation.detail?.messages.at(-1)).toMatchObject({ status: "complete", content: "Fine now" });
  });
});
