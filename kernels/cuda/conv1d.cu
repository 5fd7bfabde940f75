/* kernels/cuda/conv1d.cu: Hawk's depthwise temporal conv and its backward (docs/algorithm.md §1.5; semantics
 * in kernels/ops.h, CPU twin kernels/cpu/conv1d.c, same taps and reset rules). The forward and the input
 * gradient are one thread per (position, channel); the weight and bias gradients are one thread per channel
 * that walks every position in order, a fixed-order sum with no float atomics (simple rather than fast: it
 * parallelises over channels only). */
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_ops.h"

__device__ inline int taps_back(const uint8_t *rb, int t)
{
    int k = 1;
    while (k < BIRDIE_CONV_WIDTH && t - k >= 0 && !(rb[t - k + 1] & BIRDIE_RESET_FWD))
        k++;
    return k;
}

__device__ inline int taps_ahead(const uint8_t *rb, int t, int T)
{
    int k = 1;
    while (k < BIRDIE_CONV_WIDTH && t + k < T && !(rb[t + k - 1] & BIRDIE_RESET_REV))
        k++;
    return k;
}

__global__ void conv1d_forward_kernel(float *out, const float *__restrict__ inp, int ld_in, const float *__restrict__ w,
                                      const float *__restrict__ b, const uint8_t *__restrict__ resets, int T, int N,
                                      int n_fwd, size_t n_elems)
{
    GRID_STRIDE_LOOP(i, n_elems)
    {
        size_t bt = i / (size_t)N;
        int n = (int)(i % (size_t)N), t = (int)(bt % (size_t)T);
        const uint8_t *rb = resets + (bt - (size_t)t);
        float acc = b[n];
        if (n < n_fwd) {
            int kb = taps_back(rb, t);
            for (int k = 0; k < kb; k++)
                acc += w[(size_t)k * N + n] * inp[(bt - (size_t)k) * ld_in + n];
        } else {
            int ka = taps_ahead(rb, t, T);
            for (int k = 0; k < ka; k++)
                acc += w[(size_t)k * N + n] * inp[(bt + (size_t)k) * ld_in + n];
        }
        out[i] = acc;
    }
}

__global__ void conv1d_dinp_kernel(float *dinp, int ld_in, const float *__restrict__ dout, const float *__restrict__ w,
                                   const uint8_t *__restrict__ resets, int T, int N, int n_fwd, size_t n_elems)
{
    GRID_STRIDE_LOOP(i, n_elems)
    {
        size_t bs = i / (size_t)N;
        int n = (int)(i % (size_t)N), s = (int)(bs % (size_t)T);
        const uint8_t *rb = resets + (bs - (size_t)s);
        float acc = 0.0f;
        for (int k = 0; k < BIRDIE_CONV_WIDTH; k++) {
            if (n < n_fwd) {
                if (s + k < T && taps_back(rb, s + k) > k)
                    acc += w[(size_t)k * N + n] * dout[(bs + (size_t)k) * N + n];
            } else if (s - k >= 0 && taps_ahead(rb, s - k, T) > k) {
                acc += w[(size_t)k * N + n] * dout[(bs - (size_t)k) * N + n];
            }
        }
        dinp[bs * ld_in + n] = acc;
    }
}

__global__ void conv1d_dweight_kernel(float *dw, float *db, const float *__restrict__ dout,
                                      const float *__restrict__ inp, int ld_in, const uint8_t *__restrict__ resets,
                                      int B, int T, int N, int n_fwd)
{
    int n = blockIdx.x * blockDim.x + threadIdx.x;
    if (n >= N)
        return;
    float acc_b = db[n], acc_w[BIRDIE_CONV_WIDTH];
    for (int k = 0; k < BIRDIE_CONV_WIDTH; k++)
        acc_w[k] = dw[(size_t)k * N + n];
    for (size_t bt = 0; bt < (size_t)B * T; bt++) {
        int t = (int)(bt % (size_t)T);
        const uint8_t *rb = resets + (bt - (size_t)t);
        float g = dout[bt * N + n];
        acc_b += g;
        if (n < n_fwd) {
            int kb = taps_back(rb, t);
            for (int k = 0; k < kb; k++)
                acc_w[k] += g * inp[(bt - (size_t)k) * ld_in + n];
        } else {
            int ka = taps_ahead(rb, t, T);
            for (int k = 0; k < ka; k++)
                acc_w[k] += g * inp[(bt + (size_t)k) * ld_in + n];
        }
    }
    db[n] = acc_b;
    for (int k = 0; k < BIRDIE_CONV_WIDTH; k++)
        dw[(size_t)k * N + n] = acc_w[k];
}

extern "C" void cuda_conv1d_forward(float *out, const float *inp, int ld_in, const float *w, const float *b,
                                    const uint8_t *resets, int B, int T, int N, int n_fwd)
{
    size_t n = B > 0 && T > 0 && N > 0 ? (size_t)B * T * N : 0;
    if (!n)
        return;
    conv1d_forward_kernel<<<grid_stride_blocks(n, ELEMENTWISE_BLOCK), ELEMENTWISE_BLOCK>>>(out, inp, ld_in, w, b,
                                                                                           resets, T, N, n_fwd, n);
    CUDA_CHECK_LAUNCH();
}

extern "C" void cuda_conv1d_backward(float *dinp, int ld_in, float *dw, float *db, const float *dout, const float *inp,
                                     const float *w, const uint8_t *resets, int B, int T, int N, int n_fwd)
{
    size_t n = B > 0 && T > 0 && N > 0 ? (size_t)B * T * N : 0;
    if (!n)
        return;
    conv1d_dinp_kernel<<<grid_stride_blocks(n, ELEMENTWISE_BLOCK), ELEMENTWISE_BLOCK>>>(dinp, ld_in, dout, w, resets, T,
                                                                                        N, n_fwd, n);
    CUDA_CHECK_LAUNCH();
    conv1d_dweight_kernel<<<ceil_div(N, 128), 128>>>(dw, db, dout, inp, ld_in, resets, B, T, N, n_fwd);
    CUDA_CHECK_LAUNCH();
}
