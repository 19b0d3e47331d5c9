#!/usr/bin/env bash
# Reproduces BENCHMARKS.md "Kill switch across replicas": release build, a
# throwaway PostgreSQL on loopback (scripts/postgres.sh), three replicas on it.
# Extra arguments go to the harness, e.g. `bench/propagation.sh --samples 500`.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p warden -p warden-bench
pgdir=$(mktemp -d /tmp/warden-bench-pg.XXXXXX)
trap './scripts/postgres.sh stop "$pgdir"; rm -rf "$pgdir"' EXIT
url=$(./scripts/postgres.sh start "$pgdir")
target/release/warden-bench propagation --warden target/release/warden --postgres "$url" "$@"
