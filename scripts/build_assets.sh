#!/usr/bin/env bash
# Builds the browser assets the web pages load: JsSIP as one ES module in
# agents_ui/static/vendor/jssip.js (npm ci from the lock file, then esbuild).
# Idempotent: does nothing while the bundle is newer than package-lock.json and build.mjs.
set -euo pipefail
cd "$(dirname "$0")/.."

frontend=agents_ui/frontend
bundle=agents_ui/static/vendor/jssip.js

say() { printf '\033[1m[assets]\033[0m %s\n' "$*"; }

if [ -s "$bundle" ] && [ "$bundle" -nt "$frontend/package-lock.json" ] && [ "$bundle" -nt "$frontend/build.mjs" ]; then
  say "$bundle is up to date with $frontend/package-lock.json; nothing to do"
  exit 0
fi

for tool in node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "[assets] ERROR: '$tool' not found; install the Debian packages nodejs and npm (scripts/bootstrap.sh does)" >&2
    exit 1
  fi
done

say "installing the pinned npm packages in $frontend (npm ci, node $(node --version), npm $(npm --version))"
(cd "$frontend" && npm ci --no-audit --no-fund --loglevel=error)
say "bundling jssip into $bundle (esbuild, esm, es2020, minified)"
(cd "$frontend" && node build.mjs)
# esbuild may leave the old mtime when the content is unchanged; the skip test above needs it fresh.
touch "$bundle"
say "done: $(wc -c <"$bundle") bytes"
