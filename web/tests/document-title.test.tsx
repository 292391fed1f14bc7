// @vitest-environment jsdom
import { cleanup, renderHook } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import { useDocumentTitle } from "@/hooks/useDocumentTitle";

afterEach(cleanup);

describe("useDocumentTitle", () => {
  it("shows the conversation's title in the tab, follows renames and restores the title after", () => {
    document.title = "Prism chat";
    const { rerender, unmount } = renderHook(({ title }) => useDocumentTitle(title), {
      initialProps: { title: "Trip to Lisbon" as string | null },
    });
    expect(document.title).toBe("Trip to Lisbon · Prism");
    rerender({ title: "Lisbon, day 2" });
    expect(document.title).toBe("Lisbon, day 2 · Prism");
    rerender({ title: null });
    expect(document.title).toBe("Prism");
    unmount();
    expect(document.title).toBe("Prism chat");
  });
});
