/* worker/objectives/deshuffling.c: deshuffling (docs/algorithm.md §2.5, token level as v1, with the share wired in):
 * k = floor(L * share) distinct positions are chosen uniformly and the tokens at them permuted
 * uniformly; P = the shuffled chunk, T = the original chunk. Only chosen positions can change. */
#include <errno.h>
#include <string.h>

#include "worker/objectives/objective_impl.h"

int birdie_deshuffling_apply(const birdie_arm *arm, const int32_t *x, int n, int budget, birdie_rng *rng,
                             birdie_paradigm par, birdie_sample *s)
{
    int len = (budget - birdie_paradigm_size(par)) / 2;
    if (len > n)
        len = n;
    if (len < arm->min_len)
        return -ENOSPC;
    int k = (int)(len * arm->share);
    int32_t *pos = s->work, *val = s->work2;
    /* Partial Fisher-Yates: pos[0..k) becomes a uniform k-subset of [0, len). */
    for (int i = 0; i < len; i++)
        pos[i] = i;
    for (int i = 0; i < k; i++) {
        int j = i + (int)birdie_rng_below(rng, (uint64_t)(len - i));
        int32_t t = pos[i];
        pos[i] = pos[j];
        pos[j] = t;
    }
    for (int i = 0; i < k; i++)
        val[i] = x[pos[i]];
    for (int i = k - 1; i > 0; i--) {
        int j = (int)birdie_rng_below(rng, (uint64_t)i + 1);
        int32_t t = val[i];
        val[i] = val[j];
        val[j] = t;
    }
    int at = birdie_prefix_open(par, s);
    memcpy(s->prefix + at, x, (size_t)len * sizeof *x);
    for (int i = 0; i < k; i++)
        s->prefix[at + pos[i]] = val[i];
    birdie_prefix_close(par, s, at + len);
    memcpy(s->targets, x, (size_t)len * sizeof *x);
    s->ntargets = len;
    s->consumed = len;
    return 0;
}
