// @vitest-environment jsdom
import { cleanup, fireEvent, render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { FilterBar } from "@/components/FilterBar";

afterEach(cleanup);

describe("FilterBar", () => {
  it("shows the window, model, provider and status, and keeps a value not seen in the window", () => {
    const onModel = vi.fn();
    const onWindow = vi.fn();
    render(
      <FilterBar
        label="Metrics filters"
        idPrefix="m"
        window="24h"
        onWindow={onWindow}
        model={{ value: "gone-model", options: ["a", "b"], onChange: onModel }}
        provider={{ value: "", options: ["openai"], onChange: () => undefined }}
        status={{ value: "error", onChange: () => undefined }}
      />,
    );
    expect(screen.getByRole("form", { name: "Metrics filters" })).toBeTruthy();
    const model = screen.getByLabelText("Model") as HTMLSelectElement;
    expect([...model.options].map((o) => o.value)).toEqual(["", "a", "b", "gone-model"]);
    expect(model.value).toBe("gone-model");
    expect((screen.getByLabelText("Status") as HTMLSelectElement).value).toBe("error");
    expect(screen.getByLabelText("Provider").id).toBe("m-provider");
    fireEvent.change(model, { target: { value: "a" } });
    expect(onModel).toHaveBeenCalledWith("a");
    fireEvent.change(screen.getByLabelText("Window"), { target: { value: "7d" } });
    expect(onWindow).toHaveBeenCalledWith("7d");
  });

  it("leaves the provider out when the page does not filter by it", () => {
    render(
      <FilterBar
        label="Log filters"
        idPrefix="l"
        window="1h"
        onWindow={() => undefined}
        model={{ value: "", options: [], onChange: () => undefined }}
        status={{ value: "", onChange: () => undefined }}
      />,
    );
    expect(screen.queryByLabelText("Provider")).toBeNull();
    expect(screen.getByLabelText("Window").id).toBe("l-window");
  });
});
