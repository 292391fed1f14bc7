import { describe, expect, it, vi } from "vitest";
import { ChatClient, type StreamEvent } from "@/lib/api";
import { ApiError, errorFromResponse, isAbort } from "@/lib/http";

const CONFIG = { chatApiUrl: "http://chat.test", chatStreamUrl: "http://stream.test" };

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}

function sse(chunks: string[]): Response {
  const enc = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      for (const s of chunks) c.enqueue(enc.encode(s));
      c.close();
    },
  });
  return new Response(body, { status: 200, headers: { "Content-Type": "text/event-stream" } });
}

async function events(gen: AsyncGenerator<StreamEvent>): Promise<StreamEvent[]> {
  const out: StreamEvent[] = [];
  for await (const e of gen) out.push(e);
  return out;
}

describe("errorFromResponse", () => {
  it("reads the app's {error: {code, message}} shape", async () => {
    const e = await errorFromResponse(json(404, { error: { code: "conversation_not_found", message: "no such" } }));
    expect(e).toBeInstanceOf(ApiError);
    expect([e.status, e.code, e.message]).toEqual([404, "conversation_not_found", "no such"]);
  });

  it("reads FastAPI's detail string and validation list", async () => {
    const a = await errorFromResponse(json(404, { detail: "Not Found" }));
    expect([a.code, a.message]).toEqual(["http_404", "Not Found"]);
    const b = await errorFromResponse(
      json(422, { detail: [{ loc: ["body", "content"], msg: "field required" }, { loc: ["query", "limit"], msg: "too big" }] }),
    );
    expect(b.message).toBe("content: field required; query.limit: too big");
  });

  it("falls back to the status and a snippet of a text body", async () => {
    const e = await errorFromResponse(new Response("<html>Bad gateway</html>", { status: 502, statusText: "Bad Gateway" }));
    expect(e.code).toBe("http_502");
    expect(e.message).toContain("HTTP 502 Bad Gateway");
    expect(e.message).toContain("Bad gateway");
    const empty = await errorFromResponse(new Response(null, { status: 500 }));
    expect(empty.message).toBe("The chat API answered HTTP 500");
  });

  it("does not take a message-less error object at face value", async () => {
    const e = await errorFromResponse(json(503, { error: { code: "not_ready" } }));
    expect([e.code, e.message]).toEqual(["not_ready", "The chat API answered HTTP 503"]);
  });
});

describe("ChatClient.followReply", () => {
  it("reads the reply's events from the stream URL, from an offset, without the start", async () => {
    const urls: string[] = [];
    const fetchImpl = vi.fn(async (url: RequestInfo | URL) => {
      urls.push(String(url));
      return sse([
        'event: start\ndata: {"message_id": "m1"}\n\n',
        'id: 9\nevent: delta\ndata: {"content": " more"}\n\n',
        'event: done\ndata: {"status": "complete"}\n\n',
      ]);
    });
    const client = new ChatClient(CONFIG, fetchImpl as unknown as typeof fetch);
    const got = await events(client.followReply("c 1", "m1", { offset: 4 }) as AsyncGenerator<StreamEvent>);
    expect(urls).toEqual(["http://stream.test/api/conversations/c%201/messages/m1/stream?offset=4"]);
    expect(got.map((e) => e.type)).toEqual(["delta", "done"]);
  });
});

describe("ChatClient requests", () => {
  it("calls the configured base URL with JSON and returns the body", async () => {
    const fetchMock = vi.fn(async () => json(200, { items: [], next_cursor: null }));
    const client = new ChatClient(CONFIG, fetchMock as unknown as typeof fetch);
    await expect(client.listConversations(20, "abc")).resolves.toEqual({ items: [], next_cursor: null });
    const [url, init] = fetchMock.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe("http://chat.test/api/conversations?limit=20&cursor=abc");
    expect(init.method).toBe("GET");
  });

  it("sends bodies as JSON and returns nothing on 204", async () => {
    const fetchMock = vi.fn(async () => new Response(null, { status: 204 }));
    const client = new ChatClient(CONFIG, fetchMock as unknown as typeof fetch);
    await expect(client.deleteConversation("a/b")).resolves.toBeUndefined();
    expect((fetchMock.mock.calls[0] as unknown as [string])[0]).toBe("http://chat.test/api/conversations/a%2Fb");
    const put = vi.fn(async () => json(200, { id: "openai" }));
    await new ChatClient(CONFIG, put as unknown as typeof fetch).putProvider("openai", { api_key: "sk-1" });
    const init = (put.mock.calls[0] as unknown as [string, RequestInit])[1];
    expect(init.method).toBe("PUT");
    expect(JSON.parse(init.body as string)).toEqual({ api_key: "sk-1" });
    expect((init.headers as Record<string, string>)["Content-Type"]).toBe("application/json");
  });

  it("throws ApiError for HTTP errors", async () => {
    const client = new ChatClient(CONFIG, (async () =>
      json(422, { error: { code: "validation_error", message: "title: too long" } })) as unknown as typeof fetch);
    await expect(client.renameConversation("x", "t")).rejects.toMatchObject({
      status: 422,
      code: "validation_error",
      message: "title: too long",
    });
  });

  it("turns a network failure into an actionable ApiError", async () => {
    const client = new ChatClient(CONFIG, (async () => {
      throw new TypeError("Failed to fetch");
    }) as unknown as typeof fetch);
    const err = await client.listModels().catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err.code).toBe("network_error");
    expect(err.message).toContain("http://chat.test");
  });

  it("reports an aborted request as aborted", async () => {
    const client = new ChatClient(CONFIG, (async () => {
      throw new DOMException("The operation was aborted.", "AbortError");
    }) as unknown as typeof fetch);
    const err = await client.listModels().catch((e) => e);
    expect(isAbort(err)).toBe(true);
  });

  it("rejects a 200 that is not JSON", async () => {
    const client = new ChatClient(CONFIG, (async () => new Response("<html>", { status: 200 })) as unknown as typeof fetch);
    await expect(client.listModels()).rejects.toMatchObject({ code: "bad_response" });
  });
});

