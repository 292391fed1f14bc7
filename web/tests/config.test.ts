import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig, parseConfig } from "@/lib/config";

describe("parseConfig", () => {
  it("defaults the stream URL to the chat API URL and trims trailing slashes", () => {
    expect(parseConfig({ chatApiUrl: "http://localhost:8100/", chatStreamUrl: null, queryApiUrl: "http://q:8102" })).toEqual({
      chatApiUrl: "http://localhost:8100",
      chatStreamUrl: "http://localhost:8100",
      queryApiUrl: "http://q:8102",
    });
  });

  it("keeps a separate stream URL", () => {
    const c = parseConfig({ chatApiUrl: "https://api.example.com/prod", chatStreamUrl: "https://abc.lambda-url.aws/" });
    expect(c.chatStreamUrl).toBe("https://abc.lambda-url.aws");
    expect(c.queryApiUrl).toBeNull();
  });

  it("resolves an empty or path-only base against the page's origin (one origin for UI and APIs)", () => {
    expect(parseConfig({ chatApiUrl: "", chatStreamUrl: null, queryApiUrl: "" }, "http://localhost:3001")).toEqual({
      chatApiUrl: "http://localhost:3001",
      chatStreamUrl: "http://localhost:3001",
      queryApiUrl: "http://localhost:3001",
    });
    const c = parseConfig({ chatApiUrl: "/prism/", chatStreamUrl: "", queryApiUrl: "/prism" }, "https://a.example");
    expect(c).toEqual({ chatApiUrl: "https://a.example/prism", chatStreamUrl: "https://a.example/prism", queryApiUrl: "https://a.example/prism" });
    // absolute URLs still name APIs on other origins; no queryApiUrl is still "no query API"
    expect(parseConfig({ chatApiUrl: "https://chat.example.com" }, "http://localhost:3001")).toEqual({
      chatApiUrl: "https://chat.example.com",
      chatStreamUrl: "https://chat.example.com",
      queryApiUrl: null,
    });
    // without a page (no origin to resolve against) a relative base is an error, not a guess
    expect(() => parseConfig({ chatApiUrl: "" }, undefined)).toThrow(/relative/);
  });

  it("refuses what is not a config", () => {
    expect(() => parseConfig(null)).toThrow(ConfigError);
    expect(() => parseConfig([])).toThrow(ConfigError);
    expect(() => parseConfig({})).toThrow(/chatApiUrl/);
    expect(() => parseConfig({ chatApiUrl: "localhost:8100" })).toThrow(ConfigError);
    expect(() => parseConfig({ chatApiUrl: "javascript:alert(1)" })).toThrow(/http/);
    expect(() => parseConfig({ chatApiUrl: "http://a", chatStreamUrl: 5 })).toThrow(/string/);
    expect(() => parseConfig({ chatApiUrl: null })).toThrow(/missing/);
    expect(() => parseConfig({ chatApiUrl: "//evil.example" }, "http://localhost:3001")).toThrow(ConfigError);
  });
});

describe("loadConfig", () => {
  it("fetches /config.json without cache", async () => {
    let seen: [string, RequestInit | undefined] | null = null;
    const fetchMock = (async (url: string, init?: RequestInit) => {
      seen = [url, init];
      return new Response(JSON.stringify({ chatApiUrl: "http://x" }), { status: 200 });
    }) as unknown as typeof fetch;
    await expect(loadConfig(fetchMock)).resolves.toMatchObject({ chatApiUrl: "http://x" });
    expect(seen![0]).toBe("/config.json");
    expect(seen![1]?.cache).toBe("no-store");
  });

  it("explains a missing or broken file", async () => {
    await expect(loadConfig((async () => new Response("nope", { status: 404 })) as unknown as typeof fetch)).rejects.toThrow(/HTTP 404/);
    await expect(loadConfig((async () => new Response("{", { status: 200 })) as unknown as typeof fetch)).rejects.toThrow(/not valid JSON/);
  });
});
