#!/usr/bin/env bash
# Reproduces BENCHMARKS.md's detector figures: speed on one core (22 KB request
# cold and with history cached, throughput), then prompt-injection quality on
# the validation splits at the shipped threshold, then secret detection on
# the labelled corpus (scripts/make-secret-corpus.py). Streaming time to first
# token is `bench/run.sh`'s sibling: `target/release/warden-bench ttft`.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${WARDEN_PI_DATA:-../shared/data/prompt-injection}
cargo build --release --locked -q -p warden
taskset -c 0 cargo run --release --locked -q -p warden-detect --example detect_speed
for f in "$DATA/slabs-validation.jsonl" "$DATA/neuralchemy-validation.jsonl"; do
  target/release/warden guard eval "$f"
done
target/release/warden guard eval --secrets crates/detect/corpus/secrets.jsonl
