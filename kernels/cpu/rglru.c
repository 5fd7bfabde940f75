/* kernels/cpu/rglru.c: the RG-LRU gate math of a Hawk block (docs/algorithm.md §1.5) and its backward: from
 * the gate pre-activations [a_r | a_i], the conv output v and the decay parameter lambda, the scan's gate a
 * and input x = sqrt(1 - a^2) * i * v. The recurrence h_t = a_t h_{t-1} + x_t is the gated scan (scan.c).
 *
 * 1 - a^2 is computed as -expm1(2 log a), not from a itself: a close to 1 (a long memory) would otherwise
 * lose every significant digit of 1 - a^2 to cancellation. The backward takes d sqrt(s)/ds at
 * max(s, 1/(4 g^2)), g = BIRDIE_RGLRU_GRAD_MAX, the bounded derivative without which Hawk does not train.
 * Work is cut into channel blocks that each run over every position in order, so the lambda gradient is a
 * fixed-order sum whatever the thread count. */
#include <math.h>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/parallel.h"

enum { RGLRU_BLOCK = 64 };
#define RGLRU_C 8.0f

static inline float sigmoid(float x)
{
    return 1.0f / (1.0f + expf(-x));
}

/* softplus(z) = log(1 + e^z) without overflow. */
static inline float softplus(float z)
{
    return fmaxf(z, 0.0f) + log1pf(expf(-fabsf(z)));
}

static inline int channel_reset(uint8_t bits, int n, int n_fwd)
{
    return (bits & (n < n_fwd ? BIRDIE_RESET_FWD : BIRDIE_RESET_REV)) != 0;
}

/* softplus(-lambda) of channels [c0, c1) (at most RGLRU_BLOCK): a per-channel constant of every position. */
static void channel_softplus(float *sp, const float *lambda, int c0, int c1)
{
    for (int n = c0; n < c1; n++)
        sp[n - c0] = softplus(-lambda[n]);
}

CPU_HOT static void rglru_forward_rows(float *x, float *a, const float *gates, const float *v, const float *lambda,
                                       const uint8_t *resets, int N, int n_fwd, long bt0, long bt1)
{
    float sp[RGLRU_BLOCK];
    for (int c0 = 0; c0 < N; c0 += RGLRU_BLOCK) {
        int c1 = c0 + RGLRU_BLOCK < N ? c0 + RGLRU_BLOCK : N;
        channel_softplus(sp, lambda, c0, c1);
        for (long bt = bt0; bt < bt1; bt++) {
            const float *ar = gates + (size_t)bt * 2 * N, *ai = ar + N, *vr = v + (size_t)bt * N;
            float *xr = x + (size_t)bt * N, *aout = a + (size_t)bt * N;
            for (int n = c0; n < c1; n++) {
                float i = sigmoid(ai[n]), scale = 1.0f, an = 0.0f;
                if (!channel_reset(resets[bt], n, n_fwd)) {
                    float log_a = -RGLRU_C * sigmoid(ar[n]) * sp[n - c0];
                    an = expf(log_a);
                    scale = sqrtf(-expm1f(2.0f * log_a));
                }
                aout[n] = an;
                xr[n] = scale * i * vr[n];
            }
        }
    }
}

void cpu_rglru_forward(float *x, float *a, const float *gates, const float *v, const float *lambda,
                       const uint8_t *resets, int B, int T, int N, int n_fwd)
{
    long BT = (long)B * T;
    CPU_PARALLEL_RANGE(BT, BT * N * 8, lo, hi, rglru_forward_rows(x, a, gates, v, lambda, resets, N, n_fwd, lo, hi));
}

static void rglru_backward_block(float *dgates, float *dv, float *dlambda, const float *dx, const float *da,
                                 const float *gates, const float *v, const float *lambda, const uint8_t *resets,
                                 long BT, int N, int n_fwd, int c0, int c1)
{
    const float s_min = 1.0f / (4.0f * BIRDIE_RGLRU_GRAD_MAX * BIRDIE_RGLRU_GRAD_MAX);
    float spb[RGLRU_BLOCK], sneg[RGLRU_BLOCK];
    channel_softplus(spb, lambda, c0, c1);
    for (int n = c0; n < c1; n++)
        sneg[n - c0] = sigmoid(-lambda[n]);
    for (long bt = 0; bt < BT; bt++) {
        const float *ar = gates + (size_t)bt * 2 * N, *ai = ar + N, *vr = v + (size_t)bt * N;
        const float *dxr = dx + (size_t)bt * N, *dar = da + (size_t)bt * N;
        float *dgr = dgates + (size_t)bt * 2 * N, *dgi = dgr + N, *dvr = dv + (size_t)bt * N;
        for (int n = c0; n < c1; n++) {
            float i = sigmoid(ai[n]);
            if (channel_reset(resets[bt], n, n_fwd)) { /* a = 0, scale = 1: no path through a_r or lambda */
                dvr[n] = dxr[n] * i;
                dgi[n] = dxr[n] * vr[n] * i * (1.0f - i);
                dgr[n] = 0.0f;
                continue;
            }
            float r = sigmoid(ar[n]), sp = spb[n - c0];
            float log_a = -RGLRU_C * r * sp, an = expf(log_a), s = -expm1f(2.0f * log_a), scale = sqrtf(s);
            dvr[n] = dxr[n] * scale * i;
            dgi[n] = dxr[n] * scale * vr[n] * i * (1.0f - i);
            float dscale = dxr[n] * i * vr[n];
            float dsqrt = 0.5f / sqrtf(fmaxf(s, s_min));
            float dlog_a = (dar[n] + dscale * dsqrt * (-2.0f * an)) * an;
            dgr[n] = dlog_a * (-RGLRU_C * sp) * r * (1.0f - r);
            dlambda[n] += dlog_a * RGLRU_C * r * sneg[n - c0];
        }
    }
}

CPU_HOT static void rglru_backward_blocks(float *dgates, float *dv, float *dlambda, const float *dx, const float *da,
                                          const float *gates, const float *v, const float *lambda,
                                          const uint8_t *resets, long BT, int N, int n_fwd, long k0, long k1)
{
    for (long k = k0; k < k1; k++) {
        int c0 = (int)k * RGLRU_BLOCK, c1 = c0 + RGLRU_BLOCK < N ? c0 + RGLRU_BLOCK : N;
        rglru_backward_block(dgates, dv, dlambda, dx, da, gates, v, lambda, resets, BT, N, n_fwd, c0, c1);
    }
}

void cpu_rglru_backward(float *dgates, float *dv, float *dlambda, const float *dx, const float *da, const float *gates,
                        const float *v, const float *lambda, const uint8_t *resets, int B, int T, int N, int n_fwd)
{
    long BT = (long)B * T, blocks = (N + RGLRU_BLOCK - 1) / RGLRU_BLOCK;
    CPU_PARALLEL_RANGE(
        blocks, BT * N * 8, lo, hi,
        rglru_backward_blocks(dgates, dv, dlambda, dx, da, gates, v, lambda, resets, BT, N, n_fwd, lo, hi));
}
