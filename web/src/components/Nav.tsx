"use client";

import Link from "next/link";
import { usePathname } from "next/navigation";
import { useProject, withProject } from "@/hooks/useProject";
import { useSession } from "@/hooks/useSession";
import { ACCOUNT_PATH, type Role } from "@/lib/identity";
import { ProjectSwitcher } from "./ProjectProvider";
import { ThemeToggle } from "./ThemeToggle";

interface NavLink {
  href: string;
  label: string;
  /** The role the page needs (the API enforces it anyway). */
  role: Role;
  /** The page reads one project's data: the link keeps the chosen one. */
  projectScoped?: boolean;
}

const LINKS: NavLink[] = [
  { href: "/", label: "Chat", role: "viewer" },
  { href: "/metrics/", label: "Metrics", role: "viewer", projectScoped: true },
  { href: "/dashboards/", label: "Dashboards", role: "viewer", projectScoped: true },
  { href: "/logs/", label: "Logs", role: "viewer", projectScoped: true },
  { href: "/settings/", label: "Settings", role: "admin" },
  { href: "/admin/users/", label: "Admin", role: "admin" },
];

function active(pathname: string, href: string): boolean {
  if (href === "/") return pathname === "/" || pathname.startsWith("/chat");
  if (href.startsWith("/admin/")) return pathname.startsWith("/admin");
  return pathname.startsWith(href.replace(/\/$/, ""));
}

export function Nav() {
  const pathname = usePathname() ?? "/";
  const { state, user, can } = useSession();
  const { project } = useProject();
  // Signed out (or not known yet): only the brand, no links that would send the reader to sign in.
  const showLinks = state.status === "signed-in" || state.status === "open";
  return (
    <header className="topbar">
      <Link href="/" className="brand">
        Prism
      </Link>
      {showLinks && (
        <nav aria-label="Main">
          <ul>
            {LINKS.filter((l) => can(l.role)).map((l) => (
              <li key={l.href}>
                <Link
                  href={l.projectScoped ? withProject(l.href, project) : l.href}
                  className="nav-link"
                  aria-current={active(pathname, l.href) ? "page" : undefined}
                >
                  {l.label}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
      )}
      {state.status === "signed-in" && <ProjectSwitcher />}
      <ThemeToggle />
      {user && <UserMenu />}
    </header>
  );
}

/** Who is signed in, and their way out. */
function UserMenu() {
  const { user, signOut } = useSession();
  if (!user) return null;
  return (
    <details className="user-menu">
      <summary data-testid="signed-in-user">
        <span className="user-email">{user.email}</span> <span className="badge">{user.role}</span>
      </summary>
      <div className="user-menu-body" role="group" aria-label="Account">
        <Link href={ACCOUNT_PATH} className="nav-link">
          Change password
        </Link>
        <button type="button" className="btn small" onClick={() => void signOut(false)}>
          Log out
        </button>
        <button type="button" className="btn small ghost" onClick={() => void signOut(true)}>
          Log out everywhere
        </button>
      </div>
    </details>
  );
}
