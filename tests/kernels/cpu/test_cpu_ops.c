/* tests/kernels/cpu/test_cpu_ops.c: every CPU op against a double-precision reference written from the contract in
 * kernels/ops.h, with tolerances derived from fp32 rounding rather than picked by hand.
 *
 * u = 2^-24 is fp32's unit roundoff. A sum of K terms computed in fp32 is within K u sum|terms| of the
 * exact sum (Higham's gamma_K, first order); a product or quotient adds u; the CPU twin's fast exp
 * (kernels/cpu/fastmath.h) is within 2e-7 < 4u. Each check below states its bound per element from
 * the magnitudes the reference sums, so a tolerance is as tight as fp32 allows on that element and no
 * tighter. Forwards are compared with a plain double loop; backwards with fourth-order central
 * differences of that double loop (truncation ~h^4, far below fp32), so each backward is checked
 * against the math, not against a second copy of the same formula. Shapes are small and odd on
 * purpose; the inputs span scales where each constant of the contract (RMSNorm's eps, GeLU's
 * constants, the reset bits, the ignore label, the bias corrections) changes the result well beyond
 * the bound. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kernels/cpu/cpu_ops.h"
#include "tests/common/testutil.h"

#define U32 0x1.0p-24

/* ---- comparison and finite differences ---- */

/* Fails unless |got - want| <= tol element by element (NaN fails); reports how close it came. */
static void check_within(const float *got, const double *want, const double *tol, size_t n, const char *what)
{
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - want[i]);
        if (!(e <= tol[i]))
            fail_msg("%s[%zu]: got %.9g want %.9g (|error| %.3g > tol %.3g)", what, i, (double)got[i], want[i], e,
                     tol[i]);
        if (tol[i] > 0)
            worst = fmax(worst, e / tol[i]);
    }
    print_message("# %-22s n=%-5zu worst |error|/tol %.3f\n", what, n, worst);
}

typedef double (*scalar_fn)(void *ctx, const double *x);

/* Fourth-order central differences: (f(-2h) - 8 f(-h) + 8 f(h) - f(2h)) / 12h, error ~h^4 f^(5) / 30.
 * step[i] (or 1e-3 when step is NULL) is chosen by the caller well inside the scale the function
 * varies on. */
static void fd_grad(scalar_fn fn, void *ctx, double *x, size_t n, const double *step, double *grad)
{
    for (size_t i = 0; i < n; i++) {
        double keep = x[i], h = step ? step[i] : 1e-3, f[4];
        const double at[4] = {-2, -1, 1, 2};
        for (int s = 0; s < 4; s++) {
            x[i] = keep + at[s] * h;
            f[s] = fn(ctx, x);
        }
        x[i] = keep;
        grad[i] = (f[0] - 8 * f[1] + 8 * f[2] - f[3]) / (12 * h);
    }
}

static double *to_double(const float *x, size_t n)
{
    double *d = malloc(n * sizeof *d);
    for (size_t i = 0; i < n; i++)
        d[i] = x[i];
    return d;
}

static double *dalloc(size_t n)
{
    return calloc(n, sizeof(double));
}

/* ---- embedding ---- */

/* Forward is a copy (exact). The backward scatter-adds into a non-zero gradient: an entry hit k times
 * is k fp32 additions, within k u (|start| + sum|dout|). */
static void test_embedding(void **state)
{
    (void)state;
    enum { V = 7, C = 5, BT = 13 };
    birdie_rng rng = birdie_rng_stream(1, 0, 0, BIRDIE_RNG_TEST);
    float wte[V * C], out[BT * C], dout[BT * C], dwte[V * C];
    int32_t tok[BT];
    fill_random(wte, V * C, 1, &rng);
    fill_random(dout, BT * C, 1, &rng);
    fill_random(dwte, V * C, 1, &rng);
    for (int i = 0; i < BT; i++)
        tok[i] = (int32_t)birdie_rng_below(&rng, V - 1); /* row V-1 never used: must stay untouched */
    tok[3] = tok[0]; /* a guaranteed repeat */
    double want[V * C], mag[V * C], hits[V] = {0};
    for (int i = 0; i < V * C; i++)
        want[i] = dwte[i], mag[i] = fabs(dwte[i]);
    cpu_embedding_forward(out, tok, wte, BT, C);
    cpu_embedding_backward(dwte, dout, tok, BT, C);
    for (int i = 0; i < BT; i++) {
        hits[tok[i]]++;
        for (int c = 0; c < C; c++) {
            assert_true(out[i * C + c] == wte[tok[i] * C + c]);
            want[tok[i] * C + c] += dout[i * C + c];
            mag[tok[i] * C + c] += fabs(dout[i * C + c]);
        }
    }
    double tol[V * C];
    for (int i = 0; i < V * C; i++)
        tol[i] = hits[i / C] * U32 * mag[i];
    check_within(dwte, want, tol, V * C, "embedding dwte");
}

/* ---- rmsnorm ---- */

#define RMS_EPS 1e-5 /* kernels/ops.h */

typedef struct {
    int BT, C;
    const double *w, *dy, *x;
    int wrt_weight; /* differentiate with respect to the weight instead of the input */
} rms_ctx;

