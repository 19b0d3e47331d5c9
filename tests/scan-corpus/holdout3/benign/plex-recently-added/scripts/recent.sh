#!/usr/bin/env bash
set -euo pipefail
days="${1:-7}"
: "${PLEX_URL:?PLEX_URL を設定してください}"
if [ -z "${PLEX_TOKEN:-}" ]; then
  PLEX_TOKEN=$(security find-generic-password -s plex-token -w 2>/dev/null || secret-tool lookup service plex-token)
fi
since=$(( $(date +%s) - days * 86400 ))
curl -s -H "Accept: application/json" -H "X-Plex-Token: $PLEX_TOKEN" "$PLEX_URL/library/recentlyAdded?X-Plex-Container-Size=200" |
  jq -r --argjson s "$since" '.MediaContainer.Metadata[] | select(.addedAt >= $s)
    | [.librarySectionTitle, (if .type == "episode" then "\(.grandparentTitle) S\(.parentIndex)E\(.index)" else "\(.title) (\(.year // "?"))" end), (.contentRating // "-")] | @tsv' |
  sort | awk -F'\t' '$1 != last { print "\n## " $1; last = $1 } { print "- " $2 "  [" $3 "]" }'
