import { expect } from "@playwright/test";
import { test } from "./support";

// Issue 14 §4: /dashboards/ lists the saved dashboards; one opens (/dashboards/view/?id=), edits
// (window, filters, charts), renames, duplicates and deletes; names are unique per owner.

test("dashboards: create, open, edit, rename, duplicate, delete; a duplicate name is refused", async ({ page, api }) => {
  // A clean slate of this user's dashboards named like ours.
  for (const d of (await (await api.get("/api/dashboards")).json()) as { id: string; name: string }[]) {
    if (d.name.startsWith("E2E ")) await api.delete(`/api/dashboards/${d.id}`);
  }

  await page.goto("/dashboards/");
  await expect(page.getByRole("link", { name: "Dashboards", exact: true })).toHaveAttribute("aria-current", "page");
  await page.getByLabel("New dashboard name").fill("E2E Latency");
  await page.getByRole("button", { name: "New dashboard" }).click();

  // It opens as the metrics page with its own toolbar; the view is in the URL.
  await expect(page).toHaveURL(/\/dashboards\/view\/\?id=[0-9a-f-]{36}/);
  await expect(page.getByTestId("dashboard-title")).toHaveText("E2E Latency");
  const id = new URL(page.url()).searchParams.get("id") as string;
  await expect(page.getByTestId("chart-requests")).toBeVisible();

  // Edit: a 7-day window, errors only, without the cost chart; saved.
  await page.getByLabel("Window", { exact: true }).selectOption("7d");
  await expect(page).toHaveURL(/window=7d/);
  await page.getByLabel("Status", { exact: true }).selectOption("error");
  await expect(page).toHaveURL(/status=error/);
  await page.getByRole("checkbox", { name: "Cost (USD)" }).uncheck();
  await expect(page.getByTestId("chart-cost")).toHaveCount(0);
  await page.getByRole("button", { name: "Save dashboard" }).click();
  await expect(page.getByRole("status").filter({ hasText: "Saved." })).toBeVisible();
  const saved = await (await api.get(`/api/dashboards/${id}`)).json();
  expect(saved.spec.window).toBe("7d");
  expect(saved.spec.panels[0].filters.status).toEqual(["error"]);
  expect(saved.spec.panels.map((p: { title: string }) => p.title)).not.toContain("Cost (USD)");

  // Opened again without a view in the URL: the saved one.
  await page.goto(`/dashboards/view/?id=${id}`);
  await expect(page).toHaveURL(/window=7d/);
  await expect(page.getByLabel("Status", { exact: true })).toHaveValue("error");
  await expect(page.getByTestId("chart-cost")).toHaveCount(0);

  // The list: rename, then a duplicate name refused (whatever its case), duplicate, delete.
  await page.goto("/dashboards/");
  const row = page.locator('li[data-dashboard="E2E Latency"]');
  await expect(row).toContainText("Last 7 days");
  await row.getByRole("button", { name: "Rename E2E Latency" }).click();
  await page.getByLabel("New name for E2E Latency").fill("E2E Errors");
  await page.getByRole("button", { name: "Save name" }).click();
  await expect(page.locator('li[data-dashboard="E2E Errors"]')).toBeVisible();

  await page.getByLabel("New dashboard name").fill("e2e errors");
  await page.getByRole("button", { name: "New dashboard" }).click();
  await expect(page.locator(".field-error")).toContainText("already exists");
  await expect(page).toHaveURL(/\/dashboards\/$/);
  const taken = await api.post("/api/dashboards", { data: { name: "E2E ERRORS" } });
  expect(taken.status()).toBe(409);
  expect((await taken.json()).error.code).toBe("name_taken");

  await page.getByRole("button", { name: "Duplicate E2E Errors" }).click();
  const copy = page.locator('li[data-dashboard="E2E Errors (copy)"]');
  await expect(copy).toContainText("Last 7 days");
  page.once("dialog", (d) => void d.accept());
  await copy.getByRole("button", { name: "Delete E2E Errors (copy)" }).click();
  await expect(copy).toHaveCount(0);
  await expect(page.locator('li[data-dashboard="E2E Errors"]')).toBeVisible();
  await api.delete(`/api/dashboards/${id}`); // the metrics spec expects none
});

