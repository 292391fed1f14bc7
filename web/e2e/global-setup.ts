import { chromium, expect, type FullConfig } from "@playwright/test";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { ADMIN_EMAIL, ADMIN_PASSWORD, IDENTITY_MISSING, SIGNED_IN_STATE, signIn } from "./support";

/** Signs the bootstrap admin in once, through the real form, and keeps the browser's state (the
 * HttpOnly session cookie: the UI fetches its CSRF token from /api/auth/session itself) for the specs. */
export default async function globalSetup(config: FullConfig): Promise<void> {
  if (!ADMIN_EMAIL || !ADMIN_PASSWORD) throw new Error(IDENTITY_MISSING);
  const use = config.projects[0].use;
  const browser = await chromium.launch(use.launchOptions);
  try {
    const page = await browser.newPage({ baseURL: use.baseURL });
    await page.goto("/login/");
    await signIn(page, ADMIN_EMAIL, ADMIN_PASSWORD);
    await expect(page.getByTestId("signed-in-user")).toContainText(ADMIN_EMAIL, { timeout: 15_000 });
    mkdirSync(dirname(SIGNED_IN_STATE), { recursive: true });
    await page.context().storageState({ path: SIGNED_IN_STATE });
  } finally {
    await browser.close();
  }
}
