import type { Metadata, Viewport } from "next";
import type { ReactNode } from "react";
import { AppProvider } from "@/components/AppContext";
import { Nav } from "@/components/Nav";
import { ProjectProvider } from "@/components/ProjectProvider";
import { SessionGate, SessionProvider } from "@/components/SessionProvider";
import "./globals.css";

export const metadata: Metadata = {
  title: "Prism",
  description: "Chat with any model; every call logged.",
};

export const viewport: Viewport = { width: "device-width", initialScale: 1 };

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body>
        <a href="#main" className="skip-link">
          Skip to content
        </a>
        <AppProvider>
          <SessionProvider>
            <ProjectProvider>
              <Nav />
              <main id="main">
                <SessionGate>{children}</SessionGate>
              </main>
            </ProjectProvider>
          </SessionProvider>
        </AppProvider>
      </body>
    </html>
  );
}