test("every project: the list names each dashboard's project, and a new one asks which project it goes in", async ({ page, api }) => {
  const slug = `e2e-dash-${Date.now().toString(36)}`;
  expect((await api.post("/api/projects", { data: { slug, name: "E2E Elsewhere" } })).status()).toBe(201);
  const there = await api.post("/api/dashboards", { data: { name: "E2E Theirs", project: slug } });
  expect(there.status()).toBe(201);
  const here = await api.post("/api/dashboards", { data: { name: "E2E Ours" } });
  expect(here.status()).toBe(201);
  const made = [(await there.json()).id as string, (await here.json()).id as string];
  try {
    // Every project (the nav's "All projects"): both listed, each labelled with its project.
    await page.goto("/dashboards/");
    await expect(page.locator("#nav-project")).toHaveValue("");
    const theirs = page.locator('li[data-dashboard="E2E Theirs"]');
    await expect(theirs.getByTestId("dashboard-project")).toHaveText(`E2E Elsewhere (${slug})`);
    await expect(page.locator('li[data-dashboard="E2E Ours"]').getByTestId("dashboard-project")).toHaveText(/\(default\)$|^default$/);

    // A new one asks which project (default first chosen): here, the other one.
    const pick = page.getByLabel("Project of the new dashboard");
    await expect(pick).toHaveValue("default");
    await pick.selectOption(slug);
    await page.getByLabel("New dashboard name").fill("E2E Picked");
    await page.getByRole("button", { name: "New dashboard" }).click();
    await expect(page).toHaveURL(/\/dashboards\/view\/\?id=[0-9a-f-]{36}/);
    const picked = await (await api.get(`/api/dashboards/${new URL(page.url()).searchParams.get("id")}`)).json();
    made.push(picked.id);
    expect(picked.project).toBe(slug);

    // One project's view: only its dashboards, unlabelled, and no project to pick.
    await page.goto(`/dashboards/?project=${slug}`);
    await expect(page.locator('li[data-dashboard="E2E Picked"]')).toBeVisible();
    await expect(theirs).toBeVisible();
    await expect(page.locator('li[data-dashboard="E2E Ours"]')).toHaveCount(0);
    await expect(page.getByTestId("dashboard-project")).toHaveCount(0);
    await expect(page.getByLabel("Project of the new dashboard")).toHaveCount(0);
  } finally {
    for (const id of made) await api.delete(`/api/dashboards/${id}`);
    await api.delete(`/api/projects/${slug}`);
  }
});

test("metrics: the window and filters are kept in the URL, so a link shares the view", async ({ page }) => {
  await page.goto("/metrics/?window=1h&model=gpt-4o&breakdown=1");
  await expect(page.getByLabel("Window", { exact: true })).toHaveValue("1h");
  await expect(page.getByLabel("Model", { exact: true })).toHaveValue("gpt-4o");
  await expect(page.getByRole("checkbox", { name: /Break down by/ })).toBeChecked();
  await expect(page.getByTestId("tile-requests").locator("dd")).toHaveText("12");
  await page.getByLabel("Model", { exact: true }).selectOption("");
  await expect(page).not.toHaveURL(/model=/);
  await expect(page).toHaveURL(/window=1h/);
  await page.reload();
  await expect(page.getByLabel("Window", { exact: true })).toHaveValue("1h");
});

test("a dashboard that does not exist says so", async ({ page }) => {
  await page.goto("/dashboards/view/?id=00000000-0000-4000-8000-000000000000");
  await expect(page.locator(".page-status[role=alert]")).toContainText("does not exist");
});
