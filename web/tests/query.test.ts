import { describe, expect, it, vi } from "vitest";
import {
  formatAxisTime,
  formatCount,
  formatDuration,
  formatPercentileError,
  formatRate,
  formatUsd,
} from "@/lib/format";
import { chartData, figure, linePath, niceMax, seriesLabel } from "@/lib/query/chart";
import { buildQuery, QueryClient } from "@/lib/query/client";
import { dashboardProject, headlineTiles, newDashboardProject } from "@/lib/query/dashboards";
import { logsViewHref, logsViewFilters, parseLogsView } from "@/lib/query/logsView";
import { messageText, requestMessages, responseText, tokensText, without } from "@/lib/query/payload";
import type { Stats, Timeseries } from "@/lib/query/types";
import { windowRange } from "@/lib/query/windows";
import { formatStep } from "@/components/MetricsPage";

function stats(over: Partial<Stats> = {}): Stats {
  return {
    requests: 10,
    errors: 1,
    error_rate: 0.1,
    requests_per_minute: 0.5,
    latency_ms: { avg: 300, p50: 250, p90: 500, p95: 610.4, p99: 900, max: 1000 },
    ttft_ms: { avg: 80, p50: 70, p90: 120, p95: 130, p99: 150 },
    tokens: { prompt: 1000, completion: 234, total: 1234 },
    cost_usd: 0.0123,
    unpriced: 0,
    ...over,
  };
}

const EMPTY = stats({
  requests: 0,
  errors: 0,
  error_rate: null,
  latency_ms: { avg: null, p50: null, p90: null, p95: null, p99: null, max: null },
  ttft_ms: { avg: null, p50: null, p90: null, p95: null, p99: null },
  tokens: { prompt: 0, completion: 0, total: 0 },
  cost_usd: 0,
});

describe("query strings", () => {
  it("repeats list keys and leaves out empty values", () => {
    expect(buildQuery({})).toBe("");
    expect(
      buildQuery({ from: "2026-11-27T10:00:00.000Z", model: ["a", "b/c"], status: [], group_by: ["model"], tag: " ", limit: 25, cursor: null }),
    ).toBe("?from=2026-11-27T10%3A00%3A00.000Z&model=a&model=b%2Fc&group_by=model&limit=25");
  });

  it("names windows as ISO ranges ending now", () => {
    const now = new Date("2026-11-27T10:00:00Z");
    expect(windowRange("1h", now)).toEqual({ from: "2026-11-27T09:00:00.000Z", to: "2026-11-27T10:00:00.000Z" });
    expect(windowRange("7d", now).from).toBe("2026-11-20T10:00:00.000Z");
  });

  it("keeps the logs view in the URL, defaults left out", () => {
    expect(logsViewHref(parseLogsView(new URLSearchParams("")))).toBe("/logs/");
    const v = parseLogsView(new URLSearchParams("window=1h&status=error&model=gpt-4o&tag=beta&conversation_id=c1"));
    expect(v).toEqual({ window: "1h", status: "error", model: "gpt-4o", tag: "beta", conversation_id: "c1" });
    expect(logsViewHref(v)).toBe("/logs/?window=1h&model=gpt-4o&status=error&conversation_id=c1&tag=beta");
    expect(logsViewFilters(v)).toEqual({ model: ["gpt-4o"], status: ["error"], conversation_id: "c1", tag: "beta" });
    // Nonsense in the URL falls back to the defaults.
    expect(parseLogsView(new URLSearchParams("window=2y&status=weird"))).toMatchObject({ window: "24h", status: "" });
  });
});

