#!/usr/bin/env bash
# tests/cli_bad_input.sh BIRDIED: birdied end to end from the command line: bad config keys and
# values, missing and corrupt shards, each a non-zero exit with a message naming the problem; then
# `birdied prep` on a text file and a short training run on the shards it made; then the signals, on
# one process and on one rank of two under mpirun (both ranks must stop at the same step, with a
# checkpoint that resumes); every documented exit code (0 to 7), each from the failure that carries it;
# `birdied generate` from the checkpoints written here, and its errors; `birdied finetune` from them
# (its checkpoint loads in generate with no flag, two runs are bit-identical, its JSON) and its errors. Every wait is
# for an event (a log line, a file) with a generous deadline. Prints TAP.
set -u
birdied=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0 failed=0
check() { # name, expected exit code, expected text in stderr/stdout, command...
  local name=$1 want_rc=$2 want_text=$3; shift 3
  n=$((n + 1))
  "$@" >"$tmp/out" 2>&1
  local rc=$?
  if [ "$rc" -eq "$want_rc" ] && grep -qF -- "$want_text" "$tmp/out"; then
    echo "ok $n - $name"
  else
    echo "not ok $n - $name (exit $rc, want $want_rc and '$want_text')"
    sed 's/^/# /' "$tmp/out" | head -5
    failed=$((failed + 1))
  fi
}
printf '[train]\nlr = 1e-3\nbatchsize = 4\n' >"$tmp/badkey.ini"
printf '[train]\nlr = fast\n' >"$tmp/badvalue.ini"
printf '[data]\nsource = shards\ntrain = %s/missing_*.bin\nval = %s/missing.bin\n' "$tmp" "$tmp" >"$tmp/missing.ini"
head -c 3000 /dev/urandom >"$tmp/corrupt.bin"
base=(--run.steps=3 --train.batch=2 --train.eval_rows=2 --run.backend=cpu --train.seq_len=64
      '--objectives.arms=ntp len=16-64; copying len=8-24' --objectives.mixture=uniform --daemon.listen=)

check "unknown key in file names it and its line" 2 "line 3: unknown key [train] batchsize" "$birdied" --config "$tmp/badkey.ini"
check "bad value in file names the key" 2 "[train] lr = 'fast': not a number" "$birdied" --config "$tmp/badvalue.ini"
check "unknown override key" 2 "unknown key [model] depth" "$birdied" --model.depth=3
check "out-of-range override" 2 "[train] batch = 0: out of range" "$birdied" --train.batch=0
check "unknown argument" 2 "unknown argument 'train'" "$birdied" train
check "missing config file" 2 "$tmp/none.ini" "$birdied" --config "$tmp/none.ini"
check "shards without files" 2 "[data] source = shards needs [data] train" "$birdied" --data.source=shards
check "missing shard names the pattern" 3 "missing_" "$birdied" --config "$tmp/missing.ini" "${base[@]}"
check "corrupt shard names the file" 3 "corrupt.bin" "$birdied" "${base[@]}" --data.source=shards \
  --data.train="$tmp/corrupt.bin" --data.val="$tmp/corrupt.bin"
if nvidia-smi -L >/dev/null 2>&1; then
  n=$((n + 1)); echo "ok $n - cuda without a GPU is a clear error # SKIP a GPU is present"
else
  check "cuda without a GPU is a clear error" 5 "backend" "$birdied" "${base[@]}" --backend cuda
fi
check "--help documents every section" 0 "[data]" "$birdied" --help
check "a port out of range is refused" 2 "[daemon] listen = '127.0.0.1:99999'" "$birdied" --daemon.listen=127.0.0.1:99999
check "a missing port is refused" 2 "[daemon] listen = '127.0.0.1:'" "$birdied" --daemon.listen=127.0.0.1:
check "a bad metrics address is refused" 2 "[daemon] metrics = '127.0.0.1:70000'" "$birdied" \
  --daemon.metrics=127.0.0.1:70000
check "metrics without a coordinator are refused" 2 "[daemon] metrics = '127.0.0.1:0' needs a coordinator" \
  "$birdied" --daemon.listen= --daemon.metrics=127.0.0.1:0
BIRDIE_TOKEN=cli check "metrics that cannot be served are exit 7" 7 "cannot serve metrics on 192.0.2.1:9400" "$birdied" \
  "${base[@]}" --daemon.listen=127.0.0.1:0 --daemon.metrics=192.0.2.1:9400 --daemon.db="$tmp/metrics.db"
