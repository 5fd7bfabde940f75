/* worker/rows.c: allocation and clearing of packed rows (layout in rows.h). */
#include "worker/rows.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ops.h"

int birdie_rows_alloc(birdie_rows *rows, int B, int T)
{
    memset(rows, 0, sizeof *rows);
    if (B <= 0 || T <= 0)
        return -EINVAL;
    size_t n = (size_t)B * (size_t)T;
    rows->B = B;
    rows->T = T;
    rows->inputs = calloc(n, sizeof *rows->inputs);
    rows->labels = calloc(n, sizeof *rows->labels);
    rows->segments = calloc(n, sizeof *rows->segments);
    rows->prefix = calloc(n, sizeof *rows->prefix);
    rows->resets = calloc(n, sizeof *rows->resets);
    rows->arms = calloc(n, sizeof *rows->arms);
    if (!rows->inputs || !rows->labels || !rows->segments || !rows->prefix || !rows->resets || !rows->arms) {
        birdie_rows_free(rows);
        return -ENOMEM;
    }
    birdie_rows_clear(rows, 0, B);
    return 0;
}

void birdie_rows_free(birdie_rows *rows)
{
    free(rows->inputs);
    free(rows->labels);
    free(rows->segments);
    free(rows->prefix);
    free(rows->resets);
    free(rows->arms);
    memset(rows, 0, sizeof *rows);
}

void birdie_rows_clear(birdie_rows *rows, int r0, int n)
{
    size_t begin = (size_t)r0 * (size_t)rows->T, end = (size_t)(r0 + n) * (size_t)rows->T;
    for (size_t i = begin; i < end; i++) {
        rows->inputs[i] = 0;
        rows->labels[i] = BIRDIE_IGNORE_LABEL;
        rows->segments[i] = 0;
        rows->prefix[i] = 0;
        rows->resets[i] = BIRDIE_RESET_FWD | BIRDIE_RESET_REV;
        rows->arms[i] = -1;
    }
}
