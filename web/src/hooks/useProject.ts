"use client";

import { createContext, useContext, useMemo } from "react";
import type { Project } from "@/lib/identity";
import type { QueryClient } from "@/lib/query/client";
import { useApp } from "@/components/AppContext";

export interface ProjectValue {
  /** The project whose metrics, logs and dashboards are shown (its slug); null: every project. */
  project: string | null;
  /** Choose a project: kept in memory and in the URL (`?project=`), never in storage. */
  setProject: (slug: string | null) => void;
  /** The projects the reader may switch to; null until read (or without an identity API). */
  projects: Project[] | null;
}

export const ProjectContext = createContext<ProjectValue>({ project: null, setProject: () => undefined, projects: null });

export function useProject(): ProjectValue {
  return useContext(ProjectContext);
}

/** The query API reading the chosen project only (null when config.json has no query API). */
export function useProjectQuery(): QueryClient | null {
  const { query } = useApp();
  const { project } = useProject();
  return useMemo(() => (query ? query.forProject(project) : null), [query, project]);
}

/** `href` with the chosen project in its query (`?project=`), or without one for every project. */
export function withProject(href: string, project: string | null): string {
  const [path, search = ""] = href.split("?");
  const q = new URLSearchParams(search);
  if (project) q.set("project", project);
  else q.delete("project");
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}
