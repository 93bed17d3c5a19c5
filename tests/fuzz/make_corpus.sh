#!/bin/sh
# Seeds for fuzz_readers: every fixture file, prefixed by the byte that picks each reader that
# can take it (0 pickle, 1 zip, 2 torch file, 3 safetensors).  Usage: make_corpus.sh OUTDIR
set -eu
cd "$(dirname "$0")/../.."
out=${1:?usage: make_corpus.sh OUTDIR}
mkdir -p "$out"
i=0
seed() { # seed PREFIX FILE
  i=$((i + 1))
  { printf "\\$(printf '%03o' "$1")"; cat "$2"; } > "$out/seed$i"
}
for f in tests/fixtures/torch/*.pt tests/fixtures/torch/*.pkl tests/fixtures/torch/*.pth ../shared/data/lpips/*.pth \
         ../shared/data/torch_files/*.pt; do
  [ -f "$f" ] || continue
  seed 0 "$f"; seed 1 "$f"; seed 2 "$f"
done
for f in tests/fixtures/fuzz/*.safetensors /tmp/vkgrad_check.safetensors; do
  [ -f "$f" ] && seed 3 "$f"
done
echo "$i seeds in $out"
