#!/usr/bin/env bash
# tests/faults.sh BIRDIED: every built-in fault point (worker/fault.h, BIRDIE_FAULT) against the outcome
# docs/design.md ("Faults") promises: the exit code, the message, and that nothing is lost (a resume
# that ends bit-identical to the run without the fault, checkpoints that verify, store rows). Also
# `birdied verify-resume` on two ranks with the Birdie mixture. Every run is bounded by `timeout`
# far above what it needs, so a hang fails the test instead of the suite; nothing here measures time.
# Prints TAP.
set -u
birdied=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export BIRDIE_TOKEN=faults
n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { # name, log file
  n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"
  [ -f "${2:-}" ] && tail -n 8 "$2" | sed 's/^/# /'
}
# run NAME FAULT [mpirun -np 2] ARGS...: the output goes to $tmp/NAME.log, the exit code to $rc
run() {
  local name=$1 fault=$2; shift 2
  BIRDIE_FAULT=$fault timeout -k 10 240 "$@" >"$tmp/$name.log" 2>&1
  rc=$?
}
expect() { # name, want rc, want text, log
  if [ "$rc" -eq "$2" ] && grep -qF -- "$3" "$4"; then ok "$1"; else not_ok "$1 (exit $rc, want $2 and '$3')" "$4"; fi
}
mpi=(mpirun -np 2 "$birdied")
base=(--run.steps=20 --train.batch=4 --train.eval_rows=2 --run.backend=cpu --train.seq_len=64
      '--objectives.arms=ntp len=16-64; copying len=8-24' --objectives.mixture=uniform --daemon.listen=
      --checkpoint.every=5)
coord=(--daemon.listen=127.0.0.1:0)

# the reference: the same run without a fault (its final checkpoint is what every resume must equal)
run ref "" "$birdied" "${base[@]}" --checkpoint.dir="$tmp/ref"
[ "$rc" -eq 0 ] && ok "reference run" || not_ok "reference run (exit $rc)" "$tmp/ref.log"

run bad "nope@3" "$birdied" "${base[@]}" --checkpoint.dir="$tmp/bad"
expect "an unknown fault point is a usage error" 2 "unknown point 'nope'" "$tmp/bad.log"

# kill_before_rename: the temporary file stays, the manifest still names the step-5 checkpoint, and a
# resume from it ends bit-identical to the reference
run krename "kill_before_rename@10" "$birdied" "${base[@]}" --checkpoint.dir="$tmp/krename"
if [ "$rc" -eq 137 ] && [ -f "$tmp/krename/.ckpt_000000010.bin.tmp" ] && [ ! -f "$tmp/krename/ckpt_000000010.bin" ]; then
  ok "kill_before_rename: killed with the temporary file written and not renamed"
else not_ok "kill_before_rename: killed before the rename (exit $rc)" "$tmp/krename.log"; fi
run krename2 "" "$birdied" "${base[@]}" --checkpoint.dir="$tmp/krename" --checkpoint.resume=auto
if [ "$rc" -eq 0 ] && grep -qF "resumed from the checkpoint of step 5" "$tmp/krename2.log" &&
   cmp -s "$tmp/ref/ckpt_000000020.bin" "$tmp/krename/ckpt_000000020.bin"; then
  ok "kill_before_rename: the resume starts at step 5 and ends bit-identical to the reference"
else not_ok "kill_before_rename: resume (exit $rc)" "$tmp/krename2.log"; fi

# fail_fsync: exit 3 naming the file and the error; no temporary file left; the earlier checkpoint resumes
run fsync "fail_fsync@10" "$birdied" "${base[@]}" --checkpoint.dir="$tmp/fsync"
expect "fail_fsync: exit 3 naming the checkpoint and the I/O error" 3 "ckpt_000000010.bin: Input/output error" \
  "$tmp/fsync.log"
if ls -a "$tmp/fsync" | grep -q '\.tmp'; then not_ok "fail_fsync: no temporary file is left" "$tmp/fsync.log"
else ok "fail_fsync: no temporary file is left"; fi
run fsync2 "" "$birdied" "${base[@]}" --checkpoint.dir="$tmp/fsync" --checkpoint.resume=auto
if [ "$rc" -eq 0 ] && grep -qF "resumed from the checkpoint of step 5" "$tmp/fsync2.log" &&
   cmp -s "$tmp/ref/ckpt_000000020.bin" "$tmp/fsync/ckpt_000000020.bin"; then
  ok "fail_fsync: the step-5 checkpoint resumes and ends bit-identical to the reference"
