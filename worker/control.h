/* worker/control.h: what the training loop needs from a control plane, as a table of callbacks.
 *
 * Under birdied with the daemon built, daemon/run_link.c implements it over the coordinator's gRPC
 * API (worker_client.h); without it a run has no control plane (NULL) and keeps its own scheduler.
 * The loop never blocks on the network except where it must: the report of an evaluation, the
 * wait for the scheduler's decision after it, and a pause. Ranks agree on what they apply through
 * the per-step control all-reduce (worker/train.c), not through this interface. */
#ifndef BIRDIE_CONTROL_H
#define BIRDIE_CONTROL_H

#include <stddef.h>
#include <stdint.h>

#include "worker/objectives/arm.h"

typedef struct birdie_control_state {
    int64_t version; /* newest mixture version received, -1 before the first */
    int pause, stop;
    int failed; /* with stop: the coordinator failed the run (stop_reason says why): exit 7, not a clean stop */
    int64_t checkpoint_seq; /* operator checkpoint requests so far (grows by one per request) */
    char stop_reason[512];
} birdie_control_state;

typedef struct birdie_step_report {
    int64_t step;
    double tokens_per_s, loss, lr, grad_norm;
    int64_t applied_version, applied_step;
    double class_loss[BIRDIE_NUM_OBJECTIVE_CLASSES]; /* this step's loss by class (birdie_objective_class); NaN: none */
} birdie_step_report;

typedef struct birdie_control {
    void *ctx;
    /* the coordinator runs the scheduler: after reporting an evaluation, wait for its decision */
    int scheduler_remote;
    /* Non-blocking: the newest state; weights (n arms) receive the mixture of state->version. */
    void (*poll)(void *ctx, birdie_control_state *state, double *weights);
    /* Blocks up to timeout_ms for a version >= min_version, a stop, or (want_unpause) the end of a
     * pause. Returns 1 if that happened, 0 on timeout. */
    int (*wait)(void *ctx, int64_t min_version, int want_unpause, int timeout_ms);
    int (*report_eval)(void *ctx, int64_t step, const double *loss_sum, const double *tokens, char *err, size_t errlen);
    int (*heartbeat)(void *ctx, const birdie_step_report *report, char *err, size_t errlen);
    int (*finish)(void *ctx, int64_t step, int failed, const char *reason, char *err, size_t errlen);
    /* rank 0, after writing a checkpoint: the coordinator records it */
    int (*report_checkpoint)(void *ctx, int64_t step, const char *path, uint64_t bytes, const char *checksum, char *err,
                             size_t errlen);
    /* rank 0, while writing a checkpoint: the remote scheduler's state (birdie_sched_save, malloc'd;
     * NULL and 0 under a fixed mixture), so a resumed run continues its history */
    int (*save_scheduler)(void *ctx, uint8_t **state, size_t *len, char *err, size_t errlen);
    int decision_timeout_ms; /* how long to wait for a decision or the other ranks' versions */
} birdie_control;

#endif
