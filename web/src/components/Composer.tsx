"use client";

import { useEffect, type FormEvent, type KeyboardEvent } from "react";

interface Props {
  value: string;
  onChange: (v: string) => void;
  onSend: () => void;
  onStop: () => void;
  streaming: boolean;
  canSend: boolean;
}

/** The message box: Enter sends, Shift+Enter adds a line; Stop (or Esc) while a reply streams. */
export function Composer({ value, onChange, onSend, onStop, streaming, canSend }: Props) {
  // Esc stops a streaming reply, wherever the focus is.
  useEffect(() => {
    if (!streaming) return;
    function onEsc(e: globalThis.KeyboardEvent) {
      if (e.key === "Escape" && !e.defaultPrevented) onStop();
    }
    document.addEventListener("keydown", onEsc);
    return () => document.removeEventListener("keydown", onEsc);
  }, [streaming, onStop]);
  function submit(e: FormEvent) {
    e.preventDefault();
    if (!streaming && canSend && value.trim()) onSend();
  }
  function onKeyDown(e: KeyboardEvent<HTMLTextAreaElement>) {
    if (e.key === "Enter" && !e.shiftKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      if (!streaming && canSend && value.trim()) onSend();
    }
  }
  return (
    <form className="composer" onSubmit={submit}>
      <label htmlFor="composer-input" className="sr-only">
        Message
      </label>
      <textarea
        id="composer-input"
        value={value}
        rows={3}
        placeholder="Send a message (Enter to send, Shift+Enter for a new line)"
        onChange={(e) => onChange(e.target.value)}
        onKeyDown={onKeyDown}
        aria-describedby="composer-help"
      />
      <span id="composer-help" className="sr-only">
        Enter sends the message; Shift+Enter starts a new line.
      </span>
      {streaming ? (
        <button type="button" className="btn danger" onClick={onStop} title="Stop (Esc)">
          Stop
        </button>
      ) : (
        <button type="submit" className="btn primary" disabled={!canSend || !value.trim()}>
          Send
        </button>
      )}
    </form>
  );
}