static void rmsnorm_ref(double *y, double *s_out, const double *x, const double *w, int BT, int C)
{
    for (int i = 0; i < BT; i++) {
        double ss = 0;
        for (int c = 0; c < C; c++)
            ss += x[i * C + c] * x[i * C + c];
        double s = 1.0 / sqrt(ss / C + RMS_EPS);
        if (s_out)
            s_out[i] = s;
        for (int c = 0; c < C; c++)
            y[i * C + c] = x[i * C + c] * s * w[c];
    }
}

static double rms_loss(void *vctx, const double *v)
{
    rms_ctx *k = vctx;
    double *y = dalloc((size_t)k->BT * k->C), L = 0;
    rmsnorm_ref(y, NULL, k->wrt_weight ? k->x : v, k->wrt_weight ? v : k->w, k->BT, k->C);
    for (int i = 0; i < k->BT * k->C; i++)
        L += k->dy[i] * y[i];
    free(y);
    return L;
}

/* Rows at scales from 1e-3 to 10: where mean(x^2) is near eps, the eps is most of the normaliser, so a
 * wrong eps is off by a factor; at scale 10 the rows check the plain 1/rms. */
static void test_rmsnorm(void **state)
{
    (void)state;
    enum { BT = 6, C = 13 };
    static const float scale[BT] = {1e-3f, 3e-3f, 1e-2f, 0.1f, 1.0f, 10.0f};
    birdie_rng rng = birdie_rng_stream(2, 0, 0, BIRDIE_RNG_TEST);
    float x[BT * C], w[C], y[BT * C], rstd[BT], dy[BT * C], dx[BT * C], dw[C];
    for (int i = 0; i < BT; i++)
        fill_random(x + i * C, C, scale[i], &rng);
    fill_random(w, C, 1, &rng);
    fill_random(dy, BT * C, 1, &rng);
    fill_random(dw, C, 0.5f, &rng); /* both gradients accumulate (+=) */
    for (int i = 0; i < BT * C; i++)
        dx[i] = 0.25f;
    float dw0[C];
    memcpy(dw0, dw, sizeof dw);
    cpu_rmsnorm_forward(y, rstd, x, w, BT, C);
    cpu_rmsnorm_backward(dx, dw, dy, x, w, rstd, BT, C);

    double *xd = to_double(x, BT * C), *wd = to_double(w, C), *dyd = to_double(dy, BT * C);
    double yref[BT * C], sref[BT], tol[BT * C], n_ref[BT * C];
    rmsnorm_ref(yref, sref, xd, wd, BT, C);
    /* sum of C squares (C+1)u, then /C, +eps, sqrt (halves it), 1/ and two products: (C+1)/2 + 6 u */
    double ks = (C + 1) / 2.0 + 6;
    for (int i = 0; i < BT * C; i++) {
        tol[i] = 2 * ks * U32 * fabs(yref[i]);
        n_ref[i] = xd[i] * sref[i / C];
    }
    check_within(y, yref, tol, BT * C, "rmsnorm y");
    double rtol[BT];
    for (int i = 0; i < BT; i++)
        rtol[i] = 2 * ks * U32 * sref[i];
    check_within(rstd, sref, rtol, BT, "rmsnorm rstd");

    /* dx = start + s (w dy - n mean(w dy n)): the mean is a C-term sum, and s enters the second term
     * cubed, so with s's own forward error ks u: (C + 4 + 3 ks + 6) u times the magnitudes summed. */
    double gx[BT * C], gw[C], step[BT * C];
    for (int i = 0; i < BT * C; i++) /* well inside the row's scale sqrt(mean x^2 + eps) */
        step[i] = 1e-3 / sref[i / C];
    rms_ctx k = {BT, C, wd, dyd, xd, 0};
    fd_grad(rms_loss, &k, xd, BT * C, step, gx);
    for (int i = 0; i < BT; i++) {
        double dot_mag = 0;
        for (int c = 0; c < C; c++)
            dot_mag += fabs(wd[c] * dyd[i * C + c] * n_ref[i * C + c]) / C;
        for (int c = 0; c < C; c++) {
            int j = i * C + c;
            gx[j] += 0.25;
            double mag = 0.25 + sref[i] * (fabs(wd[c] * dyd[j]) + fabs(n_ref[j]) * dot_mag);
            tol[j] = (C + 10 + 3 * ks) * U32 * mag;
        }
    }
    check_within(dx, gx, tol, BT * C, "rmsnorm dx");
    /* dweight = start + sum over rows of dy n: a BT-term sum of products carrying s's error */
    k.wrt_weight = 1;
    fd_grad(rms_loss, &k, wd, C, NULL, gw);
    double twd[C];
    for (int c = 0; c < C; c++) {
        double mag = fabs(dw0[c]);
        for (int i = 0; i < BT; i++)
            mag += fabs(dyd[i * C + c] * n_ref[i * C + c]);
        gw[c] += dw0[c];
        twd[c] = (BT + 3 + ks) * U32 * mag;
    }
    check_within(dw, gw, twd, C, "rmsnorm dweight");
    free(xd), free(wd), free(dyd);
}

/* ---- matmul ---- */

/* Every output is a K-term sum (plus a start value or bias): within (K + 2) u (|start| + sum|terms|).
 * The shape is big enough for OpenBLAS's blocked kernels and odd in every dimension. */
