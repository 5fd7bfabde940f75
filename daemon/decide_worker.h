/* decide_worker: runs the coordinator's decide callback on its own thread so that a slow scheduler
 * never blocks RPCs. The RPC thread submits completed evaluation rounds and polls finished decisions
 * on its tick (the gRPC C core cannot be woken from another thread). Jobs run one at a time in
 * submission order. */
#ifndef BIRDIE_DAEMON_DECIDE_WORKER_H
#define BIRDIE_DAEMON_DECIDE_WORKER_H

#include <stddef.h>
#include <stdint.h>

#include "daemon/coordinator.h"

#define DECIDE_RECORD_MAX 8192

typedef struct decide_result {
    int64_t step;
    int rc; /* the callback's return code */
    char err[512]; /* its message when rc != 0 */
    int n_arms;
    double *loss_sum; /* [n_arms] the inputs, for the store */
    double *tokens; /* [n_arms] */
    double *new_weights; /* [n_arms] */
    double *rewards; /* [n_arms] */
    int new_mixture;
    int explore;
    double predicted_reward, observed_reward, fit_error;
    birdie_decision_detail detail; /* detail.record is owned by the result */
    char record[DECIDE_RECORD_MAX];
    double seconds; /* how long the callback took (monotonic clock) */
    struct decide_result *next;
} decide_result;

typedef struct decide_worker decide_worker;

int decide_worker_start(coordinator_decide_fn fn, void *ctx, int n_arms, decide_worker **out);
/* Queues a decision for `step`; current_weights[n_arms] preset new_weights. 0 or -ENOMEM. */
int decide_worker_submit(decide_worker *w, int64_t step, const double *loss_sum, const double *tokens,
                         const double *current_weights);
/* The oldest finished decision or NULL; free it with decide_result_free. Never blocks for long. */
decide_result *decide_worker_poll(decide_worker *w);
void decide_result_free(decide_result *r);
/* Joins the thread after the running job (if any); queued jobs and results are dropped. */
void decide_worker_stop(decide_worker *w);

#endif
