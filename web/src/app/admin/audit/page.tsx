import type { Metadata } from "next";
import { AuditAdmin } from "@/components/admin/AuditAdmin";

export const metadata: Metadata = { title: "Audit log · Prism" };

export default function Page() {
  return <AuditAdmin />;
}
