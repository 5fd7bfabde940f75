/* worker/collective_mpi.c: the collectives over MPI_COMM_WORLD for host buffers (CPU backend).
 * Every call is non-blocking (MPI_I*) and polled against a deadline, so a peer that died or hangs
 * ends the job with -ETIMEDOUT and a message instead of blocking forever (MPI has no timeouts). On a
 * timeout the request is left pending: the caller must abort the job, which is what birdied does. */
#include <errno.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "worker/clock.h"
#include "worker/collective.h"
#include "worker/error.h"
#include "worker/flight.h"

/* The gradient buckets begun since the last grad_wait. */
typedef struct mpi_impl {
    MPI_Request *pending;
    long *flight_seq; /* (cap_pending) their flight-record sequence numbers */
    int n_pending, cap_pending;
} mpi_impl;

static int started(birdie_collective *c, int mpi_rc, const char *what, char *err, size_t errlen)
{
    if (mpi_rc == MPI_SUCCESS)
        return 0;
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(mpi_rc, msg, &len);
    return birdie_fail(err, errlen, birdie_error_tag(-EIO, BIRDIE_EXIT_PEER), "%s on rank %d: %s", what, c->rank, msg);
}

/* Waits for reqs[0..n) until the collective's deadline. */
static int wait_all_deadline(birdie_collective *c, MPI_Request *reqs, int n, const char *what, char *err, size_t errlen)
{
    double give_up = birdie_monotonic_seconds() + c->deadline_s;
    struct timespec nap = {0, 20000}; /* 20 us: small against a step, cheap for the core */
    for (long polls = 0;; polls++) {
        int done = 0;
        if (MPI_Testall(n, reqs, &done, MPI_STATUSES_IGNORE) != MPI_SUCCESS) {
            return birdie_fail(err, errlen, birdie_error_tag(-EIO, BIRDIE_EXIT_PEER),
                               "%s on rank %d: MPI_Testall failed", what, c->rank);
        }
        if (done)
            return 0;
        if (birdie_monotonic_seconds() > give_up) {
            return birdie_fail(err, errlen, birdie_error_tag(-ETIMEDOUT, BIRDIE_EXIT_PEER),
                               "%s on rank %d: no answer from the other ranks within %.0f s (a rank died or hangs)",
                               what, c->rank, c->deadline_s);
        }
        if (polls > 1000)
            nanosleep(&nap, NULL);
    }
}

static int wait_deadline(birdie_collective *c, MPI_Request *req, int mpi_rc, const char *what, size_t bytes, char *err,
                         size_t errlen)
{
    int rc = started(c, mpi_rc, what, err, errlen);
    if (rc < 0)
        return rc;
    long seq = birdie_flight_begin(what, bytes);
    if ((rc = wait_all_deadline(c, req, 1, what, err, errlen)) == 0)
        birdie_flight_end(seq);
    return rc;
}

/* MPI counts are int: split very large buffers. */
#define MPI_CHUNK ((size_t)1 << 30)

static int mpi_sum_f64(birdie_collective *c, double *buf, size_t n, char *err, size_t errlen)
{
    for (size_t off = 0; off < n; off += MPI_CHUNK) {
        size_t count = n - off < MPI_CHUNK ? n - off : MPI_CHUNK;
        MPI_Request req;
        int rc = MPI_Iallreduce(MPI_IN_PLACE, buf + off, (int)count, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD, &req);
        if ((rc = wait_deadline(c, &req, rc, "all-reduce (double sum)", count * sizeof(double), err, errlen)) < 0)
            return rc;
    }
    return 0;
}

/* Open MPI advances non-blocking collectives only inside MPI calls: each new bucket also tests the
 * ones in flight, so the sums progress while the backward pass computes the next bucket. */
