/* worker/collective_nccl.c: the collective of the CUDA backend. The gradient all-reduce (float sums,
 * buffers in device memory) goes over NCCL; the communicator is bootstrapped from the MPI world (rank
 * 0's unique id is broadcast) and created non-blocking, so initialisation and every all-reduce are
 * polled against the deadline and a dead or stuck peer aborts the communicator (-ETIMEDOUT) instead
 * of hanging the job. Host-side values (double sums, the control all-reduce, broadcast, barrier) go
 * to the MPI collective it wraps and owns. Gradient buckets are summed on a stream of their own, each
 * ordered after the backward kernels that wrote it (an event on the compute stream), so the sums of
 * the upper layers overlap the backward pass of the lower ones.
 *
 * Every error path aborts the communicator (ncclCommAbort): a rank that returns an error leaves the
 * job, and a communicator left alive would keep its peers' collectives waiting on it. At the end the
 * communicator is finalized against the same deadline (ncclCommFinalize, then polled): with a dead
 * peer a plain ncclCommDestroy of a non-blocking communicator can block forever at exit, so one that
 * is not quiescent by the deadline is aborted instead of destroyed.
 *
 * Not measured yet: no GPU was available when this was written; deploy/gpu-check.sh and the data
 * parallel test are the checks to run on a multi-GPU machine. */
#include <cuda_runtime.h>
#include <errno.h>
#include <nccl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "worker/clock.h"
#include "worker/collective.h"
#include "worker/error.h"

typedef struct nccl_impl {
    birdie_collective *host; /* MPI: host values and the bootstrap */
    ncclComm_t comm;
    cudaStream_t stream; /* the sums run here, beside the compute stream */
    cudaEvent_t grads_ready; /* recorded on the compute stream as each bucket begins */
    int pending; /* buckets begun since the last grad_wait */
} nccl_impl;

/* The CUDA backend (kernels/cuda) queues all its work on the legacy default stream. */
#define COMPUTE_STREAM ((cudaStream_t)0)

/* After any failure: the communicator is unusable, and the peers must not wait on it. */
static void nccl_abort(nccl_impl *im)
{
    if (im->comm)
        ncclCommAbort(im->comm);
    im->comm = NULL;
}

/* Polls the communicator (and, when given, the stream) until done, an error, or the deadline. */
static int nccl_wait(birdie_collective *c, nccl_impl *im, cudaStream_t stream, const char *what, char *err,
                     size_t errlen)
{
    double give_up = birdie_monotonic_seconds() + c->deadline_s;
    struct timespec nap = {0, 50000};
    for (;;) {
        ncclResult_t state;
        ncclResult_t rc = ncclCommGetAsyncError(im->comm, &state);
        if (rc != ncclSuccess || (state != ncclSuccess && state != ncclInProgress)) {
            snprintf(err, errlen, "%s on rank %d: %s", what, c->rank,
                     ncclGetErrorString(rc != ncclSuccess ? rc : state));
            nccl_abort(im);
            return birdie_error_tag(-EIO, BIRDIE_EXIT_PEER);
        }
        if (state == ncclSuccess) {
            cudaError_t q = stream ? cudaStreamQuery(stream) : cudaSuccess;
            if (q == cudaSuccess)
                return 0;
            if (q != cudaErrorNotReady) {
                nccl_abort(im);
                return birdie_fail(err, errlen, birdie_error_tag(-EIO, BIRDIE_EXIT_BACKEND), "%s on rank %d: %s", what,
                                   c->rank, cudaGetErrorString(q));
            }
        }
        if (birdie_monotonic_seconds() > give_up) {
            snprintf(err, errlen,
                     "%s on rank %d: no progress within %.0f s (a rank died or hangs); communicator aborted", what,
                     c->rank, c->deadline_s);
            nccl_abort(im);
            return birdie_error_tag(-ETIMEDOUT, BIRDIE_EXIT_PEER);
        }
        nanosleep(&nap, NULL);
    }
}

