/** Chart data and geometry: lines from a timeseries, SVG paths, axis maxima. */

import type { GroupKeyValues, Stats, Timeseries } from "./types";

/** A figure of Stats by dotted path, e.g. "latency_ms.p95" (the dashboards' figure names). */
export function figure(s: Stats, path: string): number | null {
  let v: unknown = s;
  for (const part of path.split(".")) {
    if (v === null || typeof v !== "object") return null;
    v = (v as Record<string, unknown>)[part];
  }
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

export interface Line {
  label: string;
  values: (number | null)[];
}

export interface ChartData {
  times: number[]; // epoch ms of each point
  lines: Line[];
}

export function seriesLabel(key: GroupKeyValues): string {
  const parts = Object.values(key).map((v) => v ?? "(none)");
  return parts.length ? parts.join(" · ") : "all";
}

/**
 * Chart lines from a timeseries. Without a breakdown (one series, or none when there is no data)
 * each figure is a line; with one, each series is a line of the first figure. A percentile of an
 * empty step is null (a gap), a count is 0.
 */
export function chartData(ts: Timeseries, figures: { path: string; label: string }[], maxLines = 8): ChartData {
  const first = ts.series[0];
  const times = first ? first.points.map((p) => Date.parse(p.t)) : stepTimes(ts);
  if (ts.group_by.length === 0) {
    const points = first?.points ?? [];
    return {
      times,
      lines: figures.map((f) => ({
        label: f.label,
        values: points.length ? points.map((p) => figure(p, f.path)) : times.map(() => (isCount(f.path) ? 0 : null)),
      })),
    };
  }
  const f = figures[0];
  return {
    times,
    lines: ts.series.slice(0, maxLines).map((s) => ({ label: seriesLabel(s.key), values: s.points.map((p) => figure(p, f.path)) })),
  };
}

function isCount(path: string): boolean {
  return path === "requests" || path === "errors" || path.startsWith("tokens.") || path === "cost_usd";
}

function stepTimes(ts: Timeseries): number[] {
  const out: number[] = [];
  const start = Date.parse(ts.from);
  const end = Date.parse(ts.to);
  const step = ts.step_seconds * 1000;
  if (!Number.isFinite(start) || !Number.isFinite(end) || step <= 0) return out;
  for (let t = start; t < end && out.length < 5000; t += step) out.push(t);
  return out;
}

/** The largest value of the lines (0 when none). */
export function maxValue(lines: Line[]): number {
  let m = 0;
  for (const l of lines) for (const v of l.values) if (v !== null && v > m) m = v;
  return m;
}

/** SVG path data for one line: gaps where the value is null. */
export function linePath(
  times: number[],
  values: (number | null)[],
  box: { x0: number; x1: number; y0: number; y1: number },
  yMax: number,
): string {
  if (times.length === 0) return "";
  const tMin = times[0];
  const tMax = times[times.length - 1];
  const xs = (t: number) => (tMax === tMin ? (box.x0 + box.x1) / 2 : box.x0 + ((t - tMin) / (tMax - tMin)) * (box.x1 - box.x0));
  const ys = (v: number) => (yMax <= 0 ? box.y1 : box.y1 - (v / yMax) * (box.y1 - box.y0));
  let d = "";
  let pen = false;
  for (let i = 0; i < times.length; i++) {
    const v = values[i];
    if (v === null || v === undefined) {
      pen = false;
      continue;
    }
    d += `${pen ? "L" : "M"}${xs(times[i]).toFixed(1)} ${ys(v).toFixed(1)}`;
    // A lone point between gaps is drawn as a dot-sized segment.
    const next = values[i + 1];
    if (!pen && (next === null || next === undefined)) d += `h0.01`;
    pen = true;
  }
  return d;
}

/** A "nice" axis maximum ≥ v: 1, 2, 2.5 or 5 times a power of ten. */
export function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

/** The index of the point nearest to `x` (a fraction 0..1 of the plot's width); -1 with no points. */
export function nearestIndex(times: number[], x: number): number {
  if (times.length === 0) return -1;
  const tMin = times[0];
  const tMax = times[times.length - 1];
  if (tMax === tMin) return 0;
  const t = tMin + Math.min(1, Math.max(0, x)) * (tMax - tMin);
  let best = 0;
  for (let i = 1; i < times.length; i++) if (Math.abs(times[i] - t) < Math.abs(times[best] - t)) best = i;
  return best;
}

/** Points to mark with a dot: every value when a line has few (a sparse series is otherwise a
 * dot-sized segment or a flat line hard to see), and a value alone between gaps. */
export function markedPoints(values: (number | null)[], few = 24): number[] {
  const present = values.flatMap((v, i) => (v === null || v === undefined ? [] : [i]));
  if (present.length <= few) return present;
  return present.filter((i) => (values[i - 1] ?? null) === null && (values[i + 1] ?? null) === null);
}

/** Whether a chart has anything to show: some value other than a zero count. */
export function hasValues(lines: Line[]): boolean {
  return lines.some((l) => l.values.some((v) => v !== null && v > 0));
}
