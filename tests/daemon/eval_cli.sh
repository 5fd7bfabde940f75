#!/usr/bin/env bash
# tests/daemon/eval_cli.sh BIRDIED BIRDIECTL: `birdied eval` from the command line, on the checkpoints
# of a tiny training run made here: the table and the JSON object (which parses, has every task asked
# and only those, K = 1, 2, 4, 8 with books of max(N, K) entries, the long probe's books 4 times
# longer); two runs give the same JSON but for "seconds"; the exit codes of bad flags (2), a corrupt,
# missing or mismatched checkpoint and a file that is not a database (3); --db records the results,
# which `birdiectl history --db` shows in its table and JSON. Prints TAP.
set -u
birdied=$1
birdiectl=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0 failed=0
check() { # name, expected exit code, expected text in stdout/stderr, command...
  local name=$1 want_rc=$2 want_text=$3; shift 3
  n=$((n + 1))
  "$@" >"$tmp/out" 2>&1
  local rc=$?
  cp "$tmp/out" "$tmp/last" # what has() reads
  if [ "$rc" -eq "$want_rc" ] && grep -qF -- "$want_text" "$tmp/out"; then
    echo "ok $n - $name"
  else
    echo "not ok $n - $name (exit $rc, want $want_rc and '$want_text')"
    sed 's/^/# /' "$tmp/out" | head -8
    failed=$((failed + 1))
  fi
}
has() { # name, text that the last check's output holds (or, with a third argument "not", lacks)
  local name=$1 text=$2 want=${3:-}
  n=$((n + 1))
  if { grep -qF -- "$text" "$tmp/last" && [ -z "$want" ]; } || { ! grep -qF -- "$text" "$tmp/last" && [ "$want" = not ]; }; then
    echo "ok $n - $name"
  else
    echo "not ok $n - $name ('$text' ${want:+un}expected)"
    sed 's/^/# /' "$tmp/last" | head -8
    failed=$((failed + 1))
  fi
}
py_check() { # name, python source reading the JSON file $1 (sys.argv[1])...
  local name=$1 src=$2; shift 2
  n=$((n + 1))
  if python3 -c "$src" "$@" >"$tmp/py" 2>&1; then
    echo "ok $n - $name"
  else
    echo "not ok $n - $name"
    sed 's/^/# /' "$tmp/py" | head -8
    failed=$((failed + 1))
  fi
}
base=(--run.steps=4 --train.batch=2 --train.eval_rows=2 --run.backend=cpu --train.seq_len=64
      '--objectives.arms=ntp len=16-64; copying len=8-24' --objectives.mixture=uniform --daemon.listen=
      --run.name=evalrun)
check "a tiny run writes checkpoints" 0 "checkpoint written to $tmp/ck" "$birdied" "${base[@]}" \
  --checkpoint.every=2 --checkpoint.dir="$tmp/ck"
small=(--items 3 --batch 2)

check "table" 0 "bits/char" "$birdied" eval --checkpoint "$tmp/ck" "${small[@]}"
has "table: example generations per K" "examples, K=8:"
has "table: the checkpoint's step and run" "(step 4), run evalrun"
has "table: answers shown with their newlines escaped" '\n"'
"$birdied" eval --checkpoint "$tmp/ck" "${small[@]}" -o json --long >"$tmp/a.json" 2>"$tmp/a.err"
"$birdied" eval --checkpoint "$tmp/ck" "${small[@]}" -o json --long >"$tmp/b.json" 2>"$tmp/b.err"
py_check "JSON: one object with every task" '
import json, sys
r = json.load(open(sys.argv[1]))
assert r["step"] == 4 and r["run"] == "evalrun" and r["seed"] == 20240917 and r["batch"] == 2, r
assert r["model"]["size"] == "XS" and r["model"]["seq_len"] == 64 and r["model"]["params"] > 0, r["model"]
assert [p["k"] for p in r["phonebook"]] == [1, 2, 4, 8], r["phonebook"]
assert [p["entries"] for p in r["phonebook"]] == [4, 4, 4, 8], r["phonebook"]
assert [p["entries"] for p in r["phonebook_long"]] == [16, 16, 16, 32], r["phonebook_long"]
for p in r["phonebook"] + r["phonebook_long"]:
    assert p["items"] == 3 and 0 <= p["digit_accuracy"] <= 1 and 0 <= p["exact_rate"] <= 1, p
