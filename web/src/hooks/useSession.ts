"use client";

import { createContext, useCallback, useContext, useEffect, useMemo } from "react";
import { ApiError, onAuthFailure, setCsrfToken } from "@/lib/http";
import { ACCOUNT_PATH, allows, LOGIN_PATH, loginHref, type IdentityClient, type Role, type Session, type User } from "@/lib/identity";
import { useFetch } from "./useFetch";

/**
 * Who is signed in, as the UI knows it:
 * - `loading`: GET /api/auth/session has not answered yet;
 * - `signed-in`: a session (its CSRF token kept in memory by lib/http.ts);
 * - `signed-out`: 401: the reader is sent to the sign-in page;
 * - `open`: this server has no identity API (404): no sign-in, the APIs decide what is allowed;
 * - `error`: the identity API could not be reached.
 */
export type SessionStatus =
  | { status: "loading" }
  | { status: "signed-in"; session: Session }
  | { status: "signed-out" }
  | { status: "open" }
  | { status: "error"; message: string };

export function sessionStatus(data: Session | undefined, error: ApiError | null): SessionStatus {
  if (error) {
    if (error.status === 401) return { status: "signed-out" };
    if (error.status === 404) return { status: "open" };
    return { status: "error", message: `Could not check the session: ${error.message}` };
  }
  return data ? { status: "signed-in", session: data } : { status: "loading" };
}

/** Pages anyone may open (the sign-in page itself). */
export function isPublicPath(pathname: string): boolean {
  return pathname === "/login" || pathname.startsWith(LOGIN_PATH);
}

/**
 * Where the reader must go instead of `path` (a path with its query), or null to stay: signed
 * out, to the sign-in page (and back here afterwards); with a temporary password, to the account
 * page to change it.
 */
export function redirectFor(path: string, state: SessionStatus): string | null {
  const pathname = path.split("?")[0];
  if (isPublicPath(pathname)) return null;
  if (state.status === "signed-out") return loginHref(path);
  if (state.status === "signed-in" && state.session.user.must_change_password && !pathname.startsWith(ACCOUNT_PATH.slice(0, -1))) {
    return ACCOUNT_PATH;
  }
  return null;
}

export interface SessionValue {
  state: SessionStatus;
  /** The signed-in user; null when signed out, still loading, or without an identity API. */
  user: User | null;
  /** Whether the reader may do what needs `role` (without an identity API: yes, the APIs decide). */
  can: (role: Role) => boolean;
  /** Read the session again (after changing the password, a 401 from another API, ...). */
  reload: () => Promise<void>;
  /** Sign out here (or everywhere), then a fresh page load of the sign-in page: nothing of this user stays in memory. */
  signOut: (everywhere?: boolean) => Promise<void>;
}

export const SessionContext = createContext<SessionValue | null>(null);

export function useSession(): SessionValue {
  const v = useContext(SessionContext);
  if (!v) throw new Error("useSession() outside <SessionProvider>");
  return v;
}

/** A full page load (sign-in and sign-out start from a clean slate). */
export function navigate(href: string): void {
  window.location.assign(href);
}

/** The session, read through SWR, for <SessionProvider>. */
export function useSessionValue(identity: IdentityClient): SessionValue {
  const { data, error, reload } = useFetch("session", () => identity.session(), { keepPreviousData: false });
  const state = useMemo(() => sessionStatus(data, error), [data, error]);
  // The CSRF token lives in lib/http.ts's memory, set as soon as the session is known.
  setCsrfToken(state.status === "signed-in" ? state.session.csrf_token : null);

  const again = useCallback(async () => {
    await reload();
  }, [reload]);

  // A 401 (or a temporary password) from any API: read the session again; the redirect follows.
  useEffect(() => {
    onAuthFailure((_e, url) => {
      if (!new URL(url, window.location.href).pathname.startsWith("/api/auth/")) void reload();
    });
    return () => onAuthFailure(null);
  }, [reload]);

  const signOut = useCallback(
    async (everywhere = false) => {
      try {
        await (everywhere ? identity.logoutEverywhere() : identity.logout());
      } catch (e) {
        if (!(e instanceof ApiError && e.status === 401)) throw e; // already signed out: fine
      }
      setCsrfToken(null);
      navigate(LOGIN_PATH);
    },
    [identity],
  );

  const user = state.status === "signed-in" ? state.session.user : null;
  const open = state.status === "open";
  const can = useCallback((role: Role) => open || allows(user?.role, role), [open, user?.role]);
  return useMemo(() => ({ state, user, can, reload: again, signOut }), [state, user, can, again, signOut]);
}
