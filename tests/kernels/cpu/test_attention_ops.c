/* tests/kernels/cpu/test_attention_ops.c: the Transformer's CPU ops (kernels/cpu/rope.c, attention.c) against
 * double-precision references written from kernels/ops.h and docs/algorithm.md §1.6. The attention reference
 * takes its mask from the rows' sample layout (segment and prefix of every position), not from the reset bits
 * the kernel reads, and computes the full softmax. Rows are longer than the kernel's query and key blocks (32 and
 * 64), so block edges, skipped blocks and the online rescaling all run. Tolerances from fp32 rounding (op_check.h):
 * an output is a softmax-weighted sum over up to T keys of dot products of head_dim terms. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kernels/cpu/cpu_ops.h"
#include "tests/common/testutil.h"
#include "tests/kernels/cpu/op_check.h"

/* ---- RoPE ---- */

/* Each pair (j, j + d/2) of each head turns by pos * base^(-2j/d); sign -1 turns it back. */
static void test_rope(void **state)
{
    (void)state;
    enum { R = 5, H = 3, D = 8, LD = 3 * H * D + 1 };
    birdie_rng rng = birdie_rng_stream(101, 0, 0, BIRDIE_RNG_TEST);
    float x[R * LD], keep[R * LD];
    int32_t pos[R] = {0, 1, 7, 300, 2047};
    fill_random(x, R * LD, 2, &rng);
    memcpy(keep, x, sizeof x);
    cpu_rope_forward(x, LD, pos, R, H, D, 250000.0f, 1);
    double want[R * LD], tol[R * LD];
    for (int r = 0; r < R; r++)
        for (int i = 0; i < LD; i++) {
            int h = i / D, e = i % D, j = e % (D / 2);
            double v = keep[r * LD + i];
            want[r * LD + i] = v, tol[r * LD + i] = 0; /* outside the heads: untouched */
            if (h >= H)
                continue;
            double angle = pos[r] * pow(250000.0, -2.0 * j / D), c = cos(angle), s = sin(angle);
            double x0 = keep[r * LD + h * D + j], x1 = keep[r * LD + h * D + j + D / 2];
            want[r * LD + i] = e < D / 2 ? x0 * c - x1 * s : x0 * s + x1 * c;
            tol[r * LD + i] = 4 * U32 * (fabs(x0) + fabs(x1));
        }
    check_within(x, want, tol, R * LD, "rope");
    cpu_rope_forward(x, LD, pos, R, H, D, 250000.0f, -1);
    double back[R * LD];
    for (int i = 0; i < R * LD; i++)
        back[i] = keep[i], tol[i] = 8 * U32 * 4;
    check_within(x, back, tol, R * LD, "rope then its inverse");
}

/* ---- attention ---- */

enum { H = 3, D = 8, C = H * D };

typedef struct layout {
    int B, T;
    int32_t *seg; /* (B,T) sample id, 0 = padding */
    uint8_t *prefix, *resets;
} layout;

/* Samples of prefix np and targets nt packed from position 0, padding after: the reset bits as rows carry them. */
static void make_layout(layout *L, int B, int T, const int (*samples)[2], int per_row)
{
    L->B = B, L->T = T;
    L->seg = calloc((size_t)B * T, sizeof *L->seg);
    L->prefix = calloc((size_t)B * T, 1);
    L->resets = calloc((size_t)B * T, 1);
    for (int b = 0; b < B; b++) {
        int pos = 0;
        for (int s = 0; s < per_row; s++) {
            int np = samples[b * per_row + s][0], nt = samples[b * per_row + s][1];
            for (int i = 0; i < np + nt && pos < T; i++, pos++) {
                L->seg[b * T + pos] = s + 1;
                L->prefix[b * T + pos] = (uint8_t)(i < np);
                L->resets[b * T + pos] = (uint8_t)((i == 0 ? BIRDIE_RESET_FWD : 0) | (i < np ? 0 : BIRDIE_RESET_REV));
            }
        }
        for (; pos < T; pos++)
            L->resets[b * T + pos] = BIRDIE_RESET_FWD | BIRDIE_RESET_REV; /* padding: each its own sample */
    }
}

static void free_layout(layout *L)
{
    free(L->seg), free(L->prefix), free(L->resets);
}

/* May query q read key k (same row)? docs/algorithm.md §1.6: same sample and (k <= q or, with the prefix-LM mask,
 * both in the prefix); a padding position reads only itself. */
static int allowed(const layout *L, int b, int q, int k, int prefix_lm)
{
    size_t iq = (size_t)b * L->T + q, ik = (size_t)b * L->T + k;
    if (L->seg[iq] == 0)
        return k == q;
    if (L->seg[iq] != L->seg[ik])
        return 0;
    return k <= q || (prefix_lm && L->prefix[iq] && L->prefix[ik]);
}

typedef struct {
    const layout *L;
    int prefix_lm;
    const double *dout;
} attn_ctx;

