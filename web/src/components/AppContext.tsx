"use client";

import { createContext, useContext, useEffect, useState, type ReactNode } from "react";
import { ChatClient } from "@/lib/api";
import { loadConfig, type AppConfig } from "@/lib/config";
import { QueryClient } from "@/lib/query/client";

interface AppValue {
  config: AppConfig;
  client: ChatClient;
  /** The query API (metrics, logs); null when config.json has no queryApiUrl. */
  query: QueryClient | null;
}

const Ctx = createContext<AppValue | null>(null);

type State = { status: "loading" } | { status: "error"; message: string } | ({ status: "ready" } & AppValue);

/** Loads /config.json once, then renders its children with the API client available. */
export function AppProvider({ children }: { children: ReactNode }) {
  const [state, setState] = useState<State>({ status: "loading" });

  useEffect(() => {
    let live = true;
    loadConfig()
      .then(
        (config) =>
          live &&
          setState({
            status: "ready",
            config,
            client: new ChatClient(config),
            query: config.queryApiUrl ? new QueryClient(config.queryApiUrl) : null,
          }),
      )
      .catch((e: Error) => live && setState({ status: "error", message: e.message }));
    return () => {
      live = false;
    };
  }, []);

  if (state.status === "loading") {
    return (
      <p className="page-status muted" role="status">
        Loading…
      </p>
    );
  }
  if (state.status === "error") {
    return (
      <div className="page-status">
        <div className="alert" role="alert">
          <strong>Prism cannot start.</strong> {state.message}. The site needs a <code>config.json</code> next to
          its pages, e.g. <code>{'{"chatApiUrl": "http://localhost:8100"}'}</code>.
        </div>
      </div>
    );
  }
  return <Ctx.Provider value={{ config: state.config, client: state.client, query: state.query }}>{children}</Ctx.Provider>;
}

export function useApp(): AppValue {
  const v = useContext(Ctx);
  if (!v) throw new Error("useApp() outside <AppProvider>");
  return v;
}
