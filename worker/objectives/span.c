/* worker/objectives/span.c: the v1 span scan shared by infilling and autoencoding (docs/algorithm.md §2.6, §2.7).
 *
 * v1 draws at every eligible position a length l = max(1, trunc(Normal(w, 1))) and masks a span
 * of l tokens with probability min(1, rate / l); after a span of length l ending at e, positions up
 * to e + floor(l / 3) + 1 are not eligible. Here the same distribution is drawn with one uniform per
 * eligible position: a span starts with probability P(mask) = E[min(1, rate / l)], and only then is
 * l drawn from its distribution given a mask (both tabulated by birdie_arm_finalize). The caller
 * decides what a span does to P and T. */
#include "worker/objectives/objective_impl.h"
#include "worker/vocab.h"

int birdie_span_starts(const birdie_arm *arm, birdie_span_scan *scan, int pos, birdie_rng *rng, int *len)
{
    if (pos < scan->next_free || scan->spans >= BIRDIE_NUM_SENTINELS)
        return 0;
    if (birdie_rng_uniform(rng) >= arm->mask_prob)
        return 0;
    double u = birdie_rng_uniform(rng);
    int i = 0;
    while (i < BIRDIE_SPAN_TABLE - 1 && u >= arm->span_cdf[i])
        i++;
    int l = arm->span_lo + i;
    *len = l;
    scan->next_free = pos + l + l / 3 + 2; /* first eligible: > end + floor(l/3) + 1 */
    return 1;
}

int32_t birdie_span_sentinel(const birdie_arm *arm, int k, birdie_rng *rng)
{
    if (arm->random_sentinels)
        return BIRDIE_SENTINEL0 + (int32_t)birdie_rng_below(rng, BIRDIE_NUM_SENTINELS);
    return BIRDIE_SENTINEL0 + k;
}
