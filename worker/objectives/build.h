/* worker/objectives/build.h: building the packed rows of a step, and the fixed validation rows.
 *
 * Row building: every row of the global batch is built independently from counter-based streams
 * keyed by (seed, step, global row index, purpose) — BIRDIE_RNG_ARM for the arm draws,
 * BIRDIE_RNG_DATA for the text windows, BIRDIE_RNG_OBJECTIVE for chunk lengths and the objective's
 * own draws (forked per sample) — never by rank. So one rank building rows [0, 2b) produces
 * exactly what two ranks building [0, b) and [b, 2b) produce together.
 *
 * Filling one row of T positions: draw an arm (with the mixture's draw weights, below); if the space left is below the
 * arm's smallest sample (birdie_arm_min_size), or the objective cannot make a sample in it, that
 * draw is a miss; else the chunk length is drawn uniformly in [min_len, max_len], cut to what the
 * space can hold (birdie_arm_chunk_cap), read from the source, turned into a sample and packed.
 * The row ends (padding) after 8 consecutive misses or when the space left is below every
 * drawable arm's smallest sample. Misses favour short arms in the tail of a row, so arms are drawn
 * with weights corrected for that (share_correction.h): the expected share of samples of each arm
 * is its mixture weight. The stats count misses; per-arm tokens can be read back from rows.arms.
 *
 * Validation: rows_per_arm rows per arm, each packed only with samples of that arm (so the per-arm
 * loss is well defined), from streams keyed by (seed, FNV-1a of the arm name, row j,
 * BIRDIE_RNG_VALIDATION): an arm's validation rows do not depend on which other arms are in the set.
 */
#ifndef BIRDIE_OBJECTIVES_BUILD_H
#define BIRDIE_OBJECTIVES_BUILD_H

#include <stddef.h>
#include <stdint.h>

#include "worker/objectives/arm.h"
#include "worker/objectives/objective.h"
#include "worker/objectives/share_correction.h"
#include "worker/rows.h"
#include "worker/source.h"

typedef struct birdie_pack_stats {
    uint64_t rows;
    uint64_t positions; /* rows x T */
    uint64_t tokens; /* non-padding positions (prefix and target), the paper's token count */
    uint64_t samples;
    uint64_t misses; /* arm draws that did not fit or gave no valid sample */
} birdie_pack_stats;

/* Share of non-padding positions, 0 when nothing was built. */
double birdie_pack_fill_rate(const birdie_pack_stats *stats);

/* What rows are built from, plus scratch sized by the row length T (no allocation per sample);
 * one thread uses a builder at a time (give each thread its own).
 * The builder keeps pointers to arms and src; they must outlive it. */
typedef struct birdie_builder {
    const birdie_arm_set *arms;
    const birdie_source *src;
    uint64_t seed;
    int T;
    int32_t *chunk;
    birdie_sample sample;
    /* the share correction: sizes measured at the first build, draw weights solved per mixture */
    birdie_share_model shares;
    int have_shares, have_draw;
    double *mixture_seen, *draw; /* [arms->n]: the last mixture given, and its draw weights */
    double share_error; /* what the model has left of |share / weight - 1| for it */
} birdie_builder;

int birdie_builder_init(birdie_builder *b, const birdie_arm_set *arms, const birdie_source *src, uint64_t seed, int T,
                        char *err, size_t errlen);
void birdie_builder_free(birdie_builder *b);

/* Measures the arms' sample sizes (first call) and solves the draw weights for this mixture (when
 * it differs from the last one); birdie_build_rows does this itself. 0 or the source's error. */
int birdie_builder_prepare(birdie_builder *b, const double *weights, char *err, size_t errlen);

/* Builds rows [row_begin, row_begin + nrows) of `rows` (rows->T == b->T) as the global rows
 * global_row0, global_row0 + 1, ... of step `step`, with arms drawn from weights[0..arms->n)
 * (normalised, e.g. from birdie_mixture_parse). Adds to *stats when given. Returns 0 or a negative
 * errno with a message: -EINVAL for bad arguments or a mixture whose arm cannot fit an empty row
 * (named), or the source's error. */
int birdie_build_rows(birdie_builder *b, const double *weights, uint64_t step, birdie_rows *rows, int row_begin,
                      int nrows, uint64_t global_row0, birdie_pack_stats *stats, char *err, size_t errlen);

/* Builds the validation rows once: allocates *out with B = arms->n * rows_per_arm rows of length
 * T; rows [a * rows_per_arm, (a + 1) * rows_per_arm) hold arm a only. -EINVAL if an arm cannot fit
 * a row of T or gives no sample in a row (named); the source's error otherwise. */
int birdie_build_validation(const birdie_arm_set *arms, const birdie_source *val_src, uint64_t seed, int rows_per_arm,
                            int T, birdie_rows *out, birdie_pack_stats *stats, char *err, size_t errlen);

/* Sums per-position losses (B*T, e.g. from crossentropy_forward_backward, 0 where ignored) by arm:
 * loss_sum[a] += loss, tokens[a] += 1 over positions with a label. The arrays hold narms entries
 * and are added to, so several batches accumulate. -EINVAL if a row holds an arm id >= narms. */
int birdie_loss_by_arm(const birdie_rows *rows, const float *losses, int narms, double *loss_sum, uint64_t *tokens,
                       char *err, size_t errlen);

#endif
