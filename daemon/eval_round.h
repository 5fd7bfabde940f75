/* eval_round: sums the per-arm validation reports of every rank for one evaluation step and tells
 * when the round is complete or past its deadline. Pure bookkeeping: no clock, no I/O (the caller
 * passes the time). One round is open at a time because ranks evaluate the same steps in lockstep. */
#ifndef BIRDIE_DAEMON_EVAL_ROUND_H
#define BIRDIE_DAEMON_EVAL_ROUND_H

#include <stddef.h>
#include <stdint.h>

typedef struct eval_round {
    int world_size;
    int n_arms;
    int open; /* a round is collecting reports */
    int64_t step; /* step of the open round */
    int64_t deadline_ms; /* when the open round times out */
    int n_reported;
    unsigned char *reported; /* [world_size] */
    double *loss_sum; /* [n_arms] summed over reporting ranks */
    double *tokens; /* [n_arms] */
    int64_t last_closed_step; /* -1 before the first round closes */
} eval_round;

typedef enum eval_add_result {
    EVAL_ADDED = 0, /* counted */
    EVAL_DUPLICATE = 1, /* this rank already reported this open step: ignored (a retry) */
    EVAL_ALREADY_CLOSED = 2, /* the step was already closed: ignored (a late retry) */
} eval_add_result;

int eval_round_init(eval_round *r, int world_size, int n_arms);
void eval_round_free(eval_round *r);

/* Adds rank's loss_sum[n_arms] and tokens[n_arms] for `step`. Returns an eval_add_result (>= 0), or
 * -EINVAL (bad rank, negative/non-finite values, negative step) or -EBUSY (another step's round is
 * open, or the step is older than the last closed one) with a message. Opening a round sets its
 * deadline to now_ms + deadline_ms. */
int eval_round_add(eval_round *r, int rank, int64_t step, const double *loss_sum, const double *tokens, int64_t now_ms,
                   int deadline_ms, char *err, size_t errlen);

int eval_round_complete(const eval_round *r);
int eval_round_expired(const eval_round *r, int64_t now_ms);
/* Writes the ranks that have not reported, as "1,3", into out. */
void eval_round_missing(const eval_round *r, char *out, size_t outlen);
/* Closes the open round (complete or abandoned): its step becomes last_closed_step. */
void eval_round_close(eval_round *r);

#endif
