/* kernels/cuda/scan.cu: the gated linear scan over (B,T,N) with reset bits, fp32 state, forward and
 * backward, both directions in one launch (semantics in kernels/ops.h; CPU twin kernels/cpu/scan.c).
 *
 *   forward channel  (n < n_fwd):  h_t = f_t * h_{t-1} + x_t, walking t = 0 .. T-1;
 *   reverse channel  (n >= n_fwd): h_t = f_t * h_{t+1} + x_t, walking t = T-1 .. 0;
 * a channel restarts (f_t := 0) at the first position of its walk and where resets[b,t] has its
 * direction's bit. The backward walks each channel the other way with the carried gradient
 *   g_t = dh_t + carry,  dx_t = g_t,  df_t = g_t * h_prev (0 at a restart),  carry = f_t * g_t (0 at a restart),
 * where h_prev is the state the forward read at t (h_{t-1} or h_{t+1}).
 *
 * Layout and speed: one thread per (b, n) channel walks T; neighbouring threads are neighbouring n,
 * so every load and store of a step is coalesced across the warp, and the reset byte of (b, t) is one
 * broadcast. The scan is memory-bound with a serial dependency per channel: to keep enough bytes in
 * flight (Little's law, docs/design.md §7.2: ~100 B per thread at B*N ~ 20K threads) each
 * thread loads SCAN_PREFETCH steps (16 or 32, below) of its inputs into registers before using any of
 * them. Bytes moved:
 * forward 12 per element (x, f in; h out), backward 20 (dh, f, h_prev in; dx, df out).
 * A GPU session should measure GB/s of both against birdie_cuda_measure_copy_bandwidth at the model's
 * shapes (B*N of 4K..40K channels, T = 2048) and, where B*N is small, consider a chunked scan over T. */
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_ops.h"

/* 64 threads a block: with one thread per channel the models have only B*N = 4K..40K threads (at
 * 125M, B = 8: 12288), and 128-thread blocks would leave a third of an H100's 132 SMs without one
 * (96 blocks). An SM holds 32 blocks, so small blocks cost no occupancy. */
enum { SCAN_BLOCK = 64 };

/* Steps of loads each thread keeps in flight. Little's law: the copy rate needs about bandwidth x
 * latency (3.35 TB/s x ~0.7 us, some 2.3 MB on an H100) in flight. With 16 steps of x and f (128 B a
 * thread) that takes ~18K channels; the S model has B*N = 4K and 125M 12K, so fewer channels get
 * 32 steps (256 B a thread; 167 and 186 registers, no spills, where 64 steps spill). Not measured. */
enum { SCAN_PREFETCH_SHALLOW = 16, SCAN_PREFETCH_DEEP = 32, SCAN_DEEP_BELOW_CHANNELS = 32768 };

/* Position of the k-th step of a walk over [0, T): left to right when ascending, else right to left. */
__device__ inline int walk_position(int k, int T, bool ascending)
{
    return ascending ? k : T - 1 - k;
}

/* The (b, n) channel of this thread: its direction, its reset bit, its row's reset bytes and the
 * index of element (b, 0, n) (element (b, t, n) is base + t*N). False past the last channel. */
struct ScanChannel {
    bool forward;
    uint8_t reset_bit;
    const uint8_t *row_resets;
    size_t base;
};

__device__ inline bool scan_channel(int B, int T, int N, int n_fwd, const uint8_t *resets, ScanChannel *c)
{
    const long long channel = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (channel >= (long long)B * N)
        return false;
    const int b = (int)(channel / N), n = (int)(channel % N);
    c->forward = n < n_fwd; /* forward channels walk left to right */
    c->reset_bit = c->forward ? BIRDIE_RESET_FWD : BIRDIE_RESET_REV;
    c->row_resets = resets + (size_t)b * T;
    c->base = (size_t)b * T * N + n;
    return true;
}

template <int SCAN_PREFETCH>
__global__ void __launch_bounds__(SCAN_BLOCK)
    scan_forward_kernel(float *h, const float *__restrict__ x, const float *__restrict__ f,
                        const uint8_t *__restrict__ resets, int B, int T, int N, int n_fwd)
{
    ScanChannel c;
    if (!scan_channel(B, T, N, n_fwd, resets, &c))
        return;
    float state = 0.0f;
    for (int k0 = 0; k0 < T; k0 += SCAN_PREFETCH) {
        float xs[SCAN_PREFETCH], fs[SCAN_PREFETCH];
        uint8_t rs[SCAN_PREFETCH];
#pragma unroll
        for (int u = 0; u < SCAN_PREFETCH; u++) {
            xs[u] = 0.0f, fs[u] = 0.0f, rs[u] = 0;
            if (k0 + u < T) {
                int t = walk_position(k0 + u, T, c.forward);
                xs[u] = x[c.base + (size_t)t * N];
                fs[u] = f[c.base + (size_t)t * N];
                rs[u] = c.row_resets[t];
            }
        }
#pragma unroll
        for (int u = 0; u < SCAN_PREFETCH; u++) {
            if (k0 + u < T) {
                int t = walk_position(k0 + u, T, c.forward);
                bool restart = k0 + u == 0 || (rs[u] & c.reset_bit);
                /* A restart drops the old state outright (not 0 * state), so it cuts off a non-finite one. */
                state = restart ? xs[u] : fs[u] * state + xs[u];
                h[c.base + (size_t)t * N] = state;
            }
        }
    }
}

