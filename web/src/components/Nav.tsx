"use client";

import Link from "next/link";
import { usePathname } from "next/navigation";

const LINKS: { href: string; label: string; soon?: boolean }[] = [
  { href: "/", label: "Chat" },
  { href: "/metrics/", label: "Metrics" },
  { href: "/logs/", label: "Logs" },
  { href: "/settings/", label: "Settings" },
];

function active(pathname: string, href: string): boolean {
  if (href === "/") return pathname === "/" || pathname.startsWith("/chat");
  return pathname.startsWith(href.replace(/\/$/, ""));
}

export function Nav() {
  const pathname = usePathname() ?? "/";
  return (
    <header className="topbar">
      <Link href="/" className="brand">
        Prism
      </Link>
      <nav aria-label="Main">
        <ul>
          {LINKS.map((l) =>
            l.soon ? (
              <li key={l.href}>
                <span className="nav-link disabled" aria-disabled="true" title="Coming soon">
                  {l.label} <small>soon</small>
                </span>
              </li>
            ) : (
              <li key={l.href}>
                <Link
                  href={l.href}
                  className="nav-link"
                  aria-current={active(pathname, l.href) ? "page" : undefined}
                >
                  {l.label}
                </Link>
              </li>
            ),
          )}
        </ul>
      </nav>
    </header>
  );
}
