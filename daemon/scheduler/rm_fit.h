/* daemon/scheduler/rm_fit.h: training the reward model on the history (docs/algorithm.md §3.5, §3.1 step 5): a fixed
 * number of AdamW iterations, MSE over all positions and arms, global-norm clipping, the cyclic LR
 * (and beta1) continued across evaluations, and v1's multiplicative input/target noise. */
#ifndef BIRDIE_SCHED_RM_FIT_H
#define BIRDIE_SCHED_RM_FIT_H

#include <stddef.h>
#include <stdint.h>

#include "daemon/scheduler/reward_model.h"
#include "daemon/scheduler/scheduler.h"

typedef struct rm_fit_stats {
    double mse_first; /* first iteration (noisy data) */
    double mse_last; /* last iteration (noisy data) */
} rm_fit_stats;

/* Runs iters AdamW iterations on X (T,2N), Y (T,N). *iter_counter is the global iteration count
 * (CyclicLR position and noise key) and advances by iters. Each iteration multiplies X and Y
 * elementwise by U(1-noise, 1+noise) drawn from (seed, iteration). Returns 0, -ENOMEM, or -ERANGE
 * when the loss or gradient is not finite (message in err); the model is then left mid-fit. */
int rm_fit(reward_model *rm, const float *X, const float *Y, int T, int iters, const birdie_rm_optim *o, double noise,
           uint64_t seed, uint64_t *iter_counter, rm_fit_stats *stats, char *err, size_t errlen);

#endif
