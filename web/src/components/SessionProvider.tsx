"use client";

import { usePathname, useRouter } from "next/navigation";
import { useEffect, type ReactNode } from "react";
import { isPublicPath, redirectFor, SessionContext, useSession, useSessionValue } from "@/hooks/useSession";
import { useApp } from "./AppContext";

/**
 * The session for every page: read once (GET /api/auth/session), then each page is shown only
 * to a signed-in reader (the sign-in page to anyone); signed out, the reader goes to the sign-in
 * page and comes back afterwards; with a temporary password, to the account page first.
 */
export function SessionProvider({ children }: { children: ReactNode }) {
  const { identity } = useApp();
  const value = useSessionValue(identity);
  const router = useRouter();
  const pathname = usePathname() ?? "/";
  const { state } = value;
  const target = isPublicPath(pathname) ? null : redirectFor(currentPath(pathname), state);

  useEffect(() => {
    if (target) router.replace(target);
  }, [target, router]);

  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

/** A page's content, once the session allows it (the sign-in page: always). */
export function SessionGate({ children }: { children: ReactNode }) {
  const value = useSession();
  const pathname = usePathname() ?? "/";
  const { state } = value;
  const target = isPublicPath(pathname) ? null : redirectFor(currentPath(pathname), state);
  let body: ReactNode = children;
  if (!isPublicPath(pathname)) {
    if (state.status === "loading") body = <Status text="Loading…" />;
    else if (state.status === "signed-out") body = <Status text="Sign-in needed: opening the sign-in page…" />;
    else if (target) body = <Status text="Opening the account page…" />;
    else if (state.status === "error") {
      body = (
        <div className="page-status">
          <div className="alert" role="alert">
            {state.message}{" "}
            <button type="button" className="btn small" onClick={() => void value.reload()}>
              Try again
            </button>
          </div>
        </div>
      );
    }
  }
  return body;
}

function Status({ text }: { text: string }) {
  return (
    <p className="page-status muted" role="status">
      {text}
    </p>
  );
}

function currentPath(pathname: string): string {
  return typeof window === "undefined" ? pathname : pathname + window.location.search;
}
