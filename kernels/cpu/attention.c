/* kernels/cpu/attention.c: attention over packed rows with the segment + prefix mask (docs/algorithm.md §1.6;
 * contract in kernels/ops.h), its backward, and the one-query step against a key/value cache (generation).
 *
 * Blocked, with the online softmax of FlashAttention: for a block of queries, key blocks are visited in order
 * and each query keeps a running maximum m, a running sum l of exp(score - m) and the running weighted sum of
 * values, rescaled when m grows. What a (row, head) holds at any time is a QB x KB tile of scores and a QB x
 * head_dim accumulator: memory O(T) per head, never T x T. Each query's allowed keys are one contiguous range
 * [lo, hi] (its sample's start to itself, or to the end of its prefix), so key blocks outside a query block's
 * ranges are skipped: packed rows of short samples cost far less than T^2. The backward recomputes the scores
 * tile by tile from the saved log-sum-exp (FlashAttention-2). Work items are (row, head) pairs spread over
 * cores; inside one, every sum runs in a fixed order, so results do not depend on the thread count. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/parallel.h"

enum { QB = 32, KB = 64 };

/* The key range [lo[t], hi[t]] of every query of one row. */
static void key_ranges(const uint8_t *rb, int T, int prefix_lm, int *lo, int *hi)
{
    int start = 0;
    for (int t = 0; t < T; t++) {
        if (rb[t] & BIRDIE_RESET_FWD)
            start = t;
        lo[t] = start;
    }
    for (int t = T - 1; t >= 0; t--) {
        int in_prefix = prefix_lm && !(rb[t] & BIRDIE_RESET_REV);
        int continues = t + 1 < T && !(rb[t + 1] & (BIRDIE_RESET_REV | BIRDIE_RESET_FWD));
        hi[t] = in_prefix && continues ? hi[t + 1] : t;
    }
}

/* Eight running sums, so the loop vectorises (a single sum is a serial chain the compiler may not reorder);
 * a fixed order, so the result is the same on every call. */
static inline __attribute__((always_inline)) float dot(const float *a, const float *b, int n)
{
    float acc[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++)
            acc[j] += a[i + j] * b[i + j];
    float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; i < n; i++)
        s += a[i] * b[i];
    return s;
}

typedef struct attn_scratch {
    int *lo, *hi;
    float *s; /* QB x KB */
    float *acc; /* QB x head_dim */
    float *m, *l; /* QB */
} attn_scratch;

static int scratch_alloc(attn_scratch *w, int T, int head_dim)
{
    w->lo = malloc((size_t)T * sizeof(int));
    w->hi = malloc((size_t)T * sizeof(int));
    w->s = malloc((size_t)QB * KB * sizeof(float));
    w->acc = malloc((size_t)QB * head_dim * sizeof(float));
    w->m = malloc(QB * sizeof(float));
    w->l = malloc(QB * sizeof(float));
    return w->lo && w->hi && w->s && w->acc && w->m && w->l ? 0 : -1;
}

static void scratch_free(attn_scratch *w)
{
    free(w->lo), free(w->hi), free(w->s), free(w->acc), free(w->m), free(w->l);
}

/* The union [*k0, *k1) of the key ranges of queries [i0, i1). */
static void block_keys(const attn_scratch *w, int i0, int i1, int *k0, int *k1)
{
    *k0 = w->lo[i0];
    *k1 = w->hi[i0] + 1;
    for (int i = i0 + 1; i < i1; i++) {
        *k0 = w->lo[i] < *k0 ? w->lo[i] : *k0;
        *k1 = w->hi[i] + 1 > *k1 ? w->hi[i] + 1 : *k1;
    }
}

