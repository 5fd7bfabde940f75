#!/usr/bin/env bash
# deploy/gpu-check.sh: the GPU acceptance run (issue 7). On a machine with a GPU, the CUDA toolkit, a C
# compiler, meson and ninja (no gRPC, protobuf-c, SQLite, MPI, OpenBLAS or cmocka needed: the GPU tests
# are plain C with TAP output): builds the standalone GPU configuration, runs the op tests (every CUDA
# op against its CPU twin, then --perf timings against the measured copy bandwidth and bf16 GEMM rate),
# a full XS train step against the CPU, the benchmark at S, 125M and 350M, and last the op tests and
# the train step again under compute-sanitizer memcheck (out-of-bounds and misaligned accesses that the
# guard zones of test_ops cannot see). Logs are copied into "${OUT:-.}"; summary.log lists each step.
#
# GPU time is scarce, so a failed step does not stop the later ones: each step runs under its own time
# limit (a normal run takes a few minutes in all; the device tool stops a command at 10), and the
# script exits 1 at the end if any step failed (test_ops exiting 77, no usable GPU, counts as failed).
# Only a failed build stops it at once.
# BUILD_DIR overrides the build directory (default build-gpu); SANITIZE=0 skips the memcheck steps.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
out="${OUT:-.}"
build="${BUILD_DIR:-build-gpu}"
mkdir -p "$out"
: > "$out/summary.log"

# meson -Dcuda=enabled needs nvcc on PATH; toolkits often install it only under /usr/local/cuda/bin.
if ! command -v nvcc > /dev/null 2>&1; then
    for dir in "${CUDA_HOME:-/nonexistent}/bin" /usr/local/cuda/bin; do
        if [ -x "$dir/nvcc" ]; then
            export PATH="$dir:$PATH"
            break
        fi
    done
fi

failed=0
# step NAME LIMIT_S LOG COMMAND...: runs one step under a time limit (exit 124 when it runs out),
# appends its output to LOG and its result to summary.log.
step() {
    local name=$1 limit=$2 log=$3
    shift 3
    echo "== $name: $*" | tee -a "$log"
    timeout -k 10 "$limit" "$@" 2>&1 | tee -a "$log"
    local rc=${PIPESTATUS[0]}
    if [ "$rc" -eq 0 ]; then
        echo "ok      $name" >> "$out/summary.log"
    else
        echo "FAILED  $name (exit $rc$([ "$rc" -eq 124 ] && echo ', time limit')$([ "$rc" -eq 77 ] && echo ', no usable GPU'))" \
            >> "$out/summary.log"
        failed=1
    fi
}

{ nvcc --version; meson --version; } > "$out/gpu-setup.log" 2>&1
wipe=()
[ -d "$build/meson-private" ] && wipe=(--wipe)
if ! meson setup ${wipe[@]+"${wipe[@]}"} "$build" -Ddaemon=disabled -Dcuda=enabled 2>&1 | tee -a "$out/gpu-setup.log" ||
    ! ninja -C "$build" 2>&1 | tee "$out/gpu-build.log"; then
    echo "FAILED  build (see gpu-setup.log, gpu-build.log)" | tee -a "$out/summary.log"
    exit 1
fi
echo "ok      build" >> "$out/summary.log"
nvidia-smi > "$out/nvidia-smi.log" 2>&1 || true

step "backend selection" 60 "$out/test_backend_select.log" "$build/tests/kernels/cuda/test_backend_select"
step "op tests + perf" 240 "$out/test_ops.log" "$build/tests/kernels/cuda/test_ops" --perf
step "XS train step gpu vs cpu" 90 "$out/test_train_step.log" "$build/tests/kernels/cuda/test_train_step"

if [ -x "$build/worker/birdie-bench" ]; then
    : > "$out/bench.log"
    for model in S 125M 350M; do
        seq=2048
        [ "$model" = S ] && seq=512
        step "bench $model" 150 "$out/bench.log" "$build/worker/birdie-bench" --backend cuda --model "$model" --seq "$seq"
    done
else
    echo "FAILED  bench: $build/worker/birdie-bench was not built" | tee -a "$out/summary.log"
    failed=1
fi

# compute-sanitizer ships with the toolkit: on PATH, in bin/ beside nvcc, or in its own directory.
sanitizer=$(command -v compute-sanitizer || true)
nvcc_bin=$(dirname "$(command -v nvcc)")
for candidate in "$nvcc_bin/compute-sanitizer" "$nvcc_bin/../compute-sanitizer/compute-sanitizer"; do
    [ -z "$sanitizer" ] && [ -x "$candidate" ] && sanitizer=$candidate
done
if [ "${SANITIZE:-1}" != 0 ] && [ -n "$sanitizer" ]; then
    : > "$out/memcheck.log"
    step "memcheck op tests" 240 "$out/memcheck.log" "$sanitizer" --tool memcheck --error-exitcode 99 \
        --print-limit 20 "$build/tests/kernels/cuda/test_ops"
    step "memcheck train step" 120 "$out/memcheck.log" "$sanitizer" --tool memcheck --error-exitcode 99 \
        --print-limit 20 "$build/tests/kernels/cuda/test_train_step"
elif [ "${SANITIZE:-1}" != 0 ]; then
    echo "skipped memcheck: no compute-sanitizer in the toolkit" >> "$out/summary.log"
fi

cat "$out/summary.log"
exit "$failed"
