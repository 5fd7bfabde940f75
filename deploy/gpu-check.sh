#!/usr/bin/env bash
# deploy/gpu-check.sh: the GPU acceptance run (issues 7 and 14). A GPU machine is lent for about 15
# minutes, start included: a bare machine with the CUDA toolkit, a C compiler, CMake, ninja and
# PyTorch, no network, and perhaps no meson, MPI, NCCL headers, OpenBLAS or other Debian libraries.
# One command there may run at most 600 s, and at most 8 files come back.
#
# Two ways to get the binaries onto it:
#
#   1. Build there (the default). The script configures the standalone GPU build and compiles only
#      the four programs it runs, trying in order: `meson setup` + ninja, then
#      `python3 -m mesonbuild.mesonmain setup` + ninja (meson installed as a Python package without
#      its command), then binaries carried over (2.). A build that fails stops the run only when
#      no carried binaries are there either.
#        bash deploy/gpu-check.sh
#
#   2. Build here and carry. On the CPU machine (Debian, CUDA toolkit installed, no GPU needed):
#        meson setup build-standalone -Ddaemon=disabled -Dcuda=enabled -Dblas=none -Donednn=disabled -Dcudart=static -Dtests=enabled
#        ninja -C build-standalone && meson test -C build-standalone 'standalone ldd'
#      -Dblas=none and -Dcudart=static leave out OpenBLAS and the shared CUDA runtime, so ldd of every
#      binary shows only glibc, libstdc++, libgomp and cuBLAS (the 'standalone ldd' test checks it,
#      and tests/run-all.sh runs it). Carry build-standalone/ (under 64 MiB; or just its
#      tests/kernels/cuda/ and worker/birdie-bench) and skip the build there:
#        PREBUILT=build-standalone bash deploy/gpu-check.sh
#      PREBUILT may also be a flat folder holding test_ops, test_backend_select, test_train_step and
#      birdie-bench. Without PREBUILT, a build-standalone/ that holds them is the last fallback of 1.
#      cuBLAS is taken from the toolkit there; when the binaries' runpath misses it, the script looks
#      in the toolkit's and PyTorch's (nvidia/cublas) library folders.
#
# The default run is planned to about 5 minutes by its own step limits (320 s in all, the build
# included; a carried build saves most of its share): build, nvidia-smi, test_backend_select,
# test_ops --perf (every CUDA op against its CPU twin, then timings against the measured copy
# bandwidth and bf16 GEMM rate), a full XS train step on the GPU against the CPU, birdie-bench at S and
# 125M, and compute-sanitizer memcheck on the train step. --long adds the longer items (birdie-bench at
# 350M, memcheck of the op tests, an nsys profile of the 125M step when nsys is there): 590 s planned,
# still under one 600 s command. Each step runs under its own limit; a failed step does not stop the
# later ones (GPU time is scarce); the exit status is 1 if any failed (test_ops exiting 77, no usable
# GPU, counts as failed). compute-sanitizer may refuse a machine (driver or device not supported):
# that step then reads "not available" and does not fail the run.
#
# Files written to "${OUT:-.}" (at most 4): summary.txt (one line per step: result, seconds used of
# its limit), full.log (every command's output), bench.txt (birdie-bench), and with --long
# profile.txt (nsys statistics). BUILD_DIR overrides the build folder (default build-gpu);
# SANITIZE=0 skips memcheck.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

long=0
for arg in "$@"; do
    case "$arg" in
        --long) long=1 ;;
        -h | --help)
            sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "gpu-check.sh: unknown argument '$arg' (--long, --help)" >&2
            exit 2
            ;;
    esac
done

out="${OUT:-.}"
build="${BUILD_DIR:-build-gpu}"
mkdir -p "$out"
summary="$out/summary.txt" full="$out/full.log" bench="$out/bench.txt"
: > "$summary"
: > "$full"
: > "$bench"
[ "$long" -eq 1 ] && : > "$out/profile.txt"

