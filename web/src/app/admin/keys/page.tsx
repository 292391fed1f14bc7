import type { Metadata } from "next";
import { KeysAdmin } from "@/components/admin/KeysAdmin";

export const metadata: Metadata = { title: "API keys · Prism" };

export default function Page() {
  return <KeysAdmin />;
}
