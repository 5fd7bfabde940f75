/* metrics: the Prometheus text exposition (format 0.0.4) of a coordinator's numbers, formatted from a
 * snapshot struct that the coordinator fills under its lock (coord_metrics.c). This file only
 * formats: it reads no clock, no coordinator and no store, so its output is a pure function of the
 * snapshot (tests/daemon/test_metrics.c pins the text). Names, types and units: docs/design.md §9.
 * Serving it over HTTP is metrics_http.c. */
#ifndef BIRDIE_DAEMON_METRICS_H
#define BIRDIE_DAEMON_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* One (method, status code) pair of the RPC counter. */
typedef struct birdie_metrics_rpc {
    const char *method; /* full path, "/birdie.v1.Control/GetStatus", or "unknown" */
    const char *code; /* "OK", "INVALID_ARGUMENT", ... */
    int64_t count;
} birdie_metrics_rpc;

/* Everything one scrape shows. Arrays are owned by whoever fills the struct; NaN means "not known
 * yet" and leaves that sample out (an absent series, not a made-up 0). */
typedef struct birdie_metrics {
    const char *run_name;
    const char *state; /* the run state ("running", ...); one of birdie_metrics_states */
    int serving; /* grpc.health.v1 status of the coordinator: 1 SERVING, 0 NOT_SERVING */
    int64_t incarnation; /* 1 for a new run, +1 per resume */
    int64_t step; /* newest step any rank reported */
    double tokens_per_s; /* summed over ranks */
    double loss; /* training loss of the newest recorded step */
    int64_t mixture_version;

    int n_classes;
    const char *const *class_names; /* [n_classes] */
    const double *class_train_loss; /* [n_classes] per-class training loss of that step */
    const double *class_val_loss; /* [n_classes] newest evaluation: summed loss / summed tokens over the class's arms */
    const double *class_weight; /* [n_classes] the current mixture summed over the class's arms */
    const double *class_reward; /* [n_classes] newest decision: mean reward of the class's arms */

    int n_arms;
    const char *const *arm_names; /* [n_arms] */
    const char *const *arm_classes; /* [n_arms] */
    const double *arm_weight; /* [n_arms] the current mixture */

    int64_t decisions_explore, decisions_exploit, decisions_operator;

    int n_buckets;
    const double *bucket_le; /* [n_buckets] increasing upper bounds (seconds) */
    const int64_t *bucket_count; /* [n_buckets + 1] decisions per bucket (not cumulative); last: above every bound */
    double decide_seconds_sum;

    double checkpoint_age_s; /* since the newest recorded checkpoint was written (NaN: none) */
    int64_t checkpoint_step;

    int world_size;
    const double *heartbeat_age_s; /* [world_size] NaN: no heartbeat yet */
    const int *stalled; /* [world_size] */

    size_t n_rpc;
    const birdie_metrics_rpc *rpc; /* pairs with count > 0 */
} birdie_metrics;

/* The run states, in the order the birdie_run_state series lists them. */
extern const char *const birdie_metrics_states[];
extern const int birdie_metrics_n_states;

/* The exposition of m: a malloc'ed NUL-terminated text (*len without the NUL), or NULL when out of
 * memory. */
char *birdie_metrics_format(const birdie_metrics *m, size_t *len);

#endif
