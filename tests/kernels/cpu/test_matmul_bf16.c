/* tests/kernels/cpu/test_matmul_bf16.c: the CPU twin's mixed-precision linear layer
 * (kernels/cpu/matmul_bf16.c, bf16.c, onednn.c) against double-precision references written from the
 * contract in docs/design.md §7.3: GEMM inputs rounded to bf16 (nearest, ties to even), exact products,
 * fp32 sums; bias, its gradient and the output in fp32; weights re-rounded after every update.
 *
 *   test_matmul_bf16            the reference table (birdie_ops_cpu_bf16_reference_table): every CPU
 *   test_matmul_bf16 onednn     the oneDNN table; prints why and exits 77 (skip) where this build or
 *                               this CPU has no oneDNN bf16 matmul
 *   test_matmul_bf16 layout     oneDNN's GEMMs with the same descriptors (strides, bias, accumulating
 *                               post-op) but fp32 operands, which every x86-64 CPU runs: the layouts
 *                               are checked where bf16 is not (fp32 tolerances; 77 without oneDNN)
 *
 * Tolerances, per element, from the magnitudes the reference sums (u32 = 2^-24, ub = 2^-8, bf16's unit
 * roundoff): against the double GEMM of the bf16-rounded inputs, (K+2) u32 sum|a b| (any order of K fp32
 * additions, plus the accumulated term); against the double GEMM of the unrounded fp32 inputs, that
 * plus (2 ub + ub^2) sum|a b| (two rounded factors). The first check is about 1000x tighter than the
 * rounding it would see if inputs were not rounded, or truncated instead: it pins the rounding, not
 * only the size of the error. Shapes: every linear layer of XS, S, 125M and 350M (few rows), and odd
 * sizes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kernels/cpu/cpu_ops.h"
#ifdef BIRDIE_HAVE_DNNL
#include "kernels/cpu/onednn.h"
#endif
#include "tests/common/testutil.h"

#define U32 0x1.0p-24
#define UB 0x1.0p-8

static const birdie_ops *ops; /* the table under test */
static int f32_operands; /* the layout check: nothing is rounded, fp32 tolerances only */

/* ---- bf16 rounding ---- */

