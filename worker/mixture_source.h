/* worker/mixture_source.h: the scheduler as the training loop sees it when it runs in this process.
 *
 * The loop evaluates at the steps of its evaluation schedule (worker/eval_schedule.h), hands the
 * per-arm sums to observe, and trains on the mixture it gets back from the next step on. Every rank
 * holds its own source: the scheduler is deterministic and sees the same all-reduced losses
 * everywhere, so all ranks switch at the same step without talking. worker/ owns this interface; the
 * implementation comes from above (daemon/local_scheduler.h), as does the other way a run gets its
 * mixtures, the coordinator behind a birdie_control table (worker/control.h). */
#ifndef BIRDIE_MIXTURE_SOURCE_H
#define BIRDIE_MIXTURE_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "worker/checkpoint.h"

typedef struct birdie_mixture_source {
    void *ctx;
    /* One evaluation: loss_sum and tokens (n_arms each) summed over ranks. weights (n_arms) and *version
     * hold the mixture in force and receive the one in force from the next step; note (may be NULL) a
     * one-line account of the decision for the progress log. 0 or a negative errno with err. */
    int (*observe)(void *ctx, int64_t step, const double *loss_sum, const double *tokens, int n_arms, double *weights,
                   uint64_t *version, char *note, size_t notelen, char *err, size_t errlen);
    /* The scheduler's whole state for a checkpoint (malloc'd; the caller frees it). */
    int (*save)(void *ctx, uint8_t **state, size_t *len, char *err, size_t errlen);
    /* Continues from the scheduler state a checkpoint holds (history, reward model, random draws); a
     * checkpoint without one is an error. */
    int (*restore)(void *ctx, const birdie_checkpoint *ck, char *err, size_t errlen);
} birdie_mixture_source;

#endif
