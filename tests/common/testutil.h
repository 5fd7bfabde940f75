/* tests/common/testutil.h: small helpers shared by the cmocka tests (random fills, comparisons). */
#ifndef BIRDIE_TESTUTIL_H
#define BIRDIE_TESTUTIL_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "worker/rng.h"

static inline void fill_random(float *x, size_t n, float scale, birdie_rng *rng)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)((2.0 * birdie_rng_uniform(rng) - 1.0) * scale);
}

/* Largest |a-b| / (atol + rtol*|b|) over n elements; <= 1 means within tolerance. */
static inline double max_scaled_error(const float *a, const float *b, size_t n, double atol, double rtol, size_t *worst)
{
    double w = 0.0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - (double)b[i]) / (atol + rtol * fabs((double)b[i]));
        if (!(e <= w)) { /* also catches NaN */
            w = isnan(e) ? INFINITY : e;
            if (worst)
                *worst = i;
        }
    }
    return w;
}

#endif