static uint32_t bits_of(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static double value_of_bf16_bits(uint32_t h)
{
    if ((h & 0x7f80u) == 0x7f80u) /* the infinity: as the value 2^128 that RNE compares against */
        return (h & 0x8000u ? -1.0 : 1.0) * ldexp(1.0, 128);
    uint32_t u = h << 16;
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* Independent rounding: the two bf16 neighbours of x (truncation and one step away from zero), the
 * nearer one by exact distance in double, the even one on a tie. */
static uint16_t reference_round(float x)
{
    uint32_t lo = bits_of(x) >> 16, hi = lo + 1;
    double dl = fabs((double)x - value_of_bf16_bits(lo)), dh = fabs((double)x - value_of_bf16_bits(hi));
    if (dl < dh || (dl == dh && (lo & 1u) == 0))
        return (uint16_t)lo;
    return (uint16_t)hi;
}

static void test_rounding(void **state)
{
    (void)state;
    birdie_rng rng = birdie_rng_stream(7, 0, 0, BIRDIE_RNG_TEST);
    enum { N = 200000 }; /* past the threshold where the vector round runs on several threads */
    float *x = malloc(N * sizeof *x), *xf = malloc(N * sizeof *xf);
    uint16_t *h = malloc(N * sizeof *h);
    assert_non_null(x);
    assert_non_null(xf);
    assert_non_null(h);
    for (int i = 0; i < N; i++) {
        uint32_t u = (uint32_t)birdie_rng_u64(&rng);
        if (i % 4 == 1) /* exact ties: the dropped half is 0x8000 */
            u = (u & 0xffff0000u) | 0x8000u;
        if (i % 4 == 2) /* within one below or above a tie */
            u = (u & 0xffff0000u) | (0x7fffu + (u & 2u));
        memcpy(&x[i], &u, sizeof u);
        if (isnan(x[i]))
            x[i] = (float)i;
    }
    x[0] = 0x1.ffp127f; /* half way between the largest bf16 (odd) and 2^128: rounds to infinity */
    x[3] = -0x1.fep127f; /* the largest bf16 itself */
    x[7] = 0x1p-140f; /* subnormal */
    for (int i = 0; i < N; i++)
        if (cpu_bf16_from_float(x[i]) != reference_round(x[i]))
            fail_msg("bf16(%a) = 0x%04x, want 0x%04x", (double)x[i], cpu_bf16_from_float(x[i]), reference_round(x[i]));
    assert_int_equal(cpu_bf16_from_float(x[0]), 0x7f80);
    cpu_bf16_round(h, x, N);
    cpu_bf16_round_f32(xf, x, N);
    for (int i = 0; i < N; i++) {
        assert_int_equal(h[i], cpu_bf16_from_float(x[i]));
        assert_int_equal(bits_of(xf[i]), (uint32_t)h[i] << 16);
        assert_int_equal(bits_of(cpu_bf16_to_float(h[i])), (uint32_t)h[i] << 16);
    }
    float nan = NAN, inf = INFINITY;
    assert_true(isnan(cpu_bf16_to_float(cpu_bf16_from_float(nan))));
    assert_true(isnan(cpu_bf16_to_float(cpu_bf16_from_float(-nan))));
    uint32_t low_nan = 0x7f800001u; /* a NaN whose payload lies only in the dropped half */
    float ln;
    memcpy(&ln, &low_nan, sizeof ln);
    assert_true(isnan(cpu_bf16_to_float(cpu_bf16_from_float(ln))));
    assert_int_equal(cpu_bf16_from_float(inf), 0x7f80);
    assert_int_equal(cpu_bf16_from_float(-inf), 0xff80);
    assert_int_equal(cpu_bf16_from_float(-0.0f), 0x8000);
    free(x), free(xf), free(h);
}

/* ---- the linear layer ---- */

typedef struct shape {
    int BT, C, OC;
} shape;

static const shape shapes[] = {
    /* XS: (C,4N), (N,C), (C,V) with C = N = 64, V = 384 */
    {33, 64, 256},
    {33, 64, 64},
    {33, 64, 384},
    /* S: C = 384, N = 512 */
    {17, 384, 2048},
    {17, 512, 384},
    {17, 384, 384},
    /* 125M: C = 768, N = 1536 */
    {5, 768, 6144},
    {5, 1536, 768},
    {5, 768, 384},
    /* 350M: C = 1024, N = 2048 */
    {3, 1024, 8192},
    {3, 2048, 1024},
    {3, 1024, 384},
    /* odd sizes */
    {1, 1, 1},
    {7, 13, 29},
    {3, 17, 5},
    {65, 31, 47},
    {129, 3, 257},
};

static float *upload_new(const float *host, size_t n)
{
    float *d = ops->alloc(n * sizeof *d);
    assert_non_null(d);
    ops->upload(d, host, n * sizeof *d);
    return d;
}

static double bf(float x)
{
    return cpu_bf16_to_float(cpu_bf16_from_float(x));
}

/* want = init + sum_k A(i,k) B(k,j) in double, of the bf16-rounded inputs (rounded = 1) or the fp32
 * ones; mag = |init| + sum |A B| of the unrounded inputs. A(i,k) = a[i*sai + k*sak], likewise B. */
static void reference_gemm(double *want, double *mag, int M, int N, int K, const float *a, size_t sai, size_t sak,
                           const float *b, size_t sbk, size_t sbj, const float *init, size_t sinit, int rounded)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = init ? init[(size_t)i * sinit + j] : 0.0, m = fabs(s);
            for (int k = 0; k < K; k++) {
                float x = a[i * sai + k * sak], y = b[k * sbk + j * sbj];
                s += rounded ? bf(x) * bf(y) : (double)x * y;
                m += fabs((double)x * y);
            }
            want[(size_t)i * N + j] = s;
            mag[(size_t)i * N + j] = m;
        }
}

/* got against both references: the rounded one within (K+2) u32 mag, the fp32 one within that plus
 * (2 ub + ub^2) mag. */
static void check_gemm(const float *got, const double *want_r, const double *want_f, const double *mag, size_t n, int K,
                       const char *what, const shape *s)
{
    for (size_t i = 0; i < n; i++) {
        double tol_r = (K + 2) * U32 * mag[i] * (1 + UB) * (1 + UB);
        double tol_f = f32_operands ? (K + 2) * U32 * mag[i] : tol_r + (2 * UB + UB * UB) * mag[i];
        if (f32_operands)
            want_r = want_f, tol_r = tol_f;
        double er = fabs(got[i] - want_r[i]), ef = fabs(got[i] - want_f[i]);
        if (!(er <= tol_r) || !(ef <= tol_f))
            fail_msg("%s (BT=%d C=%d OC=%d)[%zu]: got %.9g, bf16-input reference %.9g (|e| %.3g, tol %.3g), fp32 "
                     "reference %.9g (|e| %.3g, tol %.3g)",
                     what, s->BT, s->C, s->OC, i, (double)got[i], want_r[i], er, tol_r, want_f[i], ef, tol_f);
    }
}

