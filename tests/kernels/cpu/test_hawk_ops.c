/* tests/kernels/cpu/test_hawk_ops.c: the CPU ops of the Hawk block (kernels/cpu/conv1d.c, rglru.c, gelu_mul.c)
 * against double-precision references written from the contracts in kernels/ops.h and docs/algorithm.md §1.5,
 * with tolerances from fp32 rounding (op_check.h: u = 2^-24; a sum of K terms is within K u of the sum of
 * |terms|; a libm call within 1 u). Backwards are compared with central differences of the double forward,
 * except where the specification itself departs from the exact derivative: the RG-LRU's square root, whose
 * derivative is capped at 1000, is checked against that capped formula at an input that reaches the cap. Shapes
 * are small and odd; strides wider than the rows check that the ops read and write only their slots. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kernels/cpu/cpu_ops.h"
#include "tests/common/testutil.h"
#include "tests/kernels/cpu/op_check.h"

static double *to_double(const float *x, size_t n)
{
    double *d = malloc(n * sizeof *d);
    for (size_t i = 0; i < n; i++)
        d[i] = x[i];
    return d;
}

/* Reset bits drawn at random: each position gets each bit with probability 1/4. */
static void random_resets(uint8_t *r, size_t n, birdie_rng *rng)
{
    for (size_t i = 0; i < n; i++)
        r[i] = (uint8_t)((birdie_rng_below(rng, 4) == 0 ? BIRDIE_RESET_FWD : 0) |
                         (birdie_rng_below(rng, 4) == 0 ? BIRDIE_RESET_REV : 0));
}

/* ---- conv1d ---- */

enum { CB = 2, CT = 11, CN = 13, CLD = 2 * CN + 3 };

typedef struct {
    int n_fwd, wrt; /* 0 inp, 1 w, 2 b */
    const uint8_t *resets;
    const double *inp, *w, *b, *dout;
} conv_ctx;

/* Does tap k at t of a channel in the reverse half (reverse) or forward half read position s = t -+ k? The
 * contract: no forward reset in (s, t], no reverse reset in [t, s), s inside the row. */
static int tap_ok(const uint8_t *rb, int t, int k, int reverse)
{
    int s = reverse ? t + k : t - k;
    if (s < 0 || s >= CT)
        return 0;
    for (int j = reverse ? t : s + 1; j <= (reverse ? s - 1 : t); j++)
        if (rb[j] & (reverse ? BIRDIE_RESET_REV : BIRDIE_RESET_FWD))
            return 0;
    return 1;
}

/* out[b,t,n] = b_n + sum over the taps in use of w_k,n inp[b, t -+ k, n]; L = sum dout * out. */
static double conv_loss(void *vctx, const double *v)
{
    conv_ctx *k = vctx;
    const double *inp = k->wrt == 0 ? v : k->inp, *w = k->wrt == 1 ? v : k->w, *bias = k->wrt == 2 ? v : k->b;
    double L = 0;
    for (int b = 0; b < CB; b++)
        for (int t = 0; t < CT; t++)
            for (int n = 0; n < CN; n++) {
                int rev = n >= k->n_fwd;
                double o = bias[n];
                for (int j = 0; j < BIRDIE_CONV_WIDTH; j++)
                    if (tap_ok(k->resets + b * CT, t, j, rev))
                        o += w[j * CN + n] * inp[(size_t)(b * CT + (rev ? t + j : t - j)) * CLD + n];
                L += k->dout[(b * CT + t) * CN + n] * o;
            }
    return L;
}