static int mpi_grad_begin(birdie_collective *c, float *buf, size_t n, char *err, size_t errlen)
{
    mpi_impl *im = c->impl;
    for (size_t off = 0; off < n; off += MPI_CHUNK) {
        if (im->n_pending == im->cap_pending) {
            int cap = im->cap_pending ? 2 * im->cap_pending : 16;
            MPI_Request *grown = realloc(im->pending, (size_t)cap * sizeof *grown);
            if (grown)
                im->pending = grown;
            long *seqs = grown ? realloc(im->flight_seq, (size_t)cap * sizeof *seqs) : NULL;
            if (!seqs) {
                return birdie_fail(err, errlen, -ENOMEM, "gradient all-reduce on rank %d: out of memory", c->rank);
            }
            im->flight_seq = seqs;
            im->cap_pending = cap;
        }
        size_t count = n - off < MPI_CHUNK ? n - off : MPI_CHUNK;
        int rc = MPI_Iallreduce(MPI_IN_PLACE, buf + off, (int)count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD,
                                &im->pending[im->n_pending]);
        if ((rc = started(c, rc, "gradient all-reduce", err, errlen)) < 0)
            return rc;
        im->flight_seq[im->n_pending++] = birdie_flight_begin("gradient all-reduce (bucket)", count * sizeof(float));
    }
    int ignored;
    MPI_Testall(im->n_pending, im->pending, &ignored, MPI_STATUSES_IGNORE);
    return 0;
}

static int mpi_grad_wait(birdie_collective *c, char *err, size_t errlen)
{
    mpi_impl *im = c->impl;
    int rc = wait_all_deadline(c, im->pending, im->n_pending, "gradient all-reduce", err, errlen);
    if (rc == 0) {
        for (int i = 0; i < im->n_pending; i++)
            birdie_flight_end(im->flight_seq[i]);
        im->n_pending = 0;
    }
    return rc;
}

/* One all-reduce carries both: the maxima are negated into the MIN reduction. */
static int mpi_minmax(birdie_collective *c, int64_t *mins, size_t n_min, int64_t *maxs, size_t n_max, char *err,
                      size_t errlen)
{
    int64_t packed[64];
    if (n_min + n_max > sizeof packed / sizeof packed[0]) {
        return birdie_fail(err, errlen, -EINVAL, "control all-reduce: %zu values, at most 64", n_min + n_max);
    }
    for (size_t i = 0; i < n_min; i++)
        packed[i] = mins[i];
    for (size_t i = 0; i < n_max; i++)
        packed[n_min + i] = -maxs[i];
    MPI_Request req;
    int rc = MPI_Iallreduce(MPI_IN_PLACE, packed, (int)(n_min + n_max), MPI_INT64_T, MPI_MIN, MPI_COMM_WORLD, &req);
    if ((rc = wait_deadline(c, &req, rc, "control all-reduce", (n_min + n_max) * sizeof(int64_t), err, errlen)) < 0)
        return rc;
    for (size_t i = 0; i < n_min; i++)
        mins[i] = packed[i];
    for (size_t i = 0; i < n_max; i++)
        maxs[i] = -packed[n_min + i];
    return 0;
}

static int mpi_broadcast(birdie_collective *c, void *buf, size_t bytes, int root, char *err, size_t errlen)
{
    if (bytes > (size_t)1 << 30) {
        return birdie_fail(err, errlen, -EINVAL, "broadcast of %zu bytes: at most 1 GiB", bytes);
    }
    MPI_Request req;
    int rc = MPI_Ibcast(buf, (int)bytes, MPI_BYTE, root, MPI_COMM_WORLD, &req);
    return wait_deadline(c, &req, rc, "broadcast", bytes, err, errlen);
}

static int mpi_barrier(birdie_collective *c, char *err, size_t errlen)
{
    MPI_Request req;
    int rc = MPI_Ibarrier(MPI_COMM_WORLD, &req);
    return wait_deadline(c, &req, rc, "barrier", 0, err, errlen);
}

static void mpi_destroy(birdie_collective *c)
{
    mpi_impl *im = c->impl;
    free(im->pending);
    free(im->flight_seq);
    free(im);
    free(c);
}

birdie_collective *birdie_collective_mpi(double deadline_s)
{
    int initialised = 0;
    MPI_Initialized(&initialised);
    if (!initialised)
        return NULL;
    birdie_collective *c = calloc(1, sizeof *c);
    mpi_impl *im = calloc(1, sizeof *im);
    if (!c || !im) {
        free(c);
        free(im);
        return NULL;
    }
    *c = (birdie_collective){.name = "mpi",
                             .deadline_s = deadline_s,
                             .grad_begin = mpi_grad_begin,
                             .grad_wait = mpi_grad_wait,
                             .impl = im,
                             .allreduce_sum_f64 = mpi_sum_f64,
                             .allreduce_minmax_i64 = mpi_minmax,
                             .broadcast = mpi_broadcast,
                             .barrier = mpi_barrier,
                             .destroy = mpi_destroy};
    MPI_Comm_rank(MPI_COMM_WORLD, &c->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &c->world);
    return c;
}
