/* worker/objectives/packer.h: writes samples into packed rows (docs/algorithm.md §1.4, §2.1).
 *
 * A sample (P, T) occupies |P| + |T| positions starting at the row's cursor:
 *   input   P[0..|P|), BEGIN, T[0..|T|-2]
 *   label   ignore x |P|, T[0..|T|-1]
 *   segment the sample's number in the row (1, 2, ...)
 *   prefix  1 on the |P| prefix positions
 *   resets  FWD on the sample's first position; REV on BEGIN and on every target position (so a
 *           sample with an empty prefix has both bits on its first position)
 *   arms    the sample's arm id
 * Positions past the last sample keep the padding of birdie_rows_clear (input PAD, ignore label,
 * segment 0, both reset bits, arm -1). This file does not choose samples (build.h does).
 */
#ifndef BIRDIE_OBJECTIVES_PACKER_H
#define BIRDIE_OBJECTIVES_PACKER_H

#include <stdint.h>

#include "worker/objectives/objective.h"
#include "worker/rows.h"

/* Where the next sample of one row goes. */
typedef struct birdie_row_cursor {
    int row; /* row index in rows */
    int used; /* positions filled */
    int segments; /* samples placed */
} birdie_row_cursor;

/* Starts row r: clears it to padding and resets the cursor. */
void birdie_row_begin(birdie_rows *rows, int r, birdie_row_cursor *cur);

/* Appends a sample of arm `arm` (0 <= arm <= INT16_MAX); returns 0, or -ENOSPC when it does not fit
 * (the row is unchanged), -EINVAL on an empty target list or a bad arm id. */
int birdie_row_add(birdie_rows *rows, birdie_row_cursor *cur, const int32_t *prefix, int nprefix,
                   const int32_t *targets, int ntargets, int arm);

/* The same for a birdie_sample. */
int birdie_row_add_sample(birdie_rows *rows, birdie_row_cursor *cur, const birdie_sample *s, int arm);

#endif
