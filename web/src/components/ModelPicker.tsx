"use client";

import Link from "next/link";
import type { ModelGroup, ModelsResponse } from "@/lib/api";

interface Props {
  models: ModelsResponse | null;
  value: string;
  onChange: (id: string) => void;
  disabled?: boolean;
  error?: string | null;
}

function groupLabel(g: ModelGroup): string {
  if (g.models.some((m) => m.demo)) return `${g.label} (demo)`;
  return g.state === "failing" ? `${g.label} (failing: ${g.reason ?? "connection check failed"})` : g.label;
}

/** The model for the next message, grouped by provider; the offline demo model says so, and a
 * failing provider says why, next to its group and under the picker. */
export function ModelPicker({ models, value, onChange, disabled, error }: Props) {
  const groups = models?.providers ?? [];
  const empty = groups.every((g) => g.models.length === 0);
  const failing = groups.filter((g) => g.state === "failing");
  const problems = groups.filter((g) => g.error && g.state !== "failing");
  return (
    <div className="model-picker">
      <label htmlFor="model-picker">Model</label>
      <select
        id="model-picker"
        value={value}
        onChange={(e) => onChange(e.target.value)}
        disabled={disabled || !models || empty}
      >
        {!models && <option value="">{error ? "Models unavailable" : "Loading models…"}</option>}
        {models && empty && <option value="">No model available: add a provider in Settings</option>}
        {groups
          .filter((g) => g.models.length > 0)
          .map((g) => (
            <optgroup key={g.provider} label={groupLabel(g)}>
              {g.models.map((m) => (
                <option key={m.id} value={m.id}>
                  {m.demo ? `Demo: ${m.label}` : m.label}
                </option>
              ))}
            </optgroup>
          ))}
      </select>
      {error && (
        <p className="field-error" role="alert">
          {error}
        </p>
      )}
      {failing.map((g) => (
        <div key={g.provider} className="alert" role="alert" data-testid="provider-failing" data-provider={g.provider}>
          <strong>{g.label} is not working:</strong> {g.reason ?? "the connection check failed"}.{" "}
          <Link href="/settings/">Open Settings</Link>
        </div>
      ))}
      {problems.map((g) => (
        <p key={g.provider} className="field-note">
          {g.label}: {g.error}
        </p>
      ))}
    </div>
  );
}
