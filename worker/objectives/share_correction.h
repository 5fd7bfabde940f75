/* worker/objectives/share_correction.h: the draw weights under which packed rows hold each arm's
 * samples in the mixture's proportions.
 *
 * Why: when an arm's smallest sample does not fit the space left in a row, the builder draws again
 * (build.h), so the tail of every row favours short arms. Drawing straight from the mixture, rows
 * of 512 over the default grid under the uniform mixture hold 0.71x to 1.28x each class's share.
 * A carried-over draw (what the reference's sequential packer does) is not possible here, because
 * every row is a function of its global index alone.
 *
 * The model: filling a row is a chain over the positions used. For each arm, the builder's own
 * steps (chunk length, chunk cap, the objective) are run once at 8 spaces spread geometrically
 * between the arm's smallest sample and T, plus 4 placed where the chance of a sample jumps (an
 * autoencoding sample needs about twice its chunk); that gives how often a draw of the arm succeeds
 * there and the sizes of its samples (cut short in a tight space, or a miss when the objective
 * gives up). For draw
 * probabilities q the chain gives the expected samples per arm per row exactly (a forward pass, no
 * sampling noise). The draw weights solve share(q) = weights by a damped fixed-point iteration.
 * Every rank computes the same q from the same mixture, so rows stay a function of (seed, step,
 * global row). This file does not build rows (build.c uses it).
 */
#ifndef BIRDIE_OBJECTIVES_SHARE_CORRECTION_H
#define BIRDIE_OBJECTIVES_SHARE_CORRECTION_H

#include <stddef.h>
#include <stdint.h>

#include "worker/objectives/arm.h"
#include "worker/objectives/objective.h"
#include "worker/source.h"

/* Spaces measured per arm (8 geometric + 4 refined), and draws per space. */
enum { BIRDIE_SHARE_SPACES = 12, BIRDIE_SHARE_DRAWS = 32 };

typedef struct birdie_share_model {
    int n_arms, T, max_misses;
    int *min_size; /* [n_arms] birdie_arm_min_size */
    int *space; /* [n_arms][SPACES] the spaces measured, ascending, the last one T */
    double *hit; /* [n_arms][SPACES] share of draws that gave a sample there */
    int *sizes; /* [n_arms][SPACES][DRAWS] positions of those samples (cycled when fewer) */
    double *mass; /* [T + 1] scratch: probability that a row reaches u positions used */
    double *hit_now; /* [n_arms] scratch: the chance of a sample at the space being expanded */
    int *size_at; /* [n_arms] scratch: the measured space whose sizes stand for it */
} birdie_share_model;

/* Measures every arm from src with streams keyed by (seed, arm, draw, BIRDIE_RNG_SHARES),
 * using chunk (T tokens) and sample (capacity T) as scratch. max_misses is the builder's limit on
 * consecutive misses. Returns 0 or a negative errno with a message naming the arm. */
int birdie_share_model_init(birdie_share_model *m, const birdie_arm_set *arms, const birdie_source *src, uint64_t seed,
                            int T, int max_misses, int32_t *chunk, birdie_sample *sample, char *err, size_t errlen);
void birdie_share_model_free(birdie_share_model *m);

/* Expected samples of each arm per row (per_row[n_arms]) when arms are drawn with weights q
 * (any positive scale; arms with q <= 0 are never drawn). */
void birdie_share_model_expected(birdie_share_model *m, const double *q, double *per_row);

/* Fills draw[n_arms] (normalised; 0 where weights is 0) so that the expected share of samples of
 * each arm equals its normalised weight. Returns the largest |share / weight - 1| the model has
 * left (about 1e-4 once converged). */
double birdie_share_correct(birdie_share_model *m, const double *weights, double *draw);

#endif
