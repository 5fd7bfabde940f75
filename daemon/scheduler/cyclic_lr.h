/* daemon/scheduler/cyclic_lr.h: the reward model's learning-rate and beta1 schedule (docs/algorithm.md §3.5). */
#ifndef BIRDIE_SCHED_CYCLIC_LR_H
#define BIRDIE_SCHED_CYCLIC_LR_H

#include <stdint.h>

#include "daemon/scheduler/scheduler.h"

/* PyTorch CyclicLR ("exp_range" with gamma 1 = triangle) at 0-based iteration iter, counted across
 * evaluations: lr rises from lr_base to lr_max over cycle_up iterations and falls back over
 * cycle_down. With cycle_momentum, beta1 moves the opposite way (beta1_at_base .. beta1_at_max). */
void sched_cyclic_lr(const birdie_rm_optim *o, uint64_t iter, double *lr, double *beta1);

#endif
