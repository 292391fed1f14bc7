/**
 * What every API call of the UI shares: one error type (ApiError) whatever went wrong, and one
 * JSON request helper for the chat and query APIs.
 */

/** How an error message names the API that failed. */
export type ApiName = "chat API" | "query API" | "identity API";

export class ApiError extends Error {
  /** HTTP status; 0 when no answer came (network, CORS, aborted). */
  readonly status: number;
  /** Machine-readable: the API's error code, or "network_error", "aborted", "bad_response". */
  readonly code: string;

  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
  }
}

export function isAbort(e: unknown): boolean {
  return (
    (e instanceof ApiError && e.code === "aborted") ||
    (typeof e === "object" && e !== null && (e as { name?: string }).name === "AbortError")
  );
}

function detailMessage(detail: unknown): string | null {
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    const parts = detail.map((d) => {
      if (d && typeof d === "object") {
        const o = d as { loc?: unknown[]; msg?: unknown };
        const loc = Array.isArray(o.loc) ? o.loc.filter((p) => p !== "body").join(".") : "";
        const msg = typeof o.msg === "string" ? o.msg : JSON.stringify(d);
        return loc ? `${loc}: ${msg}` : msg;
      }
      return String(d);
    });
    return parts.join("; ") || null;
  }
  return null;
}

/** An ApiError from a non-2xx response: `{"error": {code, message}}`, FastAPI's `{"detail"}`, or text. */
export async function errorFromResponse(resp: Response, api: ApiName = "chat API"): Promise<ApiError> {
  const fallback = `The ${api} answered HTTP ${resp.status}${resp.statusText ? ` ${resp.statusText}` : ""}`;
  let text = "";
  try {
    text = await resp.text();
  } catch {
    return new ApiError(resp.status, `http_${resp.status}`, fallback);
  }
  try {
    const body = JSON.parse(text) as Record<string, unknown>;
    const err = body?.error;
    if (err && typeof err === "object") {
      const e = err as { code?: unknown; message?: unknown };
      return new ApiError(
        resp.status,
        typeof e.code === "string" ? e.code : `http_${resp.status}`,
        typeof e.message === "string" && e.message ? e.message : fallback,
      );
    }
    if (typeof err === "string") return new ApiError(resp.status, `http_${resp.status}`, err);
    const detail = detailMessage(body?.detail);
    if (detail) return new ApiError(resp.status, `http_${resp.status}`, detail);
  } catch {
    // not JSON: fall through
  }
  const snippet = text.trim().slice(0, 200);
  return new ApiError(resp.status, `http_${resp.status}`, snippet ? `${fallback}: ${snippet}` : fallback);
}

export function networkError(e: unknown, url: string, api: ApiName): ApiError {
  if (isAbort(e)) return new ApiError(0, "aborted", "The request was stopped");
  const origin = (() => {
    try {
      return new URL(url).origin;
    } catch {
      return url;
    }
  })();
  return new ApiError(
    0,
    "network_error",
    `Cannot reach the ${api} at ${origin}. Is it running, and does it allow this page's origin (PRISM_CORS_ORIGINS)?`,
  );
}

// --- the session: its CSRF token and what a refused session does (issue 11) --------------------

/**
 * The signed-in session's CSRF token (from GET /api/auth/session or the sign-in), kept in this
 * module's memory only: never in localStorage, sessionStorage or a cookie written here. Every
 * state change (POST, PUT, PATCH, DELETE) sends it as `X-CSRF-Token`.
 */
let csrfToken: string | null = null;

export const CSRF_HEADER = "X-CSRF-Token";

export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

/** The headers a request of `method` carries for the session (the CSRF token on a state change). */
export function sessionHeaders(method: string): Record<string, string> {
  const m = method.toUpperCase();
  return m === "GET" || m === "HEAD" || !csrfToken ? {} : { [CSRF_HEADER]: csrfToken };
}

/** The session is gone (401 `unauthenticated`) or must change its temporary password first. */
export function isAuthFailure(e: unknown): e is ApiError {
  return (
    e instanceof ApiError &&
    ((e.status === 401 && e.code === "unauthenticated") || (e.status === 403 && e.code === "password_change_required"))
  );
}

type AuthFailureHandler = (e: ApiError, url: string) => void;
let authFailureHandler: AuthFailureHandler | null = null;

/** Who hears of an auth failure of any API call (the session provider: it sends the reader to sign in). */
export function onAuthFailure(handler: AuthFailureHandler | null): void {
  authFailureHandler = handler;
}

async function reportAuthFailure(resp: Response, api: ApiName, url: string): Promise<void> {
  if (!authFailureHandler) return;
  const err = await errorFromResponse(resp, api);
  if (isAuthFailure(err)) authFailureHandler?.(err, url);
}

