#!/bin/sh
# Issue 8/8 in CI: scripts/prior_experiment.sh end to end at a toy size (a few steps per stage:
# the numbers mean nothing, the plumbing is what is checked), then a second invocation that
# must skip every finished stage and write the same report.
# usage: check_prior_experiment.sh BUILD_DIR SOURCE_DIR
set -eu
B=$1
S=$2
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; tail -20 "$T/out" 2>/dev/null; exit 1; }

export BUILD="$B" N_TRAIN=32 R_STEPS=6 E_STEPS=4 F_STEPS=6
"$S/scripts/prior_experiment.sh" "$T/w" > "$T/out" 2>&1 || fail "prior_experiment.sh"
r="$T/w/report.md"
[ -s "$r" ] || fail "no report"
for row in "blurred input" "x_R (regression network)" "x_G (encoder + prior)" "x_hat (fusion)" \
           "before the first step" "after step 4"; do
  grep -Eq "^\| $(echo "$row" | sed 's/[()+]/\\&/g') \| [0-9]+\.[0-9]+ dB \| [0-9.]+ \|$" "$r" || fail "report row '$row'"
done
[ "$(ls "$T/w/test" | wc -l)" -eq 64 ] || fail "expected 64 test images"
[ -s "$T/w/samples.png" ] || fail "no sample sheet"
cp "$r" "$T/first.md"
"$S/scripts/prior_experiment.sh" "$T/w" > "$T/out" 2>&1 || fail "second invocation"
[ "$(grep -c 'exists, skipped' "$T/out")" -eq 7 ] || fail "the second invocation did not skip all 7 stages"
grep -v "^Stage times" "$T/first.md" > "$T/a"; grep -v "^Stage times" "$r" > "$T/b"
cmp -s "$T/a" "$T/b" || fail "the second report differs"
echo "prior_experiment.sh: 7 stages, report and sheet written; rerun skipped them all"
