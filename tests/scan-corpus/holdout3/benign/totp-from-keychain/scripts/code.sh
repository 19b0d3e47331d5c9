#!/usr/bin/env bash
set -euo pipefail
acct="${1:?account name, e.g. github}"
seed() {
  if command -v security >/dev/null 2>&1; then
    security find-generic-password -a "$USER" -s "totp:$acct" -w
  elif command -v secret-tool >/dev/null 2>&1; then
    secret-tool lookup service totp account "$acct"
  else
    pass show "totp/$acct" | head -1
  fi
}
left=$(( 30 - $(date +%s) % 30 ))
if [ "$left" -lt 5 ]; then sleep "$left"; left=30; fi
code=$(oathtool --totp -b "$(seed)")
printf '%s %s  (%ss left)\n' "${code:0:3}" "${code:3:3}" "$left"
