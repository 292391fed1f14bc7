"use client";

import { useProject } from "@/hooks/useProject";

/** The projects a new dashboard may go in (those of the nav's switcher; `default` before they are read). */
function choices(projects: { slug: string; name: string }[] | null): { slug: string; name: string }[] {
  return projects && projects.length > 0 ? projects : [{ slug: "default", name: "Default" }];
}

/**
 * In the every-project view, which project a new dashboard goes in (a dashboard belongs to one):
 * a select, `default` first chosen. Nothing in one project's view (the dashboard goes in that one).
 */
export function DashboardProjectPick({ id, value, onChange }: { id: string; value: string; onChange: (slug: string) => void }) {
  const { project, projects } = useProject();
  if (project) return null;
  return (
    <>
      <label htmlFor={id} className="sr-only">
        Project of the new dashboard
      </label>
      <select id={id} className="text-input" value={value} onChange={(e) => onChange(e.target.value)} title="Project of the new dashboard">
        {choices(projects).map((p) => (
          <option key={p.slug} value={p.slug}>
            {p.name} ({p.slug})
          </option>
        ))}
      </select>
    </>
  );
}

/** A listed dashboard's project, named in the every-project view (nothing in one project's view). */
export function DashboardProjectLabel({ slug }: { slug: string }) {
  const { project, projects } = useProject();
  if (project) return null;
  const name = projects?.find((p) => p.slug === slug)?.name;
  return (
    <span className="badge" data-testid="dashboard-project" title={`Project ${slug}`}>
      {name && name !== slug ? `${name} (${slug})` : slug}
    </span>
  );
}