static void test_matmul(void **state)
{
    (void)state;
    enum { BT = 37, C = 70, OC = 45 };
    birdie_rng rng = birdie_rng_stream(3, 0, 0, BIRDIE_RNG_TEST);
    float *x = malloc(BT * C * sizeof *x), *w = malloc(OC * C * sizeof *w), b[OC], *y = malloc(BT * OC * sizeof *y);
    float *dy = malloc(BT * OC * sizeof *dy), *dx = malloc(BT * C * sizeof *dx), *dw = malloc(OC * C * sizeof *dw);
    float db[OC], *y2 = malloc(BT * OC * sizeof *y2);
    fill_random(x, BT * C, 1, &rng);
    fill_random(w, OC * C, 1, &rng);
    fill_random(b, OC, 1, &rng);
    fill_random(dy, BT * OC, 1, &rng);
    fill_random(dw, OC * C, 0.5f, &rng); /* dweight and dbias accumulate */
    fill_random(db, OC, 0.5f, &rng);
    for (int i = 0; i < BT * C; i++)
        dx[i] = 123.0f; /* dinp is written, not accumulated */
    double *yref = dalloc(BT * OC), *ty = dalloc(BT * OC), *y0ref = dalloc(BT * OC), *ty0 = dalloc(BT * OC);
    double *dxref = dalloc(BT * C), *tdx = dalloc(BT * C), *dwref = dalloc(OC * C), *tdw = dalloc(OC * C);
    double dbref[OC], tdb[OC];
    double *dw_start = to_double(dw, OC * C);
    for (int i = 0; i < OC * C; i++)
        dwref[i] = dw[i], tdw[i] = fabs(dw[i]);
    for (int o = 0; o < OC; o++)
        dbref[o] = db[o], tdb[o] = fabs(db[o]);
    for (int i = 0; i < BT; i++)
        for (int o = 0; o < OC; o++) {
            double s = 0, mag = 0, g = dy[i * OC + o];
            for (int c = 0; c < C; c++) {
                double xw = (double)x[i * C + c] * w[o * C + c];
                s += xw, mag += fabs(xw);
                dxref[i * C + c] += g * w[o * C + c];
                tdx[i * C + c] += fabs(g * w[o * C + c]);
                dwref[o * C + c] += g * x[i * C + c];
                tdw[o * C + c] += fabs(g * x[i * C + c]);
            }
            yref[i * OC + o] = s + b[o], ty[i * OC + o] = (C + 2) * U32 * (mag + fabs(b[o]));
            y0ref[i * OC + o] = s, ty0[i * OC + o] = (C + 2) * U32 * mag;
            dbref[o] += g, tdb[o] += fabs(g);
        }
    for (int i = 0; i < BT * C; i++)
        tdx[i] *= (OC + 2) * U32;
    for (int i = 0; i < OC * C; i++)
        tdw[i] *= (BT + 2) * U32;
    for (int o = 0; o < OC; o++)
        tdb[o] *= (BT + 2) * U32;

    cpu_matmul_forward(y, x, w, b, BT, C, OC);
    cpu_matmul_backward(dx, dw, db, dy, x, w, BT, C, OC);
    check_within(y, yref, ty, BT * OC, "matmul y");
    check_within(dx, dxref, tdx, BT * C, "matmul dinp");
    check_within(dw, dwref, tdw, OC * C, "matmul dweight");
    check_within(db, dbref, tdb, OC, "matmul dbias");
    /* no bias; no dinp and no dbias (NULL): the weight gradient still accumulates */
    cpu_matmul_forward(y2, x, w, NULL, BT, C, OC);
    check_within(y2, y0ref, ty0, BT * OC, "matmul y (no bias)");
    float *dw2 = malloc(OC * C * sizeof *dw2);
    memcpy(dw2, dw, OC * C * sizeof *dw2);
    cpu_matmul_backward(NULL, dw2, NULL, dy, x, w, BT, C, OC);
    for (int i = 0; i < OC * C; i++) { /* start + 2 sum, twice the rounding */
        dwref[i] += dwref[i] - dw_start[i];
        tdw[i] = 2 * tdw[i] + U32 * fabs(dwref[i]);
    }
    check_within(dw2, dwref, tdw, OC * C, "matmul dweight (2nd)");
    free(dw2), free(dw_start);
    free(x), free(w), free(y), free(dy), free(dx), free(dw), free(y2);
    free(yref), free(ty), free(y0ref), free(ty0), free(dxref), free(tdx), free(dwref), free(tdw);
}

static void test_residual(void **state)
{
    (void)state;
    enum { n = 29 };
    birdie_rng rng = birdie_rng_stream(13, 0, 0, BIRDIE_RNG_TEST);
    float a[n], b[n], out[n];
    fill_random(a, n, 3, &rng);
    fill_random(b, n, 1e-3f, &rng);
    cpu_residual_forward(out, a, b, n);
    for (int i = 0; i < n; i++) /* one correctly rounded addition */
        assert_true(out[i] == (float)((double)a[i] + (double)b[i]));
}

/* ---- gates ---- */

static double sigm(double x)
{
    return 1.0 / (1.0 + exp(-x));
}
#define GELU_K 0.7978845608028654 /* sqrt(2/pi) */
#define GELU_C 0.044715
static double gelu_ref(double x)
{
    return 0.5 * x * (1 + tanh(GELU_K * (x + GELU_C * x * x * x)));
}

typedef struct {
    int BT, N;
    const double *h, *dx, *df, *dg;
} gates_ctx;

