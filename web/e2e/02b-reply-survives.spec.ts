import { expect } from "@playwright/test";
import { configureFake, conversationId, LONG_MODEL, send, storedMessages, test } from "./support";

// Issue 14 §1: only Stop (or the timeout) stops a reply; a reload or another conversation does not.

test.beforeAll(async ({ api }) => {
  await configureFake(api);
});

test("a reload mid-reply follows the reply to its end", async ({ page, api }) => {
  await page.goto("/");
  let reply = await send(page, "Tell me a very long story, then reload", LONG_MODEL);
  await expect(reply.getByTestId("reply-text")).toContainText("word3");
  const id = conversationId(page);

  await page.reload();
  // The reply shows with the text so far and keeps growing, with Stop offered; never "Stopped".
  reply = page.locator('article[data-role="assistant"]').last();
  await expect(reply).toHaveAttribute("data-status", "streaming");
  await expect(reply.getByTestId("reply-text")).toContainText("word3");
  await expect(page.getByRole("button", { name: "Stop" })).toBeVisible();
  const early = await reply.getByTestId("reply-text").innerText();
  await expect(reply.getByTestId("reply-text")).not.toHaveText(early);

  await expect(reply).toHaveAttribute("data-status", "complete", { timeout: 40_000 });
  await expect(reply.getByTestId("reply-text")).toContainText("word199");
  const shown = await reply.getByTestId("reply-text").innerText();
  expect(shown.match(/word3\b/g)?.length).toBe(1); // the text so far was not shown twice
  const stored = await storedMessages(api, id);
  expect(stored.at(-1)?.status).toBe("complete");
  expect(stored.at(-1)?.content).toContain("word199");
});

test("opening another conversation mid-reply does not stop it; coming back follows it", async ({ page, api }) => {
  await page.goto("/");
  const reply = await send(page, "Another long story", LONG_MODEL);
  await expect(reply.getByTestId("reply-text")).toContainText("word3");
  const id = conversationId(page);

  await page.getByRole("button", { name: "New conversation" }).first().click();
  await expect(page).not.toHaveURL(new RegExp(id));
  await expect.poll(async () => (await storedMessages(api, id)).at(-1)?.content.length ?? 0).toBeGreaterThan(60);
  expect((await storedMessages(api, id)).at(-1)?.status).toBe("streaming");

  await page.goto(`/?id=${id}`);
  const followed = page.locator('article[data-role="assistant"]').last();
  await expect(followed).toHaveAttribute("data-status", "complete", { timeout: 40_000 });
  await expect(followed.getByTestId("reply-text")).toContainText("word199");
});