// --- the body's digest, for CloudFront in front of the APIs (issue 12) ---------------------------

/**
 * In AWS, CloudFront signs each API request for the Lambda Function URL behind it (origin access
 * control), and Lambda accepts no unsigned payload: a request with a body must say the body's
 * SHA-256 (hex) in this header. Harmless elsewhere; sent on same-origin state changes only (an API
 * on another origin would need a CORS preflight for it).
 */
export const CONTENT_SHA256_HEADER = "x-amz-content-sha256";

function isStateChange(method: string | undefined): boolean {
  const m = (method ?? "GET").toUpperCase();
  return m !== "GET" && m !== "HEAD";
}

function isSameOrigin(url: string): boolean {
  if (typeof location === "undefined") return !/^[a-z][a-z0-9+.-]*:/i.test(url);
  try {
    return new URL(url, location.href).origin === location.origin;
  } catch {
    return false;
  }
}

/** Hex SHA-256 of `data` (Web Crypto). */
export async function sha256Hex(data: string | ArrayBuffer | ArrayBufferView): Promise<string> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const digest = await crypto.subtle.digest("SHA-256", bytes as BufferSource);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * The hex SHA-256 of a request body as `fetch` sends it ("" for none), or null when it cannot be
 * known ahead (a stream, a form with its boundary) or this page has no Web Crypto (plain http on
 * a host other than localhost: no CloudFront there either).
 */
export async function contentSha256(body: BodyInit | null | undefined): Promise<string | null> {
  if (typeof crypto === "undefined" || !crypto.subtle) return null;
  if (body === undefined || body === null) return sha256Hex("");
  if (typeof body === "string") return sha256Hex(body);
  if (body instanceof URLSearchParams) return sha256Hex(body.toString());
  if (body instanceof ArrayBuffer || ArrayBuffer.isView(body)) return sha256Hex(body);
  if (typeof Blob !== "undefined" && body instanceof Blob) return sha256Hex(await body.arrayBuffer());
  return null;
}

/**
 * `fetch` for the APIs: the session's headers on every request, the cookie to this origin only,
 * and a 401 / 403 `password_change_required` reported to `onAuthFailure` (the caller still gets
 * the response); the body's SHA-256 on a same-origin state change (CONTENT_SHA256_HEADER). The
 * chat and query clients (the streaming send too) call through this.
 */
export function withSession(base: typeof fetch, api: ApiName = "chat API"): typeof fetch {
  return async (input, init = {}) => {
    const headers = new Headers(init.headers);
    for (const [k, v] of Object.entries(sessionHeaders(init.method ?? "GET"))) headers.set(k, v);
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    if (!headers.has(CONTENT_SHA256_HEADER) && isStateChange(init.method) && isSameOrigin(url)) {
      const digest = await contentSha256(init.body);
      if (digest) headers.set(CONTENT_SHA256_HEADER, digest);
    }
    const resp = await base(input, { credentials: "same-origin", ...init, headers });
    if (resp.status === 401 || resp.status === 403) {
      await reportAuthFailure(resp.clone(), api, url);
    }
    return resp;
  };
}

export const sessionFetch: typeof fetch = withSession((...args) => fetch(...args));

export interface RequestOptions {
  body?: unknown;
  signal?: AbortSignal;
  fetchImpl?: typeof fetch;
}

/**
 * One JSON call: `{"error": ...}` and non-2xx answers, network failures and aborts all become an
 * ApiError naming `api`; a 204 resolves to undefined.
 */
export async function requestJson<T>(api: ApiName, method: string, url: string, opts: RequestOptions = {}): Promise<T> {
  const { body, signal, fetchImpl = sessionFetch } = opts;
  let resp: Response;
  try {
    resp = await fetchImpl(url, {
      method,
      // Every state change is sent as JSON, body or not: the APIs refuse a POST of any other type
      // (no HTML form or simple cross-site request can act on them).
      headers:
        method === "GET"
          ? { Accept: "application/json" }
          : { "Content-Type": "application/json", Accept: "application/json", ...sessionHeaders(method) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
      cache: "no-store",
      // The session cookie goes to this page's own origin only (the web server forwards /api/...);
      // an API on another origin is called with a read token, never with the cookie.
      credentials: "same-origin",
    });
  } catch (e) {
    throw networkError(e, url, api);
  }
  if (!resp.ok) throw await errorFromResponse(resp, api);
  if (resp.status === 204) return undefined as T;
  try {
    return (await resp.json()) as T;
  } catch {
    throw new ApiError(resp.status, "bad_response", `The ${api} sent a response that is not JSON`);
  }
}
