import type { Metadata } from "next";
import { Suspense } from "react";
import { LogsPage } from "@/components/LogsPage";

export const metadata: Metadata = { title: "Logs · Prism" };

// The list, and one event as /logs/?id=... (a static export cannot have a page per id).
export default function Logs() {
  return (
    <Suspense fallback={null}>
      <LogsPage />
    </Suspense>
  );
}
