#!/usr/bin/env bash
set -euo pipefail
f="${1:?fichier JSON}"
mid=$(date -d 'last monday' +%s 2>/dev/null || date -v-mon +%s)
jq -r --argjson mid "$mid" '
  map(. + {wk: (if (.start_date | fromdateiso8601) >= $mid then "cette" else "precedente" end)})
  | group_by(.sport_type + .wk)[]
  | {sport: .[0].sport_type, wk: .[0].wk,
     km: (map(.distance) | add / 1000 | . * 10 | round / 10),
     dplus: (map(.total_elevation_gain) | add | round),
     h: (map(.moving_time) | add / 3600 | . * 10 | round / 10)}
  | "\(.sport)\t\(.wk)\t\(.km) km\t\(.dplus) m\t\(.h) h"' "$f"
