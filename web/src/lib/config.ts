/**
 * Runtime configuration, read by the browser from /config.json at startup (never baked into the
 * build), so one static build serves every environment.
 */

export interface AppConfig {
  /** Base URL of the chat API (conversations, models, settings). */
  chatApiUrl: string;
  /** Base URL of the streaming route (POST .../messages); defaults to chatApiUrl. */
  chatStreamUrl: string;
  /** Base URL of the query API (metrics and logs pages, later). */
  queryApiUrl: string | null;
}

export class ConfigError extends Error {}

function trimUrl(value: unknown, field: string, required: boolean): string | null {
  if (value === undefined || value === null || value === "") {
    if (required) throw new ConfigError(`config.json: "${field}" is missing`);
    return null;
  }
  if (typeof value !== "string") throw new ConfigError(`config.json: "${field}" must be a string`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(`config.json: "${field}" is not a URL: ${value}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ConfigError(`config.json: "${field}" must be an http(s) URL: ${value}`);
  }
  return value.replace(/\/+$/, "");
}

/** Validate the parsed config.json. */
export function parseConfig(raw: unknown): AppConfig {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new ConfigError("config.json must hold a JSON object");
  }
  const o = raw as Record<string, unknown>;
  const chatApiUrl = trimUrl(o.chatApiUrl, "chatApiUrl", true) as string;
  const chatStreamUrl = trimUrl(o.chatStreamUrl, "chatStreamUrl", false) ?? chatApiUrl;
  const queryApiUrl = trimUrl(o.queryApiUrl, "queryApiUrl", false);
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
