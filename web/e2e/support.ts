import { expect, test as base, type APIRequestContext, type Locator, type Page } from "@playwright/test";
import { mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** The fake OpenAI-compatible provider's base URL (with /v1). */
export const FAKE = process.env.PRISM_FAKE_URL ?? "http://127.0.0.1:8199/v1";

/** Where tests/e2e/test_web.py wants the run's files: the signed-in browser state, the storage dumps. */
const STATE_DIR = process.env.PRISM_E2E_STATE_DIR ?? join(tmpdir(), "prism-e2e");
/** The browser state of the bootstrap admin signed in through the form (made by global-setup.ts). */
export const SIGNED_IN_STATE = join(STATE_DIR, "signed-in.json");
/** Where every test leaves what its page kept in the browser (test_web.py greps them for secrets). */
export const STORAGE_DUMPS = join(STATE_DIR, "storage");
/** A browser with no session (06-identity signs in through the form itself). */
export const SIGNED_OUT = { cookies: [], origins: [] };

/** What the page's origin keeps in the browser: localStorage, sessionStorage, every IndexedDB
 * database's records, and the cookies the page can read. */
export async function browserStorage(page: Page): Promise<Record<string, unknown>> {
  return page.evaluate(async () => {
    const idb: Record<string, unknown> = {};
    for (const info of await indexedDB.databases()) {
      if (!info.name) continue;
      const db = await new Promise<IDBDatabase>((ok, fail) => {
        const open = indexedDB.open(info.name as string);
        open.onsuccess = () => ok(open.result);
        open.onerror = () => fail(open.error);
      });
      for (const store of Array.from(db.objectStoreNames)) {
        idb[`${info.name}/${store}`] = await new Promise((ok, fail) => {
          const all = db.transaction(store).objectStore(store).getAll();
          all.onsuccess = () => ok(all.result);
          all.onerror = () => fail(all.error);
        });
      }
      db.close();
    }
    return { localStorage: { ...localStorage }, sessionStorage: { ...sessionStorage }, indexedDB: idb,
             cookie: document.cookie }; // prettier-ignore
  });
}

/**
 * ``test`` of every spec: ``api`` is a request context on the web origin signed in as the admin
 * (the session cookie, and ``X-CSRF-Token`` from ``GET /api/auth/session`` on every request); after
 * each test its page's browser storage is written to ``STORAGE_DUMPS``.
 */
export const test = base.extend<{ api: APIRequestContext; storageDump: void }>({
  api: async ({ playwright, baseURL }, use) => {
    const probe = await playwright.request.newContext({ baseURL, storageState: SIGNED_IN_STATE });
    const session = await probe.get("/api/auth/session");
    expect(session.status(), await session.text()).toBe(200);
    const csrf = (await session.json()).csrf_token as string;
    await probe.dispose();
    const api = await playwright.request.newContext({
      baseURL,
      storageState: SIGNED_IN_STATE,
      extraHTTPHeaders: { "X-CSRF-Token": csrf },
    });
    await use(api);
    await api.dispose();
  },
  storageDump: [
    async ({ page, baseURL }, use, testInfo) => {
      await use();
      if (!baseURL || !page.url().startsWith(baseURL)) return; // never reached the app
      mkdirSync(STORAGE_DUMPS, { recursive: true });
      const name = `${testInfo.titlePath.join(" - ").replace(/[^\w.-]+/g, "_").slice(0, 150)}-${testInfo.retry}.json`;
      writeFileSync(join(STORAGE_DUMPS, name), JSON.stringify(await browserStorage(page)));
    },
    { auto: true },
  ],
});

export const FAKE_MODEL = "openai_compatible/fake-model"; // a short reply (~35 words), 80 ms between words
export const LONG_MODEL = "openai_compatible/fake-long"; // 200 words, 100 ms apart
export const ERROR_MODEL = "openai_compatible/fake-error"; // the provider answers 401
export const DEMO_MODEL = "demo/prism-demo";

/** Point the openai_compatible provider at the fake server (keeps a stored key); ``request``: ``api``. */
export async function configureFake(request: APIRequestContext): Promise<void> {
  const resp = await request.put("/api/settings/providers/openai_compatible", {
    data: { base_url: FAKE },
  });
  expect(resp.status(), await resp.text()).toBe(200);
}

export async function storedMessages(request: APIRequestContext, id: string) {
  const resp = await request.get(`/api/conversations/${id}`);
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

/** The first admin (tests/e2e/test_web.py passes the identity API's bootstrap admin). */
export const ADMIN_EMAIL = process.env.PRISM_ADMIN_EMAIL ?? "";
export const ADMIN_PASSWORD = process.env.PRISM_ADMIN_PASSWORD ?? "";
export const IDENTITY_MISSING =
  "PRISM_ADMIN_EMAIL / PRISM_ADMIN_PASSWORD are not set: the specs sign in as the identity API's bootstrap admin " +
  "(run them through tests/e2e/test_web.py, or start its stack with `python -m tests.e2e.test_web`)";

/** Sign in through the form (on the sign-in page already, or sent there). */
export async function signIn(page: Page, email: string, password: string): Promise<void> {
  await page.getByLabel("E-mail", { exact: true }).fill(email);
  await page.getByLabel("Password", { exact: true }).fill(password);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
}
