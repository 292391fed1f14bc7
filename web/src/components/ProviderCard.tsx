"use client";

import type { Provider } from "@/lib/api";
import { ProviderForm } from "./ProviderForm";

const STATE_LABEL: Record<Provider["state"], string> = {
  working: "Working",
  failing: "Failing",
  not_configured: "Not configured",
};

const STATE_CLASS: Record<Provider["state"], string> = {
  working: "badge ok",
  failing: "badge err",
  not_configured: "badge",
};

/** The provider's connection state: working, failing with the reason, or not configured. */
export function ProviderState({ p }: { p: Provider }) {
  return (
    <span className={STATE_CLASS[p.state]} data-testid="provider-state" data-state={p.state}>
      {STATE_LABEL[p.state]}
    </span>
  );
}

/** One model provider: its connection state (the reason when it fails), what is stored (a key as
 * its last four), its form. */
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
        <ProviderState p={p} />
      </header>
      {p.state === "failing" && (
        <p className="alert" role="alert" data-testid="provider-reason">
          {p.reason ?? "The connection check failed."}
        </p>
      )}
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
