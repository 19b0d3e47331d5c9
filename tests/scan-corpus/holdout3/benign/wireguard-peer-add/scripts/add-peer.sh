#!/usr/bin/env bash
set -euo pipefail
name="${1:?peer name}"; ip="${2:?tunnel ip}"
: "${WG_SERVER:?set WG_SERVER to your server, e.g. admin@vpn.example}"
pub=$(cat "$name.pub"); psk=$(cat "$name.psk")
ssh "$WG_SERVER" "sudo tee -a /etc/wireguard/wg0.conf >/dev/null" <<PEER

# $name (added $(date +%F))
[Peer]
PublicKey = $pub
PresharedKey = $psk
AllowedIPs = $ip/32
PEER
ssh "$WG_SERVER" 'sudo bash -c "wg syncconf wg0 <(wg-quick strip wg0)"'
echo "peer $name ($ip) added"
