import type { Metadata } from "next";
import { Suspense } from "react";
import { MetricsPage } from "@/components/MetricsPage";
import { ProjectScope } from "@/components/ProjectProvider";

export const metadata: Metadata = { title: "Metrics · Prism" };

// The chosen project's metrics (the nav's project switcher); the view is kept in the URL.
export default function Metrics() {
  return (
    <Suspense fallback={null}>
      <ProjectScope>
        <MetricsPage />
      </ProjectScope>
    </Suspense>
  );
}
