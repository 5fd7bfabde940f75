/* worker/batch.h: builds the rows of one training or validation step from a text source.
 * Row r of step s reads its text with the RNG stream (seed, s, global row index, purpose), never the
 * rank, so a rank's slice of the global batch is the same whatever the world size (docs/design.md §3.4).
 * This file fills next-token-prediction rows; objective mixtures go through worker/objectives/. */
#ifndef BIRDIE_BATCH_H
#define BIRDIE_BATCH_H

#include <stdint.h>

#include "worker/rows.h"
#include "worker/source.h"

/* Fills rows [0, rows->B) with one NTP sample each: inputs BEGIN, w[0..T-2]; labels w[0..T-1]
 * for a window w of T tokens. Returns 0 or the source's negative error. */
int birdie_batch_ntp(birdie_rows *rows, const birdie_source *src, uint64_t seed, int64_t step, uint64_t global_row0,
                     uint32_t purpose);

#endif