BIRDIE_TOKEN=cli check "a bad arm is a config error before the coordinator starts" 2 "unknown objective class 'bogus'" \
  "$birdied" "${base[@]}" '--objectives.arms=ntp len=16-64; bogus' --daemon.listen=127.0.0.1:0 --daemon.db="$tmp/arm.db"
check "a bad mixture is a config error" 2 "unknown arm 'nope'" "$birdied" "${base[@]}" --objectives.mixture=nope=1

# every other documented exit code, each from where its failure is detected
check "a diverging run stops with exit 4" 4 "non-finite" "$birdied" "${base[@]}" --run.steps=40 --train.lr=10 \
  --train.warmup_frac=0 --train.weight_decay=1
BIRDIE_TOKEN=cli check "a coordinator that cannot listen is exit 7" 7 "cannot listen on 192.0.2.1:50999" "$birdied" \
  "${base[@]}" --daemon.listen=192.0.2.1:50999 --daemon.db="$tmp/listen.db"
ASAN_OPTIONS="${ASAN_OPTIONS:-}:allocator_may_return_null=1" check "out of memory is exit 1" 1 "out of host memory" \
  "$birdied" "${base[@]}" --train.batch=1048576 --train.seq_len=1048576

# prep a text file into shards, then train on them
python3 - "$tmp" <<'PY'
import sys
words = "the early bird sings at dawn while the river runs past old stones and green hills".split()
for d in range(2):  # a text file is one document; validation takes whole documents
    with open(f"{sys.argv[1]}/corpus{d}.txt", "w") as f:
        for i in range(1500):
            f.write(" ".join(words[(i * 7 + k + d) % len(words)] for k in range(12)) + ".\n")
PY
check "prep turns text into shards" 0 "train: 1 documents" "$birdied" prep --out "$tmp/shards" --val-fraction 0.5 \
  "$tmp/corpus0.txt" "$tmp/corpus1.txt"
check "training on prepared shards" 0 "done: 3 steps" "$birdied" "${base[@]}" --data.source=shards \
  --data.train="$tmp/shards/train_*.bin" --data.val="$tmp/shards/val_*.bin"
check "prep: a missing input file is a data error" 3 "cannot open" "$birdied" prep --out "$tmp/shards2" "$tmp/absent.txt"
check "prep: an --out that cannot be made is a usage error" 2 "cannot create the directory" "$birdied" prep \
  --out /proc/birdie-none/out "$tmp/corpus0.txt"
mkfifo "$tmp/shard.fifo"
check "a FIFO as a shard is refused, not waited on" 3 "not a regular file" "$birdied" "${base[@]}" \
  --data.source=shards --data.train="$tmp/shard.fifo" --data.val="$tmp/shards/val_*.bin"
check "a missing validation shard is a data error (not a crash)" 3 "nope.bin" "$birdied" "${base[@]}" \
  --data.source=shards --data.train="$tmp/shards/train_*.bin" --data.val="$tmp/nope.bin"
# checkpoints: write every 2 steps, resume from the newest; a broken manifest is an error, not a fresh start
check "checkpoints are written" 0 "checkpoint written to $tmp/ck" "$birdied" "${base[@]}" --run.steps=4 \
  --checkpoint.every=2 --checkpoint.dir="$tmp/ck"
check "--resume auto continues from the newest" 0 "resumed from the checkpoint of step 4" "$birdied" "${base[@]}" \
  --run.steps=6 --checkpoint.dir="$tmp/ck" --resume auto
rm "$tmp/ck/manifest.json"
check "a lost manifest is rebuilt from the files, not a fresh start" 0 "resumed from the checkpoint of step 4" \
  "$birdied" "${base[@]}" --run.steps=8 --checkpoint.every=2 --checkpoint.dir="$tmp/ck" --resume auto
check "a checkpoint beyond [run] steps is refused" 3 "checkpoint of step 8 is beyond [run] steps = 4" "$birdied" \
  "${base[@]}" --run.steps=4 --checkpoint.dir="$tmp/ck" --resume auto
echo "not json" >"$tmp/ck/manifest.json"
check "a broken manifest is a named error" 3 "manifest.json is not a birdie manifest" "$birdied" "${base[@]}" \
  --run.steps=6 --checkpoint.dir="$tmp/ck" --resume=auto
# signals: SIGUSR1 writes a checkpoint, SIGTERM stops at the next step with a final checkpoint, exit 0
"$birdied" "${base[@]}" --run.steps=100000000 --train.log_every=1 --train.eval_every=0 --checkpoint.every=100000000 \
  --checkpoint.dir="$tmp/sig" >"$tmp/sig.log" 2>&1 &
