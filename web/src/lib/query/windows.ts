/** The named time windows of the metrics and logs pages. */

export const WINDOWS = ["1h", "6h", "24h", "7d", "30d"] as const;
export type WindowName = (typeof WINDOWS)[number];
export const WINDOW_LABELS: Record<WindowName, string> = {
  "1h": "Last hour",
  "6h": "Last 6 hours",
  "24h": "Last 24 hours",
  "7d": "Last 7 days",
  "30d": "Last 30 days",
};
const WINDOW_MS: Record<WindowName, number> = {
  "1h": 3_600_000,
  "6h": 6 * 3_600_000,
  "24h": 24 * 3_600_000,
  "7d": 7 * 86_400_000,
  "30d": 30 * 86_400_000,
};

export interface Range {
  from: string;
  to: string;
}

/** The [from, to) of a named window ending at `now`, as ISO 8601 in UTC. */
export function windowRange(name: WindowName, now: Date = new Date()): Range {
  return { from: new Date(now.getTime() - WINDOW_MS[name]).toISOString(), to: now.toISOString() };
}

export function isWindow(v: unknown): v is WindowName {
  return typeof v === "string" && (WINDOWS as readonly string[]).includes(v);
}