describe("client", () => {
  it("calls the query API and turns its JSON errors into ApiError", async () => {
    const fetchImpl = vi.fn(async (url: string) => {
      if (url.includes("/api/logs/missing")) {
        return new Response(JSON.stringify({ error: { code: "log_not_found", message: "inference event x not found" } }), {
          status: 404,
          headers: { "Content-Type": "application/json" },
        });
      }
      return new Response(JSON.stringify({ items: [], next_cursor: null }), { status: 200 });
    });
    const q = new QueryClient("http://q.example", fetchImpl as unknown as typeof fetch);
    await q.logs({ from: "a", to: "b" }, { status: ["error"], tag: "x" }, 25, "CUR");
    expect(fetchImpl.mock.calls[0][0]).toBe("http://q.example/api/logs?from=a&to=b&status=error&tag=x&limit=25&cursor=CUR");
    await q.summary({ from: "a", to: "b" }, { model: ["m"] }, ["model", "provider"]);
    expect(fetchImpl.mock.calls[1][0]).toBe("http://q.example/api/metrics/summary?from=a&to=b&model=m&group_by=model&group_by=provider");
    await expect(q.log("missing")).rejects.toMatchObject({ status: 404, code: "log_not_found", message: "inference event x not found" });
  });

  it("says which API it cannot reach", async () => {
    const q = new QueryClient("http://q.example:8102", (async () => {
      throw new TypeError("Failed to fetch");
    }) as unknown as typeof fetch);
    await expect(q.timeseries({ from: "a", to: "b" }, {})).rejects.toMatchObject({
      code: "network_error",
      message: expect.stringContaining("query API at http://q.example:8102"),
    });
  });
});

describe("formatting", () => {
  it("formats counts, rates, durations, money and the percentile error", () => {
    expect(formatCount(0)).toBe("0");
    expect(formatCount(3375)).toBe("3,375");
    expect(formatCount(12_345)).toBe("12.3k");
    expect(formatCount(2_500_000)).toBe("2.5M");
    expect(formatCount(null)).toBe("–");
    expect(formatRate(null)).toBe("–");
    expect(formatRate(0)).toBe("0 %");
    expect(formatRate(0.1276)).toBe("13 %");
    expect(formatRate(0.034)).toBe("3.4 %");
    expect(formatRate(0.0001)).toBe("<0.1 %");
    expect(formatDuration(610.4)).toBe("610 ms");
    expect(formatDuration(1097.8)).toBe("1.10 s");
    expect(formatDuration(95_000)).toBe("1.6 min");
    expect(formatDuration(null)).toBe("–");
    expect(formatUsd(0)).toBe("$0");
    expect(formatUsd(0.0475)).toBe("$0.0475");
    expect(formatUsd(12.5)).toBe("$12.50");
    expect(formatPercentileError(0.0244)).toBe("percentiles ±2.4 %");
    expect(formatPercentileError(undefined)).toBeNull();
    expect(formatStep(300)).toBe("5 minutes");
    expect(formatStep(3600)).toBe("hour");
    expect(formatStep(21600)).toBe("6 hours");
    expect(formatStep(86400)).toBe("day");
  });

  it("builds the headline tiles, dashes for unknown percentiles", () => {
    expect(headlineTiles(stats()).map((t) => `${t.label}=${t.value}`)).toEqual([
      "Requests=10",
      "Error rate=10 %",
      "Latency p50=250 ms",
      "Latency p95=610 ms",
      "TTFT p95=130 ms",
      "Tokens=1,234",
      "Cost=$0.0123",
    ]);
    expect(headlineTiles(EMPTY).map((t) => t.value)).toEqual(["0", "–", "–", "–", "–", "0", "$0"]);
  });

  it("shows an unknown cost as unknown, with the count of unpriced calls, never as $0", () => {
    const cost = (s: Stats) => headlineTiles(s).find((t) => t.label === "Cost")?.value;
    expect(cost(stats({ cost_usd: 0, unpriced: 3 }))).toBe("unknown (3 unpriced)");
    expect(cost(stats({ cost_usd: 0.0123, unpriced: 1200 }))).toBe("$0.0123 + unknown (1,200 unpriced)");
    expect(cost(stats({ cost_usd: 0, unpriced: 0 }))).toBe("$0");
  });

  it("labels the axis by the span", () => {
    const t = new Date(2026, 10, 27, 9, 5).getTime();
    expect(formatAxisTime(t, 3_600_000)).toBe("09:05");
    expect(formatAxisTime(t, 86_400_000)).toBe("11-27 09:05");
    expect(formatAxisTime(t, 7 * 86_400_000)).toBe("2026-11-27");
  });

  it("tells the tokens of a log row", () => {
    expect(tokensText({ prompt_tokens: null, completion_tokens: null, total_tokens: null })).toBe("–");
    expect(tokensText({ prompt_tokens: 10, completion_tokens: 5, total_tokens: null })).toBe("15");
    expect(tokensText({ prompt_tokens: 10, completion_tokens: 5, total_tokens: 16 })).toBe("16");
  });
});

