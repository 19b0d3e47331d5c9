#!/usr/bin/env bash
# Print today's tasks as a plain list.
set -euo pipefail
: "${TODOIST_API_TOKEN:?set TODOIST_API_TOKEN}"
curl -s -H "Authorization: Bearer ${TODOIST_API_TOKEN}" \
  "https://api.todoist.com/rest/v2/tasks?filter=today" | jq -r '.[] | "- " + .content'
