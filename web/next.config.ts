import type { NextConfig } from "next";

// A static export: `next build` writes plain files to out/, served by any static host.
// Runtime settings (API URLs) come from /config.json, fetched by the browser at startup,
// so one build serves every environment.
const nextConfig: NextConfig = {
  output: "export",
  // /settings/ -> settings/index.html: works on any static server without rewrite rules.
  trailingSlash: true,
  images: { unoptimized: true },
  reactStrictMode: true,
  poweredByHeader: false,
};

export default nextConfig;