describe("chart data", () => {
  const ts = (groupBy: ("model" | "provider" | "status")[], series: Timeseries["series"]): Timeseries => ({
    from: "2026-11-27T09:00:00Z",
    to: "2026-11-27T09:03:00Z",
    step_seconds: 60,
    group_by: groupBy,
    percentile_relative_error: 0.0244,
    series,
  });
  const at = (m: number) => `2026-11-27T09:0${m}:00Z`;

  it("reads figures by their dotted names", () => {
    expect(figure(stats(), "latency_ms.p95")).toBe(610.4);
    expect(figure(stats(), "tokens.total")).toBe(1234);
    expect(figure(stats(), "requests")).toBe(10);
    expect(figure(EMPTY, "ttft_ms.p95")).toBeNull();
    expect(figure(stats(), "nope.deeper")).toBeNull();
  });

  it("makes one line per figure without a breakdown; empty steps are gaps for percentiles", () => {
    const data = chartData(
      ts([], [{ key: {}, points: [{ t: at(0), ...stats() }, { t: at(1), ...EMPTY }, { t: at(2), ...stats({ requests: 4 }) }] }]),
      [
        { path: "requests", label: "Requests" },
        { path: "latency_ms.p95", label: "p95" },
      ],
    );
    expect(data.times).toEqual([at(0), at(1), at(2)].map(Date.parse));
    expect(data.lines).toEqual([
      { label: "Requests", values: [10, 0, 4] },
      { label: "p95", values: [610.4, null, 610.4] },
    ]);
  });

  it("with no data at all: the steps of the window, zero counts, no percentiles", () => {
    const data = chartData(ts([], []), [
      { path: "requests", label: "Requests" },
      { path: "latency_ms.p50", label: "p50" },
    ]);
    expect(data.times).toHaveLength(3);
    expect(data.lines[0].values).toEqual([0, 0, 0]);
    expect(data.lines[1].values).toEqual([null, null, null]);
  });

  it("makes one line per group of the first figure with a breakdown", () => {
    const data = chartData(
      ts(["model"], [
        { key: { model: "a" }, points: [{ t: at(0), ...stats({ requests: 3 }) }] },
        { key: { model: null }, points: [{ t: at(0), ...stats({ requests: 1 }) }] },
      ]),
      [{ path: "requests", label: "Requests" }],
    );
    expect(data.lines).toEqual([
      { label: "a", values: [3] },
      { label: "(none)", values: [1] },
    ]);
    expect(seriesLabel({ model: "m", provider: "p" })).toBe("m · p");
    expect(seriesLabel({})).toBe("all");
  });

  it("draws paths with gaps, and picks round axis maxima", () => {
    const box = { x0: 0, x1: 100, y0: 0, y1: 100 };
    expect(linePath([0, 1, 2], [0, 50, 100], box, 100)).toBe("M0.0 100.0L50.0 50.0L100.0 0.0");
    expect(linePath([0, 1, 2, 3], [10, null, 20, 30], box, 100)).toBe("M0.0 90.0h0.01M66.7 80.0L100.0 70.0");
    expect(linePath([], [], box, 1)).toBe("");
    expect(niceMax(0)).toBe(1);
    expect(niceMax(3)).toBe(5);
    expect(niceMax(1097)).toBe(2000);
    expect(niceMax(0.0048)).toBeCloseTo(0.005);
    expect(niceMax(250)).toBe(250);
  });
});

