#!/usr/bin/env bash
# Installs what DyDiT.swift needs on Debian 12 beyond the Swift toolchain: the C libraries
# it links (libpng, json-c, zlib), pkg-config to find them, numpy for the checkpoint
# converter's tests, scipy for checking the quality metrics against scipy.linalg.sqrtm, and
# Fashion-MNIST for training and as the metrics' reference set. Safe to run again.
set -euo pipefail
packages=(pkg-config libpng-dev libjson-c-dev zlib1g-dev python3 python3-numpy python3-scipy dataset-fashion-mnist)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all system packages present"
  exit 0
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "setup: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