static int nccl_grad_begin(birdie_collective *c, float *buf, size_t n, char *err, size_t errlen)
{
    nccl_impl *im = c->impl;
    if (!im->comm) {
        return birdie_fail(err, errlen, birdie_error_tag(-EIO, BIRDIE_EXIT_PEER),
                           "gradient all-reduce on rank %d: the NCCL communicator was aborted", c->rank);
    }
    /* the sum must not read the bucket before the backward kernels queued so far have written it */
    cudaError_t ce = cudaEventRecord(im->grads_ready, COMPUTE_STREAM);
    if (ce == cudaSuccess)
        ce = cudaStreamWaitEvent(im->stream, im->grads_ready, 0);
    if (ce != cudaSuccess) {
        nccl_abort(im);
        return birdie_fail(err, errlen, birdie_error_tag(-EIO, BIRDIE_EXIT_BACKEND),
                           "gradient all-reduce on rank %d: %s", c->rank, cudaGetErrorString(ce));
    }
    ncclResult_t rc = ncclAllReduce(buf, buf, n, ncclFloat32, ncclSum, im->comm, im->stream);
    if (rc != ncclSuccess && rc != ncclInProgress) {
        nccl_abort(im);
        return birdie_fail(err, errlen, birdie_error_tag(-EIO, BIRDIE_EXIT_PEER), "gradient all-reduce on rank %d: %s",
                           c->rank, ncclGetErrorString(rc));
    }
    im->pending++;
    /* a non-blocking communicator may still be enqueueing: the next NCCL call must wait for that */
    return rc == ncclInProgress ? nccl_wait(c, im, NULL, "gradient all-reduce (NCCL enqueue)", err, errlen) : 0;
}

static int nccl_grad_wait(birdie_collective *c, char *err, size_t errlen)
{
    nccl_impl *im = c->impl;
    if (!im->pending)
        return 0;
    int rc = nccl_wait(c, im, im->stream, "gradient all-reduce (NCCL)", err, errlen);
    if (rc == 0)
        im->pending = 0;
    return rc;
}

static int nccl_sum_f64(birdie_collective *c, double *buf, size_t n, char *err, size_t errlen)
{
    nccl_impl *im = c->impl;
    return im->host->allreduce_sum_f64(im->host, buf, n, err, errlen);
}

static int nccl_minmax(birdie_collective *c, int64_t *mins, size_t n_min, int64_t *maxs, size_t n_max, char *err,
                       size_t errlen)
{
    nccl_impl *im = c->impl;
    return im->host->allreduce_minmax_i64(im->host, mins, n_min, maxs, n_max, err, errlen);
}

static int nccl_broadcast(birdie_collective *c, void *buf, size_t bytes, int root, char *err, size_t errlen)
{
    nccl_impl *im = c->impl;
    return im->host->broadcast(im->host, buf, bytes, root, err, errlen);
}

static int nccl_barrier(birdie_collective *c, char *err, size_t errlen)
{
    nccl_impl *im = c->impl;
    return im->host->barrier(im->host, err, errlen);
}

/* Finalize flushes the sums still queued and waits for every peer to do the same; polled like a
 * collective, because with a dead peer it never becomes quiescent. Destroy is only safe (and then
 * local and quick) once it has; otherwise abort. destroy has no error to return, so a rank whose
 * finalize failed says so on stderr. */
static void nccl_finalize(birdie_collective *c, nccl_impl *im)
{
    ncclResult_t rc = ncclCommFinalize(im->comm);
    double give_up = birdie_monotonic_seconds() + c->deadline_s;
    struct timespec nap = {0, 1000000};
    ncclResult_t state = rc;
    while (rc == ncclSuccess || rc == ncclInProgress) {
        rc = ncclCommGetAsyncError(im->comm, &state);
        if (rc != ncclSuccess || state != ncclInProgress || birdie_monotonic_seconds() > give_up)
            break;
        nanosleep(&nap, NULL);
    }
    if (rc == ncclSuccess && state == ncclSuccess) {
        ncclCommDestroy(im->comm);
        im->comm = NULL;
        return;
    }
    fprintf(stderr, "birdie: NCCL communicator of rank %d %s at exit; aborted\n", c->rank,
            rc != ncclSuccess || state != ncclInProgress ? ncclGetErrorString(rc != ncclSuccess ? rc : state)
                                                         : "not quiescent within the deadline (a peer died or hangs)");
    nccl_abort(im);
}

