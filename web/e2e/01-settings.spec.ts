import { expect } from "@playwright/test";
import { FAKE, FAKE_MODEL, test } from "./support";

const SECRET = "sk-e2e-secret-key-7h1s-5h0uld-n0t-l3ak-4321";

test.beforeAll(async ({ api }) => {
  // Start from an unconfigured provider, whatever ran before.
  await api.delete(`/api/settings/providers/openai_compatible`);
  await api.delete(`/api/settings/providers/openai`);
});

test("configure the fake server as openai_compatible; its model appears; the key is never kept", async ({
  page,
  context,
  api,
}) => {
  await page.goto("/settings/");
  await expect(page.getByRole("heading", { name: "Settings" })).toBeVisible();
  const card = page.locator('[data-provider="openai_compatible"]');
  await expect(card.getByTestId("provider-state")).toHaveText("Not configured");

  await card.getByLabel("Base URL").fill(FAKE);
  const keyInput = card.getByLabel("API key (optional)");
  await expect(keyInput).toHaveAttribute("type", "password");
  await keyInput.fill(SECRET);
  await card.getByRole("button", { name: "Save" }).click();

  await expect(card.getByRole("status")).toHaveText("Saved. The connection works.");
  await expect(card.getByTestId("provider-state")).toHaveText("Working");
  await expect(keyInput).toHaveValue("");
  await expect(card.getByTestId("key-last4")).toHaveText("••••4321");

  // The API stored it: the key as its last four characters only.
  const providers = await (await api.get("/api/settings/providers")).json();
  const stored = providers.providers.find((p: { id: string }) => p.id === "openai_compatible");
  expect(stored).toMatchObject({ configured: true, has_key: true, key_last4: "4321", base_url: FAKE });

  // Nowhere in the browser: storage, cookies, URL, page.
  const storage = await page.evaluate(() => JSON.stringify({ l: { ...localStorage }, s: { ...sessionStorage } }));
  expect(storage).not.toContain(SECRET);
  expect(storage).not.toContain("7h1s");
  const cookies = await context.cookies();
  expect(JSON.stringify(cookies)).not.toContain(SECRET);
  expect(page.url()).not.toContain(SECRET);
  expect(await page.content()).not.toContain(SECRET);

  // The chat offers its model, grouped under the provider; the demo model says it is one.
  await page.getByRole("link", { name: "Chat" }).click();
  const picker = page.getByLabel("Model", { exact: true });
  await expect(picker.locator(`option[value="${FAKE_MODEL}"]`)).toHaveCount(1);
  await expect(picker.locator('optgroup[label^="OpenAI-compatible"] option').first()).toBeAttached();
  await expect(picker.locator('option[value="demo/prism-demo"]')).toHaveText(/demo/i);
});

test("set, replace and remove a provider key", async ({ page }) => {
  await page.goto("/settings/");
  const card = page.locator('[data-provider="openai"]');
  await expect(card.getByTestId("provider-state")).toHaveText("Not configured");
  await card.getByLabel("API key").fill("sk-openai-first-0000aaaa");
  await card.getByRole("button", { name: "Save" }).click();
  await expect(card.getByTestId("key-last4")).toHaveText("••••aaaa");
  await expect(card.getByLabel("Replace API key")).toHaveValue("");

  await card.getByLabel("Replace API key").fill("sk-openai-second-1111bbbb");
  await card.getByLabel("Replace API key").press("Enter");
  await expect(card.getByTestId("key-last4")).toHaveText("••••bbbb");

  page.once("dialog", (d) => void d.accept());
  await card.getByRole("button", { name: "Remove" }).click();
  await expect(card.getByTestId("provider-state")).toHaveText("Not configured");
});
