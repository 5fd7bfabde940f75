/* kernels/cuda/attention.cu: fused, tiled attention with the packed rows' segment + prefix mask, its backward
 * and the cached one-query step (kernels/ops.h; CPU twin kernels/cpu/attention.c, same mask and online softmax).
 *
 * Forward: a block of QT threads owns QT queries of one (row, head); each thread keeps its query, running
 * maximum, running sum and value accumulator in registers while the block walks the keys in tiles of KT staged
 * in shared memory, over the union of its queries' key ranges only. No score matrix is ever stored. Backward
 * (FlashAttention-2 split, no atomics, so deterministic): one kernel with a thread per query accumulates dQ over
 * key tiles; one with a thread per key accumulates dK and dV over query tiles, recomputing the probabilities from
 * the saved log-sum-exp. Key ranges come from the reset bits by a short walk per thread. head_dim <= MAXD.
 * Written for correctness and O(T) memory, not tuned (no tensor cores). */
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_ops.h"

enum { QT = 64, KT = 32, MAXD = 128 };

__device__ inline int range_lo(const uint8_t *rb, int t)
{
    while (t > 0 && !(rb[t] & BIRDIE_RESET_FWD))
        t--;
    return t;
}

__device__ inline int range_hi(const uint8_t *rb, int t, int T, int prefix_lm)
{
    if (!prefix_lm || (rb[t] & BIRDIE_RESET_REV))
        return t;
    while (t + 1 < T && !(rb[t + 1] & (BIRDIE_RESET_REV | BIRDIE_RESET_FWD)))
        t++;
    return t;
}

/* The end (exclusive) of the sample holding t: the next sample start, or T. */
__device__ inline int sample_end(const uint8_t *rb, int t, int T)
{
    t++;
    while (t < T && !(rb[t] & BIRDIE_RESET_FWD))
        t++;
    return t;
}

__global__ void attention_forward_kernel(float *out, float *lse, const float *__restrict__ qkv,
                                         const uint8_t *__restrict__ resets, int T, int H, int D, int prefix_lm)
{
    __shared__ float ks[KT][MAXD], vs[KT][MAXD];
    __shared__ int block_k0, block_k1;
    int b = blockIdx.z, h = blockIdx.y, q = blockIdx.x * QT + threadIdx.x, C = H * D;
    size_t ld = (size_t)3 * C, base = (size_t)b * T;
    const uint8_t *rb = resets + base;
    const float scale = rsqrtf((float)D);
    if (threadIdx.x == 0) {
        block_k0 = T;
        block_k1 = 0;
    }
    __syncthreads();
    int lo = 0, hi = -1;
    float qv[MAXD], acc[MAXD], m = -INFINITY, l = 0.0f;
    if (q < T) {
        lo = range_lo(rb, q);
        hi = range_hi(rb, q, T, prefix_lm);
        atomicMin(&block_k0, lo);
        atomicMax(&block_k1, hi + 1);
        for (int d = 0; d < D; d++) {
            qv[d] = qkv[(base + q) * ld + (size_t)h * D + d] * scale;
            acc[d] = 0.0f;
        }
    }
    __syncthreads();
    for (int j0 = block_k0; j0 < block_k1; j0 += KT) {
        int nk = min(KT, block_k1 - j0);
        for (int e = threadIdx.x; e < nk * D; e += blockDim.x) {
            int j = e / D, d = e % D;
            const float *row = qkv + (base + j0 + j) * ld + (size_t)h * D;
            ks[j][d] = row[C + d];
            vs[j][d] = row[2 * C + d];
        }
        __syncthreads();
        if (q < T) {
            for (int j = 0; j < nk; j++) {
                int key = j0 + j;
                if (key < lo || key > hi)
                    continue;
                float sc = 0.0f;
                for (int d = 0; d < D; d++)
                    sc += qv[d] * ks[j][d];
                float mx = fmaxf(m, sc), corr = expf(m - mx), p = expf(sc - mx);
                for (int d = 0; d < D; d++)
                    acc[d] = acc[d] * corr + p * vs[j][d];
                l = l * corr + p;
                m = mx;
            }
        }
        __syncthreads();
    }
    if (q < T) {
        float inv = 1.0f / l;
        for (int d = 0; d < D; d++)
            out[(base + q) * C + (size_t)h * D + d] = acc[d] * inv;
        lse[((size_t)b * H + h) * T + q] = m + logf(l);
    }
}

