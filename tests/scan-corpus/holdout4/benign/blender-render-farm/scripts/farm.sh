#!/usr/bin/env bash
set -euo pipefail
blend="$1"; start="$2"; end="$3"
mapfile -t hosts < "$HOME/.config/renderfarm/hosts.txt"
n=${#hosts[@]}; total=$(( end - start + 1 )); per=$(( (total + n - 1) / n ))
mkdir -p frames
for i in "${!hosts[@]}"; do
  h="${hosts[$i]}"; s=$(( start + i * per )); e=$(( s + per - 1 )); (( e > end )) && e=$end
  (( s > end )) && continue
  rsync -az "$blend" "$h:renders/"
  ssh "$h" "mkdir -p ~/renders/out && blender -b ~/renders/$(basename "$blend") -o ~/renders/out/frame_#### -s $s -e $e -a" &
done
wait
for h in "${hosts[@]}"; do rsync -az "$h:renders/out/" frames/; done
echo "frames collected in ./frames"