describe("ChatClient.sendMessage", () => {
  const START = 'event: start\ndata: {"conversation_id":"c","user_message_id":"u","message_id":"m","model":"demo/prism-demo","provider":"demo","title":"Hi"}\n\n';

  it("posts to the stream URL and yields typed events up to done", async () => {
    const fetchMock = vi.fn(async () =>
      sse([
        START,
        'event: delta\ndata: {"content":"Hel"}\n\nevent: del',
        'ta\ndata: {"content":"lo"}\n\n',
        'event: done\ndata: {"status":"complete","latency_ms":12.5,"ttft_ms":3,"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3},"cost_usd":0}\n\n',
        'event: delta\ndata: {"content":"ignored after done"}\n\n',
      ]),
    );
    const client = new ChatClient(CONFIG, fetchMock as unknown as typeof fetch);
    const evs = await events(client.sendMessage("c", "Hi", "demo/prism-demo"));
    expect(evs.map((e) => e.type)).toEqual(["start", "delta", "delta", "done"]);
    expect(evs[2]).toEqual({ type: "delta", content: "lo" });
    expect(evs[3]).toMatchObject({ type: "done", status: "complete", latency_ms: 12.5 });
    const [url, init] = fetchMock.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe("http://stream.test/api/conversations/c/messages");
    expect(JSON.parse(init.body as string)).toEqual({ content: "Hi", model: "demo/prism-demo" });
  });

  it("yields an error event as the end of the stream", async () => {
    const client = new ChatClient(CONFIG, (async () =>
      sse([START, 'event: error\ndata: {"status":"error","code":"provider_auth_failed","message":"bad key"}\n\n'])) as unknown as typeof fetch);
    const evs = await events(client.sendMessage("c", "Hi", "m/x"));
    expect(evs.at(-1)).toMatchObject({ type: "error", code: "provider_auth_failed", message: "bad key" });
  });

  it("throws the API's error when refused before the stream starts", async () => {
    const client = new ChatClient(CONFIG, (async () =>
      json(422, { error: { code: "unknown_model", message: "model 'x' is not offered" } })) as unknown as typeof fetch);
    await expect(events(client.sendMessage("c", "Hi", "x"))).rejects.toMatchObject({
      status: 422,
      code: "unknown_model",
      message: "model 'x' is not offered",
    });
  });

  it("throws when the stream ends without done or error", async () => {
    const client = new ChatClient(CONFIG, (async () => sse([START, 'event: delta\ndata: {"content":"x"}\n\n'])) as unknown as typeof fetch);
    const seen: string[] = [];
    const err = await (async () => {
      for await (const e of client.sendMessage("c", "Hi", "m/x")) seen.push(e.type);
    })().catch((e) => e);
    expect(seen).toEqual(["start", "delta"]);
    expect(err).toMatchObject({ code: "stream_closed" });
  });

  it("refuses a response that is not an event stream", async () => {
    const client = new ChatClient(CONFIG, (async () => json(200, { ok: true })) as unknown as typeof fetch);
    await expect(events(client.sendMessage("c", "Hi", "m/x"))).rejects.toMatchObject({ code: "bad_response" });
  });

  it("stops reading when aborted mid-stream, and says it was aborted", async () => {
    const controller = new AbortController();
    const fetchMock = async (_url: string, init: RequestInit) => {
      const enc = new TextEncoder();
      const body = new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(enc.encode(START));
          c.enqueue(enc.encode('event: delta\ndata: {"content":"partial"}\n\n'));
          init.signal?.addEventListener("abort", () => c.error(new DOMException("aborted", "AbortError")));
        },
      });
      return new Response(body, { status: 200, headers: { "Content-Type": "text/event-stream" } });
    };
    const client = new ChatClient(CONFIG, fetchMock as unknown as typeof fetch);
    const seen: StreamEvent[] = [];
    const err = await (async () => {
      for await (const e of client.sendMessage("c", "Hi", "m/x", { signal: controller.signal })) {
        seen.push(e);
        if (e.type === "delta") controller.abort();
      }
    })().catch((e) => e);
    expect(seen.map((e) => e.type)).toEqual(["start", "delta"]);
    expect(isAbort(err)).toBe(true);
  });
});
