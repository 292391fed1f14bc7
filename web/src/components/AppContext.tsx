"use client";

import { createContext, useContext, useEffect, useState, type ReactNode } from "react";
import { ChatClient } from "@/lib/api";
import { loadConfig, type AppConfig } from "@/lib/config";
import { sessionFetch } from "@/lib/http";
import { IdentityClient } from "@/lib/identity";
import { QueryClient } from "@/lib/query/client";

interface AppValue {
  config: AppConfig;
  client: ChatClient;
  /** The query API (metrics, logs), every project; null when config.json has no queryApiUrl. */
  query: QueryClient | null;
  /** The identity API (sign-in, users, keys, projects, audit), on this page's origin. */
  identity: IdentityClient;
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
            // Every call carries the session (the CSRF token on state changes) and reports a 401.
            client: new ChatClient(config, sessionFetch),
            query: config.queryApiUrl ? new QueryClient(config.queryApiUrl, sessionFetch) : null,
            identity: new IdentityClient("", sessionFetch),
          }),
      )
      .catch((e: Error) => live && setState({ status: "error", message: e.message }));
    return () => {
      live = false;
    };
  }, []);

  if (state.status === "loading") {
    return (
      <main id="main">
        <p className="page-status muted" role="status">
          Loading…
        </p>
      </main>
    );
  }
  if (state.status === "error") {
    return (
      <main id="main" className="page-status">
        <div className="alert" role="alert">
          <strong>Prism cannot start.</strong> {state.message}. The site needs a <code>config.json</code> next to
          its pages, e.g. <code>{'{"chatApiUrl": "http://localhost:8100"}'}</code>.
        </div>
      </main>
    );
  }
  const { config, client, query, identity } = state;
  return <Ctx.Provider value={{ config, client, query, identity }}>{children}</Ctx.Provider>;
}

export function useApp(): AppValue {
  const v = useContext(Ctx);
  if (!v) throw new Error("useApp() outside <AppProvider>");
  return v;
}
