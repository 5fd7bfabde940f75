#!/usr/bin/env bash
# tests/kernels/cuda/standalone_ldd.sh BINARY...: the standalone GPU build (-Dcudart=static -Dblas=none
# -Ddaemon=disabled, docs/build.md §1) is built on a Debian machine and carried to a bare GPU machine
# (deploy/gpu-check.sh). There only glibc, libstdc++/libgcc_s, libgomp and the toolkit's cuBLAS can be
# counted on, so every library that ldd lists for each binary must be one of those. One TAP case per
# binary; a library outside the list (libopenblas, libcudart.so, libmpi, libcmocka...) fails it.
set -uo pipefail

if [ $# -eq 0 ]; then
    echo "Bail out! no binaries given"
    exit 1
fi
if ! command -v ldd > /dev/null 2>&1; then
    echo "1..0 # SKIP no ldd on this machine"
    exit 77
fi

# Sonames without their version suffix. The CUDA runtime itself is linked statically, so libcudart is
# not here; libdl, librt and libpthread are glibc's (the static runtime needs them).
allowed='^(linux-vdso|linux-gate|ld-linux[-a-z0-9_.]*|libc|libm|libdl|librt|libpthread|libgcc_s|libstdc\+\+|libgomp|libcublas|libcublasLt)\.so'

n=0
failed=0
for bin in "$@"; do
    n=$((n + 1))
    name=$(basename "$bin")
    if [ ! -x "$bin" ]; then
        echo "not ok $n - $name: not built ($bin)"
        failed=1
        continue
    fi
    libs=$(ldd "$bin" 2>&1)
    bad=""
    while read -r first _; do
        [ -n "$first" ] || continue
        lib=$(basename "$first")
        case "$lib" in
            statically | not) continue ;; # "statically linked"; "not a dynamic executable" fails below
        esac
        if ! [[ "$lib" =~ $allowed ]]; then
            bad="$bad $lib"
        fi
    done <<< "$libs"
    if grep -q "not a dynamic executable" <<< "$libs"; then
        bad="$bad (ldd: not a dynamic executable)"
    fi
    if [ -z "$bad" ]; then
        echo "ok $n - $name needs only glibc, libstdc++, libgomp and cuBLAS"
    else
        echo "not ok $n - $name needs libraries a bare GPU machine lacks:$bad"
        sed 's/^/# /' <<< "$libs"
        failed=1
    fi
done
echo "1..$n"
exit "$failed"
