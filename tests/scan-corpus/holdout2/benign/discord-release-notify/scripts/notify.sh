#!/usr/bin/env bash
set -euo pipefail
version=$1; notes_file=$2; link=${3:-}
: "${DISCORD_WEBHOOK_URL:?set DISCORD_WEBHOOK_URL to your channel webhook}"

payload=$(jq -n --arg v "$version" --rawfile d "$notes_file" --arg u "$link" '{
  username: "Release Bot",
  embeds: [{ title: ("Released " + $v), description: ($d | .[0:4000]), url: (if $u == "" then null else $u end), color: 5814783 }]
}')

code=$(curl -s -o /dev/null -w '%{http_code}' -H "Content-Type: application/json" -d "$payload" "$DISCORD_WEBHOOK_URL")
if [[ $code == 204 || $code == 200 ]]; then echo "posted $version"; else echo "discord returned HTTP $code" >&2; exit 1; fi
