/* tests/daemon/scheduler/sched_test_util.h: small helpers shared by the scheduler tests: a config with
 * generated arm names and a small reward model, and one evaluation from a loss vector. */
#ifndef BIRDIE_SCHED_TEST_UTIL_H
#define BIRDIE_SCHED_TEST_UTIL_H

#include <stdint.h>

#include "daemon/scheduler/scheduler.h"

#define SCHED_TEST_MAX_ARMS 64

/* Defaults, then n_arms arms named "arm00".. with the given classes, hidden 32, 2 layers, 512
 * candidates: small enough for unit tests under ASan. */
void sched_test_config(birdie_sched_config *cfg, int n_arms, const int *classes, int n_classes, uint64_t seed);

/* One evaluation with mean losses loss (n_arms) over 1000 tokens per arm and the scheduler's own
 * mixture; returns what birdie_sched_observe returns. */
int sched_test_observe(birdie_sched *s, int64_t step, const double *loss, birdie_decision *d);

/* Sum of a vector. */
double sched_test_sum(const double *v, int n);

#endif
