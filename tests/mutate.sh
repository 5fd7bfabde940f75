#!/usr/bin/env bash
# tests/mutate.sh: mutation testing (tests/mutate.py does the work; see its top comment for the mutant
# format). Applies every one-line mutant of tests/mutants/*.txt to a private copy of the tree, rebuilds,
# runs the suite, and prints "mutants: K killed, S survived, E equivalent, I invalid, T total".
# Not part of CI (tens of minutes on 2 cores): run it before you stop when you changed tested code.
#   bash tests/mutate.sh                         # every mutant
#   bash tests/mutate.sh --only tests/mutants/objectives.txt --id ob-span-off-by-one
#   bash tests/mutate.sh --list                  # check that every mutant applies; run nothing
set -euo pipefail
cd "$(dirname "$0")/.."
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
exec python3 tests/mutate.py "$@"