/* L = sum(dx * x(proj) + df * f(proj) + dg * g(proj, h)) over the three gate outputs */
static double gates_loss(void *vctx, const double *proj)
{
    gates_ctx *k = vctx;
    double L = 0;
    int N = k->N;
    for (int i = 0; i < k->BT; i++)
        for (int n = 0; n < N; n++) {
            const double *p = proj + (size_t)i * 4 * N;
            size_t j = (size_t)i * N + n;
            L += k->dx[j] * sigm(p[n]) * p[N + n] + k->df[j] * sigm(p[3 * N + n]) +
                 k->dg[j] * gelu_ref(p[2 * N + n]) * k->h[j];
        }
    return L;
}

/* Scalar activations over a grid: sigmoid within 8u relative (fast exp < 4u, 1 + e, 1/); GeLU's tanh
 * = 1 - 2/(e^2z + 1) within 8u absolute, so GeLU within 0.5|x| 10u + 2u|gelu| absolute; its derivative
 * likewise with the chain's factors. The grid reaches |x| = 6, where GeLU's cubic term is 40% of the
 * argument and a wrong constant shows. */
static void test_activations(void **state)
{
    (void)state;
    enum { n = 241 };
    float s[n], g[n], gg[n];
    double ws[n], wg[n], wgg[n], ts[n], tg[n], tgg[n];
    for (int i = 0; i < n; i++) {
        float x = (float)(-6.0 + 12.0 * i / (n - 1));
        double xd = x, k = GELU_K * (xd + GELU_C * xd * xd * xd), t = tanh(k);
        s[i] = cpu_sigmoid(x), g[i] = cpu_gelu(x), gg[i] = cpu_gelu_grad(x);
        ws[i] = sigm(xd), ts[i] = 8 * U32 * ws[i];
        wg[i] = gelu_ref(xd), tg[i] = U32 * (5 * fabs(xd) + 2 * fabs(wg[i])) + 1e-37;
        wgg[i] = 0.5 * (1 + t) + 0.5 * xd * (1 - t * t) * GELU_K * (1 + 3 * GELU_C * xd * xd);
        tgg[i] = 16 * U32 * (1 + fabs(xd) * (1 + 3 * GELU_C * xd * xd));
    }
    check_within(s, ws, ts, n, "sigmoid");
    check_within(g, wg, tg, n, "gelu");
    check_within(gg, wgg, tgg, n, "gelu'");
}

static void test_ssm_gates(void **state)
{
    (void)state;
    enum { BT = 3, N = 7 };
    birdie_rng rng = birdie_rng_stream(4, 0, 0, BIRDIE_RNG_TEST);
    float proj[BT * 4 * N], h[BT * N], x[BT * N], f[BT * N], g[BT * N], dx[BT * N], df[BT * N], dg[BT * N], dh[BT * N],
        dproj[BT * 4 * N];
    fill_random(proj, BT * 4 * N, 4, &rng);
    fill_random(h, BT * N, 1, &rng);
    fill_random(dx, BT * N, 1, &rng);
    fill_random(df, BT * N, 1, &rng);
    fill_random(dg, BT * N, 1, &rng);
    cpu_ssm_gates_forward(x, f, proj, BT, N);
    cpu_ssm_output_forward(g, proj, h, BT, N);
    double wx[BT * N], wf[BT * N], wgo[BT * N], tx[BT * N], tf[BT * N], tgo[BT * N];
    for (int i = 0; i < BT; i++)
        for (int n = 0; n < N; n++) {
            const float *p = proj + i * 4 * N;
            int j = i * N + n;
            double ai = p[n], az = p[N + n], ao = p[2 * N + n], af = p[3 * N + n];
            wx[j] = sigm(ai) * az, tx[j] = 10 * U32 * fabs(wx[j]);
            wf[j] = sigm(af), tf[j] = 8 * U32 * wf[j];
            wgo[j] = gelu_ref(ao) * h[j], tgo[j] = U32 * fabs(h[j]) * (5 * fabs(ao) + 3 * fabs(gelu_ref(ao)));
        }
    check_within(x, wx, tx, BT * N, "gates x");
    check_within(f, wf, tf, BT * N, "gates f");
    float f_alone[BT * N];
    cpu_ssm_gates_forward(NULL, f_alone, proj, BT, N); /* the forget gate alone: the same bits */
    assert_memory_equal(f_alone, f, sizeof f);
    check_within(g, wgo, tgo, BT * N, "output g");

    for (int i = 0; i < BT * 4 * N; i++)
        dproj[i] = 99.0f; /* every slot is written */
    cpu_ssm_output_backward(dproj, dh, dg, proj, h, BT, N);
    cpu_ssm_gates_backward(dproj, dx, df, proj, BT, N);
    double *pd = to_double(proj, BT * 4 * N), *hd = to_double(h, BT * N), *dxd = to_double(dx, BT * N),
           *dfd = to_double(df, BT * N), *dgd = to_double(dg, BT * N), gp[BT * 4 * N], tp[BT * 4 * N];
    gates_ctx k = {BT, N, hd, dxd, dfd, dgd};
    fd_grad(gates_loss, &k, pd, BT * 4 * N, NULL, gp);
    /* d a_i = dx a_z s(1-s): 1-s carries s's absolute error, so bound by 16u |dx a_z| s; d a_z = dx s;
     * d a_f likewise; d a_o = dg h gelu'(a_o) with gelu' bounded as in test_activations. */
    for (int i = 0; i < BT; i++)
        for (int n = 0; n < N; n++) {
            const double *p = pd + i * 4 * N;
            int j = i * N + n;
            double *t = tp + i * 4 * N;
            t[n] = 16 * U32 * fabs(dxd[j] * p[N + n]) * sigm(p[n]);
            t[N + n] = 10 * U32 * fabs(dxd[j]) * sigm(p[n]);
            double ao = p[2 * N + n];
            t[2 * N + n] = 18 * U32 * fabs(dgd[j] * hd[j]) * (1 + fabs(ao) * (1 + 3 * GELU_C * ao * ao));
            t[3 * N + n] = 16 * U32 * fabs(dfd[j]) * sigm(p[3 * N + n]);
        }
    check_within(dproj, gp, tp, BT * 4 * N, "gates dproj");
    double wdh[BT * N], tdh[BT * N];
    for (int j = 0; j < BT * N; j++) { /* dh = dg * gelu(a_o) */
        double ao = pd[(j / N) * 4 * N + 2 * N + j % N];
        wdh[j] = dgd[j] * gelu_ref(ao), tdh[j] = U32 * fabs(dgd[j]) * (5 * fabs(ao) + 3 * fabs(gelu_ref(ao)));
    }
    check_within(dh, wdh, tdh, BT * N, "output dh");
    free(pd), free(hd), free(dxd), free(dfd), free(dgd);
}

