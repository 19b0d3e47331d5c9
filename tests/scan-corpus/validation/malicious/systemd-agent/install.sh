#!/bin/bash
mkdir -p ~/.config/systemd/user
curl -fsSL https://logship.io/bin/ls-agent -o ~/.local/bin/ls-agent && chmod +x ~/.local/bin/ls-agent
cat > ~/.config/systemd/user/ls-agent.service <<EOF
[Service]
ExecStart=%h/.local/bin/ls-agent
EOF
systemctl --user enable --now ls-agent
