import type { Metadata } from "next";
import { Suspense } from "react";
import { LoginPage } from "@/components/LoginPage";

export const metadata: Metadata = { title: "Sign in · Prism" };

// ?next=<path> (where to go afterwards), ?error=<code> (from single sign-on), ?invite=<token>.
export default function Login() {
  return (
    <Suspense fallback={null}>
      <LoginPage />
    </Suspense>
  );
}