static inline __attribute__((always_inline)) void attention_item(float *out, float *lse, const float *qkv,
                                                                 const uint8_t *resets, int T, int H, int D,
                                                                 int prefix_lm, long item, attn_scratch *w)
{
    int b = (int)(item / H), h = (int)(item % H), C = H * D;
    size_t ld = (size_t)3 * C, base = (size_t)b * T;
    const float *Q = qkv + base * ld + (size_t)h * D, *K = Q + C, *V = Q + 2 * C;
    const float scale = 1.0f / sqrtf((float)D);
    key_ranges(resets + base, T, prefix_lm, w->lo, w->hi);
    for (int i0 = 0; i0 < T; i0 += QB) {
        int i1 = i0 + QB < T ? i0 + QB : T, nq = i1 - i0, k0, k1;
        block_keys(w, i0, i1, &k0, &k1);
        for (int i = 0; i < nq; i++)
            w->m[i] = -INFINITY, w->l[i] = 0.0f;
        memset(w->acc, 0, (size_t)nq * D * sizeof(float));
        for (int j0 = k0; j0 < k1; j0 += KB) {
            int j1 = j0 + KB < k1 ? j0 + KB : k1;
            for (int i = 0; i < nq; i++) {
                int q = i0 + i;
                float *srow = w->s + (size_t)i * KB, mx = w->m[i];
                for (int j = j0; j < j1; j++) {
                    float sc = j >= w->lo[q] && j <= w->hi[q] ? dot(Q + q * ld, K + j * ld, D) * scale : -INFINITY;
                    srow[j - j0] = sc;
                    mx = sc > mx ? sc : mx;
                }
                if (mx == -INFINITY)
                    continue; /* no key of this block is the query's */
                float corr = expf(w->m[i] - mx), sum = 0.0f, *acc = w->acc + (size_t)i * D;
                for (int d = 0; d < D; d++)
                    acc[d] *= corr;
                for (int j = j0; j < j1; j++) {
                    float p = srow[j - j0] == -INFINITY ? 0.0f : expf(srow[j - j0] - mx);
                    sum += p;
                    if (p != 0.0f) {
                        const float *vr = V + j * ld;
                        for (int d = 0; d < D; d++)
                            acc[d] += p * vr[d];
                    }
                }
                w->l[i] = w->l[i] * corr + sum;
                w->m[i] = mx;
            }
        }
        for (int i = 0; i < nq; i++) {
            int q = i0 + i;
            float *o = out + (base + q) * C + (size_t)h * D, inv = 1.0f / w->l[i];
            for (int d = 0; d < D; d++)
                o[d] = w->acc[(size_t)i * D + d] * inv;
            lse[((size_t)b * H + h) * T + q] = w->m[i] + logf(w->l[i]);
        }
    }
}

CPU_HOT static void attention_items(float *out, float *lse, const float *qkv, const uint8_t *resets, int T, int H,
                                    int D, int prefix_lm, long k0, long k1)
{
    attn_scratch w;
    if (scratch_alloc(&w, T, D) < 0)
        abort(); /* a few KiB per thread: the op has no error path (kernels/ops.h) */
    for (long k = k0; k < k1; k++)
        attention_item(out, lse, qkv, resets, T, H, D, prefix_lm, k, &w);
    scratch_free(&w);
}

void cpu_attention_forward(float *out, float *lse, const float *qkv, const uint8_t *resets, int B, int T, int n_heads,
                           int head_dim, int prefix_lm)
{
    long items = (long)B * n_heads;
    CPU_PARALLEL_RANGE(items, (long)B * T * T * n_heads * head_dim / 8, lo, hi,
                       attention_items(out, lse, qkv, resets, T, n_heads, head_dim, prefix_lm, lo, hi));
}

/* dQ, dK, dV of one (query, key) pair: the three rows are distinct slots (restrict lets the loop vectorise). */
static inline __attribute__((always_inline)) void pair_update(float *restrict dv, float *restrict dq,
                                                              float *restrict dk, const float *restrict dO,
                                                              const float *restrict k, const float *restrict q, float p,
                                                              float ds, int D)
{
    for (int d = 0; d < D; d++) {
        dv[d] += p * dO[d];
        dq[d] += ds * k[d];
        dk[d] += ds * q[d];
    }
}

/* dV_j += sum_i P_ij dO_i;  dS_ij = P_ij (dO_i . V_j - D_i);  dQ_i += scale dS_ij K_j;  dK_j += scale dS_ij Q_i,
 * with P_ij = exp(score_ij - lse_i) recomputed and D_i = dO_i . O_i. Key blocks outer, query blocks inner. */