pid=$!
for _ in $(seq 1200); do grep -q "^step .*loss" "$tmp/sig.log" && break; sleep 0.05; done
kill -USR1 $pid
for _ in $(seq 1200); do grep -q "checkpoint written" "$tmp/sig.log" && break; sleep 0.05; done
kill -TERM $pid
wait $pid
rc=$?
n=$((n + 1))
if [ $rc -eq 0 ] && grep -q "stopped: signal" "$tmp/sig.log" && [ "$(ls "$tmp/sig"/ckpt_*.bin | wc -l)" -eq 2 ]; then
  echo "ok $n - SIGUSR1 checkpoints, SIGTERM stops cleanly with a final checkpoint"
else
  echo "not ok $n - SIGUSR1 checkpoints, SIGTERM stops cleanly with a final checkpoint (exit $rc)"
  tail -5 "$tmp/sig.log" | sed 's/^/# /'
  failed=$((failed + 1))
fi

# The same on one rank of two (mpirun, no coordinator): SIGUSR1 and SIGTERM reach rank 1 only, which
# prints nothing; the control all-reduce makes rank 0 (which writes the log and the checkpoints) act
# at the same step. A rank that stopped alone would leave the other in a collective: mpirun would not
# end, which the deadline below reports.
wait_for() { # pattern file seconds
  local i
  for i in $(seq $(($3 * 20))); do grep -q "$1" "$2" 2>/dev/null && return 0; sleep 0.05; done
  return 1
}
if command -v mpirun >/dev/null 2>&1 && ldd "$birdied" 2>/dev/null | grep -q libmpi; then
  # each rank records its pid, then becomes birdied (exec keeps the pid)
  printf '#!/bin/sh\necho $$ >"%s/rank.$OMPI_COMM_WORLD_RANK.tmp" && mv "%s/rank.$OMPI_COMM_WORLD_RANK.tmp" "%s/rank.$OMPI_COMM_WORLD_RANK"\nexec "%s" "$@"\n' \
    "$tmp" "$tmp" "$tmp" "$birdied" >"$tmp/rank.sh"
  chmod +x "$tmp/rank.sh"
  mpi=(mpirun --oversubscribe --mca btl self,vader -np 2 "$tmp/rank.sh" "${base[@]}" --train.log_every=1
       --train.eval_every=0 --checkpoint.dir="$tmp/sig2")
  "${mpi[@]}" --run.steps=100000000 --checkpoint.every=100000000 >"$tmp/sig2.log" 2>&1 &
  mpirun_pid=$!
  ok=1 why=""
  wait_for "^step .*loss" "$tmp/sig2.log" 120 && [ -s "$tmp/rank.1" ] || { ok=0; why="no step logged"; }
  [ $ok -eq 1 ] && kill -USR1 "$(cat "$tmp/rank.1")"
  [ $ok -eq 1 ] && { wait_for "checkpoint written" "$tmp/sig2.log" 120 || { ok=0; why="SIGUSR1 on rank 1: no checkpoint"; }; }
  [ $ok -eq 1 ] && kill -TERM "$(cat "$tmp/rank.1")"
  for _ in $(seq 1200); do kill -0 $mpirun_pid 2>/dev/null || break; sleep 0.05; done
  if kill -0 $mpirun_pid 2>/dev/null; then
    ok=0 why="mpirun still running 60 s after SIGTERM to rank 1 (ranks out of step?)"
    kill -TERM $mpirun_pid
  fi
  wait $mpirun_pid
  rc=$?
  stop_step=$(sed -n 's/^step *\([0-9]*\) | stopped: another rank was told to stop$/\1/p' "$tmp/sig2.log")
  n=$((n + 1))
  if [ $ok -eq 1 ] && [ $rc -eq 0 ] && [ -n "$stop_step" ] && grep -q "^stopped: $stop_step steps" "$tmp/sig2.log" &&
     [ -f "$tmp/sig2/$(printf 'ckpt_%09d.bin' "$stop_step")" ] && [ "$(ls "$tmp/sig2"/ckpt_*.bin | wc -l)" -eq 2 ]; then
    echo "ok $n - 2 ranks: SIGUSR1 and SIGTERM to rank 1 checkpoint and stop both ranks at step $stop_step, exit 0"
  else
    echo "not ok $n - 2 ranks: SIGUSR1 and SIGTERM to rank 1 checkpoint and stop both ranks (exit $rc, step '$stop_step') $why"
    tail -5 "$tmp/sig2.log" | sed 's/^/# /'
    failed=$((failed + 1))
  fi
  if [ -n "$stop_step" ]; then
    check "2 ranks: the stop's checkpoint resumes" 0 "resumed from the checkpoint of step $stop_step" \
      "${mpi[@]}" --run.steps=$((stop_step + 2)) --resume=auto
    n=$((n + 1))
    if grep -q "^done: $((stop_step + 2)) steps" "$tmp/out"; then
      echo "ok $n - 2 ranks: the resumed run finishes its $((stop_step + 2)) steps"
    else
      echo "not ok $n - 2 ranks: the resumed run finishes its $((stop_step + 2)) steps"
      failed=$((failed + 1))
    fi
  fi
  # A stopped rank (SIGSTOP) is a lost peer: the other rank gives up in its collective after
  # [run] collective_deadline_s and the job ends with exit 6, naming the collective.
  rm -f "$tmp/rank.0" "$tmp/rank.1"
  "${mpi[@]}" --run.steps=100000000 --run.collective_deadline_s=2 >"$tmp/peer.log" 2>&1 &
  mpirun_pid=$!
  ok=1 why=""
  wait_for "^step .*loss" "$tmp/peer.log" 120 && [ -s "$tmp/rank.1" ] || { ok=0; why="no step logged"; }
  [ $ok -eq 1 ] && kill -STOP "$(cat "$tmp/rank.1")"
  for _ in $(seq 2400); do kill -0 $mpirun_pid 2>/dev/null || break; sleep 0.05; done
  if kill -0 $mpirun_pid 2>/dev/null; then
    ok=0 why="mpirun still running 120 s after SIGSTOP to rank 1"
    kill -CONT "$(cat "$tmp/rank.1")" 2>/dev/null
    kill -TERM $mpirun_pid
  fi
  wait $mpirun_pid
  rc=$?
  kill -KILL "$(cat "$tmp/rank.1")" 2>/dev/null
  n=$((n + 1))
  if [ $ok -eq 1 ] && [ $rc -eq 6 ] && grep -q "no answer from the other ranks within 2 s" "$tmp/peer.log"; then
    echo "ok $n - 2 ranks: a stopped rank ends the job as a lost peer, exit 6"
  else
    echo "not ok $n - 2 ranks: a stopped rank ends the job as a lost peer (exit $rc, want 6) $why"
    tail -5 "$tmp/peer.log" | sed 's/^/# /'
    failed=$((failed + 1))
  fi
