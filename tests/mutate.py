#!/usr/bin/env python3
"""tests/mutate.py: mutation testing of the suite (run through tests/mutate.sh).

Reads the one-line mutants kept in tests/mutants/*.txt, applies each in turn to a private copy of the
working tree (never to the checkout itself), rebuilds incrementally, runs the tests, and prints
killed / survived / equivalent / invalid and a total. A mutant is killed when some test fails or times
out; it survives when the whole normal-build suite passes with it applied. The tests a mutant names
(`?` line) run first; only if they pass does the rest of the suite run, the slow end-to-end tests last.
It does not run in CI (a full pass takes tens of minutes on 2 cores): run it before you stop when you
changed tested code, and add a mutant for every defect found later.

Mutant file format (blocks separated by blank lines, '#' starts a comment line):
    @ <id> <path from the repository root>
    - <exact original text: occurs exactly once in that file>
    + <replacement text>
(several '-' lines in a row are one text spanning those lines, joined by newlines; so are '+' lines)
    ? <comma-separated substrings of test names to run first>        (optional)
    = equivalent: <one-line reason why it cannot change behaviour>   (optional; not run)

Exit status: 0 when every mutant is killed or marked equivalent, 1 when one survived or is invalid
(does not apply, does not compile), 2 on a usage error or a baseline that does not pass.
"""
import argparse
import glob
import os
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SLOW = ("end to end",)  # run last: they take most of the suite's time


class Mutant:
    def __init__(self, source, line):
        self.source, self.line = source, line
        self.id = self.path = self.old = self.new = None
        self.hints, self.equivalent = [], None

    def where(self):
        return "%s:%d" % (os.path.relpath(self.source, ROOT), self.line)


def parse(path):
    mutants, cur = [], None
    with open(path, encoding="utf-8") as f:
        for n, raw in enumerate(f, 1):
            line = raw.rstrip("\n")
            if not line.strip():
                cur = None
                continue
            if line.startswith("#"):
                continue
            tag, _, rest = line.partition(" ")
            if tag == "@":
                cur = Mutant(path, n)
                parts = rest.split()
                if len(parts) != 2:
                    raise SystemExit("%s:%d: '@' wants '<id> <path>'" % (path, n))
                cur.id, cur.path = parts
                mutants.append(cur)
            elif cur is None:
                raise SystemExit("%s:%d: a mutant starts with '@ <id> <path>'" % (path, n))
            elif tag == "-":  # consecutive '-' (or '+') lines are one text joined by newlines
                cur.old = rest if cur.old is None else cur.old + "\n" + rest
            elif tag == "+":
                cur.new = rest if cur.new is None else cur.new + "\n" + rest
            elif tag == "?":
                cur.hints = [h.strip() for h in rest.split(",") if h.strip()]
            elif tag == "=":
                cur.equivalent = rest.strip()
            else:
                raise SystemExit("%s:%d: unknown line '%s'" % (path, n, line))
    for m in mutants:
        if m.old is None or m.new is None:
            raise SystemExit("%s: mutant %s needs a '-' and a '+' line" % (m.where(), m.id))
    return mutants


def tracked_files():
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, check=True,
                         stdout=subprocess.PIPE).stdout.decode()
    return [p for p in out.split("\0") if p and os.path.isfile(os.path.join(ROOT, p))]


def sync_tree(dst):
    """Copies the working tree into dst, touching only files whose content differs (keeps ninja incremental)."""
    for rel in tracked_files():
        s, d = os.path.join(ROOT, rel), os.path.join(dst, rel)
        with open(s, "rb") as f:
            data = f.read()
        if os.path.exists(d):
            with open(d, "rb") as f:
                if f.read() == data:
                    continue
        os.makedirs(os.path.dirname(d), exist_ok=True)
        shutil.copy2(s, d)


def run(cmd, cwd=None, log=None):
    p = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    text = p.stdout.decode(errors="replace")
    if log:
        with open(log, "a") as f:
            f.write("$ %s\n%s\n" % (" ".join(cmd), text))
    return p.returncode, text


def test_names(build):
    rc, out = run(["meson", "test", "-C", build, "--list", "--no-rebuild"])
    if rc != 0:
        raise SystemExit("meson test --list failed:\n" + out)
    # lines look like "birdie:core / model"
    return [l.split(" / ", 1)[1] for l in out.splitlines() if " / " in l]


def failures(text):
    bad = []
    for l in text.splitlines():
        for word in (" FAIL ", " TIMEOUT ", " ERROR "):
            if word in l and " / " in l:
                bad.append(l.split(" / ", 1)[1].split(word)[0].strip())
    return bad


def run_tests(build, names, jobs, log):
    """Runs names (a list of test names); returns the names that failed ([] when all passed)."""
    if not names:
        return []
    rc, out = run(["meson", "test", "-C", build, "--no-rebuild", "--num-processes", str(jobs),
                   "--timeout-multiplier", "0.5", "--maxfail", "1"] + names, log=log)
    if rc == 0:
        return []
    return failures(out) or ["(meson test exit %d)" % rc]


