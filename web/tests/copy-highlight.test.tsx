// @vitest-environment jsdom
import { act, cleanup, fireEvent, render, screen } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ConversationList } from "@/components/ConversationList";
import { CopyButton } from "@/components/CopyButton";
import { Markdown } from "@/components/Markdown";
import { MessageItem } from "@/components/MessageView";
import type { Message } from "@/lib/api";

// Issue 14 §5: copy buttons on messages and code blocks, highlighted code, the phone drawer.

const writeText = vi.fn<(text: string) => Promise<void>>();

beforeEach(() => {
  writeText.mockReset().mockResolvedValue(undefined);
  Object.defineProperty(navigator, "clipboard", { value: { writeText }, configurable: true });
});
afterEach(cleanup);

describe("CopyButton", () => {
  it("copies its text and says so", async () => {
    render(<CopyButton text="hello there" label="Copy reply" />);
    const button = screen.getByRole("button", { name: "Copy reply" });
    await act(async () => fireEvent.click(button));
    expect(writeText).toHaveBeenCalledWith("hello there");
    expect(button).toHaveProperty("ariaLabel", "Copied");
    expect(button.getAttribute("data-state")).toBe("copied");
  });

  it("says when the clipboard refuses", async () => {
    writeText.mockRejectedValue(new DOMException("denied", "NotAllowedError"));
    render(<CopyButton text="x" />);
    const button = screen.getByRole("button", { name: "Copy" });
    await act(async () => fireEvent.click(button));
    expect(button.getAttribute("data-state")).toBe("failed");
    expect(button.getAttribute("aria-label")).toBe("Could not copy");
  });
});

describe("code blocks", () => {
  it("highlights a registered language with highlight.js classes", () => {
    const { container } = render(<Markdown text={"```python\ndef add(a, b):\n    return a + 1  # one\n```"} />);
    const code = container.querySelector("pre code")!;
    expect(code.className).toContain("hljs");
    expect(code.className).toContain("language-python");
    expect(code.querySelector(".hljs-keyword")?.textContent).toBe("def");
    expect(code.querySelector(".hljs-comment")?.textContent).toBe("# one");
    expect(code.textContent).toBe("def add(a, b):\n    return a + 1  # one");
  });

  it("leaves an unknown language plain and escapes the source", () => {
    const { container } = render(<Markdown text={"```cobol\n<img src=x onerror=alert(1)>\n```"} />);
    const code = container.querySelector("pre code")!;
    expect(code.querySelector("span")).toBeNull();
    expect(container.querySelector("img")).toBeNull();
    expect(code.textContent).toBe("<img src=x onerror=alert(1)>");
  });

  it("escapes HTML inside a highlighted block", () => {
    const { container } = render(<Markdown text={'```javascript\nconst s = "<script>alert(1)</script>";\n```'} />);
    expect(container.querySelector("script")).toBeNull();
    expect(container.querySelector(".hljs-string")?.textContent).toBe('"<script>alert(1)</script>"');
  });

  it("has a Copy button that copies the code alone", async () => {
    render(<Markdown text={"Run this:\n\n```bash\nls -la\n```\n\nDone."} />);
    await act(async () => fireEvent.click(screen.getByRole("button", { name: "Copy code" })));
    expect(writeText).toHaveBeenCalledWith("ls -la");
  });
});

describe("message copy", () => {
  const base: Message = {
    id: "m1",
    role: "assistant",
    content: "The **answer**",
    status: "complete",
    model: "demo/prism-demo",
    created_at: "2026-01-01T00:00:00Z",
  } as Message;

  it("copies a finished reply's Markdown source", async () => {
    render(<MessageItem m={base} />);
    await act(async () => fireEvent.click(screen.getByRole("button", { name: "Copy reply" })));
    expect(writeText).toHaveBeenCalledWith("The **answer**");
  });

  it("offers no copy while the reply streams", () => {
    render(<MessageItem m={{ ...base, status: "streaming" }} />);
    expect(screen.queryByRole("button", { name: "Copy reply" })).toBeNull();
  });

  it("copies a user message, whose text stays its own", async () => {
    render(<MessageItem m={{ ...base, role: "user", content: "my question" }} />);
    expect(screen.getByRole("article", { name: "You" }).textContent).toBe("my question");
    await act(async () => fireEvent.click(screen.getByRole("button", { name: "Copy message" })));
    expect(writeText).toHaveBeenCalledWith("my question");
  });
});

describe("ConversationList as a drawer", () => {
  const props = {
    items: [{ id: "c1", title: "First", created_at: "", updated_at: "" }] as never,
    currentId: null,
    hasMore: false,
    loading: false,
    error: null,
    onLoadMore: () => {},
    onRename: async () => {},
    onDelete: () => {},
    onNew: () => {},
    id: "conversation-list",
  };

  it("is hidden when closed", () => {
    render(<ConversationList {...props} open={false} drawer onClose={() => {}} />);
    expect(screen.queryByRole("complementary", { name: "Conversations" })).toBeNull();
  });

  it("takes the focus when opened; Esc and choosing a conversation close it", () => {
    const onClose = vi.fn();
    render(<ConversationList {...props} open drawer onClose={onClose} />);
    expect(document.activeElement?.textContent).toContain("New conversation");
    const escape = fireEvent.keyDown(document.activeElement!, { key: "Escape" });
    expect(escape).toBe(false); // handled: the Composer's Esc (stop the reply) leaves it be
    expect(onClose).toHaveBeenCalledTimes(1);
    fireEvent.click(screen.getByRole("link", { name: "First" }));
    expect(onClose).toHaveBeenCalledTimes(2);
  });

  it("beside the chat (wide screen), Esc and choosing leave it open", () => {
    const onClose = vi.fn();
    render(<ConversationList {...props} open drawer={false} onClose={onClose} />);
    fireEvent.keyDown(screen.getByRole("link", { name: "First" }), { key: "Escape" });
    fireEvent.click(screen.getByRole("link", { name: "First" }));
    expect(onClose).not.toHaveBeenCalled();
  });
});
