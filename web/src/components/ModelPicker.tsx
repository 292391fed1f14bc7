"use client";

import type { ModelsResponse } from "@/lib/api";

interface Props {
  models: ModelsResponse | null;
  value: string;
  onChange: (id: string) => void;
  disabled?: boolean;
  error?: string | null;
}

/** The model for the next message, grouped by provider; the offline demo model says so. */
export function ModelPicker({ models, value, onChange, disabled, error }: Props) {
  const groups = models?.providers ?? [];
  const empty = groups.every((g) => g.models.length === 0);
  const problems = groups.filter((g) => g.error);
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
            <optgroup key={g.provider} label={g.models.some((m) => m.demo) ? `${g.label} (demo)` : g.label}>
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
      {problems.map((g) => (
        <p key={g.provider} className="field-note">
          {g.label}: {g.error}
        </p>
      ))}
    </div>
  );
}
