"use client";

import { useEffect, useState } from "react";

/** The reader's choice of theme, kept in localStorage (not a secret); none: the system's setting. */
export const THEME_KEY = "prism-theme";
type Theme = "light" | "dark";

function systemTheme(): Theme {
  return window.matchMedia?.("(prefers-color-scheme: dark)").matches ? "dark" : "light";
}

function stored(): Theme | null {
  try {
    const v = localStorage.getItem(THEME_KEY);
    return v === "light" || v === "dark" ? v : null;
  } catch {
    return null;
  }
}

/** Dark mode follows the system (prefers-color-scheme, in CSS); this button overrides it. */
export function ThemeToggle() {
  const [theme, setTheme] = useState<Theme | null>(null);

  useEffect(() => {
    const chosen = stored();
    if (chosen) document.documentElement.dataset.theme = chosen;
    setTheme(chosen ?? systemTheme());
  }, []);

  function toggle() {
    // From what the page shows, not this component's state: another mount (or a reload racing
    // the first render) may have set the theme since.
    const shown = document.documentElement.dataset.theme;
    const current: Theme = shown === "light" || shown === "dark" ? shown : systemTheme();
    const next: Theme = current === "dark" ? "light" : "dark";
    document.documentElement.dataset.theme = next;
    try {
      localStorage.setItem(THEME_KEY, next);
    } catch {
      // storage refused: the choice lasts for this page
    }
    setTheme(next);
  }

  if (theme === null) return null;
  return (
    <button
      type="button"
      className="icon-btn theme-toggle"
      onClick={toggle}
      aria-pressed={theme === "dark"}
      aria-label="Dark mode"
      title={theme === "dark" ? "Switch to light mode" : "Switch to dark mode"}
      data-testid="theme-toggle"
    >
      {theme === "dark" ? "☀" : "☾"}
    </button>
  );
}