# Step limits in seconds: the plan. The default steps add up to 320 s, with --long to 590 s.
LIMIT_BUILD=125 LIMIT_SMI=5 LIMIT_SELECT=10 LIMIT_OPS=45 LIMIT_TRAIN=20 LIMIT_BENCH_S=25 LIMIT_BENCH_125M=45
LIMIT_MEMCHECK_TRAIN=45
LIMIT_BENCH_350M=75 LIMIT_MEMCHECK_OPS=120 LIMIT_PROFILE=75
planned=$((LIMIT_BUILD + LIMIT_SMI + LIMIT_SELECT + LIMIT_OPS + LIMIT_TRAIN + LIMIT_BENCH_S + LIMIT_BENCH_125M + LIMIT_MEMCHECK_TRAIN))
[ "$long" -eq 1 ] && planned=$((planned + LIMIT_BENCH_350M + LIMIT_MEMCHECK_OPS + LIMIT_PROFILE))

t_start=$(date +%s)
failed=0
note() { echo "$*" | tee -a "$full" >> "$summary"; }

# step NAME LIMIT LOG COMMAND...: runs one step under its limit (exit 124 when it runs out), appends
# its output to LOG and one line to summary.txt. Returns the command's exit status.
step() {
    local name=$1 limit=$2 log=$3
    shift 3
    echo "== $name (limit ${limit} s): $*" >> "$full"
    [ "$log" != "$full" ] && echo "== $name (limit ${limit} s): $*" >> "$log"
    local t0 rc
    t0=$(date +%s)
    timeout -k 5 "$limit" "$@" >> "$log" 2>&1
    rc=$?
    local used=$(($(date +%s) - t0))
    if [ "$rc" -eq 0 ]; then
        printf 'ok        %-28s %4d s of %d\n' "$name" "$used" "$limit" >> "$summary"
    else
        local why="exit $rc"
        [ "$rc" -eq 124 ] && why="time limit"
        [ "$rc" -eq 77 ] && why="exit 77: no usable GPU"
        printf 'FAILED    %-28s %4d s of %d (%s)\n' "$name" "$used" "$limit" "$why" >> "$summary"
        failed=1
    fi
    [ "$log" != "$full" ] && echo "(output in $(basename "$log"); exit $rc)" >> "$full"
    return "$rc"
}

note "gpu-check $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname) | mode: $([ "$long" -eq 1 ] && echo long || echo default) | planned ${planned} s"

# meson -Dcuda=enabled needs nvcc on PATH; toolkits often install it only under /usr/local/cuda/bin.
if ! command -v nvcc > /dev/null 2>&1; then
    for dir in "${CUDA_HOME:-/nonexistent}/bin" /usr/local/cuda/bin; do
        if [ -x "$dir/nvcc" ]; then
            export PATH="$dir:$PATH"
            break
        fi
    done
fi
{
    echo "== toolchain"
    command -v nvcc && nvcc --version | tail -2
    command -v meson && meson --version
    python3 -c 'import mesonbuild.coredata as c; print("mesonbuild", c.version)' 2>&1 | tail -1
    command -v ninja && ninja --version
    command -v cc && cc --version | head -1
} >> "$full" 2>&1

# ---- the binaries: built here, or carried ------------------------------------------------------

# The standalone GPU configuration, then only the four programs the steps run. -Dtests=auto: cmocka,
# MPI and clang-format may be missing here; the GPU tests need none of them. $1 is the build folder,
# the rest the meson command.
# shellcheck disable=SC2016 # expanded by the bash -c that runs it
build_script='dir=$1; shift; rm -rf "$dir" && "$@" setup "$dir" -Ddaemon=disabled -Dcuda=enabled -Dtests=auto &&
    ninja -C "$dir" tests/kernels/cuda/test_ops tests/kernels/cuda/test_backend_select \
        tests/kernels/cuda/test_train_step worker/birdie-bench'

