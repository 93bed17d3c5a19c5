#!/bin/sh
# The main job, from a fresh clone: set up, build, and train the autograd example
# (a small MLP fitted to sin(x); its loss falls from ~0.5 to ~0.002).
set -eu
cd "$(dirname "$0")/.."
sh scripts/setup.sh
meson compile -C build examples/autograd_basics
build/examples/autograd_basics "$@"
