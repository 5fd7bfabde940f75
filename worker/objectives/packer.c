/* worker/objectives/packer.c: the packed layout of one sample in a row (contract in packer.h). */
#include "worker/objectives/packer.h"

#include <errno.h>
#include <string.h>

#include "kernels/ops.h"
#include "worker/vocab.h"

void birdie_row_begin(birdie_rows *rows, int r, birdie_row_cursor *cur)
{
    birdie_rows_clear(rows, r, 1);
    cur->row = r;
    cur->used = 0;
    cur->segments = 0;
}

int birdie_row_add(birdie_rows *rows, birdie_row_cursor *cur, const int32_t *prefix, int nprefix,
                   const int32_t *targets, int ntargets, int arm)
{
    if (ntargets < 1 || nprefix < 0 || arm < 0 || arm > INT16_MAX)
        return -EINVAL;
    int size = nprefix + ntargets;
    if (size > rows->T - cur->used)
        return -ENOSPC;
    size_t o = (size_t)cur->row * (size_t)rows->T + (size_t)cur->used;
    int32_t *in = rows->inputs + o, *lab = rows->labels + o, *seg = rows->segments + o;
    uint8_t *pre = rows->prefix + o, *rst = rows->resets + o;
    int16_t *arms = rows->arms + o;
    int32_t segment = ++cur->segments;

    if (nprefix) /* memcpy from NULL is undefined even for 0 bytes */
        memcpy(in, prefix, (size_t)nprefix * sizeof *in);
    in[nprefix] = BIRDIE_BEGIN;
    memcpy(in + nprefix + 1, targets, (size_t)(ntargets - 1) * sizeof *in);
    for (int i = 0; i < nprefix; i++)
        lab[i] = BIRDIE_IGNORE_LABEL;
    memcpy(lab + nprefix, targets, (size_t)ntargets * sizeof *lab);
    memset(pre, 1, (size_t)nprefix);
    memset(pre + nprefix, 0, (size_t)ntargets);
    memset(rst, 0, (size_t)nprefix);
    memset(rst + nprefix, BIRDIE_RESET_REV, (size_t)ntargets);
    rst[0] |= BIRDIE_RESET_FWD;
    for (int i = 0; i < size; i++) {
        seg[i] = segment;
        arms[i] = (int16_t)arm;
    }
    cur->used += size;
    return 0;
}

int birdie_row_add_sample(birdie_rows *rows, birdie_row_cursor *cur, const birdie_sample *s, int arm)
{
    return birdie_row_add(rows, cur, s->prefix, s->nprefix, s->targets, s->ntargets, arm);
}