static void check_conv(int n_fwd, uint64_t seed)
{
    birdie_rng rng = birdie_rng_stream(seed, 0, 0, BIRDIE_RNG_TEST);
    enum { NI = CB * CT * CLD, NO = CB * CT * CN, NW = BIRDIE_CONV_WIDTH * CN };
    float inp[NI], w[NW], b[CN], out[NO], dout[NO], dinp[NI], dw[NW], db[CN], dw0[NW], db0[CN];
    uint8_t resets[CB * CT];
    fill_random(inp, NI, 2, &rng);
    fill_random(w, NW, 1, &rng);
    fill_random(b, CN, 1, &rng);
    fill_random(dout, NO, 1, &rng);
    fill_random(dw0, NW, 1, &rng);
    fill_random(db0, CN, 1, &rng);
    random_resets(resets, CB * CT, &rng);
    resets[0] |= BIRDIE_RESET_FWD;
    cpu_conv1d_forward(out, inp, CLD, w, b, resets, CB, CT, CN, n_fwd);
    double *di = to_double(inp, NI), *dwd = to_double(w, NW), *dbd = to_double(b, CN), *dd = to_double(dout, NO);
    double *ai = malloc(NI * sizeof *ai), aw[NW], ab[CN], ad[NO];
    for (int i = 0; i < NI; i++)
        ai[i] = fabs(di[i]);
    for (int i = 0; i < NW; i++)
        aw[i] = fabs(dwd[i]);
    for (int i = 0; i < CN; i++)
        ab[i] = fabs(dbd[i]);
    /* forward: the loss with dout one-hot is one output; the same on |inputs| bounds its rounding (5 terms) */
    double want[NO], tol[NO], *onehot = calloc(NO, sizeof *onehot);
    for (int o = 0; o < NO; o++) {
        onehot[o] = 1;
        conv_ctx k = {n_fwd, -1, resets, di, dwd, dbd, onehot}, ka = {n_fwd, -1, resets, ai, aw, ab, onehot};
        want[o] = conv_loss(&k, NULL);
        tol[o] = 6 * U32 * conv_loss(&ka, NULL);
        onehot[o] = 0;
    }
    check_within(out, want, tol, NO, n_fwd < CN ? "conv fwd (split)" : "conv fwd (causal)");

    for (int i = 0; i < NI; i++)
        dinp[i] = 99.0f; /* the gaps between the slots must stay */
    memcpy(dw, dw0, sizeof dw);
    memcpy(db, db0, sizeof db);
    cpu_conv1d_backward(dinp, CLD, dw, db, dout, inp, w, resets, CB, CT, CN, n_fwd);
    for (int i = 0; i < NO; i++)
        ad[i] = fabs(dd[i]);
    double *gi = malloc(NI * sizeof *gi), *gia = malloc(NI * sizeof *gia), *ti = malloc(NI * sizeof *ti);
    double gw[NW], gwa[NW], tw[NW], gb[CN], gba[CN], tb[CN];
    const char *names[3] = {"conv dinp", "conv dw (+=)", "conv db (+=)"};
    for (int wrt = 0; wrt < 3; wrt++) {
        conv_ctx k = {n_fwd, wrt, resets, di, dwd, dbd, dd}, ka = {n_fwd, wrt, resets, ai, aw, ab, ad};
        double *x = wrt == 0 ? di : wrt == 1 ? dwd : dbd, *xa = wrt == 0 ? ai : wrt == 1 ? aw : ab;
        double *g = wrt == 0 ? gi : wrt == 1 ? gw : gb, *ga = wrt == 0 ? gia : wrt == 1 ? gwa : gba;
        size_t n = wrt == 0 ? NI : wrt == 1 ? NW : CN;
        fd_grad(conv_loss, &k, x, n, NULL, g);
        fd_grad(conv_loss, &ka, xa, n, NULL, ga);
        double *t = wrt == 0 ? ti : wrt == 1 ? tw : tb;
        for (size_t i = 0; i < n; i++) {
            double start = wrt == 1 ? dw0[i] : wrt == 2 ? db0[i] : 0;
            if (wrt > 0)
                g[i] += start;
            /* dinp: at most 4 terms; dw and db: one term per position, onto the start */
            t[i] = (wrt == 0 ? 5 : CB * CT + 2) * U32 * (fabs(start) + ga[i]) + 1e-12;
        }
        if (wrt == 0)
            for (int i = 0; i < NI; i++)
                if (i % CLD >= CN)
                    g[i] = 99.0, t[i] = 0;
        check_within(wrt == 0 ? dinp : wrt == 1 ? dw : db, g, t, n, names[wrt]);
    }
    free(di), free(dwd), free(dbd), free(dd), free(ai), free(onehot), free(gi), free(gia), free(ti);
}

