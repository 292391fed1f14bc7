// @vitest-environment jsdom
import { cleanup, renderHook, waitFor } from "@testing-library/react";
import type { ReactNode } from "react";
import { SWRConfig } from "swr";
import { afterEach, describe, expect, it, vi } from "vitest";
import { withProject } from "@/hooks/useProject";
import { redirectFor, sessionStatus, useSessionValue } from "@/hooks/useSession";
import { ApiError, CSRF_HEADER, onAuthFailure, requestJson, sessionHeaders, setCsrfToken, withSession } from "@/lib/http";
import { allows, IdentityClient, loginErrorMessage, loginHref, safeNext, type Session } from "@/lib/identity";
import { QueryClient } from "@/lib/query/client";

afterEach(() => {
  cleanup();
  setCsrfToken(null);
  onAuthFailure(null);
});

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

const session: Session = {
  user: {
    id: "u1",
    email: "ada@example.com",
    name: null,
    role: "member",
    must_change_password: false,
    disabled: false,
    sso: false,
    pending_invite: false,
    created_at: "2026-11-27T10:00:00Z",
    last_login_at: null,
  },
  csrf_token: "csrf-123",
};

describe("the CSRF token", () => {
  it("goes with every state change, not with a read, and only once known", async () => {
    const fetchImpl = vi.fn(async () => json(200, {}));
    const f = fetchImpl as unknown as typeof fetch;
    await requestJson("chat API", "POST", "http://c/x", { fetchImpl: f });
    setCsrfToken("csrf-123");
    for (const m of ["POST", "PUT", "PATCH", "DELETE", "GET"]) await requestJson("chat API", m, "http://c/x", { fetchImpl: f });
    const headers = fetchImpl.mock.calls.map((c) => (c as unknown as [string, RequestInit])[1].headers as Record<string, string>);
    expect(headers[0][CSRF_HEADER]).toBeUndefined();
    for (const h of headers.slice(1, 5)) expect(h[CSRF_HEADER]).toBe("csrf-123");
    expect(headers[5][CSRF_HEADER]).toBeUndefined();
    expect(sessionHeaders("HEAD")).toEqual({});
  });

  it("is never written to the browser's storage or cookies", async () => {
    setCsrfToken("csrf-secret-456");
    expect(JSON.stringify({ ...localStorage, ...sessionStorage })).not.toContain("csrf-secret-456");
    expect(document.cookie).not.toContain("csrf-secret-456");
  });
});

describe("withSession (the fetch of every API client, the streaming send too)", () => {
  it("adds the token and the same-origin cookie, and reports a 401 or a temporary password", async () => {
    const answers = [
      json(401, { error: { code: "unauthenticated", message: "sign in" } }),
      json(403, { error: { code: "password_change_required", message: "change it" } }),
      json(403, { error: { code: "forbidden", message: "needs admin" } }),
      json(401, { error: { code: "invalid_credentials", message: "wrong" } }),
    ];
    const base = vi.fn(async () => answers.shift() as Response);
    const heard: string[] = [];
    onAuthFailure((e, url) => heard.push(`${e.code} ${url}`));
    setCsrfToken("csrf-123");
    const f = withSession(base as unknown as typeof fetch);
    const first = await f("http://c/api/conversations/x/messages", { method: "POST", headers: { Accept: "text/event-stream" } });
    expect(first.status).toBe(401);
    expect(await first.json()).toMatchObject({ error: { code: "unauthenticated" } }); // the caller still reads it
    await f("http://c/a", { method: "POST" });
    await f("http://c/b");
    await f("http://c/api/auth/login", { method: "POST" });
    const init = (base.mock.calls[0] as unknown as [string, RequestInit])[1];
    expect(init.credentials).toBe("same-origin");
    const h = new Headers(init.headers);
    expect(h.get(CSRF_HEADER)).toBe("csrf-123");
    expect(h.get("Accept")).toBe("text/event-stream");
    expect(heard).toEqual(["unauthenticated http://c/api/conversations/x/messages", "password_change_required http://c/a"]);
  });
});

