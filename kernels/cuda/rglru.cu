/* kernels/cuda/rglru.cu: the RG-LRU gate math of Hawk and its backward (docs/algorithm.md §1.5; semantics in
 * kernels/ops.h, CPU twin kernels/cpu/rglru.c, same formulas: 1 - a^2 as -expm1(2 log a), the square root's
 * derivative capped at BIRDIE_RGLRU_GRAD_MAX). The forward and the per-position gradients are one thread per
 * (position, channel); the lambda gradient is one thread per channel summing every position in order (no
 * float atomics). */
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_ops.h"

#define RGLRU_C 8.0f

__device__ inline float rg_sigmoid(float x)
{
    return 1.0f / (1.0f + expf(-x));
}

__device__ inline float rg_softplus(float z)
{
    return fmaxf(z, 0.0f) + log1pf(expf(-fabsf(z)));
}

__device__ inline int rg_reset(uint8_t bits, int n, int n_fwd)
{
    return (bits & (n < n_fwd ? BIRDIE_RESET_FWD : BIRDIE_RESET_REV)) != 0;
}

__global__ void rglru_forward_kernel(float *x, float *a, const float *__restrict__ gates, const float *__restrict__ v,
                                     const float *__restrict__ lambda, const uint8_t *__restrict__ resets, int N,
                                     int n_fwd, size_t n_elems)
{
    GRID_STRIDE_LOOP(i, n_elems)
    {
        size_t bt = i / (size_t)N;
        int n = (int)(i % (size_t)N);
        float ig = rg_sigmoid(gates[bt * 2 * N + N + n]), scale = 1.0f, an = 0.0f;
        if (!rg_reset(resets[bt], n, n_fwd)) {
            float log_a = -RGLRU_C * rg_sigmoid(gates[bt * 2 * N + n]) * rg_softplus(-lambda[n]);
            an = expf(log_a);
            scale = sqrtf(-expm1f(2.0f * log_a));
        }
        a[i] = an;
        x[i] = scale * ig * v[i];
    }
}

/* d log a at (bt, n) from dx and da; 0 at a reset. */
__device__ inline float rg_dlog_a(float dx, float da, float ig, float v, float r, float sp)
{
    const float s_min = 1.0f / (4.0f * BIRDIE_RGLRU_GRAD_MAX * BIRDIE_RGLRU_GRAD_MAX);
    float log_a = -RGLRU_C * r * sp, an = expf(log_a), s = -expm1f(2.0f * log_a);
    float dsqrt = 0.5f / sqrtf(fmaxf(s, s_min));
    return (da + dx * ig * v * dsqrt * (-2.0f * an)) * an;
}

__global__ void rglru_backward_kernel(float *dgates, float *dv, const float *__restrict__ dx,
                                      const float *__restrict__ da, const float *__restrict__ gates,
                                      const float *__restrict__ v, const float *__restrict__ lambda,
                                      const uint8_t *__restrict__ resets, int N, int n_fwd, size_t n_elems)
{
    GRID_STRIDE_LOOP(i, n_elems)
    {
        size_t bt = i / (size_t)N, gr = bt * 2 * N + (i % (size_t)N);
        int n = (int)(i % (size_t)N);
        float ig = rg_sigmoid(gates[gr + N]), vi = v[i], dxi = dx[i];
        if (rg_reset(resets[bt], n, n_fwd)) {
            dv[i] = dxi * ig;
            dgates[gr + N] = dxi * vi * ig * (1.0f - ig);
            dgates[gr] = 0.0f;
            continue;
        }
        float r = rg_sigmoid(gates[gr]), sp = rg_softplus(-lambda[n]);
        float scale = sqrtf(-expm1f(2.0f * (-RGLRU_C * r * sp)));
        dv[i] = dxi * scale * ig;
        dgates[gr + N] = dxi * scale * vi * ig * (1.0f - ig);
        dgates[gr] = rg_dlog_a(dxi, da[i], ig, vi, r, sp) * (-RGLRU_C * sp) * r * (1.0f - r);
    }
}

__global__ void rglru_dlambda_kernel(float *dlambda, const float *__restrict__ dx, const float *__restrict__ da,
                                     const float *__restrict__ gates, const float *__restrict__ v,
                                     const float *__restrict__ lambda, const uint8_t *__restrict__ resets, size_t BT,
                                     int N, int n_fwd)
{
    int n = blockIdx.x * blockDim.x + threadIdx.x;
    if (n >= N)
        return;
    float sp = rg_softplus(-lambda[n]), sneg = rg_sigmoid(-lambda[n]), acc = dlambda[n];
    for (size_t bt = 0; bt < BT; bt++) {
        if (rg_reset(resets[bt], n, n_fwd))
            continue;
        size_t i = bt * N + n, gr = bt * 2 * N + n;
        float r = rg_sigmoid(gates[gr]), ig = rg_sigmoid(gates[gr + N]);
        acc += rg_dlog_a(dx[i], da[i], ig, v[i], r, sp) * RGLRU_C * r * sneg;
    }
    dlambda[n] = acc;
}

extern "C" void cuda_rglru_forward(float *x, float *a, const float *gates, const float *v, const float *lambda,
                                   const uint8_t *resets, int B, int T, int N, int n_fwd)
{
    size_t n = B > 0 && T > 0 && N > 0 ? (size_t)B * T * N : 0;
    if (!n)
        return;
    rglru_forward_kernel<<<grid_stride_blocks(n, ELEMENTWISE_BLOCK), ELEMENTWISE_BLOCK>>>(x, a, gates, v, lambda,
                                                                                          resets, N, n_fwd, n);
    CUDA_CHECK_LAUNCH();
}

extern "C" void cuda_rglru_backward(float *dgates, float *dv, float *dlambda, const float *dx, const float *da,
                                    const float *gates, const float *v, const float *lambda, const uint8_t *resets,
                                    int B, int T, int N, int n_fwd)
{
    size_t n = B > 0 && T > 0 && N > 0 ? (size_t)B * T * N : 0;
    if (!n)
        return;
    rglru_backward_kernel<<<grid_stride_blocks(n, ELEMENTWISE_BLOCK), ELEMENTWISE_BLOCK>>>(dgates, dv, dx, da, gates, v,
                                                                                           lambda, resets, N, n_fwd, n);
    CUDA_CHECK_LAUNCH();
    rglru_dlambda_kernel<<<ceil_div(N, 128), 128>>>(dlambda, dx, da, gates, v, lambda, resets, (size_t)B * T, N, n_fwd);
    CUDA_CHECK_LAUNCH();
}
