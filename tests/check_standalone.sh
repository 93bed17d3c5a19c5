#!/bin/sh
# Compiles examples/autograd_basics.cpp with exactly the line the README gives, and runs it.
set -eu
cd "$1"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
c++ -std=c++20 -O2 -Iinclude $(pkg-config --cflags eigen3) examples/autograd_basics.cpp -o "$out/autograd_basics"
"$out/autograd_basics" --steps 200 >"$out/log"
tail -n 3 "$out/log"
grep -q "final loss" "$out/log"
