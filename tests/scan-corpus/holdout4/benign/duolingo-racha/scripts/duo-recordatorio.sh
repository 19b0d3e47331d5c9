#!/usr/bin/env bash
msg="¿Ya hiciste tu lección de Duolingo hoy?"
if command -v notify-send >/dev/null; then notify-send "Duolingo" "$msg"
elif command -v osascript >/dev/null; then osascript -e "display notification \"$msg\" with title \"Duolingo\""
else echo "$msg"; fi
