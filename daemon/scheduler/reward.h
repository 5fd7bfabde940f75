/* daemon/scheduler/reward.h: the reward of one evaluation interval (docs/algorithm.md §3.3) and the class
 * weighting that turns per-arm rewards into one score (§3.4). Pure functions; no model, no state. */
#ifndef BIRDIE_SCHED_REWARD_H
#define BIRDIE_SCHED_REWARD_H

/* R = clip(-100 e tanh(e * sqrt(old*new) * ratio^3), -1, 1) with ratio = (new - old) / (old + 1e-8):
 * positive when the loss fell: the sign of the authors' code (docs/algorithm.md §3.3), not the paper's.
 * NaN -> 0. */
double sched_interval_reward(double old_loss, double new_loss);

/* w (n_arms) = 1 / (number of arms in the arm's class). Classes must be in [0, n_classes). */
void sched_class_weights(const int *arm_class, int n_arms, int n_classes, double *w);

/* sum_i value_i * w_i in a fixed order: the score of a per-arm reward (observed or predicted). */
double sched_class_score(const double *value, const double *w, int n_arms);

#endif
