#!/bin/sh
# Where this deployment's APIs are, for the browser (web/README.md, "Runtime configuration").
set -eu
json() { if [ -n "${1:-}" ]; then printf '"%s"' "$1"; else printf 'null'; fi; }
cat > /usr/share/nginx/html/config.json <<CONFIG
{"chatApiUrl": $(json "${PRISM_WEB_CHAT_URL:-http://localhost:8100}"), "chatStreamUrl": $(json "${PRISM_WEB_CHAT_STREAM_URL:-}"), "queryApiUrl": $(json "${PRISM_WEB_QUERY_URL:-http://localhost:8102}")}
CONFIG
