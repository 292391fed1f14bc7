import { expect } from "@playwright/test";
import { configureFake, FAKE_MODEL, send, test } from "./support";

// Issue 14 §5: at phone width (390 px) the conversation list is a drawer and no page is wider
// than the screen; a reply's copy button (highlighting is in web/tests/copy-highlight.test.tsx).

test.describe("phone width", () => {
  test.use({ viewport: { width: 390, height: 844 } });

  test("the conversation list is a drawer, closed until the header's button opens it", async ({ page, api }) => {
    await configureFake(api);
    await page.goto("/");
    const list = page.getByRole("complementary", { name: "Conversations" });
    const toggle = page.getByTestId("list-toggle");
    await expect(toggle).toHaveAttribute("aria-expanded", "false");
    await expect(list).toBeHidden();
    const reply = await send(page, "Hello from a phone", FAKE_MODEL);
    await expect(reply).toHaveAttribute("data-status", "complete", { timeout: 20_000 });
    const firstId = new URL(page.url()).searchParams.get("id");

    await toggle.click();
    await expect(toggle).toHaveAttribute("aria-expanded", "true");
    await expect(list).toBeVisible();
    await expect(list.getByRole("button", { name: "+ New conversation" })).toBeFocused();
    const box = (await list.boundingBox())!;
    expect(box.x + box.width).toBeLessThanOrEqual(390);

    // Esc closes it (and gives the focus back to the button).
    await page.keyboard.press("Escape");
    await expect(list).toBeHidden();
    await expect(toggle).toBeFocused();
    await expect(toggle).toHaveAttribute("aria-expanded", "false");

    // Choosing a conversation closes it.
    await page.goto("/");
    await page.getByTestId("list-toggle").click();
    await list.getByRole("link").first().click();
    await expect(page).toHaveURL(/\?id=/);
    await expect(list).toBeHidden();
    expect(firstId).toBeTruthy();
  });

  for (const path of ["/", "/metrics/", "/logs/", "/dashboards/", "/settings/"]) {
    test(`${path} is no wider than the screen`, async ({ page }) => {
      await page.goto(path);
      await page.waitForLoadState("networkidle");
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      expect(width).toBeLessThanOrEqual(390);
    });
  }

  test("the metrics tables scroll inside their own box", async ({ page }) => {
    await page.goto("/metrics/");
    const table = page.getByTestId("by-model");
    await expect(table.locator("tbody tr").first()).toBeVisible();
    const scroller = page.locator(".table-scroll").filter({ has: table });
    const box = (await scroller.boundingBox())!;
    expect(box.x + box.width).toBeLessThanOrEqual(390);
    const { scrollWidth, clientWidth } = await scroller.evaluate((el) => ({
      scrollWidth: el.scrollWidth,
      clientWidth: el.clientWidth,
    }));
    expect(scrollWidth).toBeGreaterThan(clientWidth); // wider than the screen, scrolled in place
  });
});

test("a reply has a Copy button that copies its text", async ({ page, api, context }) => {
  await context.grantPermissions(["clipboard-read", "clipboard-write"]);
  await configureFake(api);
  await page.goto("/");
  const reply = await send(page, "Hello", FAKE_MODEL);
  await expect(reply).toHaveAttribute("data-status", "complete", { timeout: 20_000 });
  await reply.getByRole("button", { name: "Copy reply" }).click();
  await expect(reply.getByRole("button", { name: "Copied" })).toBeVisible();
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  expect(copied.length).toBeGreaterThan(0);
  expect(await reply.getByTestId("reply-text").innerText()).toContain(copied.trim().split(/\s+/)[0]);
});
