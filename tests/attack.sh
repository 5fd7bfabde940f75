#!/usr/bin/env bash
# tests/attack.sh BIRDIED [ROUNDS]: attacks a run the way a cluster does and prints counts, for the
# reliability report (docs/design.md §3.4); not part of CI (it takes minutes per round on two cores).
#   kills:   kill -9 (fault kill) of rank 0 or rank 1 at varied steps of a 2-rank Birdie run with a
#            coordinator; how long until the whole job is gone; then birdied verify-resume at the same
#            step and rank: whether the resumed run is identical (checkpoints and store rows);
#   stops:   SIGSTOP of rank 1 mid-run: how long until the coordinator names it, and until the job ends;
#   inputs:  configs, shards and checkpoints with random bytes flipped (seeded, so repeatable): how
#            many end in a clean error (exit 2 or 3 with a message), crash (a signal, or exit 1),
#            or hang (still running after 60 s).
# Prints one line per attack and a summary.
set -u
birdied=$(readlink -f "$1")
rounds=${2:-4}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export BIRDIE_TOKEN=attack
now() { date +%s.%N; }
cat >"$tmp/run.ini" <<INI
[run]
steps = 40
backend = cpu
[train]
batch = 4
eval_rows = 2
seq_len = 64
[objectives]
arms = ntp len=16-64; copying len=8-24; infilling len=16-64
mixture = birdie
[checkpoint]
every = 5
INI

kills=0 gone=0 gone_max=0 identical=0
for ((i = 0; i < rounds; i++)); do
  for rank in 0 1; do
    at=$((7 + (i * 11 + rank * 5) % 28))
    kills=$((kills + 1))
    log="$tmp/kill.log"
    BIRDIE_FAULT="kill@$at/$rank" mpirun -np 2 "$birdied" --config "$tmp/run.ini" --daemon.listen=127.0.0.1:0 \
      --daemon.db="$tmp/k.db" --checkpoint.dir="$tmp/k" >"$log" 2>&1 &
    job=$!
    until grep -q "fault kill fires" "$log" 2>/dev/null || ! kill -0 $job 2>/dev/null; do sleep 0.05; done
    t0=$(now)
    wait $job
    rc=$?
    dt=$(echo "$(now) - $t0" | bc)
    [ "$rc" -ne 0 ] && gone=$((gone + 1))
    (($(echo "$dt > $gone_max" | bc))) && gone_max=$dt
    "$birdied" verify-resume --config "$tmp/run.ini" --np 2 --at "$at" --kill-rank "$rank" --dir "$tmp/vr$i$rank" \
      >"$tmp/vr.log" 2>&1 && identical=$((identical + 1))
    echo "kill rank $rank at step $at: job gone after ${dt}s (mpirun exit $rc); verify-resume: $(tail -1 "$tmp/vr.log")"
    rm -rf "$tmp/k" "$tmp/k.db" "$tmp/vr$i$rank"
  done
done

stops=0 flagged=0 flag_max=0 ended=0 end_max=0
for ((i = 0; i < rounds; i++)); do
  stops=$((stops + 1))
  log="$tmp/stop.log"
  mpirun -np 2 "$birdied" --config "$tmp/run.ini" --run.steps=100000 --checkpoint.every=0 \
    --daemon.listen=127.0.0.1:0 --daemon.db="$tmp/s.db" --daemon.stall_after_s=2 --run.collective_floor_s=5 >"$log" 2>&1 &
  job=$!
  until grep -q "^step *$((20 + 10 * i))/" "$log" 2>/dev/null || ! kill -0 $job 2>/dev/null; do sleep 0.05; done
  pids=$(pgrep -f -- "--daemon.db=$tmp/s.db" | xargs -n1 ps -o pid=,comm= -p 2>/dev/null | awk '$2=="birdied"{print $1}')
  victim=$(echo "$pids" | sort -n | tail -1)
  kill -STOP "$victim"
  t0=$(now)
  until grep -q "pid $victim) has sent no heartbeat" "$log" 2>/dev/null || ! kill -0 $job 2>/dev/null; do sleep 0.05; done
  t_flag=$(echo "$(now) - $t0" | bc)
  grep -q "pid $victim) has sent no heartbeat" "$log" && flagged=$((flagged + 1))
  (($(echo "$t_flag > $flag_max" | bc))) && flag_max=$t_flag
  timeout 300 tail --pid=$job -f /dev/null
  t_end=$(echo "$(now) - $t0" | bc)
  kill -0 $job 2>/dev/null || ended=$((ended + 1))
  (($(echo "$t_end > $end_max" | bc))) && end_max=$t_end
  kill -CONT "$victim" 2>/dev/null
  kill -9 $job 2>/dev/null
  wait $job 2>/dev/null
  echo "SIGSTOP pid $victim: named by the coordinator after ${t_flag}s, job ended after ${t_end}s ($(grep -o 'no answer from the other ranks within [0-9]* s' "$log" | head -1))"
  rm -f "$tmp/s.db"*
