import { createHash } from "node:crypto";
import { describe, expect, it, vi } from "vitest";
import { CONTENT_SHA256_HEADER, contentSha256, requestJson, sha256Hex, withSession } from "@/lib/http";

// CloudFront signs each API request for the Lambda Function URL behind it (origin access control);
// Lambda accepts no unsigned payload, so the browser names the body's SHA-256 (issue 12).
const hex = (data: string | Buffer) => createHash("sha256").update(data).digest("hex");
const EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

function recorder() {
  const base = vi.fn(async (_input: RequestInfo | URL, _init?: RequestInit) => new Response("{}", { status: 200 }));
  const headersOf = (call: number) => new Headers(base.mock.calls[call][1]?.headers);
  return { base, headersOf, fetch: withSession(base as unknown as typeof fetch) };
}

describe("x-amz-content-sha256", () => {
  it("is the hex SHA-256 of the bytes sent", async () => {
    expect(await sha256Hex("")).toBe(EMPTY);
    const body = JSON.stringify({ content: "héllo ✓", model: "demo" });
    expect(await sha256Hex(body)).toBe(hex(Buffer.from(body, "utf8")));
    expect(await contentSha256(new Uint8Array([1, 2, 3]))).toBe(hex(Buffer.from([1, 2, 3])));
    expect(await contentSha256(new Blob(["abc"]))).toBe(hex("abc"));
    expect(await contentSha256(new URLSearchParams({ a: "1 2" }))).toBe(hex("a=1+2"));
    expect(await contentSha256(undefined)).toBe(EMPTY);
    expect(await contentSha256(new ReadableStream())).toBeNull(); // cannot be read ahead
  });

  it("goes with every same-origin state change, body or not, and never with a read", async () => {
    const r = recorder();
    const body = JSON.stringify({ content: "hi" });
    await r.fetch("/api/conversations/c1/messages", { method: "POST", body });
    await r.fetch("/api/keys/k1", { method: "DELETE" });
    await r.fetch("/api/metrics/summary");
    await r.fetch("/api/users/u1", { method: "HEAD" });
    expect(r.headersOf(0).get(CONTENT_SHA256_HEADER)).toBe(hex(body));
    expect(r.headersOf(1).get(CONTENT_SHA256_HEADER)).toBe(EMPTY);
    expect(r.headersOf(2).has(CONTENT_SHA256_HEADER)).toBe(false);
    expect(r.headersOf(3).has(CONTENT_SHA256_HEADER)).toBe(false);
  });

  it("is added by requestJson's default path too, for the exact JSON it sends", async () => {
    const r = recorder();
    await requestJson("identity API", "POST", "/api/auth/login", {
      body: { email: "a@b.c", password: "pw" },
      fetchImpl: r.fetch,
    });
    const sent = r.base.mock.calls[0][1]?.body as string;
    expect(r.headersOf(0).get(CONTENT_SHA256_HEADER)).toBe(hex(sent));
  });

  it("is not sent to another origin (it would need a CORS preflight) nor overrides the caller's", async () => {
    const r = recorder();
    await r.fetch("https://api.example.com/api/logs", { method: "POST", body: "{}" });
    await r.fetch("/api/logs", { method: "POST", body: "{}", headers: { [CONTENT_SHA256_HEADER]: "given" } });
    expect(r.headersOf(0).has(CONTENT_SHA256_HEADER)).toBe(false);
    expect(r.headersOf(1).get(CONTENT_SHA256_HEADER)).toBe("given");
  });

  it("is left out, not failed, without Web Crypto (plain http on another host)", async () => {
    const subtle = Object.getOwnPropertyDescriptor(globalThis.crypto, "subtle");
    Object.defineProperty(globalThis.crypto, "subtle", { value: undefined, configurable: true });
    try {
      const r = recorder();
      const resp = await r.fetch("/api/settings", { method: "PUT", body: "{}" });
      expect(resp.status).toBe(200);
      expect(r.headersOf(0).has(CONTENT_SHA256_HEADER)).toBe(false);
    } finally {
      if (subtle) Object.defineProperty(globalThis.crypto, "subtle", subtle);
    }
  });
});
