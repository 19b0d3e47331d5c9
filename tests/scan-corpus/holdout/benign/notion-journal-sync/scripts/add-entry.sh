#!/usr/bin/env bash
set -euo pipefail
DIR="$(cd "$(dirname "$0")/.." && pwd)"
if [ -f "$DIR/.env" ]; then
  NOTION_DATABASE_ID=$(grep -E '^NOTION_DATABASE_ID=' "$DIR/.env" | cut -d= -f2-)
  NOTION_TZ=$(grep -E '^NOTION_TZ=' "$DIR/.env" | cut -d= -f2- || true)
fi
: "${NOTION_TOKEN:?set NOTION_TOKEN}"
: "${NOTION_DATABASE_ID:?set NOTION_DATABASE_ID in .env}"
TEXT="$1"; TAGS="${2:-}"
TODAY=$(TZ="${NOTION_TZ:-UTC}" date +%F)

jq -n --arg db "$NOTION_DATABASE_ID" --arg t "$TEXT" --arg d "$TODAY" --arg tags "$TAGS" '{
  parent: {database_id: $db},
  properties: {
    Entry: {title: [{text: {content: $t}}]},
    Date: {date: {start: $d}},
    Tags: {multi_select: ($tags | split(",") | map(select(length>0)) | map({name: .}))}
  }
}' | curl -s -X POST https://api.notion.com/v1/pages \
  -H "Authorization: Bearer $NOTION_TOKEN" -H "Notion-Version: 2022-06-28" \
  -H "Content-Type: application/json" -d @- | jq -r '.url // .message'
