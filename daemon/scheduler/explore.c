/* daemon/scheduler/explore.c: exploration probability (docs/algorithm.md §3.7, v2's make_cosine_decay_schedule) and the
 * v2 explore vector. The schedule's lengths are integer steps, floor(fraction * horizon), which is
 * what makes E(819) = 0.5 with the v2 defaults (cook = 819, not 819.2). */
#include <math.h>

#include "daemon/scheduler/explore.h"
#include "daemon/scheduler/scheduler.h"

#define EXPLORE_PI 3.141592653589793
#define EXPLORE_OTHER_MASS 0.005

double birdie_explore_prob(const birdie_explore_params *p, int64_t step)
{
    double horizon = (double)p->horizon;
    int64_t cook = (int64_t)floor(p->cook_frac * horizon);
    int64_t warmup = (int64_t)floor(p->warmup_frac * horizon);
    int64_t decay = (int64_t)floor(p->decay_frac * horizon);
    if (step < cook)
        return p->cook_prob;
    double span = (double)(decay - 1 - warmup); /* > 0, checked with the config */
    double s = fmin(fmax((double)(step - warmup), 0.0), span);
    double shrink = pow(p->decay_factor, s / (2.0 * (double)decay - 2.0));
    double e = p->rate_min + (p->rate_max - p->rate_min) / 2.0 * (1.0 + shrink * cos(EXPLORE_PI * s / span));
    return fmin(fmax(e, p->rate_min), p->rate_max);
}

void sched_explore_vector(double *out, int n_arms, const int *arm_class, int n_classes, const int *class_size,
                          birdie_rng *rng)
{
    int k = (int)birdie_rng_range(rng, 1, 2);
    int picked[2] = {-1, -1};
    for (int j = 0; j < k; j++)
        picked[j] = (int)birdie_rng_below(rng, (uint64_t)n_classes);
    int denom = n_arms - k > 1 ? n_arms - k : 1;
    double other_mass = (double)n_arms / (double)denom * EXPLORE_OTHER_MASS * (double)k;
    double picked_sum[2] = {0.0, 0.0};
    for (int i = 0; i < n_arms; i++) {
        int c = arm_class[i];
        if (c == picked[0] || c == picked[1]) {
            out[i] = 1.0 - birdie_rng_uniform(rng); /* (0, 1]: a picked class never has zero mass */
            picked_sum[c == picked[0] ? 0 : 1] += out[i];
        } else {
            out[i] = other_mass / (double)class_size[c];
        }
    }
    for (int i = 0; i < n_arms; i++) {
        int c = arm_class[i];
        if (c == picked[0] || c == picked[1])
            out[i] /= picked_sum[c == picked[0] ? 0 : 1];
    }
    double total = 0.0;
    for (int i = 0; i < n_arms; i++)
        total += out[i];
    for (int i = 0; i < n_arms; i++)
        out[i] /= total;
}
