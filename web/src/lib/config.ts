/**
 * Runtime configuration, read by the browser from /config.json at startup (never baked into the
 * build), so one static build serves every environment.
 */

export interface AppConfig {
  /** Base URL of the chat API (conversations, models, settings). */
  chatApiUrl: string;
  /** Base URL of the streaming route (POST .../messages); defaults to chatApiUrl. */
  chatStreamUrl: string;
  /** Base URL of the query API (metrics and logs pages); null when config.json has none. */
  queryApiUrl: string | null;
}

export class ConfigError extends Error {}

/** The page's own origin, against which a same-origin base ("" or "/path") is resolved. */
function pageOrigin(): string | undefined {
  return typeof window === "undefined" ? undefined : window.location.origin;
}

/**
 * One base URL of config.json, absolute and without a trailing slash. An empty string or a path
 * ("/prefix") means this page's own origin, whose web server forwards /api/... to each API (the
 * local stack and compose: one origin, so the session cookie is first-party and no CORS is
 * needed); an absolute http(s) URL is an API served elsewhere.
 */
function baseUrl(value: unknown, field: string, required: boolean, origin: string | undefined): string | null {
  if (value === undefined || value === null) {
    if (required) throw new ConfigError(`config.json: "${field}" is missing`);
    return null;
  }
  if (typeof value !== "string") throw new ConfigError(`config.json: "${field}" must be a string`);
  const sameOrigin = value === "" || (value.startsWith("/") && !value.startsWith("//"));
  if (sameOrigin && origin === undefined) {
    throw new ConfigError(`config.json: "${field}" is relative (${JSON.stringify(value)}) but there is no page origin`);
  }
  let url: URL;
  try {
    url = sameOrigin ? new URL(value || "/", origin) : new URL(value);
  } catch {
    throw new ConfigError(`config.json: "${field}" is not a URL: ${value}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ConfigError(`config.json: "${field}" must be an http(s) URL or a path on this site: ${value}`);
  }
  return url.href.replace(/\/+$/, "");
}

/** Validate the parsed config.json; same-origin bases resolve against `origin` (the page's). */
export function parseConfig(raw: unknown, origin: string | undefined = pageOrigin()): AppConfig {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new ConfigError("config.json must hold a JSON object");
  }
  const o = raw as Record<string, unknown>;
  const chatApiUrl = baseUrl(o.chatApiUrl, "chatApiUrl", true, origin) as string;
  const stream = o.chatStreamUrl === "" ? null : o.chatStreamUrl; // "" here: the chat API's own URL
  const chatStreamUrl = baseUrl(stream, "chatStreamUrl", false, origin) ?? chatApiUrl;
  const queryApiUrl = baseUrl(o.queryApiUrl, "queryApiUrl", false, origin);
  return { chatApiUrl, chatStreamUrl, queryApiUrl };
}

/** Fetch and validate /config.json (not cached by the browser: a redeploy may change it). */
export async function loadConfig(fetchImpl: typeof fetch = fetch): Promise<AppConfig> {
  let resp: Response;
  try {
    resp = await fetchImpl("/config.json", { cache: "no-store" });
  } catch (e) {
    throw new ConfigError(`Could not fetch /config.json: ${(e as Error).message}`);
  }
  if (!resp.ok) throw new ConfigError(`Could not fetch /config.json: HTTP ${resp.status}`);
  let raw: unknown;
  try {
    raw = await resp.json();
  } catch {
    throw new ConfigError("/config.json is not valid JSON");
  }
  return parseConfig(raw);
}
