import { expect } from "@playwright/test";
import { configureFake, LONG_MODEL, send, test } from "./support";

// Issue 14 §5: every page holds up (charts, phone width, the 404 page, Esc).

test("charts: the values and time at the pointer; an empty window says so", async ({ page }) => {
  await page.goto("/metrics/?window=1h");
  const chart = page.getByTestId("chart-requests");
  const svg = chart.locator("svg");
  await expect(svg.locator("path[d^='M']").first()).toBeAttached();
  const box = (await svg.boundingBox())!;
  await page.mouse.move(box.x + box.width * 0.95, box.y + box.height / 2);
  await expect(chart.getByTestId("chart-tip")).toContainText("Requests:");
  await expect(chart.getByTestId("chart-tip")).toContainText(/\d{2}:\d{2}/);
  await page.mouse.move(0, 0);
  await expect(chart.getByTestId("chart-tip")).toHaveCount(0);

  // A filter nothing matches: no line drawn, the empty state instead.
  await page.goto("/metrics/?window=1h&status=cancelled");
  await expect(page.getByTestId("metrics-empty")).toBeVisible();
});

test.describe("phone width", () => {
  test.use({ viewport: { width: 390, height: 844 } });

  test("the metrics charts fit the width", async ({ page }) => {
    await page.goto("/metrics/");
    const chart = page.getByTestId("chart-latency");
    await expect(chart.locator("svg path[d^='M']").first()).toBeAttached();
    const box = (await chart.boundingBox())!;
    expect(box.x).toBeGreaterThanOrEqual(0);
    expect(box.x + box.width).toBeLessThanOrEqual(390);
    const svg = (await chart.locator("svg").boundingBox())!;
    expect(svg.x + svg.width).toBeLessThanOrEqual(390);
  });
});

test("an unknown path is the UI's own 404 page", async ({ page }) => {
  const resp = await page.goto("/no/such/page");
  expect(resp?.status()).toBe(404);
  await expect(page.getByRole("heading", { name: "Not found" })).toBeVisible();
  await expect(page.getByRole("link", { name: "Back to the chat" })).toBeVisible();
  await expect(page.locator("body")).not.toContainText("Error response");
});

test("Esc stops a streaming reply", async ({ page, api }) => {
  await configureFake(api);
  await page.goto("/");
  const reply = await send(page, "Tell me a very long story", LONG_MODEL);
  await expect(reply.getByTestId("reply-text")).toContainText("word3");
  await page.keyboard.press("Escape");
  await expect(reply).toHaveAttribute("data-status", "cancelled");
  await expect(page.getByRole("button", { name: "Send" })).toBeVisible();
});

test("dark mode follows the system setting; the toggle overrides it and is kept", async ({ page }) => {
  await page.emulateMedia({ colorScheme: "dark" });
  await page.goto("/metrics/");
  const bg = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  await expect.poll(bg).toBe("rgb(21, 23, 28)");
  const toggle = page.getByTestId("theme-toggle");
  await expect(toggle).toHaveAttribute("aria-pressed", "true");
  await toggle.click();
  await expect.poll(bg).toBe("rgb(247, 247, 248)");
  await page.reload();
  await expect.poll(bg).toBe("rgb(247, 247, 248)"); // the choice is kept
  const again = page.getByTestId("theme-toggle");
  await expect(again).toHaveAttribute("aria-pressed", "false"); // the reloaded page has read it
  await again.click();
  await expect(again).toHaveAttribute("aria-pressed", "true");
  await expect.poll(bg).toBe("rgb(21, 23, 28)");
  await page.evaluate(() => localStorage.removeItem("prism-theme"));
});
