#!/bin/sh
# Where this deployment's APIs are, for the browser (web/README.md, "Runtime configuration"). Unset
# or empty: this origin, whose nginx (nginx.conf) forwards /api/... to each function, so the page
# calls its own origin only (first-party session cookie, no CORS). Absolute URLs: APIs served elsewhere.
set -eu
json() { if [ -n "${1:-}" ]; then printf '"%s"' "$1"; else printf '%s' "$2"; fi; }
cat > /usr/share/nginx/html/config.json <<CONFIG
{"chatApiUrl": $(json "${PRISM_WEB_CHAT_URL:-}" '""'), "chatStreamUrl": $(json "${PRISM_WEB_CHAT_STREAM_URL:-}" null), "queryApiUrl": $(json "${PRISM_WEB_QUERY_URL:-}" '""')}
CONFIG