static void test_conv1d_causal(void **state)
{
    (void)state;
    check_conv(CN, 71);
}

static void test_conv1d_split(void **state)
{
    (void)state;
    check_conv(6, 72);
}

/* The taps by hand on one channel: a forward reset at t = 3 cuts the window of t = 3..5 at 3; a reverse
 * reset at t = 6 stops the reverse channel's look-ahead from 4..6 at 6. */
static void test_conv1d_taps_by_hand(void **state)
{
    (void)state;
    enum { T = 9 };
    float inp[2 * T], w[2 * BIRDIE_CONV_WIDTH] = {1, 1, 10, 10, 100, 100, 1000, 1000}, b[2] = {0, 0}, out[2 * T];
    uint8_t resets[T] = {BIRDIE_RESET_FWD, 0, 0, BIRDIE_RESET_FWD, 0, 0, BIRDIE_RESET_REV, 0, 0};
    for (int t = 0; t < T; t++)
        inp[2 * t] = inp[2 * t + 1] = (float)(t + 1);
    cpu_conv1d_forward(out, inp, 2, w, b, resets, 1, T, 2, 1);
    /* forward channel 0, t = 5: taps 5, 4, 3 (positions 6, 5, 4 in value): 6 + 50 + 400 */
    assert_true(out[2 * 5] == 6 + 10 * 5 + 100 * 4);
    assert_true(out[2 * 3] == 4); /* a sample start reads only itself */
    assert_true(out[2 * 8] == 9 + 10 * 8 + 100 * 7 + 1000 * 6);
    /* reverse channel 1, t = 4: taps 4, 5, 6 (values 5, 6, 7), not 7 (the reset at 6 ends the reading) */
    assert_true(out[2 * 4 + 1] == 5 + 10 * 6 + 100 * 7);
    assert_true(out[2 * 6 + 1] == 7);
    assert_true(out[2 * 7 + 1] == 8 + 10 * 9); /* the row's end */
}

/* ---- RG-LRU ---- */

enum { RBT = 7, RN = 9 };

static double sigm(double x)
{
    return 1.0 / (1.0 + exp(-x));
}

typedef struct {
    int n_fwd, wrt; /* 0 gates, 1 v, 2 lambda */
    const uint8_t *resets;
    const double *gates, *v, *lambda, *dx, *da;
} rg_ctx;

/* a = sigmoid(lambda)^(8 r), 0 at the channel's reset; x = sqrt(1 - a^2) i v; L = sum dx x + da a. */
static double rg_loss(void *vctx, const double *p)
{
    rg_ctx *k = vctx;
    const double *g = k->wrt == 0 ? p : k->gates, *v = k->wrt == 1 ? p : k->v, *lam = k->wrt == 2 ? p : k->lambda;
    double L = 0;
    for (int i = 0; i < RBT; i++)
        for (int n = 0; n < RN; n++) {
            int reset = k->resets[i] & (n < k->n_fwd ? BIRDIE_RESET_FWD : BIRDIE_RESET_REV);
            double a = reset ? 0 : pow(sigm(lam[n]), 8 * sigm(g[i * 2 * RN + n]));
            double x = sqrt(1 - a * a) * sigm(g[i * 2 * RN + RN + n]) * v[i * RN + n];
            L += k->dx[i * RN + n] * x + k->da[i * RN + n] * a;
        }
    return L;
}

