#!/bin/sh
# The test suite, from a fresh clone: set up, build, run every test, and end with the line
# "N passed, N failed, N skipped" (doctest test cases plus the script tests).
set -eu
cd "$(dirname "$0")/.."
sh scripts/setup.sh
t0=$(date +%s)
if ! meson compile -C build; then
  echo "build failed"
  echo "0 passed, 1 failed, 0 skipped"
  exit 1
fi
t1=$(date +%s)
status=0
meson test -C build --print-errorlogs || status=$?
t2=$(date +%s)
echo "time: compile $((t1 - t0)) s, test $((t2 - t1)) s"
python3 scripts/summarize_tests.py build/meson-logs/testlog.json
exit $status
