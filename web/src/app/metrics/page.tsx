import type { Metadata } from "next";
import { MetricsPage } from "@/components/MetricsPage";

export const metadata: Metadata = { title: "Metrics · Prism" };

export default function Metrics() {
  return <MetricsPage />;
}
