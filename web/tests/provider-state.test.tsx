// @vitest-environment jsdom
import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { AppProvider } from "@/components/AppContext";
import { MessageItem } from "@/components/MessageView";
import { ModelPicker } from "@/components/ModelPicker";
import { ProviderCard } from "@/components/ProviderCard";
import type { Provider } from "@/lib/api";

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const REASON = "The provider refused the key (HTTP 401)";

function provider(over: Partial<Provider>): Provider {
  return {
    id: "openai",
    label: "OpenAI",
    configured: true,
    key_required: true,
    base_url_required: false,
    has_key: true,
    key_last4: "abcd",
    base_url: null,
    models: [],
    updated_at: "2026-01-01T00:00:00Z",
    state: "working",
    reason: null,
    checked_at: "2026-01-01T00:00:00Z",
    ...over,
  };
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}

/** The card inside the app's context, with the chat API answering `put` to a PUT. */
async function renderCard(p: Provider, put?: Provider) {
  const calls: string[] = [];
  vi.stubGlobal(
    "fetch",
    vi.fn(async (url: string, init?: RequestInit) => {
      calls.push(`${init?.method ?? "GET"} ${url}`);
      if (String(url).endsWith("/config.json")) return json(200, { chatApiUrl: "http://chat" });
      return json(200, put ?? p);
    }),
  );
  const onSaved = vi.fn(async () => undefined);
  render(
    <AppProvider>
      <ProviderCard p={p} canStoreKeys onSaved={onSaved} />
    </AppProvider>,
  );
  await screen.findByTestId("provider-state");
  return { calls, onSaved };
}

describe("ProviderCard state", () => {
  it("shows a working provider as working, without a reason", async () => {
    await renderCard(provider({}));
    expect(screen.getByTestId("provider-state").textContent).toBe("Working");
    expect(screen.queryByTestId("provider-reason")).toBeNull();
  });

  it("shows a failing provider with the reason", async () => {
    await renderCard(provider({ state: "failing", reason: REASON }));
    expect(screen.getByTestId("provider-state").textContent).toBe("Failing");
    expect(screen.getByTestId("provider-reason").textContent).toBe(REASON);
  });

  it("shows an unconfigured provider as not configured", async () => {
    await renderCard(provider({ configured: false, has_key: false, key_last4: null, state: "not_configured" }));
    expect(screen.getByTestId("provider-state").textContent).toBe("Not configured");
    expect(screen.queryByTestId("provider-reason")).toBeNull();
  });

  it("says after saving that the key was stored but the connection check failed, and why", async () => {
    const { calls, onSaved } = await renderCard(
      provider({ configured: false, has_key: false, state: "not_configured" }),
      provider({ state: "failing", reason: REASON }),
    );
    fireEvent.change(screen.getByLabelText("API key"), { target: { value: "sk-bad-key-0002" } });
    fireEvent.click(screen.getByRole("button", { name: "Save" }));
    await waitFor(() => expect(onSaved).toHaveBeenCalled());
    expect(screen.getByRole("alert").textContent).toBe(`Saved, but the connection check failed: ${REASON}`);
    expect(calls).toContain("PUT http://chat/api/settings/providers/openai");
  });

  it("says after saving that the connection works", async () => {
    const { onSaved } = await renderCard(provider({ configured: false, has_key: false, state: "not_configured" }));
    fireEvent.change(screen.getByLabelText("API key"), { target: { value: "sk-good-key-0001" } });
    fireEvent.click(screen.getByRole("button", { name: "Save" }));
    await waitFor(() => expect(onSaved).toHaveBeenCalled());
    expect(screen.getByRole("status").textContent).toBe("Saved. The connection works.");
  });
});

describe("ModelPicker with a failing provider", () => {
  it("says next to its group and under the picker why the provider fails", () => {
    render(
      <ModelPicker
        value="openai/gpt-4o"
        onChange={() => undefined}
        models={{
          default_model: "openai/gpt-4o",
          providers: [
            {
              provider: "openai",
              label: "OpenAI",
              error: null,
              state: "failing",
              reason: REASON,
              models: [{ id: "openai/gpt-4o", name: "gpt-4o", label: "gpt-4o", demo: false }],
            },
          ],
        }}
      />,
    );
    const group = document.querySelector("optgroup");
    expect(group?.label).toBe(`OpenAI (failing: ${REASON})`);
    expect(screen.getByTestId("provider-failing").textContent).toContain(`OpenAI is not working: ${REASON}`);
  });
});

describe("Retry on a failed reply", () => {
  const failed = {
    id: "r",
    role: "assistant" as const,
    created_at: "2026-01-01T00:00:00Z",
    model: "openai/gpt-4o",
    content: "",
    status: "error" as const,
    error: { code: "provider_unavailable", message: "OpenAI answered 500 Internal Server Error" },
  };

  it("re-sends through onRetry", () => {
    const onRetry = vi.fn();
    render(<MessageItem m={failed} onRetry={onRetry} />);
    fireEvent.click(screen.getByRole("button", { name: "Retry" }));
    expect(onRetry).toHaveBeenCalledTimes(1);
  });

  it("is not offered without onRetry, nor on a reply that did not fail", () => {
    render(<MessageItem m={failed} />);
    expect(screen.queryByRole("button", { name: "Retry" })).toBeNull();
    cleanup();
    render(<MessageItem m={{ ...failed, status: "complete", content: "ok", error: null }} onRetry={() => undefined} />);
    expect(screen.queryByRole("button", { name: "Retry" })).toBeNull();
  });
});
