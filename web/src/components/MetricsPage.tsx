"use client";

import { usePathname, useRouter, useSearchParams } from "next/navigation";
import { useEffect, useMemo, useState, type ReactNode } from "react";
import {
  formatCostOf,
  formatCount,
  formatDuration,
  formatPercentileError,
  formatRate,
  formatTime,
  formatUsd,
} from "@/lib/format";
import { chartData } from "@/lib/query/chart";
import { headlineTiles, metricsViewQuery, parseMetricsView, type MetricsView } from "@/lib/query/dashboards";
import {
  type EventStatus,
  type MetricFilters,
  type Summary,
  type Timeseries,
} from "@/lib/query/types";
import { windowRange, type WindowName } from "@/lib/query/windows";
import { useFetch } from "@/hooks/useFetch";
import { useProjectQuery } from "@/hooks/useProject";
import { FilterBar } from "./FilterBar";
import { Dashboards } from "./Dashboards";
import { LineChart } from "./LineChart";
import { QueryApiMissing } from "./QueryApiMissing";

const CHARTS: {
  title: string;
  breakdownTitle: string;
  figures: { path: string; label: string }[];
  breakdown: { path: string; label: string };
  format: (v: number) => string;
  testId: string;
}[] = [
  {
    title: "Requests and errors",
    breakdownTitle: "Requests by model",
    figures: [
      { path: "requests", label: "Requests" },
      { path: "errors", label: "Errors" },
    ],
    breakdown: { path: "requests", label: "Requests" },
    format: formatCount,
    testId: "chart-requests",
  },
  {
    title: "Latency p50 / p95 / p99",
    breakdownTitle: "Latency p95 by model",
    figures: [
      { path: "latency_ms.p50", label: "p50" },
      { path: "latency_ms.p95", label: "p95" },
      { path: "latency_ms.p99", label: "p99" },
    ],
    breakdown: { path: "latency_ms.p95", label: "p95" },
    format: formatDuration,
    testId: "chart-latency",
  },
  {
    title: "Time to first token p95",
    breakdownTitle: "TTFT p95 by model",
    figures: [{ path: "ttft_ms.p95", label: "TTFT p95" }],
    breakdown: { path: "ttft_ms.p95", label: "TTFT p95" },
    format: formatDuration,
    testId: "chart-ttft",
  },
  {
    title: "Tokens",
    breakdownTitle: "Tokens by model",
    figures: [
      { path: "tokens.prompt", label: "Prompt" },
      { path: "tokens.completion", label: "Completion" },
    ],
    breakdown: { path: "tokens.total", label: "Tokens" },
    format: formatCount,
    testId: "chart-tokens",
  },
  {
    title: "Cost (USD)",
    breakdownTitle: "Cost by model (USD)",
    figures: [{ path: "cost_usd", label: "Cost" }],
    breakdown: { path: "cost_usd", label: "Cost" },
    format: formatUsd,
    testId: "chart-cost",
  },
];

interface Loaded {
  summary: Summary;
  series: Timeseries;
}

interface Options {
  models: string[];
  providers: string[];
}

const NO_OPTIONS: Options = { models: [], providers: [] };

function seenOptions(s: Summary): Options {
  const models = new Set<string>();
  const providers = new Set<string>();
  for (const g of s.groups) {
    if (g.key.model) models.add(g.key.model);
    if (g.key.provider) providers.add(g.key.provider);
  }
  return { models: [...models].sort(), providers: [...providers].sort() };
}

/** The URL parameters that are not the view (kept when the view changes). */
const KEPT_PARAMS = ["id", "project"];

/**
 * The metrics of the chosen project. The view (window, filters, breakdown) is kept in the URL,
 * so a view is shared by link. On a saved dashboard (`/dashboards/view/?id=`) `charts` names the
 * charts it shows (null: all), `head` is its toolbar, and the save-a-view form is left out.
 */