# use_binaries DIR: the four programs from DIR, at their places in a build tree or side by side.
use_binaries() {
    local dir=$1 name p found
    for name in test_ops test_backend_select test_train_step birdie-bench; do
        found=""
        for p in "$dir/tests/kernels/cuda/$name" "$dir/worker/$name" "$dir/$name"; do
            if [ -f "$p" ] && [ -x "$p" ]; then
                found=$p
                break
            fi
        done
        [ -n "$found" ] || return 1
        case "$name" in
            test_ops) bin_ops=$found ;;
            test_backend_select) bin_select=$found ;;
            test_train_step) bin_train=$found ;;
            birdie-bench) bin_bench=$found ;;
        esac
    done
}

build_t0=$(date +%s)
how=""
if [ -n "${PREBUILT:-}" ]; then
    use_binaries "$PREBUILT" && how="carried binaries in $PREBUILT (PREBUILT)"
else
    # one limit for the whole build, whichever way it goes
    if command -v meson > /dev/null 2>&1 &&
        step "build (meson)" "$LIMIT_BUILD" "$full" bash -c "$build_script" _ "$build" meson &&
        use_binaries "$build"; then
        how="built with meson in $build"
    else
        left=$((LIMIT_BUILD - ($(date +%s) - build_t0)))
        if [ "$left" -gt 10 ] && python3 -c 'import mesonbuild.mesonmain' > /dev/null 2>&1 &&
            step "build (python3 -m mesonbuild)" "$left" "$full" bash -c "$build_script" _ "$build" \
                python3 -m mesonbuild.mesonmain && use_binaries "$build"; then
            how="built with python3 -m mesonbuild.mesonmain in $build"
        elif use_binaries build-standalone; then
            how="carried binaries in build-standalone (no meson build succeeded here)"
        fi
    fi
fi
if [ -z "$how" ]; then
    note "FAILED    build: no meson build succeeded and no carried binaries (PREBUILT, build-standalone/); see full.log"
    exit 1
fi
if [ "$failed" -eq 1 ]; then
    # an attempt failed but a fallback worked: the run goes on and is judged by its GPU steps
    sed -i 's/^FAILED    build/fell back build/' "$summary"
    failed=0
fi
note "binaries: $how"

# Carried binaries look for cuBLAS on the runpath of the machine they were built on; add the toolkit's
# and PyTorch's library folders here when the loader misses it.
missing=$(ldd "$bin_ops" 2>/dev/null | awk '/not found/ {print $1}')
if [ -n "$missing" ]; then
    nvcc_root=$(dirname "$(dirname "$(readlink -f "$(command -v nvcc 2>/dev/null || echo /nonexistent/bin/nvcc)")")")
    site=$(python3 -c 'import site; print(" ".join(site.getsitepackages()))' 2>/dev/null)
    for lib in $missing; do
        for dir in "$nvcc_root/lib64" "$nvcc_root/lib" "$nvcc_root"/targets/*/lib /usr/local/cuda/lib64 \
            $(for s in $site; do echo "$s"/nvidia/*/lib; done); do
            if [ -e "$dir/$lib" ]; then
                export LD_LIBRARY_PATH="$dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
                break
            fi
        done
    done
    echo "== loader: $missing not on the runpath; LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}" >> "$full"
fi
{
    echo "== ldd $bin_ops"
    ldd "$bin_ops"
} >> "$full" 2>&1

{
    echo "== nvidia-smi"
    timeout -k 2 "$LIMIT_SMI" nvidia-smi || echo "(nvidia-smi: not available or failed)"
} >> "$full" 2>&1

# ---- the default steps ------------------------------------------------------------------------