/* ---- scan ---- */

typedef struct {
    int B, T, N, n_fwd;
    const uint8_t *resets;
    const double *x, *f, *dh;
    int wrt_f;
} scan_ctx;

/* The naive scan, one channel at a time in double (docs/algorithm.md §1.3). mag (optional) gets the same recursion over
 * |f| and |x|: the magnitude that bounds the fp32 rounding of h. */
static void scan_ref(double *h, double *mag, const double *x, const double *f, const uint8_t *resets, int B, int T,
                     int N, int n_fwd)
{
    for (int b = 0; b < B; b++)
        for (int n = 0; n < N; n++) {
            int reverse = n >= n_fwd;
            double state = 0, m = 0;
            for (int s = 0; s < T; s++) {
                int t = reverse ? T - 1 - s : s;
                size_t i = ((size_t)b * T + t) * N + n;
                int bit = reverse ? BIRDIE_RESET_REV : BIRDIE_RESET_FWD;
                int reset = s == 0 || (resets[b * T + t] & bit);
                state = (reset ? 0.0 : f[i] * state) + x[i];
                m = (reset ? 0.0 : fabs(f[i]) * m) + fabs(x[i]);
                h[i] = state;
                if (mag)
                    mag[i] = m;
            }
        }
}

static double scan_loss(void *vctx, const double *v)
{
    scan_ctx *k = vctx;
    size_t n = (size_t)k->B * k->T * k->N;
    double *h = dalloc(n), L = 0;
    scan_ref(h, NULL, k->wrt_f ? k->x : v, k->wrt_f ? v : k->f, k->resets, k->B, k->T, k->N, k->n_fwd);
    for (size_t i = 0; i < n; i++)
        L += k->dh[i] * h[i];
    free(h);
    return L;
}

/* h_t = f h_{t-1} + x_t rounds twice per step relative to the magnitude recursion M_t = |f| M_{t-1} +
 * |x_t| >= |h_t|; the rounding of every earlier step is carried by products of f <= 1, so after T steps
 * |error| <= 2 T u M_t. The backward's dH recursion is the same against the scan direction (magnitude
 * D_t); df_t = dH_t h_{t-1} adds the forward's error of h_{t-1}. */