i = r["infill"]
assert i["items"] == 3 and i["context_len"] == 61 and i["span_len"] == 8 and i["paradigm"] == "first", i
assert 0 <= i["exact_rate"] <= 1 and 0 <= i["token_accuracy"] <= 1, i
b = r["bpc"]
assert b["documents"] == 3 and b["chars"] == 3 * 64 and b["bits_per_char"] > 0, b
assert r["seconds"] >= 0
' "$tmp/a.json"
py_check "two runs give the same JSON but for seconds" '
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
del a["seconds"], b["seconds"]
assert a == b, (a, b)
' "$tmp/a.json" "$tmp/b.json"
"$birdied" eval --checkpoint "$tmp/ck" "${small[@]}" -o json --task bpc,infill --seed 5 >"$tmp/c.json" 2>/dev/null
py_check "JSON: only the tasks asked; another seed, other items" '
import json, sys
c, a = (json.load(open(f)) for f in sys.argv[1:3])
assert "phonebook" not in c and "phonebook_long" not in c and "infill" in c and "bpc" in c, c
assert c["seed"] == 5 and c["bpc"]["bits_per_char"] != a["bpc"]["bits_per_char"], (c, a)
' "$tmp/c.json" "$tmp/a.json"

# exit codes
check "an unknown task is a usage error" 2 "--task 'recall'" "$birdied" eval --checkpoint "$tmp/ck" --task recall
check "a bad --items is a usage error" 2 "--items '0'" "$birdied" eval --checkpoint "$tmp/ck" --items 0
check "a bad output format is a usage error" 2 "-o 'yaml'" "$birdied" eval --checkpoint "$tmp/ck" -o yaml
check "--run without --db is a usage error" 2 "give --db too" "$birdied" eval --checkpoint "$tmp/ck" --run x
check "no checkpoint is a usage error" 2 "--checkpoint DIR|FILE is required" "$birdied" eval
check "an unknown argument is a usage error" 2 "unknown argument '--frobnicate'" "$birdied" eval \
  --checkpoint "$tmp/ck" --frobnicate
head -c 3000 /dev/urandom >"$tmp/corrupt.bin"
check "a corrupt checkpoint is a data error" 3 "not a birdie checkpoint" "$birdied" eval \
  --checkpoint "$tmp/corrupt.bin" --config "$tmp/ck/config.ini"
check "a missing checkpoint is a data error" 3 "$tmp/none.bin" "$birdied" eval --checkpoint "$tmp/none.bin" \
  --config "$tmp/ck/config.ini"
check "another run's checkpoint is a data error" 3 "another configuration" "$birdied" eval --checkpoint "$tmp/ck" \
  --train.seq_len=32
echo "not a database" >"$tmp/text.db"
check "a file that is not a database is a data error, before any evaluation" 3 "text.db" "$birdied" eval \
  --checkpoint "$tmp/ck" "${small[@]}" --db "$tmp/text.db"
has "... and nothing was evaluated" "eval: phonebook" not

# the store
check "--db records the results" 0 "19 results recorded" "$birdied" eval --checkpoint "$tmp/ck" "${small[@]}" \
  --long --db "$tmp/e.db"
check "--run names the run" 0 "8 results recorded in $tmp/e.db (run other)" "$birdied" eval \
  --checkpoint "$tmp/ck/ckpt_000000002.bin" "${small[@]}" --task phonebook --db "$tmp/e.db" --run other
check "history --db shows the evaluation" 0 "model evals (19)" "$birdiectl" history --db "$tmp/e.db" --run evalrun
has "history --db: the bits/char row" "bits_per_char"
has "history --db: the fine-tuning section" "finetune points (0)"
"$birdiectl" history --db "$tmp/e.db" --run other -o json >"$tmp/h.json" 2>&1
py_check "history --db -o json: the other run's rows" '
import json, sys
h = json.load(open(sys.argv[1]))
rows = h["model_evals"]
assert len(rows) == 8 and {r["task"] for r in rows} == {"phonebook"}, rows
assert all(r["step"] == 2 and r["seed"] == 20240917 and r["checkpoint"].endswith("ckpt_000000002.bin") for r in rows)
assert sorted({(r["k"], r["entries"]) for r in rows}) == [(1, 4), (2, 4), (4, 4), (8, 8)], rows
assert {r["metric"] for r in rows} == {"digit_accuracy", "exact_rate"}, rows
' "$tmp/h.json"

# birdied finetune --db: its curve points go to the same store, under the fine-tune's run name
check "finetune --db records its curve" 0 "finetune: wrote" "$birdied" finetune --checkpoint "$tmp/ck" \
  --task phonebook --out "$tmp/ft" --steps 4 --batch 2 --curve-every 2 --curve-items 2 --db "$tmp/e.db"
check "history --db shows the fine-tuning points" 0 "finetune points (3)" "$birdiectl" history --db "$tmp/e.db" \
  --run evalrun-ft
check "finetune: a --db that is not a database is a data error" 3 "text.db" "$birdied" finetune \
  --checkpoint "$tmp/ck" --task phonebook --out "$tmp/ft2" --steps 2 --batch 2 --db "$tmp/text.db"
[ ! -e "$tmp/ft2/manifest.json" ] || { n=$((n + 1)); echo "not ok $n - a refused --db still fine-tuned"; failed=$((failed + 1)); }

echo "1..$n"
[ "$failed" -eq 0 ]
