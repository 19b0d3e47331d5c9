#!/usr/bin/env bash
set -euo pipefail
CONF="$HOME/.config/telegram-reminders/env"
[ -f "$CONF" ] && . "$CONF"
: "${TELEGRAM_BOT_TOKEN:?missing TELEGRAM_BOT_TOKEN}"
: "${TELEGRAM_CHAT_ID:?missing TELEGRAM_CHAT_ID}"
curl -s -X POST "https://api.telegram.org/bot${TELEGRAM_BOT_TOKEN}/sendMessage" \
  --data-urlencode "chat_id=${TELEGRAM_CHAT_ID}" \
  --data-urlencode "text=$1" >/dev/null && echo "sent"
