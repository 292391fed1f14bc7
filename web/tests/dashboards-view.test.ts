import { describe, expect, it } from "vitest";
import {
  copyName,
  DEFAULT_METRICS_VIEW,
  dashboardHref,
  metricsViewQuery,
  parseMetricsView,
  specCharts,
  viewToSpec,
} from "@/lib/query/dashboards";

describe("the metrics view in the URL", () => {
  it("round-trips, leaving defaults out and keeping the extra parameters first", () => {
    const v = { window: "7d" as const, model: "gpt-4o", provider: "", status: "error", breakdown: true };
    const q = metricsViewQuery(v, { id: "d-1" });
    expect(q).toBe("?id=d-1&window=7d&model=gpt-4o&status=error&breakdown=1");
    expect(parseMetricsView(new URLSearchParams(q))).toEqual(v);
    expect(metricsViewQuery(DEFAULT_METRICS_VIEW)).toBe("");
  });

  it("ignores what it does not know", () => {
    expect(parseMetricsView(new URLSearchParams("window=2y&status=weird&breakdown=yes"))).toEqual(DEFAULT_METRICS_VIEW);
  });

  it("names a dashboard by a query parameter (a static export has no page per id)", () => {
    expect(dashboardHref("a b")).toBe("/dashboards/view/?id=a%20b");
  });
});

describe("dashboards", () => {
  it("a copy's name is not taken, whatever the case", () => {
    expect(copyName("Latency", ["Latency"])).toBe("Latency (copy)");
    expect(copyName("Latency", ["Latency", "latency (COPY)"])).toBe("Latency (copy 2)");
  });

  it("the charts a spec shows are its timeseries panels; no panels: every chart", () => {
    const spec = viewToSpec(DEFAULT_METRICS_VIEW, [{ title: "Tokens", figures: ["tokens.total"] }]);
    expect(specCharts(spec)).toEqual(["Tokens"]);
    expect(specCharts({ window: "24h", panels: [] })).toBeNull();
  });
});
