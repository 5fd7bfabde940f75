/* worker/objectives/ntp.c: next-token prediction (docs/algorithm.md §2.2): P = {}, T = the chunk, no paradigm token.
 * The chunk is cut to the budget. */
#include <errno.h>
#include <string.h>

#include "worker/objectives/objective_impl.h"

int birdie_ntp_apply(const birdie_arm *arm, const int32_t *x, int n, int budget, birdie_rng *rng, birdie_paradigm par,
                     birdie_sample *s)
{
    (void)rng;
    (void)par;
    int len = n < budget ? n : budget;
    if (len < arm->min_len)
        return -ENOSPC;
    memcpy(s->targets, x, (size_t)len * sizeof *x);
    s->ntargets = len;
    s->nprefix = 0;
    s->consumed = len;
    return 0;
}
