import { expect } from "@playwright/test";
import { test } from "./support";

test("the list pages with Load more; rename and delete", async ({ page, api }) => {
  const ids: string[] = [];
  for (let i = 1; i <= 25; i++) {
    const resp = await api.post(`/api/conversations`, { data: { title: `Bulk ${String(i).padStart(2, "0")}` } });
    expect(resp.status()).toBe(201);
    ids.push((await resp.json()).id);
  }
  await page.goto("/");
  const list = page.getByRole("complementary", { name: "Conversations" });
  await expect(list.getByRole("link", { name: "Bulk 25" })).toBeVisible();
  await expect(list.getByRole("link", { name: "Bulk 01" })).toHaveCount(0);
  await list.getByRole("button", { name: "Load more" }).click();
  await expect(list.getByRole("link", { name: "Bulk 01" })).toBeVisible();
  await expect(list.getByRole("link", { name: "Bulk 25" })).toHaveCount(1);

  // Rename with the keyboard.
  await list.getByRole("button", { name: "Rename “Bulk 25”" }).click();
  const input = list.getByLabel("New title");
  await input.fill("Renamed conversation");
  await input.press("Enter");
  await expect(list.getByRole("link", { name: "Renamed conversation" })).toBeVisible();
  const renamed = await (await api.get(`/api/conversations/${ids[24]}`)).json();
  expect(renamed.title).toBe("Renamed conversation");

  // Delete the open conversation: back to a new one.
  await list.getByRole("link", { name: "Renamed conversation" }).click();
  await expect(page.locator("#conversation-title")).toHaveText("Renamed conversation");
  page.once("dialog", (d) => void d.accept());
  await list.getByRole("button", { name: "Delete “Renamed conversation”" }).click();
  await expect(list.getByRole("link", { name: "Renamed conversation" })).toHaveCount(0);
  await expect(page).not.toHaveURL(/id=/);
  await expect(page.locator("#conversation-title")).toHaveText("New conversation");
  expect((await api.get(`/api/conversations/${ids[24]}`)).status()).toBe(404);
});