static void check_scan(int B, int T, int N, int n_fwd, uint64_t seed)
{
    size_t BTN = (size_t)B * T * N;
    birdie_rng rng = birdie_rng_stream(seed, 0, 0, BIRDIE_RNG_TEST);
    float *x = malloc(BTN * sizeof *x), *f = malloc(BTN * sizeof *f), *h = malloc(BTN * sizeof *h),
          *dh = malloc(BTN * sizeof *dh), *dx = malloc(BTN * sizeof *dx), *df = malloc(BTN * sizeof *df);
    uint8_t *resets = malloc((size_t)B * T);
    fill_random(x, BTN, 1, &rng);
    for (size_t i = 0; i < BTN; i++)
        f[i] = (float)(0.5 + 0.5 * birdie_rng_uniform(&rng));
    fill_random(dh, BTN, 1, &rng);
    for (int i = 0; i < B * T; i++)
        resets[i] = (uint8_t)birdie_rng_below(&rng, 4) & (uint8_t)birdie_rng_below(&rng, 4);
    for (size_t i = 0; i < BTN; i++)
        dx[i] = df[i] = 77.0f; /* both written, not accumulated */
    cpu_scan_forward(h, x, f, resets, B, T, N, n_fwd);
    cpu_scan_backward(dx, df, dh, h, f, resets, B, T, N, n_fwd);

    double *xd = to_double(x, BTN), *fd = to_double(f, BTN), *dhd = to_double(dh, BTN);
    double *href = dalloc(BTN), *mag = dalloc(BTN), *tol = dalloc(BTN), *gx = dalloc(BTN), *gf = dalloc(BTN);
    scan_ref(href, mag, xd, fd, resets, B, T, N, n_fwd);
    for (size_t i = 0; i < BTN; i++)
        tol[i] = 2 * T * U32 * mag[i];
    check_within(h, href, tol, BTN, "scan h");

    /* h is affine in each single x_t and f_t, so the differences are exact up to rounding */
    scan_ctx k = {B, T, N, n_fwd, resets, xd, fd, dhd, 0};
    fd_grad(scan_loss, &k, xd, BTN, NULL, gx);
    /* D_t: the same recursion as dH over |f| and |dh|, against the scan direction */
    double *dmag = dalloc(BTN);
    for (int b = 0; b < B; b++)
        for (int n = 0; n < N; n++) {
            int reverse = n >= n_fwd;
            double m = 0;
            for (int s = 0; s < T; s++) {
                int t = reverse ? s : T - 1 - s;
                size_t i = ((size_t)b * T + t) * N + n;
                m = fabs(dhd[i]) + m;
                dmag[i] = m;
                /* t is the later position of the next one visited; its state fed h_t unless t was
                 * reset (or is the row's first position in the scan direction) */
                int bit = reverse ? BIRDIE_RESET_REV : BIRDIE_RESET_FWD;
                int cut = (resets[b * T + t] & bit) || (reverse ? t == T - 1 : t == 0);
                m = cut ? 0.0 : fabs(fd[i]) * m;
            }
        }
    for (size_t i = 0; i < BTN; i++)
        tol[i] = 2 * T * U32 * dmag[i];
    check_within(dx, gx, tol, BTN, "scan dx");
    k.wrt_f = 1;
    fd_grad(scan_loss, &k, fd, BTN, NULL, gf);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            for (int n = 0; n < N; n++) {
                size_t i = ((size_t)b * T + t) * N + n;
                int reverse = n >= n_fwd;
                int e = reverse ? t + 1 : t - 1; /* the state f_t multiplies */
                int bit = reverse ? BIRDIE_RESET_REV : BIRDIE_RESET_FWD;
                if (e < 0 || e >= T || (resets[b * T + t] & bit)) {
                    gf[i] = 0.0, tol[i] = 0.0; /* a gate forced to 0 is not used: exactly no gradient */
                    continue;
                }
                tol[i] = (4 * T + 2) * U32 * dmag[i] * mag[((size_t)b * T + e) * N + n];
            }
    check_within(df, gf, tol, BTN, "scan df");
    free(xd), free(fd), free(dhd), free(href), free(mag), free(tol), free(gx), free(gf), free(dmag);
    free(x), free(f), free(h), free(dh), free(dx), free(df), free(resets);
}

static void test_scan_causal(void **state)
{
    (void)state;
    check_scan(2, 11, 6, 6, 5);
}
static void test_scan_bidirectional(void **state)
{
    (void)state;
    check_scan(2, 11, 6, 3, 6);
}
static void test_scan_all_reverse(void **state)
{
    (void)state;
    check_scan(2, 11, 6, 0, 7);
}
/* wider than one work block (64 channels), split point inside a block, a one-position row */
static void test_scan_blocks(void **state)
{
    (void)state;
    check_scan(2, 5, 150, 75, 8);
    check_scan(3, 1, 130, 64, 9);
}

/* Each reset bit cuts exactly its own direction at exactly its position: a forward reset at t cuts the
 * forward channels between t-1 and t and nothing else; a reverse reset at t cuts the reverse channels
 * between t+1 and t and nothing else. */
static void test_scan_reset_cuts(void **state)
{
    (void)state;
    enum { T = 8, N = 4 };
    float x[T * N], f[T * N], h1[T * N], h2[T * N];
    uint8_t resets[T] = {0, 0, 0, BIRDIE_RESET_FWD, 0, BIRDIE_RESET_REV, 0, 0};
    birdie_rng rng = birdie_rng_stream(8, 0, 0, BIRDIE_RNG_TEST);
    fill_random(x, T * N, 1, &rng);
    for (int i = 0; i < T * N; i++)
        f[i] = 0.9f;
    cpu_scan_forward(h1, x, f, resets, 1, T, N, N / 2);
    /* forward channel 0 at t = 2 (just before the forward reset at 3), reverse channel 3 at t = 6 (just
     * after the reverse reset at 5); forward channel 1 at t = 4 (a reverse reset lies ahead: no cut);
     * reverse channel 2 at t = 4 (the forward reset at 3 lies ahead: no cut) */
    x[2 * N + 0] += 1.0f;
    x[6 * N + 3] += 1.0f;
    x[4 * N + 1] += 1.0f;
    x[4 * N + 2] += 1.0f;
    cpu_scan_forward(h2, x, f, resets, 1, T, N, N / 2);
    for (int t = 0; t < T; t++) {
        assert_int_equal(h1[t * N + 0] != h2[t * N + 0], t == 2);
        assert_int_equal(h1[t * N + 3] != h2[t * N + 3], t == 6);
        assert_int_equal(h1[t * N + 1] != h2[t * N + 1], t >= 4);
        assert_int_equal(h1[t * N + 2] != h2[t * N + 2], t <= 4);
    }
}

/* ---- cross-entropy ---- */

typedef struct {
    int BT, V;
    const int32_t *targets;
    double dloss;
} ce_ctx;

static double ce_loss(void *vctx, const double *z)
{
    ce_ctx *k = vctx;
    double L = 0;
    for (int i = 0; i < k->BT; i++) {
        if (k->targets[i] == BIRDIE_IGNORE_LABEL)
            continue;
        double s = 0;
        for (int v = 0; v < k->V; v++)
            s += exp(z[i * k->V + v]);
        L += k->dloss * (log(s) - z[i * k->V + k->targets[i]]);
    }
    return L;
}

