#!/bin/sh
# GPU check: the vulkan suite and the device benchmarks on a machine with a real GPU driver but
# possibly no Eigen, glslc or Vulkan loader. It runs binaries built beforehand (on a machine
# with the build dependencies) and can bring the loader along:
#
#   here:   meson compile -C build tests/vulkan_tests bench/bench_vulkan
#           mkdir -p .gl && (cd .gl && apt-get download libvulkan1)     # the loader, once
#   there:  sh scripts/gpu_check.sh [build-dir]
#
# Prints the device, the suite's summary and GFLOP/s per convolution shape.
set -u
cd "$(dirname "$0")/.."
BUILD=${1:-build}
if ! ldconfig -p 2>/dev/null | grep -q libvulkan.so.1; then
  if ls .gl/*.deb >/dev/null 2>&1; then
    echo "gpu_check: unpacking the Vulkan loader from .gl/"
    for f in .gl/*.deb; do dpkg -x "$f" /; done
    ldconfig
  else
    echo "gpu_check: no Vulkan loader (libvulkan.so.1) and no .gl/*.deb to unpack" >&2
    exit 1
  fi
fi
# NVIDIA containers often keep the ICD outside the loader's search path.
if [ -z "${VK_DRIVER_FILES:-}" ] && [ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
fi
for exe in "$BUILD/tests/vulkan_tests" "$BUILD/bench/bench_vulkan"; do
  [ -x "$exe" ] || { echo "gpu_check: $exe missing: build it first (see the top of this script)" >&2; exit 1; }
done
status=0
echo "== vulkan suite"
"$BUILD/tests/vulkan_tests" --no-intro || status=1
echo "== device benchmarks"
"$BUILD/bench/bench_vulkan" --reps 5 || status=1
exit $status
