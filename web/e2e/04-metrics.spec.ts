import { expect, type Page } from "@playwright/test";
import { test } from "./support";

// tests/e2e/test_web.py seeds the database through the writer: in the last hour 36 events over
// three models (12 each; every 6th one an error, all of them mistral-small), and 11 older ones
// (gpt-4o, 2 to 5 hours ago). The chat specs add none: chat events reach the logs only through
// the ingestion pipeline, which this stack does not run.
const LAST_HOUR = 36;
const LAST_DAY = 47;
const MODELS = ["gpt-4o", "claude-sonnet", "mistral-small"];

function tile(page: Page, id: string) {
  return page.getByTestId(id).locator("dd");
}

test("metrics: totals, percentiles, charts and the per-model table; window and filters change them", async ({
  page,
}) => {
  await page.goto("/metrics/");
  await expect(page.getByRole("link", { name: "Metrics", exact: true })).toHaveAttribute("aria-current", "page");
  await expect(page.getByRole("heading", { name: "Metrics" })).toBeVisible();

  // The default window: the last 24 hours.
  await expect(tile(page, "tile-requests")).toHaveText(String(LAST_DAY));
  await expect(tile(page, "tile-latency-p95")).toHaveText(/^\d+(\.\d+)? (ms|s)$/);
  await expect(tile(page, "tile-latency-p50")).toHaveText(/^\d+(\.\d+)? (ms|s)$/);
  await expect(tile(page, "tile-ttft-p95")).toHaveText(/^\d+(\.\d+)? (ms|s)$/);
  await expect(tile(page, "tile-error-rate")).toHaveText("13 %"); // 6 of 47
  await expect(tile(page, "tile-cost")).toHaveText(/^\$0\.\d{4}$/);
  await expect(page.getByTestId("percentile-error")).toHaveText("percentiles ±2.4 %");

  // Every chart drew something.
  for (const id of ["chart-requests", "chart-latency", "chart-ttft", "chart-tokens", "chart-cost"]) {
    await expect(page.getByTestId(id).locator("svg path[d^='M']").first()).toBeAttached();
  }

  // The per-model table lists the three models, the busiest first.
  const rows = page.getByTestId("by-model").locator("tbody tr");
  await expect(rows).toHaveCount(3);
  await expect(rows.first()).toHaveAttribute("data-model", "gpt-4o"); // 12 recent + 11 older
  for (const m of MODELS) await expect(page.getByTestId("by-model").locator(`tr[data-model="${m}"]`)).toHaveCount(1);
  await expect(page.getByTestId("by-model").locator('tr[data-model="mistral-small"] td').nth(1)).toHaveText("6");

  // A shorter window: fewer requests.
  await page.getByLabel("Window", { exact: true }).selectOption("1h");
  await expect(tile(page, "tile-requests")).toHaveText(String(LAST_HOUR));

  // A model filter: only that model's requests, and only its row in the table.
  await page.getByLabel("Model", { exact: true }).selectOption("mistral-small");
  await expect(tile(page, "tile-requests")).toHaveText("12");
  await expect(tile(page, "tile-error-rate")).toHaveText("50 %");
  await expect(rows).toHaveCount(1);
  await expect(rows.first()).toHaveAttribute("data-model", "mistral-small");

  // A status filter with no matching events: the empty state.
  await page.getByLabel("Model", { exact: true }).selectOption("");
  await page.getByLabel("Status", { exact: true }).selectOption("cancelled");
  await expect(page.getByTestId("metrics-empty")).toBeVisible();
  await expect(page.getByTestId("tile-requests")).toHaveCount(0);

  // Breakdown by model: one line per model.
  await page.getByLabel("Status", { exact: true }).selectOption("");
  await page.getByLabel("Break down by model", { exact: true }).check();
  const legend = page.getByTestId("chart-latency").locator(".legend li");
  await expect(legend).toHaveCount(3);
  await expect(legend).toContainText(MODELS.map((m) => m));
  await expect(page.getByTestId("chart-latency").locator("figcaption")).toHaveText("Latency p95 by model");
});

test("saved dashboards: save the current view, open it later, delete it", async ({ page }) => {
  await page.goto("/metrics/");
  await expect(tile(page, "tile-requests")).toHaveText(String(LAST_DAY));
  const dash = page.getByTestId("dashboards");
  await expect(dash).toContainText("None yet");

  await page.getByLabel("Window", { exact: true }).selectOption("1h");
  await page.getByLabel("Model", { exact: true }).selectOption("claude-sonnet");
  await expect(tile(page, "tile-requests")).toHaveText("12");
  await dash.getByLabel("Dashboard name").fill("Claude, last hour");
  await dash.getByRole("button", { name: "Save current view" }).click();
  await expect(dash.getByRole("status")).toContainText("Saved");
  const item = dash.locator('li[data-dashboard="Claude, last hour"]');
  await expect(item).toContainText("Last hour · claude-sonnet");

  // Elsewhere, then back: opening the dashboard restores its window and filters.
  await page.getByLabel("Window", { exact: true }).selectOption("24h");
  await page.getByLabel("Model", { exact: true }).selectOption("");
  await expect(tile(page, "tile-requests")).toHaveText(String(LAST_DAY));
  await page.reload();
  await item.getByRole("button", { name: "Open Claude, last hour" }).click();
  await expect(page.getByLabel("Window", { exact: true })).toHaveValue("1h");
  await expect(page.getByLabel("Model", { exact: true })).toHaveValue("claude-sonnet");
  await expect(tile(page, "tile-requests")).toHaveText("12");

  page.once("dialog", (d) => void d.accept());
  await item.getByRole("button", { name: "Delete Claude, last hour" }).click();
  await expect(item).toHaveCount(0);
  await expect(dash).toContainText("None yet");
});
