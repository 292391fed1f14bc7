import type { Metadata } from "next";
import { Suspense } from "react";
import { DashboardView } from "@/components/DashboardPages";
import { ProjectScope } from "@/components/ProjectProvider";

export const metadata: Metadata = { title: "Dashboard · Prism" };

// One saved dashboard as /dashboards/view/?id=... (a static export cannot have a page per id).
export default function Dashboard() {
  return (
    <Suspense fallback={null}>
      <ProjectScope>
        <DashboardView />
      </ProjectScope>
    </Suspense>
  );
}
