/* daemon/scheduler/candidates.h: candidate actions and the top-k choice (docs/algorithm.md §3.6, §3.1 step 6).
 * Scoring the candidates is the reward model's job (reward_model.h); this file only draws them and
 * turns scores into the next action. */
#ifndef BIRDIE_SCHED_CANDIDATES_H
#define BIRDIE_SCHED_CANDIDATES_H

#include "worker/rng.h"

/* cand (M, n_arms): rows of U(0,1] weights, each normalised to sum 1. */
void sched_draw_candidates(double *cand, int M, int n_arms, birdie_rng *rng);

/* Rows [M - M/2, M) become copies of explore (n_arms): the exploring half of docs/algorithm.md §3.1 step 6. */
void sched_fill_explore_half(double *cand, int M, int n_arms, const double *explore);

/* top (k): indices of the k largest scores, best first; ties go to the lower index. k <= M. */
void sched_top_k(const double *score, int M, int k, int *top);

/* action (n_arms) = mean of the rows top[0..k) of cand, renormalised to sum 1. */
void sched_mean_of_rows(double *action, const double *cand, int n_arms, const int *top, int k);

#endif
