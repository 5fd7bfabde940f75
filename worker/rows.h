/* worker/rows.h: a batch of packed training rows, as the packer emits them and the model eats them.
 *
 * One row holds one or more samples laid out as (prefix, BEGIN, targets[:-1]) with labels shifted by
 * one (docs/algorithm.md §1.4, §2.1). This file holds the layout only; packing lives in
 * worker/objectives/, the model in worker/model.c.
 */
#ifndef BIRDIE_ROWS_H
#define BIRDIE_ROWS_H

#include <stdint.h>

typedef struct birdie_rows {
    int B, T;
    int32_t *inputs; /* (B,T) token ids, BIRDIE_PAD on padding */
    int32_t *labels; /* (B,T) next-token targets, BIRDIE_IGNORE_LABEL on prefix and padding */
    int32_t *segments; /* (B,T) 1, 2, ... per sample in the row; 0 on padding */
    uint8_t *prefix; /* (B,T) 1 where the position belongs to a prefix */
    uint8_t *resets; /* (B,T) BIRDIE_RESET_FWD | BIRDIE_RESET_REV bits (kernels/ops.h) */
    int16_t *arms; /* (B,T) arm id of the sample at the position, -1 on padding */
} birdie_rows;

/* Allocates zeroed rows (host memory); returns 0 or a negative errno. */
int birdie_rows_alloc(birdie_rows *rows, int B, int T);
void birdie_rows_free(birdie_rows *rows);
/* Sets every position of rows [r0, r0+n) to padding (both reset bits, ignore label, arm -1). */
void birdie_rows_clear(birdie_rows *rows, int r0, int n);

#endif
