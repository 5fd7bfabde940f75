/* mixture: validation of objective mixtures (operator requests and scheduler outputs) against the
 * run's arm list. Pure functions: no state, no I/O. A mixture is a weight per arm in arm order,
 * normalised to sum 1. Every error message names the arm or field at fault. */
#ifndef BIRDIE_DAEMON_MIXTURE_H
#define BIRDIE_DAEMON_MIXTURE_H

#include <stddef.h>

/* Weights given by arm name (n_named entries) -> out_weights[n_arms] in arm order; arms not named
 * get 0. -EINVAL for an unknown arm, an arm named twice, a negative, NaN or infinite weight, no
 * entries, or all-zero weights. out_weights is written only on success. */
int mixture_from_named(int n_arms, const char *const *arm_names, size_t n_named, const char *const *names,
                       const double *weights, double *out_weights, char *err, size_t errlen);

/* Checks weights[n_arms] in place (finite, >= 0, positive sum) and normalises them to sum 1.
 * -EINVAL with a message otherwise; weights are unchanged on error. */
int mixture_normalise(int n_arms, const char *const *arm_names, double *weights, char *err, size_t errlen);

/* The paper's initial mixture: uniform over classes, then uniform over the arms of each class. */
void mixture_uniform_by_class(int n_arms, const char *const *arm_classes, double *out_weights);

#endif