static void check_shape(const shape *s, int with_bias, uint64_t seed)
{
    int BT = s->BT, C = s->C, OC = s->OC;
    size_t nx = (size_t)BT * C, nw = (size_t)OC * C, ny = (size_t)BT * OC;
    birdie_rng rng = birdie_rng_stream(seed, 0, 0, BIRDIE_RNG_TEST);
    float *x = malloc(nx * 4), *w = malloc(nw * 4), *b = malloc((size_t)OC * 4), *dy = malloc(ny * 4);
    float *dw0 = malloc(nw * 4), *db0 = malloc((size_t)OC * 4);
    float *y = malloc(ny * 4), *dx = malloc(nx * 4), *dw = malloc(nw * 4), *db = malloc((size_t)OC * 4);
    size_t most = nw > nx ? (nw > ny ? nw : ny) : (nx > ny ? nx : ny);
    double *want_r = calloc(most, 8), *want_f = calloc(most, 8), *mag = calloc(most, 8);
    assert_true(x && w && b && dy && dw0 && db0 && y && dx && dw && db && want_r && want_f && mag);
    fill_random(x, nx, 2.0f, &rng);
    fill_random(w, nw, 1.0f / sqrtf((float)C), &rng);
    fill_random(b, (size_t)OC, 0.5f, &rng);
    fill_random(dy, ny, 0.1f, &rng);
    fill_random(dw0, nw, 0.05f, &rng);
    fill_random(db0, (size_t)OC, 0.05f, &rng);
    float *d_x = upload_new(x, nx), *d_w = upload_new(w, nw), *d_b = upload_new(b, (size_t)OC);
    float *d_dy = upload_new(dy, ny), *d_dw = upload_new(dw0, nw), *d_db = upload_new(db0, (size_t)OC);
    float *d_y = upload_new(y, ny), *d_dx = upload_new(dx, nx);

    ops->matmul_forward(d_y, d_x, d_w, with_bias ? d_b : NULL, BT, C, OC);
    ops->matmul_backward(d_dx, d_dw, with_bias ? d_db : NULL, d_dy, d_x, d_w, BT, C, OC);
    ops->synchronize();
    ops->download(y, d_y, ny * 4);
    ops->download(dx, d_dx, nx * 4);
    ops->download(dw, d_dw, nw * 4);
    ops->download(db, d_db, (size_t)OC * 4);

    /* y (BT,OC) = x (BT,C) @ w^T + b: the bias is an fp32 term of the sum */
    reference_gemm(want_r, mag, BT, OC, C, x, C, 1, w, 1, C, NULL, 0, 1);
    reference_gemm(want_f, mag, BT, OC, C, x, C, 1, w, 1, C, NULL, 0, 0);
    if (with_bias)
        for (size_t i = 0; i < ny; i++) {
            want_r[i] += b[i % OC];
            want_f[i] += b[i % OC];
            mag[i] += fabs(b[i % OC]);
        }
    check_gemm(y, want_r, want_f, mag, ny, C, "y", s);
    /* dx (BT,C) = dy (BT,OC) @ w (OC,C) */
    reference_gemm(want_r, mag, BT, C, OC, dy, OC, 1, w, C, 1, NULL, 0, 1);
    reference_gemm(want_f, mag, BT, C, OC, dy, OC, 1, w, C, 1, NULL, 0, 0);
    check_gemm(dx, want_r, want_f, mag, nx, OC, "dinp", s);
    /* dw (OC,C) = dw0 + dy^T (OC,BT) @ x (BT,C); dw0 is fp32, never rounded */
    reference_gemm(want_r, mag, OC, C, BT, dy, 1, OC, x, C, 1, NULL, 0, 1);
    reference_gemm(want_f, mag, OC, C, BT, dy, 1, OC, x, C, 1, NULL, 0, 0);
    for (size_t i = 0; i < nw; i++) {
        want_r[i] += dw0[i];
        want_f[i] += dw0[i];
        mag[i] += fabs(dw0[i]);
    }
    check_gemm(dw, want_r, want_f, mag, nw, BT, "dweight", s);
    if (with_bias) /* db = db0 + column sums of the fp32 dy: fp32 sums only */
        for (int o = 0; o < OC; o++) {
            double want = db0[o], m = fabs(db0[o]);
            for (int r = 0; r < BT; r++) {
                want += dy[(size_t)r * OC + o];
                m += fabs(dy[(size_t)r * OC + o]);
            }
            if (!(fabs(db[o] - want) <= (BT + 1) * U32 * m))
                fail_msg("dbias[%d] (BT=%d C=%d OC=%d): got %.9g want %.9g", o, BT, C, OC, (double)db[o], want);
        }
    else
        assert_memory_equal(db, db0, (size_t)OC * 4);

    /* without dinp, only the weight gradient moves (and by the same amount again) */
    ops->upload(d_dx, x, nx * 4);
    ops->matmul_backward(NULL, d_dw, NULL, d_dy, d_x, d_w, BT, C, OC);
    ops->download(dx, d_dx, nx * 4);
    assert_memory_equal(dx, x, nx * 4);

    void *bufs[] = {d_x, d_w, d_b, d_dy, d_dw, d_db, d_y, d_dx};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        ops->free(bufs[i]);
    free(x), free(w), free(b), free(dy), free(dw0), free(db0), free(y), free(dx), free(dw), free(db);
    free(want_r), free(want_f), free(mag);
}

