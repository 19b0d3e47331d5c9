#!/usr/bin/env bash
set -euo pipefail
out="${1:-$HOME/grafana-backup}"
H=(-H "Authorization: Bearer ${GRAFANA_TOKEN:?}")
mkdir -p "$out"
curl -s "${H[@]}" "$GRAFANA_URL/api/search?type=dash-db&limit=5000" | jq -r '.[] | [.uid, (.folderTitle // "General")] | @tsv' |
while IFS=$'\t' read -r uid folder; do
  d="$out/$(echo "$folder" | tr ' /' '__')"
  mkdir -p "$d"
  curl -s "${H[@]}" "$GRAFANA_URL/api/dashboards/uid/$uid" | jq -S . > "$d/$uid.json"
done
echo "saved to $out"
