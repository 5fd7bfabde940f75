/* worker/collective_single.c: the collectives of a world of one (nothing to exchange). */
#include <stdlib.h>

#include "worker/collective.h"

static int single_grad_begin(birdie_collective *c, float *buf, size_t n, char *err, size_t errlen)
{
    return 0;
}

static int single_grad_wait(birdie_collective *c, char *err, size_t errlen)
{
    return 0;
}

static int single_sum_f64(birdie_collective *c, double *buf, size_t n, char *err, size_t errlen)
{
    return 0;
}

static int single_minmax(birdie_collective *c, int64_t *mins, size_t n_min, int64_t *maxs, size_t n_max, char *err,
                         size_t errlen)
{
    return 0;
}

static int single_broadcast(birdie_collective *c, void *buf, size_t bytes, int root, char *err, size_t errlen)
{
    return 0;
}

static int single_barrier(birdie_collective *c, char *err, size_t errlen)
{
    return 0;
}

static void single_destroy(birdie_collective *c)
{
    free(c);
}

birdie_collective *birdie_collective_single(void)
{
    birdie_collective *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    *c = (birdie_collective){.name = "single",
                             .rank = 0,
                             .world = 1,
                             .deadline_s = 0,
                             .grad_begin = single_grad_begin,
                             .grad_wait = single_grad_wait,
                             .allreduce_sum_f64 = single_sum_f64,
                             .allreduce_minmax_i64 = single_minmax,
                             .broadcast = single_broadcast,
                             .barrier = single_barrier,
                             .destroy = single_destroy};
    return c;
}

#ifndef BIRDIE_HAVE_MPI
/* Built without MPI: there is no MPI world to join. */
birdie_collective *birdie_collective_mpi(double deadline_s)
{
    (void)deadline_s;
    return NULL;
}
#endif

#ifndef BIRDIE_HAVE_NCCL
#include <stdio.h>

/* Built without NCCL: the CUDA backend can only run as a world of one. */
birdie_collective *birdie_collective_nccl(birdie_collective *host, int local_rank, char *err, size_t errlen)
{
    (void)local_rank;
    snprintf(err, errlen, "the CUDA backend with %d ranks needs NCCL, and this build has none", host->world);
    return NULL;
}
#endif