/* out (B,T,C) of the full softmax in double; returns sum dout * out when dout is set. lse (B,H,T) optional. */
static double attn_ref(const attn_ctx *k, const double *qkv, double *out, double *lse)
{
    const layout *L = k->L;
    int T = L->T;
    double total = 0, *w = malloc((size_t)T * sizeof *w);
    for (int b = 0; b < L->B; b++)
        for (int h = 0; h < H; h++)
            for (int q = 0; q < T; q++) {
                const double *qv = qkv + ((size_t)b * T + q) * 3 * C + h * D;
                double mx = -INFINITY, sum = 0;
                for (int j = 0; j < T; j++) {
                    w[j] = -INFINITY;
                    if (!allowed(L, b, q, j, k->prefix_lm))
                        continue;
                    double s = 0;
                    for (int e = 0; e < D; e++)
                        s += qv[e] * qkv[((size_t)b * T + j) * 3 * C + C + h * D + e];
                    w[j] = s / sqrt((double)D);
                    mx = fmax(mx, w[j]);
                }
                for (int j = 0; j < T; j++)
                    sum += w[j] == -INFINITY ? 0 : exp(w[j] - mx);
                if (lse)
                    lse[((size_t)b * H + h) * T + q] = mx + log(sum);
                for (int e = 0; e < D; e++) {
                    double o = 0;
                    for (int j = 0; j < T; j++)
                        if (w[j] != -INFINITY)
                            o += exp(w[j] - mx) / sum * qkv[((size_t)b * T + j) * 3 * C + 2 * C + h * D + e];
                    size_t at = ((size_t)b * T + q) * C + h * D + e;
                    if (out)
                        out[at] = o;
                    if (k->dout)
                        total += k->dout[at] * o;
                }
            }
    free(w);
    return total;
}

static double attn_loss(void *vctx, const double *qkv)
{
    return attn_ref(vctx, qkv, NULL, NULL);
}

/* Rows of 150 (five query blocks, three key blocks): long prefixes, NTP samples, padding. */
static void check_attention_forward(int prefix_lm)
{
    enum { B = 2, T = 150 };
    static const int samples[B * 3][2] = {{40, 50}, {0, 30}, {5, 10}, {70, 60}, {2, 3}, {0, 0}};
    layout L;
    make_layout(&L, B, T, samples, 3);
    birdie_rng rng = birdie_rng_stream(102 + (uint64_t)prefix_lm, 0, 0, BIRDIE_RNG_TEST);
    size_t nq = (size_t)B * T * 3 * C, no = (size_t)B * T * C, nl = (size_t)B * H * T;
    float *qkv = malloc(nq * sizeof *qkv), *out = malloc(no * sizeof *out), *lse = malloc(nl * sizeof *lse);
    fill_random(qkv, nq, 2, &rng);
    cpu_attention_forward(out, lse, qkv, L.resets, B, T, H, D, prefix_lm);
    double *qd = malloc(nq * sizeof *qd), *want = malloc(no * sizeof *want), *wl = malloc(nl * sizeof *wl);
    double *tol = malloc(no * sizeof *tol), *tl = malloc(nl * sizeof *tl);
    for (size_t i = 0; i < nq; i++)
        qd[i] = qkv[i];
    attn_ctx k = {&L, prefix_lm, NULL};
    attn_ref(&k, qd, want, wl);
    /* |v| <= 2, |score| <= 2 * 2 * D / sqrt(D): the output carries (D + T + 8) u of max|v| through the weights,
     * the log-sum-exp (D + T + 8) u of its largest score */
    for (size_t i = 0; i < no; i++)
        tol[i] = (D + T + 8) * U32 * 2 * 4;
    for (size_t i = 0; i < nl; i++)
        tl[i] = (D + T + 8) * U32 * (4.0 * D / sqrt((double)D) + fabs(wl[i]));
    check_within(out, want, tol, no, prefix_lm ? "attention out (prefix)" : "attention out (causal)");
    check_within(lse, wl, tl, nl, "attention lse");
    free(qkv), free(out), free(lse), free(qd), free(want), free(wl), free(tol), free(tl);
    free_layout(&L);
}

static void test_attention_forward_causal(void **state)
{
    (void)state;
    check_attention_forward(0);
}

static void test_attention_forward_prefix(void **state)
{
    (void)state;
    check_attention_forward(1);
}

/* The backward against central differences of the double forward, on a row of 40 (two query blocks) holding a
 * sample with a prefix, an NTP sample and padding. */