step "backend selection" "$LIMIT_SELECT" "$full" "$bin_select"
step "op tests + perf" "$LIMIT_OPS" "$full" "$bin_ops" --perf
step "XS train step gpu vs cpu" "$LIMIT_TRAIN" "$full" "$bin_train"
step "bench S" "$LIMIT_BENCH_S" "$bench" "$bin_bench" --backend cuda --model S --seq 512
step "bench 125M" "$LIMIT_BENCH_125M" "$bench" "$bin_bench" --backend cuda --model 125M --seq 2048

# compute-sanitizer ships with the toolkit: on PATH, in bin/ beside nvcc, or in its own directory.
sanitizer=$(command -v compute-sanitizer || true)
nvcc_bin=$(dirname "$(command -v nvcc || echo /nonexistent/nvcc)")
for candidate in "$nvcc_bin/compute-sanitizer" "$nvcc_bin/../compute-sanitizer/compute-sanitizer" \
    /usr/local/cuda/compute-sanitizer/compute-sanitizer; do
    [ -z "$sanitizer" ] && [ -x "$candidate" ] && sanitizer=$candidate
done

# memcheck NAME LIMIT BINARY: a finding exits 99 (FAILED), the test's own failure its own status. A
# sanitizer that refuses the machine (its "=========" error lines and no test output) is "not
# available": the line says why, and the run does not fail for it.
memcheck() {
    local name=$1 limit=$2 bin=$3 log
    log=$(mktemp)
    local saved=$failed
    step "$name" "$limit" "$log" "$sanitizer" --tool memcheck --error-exitcode 99 --print-limit 20 "$bin"
    local rc=$?
    cat "$log" >> "$full"
    # exit 77 under the sanitizer: the test found no usable GPU through it (the steps before ran on one)
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 99 ] && [ "$rc" -ne 124 ] && ! grep -q '^ok ' "$log" &&
        { [ "$rc" -eq 77 ] || grep -q '^========= \(Error\|Internal\)\|not supported\|Unable to\|unsupported' "$log"; }; then
        # take back the FAILED line: the sanitizer, not the code, refused
        sed -i '$d' "$summary"
        printf 'n/a       %-28s not available: %s\n' "$name" \
            "$(grep -m1 '^=========\|not supported\|Unable to\|unsupported\|SKIP' "$log" | sed 's/^========= *//')" >> "$summary"
        failed=$saved
    fi
    rm -f "$log"
}

if [ "${SANITIZE:-1}" = 0 ]; then
    note "skipped   memcheck (SANITIZE=0)"
elif [ -z "$sanitizer" ]; then
    note "n/a       memcheck: not available (no compute-sanitizer in the toolkit)"
else
    memcheck "memcheck train step" "$LIMIT_MEMCHECK_TRAIN" "$bin_train"
fi

# ---- --long -----------------------------------------------------------------------------------

if [ "$long" -eq 1 ]; then
    step "bench 350M" "$LIMIT_BENCH_350M" "$bench" "$bin_bench" --backend cuda --model 350M --seq 2048
    if [ "${SANITIZE:-1}" != 0 ] && [ -n "$sanitizer" ]; then
        memcheck "memcheck op tests" "$LIMIT_MEMCHECK_OPS" "$bin_ops"
    fi
    if command -v nsys > /dev/null 2>&1; then
        prof_dir=$(mktemp -d)
        step "nsys profile 125M" "$LIMIT_PROFILE" "$out/profile.txt" nsys profile --stats=true --force-overwrite=true \
            -o "$prof_dir/bench" "$bin_bench" --backend cuda --model 125M --seq 2048 --steps 3
        rm -rf "$prof_dir" # the report itself is large; its statistics are in profile.txt
    else
        note "n/a       nsys profile: not available (no nsys on PATH)"
    fi
fi

elapsed=$(($(date +%s) - t_start))
note "done in ${elapsed} s (planned ${planned} s): $([ "$failed" -eq 0 ] && echo 'every step passed' || echo 'some step FAILED')"
cat "$summary"
exit "$failed"
