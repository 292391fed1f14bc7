import { expect, type Page } from "@playwright/test";
import { test } from "./support";

// The events seeded by tests/e2e/test_web.py (see 04-metrics.spec.ts): 47 in the last 24 hours,
// 6 of them errors; two carry an e-mail address the ingestion redacted to [EMAIL] (tag
// "redacted"); one has its payload offloaded to a file that is not there (tag "offloaded").
const LAST_DAY = 47;
const PAGE_SIZE = 25;

async function createdAts(page: Page): Promise<string[]> {
  return page.getByTestId("logs-table").locator("tbody tr").evaluateAll((trs) =>
    trs.map((tr) => tr.getAttribute("data-created-at") ?? ""),
  );
}

function isNewestFirst(times: string[]): boolean {
  const ms = times.map((t) => Date.parse(t));
  return ms.every((t, i) => i === 0 || t <= ms[i - 1]);
}

test("logs: newest first, Load more pages with the cursor", async ({ page }) => {
  await page.goto("/logs/");
  await expect(page.getByRole("link", { name: "Logs", exact: true })).toHaveAttribute("aria-current", "page");
  const rows = page.getByTestId("logs-table").locator("tbody tr");
  await expect(rows).toHaveCount(PAGE_SIZE);
  expect(isNewestFirst(await createdAts(page))).toBe(true);

  await page.getByRole("button", { name: "Load more" }).click();
  await expect(rows).toHaveCount(LAST_DAY);
  await expect(page.getByRole("button", { name: "Load more" })).toHaveCount(0);
  const all = await createdAts(page);
  expect(isNewestFirst(all)).toBe(true);
  const ids = await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-log-id")));
  expect(new Set(ids).size).toBe(LAST_DAY);
});

test("logs: filter by status, model and window", async ({ page }) => {
  await page.goto("/logs/");
  const rows = page.getByTestId("logs-table").locator("tbody tr");
  await expect(rows).toHaveCount(PAGE_SIZE);

  await page.getByLabel("Status", { exact: true }).selectOption("error");
  await expect(rows).toHaveCount(6);
  for (const s of await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-status")))) {
    expect(s).toBe("error");
  }
  await expect(page).toHaveURL(/status=error/);
  await expect(page.getByRole("button", { name: "Load more" })).toHaveCount(0);

  // A model with no errors: the empty state.
  await page.getByLabel("Model", { exact: true }).selectOption("gpt-4o");
  await expect(page.getByTestId("logs-empty")).toBeVisible();

  // The filters live in the URL: a reload keeps them.
  await page.getByLabel("Status", { exact: true }).selectOption("");
  await expect(rows.first()).toBeVisible();
  await page.getByLabel("Window", { exact: true }).selectOption("1h");
  await expect(rows).toHaveCount(12);
  await page.reload();
  await expect(page.getByLabel("Model", { exact: true })).toHaveValue("gpt-4o");
  await expect(rows).toHaveCount(12);
  await expect(page.getByTestId("logs-table").locator("tbody td:nth-child(2)").first()).toHaveText("gpt-4o");
});

test("logs: the detail view shows the redacted request, the response, tool calls and redaction counts", async ({
  page,
}) => {
  await page.goto("/logs/");
  await page.getByLabel("Tag", { exact: true }).fill("redacted");
  await page.getByRole("button", { name: "Apply" }).click();
  const rows = page.getByTestId("logs-table").locator("tbody tr");
  await expect(rows).toHaveCount(2);
  const id = await rows.first().getAttribute("data-log-id");
  await rows.first().getByRole("link").first().click();

  await expect(page).toHaveURL(new RegExp(`/logs/\\?id=${id}`));
  const request = page.getByTestId("log-request");
  await expect(request).toContainText("You are a helpful assistant.");
  await expect(request.locator(".pmsg.role-user")).toContainText("Please write to [EMAIL] about the invoice.");
  await expect(page.getByTestId("log-response")).toContainText("Answer number 22.");
  await expect(page.getByTestId("log-redactions")).toContainText("email: 1");
  const tools = page.getByTestId("log-tools");
  await expect(tools).toContainText("lookup_invoice");
  await expect(tools).toContainText('"customer": "[EMAIL]"');
  const facts = page.getByTestId("log-facts");
  await expect(facts).toContainText("claude-sonnet");
  await expect(facts).toContainText("conv-e2e-redacted");
  await expect(page.getByRole("main")).not.toContainText("@"); // the nav shows who is signed in

  // Back to the list, filters kept.
  await page.goBack();
  await expect(page.getByLabel("Tag", { exact: true })).toHaveValue("redacted");
  await expect(rows).toHaveCount(2);
});

test("logs: an error event shows its error; a payload that cannot be fetched says so", async ({ page }) => {
  await page.goto("/logs/?status=error");
  await page.getByTestId("logs-table").locator("tbody tr").first().getByRole("link").first().click();
  await expect(page.getByTestId("log-error")).toContainText("provider_rate_limited");
  await expect(page.getByTestId("log-error")).toContainText("Rate limit reached");

  await page.goto("/logs/?tag=offloaded");
  const rows = page.getByTestId("logs-table").locator("tbody tr");
  await expect(rows).toHaveCount(1);
  await rows.first().getByRole("link").first().click();
  await expect(page.getByTestId("payload-error")).toBeVisible();
  await expect(page.getByTestId("log-facts")).toContainText("object_store");
  await expect(page.getByTestId("log-request")).toHaveCount(0);

  // An id that is not stored.
  await page.goto("/logs/?id=00000000-0000-4000-8000-000000000000");
  await expect(page.locator(".alert")).toContainText("not stored");
});
