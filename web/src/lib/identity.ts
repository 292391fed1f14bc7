/**
 * The identity API (functions/identity): sign-in, the session, users, keys, projects, the chat's
 * project and the audit log. Its shapes follow functions/identity/schemas.py; it is served from
 * this page's origin (`/api/auth`, `/api/users`, ... forwarded by the web server).
 */

import { requestJson } from "./http";

// --- shapes (functions/identity/schemas.py) -------------------------------------------------------

export type Role = "admin" | "member" | "viewer";

export const ROLES: readonly Role[] = ["admin", "member", "viewer"];

const RANK: Record<Role, number> = { viewer: 0, member: 1, admin: 2 };

/** Whether `role` may do what needs `required` (admin > member > viewer). */
export function allows(role: Role | null | undefined, required: Role): boolean {
  return !!role && RANK[role] >= RANK[required];
}

export interface User {
  id: string;
  email: string;
  name: string | null;
  role: Role;
  /** Signed in with a temporary password: change it first. */
  must_change_password: boolean;
  disabled: boolean;
  /** Signs in with single sign-on (OIDC). */
  sso: boolean;
  /** Invited by link, not signed in yet. */
  pending_invite: boolean;
  created_at: string;
  last_login_at: string | null;
}

export interface Session {
  user: User;
  /** Sent as X-CSRF-Token with every state change; null when called with a read token. */
  csrf_token: string | null;
}

/** The sign-in methods that are on. */
export interface LoginMethods {
  password: boolean;
  oidc: boolean;
}

export interface InviteBody {
  email: string;
  role: Role;
  name?: string | null;
  /** link: a one-time invite link; password: a temporary password to change at first sign-in. */
  method: "link" | "password";
}

/** Shown once: neither the temporary password nor the invite token can be read again. */
export interface Invitation {
  user: User;
  temporary_password: string | null;
  invite_token: string | null;
  /** Relative to this origin: /login/?invite=<token>. */
  invite_url: string | null;
  expires_at: string | null;
}

export interface UserPatch {
  role?: Role;
  disabled?: boolean;
  name?: string;
}

export type KeyKind = "ingest" | "read";

export interface KeyBody {
  kind: KeyKind;
  name: string;
  /** An ingestion key's project (required for ingest). */
  project?: string | null;
  /** A read token's user (default: the caller). */
  user_id?: string | null;
  expires_at?: string | null;
}

export interface ApiKey {
  id: string;
  kind: KeyKind;
  /** The visible head of the key (prism_ik_<id> / prism_rt_<id>). */
  prefix: string;
  name: string;
  project: string | null;
  user_id: string | null;
  user_email: string | null;
  created_by: string | null;
  created_at: string;
  last_used_at: string | null;
  expires_at: string | null;
  revoked_at: string | null;
  status: "active" | "expired" | "revoked";
}

export interface CreatedKey extends ApiKey {
  /** The whole key, shown this once: only its digest is kept. */
  token: string;
}

export interface Project {
  id: string;
  slug: string;
  name: string;
  created_at: string;
}

export const SLUG_PATTERN = "^[a-z0-9][a-z0-9-]{0,62}$";

export interface AuditEntry {
  id: number;
  at: string;
  actor: string;
  actor_id: string | null;
  action: string;
  target: string | null;
  detail: Record<string, unknown>;
  address: string | null;
}

export interface AuditPage {
  items: AuditEntry[];
  next_cursor: string | null;
}

// --- where sign-in sends the reader ---------------------------------------------------------------

export const LOGIN_PATH = "/login/";
export const ACCOUNT_PATH = "/account/";

/** The sign-in page, coming back to `next` (a path of this site) afterwards. */
export function loginHref(next?: string | null): string {
  const back = safeNext(next);
  return back === "/" ? LOGIN_PATH : `${LOGIN_PATH}?next=${encodeURIComponent(back)}`;
}

/** Where `?next=` may send the reader after signing in: a path of this site, else `/`. */
export function safeNext(next: string | null | undefined): string {
  if (!next || !next.startsWith("/") || next.startsWith("//") || next.startsWith("/\\")) return "/";
  if (next.startsWith(LOGIN_PATH) || next === "/login") return "/";
  return next;
}