static void check_attention_backward(int prefix_lm)
{
    enum { B = 1, T = 40 };
    static const int samples[B * 2][2] = {{12, 15}, {0, 9}};
    layout L;
    make_layout(&L, B, T, samples, 2);
    birdie_rng rng = birdie_rng_stream(104 + (uint64_t)prefix_lm, 0, 0, BIRDIE_RNG_TEST);
    size_t nq = (size_t)B * T * 3 * C, no = (size_t)B * T * C, nl = (size_t)B * H * T;
    float *qkv = malloc(nq * sizeof *qkv), *out = malloc(no * sizeof *out), *lse = malloc(nl * sizeof *lse);
    float *dout = malloc(no * sizeof *dout), *dqkv = malloc(nq * sizeof *dqkv);
    fill_random(qkv, nq, 2, &rng);
    fill_random(dout, no, 1, &rng);
    cpu_attention_forward(out, lse, qkv, L.resets, B, T, H, D, prefix_lm);
    for (size_t i = 0; i < nq; i++)
        dqkv[i] = NAN; /* every element is written */
    cpu_attention_backward(dqkv, dout, qkv, out, lse, L.resets, B, T, H, D, prefix_lm);
    double *qd = malloc(nq * sizeof *qd), *dd = malloc(no * sizeof *dd), *g = malloc(nq * sizeof *g);
    double *tol = malloc(nq * sizeof *tol);
    for (size_t i = 0; i < nq; i++)
        qd[i] = qkv[i];
    for (size_t i = 0; i < no; i++)
        dd[i] = dout[i];
    attn_ctx k = {&L, prefix_lm, dd};
    fd_grad(attn_loss, &k, qd, nq, NULL, g);
    /* Each entry sums up to T products of the recomputed probabilities (D + 8 u each) and a difference of dot
     * products: (2 T + 2 D + 32) u relative to the entries' scale, with the rms of all as the floor for entries
     * that cancel (as in tests/worker/test_model.c). */
    double rms = 0;
    for (size_t i = 0; i < nq; i++)
        rms += g[i] * g[i];
    rms = sqrt(rms / (double)nq);
    for (size_t i = 0; i < nq; i++)
        tol[i] = (2 * T + 2 * D + 32) * U32 * 8 * (fabs(g[i]) + rms);
    check_within(dqkv, g, tol, nq, prefix_lm ? "attention dqkv (prefix)" : "attention dqkv (causal)");
    free(qkv), free(out), free(lse), free(dout), free(dqkv), free(qd), free(dd), free(g), free(tol);
    free_layout(&L);
}

static void test_attention_backward_causal(void **state)
{
    (void)state;
    check_attention_backward(0);
}

static void test_attention_backward_prefix(void **state)
{
    (void)state;
    check_attention_backward(1);
}

/* A query at position t against a cache of positions [0, t] gives the forward's output at t (one causal sample). */
static void test_attention_decode(void **state)
{
    (void)state;
    enum { B = 1, T = 100, CAP = 120, NR = 3 };
    static const int samples[1][2] = {{0, T}};
    layout L;
    make_layout(&L, B, T, samples, 1);
    birdie_rng rng = birdie_rng_stream(106, 0, 0, BIRDIE_RNG_TEST);
    size_t nq = (size_t)T * 3 * C;
    float *qkv = malloc(nq * sizeof *qkv), *out = malloc((size_t)T * C * sizeof *out), *lse = malloc(H * T * 4);
    fill_random(qkv, nq, 2, &rng);
    cpu_attention_forward(out, lse, qkv, L.resets, B, T, H, D, 0);
    /* three rows at positions 0, 57 and 99, caches filled with the row's keys and values */
    const int at[NR] = {0, 57, 99};
    float *kc = calloc((size_t)NR * CAP * C, sizeof *kc), *vc = calloc((size_t)NR * CAP * C, sizeof *vc);
    float q[NR * 3 * C], got[NR * C];
    int32_t lens[NR];
    for (int r = 0; r < NR; r++) {
        for (int t = 0; t <= at[r]; t++) {
            memcpy(kc + ((size_t)r * CAP + t) * C, qkv + (size_t)t * 3 * C + C, C * sizeof(float));
            memcpy(vc + ((size_t)r * CAP + t) * C, qkv + (size_t)t * 3 * C + 2 * C, C * sizeof(float));
        }
        memcpy(q + r * 3 * C, qkv + (size_t)at[r] * 3 * C, 3 * C * sizeof(float));
        lens[r] = at[r] + 1;
    }
    cpu_attention_decode(got, q, 3 * C, kc, vc, lens, NR, CAP, H, D);
    double want[NR * C], tol[NR * C];
    for (int r = 0; r < NR; r++)
        for (int c = 0; c < C; c++)
            want[r * C + c] = out[(size_t)at[r] * C + c], tol[r * C + c] = 2 * (D + T + 8) * U32 * 2 * 4;
    check_within(got, want, tol, NR * C, "attention decode");
    free(qkv), free(out), free(lse), free(kc), free(vc);
    free_layout(&L);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rope),
        cmocka_unit_test(test_attention_forward_causal),
        cmocka_unit_test(test_attention_forward_prefix),
        cmocka_unit_test(test_attention_backward_causal),
        cmocka_unit_test(test_attention_backward_prefix),
        cmocka_unit_test(test_attention_decode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