static void check_rglru(int n_fwd, uint64_t seed)
{
    birdie_rng rng = birdie_rng_stream(seed, 0, 0, BIRDIE_RNG_TEST);
    enum { NG = RBT * 2 * RN, NV = RBT * RN };
    float gates[NG], v[NV], lambda[RN], x[NV], a[NV], dx[NV], da[NV], dgates[NG], dv[NV], dlam[RN], dlam0[RN];
    uint8_t resets[RBT];
    fill_random(gates, NG, 3, &rng);
    fill_random(v, NV, 2, &rng);
    for (int n = 0; n < RN; n++)
        lambda[n] = (float)(-1.0 + 6.0 * birdie_rng_uniform(&rng));
    fill_random(dx, NV, 1, &rng);
    fill_random(da, NV, 1, &rng);
    fill_random(dlam0, RN, 1, &rng);
    random_resets(resets, RBT, &rng);
    cpu_rglru_forward(x, a, gates, v, lambda, resets, 1, RBT, RN, n_fwd);
    double wa[NV], ta[NV], wx[NV], tx[NV];
    for (int i = 0; i < RBT; i++)
        for (int n = 0; n < RN; n++) {
            int j = i * RN + n, reset = resets[i] & (n < n_fwd ? BIRDIE_RESET_FWD : BIRDIE_RESET_REV);
            double log_a = reset ? 0 : 8 * sigm(gates[i * 2 * RN + n]) * log(sigm(lambda[n]));
            wa[j] = reset ? 0 : exp(log_a);
            /* log a carries ~6u relative (sigmoid, softplus, product), so a carries 6u |log a| + 2u */
            ta[j] = U32 * wa[j] * (8 * fabs(log_a) + 2);
            wx[j] = sqrt(1 - wa[j] * wa[j]) * sigm(gates[i * 2 * RN + RN + n]) * v[j];
            tx[j] = 16 * U32 * fabs(wx[j]);
        }
    check_within(a, wa, ta, NV, "rglru a");
    check_within(x, wx, tx, NV, "rglru x");

    memcpy(dlam, dlam0, sizeof dlam);
    for (int i = 0; i < NG; i++)
        dgates[i] = 99.0f;
    cpu_rglru_backward(dgates, dv, dlam, dx, da, gates, v, lambda, resets, 1, RBT, RN, n_fwd);
    double *dg = to_double(gates, NG), *dvd = to_double(v, NV), *dl = to_double(lambda, RN);
    double *dxd = to_double(dx, NV), *dad = to_double(da, NV);
    double gg[NG], gv[NV], gl[RN], tg[NG], tv[NV], tl[RN];
    for (int wrt = 0; wrt < 3; wrt++) {
        rg_ctx k = {n_fwd, wrt, resets, dg, dvd, dl, dxd, dad};
        double *p = wrt == 0 ? dg : wrt == 1 ? dvd : dl;
        fd_grad(rg_loss, &k, p, wrt == 0 ? NG : wrt == 1 ? NV : RN, NULL, wrt == 0 ? gg : wrt == 1 ? gv : gl);
    }
    /* Magnitudes: each gradient entry is a product chain of ~10 roundings and libm calls per term (32u each);
     * lambda's sums RBT such terms onto its start. The central differences themselves carry ~1e-16 |L| / h
     * ~ 1e-11 of double rounding (|L| < 100), hence the floor of 1e-10 (a zero gradient at a reset must be
     * within it, and a misplaced term is orders larger). */
    for (int n = 0; n < RN; n++)
        tl[n] = (RBT + 2) * 32 * U32 * fabs(dlam0[n]) + 1e-10;
    for (int i = 0; i < RBT; i++)
        for (int n = 0; n < RN; n++) {
            int j = i * RN + n, reset = resets[i] & (n < n_fwd ? BIRDIE_RESET_FWD : BIRDIE_RESET_REV);
            double r = sigm(gates[i * 2 * RN + n]), ig = sigm(gates[i * 2 * RN + RN + n]);
            double sp = -log(sigm(lambda[n])), an = wa[j], s = 1 - an * an;
            double through_a = reset ? 0 : (fabs(da[j]) + fabs(dx[j] * ig * v[j]) * an / sqrt(s)) * an;
            tg[i * 2 * RN + n] = 32 * U32 * through_a * 8 * sp * r * (1 - r) + 1e-10;
            tg[i * 2 * RN + RN + n] = 32 * U32 * fabs(dx[j] * v[j]) * ig * (1 - ig) + 1e-10;
            tv[j] = 32 * U32 * fabs(dx[j]) * ig + 1e-10;
            tl[n] += (RBT + 2) * 32 * U32 * through_a * 8 * r * sigm(-lambda[n]);
        }
    for (int n = 0; n < RN; n++)
        gl[n] += dlam0[n];
    check_within(dgates, gg, tg, NG, "rglru dgates");
    check_within(dv, gv, tv, NV, "rglru dv");
    check_within(dlam, gl, tl, RN, "rglru dlambda (+=)");
    free(dg), free(dvd), free(dl), free(dxd), free(dad);
}

