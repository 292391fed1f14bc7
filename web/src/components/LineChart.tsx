"use client";

import { useState, type PointerEvent } from "react";
import { formatAxisTime, formatTime } from "@/lib/format";
import { hasValues, linePath, markedPoints, maxValue, nearestIndex, niceMax, type ChartData } from "@/lib/query/chart";

const COLORS = ["#3b5bdb", "#e8590c", "#2b8a3e", "#c2255c", "#6741d9", "#0c8599", "#a61e4d", "#5c940d"];
const W = 600;
const H = 170;
const BOX = { x0: 56, x1: W - 8, y0: 8, y1: H - 24 };

/** A small SVG line chart: no dependency, renders in the static export, gaps where data is null;
 * dots on sparse series, the values and time at the pointer, "No calls in this window" when empty. */
export function LineChart({
  title,
  data,
  format,
  testId,
}: {
  title: string;
  data: ChartData;
  format: (v: number) => string;
  testId?: string;
}) {
  const yMax = niceMax(maxValue(data.lines));
  const span = data.times.length > 1 ? data.times[data.times.length - 1] - data.times[0] : 0;
  const hasData = hasValues(data.lines);
  const [at, setAt] = useState<number | null>(null);
  const tMin = data.times[0] ?? 0;
  const tMax = data.times[data.times.length - 1] ?? 0;
  const xOf = (t: number) => (tMax === tMin ? (BOX.x0 + BOX.x1) / 2 : BOX.x0 + ((t - tMin) / (tMax - tMin)) * (BOX.x1 - BOX.x0));
  const yOf = (v: number) => BOX.y1 - (v / yMax) * (BOX.y1 - BOX.y0);
  function onMove(e: PointerEvent<SVGSVGElement>) {
    const r = e.currentTarget.getBoundingClientRect();
    const x = ((e.clientX - r.left) / r.width) * W; // in viewBox units
    setAt(nearestIndex(data.times, (x - BOX.x0) / (BOX.x1 - BOX.x0)));
  }
  const tip = hasData && at !== null && at >= 0 ? at : null;
  const summary = data.lines
    .map((l) => {
      const vals = l.values.filter((v): v is number => v !== null);
      return `${l.label}: max ${vals.length ? format(Math.max(...vals)) : "none"}`;
    })
    .join("; ");
  const ticks = [0, 0.5, 1].map((f) => f * yMax);
  return (
    <figure className="chart card" data-testid={testId}>
      <figcaption className="chart-title">{title}</figcaption>
      <svg
        viewBox={`0 0 ${W} ${H}`}
        role="img"
        aria-label={`${title}. ${hasData ? summary : "No calls in this window"}`}
        onPointerMove={hasData ? onMove : undefined}
        onPointerLeave={() => setAt(null)}
      >
        {ticks.map((v) => {
          const y = BOX.y1 - (v / yMax) * (BOX.y1 - BOX.y0);
          return (
            <g key={v}>
              <line x1={BOX.x0} x2={BOX.x1} y1={y} y2={y} className="grid" />
              <text x={BOX.x0 - 4} y={y + 4} textAnchor="end" className="axis">
                {format(v)}
              </text>
            </g>
          );
        })}
        {data.times.length > 0 && (
          <>
            <text x={BOX.x0} y={H - 6} className="axis">
              {formatAxisTime(data.times[0], span)}
            </text>
            <text x={BOX.x1} y={H - 6} textAnchor="end" className="axis">
              {formatAxisTime(data.times[data.times.length - 1], span)}
            </text>
          </>
        )}
        {hasData && data.lines.map((l, i) => (
          <path
            key={l.label}
            d={linePath(data.times, l.values, BOX, yMax)}
            fill="none"
            stroke={COLORS[i % COLORS.length]}
            strokeWidth={1.8}
            strokeLinejoin="round"
            strokeLinecap="round"
            vectorEffect="non-scaling-stroke"
          />
        ))}
        {hasData &&
          data.lines.map((l, i) =>
            markedPoints(l.values).map((j) => (
              <circle
                key={`${l.label}-${j}`}
                cx={xOf(data.times[j])}
                cy={yOf(l.values[j] as number)}
                r={2.6}
                fill={COLORS[i % COLORS.length]}
                className="point"
              />
            )),
          )}
        {tip !== null && <line x1={xOf(data.times[tip])} x2={xOf(data.times[tip])} y1={BOX.y0} y2={BOX.y1} className="cursor" />}
        {!hasData && (
          <text x={(BOX.x0 + BOX.x1) / 2} y={(BOX.y0 + BOX.y1) / 2} textAnchor="middle" className="chart-empty" data-testid="chart-empty">
            No calls in this window
          </text>
        )}
      </svg>
      {tip !== null && (
        <div
          className="chart-tip"
          role="tooltip"
          data-testid="chart-tip"
          style={xOf(data.times[tip]) > W / 2 ? { right: `${100 - (xOf(data.times[tip]) / W) * 100}%` } : { left: `${(xOf(data.times[tip]) / W) * 100}%` }}
        >
          <div className="muted">{formatTime(new Date(data.times[tip]).toISOString())}</div>
          {data.lines.map((l, i) => (
            <div key={l.label}>
              <span className="swatch" style={{ background: COLORS[i % COLORS.length] }} aria-hidden="true" /> {l.label}:{" "}
              {l.values[tip] === null || l.values[tip] === undefined ? "–" : format(l.values[tip] as number)}
            </div>
          ))}
        </div>
      )}
      <ul className="legend">
        {data.lines.map((l, i) => (
          <li key={l.label}>
            <span className="swatch" style={{ background: COLORS[i % COLORS.length] }} aria-hidden="true" />
            {l.label}
          </li>
        ))}
      </ul>
    </figure>
  );
}
