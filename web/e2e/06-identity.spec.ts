import { expect, type Page } from "@playwright/test";
import { ADMIN_EMAIL, ADMIN_PASSWORD, browserStorage, DEMO_MODEL, SIGNED_OUT, send, signIn, test } from "./support";

// These start signed out (not from the global setup's session) and sign in through the form.
test.use({ storageState: SIGNED_OUT });

/** Nothing secret in the browser's storage, and the session cookie out of the page's reach. */
async function expectNoSecretsInStorage(page: Page) {
  const storage = JSON.stringify(await browserStorage(page));
  expect(storage).not.toContain(ADMIN_PASSWORD);
  expect(storage).not.toMatch(/csrf|prism_session|prism_(ik|rt)_/i);
  expect(await page.evaluate(() => document.cookie)).not.toContain("prism_session");
  const cookies = await page.context().cookies();
  const session = cookies.find((c) => c.name === "prism_session");
  expect(session?.httpOnly).toBe(true);
  expect(session?.sameSite).toBe("Lax");
}

test("sign in through the form, chat, see the chosen project's metrics, sign out", async ({ page }) => {
  // Signed out, a page sends the reader to sign in, and back afterwards.
  await page.goto("/metrics/");
  await expect(page).toHaveURL(/\/login\/\?next=%2Fmetrics%2F$/);
  await expect(page.getByRole("heading", { name: "Sign in to Prism" })).toBeVisible();

  // The same answer for a wrong password and an unknown account.
  await signIn(page, ADMIN_EMAIL, "not-the-password-0000");
  await expect(page.getByTestId("login-error")).toHaveText("Wrong e-mail or password.");
  await signIn(page, "nobody-here@example.com", "not-the-password-0000");
  await expect(page.getByTestId("login-error")).toHaveText("Wrong e-mail or password.");

  await signIn(page, ADMIN_EMAIL, ADMIN_PASSWORD);
  await expect(page).toHaveURL(/\/metrics\/$/);
  await expect(page.getByTestId("signed-in-user")).toContainText(ADMIN_EMAIL);
  await expect(page.getByTestId("signed-in-user")).toContainText("admin");
  await expectNoSecretsInStorage(page);

  // Chat (a state change: it carries the session's CSRF token).
  await page.getByRole("link", { name: "Chat" }).click();
  const reply = await send(page, "Hello from a signed-in admin", DEMO_MODEL);
  await expect(reply).toHaveAttribute("data-status", "complete", { timeout: 20_000 });

  // The metrics of the chosen project: the query API is asked for that project, and the URL keeps it.
  await page.getByRole("link", { name: "Metrics" }).click();
  await expect(page.getByRole("heading", { name: "Metrics" })).toBeVisible();
  const asked = page.waitForRequest((r) => r.url().includes("/api/metrics/summary") && r.url().includes("project=default"));
  await page.locator("#nav-project").selectOption("default");
  await asked;
  await expect(page).toHaveURL(/[?&]project=default/);
  await page.getByRole("link", { name: "Logs" }).click();
  await expect(page).toHaveURL(/\/logs\/\?project=default/);
  await expect(page.locator("#nav-project")).toHaveValue("default");

  // Sign out: the sign-in page, and the pages ask for a sign-in again.
  await page.getByTestId("signed-in-user").click();
  await page.getByRole("button", { name: "Log out", exact: true }).click();
  await expect(page).toHaveURL(/\/login\/$/);
  await page.goto("/");
  await expect(page).toHaveURL(/\/login\//);
  expect((await page.context().cookies()).find((c) => c.name === "prism_session")).toBeUndefined();
});

test("an admin creates an ingestion key: shown once with its prefix listed, then revoked", async ({ page }) => {
  await page.goto("/admin/keys/");
  await expect(page).toHaveURL(/\/login\//);
  await signIn(page, ADMIN_EMAIL, ADMIN_PASSWORD);
  await expect(page.getByRole("heading", { name: "API keys" })).toBeVisible();

  const name = `e2e key ${Date.now()}`;
  await page.getByLabel("Kind").selectOption("ingest");
  await page.getByLabel("Name", { exact: true }).fill(name);
  await page.locator("#key-project").selectOption("default");
  await page.getByRole("button", { name: "Create", exact: true }).click();
  const shown = page.getByTestId("shown-once");
  await expect(shown).toHaveText(/^prism_ik_[A-Za-z0-9_-]+$/);
  const token = (await shown.textContent()) as string;

  const row = page.locator("tr", { hasText: name });
  await expect(row).toContainText("default");
  await expect(row).toContainText("active");
  const prefix = (await row.locator("code").textContent()) as string;
  expect(token.startsWith(prefix)).toBe(true);
  expect(prefix.length).toBeLessThan(token.length);

  // Once: gone after Done, and not on the page when it is opened again.
  await page.getByRole("button", { name: "Done" }).click();
  await page.reload();
  await expect(page.locator("tr", { hasText: name })).toBeVisible();
  expect(await page.content()).not.toContain(token);
  await expectNoSecretsInStorage(page);

  page.once("dialog", (d) => void d.accept());
  await page.locator("tr", { hasText: name }).getByRole("button", { name: "Revoke" }).click();
  await expect(page.locator("tr", { hasText: name })).toContainText("revoked");
});
