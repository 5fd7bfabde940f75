/* daemon/scheduler/explore.h: the exploration side of a decision (docs/algorithm.md §3.7): the explore vector that
 * replaces half of the candidates when the scheduler explores. The probability E(step) itself is
 * public (scheduler.h: birdie_explore_prob). */
#ifndef BIRDIE_SCHED_EXPLORE_H
#define BIRDIE_SCHED_EXPLORE_H

#include "worker/rng.h"

/* The v2 explore vector, out (n_arms), sums to 1: k ~ U{1,2} classes are picked uniformly with
 * replacement; each picked class gets mass 1 spread over its arms by U(0,1) weights; every other
 * class gets mass q = n_arms / max(1, n_arms - k) * 0.005 * k split equally over its arms; then the
 * vector is normalised. The v2 loss tilt is left out (docs/algorithm.md §3.1 step 6). class_size (n_classes). */
void sched_explore_vector(double *out, int n_arms, const int *arm_class, int n_classes, const int *class_size,
                          birdie_rng *rng);

#endif
