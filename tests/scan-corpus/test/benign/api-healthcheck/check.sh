#!/bin/sh
for u in https://api.example.com/health https://auth.example.com/health; do
  code=$(curl -s -o /dev/null -w '%{http_code}' "$u")
  echo "$u $code"
done
