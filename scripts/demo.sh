#!/bin/sh
# The main job, from a fresh clone: set up, build, and deblur the bundled blurred face with the
# small NAFNet shipped in weights/ (nothing is downloaded). Writes deblurred_face.png and
# before_after.png (blurred | restored) in the current directory.
set -eu
root="$(cd "$(dirname "$0")/.." && pwd)"
here="$(pwd)"
cd "$root"
sh scripts/setup.sh
meson compile -C build examples/deblur
cd "$here"
"$root/build/examples/deblur" --in "$root/docs/demo/blurred_face.png" --out deblurred_face.png \
  --compare before_after.png "$@"
echo "demo: wrote deblurred_face.png and before_after.png (blurred | restored)"