export function MetricsPage({
  charts: shownCharts = null,
  head,
  saved = true,
}: { charts?: string[] | null; head?: ReactNode; saved?: boolean } = {}) {
  const query = useProjectQuery();
  const router = useRouter();
  const pathname = usePathname() ?? "/metrics/";
  const params = useSearchParams();
  const fromUrl = useMemo(() => parseMetricsView(new URLSearchParams(params?.toString() ?? "")), [params]);
  // The controls answer at once; the URL (a shareable link, back and forward) follows, and a URL
  // changed from outside (a link, the back button) becomes the view.
  const [view, setView] = useState<MetricsView>(fromUrl);
  useEffect(() => setView(fromUrl), [fromUrl]);
  const { window: win, model, provider, status, breakdown } = view;
  const [tick, setTick] = useState(0);

  function go(next: Partial<MetricsView>) {
    const kept: Record<string, string> = {};
    for (const k of KEPT_PARAMS) {
      const v = params?.get(k);
      if (v) kept[k] = v;
    }
    const changed = { ...view, ...next };
    setView(changed);
    router.replace(`${pathname}${metricsViewQuery(changed, kept)}`, { scroll: false });
  }
  const setWin = (w: WindowName) => go({ window: w });
  const setModel = (m: string) => go({ model: m });
  const setProvider = (p: string) => go({ provider: p });
  const setStatus = (st: string) => go({ status: st });
  const setBreakdown = (b: boolean) => go({ breakdown: b });

  // Filter values: what was seen in the window, whatever the filters (the main request reports errors).
  const { data: options = NO_OPTIONS } = useFetch(query ? ["metrics-options", win, tick] : null, () =>
    query!.summary(windowRange(win), {}, ["model", "provider"]).then(seenOptions),
  );

  const main = useFetch(query ? ["metrics", win, model, provider, status, breakdown, tick] : null, async (): Promise<Loaded> => {
    const range = windowRange(win);
    const filters: MetricFilters = {
      model: model ? [model] : [],
      provider: provider ? [provider] : [],
      status: status ? [status as EventStatus] : [],
    };
    const [summary, series] = await Promise.all([
      query!.summary(range, filters, ["model"]),
      query!.timeseries(range, filters, breakdown ? ["model"] : []),
    ]);
    return { summary, series };
  });
  const data = main.data ?? null;
  const loading = main.loading;
  const error = main.error ? `Could not load the metrics: ${main.error.message}` : null;

  const charts = useMemo(
    () =>
      data
        ? CHARTS.filter((c) => shownCharts === null || shownCharts.includes(c.title)).map((c) => ({
            ...c,
            data: chartData(data.series, breakdown ? [c.breakdown] : c.figures),
          }))
        : [],
    [data, breakdown, shownCharts],
  );

  if (!query) return <QueryApiMissing page="Metrics" />;

  function applyView(v: MetricsView) {
    go(v);
  }

  const total = data?.summary.total;
  const pctError = formatPercentileError(data?.summary.percentile_relative_error);

  return (
    <div className="page metrics">
      {head ?? (
      <header className="page-head">
        <h1>Metrics</h1>
        {data && (
          <p className="muted small" data-testid="metrics-window">
            {formatTime(data.summary.from)} – {formatTime(data.summary.to)}
            {pctError && (
              <>
                {" · "}
                <span data-testid="percentile-error" title="Percentiles come from merged histograms">
                  {pctError}
                </span>
              </>
            )}
          </p>
        )}
      </header>
      )}

      <FilterBar
        label="Metrics filters"
        idPrefix="m"
        window={win}
        onWindow={setWin}
        model={{ value: model, options: options.models, onChange: setModel }}
        provider={{ value: provider, options: options.providers, onChange: setProvider }}
        status={{ value: status, onChange: setStatus }}
      >
        <label className="check">
          <input type="checkbox" checked={breakdown} onChange={(e) => setBreakdown(e.target.checked)} /> Break down by
          model
        </label>
        <button type="button" className="btn" onClick={() => setTick((t) => t + 1)} disabled={loading}>
          Refresh
        </button>
        {loading && (
          <span className="muted small" role="status">
            Loading…
          </span>
        )}
      </FilterBar>

      {error && (
        <div className="alert" role="alert">
          {error}
        </div>
      )}

      {total && total.requests === 0 && (
        <div className="empty-state card" data-testid="metrics-empty">
          <p>
            <strong>No inference events in this window.</strong>
          </p>
          <p className="small">
            Pick a longer window or clear the filters. Events appear here once an app (or the chat) sends them to
            the ingestion API and the writer has stored them.
          </p>
        </div>
      )}

      {data && total && total.requests > 0 && (
        <>
          <dl className="tiles" aria-label="Totals">
            {headlineTiles(total).map((t) => (
              <div key={t.label} className="tile card" data-testid={t.testId}>
                <dt>{t.label}</dt>
                <dd>{t.value}</dd>
              </div>
            ))}
          </dl>

          <section aria-labelledby="charts-title">
            <h2 id="charts-title" className="sr-only">
              Over time
            </h2>
            <p className="muted small">
              One point per {formatStep(data.series.step_seconds)}.
            </p>
            <div className="charts">
              {charts.map((c) => (
                <LineChart
                  key={c.testId}
                  title={breakdown ? c.breakdownTitle : c.title}
                  data={c.data}
                  format={c.format}
                  testId={c.testId}
                />
              ))}
            </div>
          </section>

          <section aria-labelledby="by-model-title" className="card table-card">
            <h2 id="by-model-title">By model</h2>
            <div className="table-scroll">
              <table className="data" data-testid="by-model">
                <thead>
                  <tr>
                    <th scope="col">Model</th>
                    <th scope="col" className="num">Requests</th>
                    <th scope="col" className="num">Errors</th>
                    <th scope="col" className="num">Error rate</th>
                    <th scope="col" className="num">Latency p50</th>
                    <th scope="col" className="num">p95</th>
                    <th scope="col" className="num">p99</th>
                    <th scope="col" className="num">TTFT p95</th>
                    <th scope="col" className="num">Tokens</th>
                    <th scope="col" className="num">Cost</th>
                  </tr>
                </thead>
                <tbody>
                  {data.summary.groups.map((g) => (
                    <tr key={g.key.model ?? ""} data-model={g.key.model ?? ""}>
                      <th scope="row">{g.key.model ?? "(none)"}</th>
                      <td className="num">{formatCount(g.requests)}</td>
                      <td className="num">{formatCount(g.errors)}</td>
                      <td className="num">{formatRate(g.error_rate)}</td>
                      <td className="num">{formatDuration(g.latency_ms.p50)}</td>
                      <td className="num">{formatDuration(g.latency_ms.p95)}</td>
                      <td className="num">{formatDuration(g.latency_ms.p99)}</td>
                      <td className="num">{formatDuration(g.ttft_ms.p95)}</td>
                      <td className="num">{formatCount(g.tokens.total)}</td>
                      <td className="num">{formatCostOf(g.cost_usd, g.unpriced)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </section>
        </>
      )}

      {saved && <Dashboards view={view} charts={SPEC_CHARTS} onOpen={applyView} />}
    </div>
  );
}

/** The page's charts as a dashboard's timeseries panels (their titles name them). */
export const SPEC_CHARTS = CHARTS.map((c) => ({ title: c.title, figures: c.figures.map((f) => f.path) }));

export function formatStep(seconds: number): string {
  if (seconds % 86400 === 0) return seconds === 86400 ? "day" : `${seconds / 86400} days`;
  if (seconds % 3600 === 0) return seconds === 3600 ? "hour" : `${seconds / 3600} hours`;
  return seconds === 60 ? "minute" : `${seconds / 60} minutes`;
}
