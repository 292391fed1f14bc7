"use client";

import type { Provider } from "@/lib/api";
import { ProviderForm } from "./ProviderForm";

/** One model provider: whether it is configured, what is stored (a key as its last four), its form. */
export function ProviderCard({
  p,
  canStoreKeys,
  onSaved,
}: {
  p: Provider;
  canStoreKeys: boolean;
  onSaved: () => Promise<void>;
}) {
  return (
    <section className="card provider" aria-labelledby={`title-${p.id}`} data-provider={p.id}>
      <header className="card-head">
        <h2 id={`title-${p.id}`}>{p.label}</h2>
        <span className={p.configured ? "badge ok" : "badge"} data-testid="provider-state">
          {p.configured ? "Configured" : "Not configured"}
        </span>
      </header>
      {p.configured && <ProviderFacts p={p} />}
      <ProviderForm p={p} canStoreKeys={canStoreKeys} onSaved={onSaved} />
    </section>
  );
}

function ProviderFacts({ p }: { p: Provider }) {
  return (
    <dl className="facts">
      {p.key_required || p.has_key ? (
        <div>
          <dt>Key</dt>
          <dd data-testid="key-last4">{p.has_key ? `••••${p.key_last4 ?? ""}` : "none"}</dd>
        </div>
      ) : null}
      {p.base_url && (
        <div>
          <dt>Base URL</dt>
          <dd>{p.base_url}</dd>
        </div>
      )}
      {p.models.length > 0 && (
        <div>
          <dt>Models</dt>
          <dd>{p.models.join(", ")}</dd>
        </div>
      )}
    </dl>
  );
}
