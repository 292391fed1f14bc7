import type { Metadata } from "next";
import { Suspense } from "react";
import { DashboardList } from "@/components/DashboardPages";
import { ProjectScope } from "@/components/ProjectProvider";

export const metadata: Metadata = { title: "Dashboards · Prism" };

// The saved dashboards: open, rename, duplicate, delete.
export default function Dashboards() {
  return (
    <Suspense fallback={null}>
      <ProjectScope>
        <DashboardList />
      </ProjectScope>
    </Suspense>
  );
}
