import type { Metadata } from "next";
import { MetricsPage } from "@/components/MetricsPage";
import { ProjectScope } from "@/components/ProjectProvider";

export const metadata: Metadata = { title: "Metrics · Prism" };

// The chosen project's metrics (the nav's project switcher).
export default function Metrics() {
  return (
    <ProjectScope>
      <MetricsPage />
    </ProjectScope>
  );
}
