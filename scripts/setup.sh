#!/bin/sh
# Installs what vkgrad builds with (Debian packages, only those missing) and configures
# build/ with meson. Safe to run again. Uses sudo when not run as root.
set -eu
cd "$(dirname "$0")/.."

PKGS="g++ meson ninja-build pkg-config libeigen3-dev doctest-dev libbenchmark-dev libstb-dev
  libvulkan-dev mesa-vulkan-drivers vulkan-validationlayers glslc python3"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "setup: installing$missing"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -q
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
fi
[ -f build/build.ninja ] || meson setup build "$@"