static void test_rglru_causal(void **state)
{
    (void)state;
    check_rglru(RN, 81);
}

static void test_rglru_split(void **state)
{
    (void)state;
    check_rglru(4, 82);
}

/* A decay this close to 1 (lambda = 20: 1 - a^2 ~ 1.6e-8) puts the square root's derivative (~3900) above the
 * cap: the backward must use 1000, the bounded derivative of docs/algorithm.md §1.5, for a_r and lambda. */
static void test_rglru_gradient_cap(void **state)
{
    (void)state;
    float gates[2] = {0.0f, 0.7f}, v[1] = {1.5f}, lambda[1] = {20.0f}, x[1], a[1], dx[1] = {0.8f}, da[1] = {0.3f};
    float dgates[2], dv[1], dlam[1] = {0};
    uint8_t resets[1] = {0};
    cpu_rglru_forward(x, a, gates, v, lambda, resets, 1, 1, 1, 1);
    cpu_rglru_backward(dgates, dv, dlam, dx, da, gates, v, lambda, resets, 1, 1, 1, 1);
    double r = 0.5, ig = sigm(0.7), sp = log1p(exp(-20.0)), log_a = -8 * r * sp, an = exp(log_a);
    double s = -expm1(2 * log_a);
    assert_true(0.5 / sqrt(s) > 3 * BIRDIE_RGLRU_GRAD_MAX); /* the exact derivative is far above the cap */
    double dlog_a = (0.3 + 0.8 * ig * 1.5 * BIRDIE_RGLRU_GRAD_MAX * (-2 * an)) * an;
    double want_ar = dlog_a * (-8 * sp) * r * (1 - r), want_lam = dlog_a * 8 * r * sigm(-20.0);
    print_message("# capped: d a_r %.9g want %.9g, d lambda %.9g want %.9g\n", (double)dgates[0], want_ar,
                  (double)dlam[0], want_lam);
    assert_true(fabs(dgates[0] - want_ar) <= 64 * U32 * fabs(want_ar));
    assert_true(fabs(dlam[0] - want_lam) <= 64 * U32 * fabs(want_lam));
    assert_true(fabs(x[0] - sqrt(s) * ig * 1.5) <= 16 * U32 * fabs(sqrt(s) * ig * 1.5));
}

/* ---- gated GeLU ---- */

#define GELU_K 0.7978845608028654
#define GELU_C 0.044715
enum { GBT = 5, GN = 11, GLG = 2 * GN + 1, GLV = 3 * GN };

static double gelu_ref(double x)
{
    return 0.5 * x * (1 + tanh(GELU_K * (x + GELU_C * x * x * x)));
}

