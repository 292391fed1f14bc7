/**
 * A small server-sent events parser (the WHATWG "text/event-stream" rules) for streams read with
 * fetch(), since EventSource cannot POST.
 *
 * Text arrives in arbitrary chunks: a chunk may end in the middle of a line, of an event, of a
 * "\r\n" pair or of a multi-byte UTF-8 character (readSSE() decodes bytes with a streaming
 * TextDecoder, so that last case never reaches the parser).
 */

export interface SSEMessage {
  /** The `event:` field; "message" when the event has none. */
  event: string;
  /** The `data:` lines joined with "\n". */
  data: string;
  /** The last `id:` seen, if any. */
  id?: string;
}

export class SSEParser {
  private buffer = "";
  private event = "";
  private dataLines: string[] = [];
  private hasData = false;
  private lastId: string | undefined;
  private pendingCR = false;
  private started = false;

  /** Feed decoded text; returns the events completed by it (possibly none). */
  feed(chunk: string): SSEMessage[] {
    if (!this.started && chunk.length > 0) {
      this.started = true;
      if (chunk.charCodeAt(0) === 0xfeff) chunk = chunk.slice(1);
    }
    if (this.pendingCR) {
      // The previous chunk ended with "\r": a "\n" starting this one belongs to it.
      this.pendingCR = false;
      if (chunk.startsWith("\n")) chunk = chunk.slice(1);
    }
    this.buffer += chunk;
    const out: SSEMessage[] = [];
    let start = 0;
    for (;;) {
      let end = -1;
      for (let i = start; i < this.buffer.length; i++) {
        const c = this.buffer.charCodeAt(i);
        if (c === 10 || c === 13) {
          end = i;
          break;
        }
      }
      if (end < 0) break;
      const line = this.buffer.slice(start, end);
      if (this.buffer.charCodeAt(end) === 13) {
        if (end + 1 < this.buffer.length) {
          start = this.buffer.charCodeAt(end + 1) === 10 ? end + 2 : end + 1;
        } else {
          this.pendingCR = true;
          start = end + 1;
        }
      } else {
        start = end + 1;
      }
      const msg = this.line(line);
      if (msg) out.push(msg);
    }
    this.buffer = this.buffer.slice(start);
    return out;
  }

  /** The stream ended: an event without its closing blank line is dropped, as the spec says. */
  end(): SSEMessage[] {
    this.buffer = "";
    this.reset();
    return [];
  }

  private reset(): void {
    this.event = "";
    this.dataLines = [];
    this.hasData = false;
  }

  private line(line: string): SSEMessage | null {
    if (line === "") {
      if (!this.hasData) {
        this.reset();
        return null;
      }
      const msg: SSEMessage = { event: this.event || "message", data: this.dataLines.join("\n") };
      if (this.lastId !== undefined) msg.id = this.lastId;
      this.reset();
      return msg;
    }
    if (line.startsWith(":")) return null; // a comment (keep-alive)
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    switch (field) {
      case "event":
        this.event = value;
        break;
      case "data":
        this.dataLines.push(value);
        this.hasData = true;
        break;
      case "id":
        if (!value.includes("\0")) this.lastId = value;
        break;
      default:
        break; // "retry" and unknown fields: ignored
    }
    return null;
  }
}

/** Read a byte stream (a fetch() body) as SSE messages, as they arrive. */
export async function* readSSE(
  body: ReadableStream<Uint8Array>,
): AsyncGenerator<SSEMessage, void, undefined> {
  const reader = body.getReader();
  const decoder = new TextDecoder("utf-8");
  const parser = new SSEParser();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      for (const msg of parser.feed(decoder.decode(value, { stream: true }))) yield msg;
    }
    for (const msg of parser.feed(decoder.decode())) yield msg;
    parser.end();
  } finally {
    // Stops the download when the consumer leaves early (break, throw, abort).
    reader.cancel().catch(() => undefined);
  }
}