describe("log payloads", () => {
  it("reads OpenAI-style messages and responses", () => {
    const request = {
      messages: [
        { role: "system", content: "Be brief." },
        { role: "user", content: [{ type: "text", text: "Look:" }, { type: "image_url", image_url: { url: "x" } }] },
        { content: { odd: true } },
      ],
      temperature: 0.2,
    };
    expect(requestMessages(request)).toEqual([
      { role: "system", text: "Be brief." },
      { role: "user", text: "Look:\n[image_url]" },
      { role: "?", text: '{\n  "odd": true\n}' },
    ]);
    expect(requestMessages(null)).toEqual([]);
    expect(requestMessages({ prompt: "x" })).toEqual([]);
    expect(without(request, ["messages"])).toEqual({ temperature: 0.2 });
    expect(without({ messages: [] }, ["messages"])).toBeNull();
    expect(responseText({ content: "hi", finish_reason: "stop" })).toBe("hi");
    expect(responseText({ choices: [{ message: { content: "from choices" } }] })).toBe("from choices");
    expect(responseText(null)).toBeNull();
    expect(responseText({ tool_calls: [] })).toBeNull();
    expect(messageText(null)).toBe("");
  });
});

describe("saved dashboards", () => {
  it("saves the metrics view as panels and reads it back", async () => {
    const { viewToSpec, specToView, DEFAULT_METRICS_VIEW } = await import("@/lib/query/dashboards");
    const charts = [{ title: "Latency", figures: ["latency_ms.p50", "latency_ms.p95"] }];
    const view = { window: "7d" as const, model: "gpt-4o", provider: "", status: "error", breakdown: true };
    const spec = viewToSpec(view, charts);
    expect(spec.window).toBe("7d");
    expect(spec.panels.map((p) => [p.kind, p.title])).toEqual([
      ["stat", "Totals"],
      ["timeseries", "Latency"],
      ["table", "By model"],
    ]);
    expect(spec.panels[0].figures.length).toBeLessThanOrEqual(8); // the API's limit
    expect(spec.panels[1]).toMatchObject({ group_by: ["model"], filters: { model: ["gpt-4o"], provider: [], status: ["error"] } });
    expect(specToView(spec)).toEqual(view);
    expect(specToView(viewToSpec(DEFAULT_METRICS_VIEW, charts))).toEqual(DEFAULT_METRICS_VIEW);
    // Specs made elsewhere (the API, by hand): whatever is unknown falls back to the defaults.
    expect(specToView({ window: "24h", panels: [] })).toEqual(DEFAULT_METRICS_VIEW);
    expect(specToView(null)).toEqual(DEFAULT_METRICS_VIEW);
  });

  it("posts and deletes dashboards", async () => {
    const fetchImpl = vi.fn(async (_url: string, init?: RequestInit) =>
      init?.method === "DELETE" ? new Response(null, { status: 204 }) : new Response(JSON.stringify({ id: "d1" }), { status: 201 }),
    );
    const q = new QueryClient("http://q", fetchImpl as unknown as typeof fetch);
    await q.createDashboard("Mine", { window: "1h", panels: [] }, "prod");
    expect(fetchImpl.mock.calls[0][0]).toBe("http://q/api/dashboards");
    expect(fetchImpl.mock.calls[0][1]).toMatchObject({
      method: "POST",
      body: JSON.stringify({ name: "Mine", spec: { window: "1h", panels: [] }, project: "prod" }),
    });
    await expect(q.deleteDashboard("d1")).resolves.toBeUndefined();
    expect(fetchImpl.mock.calls[1][1]).toMatchObject({ method: "DELETE" });
  });

  it("lists the chosen project's dashboards, or every project's (*) when every project is shown", async () => {
    const fetchImpl = vi.fn(async () => new Response("[]", { status: 200 }));
    const q = new QueryClient("http://q", fetchImpl as unknown as typeof fetch);
    await q.listDashboards(dashboardProject("staging"));
    await q.listDashboards(dashboardProject(null));
    expect(fetchImpl.mock.calls.map((c) => (c as unknown[])[0])).toEqual([
      "http://q/api/dashboards?project=staging",
      "http://q/api/dashboards?project=*",
    ]);
  });

  it("saves a new dashboard in the chosen project, or in the one picked when every project is shown", () => {
    expect(newDashboardProject("staging", "prod")).toBe("staging");
    expect(newDashboardProject(null, "prod")).toBe("prod");
    expect(newDashboardProject(null, "")).toBe("default");
  });
});
