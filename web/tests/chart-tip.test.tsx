// @vitest-environment jsdom
import { cleanup, fireEvent, render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import { LineChart } from "@/components/LineChart";
import { markedPoints, nearestIndex } from "@/lib/query/chart";

const T = [0, 60_000, 120_000, 180_000];

describe("chart pieces", () => {
  it("finds the point nearest the pointer", () => {
    expect(nearestIndex(T, 0)).toBe(0);
    expect(nearestIndex(T, 0.4)).toBe(1);
    expect(nearestIndex(T, 2)).toBe(3);
    expect(nearestIndex([], 0.5)).toBe(-1);
  });

  it("marks every point of a sparse line, and lone points of a dense one", () => {
    expect(markedPoints([null, 3, null, 4])).toEqual([1, 3]);
    const dense = Array.from({ length: 40 }, (_, i) => (i === 20 ? null : i));
    dense[22] = null; // 21 is alone between gaps
    expect(markedPoints(dense)).toEqual([21]);
  });
});

describe("LineChart", () => {
  afterEach(cleanup);
  it("says there were no calls rather than drawing a flat line", () => {
    const { container } = render(
      <LineChart title="Requests" data={{ times: T, lines: [{ label: "Requests", values: [0, 0, 0, 0] }] }} format={String} />,
    );
    expect(screen.getByTestId("chart-empty").textContent).toBe("No calls in this window");
    expect(container.querySelector("path")).toBeNull();
  });

  it("shows the value and the time at the pointer", () => {
    const { container } = render(
      <LineChart title="Requests" data={{ times: T, lines: [{ label: "Requests", values: [1, 5, 2, 7] }] }} format={(v) => `${v} calls`} />,
    );
    const svg = container.querySelector("svg") as SVGSVGElement;
    svg.getBoundingClientRect = () => ({ left: 0, top: 0, width: 600, height: 170, right: 600, bottom: 170, x: 0, y: 0, toJSON: () => "" });
    fireEvent.pointerMove(svg, { clientX: 592, clientY: 50 });
    expect(screen.getByTestId("chart-tip").textContent).toContain("Requests: 7 calls");
    expect(container.querySelectorAll("circle.point")).toHaveLength(4);
  });
});
