import { describe, expect, it } from "vitest";
import { readSSE, SSEParser, type SSEMessage } from "@/lib/sse";

const STREAM =
  'event: start\ndata: {"message_id":"m1"}\n\n' +
  'event: delta\ndata: {"content":"Hel"}\n\n' +
  'event: delta\ndata: {"content":"lo ☃ 👋"}\n\n' +
  'event: done\ndata: {"status":"complete"}\n\n';

const EXPECTED: SSEMessage[] = [
  { event: "start", data: '{"message_id":"m1"}' },
  { event: "delta", data: '{"content":"Hel"}' },
  { event: "delta", data: '{"content":"lo ☃ 👋"}' },
  { event: "done", data: '{"status":"complete"}' },
];

function feedAll(chunks: string[]): SSEMessage[] {
  const p = new SSEParser();
  return [...chunks.flatMap((c) => p.feed(c)), ...p.end()];
}

function streamOf(chunks: Uint8Array[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      for (const c of chunks) controller.enqueue(c);
      controller.close();
    },
  });
}

async function collect(body: ReadableStream<Uint8Array>): Promise<SSEMessage[]> {
  const out: SSEMessage[] = [];
  for await (const m of readSSE(body)) out.push(m);
  return out;
}

describe("SSEParser", () => {
  it("parses whole events", () => {
    expect(feedAll([STREAM])).toEqual(EXPECTED);
  });

  it("gives the same events whatever the chunk boundaries", () => {
    for (let size = 1; size <= 17; size++) {
      const chunks: string[] = [];
      for (let i = 0; i < STREAM.length; i += size) chunks.push(STREAM.slice(i, i + size));
      expect(feedAll(chunks)).toEqual(EXPECTED);
    }
  });

  it("splits at every single position", () => {
    for (let i = 0; i <= STREAM.length; i++) {
      expect(feedAll([STREAM.slice(0, i), STREAM.slice(i)])).toEqual(EXPECTED);
    }
  });

  it("accepts \\r\\n and lone \\r line endings, even split between chunks", () => {
    const crlf = STREAM.replace(/\n/g, "\r\n");
    expect(feedAll([crlf])).toEqual(EXPECTED);
    for (let i = 0; i <= crlf.length; i++) {
      expect(feedAll([crlf.slice(0, i), crlf.slice(i)])).toEqual(EXPECTED);
    }
    expect(feedAll([STREAM.replace(/\n/g, "\r")])).toEqual(EXPECTED);
  });

  it("emits an event only at its blank line", () => {
    const p = new SSEParser();
    expect(p.feed("event: delta\ndata: x\n")).toEqual([]);
    expect(p.feed("\n")).toEqual([{ event: "delta", data: "x" }]);
  });

  it("joins multi-line data, ignores comments and unknown fields, defaults the event name", () => {
    const text = ": keep-alive\n\nretry: 1000\nfoo: bar\ndata: a\ndata:b\ndata:  c\nid: 7\n\n";
    expect(feedAll([text])).toEqual([{ event: "message", data: "a\nb\n c", id: "7" }]);
  });

  it("skips events without data and resets the event name after each event", () => {
    expect(feedAll(["event: ping\n\ndata: 1\n\n"])).toEqual([{ event: "message", data: "1" }]);
  });

  it("drops an unterminated last event and a leading BOM", () => {
    expect(feedAll(["\ufeffdata: 1\n\ndata: 2\n"])).toEqual([{ event: "message", data: "1" }]);
  });

  it("keeps a field name without colon as an empty value", () => {
    expect(feedAll(["data\n\n"])).toEqual([{ event: "message", data: "" }]);
  });
});

describe("readSSE", () => {
  it("decodes UTF-8 split inside a character", async () => {
    const bytes = new TextEncoder().encode(STREAM);
    const chunks: Uint8Array[] = [];
    for (let i = 0; i < bytes.length; i += 3) chunks.push(bytes.slice(i, i + 3));
    expect(await collect(streamOf(chunks))).toEqual(EXPECTED);
  });

  it("yields events as they arrive, before the stream ends", async () => {
    const enc = new TextEncoder();
    let push!: (s: string) => void;
    let close!: () => void;
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        push = (s) => c.enqueue(enc.encode(s));
        close = () => c.close();
      },
    });
    const it = readSSE(body)[Symbol.asyncIterator]();
    push("event: delta\ndata: 1\n\n");
    expect((await it.next()).value).toEqual({ event: "delta", data: "1" });
    push("event: delta\ndata: 2\n\n");
    expect((await it.next()).value).toEqual({ event: "delta", data: "2" });
    close();
    expect((await it.next()).done).toBe(true);
  });

  it("cancels the body when the consumer stops early", async () => {
    let cancelled = false;
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new TextEncoder().encode("data: 1\n\ndata: 2\n\n"));
      },
      cancel() {
        cancelled = true;
      },
    });
    for await (const m of readSSE(body)) {
      expect(m.data).toBe("1");
      break;
    }
    expect(cancelled).toBe(true);
  });
});
