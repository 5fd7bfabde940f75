/* worker_client: what a training rank (rank 0 included) uses to talk to the coordinator over gRPC:
 * Register, ReportEval, Heartbeat, ReportCheckpoint, Finish (blocking, each with a deadline), and a
 * background thread holding the WatchMixture stream that keeps the newest {mixture version, weights,
 * pause, stop, checkpoint_seq}
 * under a mutex, so the training loop polls it each step without blocking. The stream reconnects
 * on its own (with backoff) if the coordinator restarts or the connection drops.
 *
 * It does not decide when a rank switches mixture: the training loop does that with its control
 * all-reduce (docs/design.md §4.5) from what worker_client_poll returns.
 *
 * Errors: 0 on success; a negative errno for local failures; WORKER_RPC_ERR(code) when the server
 * answered with gRPC status `code` (worker_client_rpc_code recovers it). Messages go to err. */
#ifndef BIRDIE_DAEMON_WORKER_CLIENT_H
#define BIRDIE_DAEMON_WORKER_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#define WORKER_RPC_ERR(code) (-1000 - (int)(code))
#define WORKER_STOP_REASON_MAX 512

typedef struct worker_client worker_client;

typedef struct worker_client_config {
    const char *addr; /* coordinator address, "127.0.0.1:50051" */
    const char *token; /* NULL or "" for none */
    int rank;
    int world_size;
    int deadline_ms; /* per call (Register is retried within connect_timeout_ms) */
    int connect_timeout_ms; /* how long Register keeps retrying while the coordinator is unreachable */
} worker_client_config;

/* What the training loop reads each step. */
typedef struct worker_directive {
    int64_t version; /* -1 until the first directive arrives */
    int pause;
    int stop;
    int failed; /* with stop: the coordinator failed the run */
    char stop_reason[WORKER_STOP_REASON_MAX];
    int64_t checkpoint_seq; /* operator checkpoint requests of the coordinator's incarnation; 0 until the
                             first. A rank checkpoints when it grows (agreed by the control all-reduce). */
    int stream_connected; /* the WatchMixture stream is up right now */
} worker_directive;

#define WORKER_HEARTBEAT_CLASSES 16

typedef struct worker_heartbeat {
    int64_t step;
    double tokens_per_s;
    int64_t applied_version;
    int64_t applied_step;
    double loss; /* NaN when unknown */
    double lr;
    double grad_norm;
    /* this step's loss by objective class; copied by value, so a queued heartbeat owns it */
    int n_classes; /* 0..WORKER_HEARTBEAT_CLASSES */
    const char *class_names[WORKER_HEARTBEAT_CLASSES]; /* static strings (class names outlive any heartbeat) */
    double class_loss[WORKER_HEARTBEAT_CLASSES];
} worker_heartbeat;

/* Registers (retrying UNAVAILABLE until connect_timeout_ms) and starts the stream thread. */
int worker_client_open(const worker_client_config *cfg, worker_client **out, char *err, size_t errlen);
void worker_client_close(worker_client *wc);

/* The run as Register answered it. Arm order is the run's (config) order. */
int worker_client_arm_count(const worker_client *wc);
const char *worker_client_arm_name(const worker_client *wc, int i);
int64_t worker_client_incarnation(const worker_client *wc);

/* loss_sum[n_arms] and tokens[n_arms] in run arm order. *round_complete (may be NULL) tells whether
 * every rank has now reported this step. */
int worker_client_report_eval(worker_client *wc, int64_t step, const double *loss_sum, const double *tokens,
                              int *round_complete, char *err, size_t errlen);
int worker_client_heartbeat(worker_client *wc, const worker_heartbeat *hb, char *err, size_t errlen);
/* Reports a checkpoint file this rank wrote: step, its path, size and FNV-1a-64 checksum as 16 hex
 * digits. A repeated report of a step already recorded returns 0 and changes nothing. */
int worker_client_report_checkpoint(worker_client *wc, int64_t step, const char *path, uint64_t bytes,
                                    const char *checksum_hex, char *err, size_t errlen);
int worker_client_finish(worker_client *wc, int64_t step, int failed, const char *reason, char *err, size_t errlen);

/* Non-blocking: the newest directive; weights (may be NULL) gets n_arms weights in arm order. */
void worker_client_poll(worker_client *wc, worker_directive *out, double *weights);
/* What worker_client_wait wakes on, OR-ed together into its `wake` argument. */
enum {
    WORKER_WAKE_VERSION = 1, /* the newest mixture version is >= min_version */
    WORKER_WAKE_PAUSE = 2, /* the run is paused */
    WORKER_WAKE_STOP = 4, /* the run is told to stop */
};
/* Blocks until ANY condition in `wake` holds (it looks again as each directive arrives), until
 * timeout_ms passes, or until the client closes. Returns the conditions of `wake` that hold when it
 * returns: non-zero when one woke it, 0 when the time ran out (or the client closed) first.
 * min_version matters only with WORKER_WAKE_VERSION. */
int worker_client_wait(worker_client *wc, int64_t min_version, int wake, int timeout_ms);

/* The gRPC status code inside a WORKER_RPC_ERR return, or -1 for other codes. */
int worker_client_rpc_code(int rc);

#endif
