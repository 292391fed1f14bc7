import { describe, expect, it } from "vitest";
import { conversationTitle, errorHint, formatCost, formatMs, replyStats } from "@/lib/format";
import { parseModelList } from "@/components/SettingsPage";

describe("format", () => {
  it("formats durations and costs", () => {
    expect(formatMs(null)).toBeNull();
    expect(formatMs(120.4)).toBe("120 ms");
    expect(formatMs(2150)).toBe("2.15 s");
    expect(formatMs(12_345)).toBe("12.3 s");
    expect(formatCost(undefined)).toBeNull();
    expect(formatCost(0)).toBe("$0");
    expect(formatCost(0.00001)).toBe("<$0.0001");
    expect(formatCost(0.0123)).toBe("$0.0123");
    expect(formatCost(3.456)).toBe("$3.46");
  });

  it("lists only the stats that are known", () => {
    expect(replyStats({ latency_ms: null, ttft_ms: null, usage: null, cost_usd: null })).toEqual([]);
    expect(
      replyStats({
        latency_ms: 1500,
        ttft_ms: 80,
        usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
        cost_usd: 0.002,
      }),
    ).toEqual([
      { label: "Latency", value: "1.50 s" },
      { label: "TTFT", value: "80 ms" },
      { label: "Tokens", value: "15 (10 in, 5 out)" },
      { label: "Cost", value: "$0.0020" },
    ]);
  });

  it("has hints for the provider error codes and names untitled conversations", () => {
    expect(errorHint("provider_auth_failed")).toMatch(/Settings/);
    expect(errorHint("something_new")).toBeNull();
    expect(errorHint(null)).toBeNull();
    expect(conversationTitle("")).toBe("New conversation");
    expect(conversationTitle("Hi")).toBe("Hi");
  });

  it("reads a model list typed one per line or with commas", () => {
    expect(parseModelList(" llama3 \nqwen2, llama3\n\n")).toEqual(["llama3", "qwen2"]);
    expect(parseModelList("")).toEqual([]);
  });
});