typedef struct {
    int wrt;
    const double *gate, *val, *dout;
} gm_ctx;

static double gm_loss(void *vctx, const double *p)
{
    gm_ctx *k = vctx;
    const double *g = k->wrt == 0 ? p : k->gate, *v = k->wrt == 1 ? p : k->val;
    double L = 0;
    for (int i = 0; i < GBT; i++)
        for (int n = 0; n < GN; n++)
            L += k->dout[i * GN + n] * gelu_ref(g[i * GLG + n]) * v[i * GLV + n];
    return L;
}

static void test_gelu_mul(void **state)
{
    (void)state;
    birdie_rng rng = birdie_rng_stream(91, 0, 0, BIRDIE_RNG_TEST);
    float gate[GBT * GLG], val[GBT * GLV], out[GBT * GN], dout[GBT * GN], dgate[GBT * GLG], dval[GBT * GLV];
    fill_random(gate, GBT * GLG, 5, &rng);
    fill_random(val, GBT * GLV, 2, &rng);
    fill_random(dout, GBT * GN, 1, &rng);
    cpu_gelu_mul_forward(out, gate, GLG, val, GLV, GBT, GN);
    double want[GBT * GN], tol[GBT * GN];
    for (int i = 0; i < GBT; i++)
        for (int n = 0; n < GN; n++) {
            double g = gate[i * GLG + n], v = val[i * GLV + n];
            want[i * GN + n] = gelu_ref(g) * v;
            tol[i * GN + n] = U32 * fabs(v) * (5 * fabs(g) + 3 * fabs(gelu_ref(g)));
        }
    check_within(out, want, tol, GBT * GN, "gelu_mul out");
    for (int i = 0; i < GBT * GLG; i++)
        dgate[i] = 99.0f;
    for (int i = 0; i < GBT * GLV; i++)
        dval[i] = 99.0f;
    cpu_gelu_mul_backward(dgate, dval, dout, gate, GLG, val, GLV, GBT, GN);
    double *gd = to_double(gate, GBT * GLG), *vd = to_double(val, GBT * GLV), *dd = to_double(dout, GBT * GN);
    double gg[GBT * GLG], gv[GBT * GLV], tg[GBT * GLG], tv[GBT * GLV];
    gm_ctx k0 = {0, gd, vd, dd}, k1 = {1, gd, vd, dd};
    fd_grad(gm_loss, &k0, gd, GBT * GLG, NULL, gg);
    fd_grad(gm_loss, &k1, vd, GBT * GLV, NULL, gv);
    for (int i = 0; i < GBT * GLG; i++) {
        int row = i / GLG, n = i % GLG;
        double g = gd[i];
        tg[i] = n < GN
                    ? 18 * U32 * fabs(dd[row * GN + n] * vd[row * GLV + n]) * (1 + fabs(g) * (1 + 3 * GELU_C * g * g))
                    : 0;
        if (n >= GN)
            gg[i] = 99.0;
    }
    for (int i = 0; i < GBT * GLV; i++) {
        int row = i / GLV, n = i % GLV;
        double g = n < GN ? gd[row * GLG + n] : 0;
        tv[i] = n < GN ? U32 * fabs(dd[row * GN + n]) * (5 * fabs(g) + 3 * fabs(gelu_ref(g))) : 0;
        if (n >= GN)
            gv[i] = 99.0;
    }
    check_within(dgate, gg, tg, GBT * GLG, "gelu_mul dgate");
    check_within(dval, gv, tv, GBT * GLV, "gelu_mul dval");
    free(gd), free(vd), free(dd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv1d_causal),
        cmocka_unit_test(test_conv1d_split),
        cmocka_unit_test(test_conv1d_taps_by_hand),
        cmocka_unit_test(test_rglru_causal),
        cmocka_unit_test(test_rglru_split),
        cmocka_unit_test(test_rglru_gradient_cap),
        cmocka_unit_test(test_gelu_mul),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
