/* worker/objectives/copying.c: copying (docs/algorithm.md §2.4): P = the chunk, T = the same chunk; the chunk is cut
 * so that both halves fit the budget. */
#include <errno.h>
#include <string.h>

#include "worker/objectives/objective_impl.h"

int birdie_copying_apply(const birdie_arm *arm, const int32_t *x, int n, int budget, birdie_rng *rng,
                         birdie_paradigm par, birdie_sample *s)
{
    (void)rng;
    int len = (budget - birdie_paradigm_size(par)) / 2;
    if (len > n)
        len = n;
    if (len < arm->min_len)
        return -ENOSPC;
    int at = birdie_prefix_open(par, s);
    memcpy(s->prefix + at, x, (size_t)len * sizeof *x);
    birdie_prefix_close(par, s, at + len);
    memcpy(s->targets, x, (size_t)len * sizeof *x);
    s->ntargets = len;
    s->consumed = len;
    return 0;
}
