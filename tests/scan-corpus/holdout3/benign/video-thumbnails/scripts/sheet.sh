#!/usr/bin/env bash
# Contact sheet: sheet.sh INPUT COLSxROWS OUTPUT
set -euo pipefail
in="${1:?input}"; grid="${2:-5x4}"; out="${3:-sheet.jpg}"
cols=${grid%x*}; rows=${grid#*x}; n=$((cols * rows))
dur=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$in")
step=$(awk -v d="$dur" -v n="$n" 'BEGIN { printf "%.3f", d / (n + 1) }')
ffmpeg -v error -y -i "$in" -vf "fps=1/$step,scale=320:-2,drawtext=text='%{pts\:hms}':x=6:y=h-th-6:fontcolor=white:box=1:boxcolor=black@0.5,tile=${cols}x${rows}:padding=4:margin=4" -frames:v 1 "$out"
echo "wrote $out ($grid, one frame every ${step}s)"