/* dQ_i = scale sum_j P_ij (dO_i . V_j - D_i) K_j, one thread per query. */
__global__ void attention_dq_kernel(float *dqkv, const float *__restrict__ dout, const float *__restrict__ qkv,
                                    const float *__restrict__ out, const float *__restrict__ lse,
                                    const uint8_t *__restrict__ resets, int T, int H, int D, int prefix_lm)
{
    __shared__ float ks[KT][MAXD], vs[KT][MAXD];
    __shared__ int block_k0, block_k1;
    int b = blockIdx.z, h = blockIdx.y, q = blockIdx.x * QT + threadIdx.x, C = H * D;
    size_t ld = (size_t)3 * C, base = (size_t)b * T;
    const uint8_t *rb = resets + base;
    const float scale = rsqrtf((float)D);
    if (threadIdx.x == 0) {
        block_k0 = T;
        block_k1 = 0;
    }
    __syncthreads();
    int lo = 0, hi = -1;
    float qv[MAXD], dov[MAXD], dq[MAXD], Di = 0.0f, L = 0.0f;
    if (q < T) {
        lo = range_lo(rb, q);
        hi = range_hi(rb, q, T, prefix_lm);
        atomicMin(&block_k0, lo);
        atomicMax(&block_k1, hi + 1);
        for (int d = 0; d < D; d++) {
            qv[d] = qkv[(base + q) * ld + (size_t)h * D + d];
            dov[d] = dout[(base + q) * C + (size_t)h * D + d];
            Di += dov[d] * out[(base + q) * C + (size_t)h * D + d];
            dq[d] = 0.0f;
        }
        L = lse[((size_t)b * H + h) * T + q];
    }
    __syncthreads();
    for (int j0 = block_k0; j0 < block_k1; j0 += KT) {
        int nk = min(KT, block_k1 - j0);
        for (int e = threadIdx.x; e < nk * D; e += blockDim.x) {
            int j = e / D, d = e % D;
            const float *row = qkv + (base + j0 + j) * ld + (size_t)h * D;
            ks[j][d] = row[C + d];
            vs[j][d] = row[2 * C + d];
        }
        __syncthreads();
        if (q < T) {
            for (int j = 0; j < nk; j++) {
                int key = j0 + j;
                if (key < lo || key > hi)
                    continue;
                float sc = 0.0f, dp = 0.0f;
                for (int d = 0; d < D; d++) {
                    sc += qv[d] * ks[j][d];
                    dp += dov[d] * vs[j][d];
                }
                float p = expf(sc * scale - L), ds = p * (dp - Di) * scale;
                for (int d = 0; d < D; d++)
                    dq[d] += ds * ks[j][d];
            }
        }
        __syncthreads();
    }
    if (q < T)
        for (int d = 0; d < D; d++)
            dqkv[(base + q) * ld + (size_t)h * D + d] = dq[d];
}

/* dK_j = scale sum_i dS_ij Q_i and dV_j = sum_i P_ij dO_i, one thread per key, over the queries of its sample. */
__global__ void attention_dkv_kernel(float *dqkv, const float *__restrict__ dout, const float *__restrict__ qkv,
                                     const float *__restrict__ out, const float *__restrict__ lse,
                                     const uint8_t *__restrict__ resets, int T, int H, int D, int prefix_lm)
{
    __shared__ float qs[KT][MAXD], dos[KT][MAXD];
    __shared__ float ls[KT], ds_[KT];
    __shared__ int los[KT], his[KT];
    __shared__ int block_q0, block_q1;
    int b = blockIdx.z, h = blockIdx.y, key = blockIdx.x * QT + threadIdx.x, C = H * D;
    size_t ld = (size_t)3 * C, base = (size_t)b * T;
    const uint8_t *rb = resets + base;
    const float scale = rsqrtf((float)D);
    if (threadIdx.x == 0) {
        block_q0 = T;
        block_q1 = 0;
    }
    __syncthreads();
    float kv[MAXD], vv[MAXD], dk[MAXD], dv[MAXD];
    if (key < T) {
        atomicMin(&block_q0, range_lo(rb, key));
        atomicMax(&block_q1, sample_end(rb, key, T));
        for (int d = 0; d < D; d++) {
            kv[d] = qkv[(base + key) * ld + C + (size_t)h * D + d];
            vv[d] = qkv[(base + key) * ld + 2 * C + (size_t)h * D + d];
            dk[d] = dv[d] = 0.0f;
        }
    }
    __syncthreads();
    for (int i0 = block_q0; i0 < block_q1; i0 += KT) {
        int nq = min(KT, block_q1 - i0);
        for (int e = threadIdx.x; e < nq * D; e += blockDim.x) {
            int i = e / D, d = e % D;
            qs[i][d] = qkv[(base + i0 + i) * ld + (size_t)h * D + d];
            dos[i][d] = dout[(base + i0 + i) * C + (size_t)h * D + d];
        }
        if (threadIdx.x < nq) {
            int i = i0 + threadIdx.x;
            float Di = 0.0f;
            for (int d = 0; d < D; d++)
                Di += dout[(base + i) * C + (size_t)h * D + d] * out[(base + i) * C + (size_t)h * D + d];
            ds_[threadIdx.x] = Di;
            ls[threadIdx.x] = lse[((size_t)b * H + h) * T + i];
            los[threadIdx.x] = range_lo(rb, i);
            his[threadIdx.x] = range_hi(rb, i, T, prefix_lm);
        }
        __syncthreads();
        if (key < T) {
            for (int i = 0; i < nq; i++) {
                if (key < los[i] || key > his[i])
                    continue;
                float sc = 0.0f, dp = 0.0f;
                for (int d = 0; d < D; d++) {
                    sc += qs[i][d] * kv[d];
                    dp += dos[i][d] * vv[d];
                }
                float p = expf(sc * scale - ls[i]), ds = p * (dp - ds_[i]) * scale;
                for (int d = 0; d < D; d++) {
                    dv[d] += p * dos[i][d];
                    dk[d] += ds * qs[i][d];
                }
            }
        }
        __syncthreads();
    }
    if (key < T)
        for (int d = 0; d < D; d++) {
            dqkv[(base + key) * ld + C + (size_t)h * D + d] = dk[d];
            dqkv[(base + key) * ld + 2 * C + (size_t)h * D + d] = dv[d];
        }
}

