/* worker/flight.c: the rings of the flight recorder (flight.h). The collectives and the step are
 * recorded by the training thread only; RPCs come from the client's threads as well, under a lock. */
#include "worker/flight.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "worker/clock.h"

enum { FLIGHT_COLLECTIVES = 16, FLIGHT_RPCS = 8 };

typedef struct flight_collective {
    const char *op;
    long seq;
    size_t bytes;
    double start, end; /* end 0: never completed */
} flight_collective;

typedef struct flight_rpc {
    const char *method;
    int status;
    double start, end;
} flight_rpc;

static flight_collective collectives[FLIGHT_COLLECTIVES];
static long next_seq = 1;
static atomic_long current_step = -1;
static flight_rpc rpcs[FLIGHT_RPCS];
static long n_rpcs;
static pthread_mutex_t rpc_lock = PTHREAD_MUTEX_INITIALIZER;

long birdie_flight_begin(const char *op, size_t bytes)
{
    long seq = next_seq++;
    collectives[seq % FLIGHT_COLLECTIVES] =
        (flight_collective){.op = op, .seq = seq, .bytes = bytes, .start = birdie_monotonic_seconds()};
    return seq;
}

void birdie_flight_end(long seq)
{
    flight_collective *c = &collectives[seq % FLIGHT_COLLECTIVES];
    if (c->seq == seq)
        c->end = birdie_monotonic_seconds();
}

void birdie_flight_step(long step)
{
    atomic_store_explicit(&current_step, step, memory_order_relaxed);
}

void birdie_flight_rpc(const char *method, int status, double start_s, double end_s)
{
    pthread_mutex_lock(&rpc_lock);
    rpcs[n_rpcs % FLIGHT_RPCS] = (flight_rpc){.method = method, .status = status, .start = start_s, .end = end_s};
    n_rpcs++;
    pthread_mutex_unlock(&rpc_lock);
}

int birdie_flight_write(FILE *f, int rank, const char *reason)
{
    double now = birdie_monotonic_seconds();
    fprintf(f, "flight record of rank %d: %s\n", rank, reason);
    fprintf(f, "  step: %ld\n", atomic_load(&current_step));
    fprintf(f, "  last collectives (seconds before this record):\n");
    for (long seq = next_seq - FLIGHT_COLLECTIVES; seq < next_seq; seq++) {
        const flight_collective *c = &collectives[(seq < 0 ? 0 : seq) % FLIGHT_COLLECTIVES];
        if (seq < 1 || c->seq != seq)
            continue;
        if (c->end > 0)
            fprintf(f, "    #%ld %s, %zu bytes: started %.3f s ago, took %.6f s\n", c->seq, c->op, c->bytes,
                    now - c->start, c->end - c->start);
        else
            fprintf(f, "    #%ld %s, %zu bytes: started %.3f s ago, NEVER COMPLETED\n", c->seq, c->op, c->bytes,
                    now - c->start);
    }
    pthread_mutex_lock(&rpc_lock);
    fprintf(f, "  last RPCs to the coordinator:%s\n", n_rpcs ? "" : " none");
    for (long i = n_rpcs > FLIGHT_RPCS ? n_rpcs - FLIGHT_RPCS : 0; i < n_rpcs; i++) {
        const flight_rpc *r = &rpcs[i % FLIGHT_RPCS];
        fprintf(f, "    %s: status %d, %.3f s ago, took %.6f s\n", r->method, r->status, now - r->end,
                r->end - r->start);
    }
    pthread_mutex_unlock(&rpc_lock);
    return fflush(f) == 0 && !ferror(f) ? 0 : -EIO;
}

void birdie_flight_dump(int rank, const char *dir, const char *reason)
{
    birdie_flight_write(stderr, rank, reason);
    if (!dir || !dir[0])
        return;
    char path[4200];
    snprintf(path, sizeof path, "%s/flight-rank%d.txt", dir, rank);
    FILE *f = fopen(path, "w");
    int rc = f ? birdie_flight_write(f, rank, reason) : -errno;
    if (f && fclose(f) != 0 && rc == 0)
        rc = -errno;
    if (rc < 0)
        fprintf(stderr, "birdied: rank %d: flight record not written to %s: %s\n", rank, path, strerror(-rc));
    else
        fprintf(stderr, "birdied: rank %d: flight record written to %s\n", rank, path);
}
