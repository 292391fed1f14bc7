"use client";

import Link from "next/link";
import { usePathname } from "next/navigation";
import { useState, type ReactNode } from "react";
import { useSession } from "@/hooks/useSession";

const TABS = [
  { href: "/admin/users/", label: "Users" },
  { href: "/admin/keys/", label: "Keys" },
  { href: "/admin/projects/", label: "Projects" },
  { href: "/admin/audit/", label: "Audit log" },
];

/** An admin page: its title, the admin tabs, and its content for admins only (the API enforces it too). */
export function AdminShell({ title, children }: { title: string; children: ReactNode }) {
  const pathname = usePathname() ?? "";
  const { can } = useSession();
  return (
    <div className="admin">
      <nav aria-label="Admin" className="tabs">
        {TABS.map((t) => (
          <Link
            key={t.href}
            href={t.href}
            className="tab"
            aria-current={pathname.startsWith(t.href.replace(/\/$/, "")) ? "page" : undefined}
          >
            {t.label}
          </Link>
        ))}
      </nav>
      <h1>{title}</h1>
      {can("admin") ? (
        children
      ) : (
        <div className="alert" role="alert">
          This page is for admins.
        </div>
      )}
    </div>
  );
}

/** A secret shown this once (a new key, a temporary password, an invite link), with a copy button. */
export function ShownOnce({ label, value, onDone }: { label: string; value: string; onDone: () => void }) {
  const [copied, setCopied] = useState(false);
  async function copy() {
    try {
      await navigator.clipboard.writeText(value);
      setCopied(true);
    } catch {
      setCopied(false);
    }
  }
  return (
    <div className="alert warn shown-once" role="status">
      <p>
        <strong>{label}</strong> It is shown this once: copy it now.
      </p>
      <p className="secret-row">
        <code data-testid="shown-once">{value}</code>
        <button type="button" className="btn small" onClick={() => void copy()}>
          {copied ? "Copied" : "Copy"}
        </button>
        <button type="button" className="btn small ghost" onClick={onDone}>
          Done
        </button>
      </p>
    </div>
  );
}

/** A status line after an action: what happened, or why it failed. */
export function ActionStatus({ status }: { status: { kind: "ok" | "error"; text: string } | null }) {
  if (!status) return null;
  return (
    <p className={status.kind === "ok" ? "ok-text" : "field-error"} role={status.kind === "ok" ? "status" : "alert"}>
      {status.text}
    </p>
  );
}

export type Status = { kind: "ok" | "error"; text: string } | null;

/** Run an admin action: its error as a status line, a success as `ok` (when given). */
export async function act(setStatus: (s: Status) => void, fn: () => Promise<unknown>, ok?: string): Promise<boolean> {
  setStatus(null);
  try {
    await fn();
    if (ok) setStatus({ kind: "ok", text: ok });
    return true;
  } catch (e) {
    setStatus({ kind: "error", text: (e as Error).message });
    return false;
  }
}
