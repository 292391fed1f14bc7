import { expect } from "@playwright/test";
import {
  configureFake,
  conversationId,
  DEMO_MODEL,
  ERROR_MODEL,
  FAKE_MODEL,
  LONG_MODEL,
  send,
  storedMessages,
  test,
} from "./support";

test.beforeAll(async ({ api }) => {
  await configureFake(api);
});

test("a reply streams in token by token, then shows its stats", async ({ page, api }) => {
  await page.goto("/");
  const reply = await send(page, "Hello there, fake model", FAKE_MODEL);
  const text = reply.getByTestId("reply-text");

  // The first words show while the reply is still being written.
  await expect(text).toContainText("Here is");
  const partial = await text.innerText();
  expect(await reply.getAttribute("data-status")).toBe("streaming");
  await expect(page.getByRole("button", { name: "Stop" })).toBeVisible();

  await expect(reply).toHaveAttribute("data-status", "complete", { timeout: 20_000 });
  const full = await text.innerText();
  expect(full).toContain("That is all for now.");
  expect(partial.length).toBeLessThan(full.length);

  // Markdown rendered (bold, list), stats shown after `done`.
  await expect(reply.locator("strong")).toHaveText("the answer");
  await expect(reply.locator("li")).toHaveCount(2);
  const stats = reply.getByTestId("reply-stats");
  await expect(stats).toContainText("Latency");
  await expect(stats).toContainText("TTFT");
  await expect(stats).toContainText("Tokens");
  await expect(page.getByRole("button", { name: "Send" })).toBeVisible();

  // The title shows once the first message is sent; the list has the conversation.
  await expect(page.locator("#conversation-title")).toHaveText("Hello there, fake model");
  await expect(page.getByRole("link", { name: "Hello there, fake model" })).toBeVisible();

  const stored = await storedMessages(api, conversationId(page));
  expect(stored.map((m) => [m.role, m.status])).toEqual([
    ["user", "complete"],
    ["assistant", "complete"],
  ]);
});

test("Stop mid-stream keeps the partial reply, stored as cancelled", async ({ page, api }) => {
  await page.goto("/");
  const reply = await send(page, "Tell me a very long story", LONG_MODEL);
  const text = reply.getByTestId("reply-text");
  await expect(text).toContainText("word3");
  await page.getByRole("button", { name: "Stop" }).click();

  await expect(reply).toHaveAttribute("data-status", "cancelled");
  await expect(reply.getByTestId("reply-status")).toContainText("Stopped");
  await expect(page.getByRole("button", { name: "Send" })).toBeVisible();
  const shown = await text.innerText();
  expect(shown).toContain("word0");
  expect(shown).not.toContain("word199");

  const id = conversationId(page);
  await expect
    .poll(async () => (await storedMessages(api, id)).at(-1)?.status, { timeout: 10_000 })
    .toBe("cancelled");
  const last = (await storedMessages(api, id)).at(-1)!;
  expect(last.content.startsWith("word0 word1 word2")).toBe(true);
  expect(last.content).not.toContain("word199");
});

test("an error from the provider is shown with its message", async ({ page, api }) => {
  await page.goto("/");
  const reply = await send(page, "This one will fail", ERROR_MODEL);
  await expect(reply).toHaveAttribute("data-status", "error", { timeout: 20_000 });
  const alert = reply.getByTestId("reply-error");
  await expect(alert).toBeVisible();

  const stored = (await storedMessages(api, conversationId(page))).at(-1)!;
  expect(stored.status).toBe("error");
  expect(stored.error?.message).toBeTruthy();
  await expect(alert.locator(".error-message")).toHaveText(stored.error!.message!);
  await expect(alert).toContainText(stored.error!.code!);
  await expect(alert.getByRole("link", { name: "Open Settings" })).toBeVisible();
});

test("resume: reload, open the conversation from the list, continue with another model", async ({
  page,
  api,
}) => {
  await page.goto("/");
  const first = await send(page, "Remember this conversation", FAKE_MODEL);
  await expect(first).toHaveAttribute("data-status", "complete", { timeout: 20_000 });
  const id = conversationId(page);

  await page.goto("/");
  await page.reload();
  await page.getByRole("link", { name: "Remember this conversation" }).click();
  await expect(page).toHaveURL(new RegExp(`[?&]id=${id}`));
  await expect(page.locator("#conversation-title")).toHaveText("Remember this conversation");
  await expect(page.locator('article[data-role="user"]')).toHaveText(["Remember this conversation"]);
  await expect(page.locator('article[data-role="assistant"]')).toHaveCount(1);
  await expect(page.locator('article[data-role="assistant"]').first()).toContainText("That is all for now.");
  // The picker offers the model the conversation last used.
  await expect(page.getByLabel("Model", { exact: true })).toHaveValue(FAKE_MODEL);

  const second = await send(page, "And a second turn", DEMO_MODEL);
  await expect(second).toHaveAttribute("data-status", "complete", { timeout: 20_000 });
  await expect(second).toContainText("2 messages from you");

  const stored = await storedMessages(api, id);
  expect(stored.map((m) => m.role)).toEqual(["user", "assistant", "user", "assistant"]);
  expect(stored[3].model).toBe(DEMO_MODEL);
});

test("a message refused before streaming gives the text back with the reason", async ({ page }) => {
  await page.goto("/");
  await page.getByLabel("Model", { exact: true }).selectOption(DEMO_MODEL);
  // The API refuses the message (as it does an unknown model) before any stream starts.
  await page.route("**/api/conversations/*/messages", (route) =>
    route.fulfill({
      status: 422,
      contentType: "application/json",
      body: JSON.stringify({ error: { code: "unknown_model", message: "model 'x/y' is not offered" } }),
    }),
  );
  const box = page.getByLabel("Message", { exact: true });
  await box.fill("Keep my text");
  await box.press("Enter");
  await expect(page.getByRole("alert").filter({ hasText: "is not offered" })).toBeVisible();
  await expect(box).toHaveValue("Keep my text");
  await expect(page.locator('article[data-role="user"]')).toHaveCount(0);
});

test("Shift+Enter adds a line instead of sending", async ({ page }) => {
  await page.goto("/");
  const box = page.getByLabel("Message", { exact: true });
  await box.fill("line one");
  await box.press("Shift+Enter");
  await box.pressSequentially("line two");
  await expect(box).toHaveValue("line one\nline two");
  await expect(page.locator('article[data-role="user"]')).toHaveCount(0);
});
