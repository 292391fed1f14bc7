"use client";

import { useProviders } from "@/hooks/useProviders";
import { useApp } from "./AppContext";
import { ProviderCard } from "./ProviderCard";

export { parseModelList } from "./ProviderForm";

export function SettingsPage() {
  const { client, config } = useApp();
  const { data, error, reload } = useProviders(client);

  return (
    <div className="settings">
      <h1>Settings</h1>
      <p className="muted">
        Model providers for the chat. Keys are sent to the chat API at <code>{config.chatApiUrl}</code>, stored
        encrypted, and never shown again: only their last four characters.
      </p>
      {error && (
        <div className="alert" role="alert">
          {error}
        </div>
      )}
      {data && !data.creds_key_configured && (
        <div className="alert warn" role="alert">
          The chat API has no <code>PRISM_CREDS_KEY</code>, so it cannot store keys. Set it and restart the chat API.
        </div>
      )}
      {data && <p className="muted small">Offline demo model: {data.demo_model ? "available" : "off"}.</p>}
      {!data && !error && (
        <p className="muted" role="status">
          Loading…
        </p>
      )}
      <div className="cards">
        {data?.providers.map((p) => (
          <ProviderCard key={p.id} p={p} canStoreKeys={data.creds_key_configured} onSaved={reload} />
        ))}
      </div>
    </div>
  );
}
