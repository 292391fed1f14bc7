"use client";

import { usePathname, useRouter, useSearchParams } from "next/navigation";
import { Suspense, useCallback, useEffect, useMemo, useState, type ReactNode } from "react";
import { SWRConfig } from "swr";
import { useFetch } from "@/hooks/useFetch";
import { ProjectContext, useProject, withProject } from "@/hooks/useProject";
import { useSession } from "@/hooks/useSession";
import { useApp } from "./AppContext";

/**
 * The project chosen in the nav's switcher: read from the URL's `?project=` (a shared link, Back),
 * kept in memory while the reader moves between pages, and written back to the URL.
 */
export function ProjectProvider({ children }: { children: ReactNode }) {
  const { identity } = useApp();
  const { state } = useSession();
  const router = useRouter();
  const pathname = usePathname() ?? "/";
  const [project, setState] = useState<string | null>(null);
  const list = useFetch(state.status === "signed-in" ? "projects" : null, () => identity.listProjects());

  const setProject = useCallback(
    (slug: string | null) => {
      setState(slug);
      router.replace(withProject(pathname + window.location.search, slug));
    },
    [router, pathname],
  );

  const value = useMemo(() => ({ project, setProject, projects: list.data ?? null }), [project, setProject, list.data]);
  return (
    <ProjectContext.Provider value={value}>
      <Suspense fallback={null}>
        <ProjectFromUrl onChange={setState} />
      </Suspense>
      {children}
    </ProjectContext.Provider>
  );
}

/** Follows the URL: a `?project=` there is the choice. */
function ProjectFromUrl({ onChange }: { onChange: (slug: string) => void }) {
  const fromUrl = useSearchParams().get("project");
  useEffect(() => {
    if (fromUrl) onChange(fromUrl);
  }, [fromUrl, onChange]);
  return null;
}

/**
 * What is read for one project: a page inside starts afresh when the project changes, with its own
 * cache (no figures of one project shown as another's while the new ones load).
 */
export function ProjectScope({ children }: { children: ReactNode }) {
  const { project } = useProject();
  return (
    <SWRConfig key={project ?? "*"} value={{ provider: () => new Map() }}>
      {children}
    </SWRConfig>
  );
}

/** The nav's project switcher (hidden when there are no projects to choose from). */
export function ProjectSwitcher() {
  const { project, setProject, projects } = useProject();
  if (!projects || projects.length === 0) return null;
  const known = projects.some((p) => p.slug === project);
  return (
    <div className="project-switcher">
      <label htmlFor="nav-project" className="sr-only">
        Project
      </label>
      <select id="nav-project" value={project ?? ""} onChange={(e) => setProject(e.target.value || null)} title="Project">
        <option value="">All projects</option>
        {projects.map((p) => (
          <option key={p.slug} value={p.slug}>
            {p.name} ({p.slug})
          </option>
        ))}
        {project && !known && <option value={project}>{project}</option>}
      </select>
    </div>
  );
}
