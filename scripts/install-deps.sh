#!/usr/bin/env bash
# Installs the system packages vrender needs (Debian/Ubuntu): ffmpeg (x264, VP9, AAC, Opus), the Vulkan
# loader and Mesa's software Vulkan driver (lavapipe: the fallback when there is no GPU), fonts (DejaVu,
# and Noto for text in every script plus colour emoji: the engine's fallback fonts), and redis-server
# (the distributed queue; the tests start private ones).
# Only installs what is missing; uses sudo when not root.
set -euo pipefail
packages=(ffmpeg libvulkan1 mesa-vulkan-drivers fonts-dejavu-core fonts-noto-core fonts-noto-cjk
  fonts-noto-color-emoji redis-server)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "installing: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
