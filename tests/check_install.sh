#!/bin/sh
# meson install into a temporary prefix, compile the example through the installed
# vkgrad.pc, then build a tiny project that uses vkgrad as a meson subproject.
set -eu
src=$(cd "$1" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

meson setup "$work/build" "$src" --prefix "$work/prefix" -Dtests=false -Dexamples=false >/dev/null
meson install -C "$work/build" >/dev/null
pc=$(dirname "$(find "$work/prefix" -name vkgrad.pc | head -n 1)")
test -n "$pc"
PKG_CONFIG_PATH="$pc" c++ -std=c++20 -O2 $(PKG_CONFIG_PATH="$pc" pkg-config --cflags vkgrad) \
  "$src/examples/autograd_basics.cpp" -o "$work/example"
"$work/example" --steps 50 | tail -n 1
echo "pkg-config: ok"

mkdir -p "$work/consumer/subprojects"
ln -s "$src" "$work/consumer/subprojects/vkgrad"
cat >"$work/consumer/meson.build" <<'EOM'
project('consumer', 'cpp', default_options : ['cpp_std=c++20'])
vkgrad = dependency('vkgrad', fallback : ['vkgrad', 'vkgrad_dep'])
executable('use_vkgrad', 'main.cpp', dependencies : vkgrad)
EOM
cat >"$work/consumer/main.cpp" <<'EOM'
#include <vkgrad/vkgrad.hpp>
int main() { return vkgrad::sum(vkgrad::ones({2, 2})).item() == 4.0 ? 0 : 1; }
EOM
PKG_CONFIG_PATH= meson setup "$work/consumer/build" "$work/consumer" --wrap-mode=forcefallback >/dev/null
meson compile -C "$work/consumer/build" >/dev/null
"$work/consumer/build/use_vkgrad"
echo "subproject: ok"