else not_ok "fail_fsync: resume (exit $rc)" "$tmp/fsync2.log"; fi

# nan_loss: exit 4 naming the step; no checkpoint at or after it
run nan "nan_loss@7" "$birdied" "${base[@]}" --checkpoint.dir="$tmp/nan"
expect "nan_loss: exit 4 naming the step and the non-finite loss" 4 "step 7: non-finite loss" "$tmp/nan.log"
if [ -f "$tmp/nan/ckpt_000000005.bin" ] && ! ls "$tmp/nan" | grep -q 'ckpt_0000000[1-9][0-9]\|ckpt_00000000[6-9]'; then
  ok "nan_loss: the step-5 checkpoint is there and nothing after the NaN was written"
else not_ok "nan_loss: checkpoints" "$tmp/nan.log"; fi

# corrupt_shard: exit 3 naming the shard and the bad token
printf 'the quick brown fox jumps over the lazy dog. %.0s' $(seq 1 400) >"$tmp/text.txt"
"$birdied" prep --out "$tmp/shards" "$tmp/text.txt" >"$tmp/prep.log" 2>&1
shard=$(ls "$tmp/shards"/train_*.bin 2>/dev/null | head -1)
run shard "corrupt_shard@0" "$birdied" "${base[@]}" --data.source=shards --data.train="$shard" --data.val="$shard" \
  --checkpoint.every=0
expect "corrupt_shard: exit 3 naming the shard and the token" 3 "outside the vocabulary" "$tmp/shard.log"

# hang_collective: rank 1 never joins; rank 0 gives up after the deadline its step times give (floor
# 1 s), not the 300 s ceiling, with exit 6 and a flight record whose last collective never completed
run hang "hang_collective@8/1" "${mpi[@]}" "${base[@]}" --checkpoint.dir="$tmp/hang" --run.collective_floor_s=1 \
  --run.collective_deadline_s=300 --run.steps=400
secs=$(grep -o 'no answer from the other ranks within [0-9]* s' "$tmp/hang.log" | head -1 | grep -o '[0-9][0-9]*')
if [ "$rc" -eq 6 ] && [ -n "$secs" ] && [ "$secs" -lt 300 ]; then
  ok "hang_collective: exit 6 from the step-time deadline (${secs} s, not the 300 s ceiling)"
else not_ok "hang_collective: exit $rc, deadline '${secs}' s: want exit 6 within less than 300 s" "$tmp/hang.log"; fi
if grep -q "NEVER COMPLETED" "$tmp/hang/flight-rank0.txt" 2>/dev/null && grep -q "^  step: 8$" "$tmp/hang/flight-rank0.txt"; then
  ok "hang_collective: rank 0's flight record names step 8 and the collective that never completed"
else not_ok "hang_collective: flight record" "$tmp/hang.log"; fi

# stop_heartbeat: the coordinator names the silent rank, its host and pid; the run itself finishes
run hb "stop_heartbeat@3/1" "${mpi[@]}" "${base[@]}" "${coord[@]}" --daemon.db="$tmp/hb.db" \
  --daemon.stall_after_s=0.2 --run.steps=400 --checkpoint.every=0
expect "stop_heartbeat: the stalled rank is named with its host and pid" 0 "rank 1 (host $(hostname), pid" "$tmp/hb.log"

# fail_store: the coordinator's write fails: the run stops with exit 7 naming it; the store says failed
run store "fail_store@8" "${mpi[@]}" "${base[@]}" "${coord[@]}" --daemon.db="$tmp/store.db" --checkpoint.dir="$tmp/store"
expect "fail_store: exit 7 naming the failed write" 7 "injected write failure" "$tmp/store.log"
state=$(sqlite3 "$tmp/store.db" "SELECT state FROM runs" 2>/dev/null)
[ "$state" = failed ] && ok "fail_store: the store records the run as failed" ||
  not_ok "fail_store: run state '$state', want failed" "$tmp/store.log"

