// @vitest-environment jsdom
import { cleanup, fireEvent, render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { Composer } from "@/components/Composer";
import { Markdown } from "@/components/Markdown";
import { MessageItem } from "@/components/MessageView";
import { ModelPicker } from "@/components/ModelPicker";

afterEach(cleanup);

describe("Markdown", () => {
  it("renders GitHub-flavoured Markdown", () => {
    const { container } = render(<Markdown text={"**bold** and `code`\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n- [x] done"} />);
    expect(container.querySelector("strong")?.textContent).toBe("bold");
    expect(container.querySelector("code")?.textContent).toBe("code");
    expect(container.querySelector("table")).not.toBeNull();
    expect(container.querySelector('input[type="checkbox"]')).not.toBeNull();
  });

  it("never renders raw HTML or script links", () => {
    const { container } = render(
      <Markdown text={'<img src=x onerror="alert(1)"><script>alert(2)</script>\n\n[click](javascript:alert(3)) <b>x</b>'} />,
    );
    expect(container.querySelector("img")).toBeNull();
    expect(container.querySelector("script")).toBeNull();
    expect(container.querySelector("b")).toBeNull();
    expect(container.innerHTML).not.toContain("onerror");
    const link = container.querySelector("a");
    expect(link?.getAttribute("href") ?? "").not.toContain("javascript");
  });

  it("opens links elsewhere without referrer", () => {
    const { container } = render(<Markdown text={"[docs](https://example.com)"} />);
    const a = container.querySelector("a")!;
    expect(a.getAttribute("target")).toBe("_blank");
    expect(a.getAttribute("rel")).toContain("noopener");
  });
});

describe("Composer", () => {
  function setup(value: string, streaming = false) {
    const onSend = vi.fn();
    const onStop = vi.fn();
    render(<Composer value={value} onChange={() => undefined} onSend={onSend} onStop={onStop} streaming={streaming} canSend />);
    return { onSend, onStop, box: screen.getByLabelText("Message") };
  }

  it("sends on Enter, not on Shift+Enter", () => {
    const { onSend, box } = setup("hello");
    fireEvent.keyDown(box, { key: "Enter", shiftKey: true });
    expect(onSend).not.toHaveBeenCalled();
    fireEvent.keyDown(box, { key: "Enter" });
    expect(onSend).toHaveBeenCalledTimes(1);
  });

  it("does not send blank text", () => {
    const { onSend, box } = setup("   ");
    fireEvent.keyDown(box, { key: "Enter" });
    expect(onSend).not.toHaveBeenCalled();
    expect(screen.getByRole("button", { name: "Send" })).toHaveProperty("disabled", true);
  });

  it("offers Stop while a reply streams", () => {
    const { onSend, onStop, box } = setup("hello", true);
    fireEvent.keyDown(box, { key: "Enter" });
    expect(onSend).not.toHaveBeenCalled();
    fireEvent.click(screen.getByRole("button", { name: "Stop" }));
    expect(onStop).toHaveBeenCalled();
  });
});

describe("ModelPicker", () => {
  it("groups models by provider and labels the demo model", () => {
    render(
      <ModelPicker
        value="demo/prism-demo"
        onChange={() => undefined}
        models={{
          default_model: "openai/gpt-4o-mini",
          providers: [
            { provider: "openai", label: "OpenAI", error: null, state: "working", models: [{ id: "openai/gpt-4o-mini", name: "gpt-4o-mini", label: "gpt-4o-mini", demo: false }] },
            { provider: "openai_compatible", label: "Local", error: "could not list models", state: "working", models: [] },
            { provider: "demo", label: "Demo", error: null, state: "working", models: [{ id: "demo/prism-demo", name: "prism-demo", label: "Offline demo", demo: true }] },
          ],
        }}
      />,
    );
    const select = screen.getByLabelText("Model") as HTMLSelectElement;
    const groups = [...select.querySelectorAll("optgroup")].map((g) => g.label);
    expect(groups).toEqual(["OpenAI", "Demo (demo)"]);
    expect(select.value).toBe("demo/prism-demo");
    expect(screen.getByRole("option", { name: /Demo: Offline demo/ })).toBeTruthy();
    expect(screen.getByText(/could not list models/)).toBeTruthy();
  });
});

describe("MessageItem", () => {
  const base = { id: "m", role: "assistant" as const, created_at: "2026-01-01T00:00:00Z", model: "demo/prism-demo" };

  it("shows a stopped reply's partial text and stats", () => {
    render(<MessageItem m={{ ...base, content: "partial", status: "cancelled", latency_ms: 900, ttft_ms: 50 }} />);
    expect(screen.getByTestId("reply-status").textContent).toContain("Stopped");
    expect(screen.getByTestId("reply-text").textContent).toContain("partial");
    expect(screen.getByTestId("reply-stats").textContent).toContain("900 ms");
  });

  it("shows an error with its message, code and what to do", () => {
    render(
      <MessageItem
        m={{ ...base, content: "", status: "error", error: { code: "provider_rate_limited", message: "Slow down (429)" } }}
      />,
    );
    const alert = screen.getByRole("alert");
    expect(alert.textContent).toContain("Slow down (429)");
    expect(alert.textContent).toContain("provider_rate_limited");
    expect(alert.textContent).toContain("wait a moment");
  });

  it("shows user text as plain text", () => {
    render(<MessageItem m={{ ...base, role: "user", content: "<b>not bold</b>", status: "complete" }} />);
    expect(screen.getByText("<b>not bold</b>")).toBeTruthy();
  });
});