def main():
    ap = argparse.ArgumentParser(description="Mutation testing: apply each mutant of tests/mutants/*.txt, "
                                             "rebuild, run the suite; print killed/survived/total.")
    ap.add_argument("--only", action="append", default=[], help="a mutant file (repeatable)")
    ap.add_argument("--id", action="append", default=[], help="a mutant id (repeatable)")
    ap.add_argument("--work", default=os.path.join(os.environ.get("TMPDIR", "/tmp"), "birdie-mutate"),
                    help="scratch directory: a copy of the tree and its build (kept between runs)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--list", action="store_true", help="check and list the mutants, run nothing")
    ap.add_argument("--no-baseline", action="store_true", help="skip the unmutated suite run")
    args = ap.parse_args()

    files = args.only or sorted(glob.glob(os.path.join(ROOT, "tests", "mutants", "*.txt")))
    mutants = []
    for f in files:
        mutants += parse(f)
    seen = {}
    for m in mutants:
        if m.id in seen:
            raise SystemExit("%s: duplicate mutant id %s (first at %s)" % (m.where(), m.id, seen[m.id].where()))
        seen[m.id] = m
    if args.id:
        unknown = set(args.id) - set(seen)
        if unknown:
            raise SystemExit("unknown mutant id(s): " + ", ".join(sorted(unknown)))
        mutants = [m for m in mutants if m.id in args.id]

    invalid = []
    for m in mutants:
        path = os.path.join(ROOT, m.path)
        if not os.path.isfile(path):
            invalid.append((m, "no file %s" % m.path))
            continue
        with open(path, encoding="utf-8") as f:
            count = f.read().count(m.old)
        if count != 1:
            invalid.append((m, "the '-' text occurs %d times in %s (wants exactly 1)" % (count, m.path)))
        elif m.old == m.new:
            invalid.append((m, "'-' and '+' are the same"))
    if args.list:
        for m in mutants:
            print("%-28s %-40s %s" % (m.id, m.path, "equivalent: " + m.equivalent if m.equivalent else ""))
        for m, why in invalid:
            print("INVALID %s (%s): %s" % (m.id, m.where(), why))
        print("%d mutants, %d invalid" % (len(mutants), len(invalid)))
        return 1 if invalid else 0

    src, build = os.path.join(args.work, "src"), os.path.join(args.work, "build")
    log = os.path.join(args.work, "mutate.log")
    os.makedirs(src, exist_ok=True)
    open(log, "w").close()
    sync_tree(src)
    if not os.path.isdir(os.path.join(build, "meson-private")):
        rc, out = run(["meson", "setup", build, src, "-Dcuda=disabled"], log=log)
        if rc != 0:
            print(out)
            return 2
    rc, out = run(["ninja", "-C", build, "-j", str(args.jobs)], log=log)
    if rc != 0:
        print(out[-4000:])
        print("the unmutated tree does not build")
        return 2
    names = test_names(build)
    if not args.no_baseline:
        bad = run_tests(build, names, args.jobs, log)
        if bad:
            print("the unmutated suite fails (%s): fix that first; see %s" % (", ".join(bad), log))
            return 2

    bad_ids = {m.id for m, _ in invalid}
    counts = {"killed": 0, "survived": 0, "equivalent": 0, "invalid": len(invalid)}
    for m, why in invalid:
        print("INVALID    %-28s %s" % (m.id, why))
    for m in mutants:
        if m.id in bad_ids:
            continue
        if m.equivalent:
            counts["equivalent"] += 1
            print("EQUIVALENT %-28s %s" % (m.id, m.equivalent))
            continue
        path = os.path.join(src, m.path)
        with open(path, encoding="utf-8") as f:
            original = f.read()
        t0 = time.time()
        try:
            with open(path, "w", encoding="utf-8") as f:
                f.write(original.replace(m.old, m.new, 1))
            rc, out = run(["ninja", "-C", build, "-j", str(args.jobs)], log=log)
            if rc != 0:
                counts["invalid"] += 1
                print("INVALID    %-28s does not compile (see %s)" % (m.id, log))
                continue
            first = [n for n in names if any(h in n for h in m.hints)]
            rest = [n for n in names if n not in first]
            fast = [n for n in rest if not any(s in n for s in SLOW)]
            slow = [n for n in rest if n not in fast]
            killers = []
            for group in (first, fast, slow):
                killers = run_tests(build, group, args.jobs, log)
                if killers:
                    break
        finally:
            with open(path, "w", encoding="utf-8") as f:
                f.write(original)
        took = time.time() - t0
        if killers:
            counts["killed"] += 1
            print("KILLED     %-28s by %s (%.0f s)" % (m.id, ", ".join(killers), took), flush=True)
        else:
            counts["survived"] += 1
            print("SURVIVED   %-28s %s: '%s' -> '%s' (%.0f s)" % (m.id, m.path, m.old, m.new, took), flush=True)
    # leave the copy's build matching the unmutated tree for the next run
    run(["ninja", "-C", build, "-j", str(args.jobs)], log=log)
    total = sum(counts.values())
    print("mutants: %d killed, %d survived, %d equivalent, %d invalid, %d total" %
          (counts["killed"], counts["survived"], counts["equivalent"], counts["invalid"], total))
    return 0 if counts["survived"] == 0 and counts["invalid"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