describe("where the session sends the reader", () => {
  it("tells signed in, signed out, no identity API and a failure apart", () => {
    expect(sessionStatus(undefined, null)).toEqual({ status: "loading" });
    expect(sessionStatus(session, null)).toEqual({ status: "signed-in", session });
    expect(sessionStatus(undefined, new ApiError(401, "unauthenticated", "x"))).toEqual({ status: "signed-out" });
    expect(sessionStatus(undefined, new ApiError(404, "not_found", "x"))).toEqual({ status: "open" });
    expect(sessionStatus(undefined, new ApiError(502, "upstream_unavailable", "down")).status).toBe("error");
  });

  it("signed out: to the sign-in page and back; a temporary password: to the account page", () => {
    expect(redirectFor("/metrics/?project=prod", { status: "signed-out" })).toBe("/login/?next=%2Fmetrics%2F%3Fproject%3Dprod");
    expect(redirectFor("/", { status: "signed-out" })).toBe("/login/");
    expect(redirectFor("/login/?next=/logs/", { status: "signed-out" })).toBeNull();
    expect(redirectFor("/logs/", { status: "open" })).toBeNull();
    expect(redirectFor("/logs/", { status: "signed-in", session })).toBeNull();
    const temporary = { status: "signed-in" as const, session: { ...session, user: { ...session.user, must_change_password: true } } };
    expect(redirectFor("/logs/", temporary)).toBe("/account/");
    expect(redirectFor("/account/", temporary)).toBeNull();
  });

  it("?next= only ever sends the reader to a path of this site", () => {
    expect(safeNext("/logs/?id=1")).toBe("/logs/?id=1");
    for (const bad of ["https://evil.example/", "//evil.example", "/\\evil.example", "javascript:alert(1)", "", null, "/login/"]) {
      expect(safeNext(bad)).toBe("/");
    }
    expect(loginHref("//evil.example")).toBe("/login/");
  });

  it("says the same for an unknown e-mail and a wrong password", () => {
    expect(loginErrorMessage(new ApiError(401, "invalid_credentials", "no such user"))).toBe("Wrong e-mail or password.");
    expect(loginErrorMessage(new ApiError(401, "invalid_credentials", "wrong password"))).toBe("Wrong e-mail or password.");
    expect(loginErrorMessage(new ApiError(429, "rate_limited", "slow down"))).toMatch(/Too many/);
  });

  it("ranks the roles admin > member > viewer", () => {
    expect(allows("admin", "member")).toBe(true);
    expect(allows("member", "member")).toBe(true);
    expect(allows("viewer", "member")).toBe(false);
    expect(allows(null, "viewer")).toBe(false);
  });
});

/** A fresh SWR cache per hook: nothing read in one test is seen by the next. */
const fresh = ({ children }: { children: ReactNode }) => <SWRConfig value={{ provider: () => new Map() }}>{children}</SWRConfig>;

describe("useSessionValue", () => {
  function identity(answer: () => Response) {
    const base = vi.fn(async () => answer());
    return { client: new IdentityClient("http://app", base as unknown as typeof fetch), base };
  }

  it("signed in: the user, the role's rights, and the CSRF token for the next state change", async () => {
    const { client } = identity(() => json(200, session));
    const { result } = renderHook(() => useSessionValue(client), { wrapper: fresh });
    await waitFor(() => expect(result.current.user?.email).toBe("ada@example.com"));
    expect(result.current.can("member")).toBe(true);
    expect(result.current.can("admin")).toBe(false);
    expect(sessionHeaders("POST")).toEqual({ [CSRF_HEADER]: "csrf-123" });
  });

  it("signed out: no user, no rights, no token; without an identity API: the APIs decide", async () => {
    setCsrfToken("stale");
    const out = identity(() => json(401, { error: { code: "unauthenticated", message: "sign in" } }));
    const a = renderHook(() => useSessionValue(out.client), { wrapper: fresh });
    await waitFor(() => expect(a.result.current.state.status).toBe("signed-out"));
    expect(a.result.current.can("viewer")).toBe(false);
    expect(sessionHeaders("POST")).toEqual({});
    cleanup();
    const none = identity(() => json(404, { error: { code: "not_found", message: "no API serves /api/auth/session" } }));
    const b = renderHook(() => useSessionValue(none.client), { wrapper: fresh });
    await waitFor(() => expect(b.result.current.state.status).toBe("open"));
    expect(b.result.current.can("admin")).toBe(true);
  });
});

describe("the chosen project", () => {
  it("is the project filter of every metrics and logs read", async () => {
    const base = vi.fn(async () => json(200, { items: [], next_cursor: null }));
    const q = new QueryClient("http://q", base as unknown as typeof fetch).forProject("prod");
    const range = { from: "2026-11-27T10:00:00Z", to: "2026-11-27T11:00:00Z" };
    await q.logs(range, { model: ["m"] }, 10);
    await q.summary(range, {}, ["model"]);
    await q.timeseries(range, {}, []);
    await new QueryClient("http://q", base as unknown as typeof fetch).logs(range, {}, 10);
    const urls = base.mock.calls.map((c) => new URL((c as unknown as [string])[0]));
    expect(urls.slice(0, 3).map((u) => u.searchParams.getAll("project"))).toEqual([["prod"], ["prod"], ["prod"]]);
    expect(urls[3].searchParams.has("project")).toBe(false);
  });

  it("goes in the URL's query, next to what is there", () => {
    expect(withProject("/logs/?status=error", "prod")).toBe("/logs/?status=error&project=prod");
    expect(withProject("/metrics/?project=prod", null)).toBe("/metrics/");
    expect(withProject("/metrics/", "a b")).toBe("/metrics/?project=a+b");
  });
});
