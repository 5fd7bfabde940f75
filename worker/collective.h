/* worker/collective.h: the collectives of data-parallel training, behind one interface: all-reduce
 * (sum) of the gradient buffer, the small control all-reduce (min/max), broadcast and barrier, each
 * bounded by a deadline so a dead or stuck peer ends the job with a named error instead of a hang.
 * Implementations: a world of one (collective_single.c), MPI (collective_mpi.c, CPU backend, host
 * buffers) and NCCL (collective_nccl.c, CUDA backend: the float sum takes device buffers). */
#ifndef BIRDIE_COLLECTIVE_H
#define BIRDIE_COLLECTIVE_H

#include <stddef.h>
#include <stdint.h>

typedef struct birdie_collective birdie_collective;

struct birdie_collective {
    const char *name;
    int rank, world;
    double deadline_s; /* every call gives up after this long with -ETIMEDOUT */
    /* The gradient all-reduce, in buckets overlapped with the backward pass: grad_begin starts the
     * in-place sum over all ranks of n floats of backend memory (host for MPI, device for NCCL) whose
     * values are final once the work already queued on the backend is done (CUDA: the sum is ordered
     * after it on the compute stream); grad_wait returns when every sum begun since the last wait is
     * complete and visible to later backend work. Buckets must be begun in the same order on every rank. */
    int (*grad_begin)(birdie_collective *c, float *buf, size_t n, char *err, size_t errlen);
    int (*grad_wait)(birdie_collective *c, char *err, size_t errlen);
    /* In-place sum over all ranks of host doubles. */
    int (*allreduce_sum_f64)(birdie_collective *c, double *buf, size_t n, char *err, size_t errlen);
    /* In place: mins[i] = min over ranks, maxs[i] = max over ranks (the per-step control values). */
    int (*allreduce_minmax_i64)(birdie_collective *c, int64_t *mins, size_t n_min, int64_t *maxs, size_t n_max,
                                char *err, size_t errlen);
    int (*broadcast)(birdie_collective *c, void *buf, size_t bytes, int root, char *err, size_t errlen);
    int (*barrier)(birdie_collective *c, char *err, size_t errlen);
    void (*destroy)(birdie_collective *c);
    void *impl;
};

/* A world of one: every collective is the identity. */
birdie_collective *birdie_collective_single(void);

/* MPI over MPI_COMM_WORLD; MPI must be initialised (MPI_THREAD_FUNNELED or better). NULL when the
 * build has no MPI (BIRDIE_HAVE_MPI undefined). */
birdie_collective *birdie_collective_mpi(double deadline_s);

/* NCCL for the CUDA backend over the world of `host` (an MPI collective, which it takes over on
 * success and uses for host values): selects GPU local_rank % devices, broadcasts rank 0's unique id
 * and creates a non-blocking communicator within host->deadline_s. Collective: every rank calls it.
 * NULL with a message on failure (host then still belongs to the caller), or when the build has no
 * NCCL (BIRDIE_HAVE_NCCL undefined). */
birdie_collective *birdie_collective_nccl(birdie_collective *host, int local_rank, char *err, size_t errlen);

#endif
