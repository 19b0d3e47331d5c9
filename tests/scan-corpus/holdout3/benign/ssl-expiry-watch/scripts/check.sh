#!/usr/bin/env bash
set -uo pipefail
WARN=21
if [ "${1:-}" = --warn ]; then WARN=$2; shift 2; fi
hosts=("$@")
if [ ${#hosts[@]} -eq 0 ] && [ -f "$HOME/.config/ssl-watch/hosts" ]; then
  mapfile -t hosts < <(grep -vE '^\s*(#|$)' "$HOME/.config/ssl-watch/hosts")
fi
printf '%-28s %-5s %-22s %s\n' HOST DAYS EXPIRES ISSUER
for hp in "${hosts[@]}"; do
  h=${hp%%:*}; p=${hp#*:}; [ "$p" = "$hp" ] && p=443
  cert=$(echo | timeout 10 openssl s_client -connect "$h:$p" -servername "$h" 2>/dev/null | openssl x509 2>/dev/null) || true
  if [ -z "$cert" ]; then printf '%-28s %s\n' "$hp" "ERROR: no certificate"; continue; fi
  end=$(openssl x509 -noout -enddate <<<"$cert" | cut -d= -f2)
  iss=$(openssl x509 -noout -issuer <<<"$cert" | sed -E 's/.*CN ?= ?//')
  days=$(( ( $(date -d "$end" +%s) - $(date +%s) ) / 86400 ))
  flag=""; [ "$days" -le "$WARN" ] && flag="  <-- renew soon"
  printf '%-28s %-5s %-22s %s%s\n' "$hp" "$days" "$(date -u -d "$end" '+%F %H:%M UTC')" "$iss" "$flag"
done