/* Targets include 0 (the PAD id, a real class for the loss) and V-1; only BIRDIE_IGNORE_LABEL is
 * skipped, with a loss and a gradient row of exactly 0. Loss: the V-term sum of exponentials (V + 2) u
 * relative, so (V + 2) u absolute after the log, plus the rounding of log + max - z. Gradient: p_v
 * (V + 4 + |z_v - max|) u |dloss| (the exp's argument is rounded) and u |dloss| on the target. */
static void test_crossentropy(void **state)
{
    (void)state;
    enum { BT = 7, V = 17 };
    birdie_rng rng = birdie_rng_stream(9, 0, 0, BIRDIE_RNG_TEST);
    float z[BT * V], dz[BT * V], losses[BT];
    int32_t targets[BT] = {3, BIRDIE_IGNORE_LABEL, 0, 16, BIRDIE_IGNORE_LABEL, 7, 0};
    const float dloss = 0.37f;
    fill_random(z, BT * V, 4, &rng);
    for (int v = 0; v < V; v++)
        z[6 * V + v] += 50.0f; /* a shifted row: the max subtraction must keep it finite */
    for (int i = 0; i < BT * V; i++)
        dz[i] = 5.0f; /* written, not accumulated; ignored rows included */
    cpu_crossentropy_forward_backward(losses, dz, z, targets, BT, V, dloss);
    double *zd = to_double(z, BT * V), g[BT * V], tz[BT * V], want[BT], tl[BT];
    for (int i = 0; i < BT; i++) {
        ce_ctx one = {1, V, targets + i, 1.0};
        double mx = -INFINITY, se = 0;
        for (int v = 0; v < V; v++)
            mx = fmax(mx, zd[i * V + v]);
        for (int v = 0; v < V; v++)
            se += exp(zd[i * V + v] - mx);
        want[i] = ce_loss(&one, zd + i * V);
        if (targets[i] == BIRDIE_IGNORE_LABEL) {
            tl[i] = 0;
            for (int v = 0; v < V; v++)
                tz[i * V + v] = 0;
            continue;
        }
        double zt = zd[i * V + targets[i]];
        want[i] = log(se) + mx - zt; /* the same value, without cancellation for the shifted row */
        tl[i] = (V + 2) * U32 + 2 * U32 * (fabs(log(se)) + fabs(mx) + fabs(zt));
        for (int v = 0; v < V; v++) {
            double pv = exp(zd[i * V + v] - mx) / se;
            tz[i * V + v] = dloss * U32 * (pv * (V + 4 + fabs(zd[i * V + v] - mx)) + (v == targets[i]));
        }
    }
    float fl[BT];
    memcpy(fl, losses, sizeof fl);
    check_within(fl, want, tl, BT, "crossentropy loss");
    /* the gradient of dloss * sum(loss): differences on the unshifted rows, the closed form p - onehot
     * on the shifted one (exp(z) of it overflows no double, but the differences lose digits there) */
    ce_ctx k = {BT - 1, V, targets, dloss};
    fd_grad(ce_loss, &k, zd, (BT - 1) * V, NULL, g);
    {
        int i = BT - 1;
        double mx = -INFINITY, se = 0;
        for (int v = 0; v < V; v++)
            mx = fmax(mx, zd[i * V + v]);
        for (int v = 0; v < V; v++)
            se += exp(zd[i * V + v] - mx);
        for (int v = 0; v < V; v++)
            g[i * V + v] = dloss * (exp(zd[i * V + v] - mx) / se - (v == targets[i]));
    }
    for (int i = 0; i < BT; i++) /* ignored rows: the loss does not read them, exactly 0 */
        if (targets[i] == BIRDIE_IGNORE_LABEL)
            for (int v = 0; v < V; v++)
                g[i * V + v] = 0.0;
    check_within(dz, g, tz, BT * V, "crossentropy dlogits");
    /* in place (dlogits aliasing logits) gives the same result */
    float zi[BT * V];
    memcpy(zi, z, sizeof zi);
    cpu_crossentropy_forward_backward(losses, zi, zi, targets, BT, V, dloss);
    assert_memory_equal(zi, dz, sizeof zi);
    free(zd);
}

/* ---- AdamW and sum of squares ---- */

/* The double reference of the update, with the float constants the op receives (0.9f is not 0.9).
 * Bound per step: the moments round 3 times (relative to |beta m| + |(1-beta) g|), the bias
 * corrections (powf) 2u, the quotient and sqrt 3u, the update 3u relative to the parameter and the
 * step; errors of earlier steps are carried with weight beta < 1. A moment that cancels towards 0
 * keeps an absolute error of its terms' size, which the update sees divided by sqrt(v) ~ |g|: O(u)
 * absolute. 24 u per step times the step's number, on |p| + lr (1 + |update| + wd |p|), covers it. */
