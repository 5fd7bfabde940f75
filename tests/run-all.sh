#!/usr/bin/env bash
# tests/run-all.sh: the README's test command after the install step. Builds twice from scratch (a
# normal build and an ASan+UBSan build that stops on the first finding), runs every test in both,
# and ends with one line "N passed, N failed, N skipped" counted per test case. Exits non-zero on any
# failure. GPU tests skip (exit 77) where no GPU is visible. Both builds use -Dtests=enabled -Ddaemon=enabled:
# a missing test dependency stops the run at setup instead of leaving its tests out.
# Where nvcc is found, a third build is the standalone GPU build that deploy/gpu-check.sh carries to a
# bare GPU machine (docs/build.md §1): its tests run too (the CPU twin's without OpenBLAS), and
# 'standalone ldd' checks that its GPU binaries need only glibc, libstdc++, libgomp and cuBLAS.
# Without nvcc that build counts as one skipped test.
# A fourth, clang build runs every fuzz target (tests/fuzz/) for a bounded time under libFuzzer.
set -uo pipefail
cd "$(dirname "$0")/.."
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
rc=0
jobs=$(nproc 2>/dev/null || echo 2)
run_build() { # dir, meson options...
  local dir=$1; shift
  rm -rf "$dir"
  if ! meson setup "$dir" "$@" >"$dir.setup.log" 2>&1; then
    cat "$dir.setup.log"; echo "meson setup $dir failed"; return 1
  fi
  ninja -C "$dir" -j "$jobs" || { echo "build $dir failed"; return 1; }
  meson test -C "$dir" --num-processes "$jobs" --print-errorlogs || return 1
}
run_build build-test -Dcuda=auto -Ddaemon=enabled -Dtests=enabled || rc=1
run_build build-san -Dcuda=disabled -Ddaemon=enabled -Dtests=enabled -Db_sanitize=address,undefined -Dc_args=-fno-sanitize-recover=all || rc=1
# The fuzz targets (tests/fuzz/) under libFuzzer with ASan+UBSan, BIRDIE_FUZZ_SECONDS (25) each, two
# at a time: a clang tree that builds only them (-Dtests=disabled). The two builds above replay
# their corpus and regression inputs; this one searches for new ones. A tree that cannot be set up
# or built (no clang or libFuzzer: deploy/install-deps.sh --tests) counts as one failed test.
run_fuzz_build() {
  rm -rf build-fuzz
  if ! CC=clang meson setup build-fuzz -Dfuzz=enabled -Dtests=disabled -Dcuda=disabled -Ddaemon=enabled \
      >build-fuzz.setup.log 2>&1; then
    cat build-fuzz.setup.log; echo "meson setup build-fuzz failed"; return 2
  fi
  ninja -C build-fuzz -j "$jobs" fuzz-targets || { echo "build build-fuzz failed"; return 2; }
  meson test -C build-fuzz --no-rebuild --suite fuzz --num-processes "$jobs" --print-errorlogs || return 1
}
run_fuzz_build; fuzz_rc=$?
if [ $fuzz_rc -ne 0 ]; then
  rc=1
  if [ $fuzz_rc -eq 2 ]; then
    mkdir -p build-fuzz/meson-logs
    echo '{"name": "fuzz build (clang, libFuzzer)", "result": "FAIL", "stdout": ""}' > build-fuzz/meson-logs/testlog.json
  fi
fi
[ -x /usr/local/cuda/bin/nvcc ] && ! command -v nvcc > /dev/null 2>&1 && export PATH="/usr/local/cuda/bin:$PATH"
logs=()
if command -v nvcc > /dev/null 2>&1; then
  run_build build-standalone -Ddaemon=disabled -Dcuda=enabled -Dblas=none -Donednn=disabled -Dcudart=static -Dtests=enabled || rc=1
else
  rm -rf build-standalone
  echo "standalone GPU build + ldd check: skipped (no nvcc on PATH or in /usr/local/cuda/bin)"
  # one skipped test in the summary, written where meson would write the build's test log
  mkdir -p build-standalone/meson-logs
  echo '{"name": "standalone GPU build + ldd (no nvcc)", "result": "SKIP", "stdout": ""}' \
    > build-standalone/meson-logs/testlog.json
fi
for d in build-test build-san build-fuzz build-standalone; do
  [ -f "$d/meson-logs/testlog.json" ] && logs+=("$d/meson-logs/testlog.json")
done
if [ ${#logs[@]} -eq 0 ]; then
  echo "0 passed, 1 failed, 0 skipped"
  exit 1
fi
python3 tests/summary.py "${logs[@]}" || rc=1
exit $rc