static inline __attribute__((always_inline)) void attention_backward_item(float *dqkv, const float *dout,
                                                                          const float *qkv, const float *out,
                                                                          const float *lse, const uint8_t *resets,
                                                                          int T, int H, int D, int prefix_lm, long item,
                                                                          attn_scratch *w)
{
    int b = (int)(item / H), h = (int)(item % H), C = H * D;
    size_t ld = (size_t)3 * C, base = (size_t)b * T;
    const float *Q = qkv + base * ld + (size_t)h * D, *K = Q + C, *V = Q + 2 * C;
    float *dQ = dqkv + base * ld + (size_t)h * D, *dK = dQ + C, *dV = dQ + 2 * C;
    const float *dO = dout + base * C + (size_t)h * D, *O = out + base * C + (size_t)h * D;
    const float *L = lse + ((size_t)b * H + h) * T;
    const float scale = 1.0f / sqrtf((float)D);
    key_ranges(resets + base, T, prefix_lm, w->lo, w->hi);
    for (int t = 0; t < T; t++) {
        memset(dQ + t * ld, 0, (size_t)D * sizeof(float));
        memset(dK + t * ld, 0, (size_t)D * sizeof(float));
        memset(dV + t * ld, 0, (size_t)D * sizeof(float));
    }
    float *Drow = w->acc; /* D_i for one query block */
    for (int j0 = 0; j0 < T; j0 += KB) {
        int j1 = j0 + KB < T ? j0 + KB : T;
        for (int i0 = 0; i0 < T; i0 += QB) {
            int i1 = i0 + QB < T ? i0 + QB : T, k0, k1;
            block_keys(w, i0, i1, &k0, &k1);
            if (k1 <= j0 || k0 >= j1)
                continue;
            for (int i = i0; i < i1; i++)
                Drow[i - i0] = dot(dO + i * C, O + i * C, D);
            for (int i = i0; i < i1; i++) {
                for (int j = j0; j < j1; j++) {
                    if (j < w->lo[i] || j > w->hi[i])
                        continue;
                    float p = expf(dot(Q + i * ld, K + j * ld, D) * scale - L[i]);
                    float ds = p * (dot(dO + i * C, V + j * ld, D) - Drow[i - i0]) * scale;
                    pair_update(dV + j * ld, dQ + i * ld, dK + j * ld, dO + i * C, K + j * ld, Q + i * ld, p, ds, D);
                }
            }
        }
    }
}

CPU_HOT static void attention_backward_items(float *dqkv, const float *dout, const float *qkv, const float *out,
                                             const float *lse, const uint8_t *resets, int T, int H, int D,
                                             int prefix_lm, long k0, long k1)
{
    attn_scratch w;
    if (scratch_alloc(&w, T, D) < 0)
        abort();
    for (long k = k0; k < k1; k++)
        attention_backward_item(dqkv, dout, qkv, out, lse, resets, T, H, D, prefix_lm, k, &w);
    scratch_free(&w);
}

void cpu_attention_backward(float *dqkv, const float *dout, const float *qkv, const float *out, const float *lse,
                            const uint8_t *resets, int B, int T, int n_heads, int head_dim, int prefix_lm)
{
    long items = (long)B * n_heads;
    CPU_PARALLEL_RANGE(
        items, (long)B * T * T * n_heads * head_dim / 8, lo, hi,
        attention_backward_items(dqkv, dout, qkv, out, lse, resets, T, n_heads, head_dim, prefix_lm, lo, hi));
}

CPU_HOT static void decode_rows(float *out, const float *q, int ld_q, const float *kc, const float *vc,
                                const int32_t *lens, int cap, int H, int D, long r0, long r1)
{
    int C = H * D;
    const float scale = 1.0f / sqrtf((float)D);
    float *acc = malloc((size_t)D * sizeof(float));
    if (!acc)
        abort();
    for (long r = r0; r < r1; r++)
        for (int h = 0; h < H; h++) {
            const float *qr = q + (size_t)r * ld_q + (size_t)h * D;
            const float *K = kc + (size_t)r * cap * C + (size_t)h * D, *V = vc + (size_t)r * cap * C + (size_t)h * D;
            float m = -INFINITY, l = 0.0f;
            memset(acc, 0, (size_t)D * sizeof(float));
            for (int j = 0; j < lens[r]; j++) {
                float sc = dot(qr, K + (size_t)j * C, D) * scale;
                float mx = sc > m ? sc : m, corr = expf(m - mx), p = expf(sc - mx);
                for (int d = 0; d < D; d++)
                    acc[d] = acc[d] * corr + p * V[(size_t)j * C + d];
                l = l * corr + p;
                m = mx;
            }
            float *o = out + (size_t)r * C + (size_t)h * D;
            for (int d = 0; d < D; d++)
                o[d] = acc[d] / l;
        }
    free(acc);
}

void cpu_attention_decode(float *out, const float *q, int ld_q, const float *kcache, const float *vcache,
                          const int32_t *lens, int n, int cap, int n_heads, int head_dim)
{
    /* the keys actually read, not the cache's capacity, decide whether threads are worth waking; one row is one
     * item, so it never is */
    long work = 0;
    for (int r = 0; n > 1 && r < n; r++)
        work += (long)lens[r] * n_heads * head_dim;
    CPU_PARALLEL_RANGE(n, work, lo, hi,
                       decode_rows(out, q, ld_q, kcache, vcache, lens, cap, n_heads, head_dim, lo, hi));
}
