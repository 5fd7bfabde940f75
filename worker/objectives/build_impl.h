/* worker/objectives/build_impl.h: the row filler shared by training rows (build.c) and validation
 * rows (validation.c); internal header. */
#ifndef BIRDIE_OBJECTIVES_BUILD_IMPL_H
#define BIRDIE_OBJECTIVES_BUILD_IMPL_H

#include "worker/objectives/build.h"

/* The streams of one row; sample k forks data and objective with index k. */
typedef struct birdie_row_streams {
    birdie_rng arm, data, objective;
} birdie_row_streams;

/* Fills row r (cleared first) with samples: arm `fixed_arm` when >= 0, else arms drawn from
 * weights. min_need is the smallest birdie_arm_min_size among drawable arms. Adds to *stats. */
int birdie_fill_row(birdie_builder *b, const double *weights, int fixed_arm, int min_need, birdie_rows *rows, int r,
                    birdie_row_streams *streams, birdie_pack_stats *stats, char *err, size_t errlen);

#endif
