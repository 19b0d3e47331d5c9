#!/usr/bin/env bash
# Rebuilds the shipped prompt-injection model from the train splits only
# (validation splits are for `warden guard eval`). Deterministic: running it
# again gives the same bytes as the file in the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${WARDEN_PI_DATA:-../shared/data/prompt-injection}
OUT=${1:-crates/detect/models/prompt-injection.wpi}
# neuralchemy is the smaller corpus and closer to agent traffic: weighted twice.
cargo run --release -q -p warden-detect --example train_pi -- "$OUT" \
  "$DATA/slabs-train.jsonl" "$DATA/neuralchemy-train.jsonl:2"
sha256sum "$OUT"
