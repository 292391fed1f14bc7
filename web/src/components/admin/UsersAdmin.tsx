"use client";

import { useState, type FormEvent } from "react";
import { useFetch } from "@/hooks/useFetch";
import { useSession } from "@/hooks/useSession";
import { formatTime } from "@/lib/format";
import { ROLES, type Invitation, type Role, type User } from "@/lib/identity";
import { useApp } from "../AppContext";
import { act, ActionStatus, AdminShell, ShownOnce, type Status } from "./AdminShell";
import { AdminTable, type AdminColumn } from "./AdminTable";

function userState(u: User): string {
  if (u.disabled) return "disabled";
  if (u.pending_invite) return "invited";
  if (u.must_change_password) return "temporary password";
  return "active";
}

/** Users: invite (a one-time link or a temporary password, shown once), change role, disable, delete. */
export function UsersAdmin() {
  const { identity } = useApp();
  const { user: me, can } = useSession();
  const list = useFetch(can("admin") ? "users" : null, () => identity.listUsers());
  const [status, setStatus] = useState<Status>(null);
  const reload = async () => void (await list.reload());

  async function remove(u: User) {
    if (!window.confirm(`Delete ${u.email}? Their conversations, sessions and read tokens go too.`)) return;
    if (await act(setStatus, () => identity.deleteUser(u.id), `Deleted ${u.email}.`)) await reload();
  }

  const columns: AdminColumn<User>[] = [
    {
      header: "E-mail",
      cell: (u) => (
        <>
          {u.email} {u.sso && <span className="badge">SSO</span>}
        </>
      ),
    },
    { header: "Name", cell: (u) => u.name ?? "" },
    {
      header: "Role",
      cell: (u) => (
        <>
          <label className="sr-only" htmlFor={`role-${u.id}`}>
            Role of {u.email}
          </label>
          <select
            id={`role-${u.id}`}
            value={u.role}
            disabled={u.id === me?.id}
            onChange={(e) => {
              const role = e.target.value as Role;
              void act(setStatus, () => identity.updateUser(u.id, { role }), `${u.email} is now ${role}.`).then(reload);
            }}
          >
            {ROLES.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
        </>
      ),
    },
    { header: "State", cell: userState },
    { header: "Last sign-in", cell: (u) => (u.last_login_at ? formatTime(u.last_login_at) : "never") },
  ];

  return (
    <AdminShell title="Users">
      <InviteForm onInvited={reload} />
      <ActionStatus status={status} />
      <AdminTable
        label="Users"
        what="the users"
        error={list.error}
        rows={list.data}
        rowKey={(u) => u.id}
        rowData={(u) => ({ "data-user": u.email })}
        columns={columns}
        actions={(u) =>
          u.id !== me?.id && (
            <>
              <button
                type="button"
                className="btn small"
                onClick={() =>
                  void act(
                    setStatus,
                    () => identity.updateUser(u.id, { disabled: !u.disabled }),
                    u.disabled ? `${u.email} is enabled.` : `${u.email} is disabled and signed out.`,
                  ).then(reload)
                }
              >
                {u.disabled ? "Enable" : "Disable"}
              </button>
              <button type="button" className="btn small danger ghost" onClick={() => void remove(u)}>
                Delete
              </button>
            </>
          )
        }
      />
    </AdminShell>
  );
}

function InviteForm({ onInvited }: { onInvited: () => Promise<void> }) {
  const { identity } = useApp();
  const [email, setEmail] = useState("");
  const [role, setRole] = useState<Role>("member");
  const [method, setMethod] = useState<"link" | "password">("link");
  const [invitation, setInvitation] = useState<Invitation | null>(null);
  const [status, setStatus] = useState<Status>(null);

  async function submit(e: FormEvent) {
    e.preventDefault();
    const ok = await act(setStatus, async () => {
      setInvitation(await identity.inviteUser({ email: email.trim(), role, method }));
    });
    if (ok) {
      setEmail("");
      await onInvited();
    }
  }

  const link = invitation?.invite_url ? new URL(invitation.invite_url, window.location.origin).href : null;
  return (
    <section className="card" aria-labelledby="invite-title">
      <h2 id="invite-title">Invite a user</h2>
      <form className="inline-form" onSubmit={submit}>
        <div className="field">
          <label htmlFor="invite-email">E-mail</label>
          <input id="invite-email" type="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
        </div>
        <div className="field">
          <label htmlFor="invite-role">Role</label>
          <select id="invite-role" value={role} onChange={(e) => setRole(e.target.value as Role)}>
            {ROLES.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="invite-method">How</label>
          <select id="invite-method" value={method} onChange={(e) => setMethod(e.target.value as "link" | "password")}>
            <option value="link">One-time link</option>
            <option value="password">Temporary password</option>
          </select>
        </div>
        <button type="submit" className="btn primary">
          Invite
        </button>
      </form>
      <ActionStatus status={status} />
      {invitation?.temporary_password && (
        <ShownOnce
          label={`Temporary password for ${invitation.user.email} (to change at first sign-in).`}
          value={invitation.temporary_password}
          onDone={() => setInvitation(null)}
        />
      )}
      {link && (
        <ShownOnce
          label={`Invite link for ${invitation?.user.email}${invitation?.expires_at ? ` (until ${formatTime(invitation.expires_at)})` : ""}.`}
          value={link}
          onDone={() => setInvitation(null)}
        />
      )}
    </section>
  );
}