static void test_shapes(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        check_shape(&shapes[i], 1, 100 + i);
        check_shape(&shapes[i], 0, 200 + i);
    }
}

/* Rerunning the same GEMMs gives the same bits (a cached primitive, a cached weight copy). */
static void test_repeatable(void **state)
{
    (void)state;
    enum { BT = 37, C = 96, OC = 160 };
    birdie_rng rng = birdie_rng_stream(11, 0, 0, BIRDIE_RNG_TEST);
    float x[BT * C], w[OC * C], dy[BT * OC], y1[BT * OC], y2[BT * OC], dw1[OC * C], dw2[OC * C];
    fill_random(x, BT * C, 1.0f, &rng);
    fill_random(w, OC * C, 0.2f, &rng);
    fill_random(dy, BT * OC, 0.1f, &rng);
    float *d_x = upload_new(x, BT * C), *d_w = upload_new(w, OC * C), *d_dy = upload_new(dy, BT * OC);
    float *d_y = ops->alloc(sizeof y1), *d_dw = ops->alloc(sizeof dw1), *d_dx = ops->alloc(sizeof x);
    for (int rep = 0; rep < 2; rep++) {
        ops->zero(d_dw, sizeof dw1);
        ops->matmul_forward(d_y, d_x, d_w, NULL, BT, C, OC);
        ops->matmul_backward(d_dx, d_dw, NULL, d_dy, d_x, d_w, BT, C, OC);
        ops->download(rep ? y2 : y1, d_y, sizeof y1);
        ops->download(rep ? dw2 : dw1, d_dw, sizeof dw1);
    }
    assert_memory_equal(y1, y2, sizeof y1);
    assert_memory_equal(dw1, dw2, sizeof dw1);
    void *bufs[] = {d_x, d_w, d_dy, d_y, d_dw, d_dx};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        ops->free(bufs[i]);
}

/* The bf16 copy of a weight follows its fp32 master: after an AdamW step through the table, and after
 * an upload, the next GEMM uses the new weights, not the copy made before. */
