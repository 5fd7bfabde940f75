#!/usr/bin/env bash
# tests/check_style.sh: the house style check (TAP). Every C, CUDA and header file in git must be
# exactly what clang-format makes of it with the repository's .clang-format; prints the first
# differences of each file that is not. Fix with:
#   git ls-files '*.c' '*.h' '*.cu' '*.cuh' | xargs clang-format -i
# Argument: the clang-format program (meson passes the one it found).
set -uo pipefail
cd "$(dirname "$0")/.."
fmt=${1:-clang-format}
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files '*.c' '*.h' '*.cu' '*.cuh')
else # a source tarball: the same folders
  mapfile -t files < <(find kernels worker daemon ctl tests \( -name '*.c' -o -name '*.h' -o -name '*.cu' -o -name '*.cuh' \) | sort)
fi
echo "1..1"
bad=0
for f in "${files[@]}"; do
  [ -f "$f" ] || continue
  if ! "$fmt" --dry-run -Werror "$f" >/dev/null 2>&1; then
    bad=$((bad + 1))
    echo "# $f is not formatted:"
    "$fmt" "$f" | diff "$f" - | head -20 | sed 's/^/#   /'
  fi
done
if [ "$bad" -eq 0 ]; then
  echo "ok 1 - ${#files[@]} files follow .clang-format"
else
  echo "not ok 1 - $bad of ${#files[@]} files differ from .clang-format"
fi
