import { expect, type APIRequestContext, type Locator, type Page } from "@playwright/test";

/** The chat API (for set-up and for checking what the UI stored). */
export const CHAT = (process.env.PRISM_CHAT_URL ?? "http://127.0.0.1:8100").replace(/\/+$/, "");
/** The fake OpenAI-compatible provider's base URL (with /v1). */
export const FAKE = process.env.PRISM_FAKE_URL ?? "http://127.0.0.1:8199/v1";

export const FAKE_MODEL = "openai_compatible/fake-model"; // a short reply (~35 words), 80 ms between words
export const LONG_MODEL = "openai_compatible/fake-long"; // 200 words, 100 ms apart
export const ERROR_MODEL = "openai_compatible/fake-error"; // the provider answers 401
export const DEMO_MODEL = "demo/prism-demo";

/** Point the openai_compatible provider at the fake server (keeps a stored key). */
export async function configureFake(request: APIRequestContext): Promise<void> {
  const resp = await request.put(`${CHAT}/api/settings/providers/openai_compatible`, {
    data: { base_url: FAKE },
  });
  expect(resp.status(), await resp.text()).toBe(200);
}

export async function storedMessages(request: APIRequestContext, id: string) {
  const resp = await request.get(`${CHAT}/api/conversations/${id}`);
  expect(resp.status()).toBe(200);
  return (await resp.json()).messages as {
    role: string;
    content: string;
    status: string;
    model: string | null;
    error: { code: string | null; message: string | null } | null;
  }[];
}

export function conversationId(page: Page): string {
  const id = new URL(page.url()).searchParams.get("id");
  expect(id, `no ?id= in ${page.url()}`).toBeTruthy();
  return id as string;
}

/** Pick a model and send a message with the Enter key. */
export async function send(page: Page, text: string, model?: string): Promise<Locator> {
  if (model) await page.getByLabel("Model", { exact: true }).selectOption(model);
  const before = await page.locator('article[data-role="assistant"]').count();
  const box = page.getByLabel("Message", { exact: true });
  await box.fill(text);
  await box.press("Enter");
  const reply = page.locator('article[data-role="assistant"]').nth(before);
  await expect(reply).toBeVisible();
  return reply;
}

/** The first admin (tests/e2e/test_web.py passes the identity API's bootstrap admin); unset: no identity API. */
export const ADMIN_EMAIL = process.env.PRISM_ADMIN_EMAIL ?? "";
export const ADMIN_PASSWORD = process.env.PRISM_ADMIN_PASSWORD ?? "";
export const IDENTITY_MISSING =
  "needs the identity API behind the web server: tests/e2e/test_web.py must start functions/identity (upstream " +
  '"identity" of the StaticServer), wire require() into the chat and query APIs, and pass PRISM_ADMIN_EMAIL / ' +
  "PRISM_ADMIN_PASSWORD of the bootstrap admin to Playwright";

/** Sign in through the form (on the sign-in page already, or sent there). */
export async function signIn(page: Page, email: string, password: string): Promise<void> {
  await page.getByLabel("E-mail", { exact: true }).fill(email);
  await page.getByLabel("Password", { exact: true }).fill(password);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
}