else
  n=$((n + 1)); echo "ok $n - 2 ranks: signals to one rank # SKIP no mpirun, or birdied built without MPI"
fi

# generate: from the newest verified checkpoint of a dir and from one file (the run's config or the
# config.ini it wrote gives the shape); a broken manifest, a corrupt file and another run's configuration are data errors (3)
check "generate from a checkpoint dir" 0 "ended by the token limit" "$birdied" generate "${base[@]}" \
  --checkpoint "$tmp/sig" --prompt "the early bird" --max-tokens 8
check "generate from a checkpoint file" 0 "ended by the token limit" "$birdied" generate "${base[@]}" \
  --checkpoint "$(ls "$tmp/ck"/ckpt_*.bin | tail -1)" --prompt "the river" --max-tokens 8 --temperature 0.8 --seed 1
check "generate: a broken manifest is a data error" 3 "is not a birdie manifest" "$birdied" generate "${base[@]}" \
  --checkpoint "$tmp/ck" --prompt x
check "generate: a corrupt checkpoint is a data error" 3 "not a birdie checkpoint" "$birdied" generate "${base[@]}" \
  --checkpoint "$tmp/corrupt.bin" --prompt x
check "generate: another run's checkpoint is a data error" 3 "another configuration" "$birdied" generate \
  "${base[@]}" --train.seq_len=32 --checkpoint "$tmp/sig" --prompt x
# the run wrote its config.ini beside its checkpoints: no flags needed; a damaged one is a data error
check "generate with the config.ini beside the checkpoints" 0 "ended by the token limit" "$birdied" generate \
  --checkpoint "$tmp/sig" --prompt "the early bird" --max-tokens 8
