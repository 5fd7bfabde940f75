#!/usr/bin/env bash
# deploy/gpu-check.sh: the GPU acceptance run (issue 7). On a machine with a GPU, the CUDA toolkit, a C
# compiler, meson and ninja (no gRPC, protobuf-c, SQLite, MPI or OpenBLAS needed): builds the standalone
# GPU configuration, runs the op tests (every CUDA op against its CPU twin, then --perf timings against
# the measured copy bandwidth and bf16 GEMM rate), a full XS train step against the CPU, and the
# benchmark at S, 125M and 350M. Logs are copied into "${OUT:-.}".
# Fails if the build fails, if no GPU is usable (test_ops exits 77) or if any op check fails.
# BUILD_DIR overrides the build directory (default build-gpu).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-.}"
build="${BUILD_DIR:-build-gpu}"
mkdir -p "$out"

wipe=()
[ -d "$build/meson-private" ] && wipe=(--wipe)
meson setup "${wipe[@]}" "$build" -Ddaemon=disabled -Dcuda=enabled 2>&1 | tee "$out/gpu-setup.log"
ninja -C "$build" 2>&1 | tee "$out/gpu-build.log"
nvidia-smi 2>&1 | tee "$out/nvidia-smi.log" || true

"$build/tests/gpu/test_backend_select" 2>&1 | tee "$out/test_backend_select.log"
"$build/tests/gpu/test_ops" --perf 2>&1 | tee "$out/test_ops.log"
"$build/tests/gpu/test_train_step" 2>&1 | tee "$out/test_train_step.log"

if [ -x "$build/worker/birdie-bench" ]; then
    for model in S 125M 350M; do
        seq=2048; [ "$model" = S ] && seq=512
        "$build/worker/birdie-bench" --backend cuda --model "$model" --seq "$seq" 2>&1 | tee -a "$out/bench.log"
    done
else
    echo "gpu-check: $build/worker/birdie-bench was not built; no benchmark run" | tee "$out/bench.log"
fi
