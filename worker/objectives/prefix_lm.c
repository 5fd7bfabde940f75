/* worker/objectives/prefix_lm.c: prefix language modelling (docs/algorithm.md §2.3, v1): the chunk is split at s,
 * P = x[0..s), T = x[s..L), with s uniform in [L*f - L*m, L*f + L*m], m = min(f, 1 - f), floored and
 * clamped so that |P| >= 4 and |T| >= 4 (arm lengths are at least 8). */
#include <errno.h>
#include <string.h>

#include "worker/objectives/objective_impl.h"

int birdie_prefix_lm_apply(const birdie_arm *arm, const int32_t *x, int n, int budget, birdie_rng *rng,
                           birdie_paradigm par, birdie_sample *s)
{
    int len = budget - birdie_paradigm_size(par);
    if (len > n)
        len = n;
    if (len < arm->min_len)
        return -ENOSPC;
    double f = arm->split, m = f < 1.0 - f ? f : 1.0 - f;
    double lo = len * (f - m), hi = len * (f + m);
    int split = (int)(lo + birdie_rng_uniform(rng) * (hi - lo));
    if (split < 4)
        split = 4;
    if (split > len - 4)
        split = len - 4;
    int at = birdie_prefix_open(par, s);
    memcpy(s->prefix + at, x, (size_t)split * sizeof *x);
    birdie_prefix_close(par, s, at + split);
    memcpy(s->targets, x + split, (size_t)(len - split) * sizeof *x);
    s->ntargets = len - split;
    s->consumed = len;
    return 0;
}