mkdir -p "$tmp/badconf" && cp "$tmp/sig"/* "$tmp/badconf/" && echo "[model]" >> "$tmp/badconf/config.ini" &&
  echo "d_model = wide" >> "$tmp/badconf/config.ini"
check "generate: a damaged config.ini is a data error" 3 "d_model" "$birdied" generate --checkpoint "$tmp/badconf" \
  --prompt x
check "generate: a bad flag is a usage error" 2 "--top-k" "$birdied" generate "${base[@]}" --checkpoint "$tmp/sig" \
  --top-k=-1

# finetune: from the checkpoints of the signals run, with the config.ini beside them; the fine-tuned
# checkpoint loads in generate with no other flag, and the same flags give the same checkpoint
ft=(--task phonebook --steps 3 --batch 2 --curve-every 2 --curve-items 3)
check "finetune from a checkpoint dir" 0 "finetune: wrote $tmp/ft1/ckpt_000000003.bin" "$birdied" finetune \
  --checkpoint "$tmp/sig" "${ft[@]}" --out "$tmp/ft1"
cp "$tmp/out" "$tmp/ft1.log"
check "finetune prints its curve table" 0 "train_loss answer_loss  K  items digit_acc" cat "$tmp/ft1.log"
check "generate from the fine-tuned checkpoint, no --config" 0 "ended by the token limit" "$birdied" generate \
  --checkpoint "$tmp/ft1" --prompt "Look up: Ada Moreno" --max-tokens 8
check "finetune -o json" 0 '"task":"phonebook"' "$birdied" finetune --checkpoint "$tmp/sig" "${ft[@]}" \
  --out "$tmp/ft2" -o json
n=$((n + 1))
if python3 - "$tmp/out" "$tmp/ft1/manifest.json" "$tmp/ft2/manifest.json" <<'PY'
import json, sys
doc = json.loads([l for l in open(sys.argv[1]) if l.startswith("{")][0])
assert doc["steps"] == 3 and doc["batch"] == 2 and doc["seq_len"] == 320 and doc["positions"] == 3 * 2 * 320, doc
assert doc["entries"] == [2, 4] and doc["k"] == [1, 2] and doc["lr"] == 0.001, doc
assert [p["step"] for p in doc["curve"]] == [0, 2, 3], doc["curve"]
assert doc["curve"][0]["train_loss"] is None and doc["curve"][0]["k"] == 4 and doc["curve"][0]["items"] == 3
sums = [json.load(open(m))["checkpoints"][0]["checksum"] for m in sys.argv[2:]]
assert sums[0] == sums[1], sums  # table and json runs of the same flags: the same model, bit for bit
PY
then echo "ok $n - finetune: its JSON holds the curve, and two runs write the same checkpoint"
else echo "not ok $n - finetune: its JSON holds the curve, and two runs write the same checkpoint"; failed=$((failed + 1)); fi
check "finetune: a corrupt checkpoint is a data error" 3 "not a birdie checkpoint" "$birdied" finetune \
  --checkpoint "$tmp/corrupt.bin" "${base[@]}" "${ft[@]}" --out "$tmp/ft3"
check "finetune: another run's checkpoint is a data error" 3 "another configuration" "$birdied" finetune \
  --checkpoint "$tmp/sig" "${base[@]}" --train.seq_len=32 "${ft[@]}" --out "$tmp/ft3"
check "finetune: --out holding checkpoints is refused" 2 "already holds checkpoints" "$birdied" finetune \
  --checkpoint "$tmp/sig" "${ft[@]}" --out "$tmp/sig"
check "finetune: K above the smallest book is a usage error" 2 "--entries 2-4" "$birdied" finetune \
  --checkpoint "$tmp/sig" "${ft[@]}" --k 1-3 --out "$tmp/ft3"
check "finetune: rows too short for the items are a usage error" 2 "--seq-len 64" "$birdied" finetune \
  --checkpoint "$tmp/sig" "${ft[@]}" --seq-len 64 --out "$tmp/ft3"
check "finetune: a bad range is a usage error" 2 "--k '2-1'" "$birdied" finetune --checkpoint "$tmp/sig" "${ft[@]}" \
  --k 2-1 --out "$tmp/ft3"
check "finetune: an unknown task is a usage error" 2 "the one task is phonebook" "$birdied" finetune \
  --checkpoint "$tmp/sig" --task infill --out "$tmp/ft3"
check "finetune: --out is required" 2 "--out DIR is required" "$birdied" finetune --checkpoint "$tmp/sig" "${ft[@]}"
check "finetune: an unknown flag is a usage error" 2 "unknown argument '--epochs'" "$birdied" finetune \
  --checkpoint "$tmp/sig" "${ft[@]}" --out "$tmp/ft3" --epochs 2
[ ! -e "$tmp/ft3" ] || { n=$((n + 1)); echo "not ok $n - a refused finetune wrote $tmp/ft3"; failed=$((failed + 1)); }
echo "1..$n"
exit $((failed > 0))
