/* worker/objectives/mixture_rules.h: the rules every mixture obeys wherever it comes from (a config
 * string, an operator's SetMixture, the scheduler): the class-uniform mixture, and what makes a
 * weight vector valid (known arms, each named once, finite, non-negative weights with a positive
 * finite sum) and how it is normalised (divided by its sum). The checks return a fault; each caller
 * words its own message from it (the config path and the coordinator's RPC answers keep theirs).
 * Nothing here formats, allocates or reads arm sets.
 * Header-only: the scheduler library (daemon/scheduler) is built before the worker's libraries, and
 * the coordinator's library does not link them. */
#ifndef BIRDIE_OBJECTIVES_MIXTURE_RULES_H
#define BIRDIE_OBJECTIVES_MIXTURE_RULES_H

#include <math.h>

typedef enum birdie_mixture_fault {
    BIRDIE_MIXTURE_OK = 0,
    BIRDIE_MIXTURE_NOT_FINITE, /* a NaN or infinite weight */
    BIRDIE_MIXTURE_NEGATIVE, /* a weight below 0 (-0 is zero) */
    BIRDIE_MIXTURE_BAD_SUM, /* the weights do not sum to a finite value > 0 */
    BIRDIE_MIXTURE_UNKNOWN_ARM,
    BIRDIE_MIXTURE_REPEATED_ARM,
} birdie_mixture_fault;

/* out[i] = 1 / (arms in i's class) / (classes): every class present gets the same share, split
 * equally over its arms (the initial action, docs/algorithm.md §2.9). Class ids are any
 * ints, compared for equality. The scheduler's a0, the config's "uniform" and the coordinator's
 * default mixture all come from here, so they agree to the bit. */
static inline void birdie_class_uniform(int n, const int *cls, double *out)
{
    int classes = 0;
    for (int i = 0; i < n; i++) {
        int first = 1;
        for (int j = 0; j < i && first; j++)
            first = cls[j] != cls[i];
        classes += first;
    }
    for (int i = 0; i < n; i++) {
        int count = 0;
        for (int j = 0; j < n; j++)
            count += cls[j] == cls[i];
        out[i] = 1.0 / (double)count / (double)classes;
    }
}

static inline birdie_mixture_fault birdie_mixture_weight_fault(double w)
{
    if (!isfinite(w))
        return BIRDIE_MIXTURE_NOT_FINITE;
    if (w < 0.0)
        return BIRDIE_MIXTURE_NEGATIVE;
    return BIRDIE_MIXTURE_OK;
}

/* A weight given by arm name: index is the caller's lookup of the name (< 0: no such arm); given[]
 * marks the arms named so far and gets this one. */
static inline birdie_mixture_fault birdie_mixture_arm_fault(int index, unsigned char *given)
{
    if (index < 0)
        return BIRDIE_MIXTURE_UNKNOWN_ARM;
    if (given[index])
        return BIRDIE_MIXTURE_REPEATED_ARM;
    given[index] = 1;
    return BIRDIE_MIXTURE_OK;
}

/* Checks w[0..n) and divides it by its sum. On a fault w is unchanged and *at is the first arm at
 * fault (-1 for BIRDIE_MIXTURE_BAD_SUM); *sum is the sum (of the weights before *at on a weight
 * fault). */
static inline birdie_mixture_fault birdie_mixture_check_normalise(int n, double *w, int *at, double *sum)
{
    double s = 0.0;
    *at = -1;
    for (int i = 0; i < n; i++) {
        birdie_mixture_fault f = birdie_mixture_weight_fault(w[i]);
        if (f != BIRDIE_MIXTURE_OK) {
            *at = i;
            *sum = s;
            return f;
        }
        s += w[i];
    }
    *sum = s;
    if (!(s > 0.0) || !isfinite(s))
        return BIRDIE_MIXTURE_BAD_SUM;
    for (int i = 0; i < n; i++)
        w[i] /= s;
    return BIRDIE_MIXTURE_OK;
}

#endif
