import { defineConfig } from "@playwright/test";

// The stack (static site, chat API, fake provider) is started by tests/e2e/test_web.py, which
// passes its URLs here; run that file with pytest, or start the stack with
// `python -m tests.e2e.test_web` and export the URLs it prints.
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
  use: {
    baseURL: webUrl,
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