# store_busy: a second writer holds the lock for 3 retries: the write waits and nothing is lost (the
# same evaluation rows as a run without it); held past the bound, the run fails with exit 7
run busyref "" "${mpi[@]}" "${base[@]}" "${coord[@]}" --daemon.db="$tmp/busyref.db" --checkpoint.dir="$tmp/busyref"
run busy "store_busy@8=3" "${mpi[@]}" "${base[@]}" "${coord[@]}" --daemon.db="$tmp/busy.db" --checkpoint.dir="$tmp/busy"
q="SELECT count(*), total(loss_sum) FROM evals"
if [ "$rc" -eq 0 ] && [ "$(sqlite3 "$tmp/busy.db" "$q")" = "$(sqlite3 "$tmp/busyref.db" "$q")" ] &&
   [ "$(sqlite3 "$tmp/busy.db" "SELECT count(*) FROM evals")" -gt 0 ]; then
  ok "store_busy: three busy retries, then every row is written"
else not_ok "store_busy: exit $rc, rows $(sqlite3 "$tmp/busy.db" "$q") vs $(sqlite3 "$tmp/busyref.db" "$q")" "$tmp/busy.log"; fi
run busy2 "store_busy@8=1000" "${mpi[@]}" "${base[@]}" "${coord[@]}" --daemon.db="$tmp/busy2.db" --checkpoint.dir="$tmp/busy2"
expect "store_busy past the retry bound: exit 7, database is locked" 7 "database is locked" "$tmp/busy2.log"

# drop_push: rank 1 misses a mixture directive; the coordinator sends it again, and the run ends
# bit-identical to the same run without the fault
birdie=("${base[@]}" '--objectives.arms=ntp len=16-64; copying len=8-24; infilling len=16-64'
        --objectives.mixture=birdie "${coord[@]}")
run pushref "" "${mpi[@]}" "${birdie[@]}" --daemon.db="$tmp/pushref.db" --checkpoint.dir="$tmp/pushref"
run push "drop_push@4/1" "${mpi[@]}" "${birdie[@]}" --daemon.db="$tmp/push.db" --checkpoint.dir="$tmp/push"
if [ "$rc" -eq 0 ] && grep -qF "fault drop_push fires" "$tmp/push.log" &&
   cmp -s "$tmp/pushref/ckpt_000000020.bin" "$tmp/push/ckpt_000000020.bin"; then
  ok "drop_push: the directive is sent again and the run ends bit-identical"
else not_ok "drop_push (exit $rc)" "$tmp/push.log"; fi

# kill (and the resume after it): birdied verify-resume, two ranks, the Birdie mixture
printf '[run]\nsteps = 30\nbackend = cpu\n[train]\nbatch = 4\neval_rows = 2\nseq_len = 64\n[objectives]\narms = ntp len=16-64; copying len=8-24; infilling len=16-64\nmixture = birdie\n' >"$tmp/vr.ini"
timeout -k 10 600 "$birdied" verify-resume --config "$tmp/vr.ini" --at 11 --np 2 --dir "$tmp/vr" >"$tmp/vr.log" 2>&1
rc=$?
expect "kill + verify-resume (2 ranks, Birdie): the resumed run is identical" 0 \
  "the resumed run is identical to the uninterrupted one" "$tmp/vr.log"
if grep -q "run b: exit 137" "$tmp/vr.log" && grep -q "evaluations      identical" "$tmp/vr.log" &&
   grep -q "decisions        identical" "$tmp/vr.log" && grep -q "parameters       identical" "$tmp/vr.log"; then
  ok "verify-resume: the kill ended the job and evaluations, decisions and parameters were compared"
else not_ok "verify-resume report" "$tmp/vr.log"; fi
printf '[run]\nsteps = 10\n' >"$tmp/short.ini"
timeout 60 "$birdied" verify-resume --config "$tmp/short.ini" --at 10 >"$tmp/vrbad.log" 2>&1
rc=$?
expect "verify-resume: --at past the run is a usage error" 2 "the run has only 10 steps" "$tmp/vrbad.log"

echo "1..$n"
[ "$failed" -eq 0 ]
