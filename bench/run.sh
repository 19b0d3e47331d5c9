#!/usr/bin/env bash
# Reproduces BENCHMARKS.md: release build, then the harness (direct vs through Warden, one run).
# Extra arguments go to the harness, e.g. `bench/run.sh --rate 1000 --secs 10 --workers 64`.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p warden -p warden-bench
exec target/release/warden-bench --warden target/release/warden "$@"
