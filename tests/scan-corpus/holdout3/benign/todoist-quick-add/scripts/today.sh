#!/usr/bin/env bash
set -euo pipefail
: "${TODOIST_API_TOKEN:?Set TODOIST_API_TOKEN first}"
curl -s -H "Authorization: Bearer $TODOIST_API_TOKEN" \
  "https://api.todoist.com/rest/v2/tasks?filter=today%20%7C%20overdue" |
  jq -r 'sort_by(-.priority) | .[] | "[P\(5 - .priority)] \(.content)" + (if .due then "  (" + .due.string + ")" else "" end)'
