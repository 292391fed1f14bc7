import { defineConfig } from "@playwright/test";
import { SIGNED_IN_STATE } from "./e2e/support";

// The stack (static site, chat API, fake provider) is started by tests/e2e/test_web.py, which
// passes its URLs here; run that file with pytest, or start the stack with
// `python -m tests.e2e.test_web` and export what it prints. The global setup signs the bootstrap
// admin in through the form once; every spec starts signed in as that admin (06-identity signs in
// itself, from a browser with no session).
const webUrl = process.env.PRISM_WEB_URL ?? "http://127.0.0.1:3001";

export default defineConfig({
  testDir: "./e2e",
  // One backend, shared state: the specs run one at a time, in file order.
  workers: 1,
  fullyParallel: false,
  retries: 0,
  timeout: 45_000,
  expect: { timeout: 10_000 },
  reporter: [["list"]],
  outputDir: "test-results",
  globalSetup: "./e2e/global-setup.ts",
  use: {
    baseURL: webUrl,
    storageState: SIGNED_IN_STATE,
    headless: true,
    trace: "off",
    screenshot: "only-on-failure",
    launchOptions: {
      executablePath: process.env.PRISM_CHROMIUM ?? "/usr/bin/chromium",
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
      ],
    },
  },
});
