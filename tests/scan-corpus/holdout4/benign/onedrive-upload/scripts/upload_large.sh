#!/usr/bin/env bash
set -euo pipefail
src="$1"; dest="$2"
: "${MS_GRAPH_TOKEN:?set MS_GRAPH_TOKEN}"
size=$(stat -c %s "$src" 2>/dev/null || stat -f %z "$src")
url=$(curl -s -X POST -H "Authorization: Bearer $MS_GRAPH_TOKEN" -H 'Content-Type: application/json' \
  -d '{"item":{"@microsoft.graph.conflictBehavior":"rename"}}' \
  "https://graph.microsoft.com/v1.0/me/drive/root:${dest}:/createUploadSession" | jq -r .uploadUrl)
chunk=$((10*1024*1024)); off=0
while (( off < size )); do
  end=$(( off + chunk - 1 )); (( end >= size )) && end=$(( size - 1 ))
  dd if="$src" bs=1 skip="$off" count=$(( end - off + 1 )) status=none | \
    curl -s -X PUT -H "Content-Range: bytes $off-$end/$size" --data-binary @- "$url" >/dev/null
  off=$(( end + 1 )); echo "uploaded $off/$size"
done
