#!/usr/bin/env bash
# usage: with-token.sh <command...>  — runs the command with TODO_API_TOKEN set
set -euo pipefail
TODO_API_TOKEN="$(keepassxc-cli show -q -s -a Password "${KDBX:-$HOME/Passwords.kdbx}" 'OpenClaw/Todo API')"
export TODO_API_TOKEN
exec "$@"
