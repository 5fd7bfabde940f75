#!/usr/bin/env bash
# deploy/run-matrix.sh: the run matrix that compares Birdie with next-token prediction
# (docs/results.md): five pre-training runs with the same seed, model and token budget, then the same
# fine-tuning and the same fixed evaluation sets for each, then the table and the plots.
#
#   bash deploy/run-matrix.sh [cpu|gpu|xs] [--out DIR] [--phase pretrain|finetune|eval|report|all]
#
# Profiles: cpu (deploy/matrix/cpu.ini, about an hour on 2 cores), gpu (deploy/matrix/gpu.ini, size S
# or larger, one GPU), xs (a few XS steps: checks the pipeline end to end, CI runs it). Every phase
# skips work whose result already exists, so an interrupted matrix continues where it stopped (a
# pre-training run resumes from its checkpoint). What it does not do: choose anything after looking at
# results; the evaluation sets are fixed by their seeds before any run.
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${1:-cpu}
shift || true
out="" phase=all
while [ $# -gt 0 ]; do
    case $1 in
        --out) out=$2; shift 2 ;;
        --phase) phase=$2; shift 2 ;;
        *) echo "run-matrix: unknown argument '$1'" >&2; exit 2 ;;
    esac
done
case $profile in cpu | gpu | xs) ;; *) echo "run-matrix: unknown profile '$profile' (cpu, gpu or xs)" >&2; exit 2 ;; esac
conf=deploy/matrix/$profile.ini
out=${out:-matrix-$profile}
birdied=${BIRDIED:-./build/birdied}
ranks=${RANKS:-2}
[ "$profile" = gpu ] && ranks=${RANKS:-1}
[ -x "$birdied" ] || { echo "run-matrix: $birdied is missing (build first: meson setup build && ninja -C build)" >&2; exit 2; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export BIRDIE_TOKEN=${BIRDIE_TOKEN:-matrix}
mkdir -p "$out"

# name  bidirectional  mixture   (docs/results.md: what each run isolates)
runs="ntp:false:ntp birdie:true:birdie birdie_causal:false:birdie uniform:true:uniform ul2:true:ul2"

final_step=$(sed -n 's/^steps *= *\([0-9]*\).*/\1/p' "$conf" | head -1)

pretrain() {
    local name=$1 bidi=$2 mix=$3 dir=$out/$1
    mkdir -p "$dir"
    if [ -f "$dir/ckpt/ckpt_$final_step.bin" ]; then
        echo "run-matrix: $name: pre-trained already ($dir/ckpt)"
        return
    fi
    echo "run-matrix: $name: pre-training (bidirectional=$bidi, mixture=$mix)"
    mpirun -np "$ranks" "$birdied" --config "$conf" --run.name="$name" --model.bidirectional="$bidi" \
        --objectives.mixture="$mix" --checkpoint.dir="$dir/ckpt" --daemon.db="$dir/store.db" \
        --resume auto > "$dir/pretrain.log" 2>&1 || {
        echo "run-matrix: $name: pre-training failed; the end of $dir/pretrain.log:" >&2
        tail -20 "$dir/pretrain.log" >&2
        exit 1
    }
    tail -1 "$dir/pretrain.log"
}

for r in $runs; do
    IFS=: read -r name bidi mix <<< "$r"
    case $phase in all | pretrain) pretrain "$name" "$bidi" "$mix" ;; esac
done