/* One warp per (row, head): lanes split the head's channels; every lane runs the same online softmax. */
__global__ void attention_decode_kernel(float *out, const float *__restrict__ q, int ld_q, const float *__restrict__ kc,
                                        const float *__restrict__ vc, const int32_t *__restrict__ lens, int cap, int H,
                                        int D)
{
    int r = blockIdx.x, h = blockIdx.y, lane = threadIdx.x, C = H * D;
    const float scale = rsqrtf((float)D);
    const float *qr = q + (size_t)r * ld_q + (size_t)h * D;
    const float *K = kc + (size_t)r * cap * C + (size_t)h * D, *V = vc + (size_t)r * cap * C + (size_t)h * D;
    float acc[MAXD / 32], m = -INFINITY, l = 0.0f;
    for (int e = 0; e < MAXD / 32; e++)
        acc[e] = 0.0f;
    for (int j = 0; j < lens[r]; j++) {
        float part = 0.0f;
        for (int d = lane; d < D; d += 32)
            part += qr[d] * K[(size_t)j * C + d];
        for (int off = 16; off > 0; off /= 2)
            part += __shfl_xor_sync(0xffffffffu, part, off);
        float sc = part * scale, mx = fmaxf(m, sc), corr = expf(m - mx), p = expf(sc - mx);
        for (int d = lane, e = 0; d < D; d += 32, e++)
            acc[e] = acc[e] * corr + p * V[(size_t)j * C + d];
        l = l * corr + p;
        m = mx;
    }
    for (int d = lane, e = 0; d < D; d += 32, e++)
        out[(size_t)r * C + (size_t)h * D + d] = acc[e] / l;
}

extern "C" void cuda_attention_forward(float *out, float *lse, const float *qkv, const uint8_t *resets, int B, int T,
                                       int n_heads, int head_dim, int prefix_lm)
{
    if (B <= 0 || T <= 0 || n_heads <= 0 || head_dim <= 0)
        return;
    if (head_dim > MAXD)
        cuda_check_or_die(cudaErrorInvalidValue, "attention: head_dim above 128", __FILE__, __LINE__);
    dim3 grid((unsigned)ceil_div(T, QT), (unsigned)n_heads, (unsigned)B);
    attention_forward_kernel<<<grid, QT>>>(out, lse, qkv, resets, T, n_heads, head_dim, prefix_lm);
    CUDA_CHECK_LAUNCH();
}

extern "C" void cuda_attention_backward(float *dqkv, const float *dout, const float *qkv, const float *out,
                                        const float *lse, const uint8_t *resets, int B, int T, int n_heads,
                                        int head_dim, int prefix_lm)
{
    if (B <= 0 || T <= 0 || n_heads <= 0 || head_dim <= 0)
        return;
    if (head_dim > MAXD)
        cuda_check_or_die(cudaErrorInvalidValue, "attention: head_dim above 128", __FILE__, __LINE__);
    dim3 grid((unsigned)ceil_div(T, QT), (unsigned)n_heads, (unsigned)B);
    attention_dq_kernel<<<grid, QT>>>(dqkv, dout, qkv, out, lse, resets, T, n_heads, head_dim, prefix_lm);
    CUDA_CHECK_LAUNCH();
    attention_dkv_kernel<<<grid, QT>>>(dqkv, dout, qkv, out, lse, resets, T, n_heads, head_dim, prefix_lm);
    CUDA_CHECK_LAUNCH();
}

extern "C" void cuda_attention_decode(float *out, const float *q, int ld_q, const float *kcache, const float *vcache,
                                      const int32_t *lens, int n, int cap, int n_heads, int head_dim)
{
    if (n <= 0 || n_heads <= 0 || head_dim <= 0)
        return;
    if (head_dim > MAXD)
        cuda_check_or_die(cudaErrorInvalidValue, "attention: head_dim above 128", __FILE__, __LINE__);
    dim3 grid((unsigned)n, (unsigned)n_heads);
    attention_decode_kernel<<<grid, 32>>>(out, q, ld_q, kcache, vcache, lens, cap, n_heads, head_dim);
    CUDA_CHECK_LAUNCH();
}