static void nccl_destroy(birdie_collective *c)
{
    nccl_impl *im = c->impl;
    if (im->comm)
        nccl_finalize(c, im);
    if (im->grads_ready)
        cudaEventDestroy(im->grads_ready);
    if (im->stream)
        cudaStreamDestroy(im->stream);
    im->host->destroy(im->host);
    free(im);
    free(c);
}

birdie_collective *birdie_collective_nccl(birdie_collective *host, int local_rank, char *err, size_t errlen)
{
    int devices = 0;
    cudaError_t ce = cudaGetDeviceCount(&devices);
    if (ce != cudaSuccess || devices <= 0) {
        snprintf(err, errlen, "NCCL: no GPU for rank %d: %s", host->rank,
                 ce != cudaSuccess ? cudaGetErrorString(ce) : "no device");
        return NULL;
    }
    if ((ce = cudaSetDevice(local_rank % devices)) != cudaSuccess) {
        snprintf(err, errlen, "NCCL: rank %d cannot use GPU %d: %s", host->rank, local_rank % devices,
                 cudaGetErrorString(ce));
        return NULL;
    }
    birdie_collective *c = calloc(1, sizeof *c);
    nccl_impl *im = calloc(1, sizeof *im);
    if (!c || !im) {
        free(c), free(im);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    *c = (birdie_collective){.name = "nccl",
                             .rank = host->rank,
                             .world = host->world,
                             .deadline_s = host->deadline_s,
                             .grad_begin = nccl_grad_begin,
                             .grad_wait = nccl_grad_wait,
                             .allreduce_sum_f64 = nccl_sum_f64,
                             .allreduce_minmax_i64 = nccl_minmax,
                             .broadcast = nccl_broadcast,
                             .barrier = nccl_barrier,
                             .destroy = nccl_destroy,
                             .impl = im};
    im->host = host;
    ncclUniqueId id;
    memset(&id, 0, sizeof id);
    ncclResult_t rc = host->rank == 0 ? ncclGetUniqueId(&id) : ncclSuccess;
    /* every rank takes part in the broadcast, even if rank 0 failed, so nobody waits forever */
    int ok = rc == ncclSuccess;
    if (host->broadcast(host, &ok, sizeof ok, 0, err, errlen) < 0 || !ok ||
        host->broadcast(host, &id, sizeof id, 0, err, errlen) < 0) {
        if (!ok)
            snprintf(err, errlen, "NCCL: rank 0 could not create the unique id: %s", ncclGetErrorString(rc));
        goto fail;
    }
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0; /* so that init and collectives can be abandoned at the deadline */
    rc = ncclCommInitRankConfig(&im->comm, host->world, id, host->rank, &config);
    if (rc != ncclSuccess && rc != ncclInProgress) {
        snprintf(err, errlen, "NCCL: communicator on rank %d: %s", host->rank, ncclGetErrorString(rc));
        goto fail;
    }
    if (nccl_wait(c, im, NULL, "NCCL communicator init", err, errlen) < 0)
        goto fail;
    if ((ce = cudaStreamCreateWithFlags(&im->stream, cudaStreamNonBlocking)) != cudaSuccess ||
        (ce = cudaEventCreateWithFlags(&im->grads_ready, cudaEventDisableTiming)) != cudaSuccess) {
        snprintf(err, errlen, "NCCL: stream and event on rank %d: %s", host->rank, cudaGetErrorString(ce));
        goto fail;
    }
    return c;
fail:
    nccl_abort(im);
    if (im->stream)
        cudaStreamDestroy(im->stream);
    if (im->grads_ready)
        cudaEventDestroy(im->grads_ready);
    free(im);
    free(c);
    return NULL;
}