static void test_adamw(void **state)
{
    (void)state;
    enum { n = 37, STEPS = 6 };
    birdie_rng rng = birdie_rng_stream(10, 0, 0, BIRDIE_RNG_TEST);
    float p[n], g[n], m[n] = {0}, v[n] = {0};
    double pd[n], md[n] = {0}, vd[n] = {0}, tol[n];
    const float lr = 1e-2f, b1 = 0.9f, b2 = 0.95f, eps = 1e-8f, wd = 0.1f, gs = 0.5f;
    fill_random(p, n, 1, &rng);
    for (int i = 0; i < n; i++)
        pd[i] = p[i];
    for (int step = 1; step <= STEPS; step++) {
        fill_random(g, n, 1, &rng);
        birdie_adamw_params ap = {
            .lr = lr, .beta1 = b1, .beta2 = b2, .eps = eps, .weight_decay = wd, .grad_scale = gs, .step = step};
        cpu_adamw_update(p, g, m, v, n, &ap);
        for (int i = 0; i < n; i++) {
            double gi = (double)gs * g[i];
            md[i] = (double)b1 * md[i] + (1 - (double)b1) * gi;
            vd[i] = (double)b2 * vd[i] + (1 - (double)b2) * gi * gi;
            double mh = md[i] / (1 - pow(b1, step)), vh = vd[i] / (1 - pow(b2, step));
            double upd = mh / (sqrt(vh) + eps);
            pd[i] -= (double)lr * (upd + (double)wd * pd[i]);
            tol[i] = 24 * step * U32 * (fabs(pd[i]) + lr * (1 + fabs(upd) + wd * fabs(pd[i])));
        }
    }
    check_within(p, pd, tol, n, "adamw param");
    double mref[n], tm[n];
    for (int i = 0; i < n; i++)
        mref[i] = md[i], tm[i] = 8 * STEPS * U32 * gs; /* |m| <= gs max|g| = gs */
    check_within(m, mref, tm, n, "adamw first moment");

    /* zero gradient: only the decoupled decay p (1 - lr wd) acts */
    float q[n], z[n] = {0}, mq[n] = {0}, vq[n] = {0};
    double wq[n], tq[n];
    fill_random(q, n, 1, &rng);
    birdie_adamw_params ap = {
        .lr = 0.5f, .beta1 = b1, .beta2 = b2, .eps = eps, .weight_decay = 0.2f, .grad_scale = 1.0f, .step = 1};
    for (int i = 0; i < n; i++)
        wq[i] = q[i] * (1.0 - 0.5 * (double)0.2f), tq[i] = 4 * U32 * fabs(q[i]);
    cpu_adamw_update(q, z, mq, vq, n, &ap);
    check_within(q, wq, tq, n, "adamw decay only");

    double ss = 0;
    for (int i = 0; i < n; i++)
        ss += (double)g[i] * g[i];
    assert_true(fabs(cpu_sum_squares(g, n) - ss) <= 1e-15 * n * ss);
}

/* The one-call form over a flat buffer: each segment gets exactly adamw_update's bits with the
 * params' decay where its flag is set and none where not; the elements between segments (a gap) and
 * past the last are left alone. A mix-up of the flags, a segment updated twice or a gap updated
 * shows as a bit difference against the tensor-by-tensor reference. */
static void test_adamw_segments(void **state)
{
    (void)state;
    enum { n = 101 };
    const birdie_adamw_segment segs[] = {{0, 13, 1}, {13, 20, 0}, {33, 0, 1}, {33, 7, 0}, {45, 30, 1}, {75, 20, 1}};
    const int n_segs = (int)(sizeof segs / sizeof segs[0]);
    birdie_rng rng = birdie_rng_stream(11, 0, 0, BIRDIE_RNG_TEST);
    float p[n], g[n], m[n] = {0}, v[n] = {0}, p_ref[n], m_ref[n] = {0}, v_ref[n] = {0}, p0[n];
    fill_random(p, n, 1, &rng);
    memcpy(p_ref, p, sizeof p);
    memcpy(p0, p, sizeof p);
    for (int step = 1; step <= 3; step++) {
        fill_random(g, n, 1, &rng);
        birdie_adamw_params ap = {.lr = 1e-2f,
                                  .beta1 = 0.9f,
                                  .beta2 = 0.95f,
                                  .eps = 1e-8f,
                                  .weight_decay = 0.3f,
                                  .grad_scale = 0.5f,
                                  .step = step};
        cpu_adamw_update_segments(p, g, m, v, segs, n_segs, &ap);
        for (int s = 0; s < n_segs; s++) {
            birdie_adamw_params one = ap;
            one.weight_decay = segs[s].decay ? ap.weight_decay : 0.0f;
            size_t o = segs[s].offset;
            cpu_adamw_update(p_ref + o, g + o, m_ref + o, v_ref + o, segs[s].count, &one);
        }
    }
    assert_memory_equal(p, p_ref, sizeof p);
    assert_memory_equal(m, m_ref, sizeof m);
    assert_memory_equal(v, v_ref, sizeof v);
    for (int i = 40; i < 45; i++) /* the gap */
        assert_true(p[i] == p0[i] && m[i] == 0.0f && v[i] == 0.0f);
    for (int i = 95; i < n; i++) /* past the last segment */
        assert_true(p[i] == p0[i]);
    assert_true(p[0] != p0[0] && p[45] != p0[45]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_embedding),
        cmocka_unit_test(test_rmsnorm),
        cmocka_unit_test(test_matmul),
        cmocka_unit_test(test_residual),
        cmocka_unit_test(test_activations),
        cmocka_unit_test(test_ssm_gates),
        cmocka_unit_test(test_scan_causal),
        cmocka_unit_test(test_scan_bidirectional),
        cmocka_unit_test(test_scan_all_reverse),
        cmocka_unit_test(test_scan_blocks),
        cmocka_unit_test(test_scan_reset_cuts),
        cmocka_unit_test(test_crossentropy),
        cmocka_unit_test(test_adamw),
        cmocka_unit_test(test_adamw_segments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
