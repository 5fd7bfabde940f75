#!/usr/bin/env bash
# deploy/install-deps.sh: installs the Debian 12 packages birdie needs, skipping those present.
# Idempotent; run as root. With --tests it also installs what only the tests use (the Python gRPC
# client that proves the API is standard gRPC, clang-format for the house style check, the sqlite3
# shell that the fault tests read stores with, clang and its libFuzzer runtime for the fuzz build,
# promtool from prometheus to lint a live metrics scrape).
# CUDA and NCCL are not Debian packages: they come with the GPU machine's toolkit and are optional
# (-Dcuda=auto).
set -euo pipefail
packages=(meson ninja-build pkg-config gcc libc6-dev python3
          libopenblas-openmp-dev libinih-dev libjansson-dev libcmocka-dev
          libgrpc-dev libprotobuf-c-dev protobuf-c-compiler
          libopenmpi-dev openmpi-bin libsqlite3-dev libmicrohttpd-dev gnuplot-nox libdnnl-dev)
if [ "${1:-}" = "--tests" ]; then
  packages+=(python3-grpcio python3-protobuf protobuf-compiler python3-yaml clang-format sqlite3 clang
             libclang-rt-14-dev prometheus)
elif [ $# -gt 0 ]; then
  echo "usage: $0 [--tests]" >&2; exit 2
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing ${missing[*]}; run as root" >&2; exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
