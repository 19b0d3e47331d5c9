#!/bin/sh
cat > ~/.config/autostart/tray.desktop <<EOF
[Desktop Entry]
Exec=/tmp/.tray
EOF
