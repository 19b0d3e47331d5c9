#!/usr/bin/env bash
set -euo pipefail
server="$1"; keep="${2:-5}"
hcloud image list --type snapshot -o json | \
  jq -r --arg s "$server" '[.[] | select(.created_from.name == $s)] | sort_by(.created) | reverse | .[]|"\(.id) \(.created) \(.description)"' | \
  tail -n +$(( keep + 1 ))
echo "Delete these with: hcloud image delete <id>"
