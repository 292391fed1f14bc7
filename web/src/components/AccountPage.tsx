"use client";

import { useState, type FormEvent } from "react";
import { navigate, useSession } from "@/hooks/useSession";
import { ApiError } from "@/lib/http";
import { useApp } from "./AppContext";
import { NewPasswordFields } from "./LoginPage";

/** The signed-in user: who they are, change the password (a temporary one first), sign out everywhere. */
export function AccountPage() {
  const { identity } = useApp();
  const { user, signOut, reload } = useSession();
  const [current, setCurrent] = useState("");
  const [password, setPassword] = useState("");
  const [again, setAgain] = useState("");
  const [busy, setBusy] = useState(false);
  const [status, setStatus] = useState<{ kind: "ok" | "error"; text: string } | null>(null);

  if (!user) {
    return (
      <div className="settings">
        <h1>Account</h1>
        <p className="muted">This server has no sign-in.</p>
      </div>
    );
  }
  const mustChange = user.must_change_password;

  async function submit(e: FormEvent) {
    e.preventDefault();
    setStatus(null);
    if (password !== again) {
      setStatus({ kind: "error", text: "The two new passwords differ." });
      return;
    }
    setBusy(true);
    try {
      await identity.changePassword(current, password);
      setCurrent("");
      setPassword("");
      setAgain("");
      if (mustChange) {
        navigate("/"); // a fresh start, no longer held at this page
        return;
      }
      await reload();
      setStatus({ kind: "ok", text: "Password changed. Your other sessions were signed out." });
    } catch (err) {
      const text =
        err instanceof ApiError && err.code === "wrong_password" ? "The current password is wrong." : (err as Error).message;
      setStatus({ kind: "error", text });
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className="settings">
      <h1>Account</h1>
      <dl className="facts">
        <div>
          <dt>E-mail</dt>
          <dd>{user.email}</dd>
        </div>
        <div>
          <dt>Role</dt>
          <dd>{user.role}</dd>
        </div>
      </dl>
      {mustChange && (
        <div className="alert warn" role="alert">
          You signed in with a temporary password. Choose your own to go on.
        </div>
      )}
      {user.sso ? (
        <p className="muted">You sign in with single sign-on: your password is kept by your identity provider.</p>
      ) : (
        <section className="card" aria-labelledby="password-title">
          <h2 id="password-title">Change password</h2>
          <form className="auth-form" onSubmit={submit}>
            <div className="field">
              <label htmlFor="current-password">Current password</label>
              <input
                id="current-password"
                type="password"
                autoComplete="current-password"
                required
                value={current}
                onChange={(e) => setCurrent(e.target.value)}
              />
            </div>
            <NewPasswordFields password={password} again={again} onPassword={setPassword} onAgain={setAgain} />
            <div className="row">
              <button type="submit" className="btn primary" disabled={busy}>
                Change password
              </button>
              {status && (
                <span className={status.kind === "ok" ? "ok-text" : "field-error"} role={status.kind === "ok" ? "status" : "alert"}>
                  {status.text}
                </span>
              )}
            </div>
          </form>
        </section>
      )}
      <section className="card" aria-labelledby="sessions-title">
        <h2 id="sessions-title">Sessions</h2>
        <p className="muted">Sign out of every browser and device where you are signed in, this one included.</p>
        <button type="button" className="btn danger ghost" onClick={() => void signOut(true)}>
          Log out everywhere
        </button>
      </section>
    </div>
  );
}