static void test_weights_follow_updates(void **state)
{
    (void)state;
    enum { BT = 9, C = 24, OC = 40 };
    size_t nw = OC * C;
    birdie_rng rng = birdie_rng_stream(12, 0, 0, BIRDIE_RNG_TEST);
    float x[BT * C], w[OC * C], grad[OC * C], y[BT * OC], dy[BT * OC], dx[BT * C];
    double want_r[BT * OC], want_f[BT * OC], mag[BT * OC];
    fill_random(x, BT * C, 1.0f, &rng);
    fill_random(w, nw, 0.3f, &rng);
    fill_random(grad, nw, 1.0f, &rng);
    fill_random(dy, BT * OC, 0.2f, &rng);
    float *d_x = upload_new(x, BT * C), *d_w = upload_new(w, nw), *d_g = upload_new(grad, nw);
    float *d_m = ops->alloc(nw * 4), *d_v = ops->alloc(nw * 4), *d_y = ops->alloc(sizeof y);
    float *d_dy = upload_new(dy, BT * OC), *d_dx = ops->alloc(sizeof dx), *d_dw = ops->alloc(nw * 4);
    shape s = {BT, C, OC};
    ops->matmul_forward(d_y, d_x, d_w, NULL, BT, C, OC); /* makes the copy of the first weights */

    /* one AdamW step of lr 0.05 moves every weight by about 0.05, far more than bf16's rounding */
    birdie_adamw_params p = {.lr = 0.05f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .grad_scale = 1.0f, .step = 1};
    birdie_adamw_segment seg = {0, nw, 1};
    ops->adamw_update_segments(d_w, d_g, d_m, d_v, &seg, 1, &p);
    ops->download(w, d_w, nw * 4);
    ops->matmul_forward(d_y, d_x, d_w, NULL, BT, C, OC);
    ops->download(y, d_y, sizeof y);
    reference_gemm(want_r, mag, BT, OC, C, x, C, 1, w, 1, C, NULL, 0, 1);
    reference_gemm(want_f, mag, BT, OC, C, x, C, 1, w, 1, C, NULL, 0, 0);
    check_gemm(y, want_r, want_f, mag, BT * OC, C, "y after adamw_update_segments", &s);
    ops->matmul_backward(d_dx, d_dw, NULL, d_dy, d_x, d_w, BT, C, OC);
    ops->download(dx, d_dx, sizeof dx);
    double want_dr[BT * C], want_df[BT * C], mag_d[BT * C];
    reference_gemm(want_dr, mag_d, BT, C, OC, dy, OC, 1, w, C, 1, NULL, 0, 1);
    reference_gemm(want_df, mag_d, BT, C, OC, dy, OC, 1, w, C, 1, NULL, 0, 0);
    check_gemm(dx, want_dr, want_df, mag_d, BT * C, OC, "dinp after adamw_update_segments", &s);

    ops->adamw_update(d_w, d_g, d_m, d_v, nw,
                      &(birdie_adamw_params){
                          .lr = 0.05f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .grad_scale = 1.0f, .step = 2});
    ops->download(w, d_w, nw * 4);
    ops->matmul_forward(d_y, d_x, d_w, NULL, BT, C, OC);
    ops->download(y, d_y, sizeof y);
    reference_gemm(want_r, mag, BT, OC, C, x, C, 1, w, 1, C, NULL, 0, 1);
    reference_gemm(want_f, mag, BT, OC, C, x, C, 1, w, 1, C, NULL, 0, 0);
    check_gemm(y, want_r, want_f, mag, BT * OC, C, "y after adamw_update", &s);

    for (size_t i = 0; i < nw; i++)
        w[i] = -w[i] + 0.01f;
    ops->upload(d_w, w, nw * 4);
    ops->matmul_forward(d_y, d_x, d_w, NULL, BT, C, OC);
    ops->download(y, d_y, sizeof y);
    reference_gemm(want_r, mag, BT, OC, C, x, C, 1, w, 1, C, NULL, 0, 1);
    reference_gemm(want_f, mag, BT, OC, C, x, C, 1, w, 1, C, NULL, 0, 0);
    check_gemm(y, want_r, want_f, mag, BT * OC, C, "y after upload", &s);
    void *bufs[] = {d_x, d_w, d_g, d_m, d_v, d_y, d_dy, d_dx, d_dw};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        ops->free(bufs[i]);
}

#ifdef BIRDIE_HAVE_DNNL
static void layout_forward(float *out, const float *inp, const float *weight, const float *bias, int BT, int C, int OC)
{
    cpu_onednn_forward(out, inp, weight, bias, BT, C, OC, 1);
}

static void layout_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                            const float *weight, int BT, int C, int OC)
{
    if (dbias)
        for (int r = 0; r < BT; r++)
            for (int o = 0; o < OC; o++)
                dbias[o] += dout[(size_t)r * OC + o];
    if (dinp)
        cpu_onednn_backward_data(dinp, dout, weight, BT, C, OC, 1);
    cpu_onednn_backward_weight(dweight, dout, inp, BT, C, OC, 1);
}
#endif

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "layout") == 0) {
#ifdef BIRDIE_HAVE_DNNL
        static birdie_ops layout;
        layout = birdie_ops_cpu;
        layout.matmul_forward = layout_forward;
        layout.matmul_backward = layout_backward;
        ops = &layout;
        f32_operands = 1;
        const struct CMUnitTest layout_tests[] = {
            cmocka_unit_test(test_shapes),
            cmocka_unit_test(test_repeatable),
        };
        return cmocka_run_group_tests(layout_tests, NULL, NULL);
#else
        printf("1..0 # SKIP this build has no oneDNN (meson option -Donednn)\n");
        return 77;
#endif
    }
    if (argc > 1 && strcmp(argv[1], "onednn") == 0) {
        birdie_bf16_support info;
        ops = birdie_ops_cpu_bf16_table(&info);
        if (!ops) {
            printf("1..0 # SKIP no oneDNN bf16 matmul here: %s\n", info.why);
            return 77;
        }
        printf("# %s\n", info.isa);
    } else {
        ops = birdie_ops_cpu_bf16_reference_table();
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rounding),
        cmocka_unit_test(test_shapes),
        cmocka_unit_test(test_repeatable),
        cmocka_unit_test(test_weights_follow_updates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
