#!/usr/bin/env python3
"""tests/summary.py: one plain line "N passed, N failed, N skipped" from meson testlog.json files.

TAP tests count per case (ok / not ok / # SKIP); a TAP test that failed without reporting a failing
case (a crash, a timeout) counts one failure more. Other tests count once by their result."""
import json
import re
import sys

TAP_CASE = re.compile(r"^(not ok|ok)\b[^#]*(#\s*(SKIP|TODO)\b)?", re.IGNORECASE)
TAP_SKIP_PLAN = re.compile(r"^1\.\.0\s*#\s*SKIP", re.IGNORECASE)


def count(entry):
    passed = failed = skipped = 0
    saw_case = saw_failed_case = False
    for line in (entry.get("stdout") or "").splitlines():
        m = TAP_CASE.match(line.strip())
        if not m:
            continue
        saw_case = True
        directive = (m.group(3) or "").upper()
        if directive == "SKIP":
            skipped += 1
        elif m.group(1).lower() == "ok" or directive == "TODO":
            passed += 1
        else:
            failed += 1
            saw_failed_case = True
    result = entry.get("result", "FAIL")
    if not saw_case:
        if result == "SKIP" or TAP_SKIP_PLAN.search(entry.get("stdout") or ""):
            return 0, 0, 1
        return (1, 0, 0) if result in ("OK", "EXPECTEDFAIL") else (0, 1, 0)
    if result not in ("OK", "SKIP", "EXPECTEDFAIL") and not saw_failed_case:
        failed += 1
    return passed, failed, skipped


def main(paths):
    totals = [0, 0, 0]
    for path in paths:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line:
                    for i, n in enumerate(count(json.loads(line))):
                        totals[i] += n
    print(f"{totals[0]} passed, {totals[1]} failed, {totals[2]} skipped")
    return 1 if totals[1] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