done

# bad inputs: flipped bytes in a config, a shard and a checkpoint
printf 'the quick brown fox jumps over the lazy dog. %.0s' $(seq 1 300) >"$tmp/text.txt"
"$birdied" prep --out "$tmp/shards" "$tmp/text.txt" >/dev/null 2>&1
"$birdied" --config "$tmp/run.ini" --run.steps=5 --daemon.listen= >/dev/null 2>&1 --checkpoint.dir="$tmp/good"
ckpt=$(ls "$tmp/good"/ckpt_*.bin | tail -1)
shard=$(ls "$tmp/shards"/train_*.bin | head -1)
tried=0 clean=0 crashed=0 hung=0 accepted=0
flip() { # in out seed flips
  python3 - "$1" "$2" "$3" "$4" <<'PY'
import random, sys
src, dst, seed, flips = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
data = bytearray(open(src, 'rb').read())
rng = random.Random(seed)
for _ in range(flips):
    data[rng.randrange(len(data))] = rng.randrange(256)
open(dst, 'wb').write(bytes(data))
PY
}
attack_input() { # kind, args...
  tried=$((tried + 1))
  timeout -k 5 60 "$@" >"$tmp/in.log" 2>&1
  local rc=$?
  if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then hung=$((hung + 1)); echo "HANG: $*"
  elif [ $rc -ge 128 ] || [ $rc -eq 1 ]; then crashed=$((crashed + 1)); echo "CRASH ($rc): $*"; tail -3 "$tmp/in.log"
  elif [ $rc -eq 0 ]; then accepted=$((accepted + 1))
  elif [ -s "$tmp/in.log" ]; then clean=$((clean + 1))
  else crashed=$((crashed + 1)); echo "SILENT $rc: $*"; fi
}
for ((s = 0; s < 40 * rounds; s++)); do
  flip "$tmp/run.ini" "$tmp/bad.ini" $s $((1 + s % 4))
  attack_input "$birdied" --config "$tmp/bad.ini" --run.steps=3 --daemon.listen= --checkpoint.every=0
  flip "$shard" "$tmp/bad_shard.bin" $s $((1 + s % 8))
  attack_input "$birdied" --config "$tmp/run.ini" --run.steps=3 --daemon.listen= --checkpoint.every=0 \
    --data.source=shards --data.train="$tmp/bad_shard.bin" --data.val="$tmp/bad_shard.bin"
  rm -rf "$tmp/badck" && mkdir -p "$tmp/badck" && cp "$tmp/good/manifest.json" "$tmp/good/config.ini" "$tmp/badck/"
  flip "$ckpt" "$tmp/badck/$(basename "$ckpt")" $s $((1 + s % 8))
  attack_input "$birdied" generate --checkpoint "$tmp/badck" --prompt "the quick" --max-tokens 4
done

echo "kills: $kills tried, $gone jobs gone (slowest ${gone_max}s after the kill), $identical of $kills resumes identical"
echo "stops: $stops tried, $flagged named by the coordinator (slowest ${flag_max}s), $ended jobs ended (slowest ${end_max}s)"
echo "bad inputs: $tried tried, $clean clean errors, $accepted accepted (the flipped bytes did not matter), $crashed crashes, $hung hangs"