template <int SCAN_PREFETCH>
__global__ void __launch_bounds__(SCAN_BLOCK)
    scan_backward_kernel(float *dx, float *df, const float *__restrict__ dh, const float *__restrict__ h,
                         const float *__restrict__ f, const uint8_t *__restrict__ resets, int B, int T, int N,
                         int n_fwd)
{
    ScanChannel c;
    if (!scan_channel(B, T, N, n_fwd, resets, &c))
        return;
    const int walk_start = c.forward ? 0 : T - 1; /* where the forward walk began */
    const int prev_offset = c.forward ? -1 : 1; /* h_prev is h at t + prev_offset */
    float carry = 0.0f;
    for (int k0 = 0; k0 < T; k0 += SCAN_PREFETCH) {
        float dhs[SCAN_PREFETCH], fs[SCAN_PREFETCH], hprev[SCAN_PREFETCH];
        uint8_t restart[SCAN_PREFETCH];
#pragma unroll
        for (int u = 0; u < SCAN_PREFETCH; u++) {
            dhs[u] = 0.0f, fs[u] = 0.0f, hprev[u] = 0.0f, restart[u] = 1;
            if (k0 + u < T) {
                int t = walk_position(k0 + u, T, !c.forward); /* the backward walks the other way */
                restart[u] = t == walk_start || (c.row_resets[t] & c.reset_bit);
                dhs[u] = dh[c.base + (size_t)t * N];
                fs[u] = f[c.base + (size_t)t * N];
                if (t != walk_start)
                    hprev[u] = h[c.base + (size_t)(t + prev_offset) * N];
            }
        }
#pragma unroll
        for (int u = 0; u < SCAN_PREFETCH; u++) {
            if (k0 + u < T) {
                int t = walk_position(k0 + u, T, !c.forward);
                float g = dhs[u] + carry;
                dx[c.base + (size_t)t * N] = g;
                df[c.base + (size_t)t * N] = restart[u] ? 0.0f : g * hprev[u];
                carry = restart[u] ? 0.0f : fs[u] * g;
            }
        }
    }
}

static bool scan_shape_ok(int B, int T, int N)
{
    return B > 0 && T > 0 && N > 0;
}

static bool scan_deep(int B, int N)
{
    return (long long)B * N < SCAN_DEEP_BELOW_CHANNELS;
}

static unsigned int scan_blocks(int B, int N)
{
    return (unsigned int)(((long long)B * N + SCAN_BLOCK - 1) / SCAN_BLOCK);
}

extern "C" void cuda_scan_forward(float *h, const float *x, const float *f, const uint8_t *resets, int B, int T, int N,
                                  int n_fwd)
{
    if (!scan_shape_ok(B, T, N))
        return;
    if (scan_deep(B, N))
        scan_forward_kernel<SCAN_PREFETCH_DEEP><<<scan_blocks(B, N), SCAN_BLOCK>>>(h, x, f, resets, B, T, N, n_fwd);
    else
        scan_forward_kernel<SCAN_PREFETCH_SHALLOW><<<scan_blocks(B, N), SCAN_BLOCK>>>(h, x, f, resets, B, T, N, n_fwd);
    CUDA_CHECK_LAUNCH();
}

extern "C" void cuda_scan_backward(float *dx, float *df, const float *dh, const float *h, const float *f,
                                   const uint8_t *resets, int B, int T, int N, int n_fwd)
{
    if (!scan_shape_ok(B, T, N))
        return;
    if (scan_deep(B, N))
        scan_backward_kernel<SCAN_PREFETCH_DEEP>
            <<<scan_blocks(B, N), SCAN_BLOCK>>>(dx, df, dh, h, f, resets, B, T, N, n_fwd);
    else
        scan_backward_kernel<SCAN_PREFETCH_SHALLOW>
            <<<scan_blocks(B, N), SCAN_BLOCK>>>(dx, df, dh, h, f, resets, B, T, N, n_fwd);
    CUDA_CHECK_LAUNCH();
}
