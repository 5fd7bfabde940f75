#!/usr/bin/env bash
# deploy/demo.sh: the README demo. Two ranks under mpirun train the demo configuration on the CPU;
# rank 0 hosts the coordinator on 127.0.0.1:50051. From a second terminal:
#   BIRDIE_TOKEN=demo ./build/ctl/birdiectl status
#   BIRDIE_TOKEN=demo ./build/ctl/birdiectl set-mixture ntp.l32-512=1 copy.l32-64=1
#   BIRDIE_TOKEN=demo ./build/ctl/birdiectl history --db birdie-demo.db
set -euo pipefail
cd "$(dirname "$0")/.."
# Open MPI refuses root without these; a 2-core machine needs oversubscription for 2 ranks.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export BIRDIE_TOKEN=${BIRDIE_TOKEN:-demo}
echo "demo: 2 ranks, coordinator on 127.0.0.1:50051 (token: \$BIRDIE_TOKEN), store birdie-demo.db"
echo "demo: in another terminal: BIRDIE_TOKEN=$BIRDIE_TOKEN ./build/ctl/birdiectl status"
exec mpirun -np 2 ./build/birdied --config deploy/demo.ini "$@"
