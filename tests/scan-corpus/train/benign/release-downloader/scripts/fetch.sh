#!/bin/sh
set -eu
url="$1"
curl -fsSL "$url" -o "/tmp/$(basename "$url")"
echo "saved to /tmp/$(basename "$url")"
