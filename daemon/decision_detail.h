/* daemon/decision_detail.h: what explains one scheduler decision beyond the decisions row (migration
 * 0005's decision_details): the scheduler's evaluation index and kind, its exploration draw, the
 * reward model's fit errors, the predicted reward of the chosen mixture, and the whole record as
 * bytes (birdie_decision_encode) from which `birdiectl explain` reads the top candidates and against
 * which a replay is compared. Filled by the decide callback (run_link.c), carried by the coordinator,
 * written by the store; it holds no logic. */
#ifndef BIRDIE_DAEMON_DECISION_DETAIL_H
#define BIRDIE_DAEMON_DECISION_DETAIL_H

#include <stddef.h>
#include <stdint.h>

typedef struct birdie_decision_detail {
    int64_t eval_index; /* the scheduler's 0-based count of evaluations before this one */
    char kind[16]; /* "initial" | "warmup" | "explore" | "exploit" */
    double explore_prob, explore_draw; /* NaN when no choice was made (initial, warm-up) */
    double fit_mse_first, fit_mse_last, fit_mse_clean; /* NaN when nothing was fitted */
    double predicted_out_score; /* the model's class-weighted reward of the chosen mixture; NaN: no model */
    int history_len, n_candidates;
    uint8_t *record; /* record_len bytes, malloc'ed; NULL: no detail */
    size_t record_len;
} birdie_decision_detail;

#endif
