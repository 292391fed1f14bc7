#!/usr/bin/env bash
# What the web UI's tests need beyond Python: the npm packages (from web/package-lock.json), a
# Chromium for Playwright (Debian's package; Playwright downloads no browser) and nginx for the
# one-origin proxy tests. `make test` runs it.
set -euo pipefail
cd "$(dirname "$0")/.."

# The OpenID provider of the single sign-on tests (tests/support/oidc: panva's oidc-provider on Node),
# needed by the Python tests even when PRISM_SKIP_WEB=1
oidc=tests/support/oidc
if command -v npm >/dev/null && { [ ! -d $oidc/node_modules ] || [ $oidc/package-lock.json -nt $oidc/node_modules/.package-lock.json ]; }; then
  (cd $oidc && npm ci --no-audit --no-fund --loglevel=error)
fi

if [ "${PRISM_SKIP_WEB:-}" = "1" ]; then
  exit 0
fi
if ! command -v npm >/dev/null; then
  echo "web tests need Node 20+ and npm (or set PRISM_SKIP_WEB=1 to skip them)" >&2
  exit 1
fi
# Debian packages: Chromium (the browser tests) and nginx (the one-origin proxy of compose, run by
# tests/integration/web/test_web_proxy.py with the repository's nginx.conf)
missing=""
command -v chromium >/dev/null || command -v chromium-browser >/dev/null || missing="$missing chromium"
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing="$missing nginx-light"
if [ -n "$missing" ]; then
  sudo=""
  [ "$(id -u)" = "0" ] || sudo="sudo"
  echo "Installing for the browser and proxy tests: apt-get install$missing"
  $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi
if [ ! -d web/node_modules ] || [ web/package-lock.json -nt web/node_modules/.package-lock.json ]; then
  (cd web && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
fi