/** What the login page says for the `?error=` the single sign-on callback sends back. */
export function ssoErrorMessage(code: string): string {
  switch (code) {
    case "oidc_state_mismatch":
      return "The single sign-on took too long or was started in another tab. Try again.";
    case "oidc_disabled":
      return "Single sign-on is not configured.";
    case "oidc_provider_unavailable":
      return "The single sign-on provider cannot be reached. Try again later.";
    case "email_taken":
      return "That e-mail address already belongs to another account. Ask an admin.";
    case "oidc_provider_error":
      return "The single sign-on provider refused the sign-in.";
    case "oidc_code_rejected":
    case "oidc_token_invalid":
      return "The single sign-on could not be verified. Try again.";
    case "oidc_email_unverified":
      return "The single sign-on provider has not verified your e-mail address.";
    case "account_disabled":
    case "forbidden":
      return "This account cannot sign in. Ask an admin.";
    default:
      return `Single sign-on failed (${code}).`;
  }
}

/** A sign-in error as the form shows it: the same words for an unknown e-mail and a wrong password. */
export function loginErrorMessage(e: { status: number; code: string; message: string }): string {
  if (e.status === 401) return "Wrong e-mail or password.";
  if (e.status === 429) return "Too many attempts. Wait a minute and try again.";
  if (e.code === "password_login_off") return "Password sign-in is off: use single sign-on.";
  if (e.code === "account_disabled") return "This account cannot sign in. Ask an admin.";
  return e.message;
}

// --- client ---------------------------------------------------------------------------------------

export class IdentityClient {
  /** `baseUrl`: this page's origin (the web server forwards the identity API's paths). */
  constructor(
    private readonly baseUrl: string = "",
    private readonly fetchImpl?: typeof fetch,
  ) {}

  private request<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    return requestJson("identity API", method, this.baseUrl + path, { body, signal, fetchImpl: this.fetchImpl });
  }

  /** The OIDC sign-in is a browser navigation, not a fetch. */
  get oidcLoginUrl(): string {
    return `${this.baseUrl}/api/auth/oidc/login`;
  }

  session(signal?: AbortSignal): Promise<Session> {
    return this.request("GET", "/api/auth/session", undefined, signal);
  }

  loginMethods(): Promise<LoginMethods> {
    return this.request("GET", "/api/auth/providers");
  }

  login(email: string, password: string): Promise<Session> {
    return this.request("POST", "/api/auth/login", { email, password });
  }

  acceptInvite(token: string, password: string): Promise<Session> {
    return this.request("POST", "/api/auth/invite/accept", { token, password });
  }

  logout(): Promise<void> {
    return this.request("POST", "/api/auth/logout");
  }

  logoutEverywhere(): Promise<void> {
    return this.request("POST", "/api/auth/logout-everywhere");
  }

  changePassword(currentPassword: string, newPassword: string): Promise<Session> {
    return this.request("POST", "/api/auth/password", { current_password: currentPassword, new_password: newPassword });
  }

  listUsers(): Promise<User[]> {
    return this.request("GET", "/api/users");
  }

  inviteUser(body: InviteBody): Promise<Invitation> {
    return this.request("POST", "/api/users", body);
  }

  updateUser(id: string, patch: UserPatch): Promise<User> {
    return this.request("PATCH", `/api/users/${encodeURIComponent(id)}`, patch);
  }

  deleteUser(id: string): Promise<void> {
    return this.request("DELETE", `/api/users/${encodeURIComponent(id)}`);
  }

  listKeys(): Promise<ApiKey[]> {
    return this.request("GET", "/api/keys");
  }

  createKey(body: KeyBody): Promise<CreatedKey> {
    return this.request("POST", "/api/keys", body);
  }

  revokeKey(id: string): Promise<void> {
    return this.request("DELETE", `/api/keys/${encodeURIComponent(id)}`);
  }

  listProjects(): Promise<Project[]> {
    return this.request("GET", "/api/projects");
  }

  createProject(slug: string, name: string): Promise<Project> {
    return this.request("POST", "/api/projects", { slug, name });
  }

  renameProject(slug: string, name: string): Promise<Project> {
    return this.request("PATCH", `/api/projects/${encodeURIComponent(slug)}`, { name });
  }

  deleteProject(slug: string): Promise<void> {
    return this.request("DELETE", `/api/projects/${encodeURIComponent(slug)}`);
  }

  chatProject(): Promise<{ project: string }> {
    return this.request("GET", "/api/config/chat-project");
  }

  setChatProject(project: string): Promise<{ project: string }> {
    return this.request("PUT", "/api/config/chat-project", { project });
  }

  audit(cursor?: string | null, limit = 50): Promise<AuditPage> {
    const q = new URLSearchParams({ limit: String(limit) });
    if (cursor) q.set("cursor", cursor);
    return this.request("GET", `/api/audit?${q}`);
  }
}
