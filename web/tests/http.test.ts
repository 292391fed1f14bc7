import { describe, expect, it, vi } from "vitest";
import { requestJson } from "@/lib/http";

const ok = () => new Response(JSON.stringify({ ok: true }), { status: 200, headers: { "content-type": "application/json" } });

describe("requestJson", () => {
  it("sends every state change as JSON, body or not, and a GET without a content type", async () => {
    const fetchImpl = vi.fn(async () => ok());
    for (const method of ["POST", "PUT", "PATCH", "DELETE"]) {
      await requestJson("chat API", method, "http://c/x", { fetchImpl: fetchImpl as unknown as typeof fetch });
    }
    await requestJson("query API", "GET", "http://q/x", { fetchImpl: fetchImpl as unknown as typeof fetch });
    const inits = fetchImpl.mock.calls.map((c) => (c as unknown as [string, RequestInit])[1]);
    for (const init of inits.slice(0, 4)) expect(init.headers).toMatchObject({ "Content-Type": "application/json" });
    expect(inits[4].headers).toEqual({ Accept: "application/json" });
    expect(inits.every((i) => i.cache === "no-store")).toBe(true);
    expect(inits.every((i) => i.credentials === "same-origin")).toBe(true);
  });

  it("names the API in its errors", async () => {
    const down = vi.fn(async () => {
      throw new TypeError("Failed to fetch");
    });
    await expect(
      requestJson("query API", "GET", "http://q.example:8102/api/logs", { fetchImpl: down as unknown as typeof fetch }),
    ).rejects.toMatchObject({ status: 0, code: "network_error", message: expect.stringContaining("query API at http://q.example:8102") });
    const empty = vi.fn(async () => new Response(null, { status: 500 }));
    await expect(
      requestJson("query API", "GET", "http://q/x", { fetchImpl: empty as unknown as typeof fetch }),
    ).rejects.toMatchObject({ status: 500, message: "The query API answered HTTP 500" });
    const notJson = vi.fn(async () => new Response("<html>", { status: 200 }));
    await expect(
      requestJson("chat API", "GET", "http://c/x", { fetchImpl: notJson as unknown as typeof fetch }),
    ).rejects.toMatchObject({ code: "bad_response", message: "The chat API sent a response that is not JSON" });
  });
});
