#!/usr/bin/env bash
# deploy/run-matrix.sh: the run matrix that compares Birdie with next-token prediction
# (docs/results.md): nine pre-training runs (five of the Gated SSM, Hawk and the Transformer each with
# NTP and with Birdie) with the same seed, token budget and about the same parameter count, then the
# same fine-tuning and the same fixed evaluation sets for each, then the table and the plots.
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
[ -x "$birdied" ] || { echo "run-matrix: $birdied is missing (build first: meson setup build -Ddaemon=enabled && ninja -C build)" >&2; exit 2; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export BIRDIE_TOKEN=${BIRDIE_TOKEN:-matrix}
mkdir -p "$out"

# name  bidirectional  mixture  [family]   (docs/results.md: what each run isolates). The Hawk and
# Transformer rows are the paper's Fig. 1 comparison: each family with next-token prediction and with
# Birdie (bidirectional prefix for Hawk, prefix-LM attention for the Transformer).
runs="ntp:false:ntp birdie:true:birdie birdie_causal:false:birdie uniform:true:uniform ul2:true:ul2"
runs="$runs hawk_ntp:false:ntp:hawk hawk_birdie:true:birdie:hawk tf_ntp:false:ntp:transformer"
runs="$runs tf_birdie:true:birdie:transformer"

# The model overrides of a family on this profile: the cpu profile's Gated SSM (D=192, N=256, 6 layers,
# 1.6M parameters) is matched by Hawk with N=128 over 4 layers (1.6M) and a Transformer of 4 layers
# (1.8M); the xs and gpu profiles use each family's own size of their [model] size.
family_flags() { # family
    [ -n "$1" ] || return 0
    echo -n "--model.family=$1"
    if [ "$profile" = cpu ]; then
        case $1 in
            hawk) echo -n " --model.d_state=128 --model.n_layers=4" ;;
            transformer) echo -n " --model.n_layers=4" ;;
        esac
    fi
}

final_step=$(sed -n 's/^steps *= *\([0-9]*\).*/\1/p' "$conf" | head -1)
final_ckpt=$(printf 'ckpt_%09d.bin' "$final_step")

# A later phase run on its own must not use a run whose pre-training has not finished (its directory
# may hold an intermediate checkpoint).
pretrained() {
    [ -f "$out/$1/ckpt/$final_ckpt" ] && return 0
    echo "run-matrix: $1: not pre-trained to step $final_step yet; skipped"
    return 1
}

pretrain() {
    local name=$1 bidi=$2 mix=$3 fam=${4:-} dir=$out/$1
    mkdir -p "$dir"
    if [ -f "$dir/ckpt/$final_ckpt" ]; then
        echo "run-matrix: $name: pre-trained already ($dir/ckpt)"
        return
    fi
    echo "run-matrix: $name: pre-training (bidirectional=$bidi, mixture=$mix${fam:+, family=$fam})"
    # shellcheck disable=SC2046
    mpirun -np "$ranks" "$birdied" --config "$conf" --run.name="$name" --model.bidirectional="$bidi" $(family_flags "$fam") \
        --objectives.mixture="$mix" --checkpoint.dir="$dir/ckpt" --daemon.db="$dir/store.db" \
        --resume auto > "$dir/pretrain.log" 2>&1 || {
        echo "run-matrix: $name: pre-training failed; the end of $dir/pretrain.log:" >&2
        tail -20 "$dir/pretrain.log" >&2
        exit 1
    }
    tail -1 "$dir/pretrain.log"
}

# The fine-tuning budget, the same for every run (docs/results.md): steps, rows, row length, the
# books and questions drawn, and the learning rates swept. Each run keeps the rate whose curve ends
# with the lowest held-out answer loss (fine-tune items, never the evaluation sets); that model is
# the one evaluated. Every rate's curve is reported.
case $profile in
    cpu) ft_args=(--steps 250 --batch 16 --seq-len 320 --entries 2-4 --k 1-2 --curve-every 50 --curve-items 64)
         lrs="1e-3 3e-3" # two rates: the CPU budget (a fine-tune is about 3 minutes here); the GPU sweeps three
         items=128 eval_args=(--entries 4 --long) ;;
    gpu) ft_args=(--steps 300 --batch 32 --seq-len 2048 --entries 8-64 --k 1-8 --curve-every 50 --curve-items 256)
         lrs="1e-4 3e-4 1e-3"
         items=256 eval_args=(--entries 48 --long) ;;
    xs)  ft_args=(--steps 4 --batch 4 --seq-len 320 --entries 2-4 --k 1-2 --curve-every 2 --curve-items 4)
         lrs="1e-3 3e-3"
         items=4 eval_args=(--entries 4) ;;
