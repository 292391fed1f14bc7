"use client";

import type { FormEvent, ReactNode } from "react";
import type { EventStatus } from "@/lib/query/types";
import { WINDOW_LABELS, WINDOWS, type WindowName } from "@/lib/query/windows";

const STATUSES: EventStatus[] = ["ok", "error", "cancelled"];

/** One choice of the bar: its value, what was seen in the window, and what to do on a change. */
export interface FilterChoice {
  value: string;
  options: string[];
  onChange: (value: string) => void;
}

interface FilterBarProps {
  /** The form's accessible name ("Metrics filters"). */
  label: string;
  /** Prefix of the fields' ids ("m" gives m-window, m-model, ...). */
  idPrefix: string;
  window: WindowName;
  onWindow: (w: WindowName) => void;
  model: FilterChoice;
  /** Left out when the page does not filter by provider. */
  provider?: FilterChoice;
  status: Omit<FilterChoice, "options">;
  onSubmit?: (e: FormEvent) => void;
  /** More fields and buttons, after the status. */
  children?: ReactNode;
}

/** The window / model / provider / status filters the metrics and logs pages share. */
export function FilterBar({ label, idPrefix, window, onWindow, model, provider, status, onSubmit, children }: FilterBarProps) {
  return (
    <form className="filters" aria-label={label} onSubmit={onSubmit ?? ((e) => e.preventDefault())}>
      <div className="field">
        <label htmlFor={`${idPrefix}-window`}>Window</label>
        <select id={`${idPrefix}-window`} value={window} onChange={(e) => onWindow(e.target.value as WindowName)}>
          {WINDOWS.map((w) => (
            <option key={w} value={w}>
              {WINDOW_LABELS[w]}
            </option>
          ))}
        </select>
      </div>
      <ChoiceField id={`${idPrefix}-model`} label="Model" any="All models" choice={model} />
      {provider && <ChoiceField id={`${idPrefix}-provider`} label="Provider" any="All providers" choice={provider} />}
      <ChoiceField id={`${idPrefix}-status`} label="Status" any="Any status" choice={{ ...status, options: STATUSES }} />
      {children}
    </form>
  );
}

function ChoiceField({ id, label, any, choice }: { id: string; label: string; any: string; choice: FilterChoice }) {
  // A value not seen in the window (from the URL, or a saved dashboard) stays selectable.
  const options = choice.value && !choice.options.includes(choice.value) ? [...choice.options, choice.value] : choice.options;
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <select id={id} value={choice.value} onChange={(e) => choice.onChange(e.target.value)}>
        <option value="">{any}</option>
        {options.map((o) => (
          <option key={o} value={o}>
            {o}
          </option>
        ))}
      </select>
    </div>
  );
}
