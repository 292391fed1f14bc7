"use client";

import { formatAxisTime } from "@/lib/format";
import { linePath, maxValue, niceMax, type ChartData } from "@/lib/query/chart";

const COLORS = ["#3b5bdb", "#e8590c", "#2b8a3e", "#c2255c", "#6741d9", "#0c8599", "#a61e4d", "#5c940d"];
const W = 600;
const H = 170;
const BOX = { x0: 56, x1: W - 8, y0: 8, y1: H - 24 };

/** A small SVG line chart: no dependency, renders in the static export, gaps where data is null. */
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
  const hasData = data.lines.some((l) => l.values.some((v) => v !== null && v > 0));
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
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`${title}. ${hasData ? summary : "No data"}`}>
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
        {data.lines.map((l, i) => (
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
        {!hasData && (
          <text x={(BOX.x0 + BOX.x1) / 2} y={(BOX.y0 + BOX.y1) / 2} textAnchor="middle" className="axis">
            No data
          </text>
        )}
      </svg>
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
