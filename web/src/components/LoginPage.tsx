"use client";

import Link from "next/link";
import { useSearchParams } from "next/navigation";
import { useEffect, useState, type FormEvent } from "react";
import { useFetch } from "@/hooks/useFetch";
import { navigate, useSession } from "@/hooks/useSession";
import { ApiError } from "@/lib/http";
import { loginErrorMessage, safeNext, ssoErrorMessage } from "@/lib/identity";
import { useApp } from "./AppContext";

/**
 * Sign in: e-mail and password (when password sign-in is on), single sign-on (when configured),
 * the error a single sign-on came back with (`?error=`), and an invite link's password (`?invite=`).
 * Afterwards a fresh page load of `?next=` (a path of this site) or the chat.
 */
export function LoginPage() {
  const { identity } = useApp();
  const { state } = useSession();
  const params = useSearchParams();
  const next = safeNext(params.get("next"));
  const ssoError = params.get("error");
  const invite = params.get("invite");
  const methods = useFetch("login-methods", () => identity.loginMethods());

  // Already signed in (and not here to accept an invite): on to where the reader was going.
  useEffect(() => {
    if (state.status === "signed-in" && !invite) navigate(next);
  }, [state.status, invite, next]);

  if (methods.error?.status === 404 || state.status === "open") {
    return (
      <div className="auth-page">
        <h1>Sign in</h1>
        <p className="muted">
          This server has no sign-in (no identity API). <Link href="/">Open the chat</Link>.
        </p>
      </div>
    );
  }
  return (
    <div className="auth-page">
      <h1>{invite ? "Accept your invitation" : "Sign in to Prism"}</h1>
      {ssoError && (
        <div className="alert" role="alert" data-testid="sso-error">
          {ssoErrorMessage(ssoError)}
        </div>
      )}
      {methods.error && (
        <div className="alert" role="alert">
          Could not reach the sign-in service: {methods.error.message}
        </div>
      )}
      {invite ? (
        <InviteForm token={invite} />
      ) : (
        <>
          {methods.data?.password && <PasswordForm next={next} />}
          {methods.data?.oidc && (
            <p className="sso">
              <a className="btn" href={identity.oidcLoginUrl}>
                Sign in with SSO
              </a>
            </p>
          )}
          {methods.data && !methods.data.password && !methods.data.oidc && (
            <p className="muted">No sign-in method is on. Ask whoever runs this server.</p>
          )}
        </>
      )}
    </div>
  );
}

function PasswordForm({ next }: { next: string }) {
  const { identity } = useApp();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setError(null);
    setBusy(true);
    try {
      await identity.login(email.trim(), password);
      navigate(next);
    } catch (err) {
      setPassword("");
      setError(err instanceof ApiError ? loginErrorMessage(err) : (err as Error).message);
      setBusy(false);
    }
  }

  return (
    <form className="auth-form" onSubmit={submit} aria-label="Sign in with e-mail and password">
      <div className="field">
        <label htmlFor="login-email">E-mail</label>
        <input
          id="login-email"
          type="email"
          autoComplete="username"
          required
          value={email}
          onChange={(e) => setEmail(e.target.value)}
        />
      </div>
      <div className="field">
        <label htmlFor="login-password">Password</label>
        <input
          id="login-password"
          type="password"
          autoComplete="current-password"
          required
          value={password}
          onChange={(e) => setPassword(e.target.value)}
        />
      </div>
      {error && (
        <p className="field-error" role="alert" data-testid="login-error">
          {error}
        </p>
      )}
      <button type="submit" className="btn primary" disabled={busy}>
        Sign in
      </button>
    </form>
  );
}

function InviteForm({ token }: { token: string }) {
  const { identity } = useApp();
  const [password, setPassword] = useState("");
  const [again, setAgain] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setError(null);
    if (password !== again) {
      setError("The two passwords differ.");
      return;
    }
    setBusy(true);
    try {
      await identity.acceptInvite(token, password);
      navigate("/");
    } catch (err) {
      setError(
        err instanceof ApiError && err.status === 401
          ? "This invite link is invalid, used or expired. Ask an admin for a new one."
          : (err as Error).message,
      );
      setBusy(false);
    }
  }

  return (
    <form className="auth-form" onSubmit={submit} aria-label="Choose a password">
      <p className="muted">Choose a password (at least 10 characters) to finish setting up your account.</p>
      <NewPasswordFields password={password} again={again} onPassword={setPassword} onAgain={setAgain} />
      {error && (
        <p className="field-error" role="alert">
          {error}
        </p>
      )}
      <button type="submit" className="btn primary" disabled={busy}>
        Set password and sign in
      </button>
    </form>
  );
}

export function NewPasswordFields({
  password,
  again,
  onPassword,
  onAgain,
}: {
  password: string;
  again: string;
  onPassword: (v: string) => void;
  onAgain: (v: string) => void;
}) {
  return (
    <>
      <div className="field">
        <label htmlFor="new-password">New password</label>
        <input
          id="new-password"
          type="password"
          autoComplete="new-password"
          minLength={10}
          required
          value={password}
          onChange={(e) => onPassword(e.target.value)}
        />
      </div>
      <div className="field">
        <label htmlFor="new-password-again">New password, again</label>
        <input
          id="new-password-again"
          type="password"
          autoComplete="new-password"
          minLength={10}
          required
          value={again}
          onChange={(e) => onAgain(e.target.value)}
        />
      </div>
    </>
  );
}
