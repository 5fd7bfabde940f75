#!/usr/bin/env bash
# tests/check_layering.sh: the layers include one way, ctl -> daemon -> worker -> kernels. Prints any
# #include that points up (worker or kernels including daemon/ or ctl/, kernels including worker/,
# daemon including ctl/) as TAP, and fails on the first kind it finds.
set -uo pipefail
cd "$(dirname "$0")/.."
up=$( { grep -rn --include='*.c' --include='*.h' --include='*.cu' --include='*.cuh' -E '#include "(daemon|ctl)/' worker kernels
        grep -rn --include='*.c' --include='*.h' --include='*.cu' --include='*.cuh' '#include "worker/' kernels
        grep -rn --include='*.c' --include='*.h' '#include "ctl/' daemon; } 2>/dev/null)
echo "1..1"
if [ -n "$up" ]; then
    echo "$up" | sed 's/^/# points up: /'
    echo "not ok 1 - includes point up the layers (ctl -> daemon -> worker -> kernels)"
    exit 1
fi
echo "ok 1 - every #include points down the layers (ctl -> daemon -> worker -> kernels)"
