"""Prints 'N passed, N failed, N skipped' from meson's testlog.json.

doctest executables count their test cases (from doctest's own summary line); every other
meson test counts as one. An executable that died before printing its summary is a failure.
"""
import json
import re
import sys

passed = failed = skipped = 0
with open(sys.argv[1]) as f:
    for line in f:
        t = json.loads(line)
        m = re.search(r"test cases:\s*(\d+) \|\s*(\d+) passed \|\s*(\d+) failed \|\s*(\d+) skipped",
                      t.get("stdout", "") or "")
        ok = t["result"] == "OK"
        if m:
            passed += int(m.group(2))
            failed += int(m.group(3)) + (0 if ok or int(m.group(3)) else 1)
            skipped += int(m.group(4))
        elif t["result"] == "SKIP":
            skipped += 1
        elif ok:
            passed += 1
        else:
            failed += 1
print(f"{passed} passed, {failed} failed, {skipped} skipped")
