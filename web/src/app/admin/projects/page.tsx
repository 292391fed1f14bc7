import type { Metadata } from "next";
import { ProjectsAdmin } from "@/components/admin/ProjectsAdmin";

export const metadata: Metadata = { title: "Projects · Prism" };

export default function Page() {
  return <ProjectsAdmin />;
}
