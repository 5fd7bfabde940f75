/* worker/objectives/mixture.h: mixtures — one weight per arm of an arm set — from config strings,
 * their validation, and the draw of an arm (docs/algorithm.md §2.9).
 *
 * A mixture is a plain array `double weights[set->n]`, normalised to sum to 1. Named mixtures:
 *   "ntp"      weight 1 on the NTP arm(s), equal among them.
 *   "uniform"  uniform over the classes present in the set, then uniform over the arms of a class
 *              (v1's initial Birdie action); the Birdie warm-up mixture.
 *   "ul2"      v1's UL2 (the paper's Table 5): S 0.2, R(3, 15%) 0.2, R(8, 15%) 0.2, X(3, 50%) 0.1,
 *              X(8, 50%) 0.1, X(64, 15%) 0.1, X(64, 50%) 0.1. Mapped onto the set: S -> the prefix_lm
 *              arms; a denoiser (w, rate) -> the infilling arms with that rate whose width is
 *              nearest (in log scale) to 3w, our byte-level scaling of span widths (§2.10); with the
 *              default grid R(3) and X(3) land on width 8, the others on width 24. A denoiser's
 *              weight is split equally over its arms (the lengths). Error if a denoiser finds no arm.
 *   "name=w,name=w,..."  explicit weights; unnamed arms get 0.
 * Errors (negative, NaN or infinite weight, unknown or repeated name, all zero) name the culprit.
 */
#ifndef BIRDIE_OBJECTIVES_MIXTURE_H
#define BIRDIE_OBJECTIVES_MIXTURE_H

#include <stddef.h>

#include "worker/objectives/arm.h"
#include "worker/rng.h"

int birdie_mixture_parse(const birdie_arm_set *set, const char *spec, double *weights, char *err, size_t errlen);

/* Validates weights[0..set->n) (finite, >= 0, not all 0; errors name the arm) and normalises them
 * to sum to 1 in place. This is also the check for a mixture from the scheduler or an operator. */
int birdie_mixture_normalise(const birdie_arm_set *set, double *weights, char *err, size_t errlen);

/* Draws an arm index with probability weights[i] (normalised weights; arms of weight 0 are never
 * drawn). */
int birdie_mixture_draw(const double *weights, int n, birdie_rng *rng);

#endif
