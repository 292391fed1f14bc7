import type { Metadata } from "next";
import { Suspense } from "react";
import { LogsPage } from "@/components/LogsPage";
import { ProjectScope } from "@/components/ProjectProvider";

export const metadata: Metadata = { title: "Logs · Prism" };

// The list, and one event as /logs/?id=... (a static export cannot have a page per id); the
// chosen project's events (the nav's project switcher).
export default function Logs() {
  return (
    <Suspense fallback={null}>
      <ProjectScope>
        <LogsPage />
      </ProjectScope>
    </Suspense>
  );
}
