"use client";

import { useEffect, useState, type FormEvent } from "react";
import type { Provider, PutProviderBody } from "@/lib/api";
import { useApp } from "./AppContext";

/** Model names typed one per line or separated by commas. */
export function parseModelList(text: string): string[] {
  return [...new Set(text.split(/[\s,]+/).map((s) => s.trim()).filter(Boolean))];
}

/**
 * Set, replace or remove a provider's key (and, for an OpenAI-compatible server, its base URL and
 * models). The key lives only in this input's state, never in storage or the URL; cleared once saved.
 */
export function ProviderForm({
  p,
  canStoreKeys,
  onSaved,
}: {
  p: Provider;
  canStoreKeys: boolean;
  onSaved: () => Promise<void>;
}) {
  const { client } = useApp();
  const compatible = p.base_url_required;
  const [apiKey, setApiKey] = useState("");
  const [baseUrl, setBaseUrl] = useState(p.base_url ?? "");
  const [modelText, setModelText] = useState(p.models.join("\n"));
  const [busy, setBusy] = useState(false);
  const [status, setStatus] = useState<{ kind: "ok" | "error"; text: string } | null>(null);

  useEffect(() => {
    setBaseUrl(p.base_url ?? "");
    setModelText(p.models.join("\n"));
  }, [p.base_url, p.models]);

  const keyId = `key-${p.id}`;
  const urlId = `url-${p.id}`;
  const modelsId = `models-${p.id}`;

  async function save(e: FormEvent) {
    e.preventDefault();
    setStatus(null);
    const body: PutProviderBody = {};
    const key = apiKey.trim();
    if (compatible) {
      if (!baseUrl.trim()) {
        setStatus({ kind: "error", text: "The base URL is required, e.g. http://localhost:11434/v1" });
        return;
      }
      body.base_url = baseUrl.trim();
      const list = parseModelList(modelText);
      if (list.length > 0 || p.configured) body.models = list;
      if (key) body.api_key = key;
    } else {
      if (!key) {
        setStatus({ kind: "error", text: "Enter the API key to store." });
        return;
      }
      body.api_key = key;
    }
    setBusy(true);
    try {
      const saved = await client.putProvider(p.id, body);
      setApiKey("");
      setStatus(
        saved.state === "failing"
          ? { kind: "error", text: `Saved, but the connection check failed: ${saved.reason ?? "unknown reason"}` }
          : { kind: "ok", text: "Saved. The connection works." },
      );
      await onSaved();
    } catch (err) {
      setStatus({ kind: "error", text: (err as Error).message });
    } finally {
      setBusy(false);
    }
  }

  async function remove() {
    if (!window.confirm(`Remove the ${p.label} settings${p.has_key ? " and its stored key" : ""}?`)) return;
    setStatus(null);
    setBusy(true);
    try {
      await client.deleteProvider(p.id);
      setApiKey("");
      setStatus({ kind: "ok", text: "Removed." });
      await onSaved();
    } catch (err) {
      setStatus({ kind: "error", text: (err as Error).message });
    } finally {
      setBusy(false);
    }
  }

  return (
    <form onSubmit={save} className="provider-form" autoComplete="off">
      {compatible && (
        <div className="field">
          <label htmlFor={urlId}>Base URL</label>
          <input
            id={urlId}
            type="url"
            inputMode="url"
            placeholder="http://localhost:11434/v1"
            value={baseUrl}
            onChange={(e) => setBaseUrl(e.target.value)}
            required
          />
        </div>
      )}
      <div className="field">
        <label htmlFor={keyId}>
          {compatible ? "API key (optional)" : p.has_key ? "Replace API key" : "API key"}
        </label>
        <input
          id={keyId}
          type="password"
          autoComplete="off"
          spellCheck={false}
          placeholder={p.has_key ? "Leave empty to keep the stored key" : compatible ? "If the server needs one" : ""}
          value={apiKey}
          onChange={(e) => setApiKey(e.target.value)}
          disabled={!canStoreKeys && !compatible}
        />
      </div>
      {compatible && (
        <div className="field">
          <label htmlFor={modelsId}>Models (optional, one per line)</label>
          <textarea
            id={modelsId}
            rows={3}
            placeholder="Empty: the models the server lists"
            value={modelText}
            onChange={(e) => setModelText(e.target.value)}
          />
        </div>
      )}
      <div className="row">
        <button type="submit" className="btn primary" disabled={busy}>
          Save
        </button>
        {p.configured && (
          <button type="button" className="btn danger ghost" onClick={() => void remove()} disabled={busy}>
            Remove
          </button>
        )}
        {status && (
          <span className={status.kind === "ok" ? "ok-text" : "field-error"} role={status.kind === "ok" ? "status" : "alert"}>
            {status.text}
          </span>
        )}
      </div>
    </form>
  );
}
