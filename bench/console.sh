#!/usr/bin/env bash
# Web console (issue 21): approvals/agents page times with 10k bots + 1k pending
# approvals in SQLite, and console-decision release of a held call across two
# replicas sharing the SQLite file (default store.poll_interval_ms).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/work/target-bench}"
cargo build --release -p warden-bench
exec "$CARGO_TARGET_DIR/release/warden-bench" console "$@"