esac

# The run's configuration as its pre-training had it (the checkpoints of a run also carry it).
run_flags() { # name bidirectional mixture [family]
    echo "--config $conf --run.name=$1 --model.bidirectional=$2 --objectives.mixture=$3 $(family_flags "${4:-}")"
}

evaluate_pretrained() {
    local name=$1 bidi=$2 mix=$3 fam=${4:-} dir=$out/$1
    [ -s "$dir/eval_pretrain.json" ] && return
    pretrained "$name" || return 0
    echo "run-matrix: $name: evaluating the pre-trained model (bits/char, infilling)"
    # shellcheck disable=SC2046
    "$birdied" eval --checkpoint "$dir/ckpt" $(run_flags "$name" "$bidi" "$mix" "$fam") --task bpc,infill --items "$items" \
        -o json --db "$dir/store.db" --run "$name" > "$dir/eval_pretrain.json.tmp" 2> "$dir/eval_pretrain.log" || {
        echo "run-matrix: $name: evaluation failed:" >&2; tail -5 "$dir/eval_pretrain.log" >&2; exit 1; }
    mv "$dir/eval_pretrain.json.tmp" "$dir/eval_pretrain.json"
}

finetune_and_evaluate() {
    local name=$1 bidi=$2 mix=$3 fam=${4:-} dir=$out/$1 lr
    pretrained "$name" || return 0
    for lr in $lrs; do
        if [ ! -s "$dir/finetune_$lr.json" ]; then
            echo "run-matrix: $name: fine-tuning on phonebooks at lr $lr"
            rm -rf "$dir/ft_$lr"
            # shellcheck disable=SC2046
            "$birdied" finetune --checkpoint "$dir/ckpt" $(run_flags "$name" "$bidi" "$mix" "$fam") --task phonebook \
                --out "$dir/ft_$lr" --lr "$lr" "${ft_args[@]}" -o json > "$dir/finetune_$lr.json.tmp" \
                2> "$dir/finetune_$lr.log" || {
                echo "run-matrix: $name: fine-tuning failed:" >&2; tail -5 "$dir/finetune_$lr.log" >&2; exit 1; }
            mv "$dir/finetune_$lr.json.tmp" "$dir/finetune_$lr.json"
        fi
    done
    [ -s "$dir/eval_ft.json" ] && return
    lr=$(python3 deploy/matrix/report.py --best-lr "$dir" --lrs "$lrs")
    echo "run-matrix: $name: evaluating the model fine-tuned at lr $lr (lowest held-out answer loss)"
    "$birdied" eval --checkpoint "$dir/ft_$lr" --task phonebook --items "$items" "${eval_args[@]}" -o json \
        --db "$dir/store.db" --run "$name" > "$dir/eval_ft.json.tmp" 2> "$dir/eval_ft.log" || {
        echo "run-matrix: $name: evaluation failed:" >&2; tail -5 "$dir/eval_ft.log" >&2; exit 1; }
    mv "$dir/eval_ft.json.tmp" "$dir/eval_ft.json"
}

start=$(date +%s)
for r in $runs; do
    IFS=: read -r name bidi mix fam <<< "$r"
    case $phase in all | pretrain) pretrain "$name" "$bidi" "$mix" "$fam" ;; esac
done
for r in $runs; do
    IFS=: read -r name bidi mix fam <<< "$r"
    case $phase in all | eval) evaluate_pretrained "$name" "$bidi" "$mix" "$fam" ;; esac
    case $phase in all | finetune) finetune_and_evaluate "$name" "$bidi" "$mix" "$fam" ;; esac
done
case $phase in
    all | report)
        docs=${DOCS:-$out/report}
        [ "$profile" = cpu ] && [ -z "${DOCS:-}" ] && docs=docs
        python3 deploy/matrix/report.py --profile "$profile" --config "$conf" --out "$out" --docs "$docs" \
            --runs "$runs" --lrs "$lrs" --finetune "${ft_args[*]}" --eval "--items $items ${eval_args[*]}" --ranks "$ranks" ;;
esac
echo "run-matrix: done in $(( $(date +%s) - start )) s"
