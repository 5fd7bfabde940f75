/* tests/test_cpu_ops.c: every CPU op against a naive double-precision loop.
 * Forwards are compared with a naive reference; backwards with central finite differences of that
 * double reference (L = sum(dy * f(x))), so each backward is checked against the math, not against
 * a second copy of the same formula. Shapes are small and odd on purpose. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kernels/cpu/cpu_ops.h"
#include "tests/testutil.h"

/* ---- finite differences over a double reference ---- */

typedef double (*scalar_fn)(void *ctx, const double *x);

static void fd_grad(scalar_fn fn, void *ctx, double *x, size_t n, double *grad)
{
    const double eps = 1e-6;
    for (size_t i = 0; i < n; i++) {
        double keep = x[i];
        x[i] = keep + eps;
        double up = fn(ctx, x);
        x[i] = keep - eps;
        double down = fn(ctx, x);
        x[i] = keep;
        grad[i] = (up - down) / (2 * eps);
    }
}

static double *to_double(const float *x, size_t n)
{
    double *d = malloc(n * sizeof *d);
    for (size_t i = 0; i < n; i++)
        d[i] = x[i];
    return d;
}

static void assert_close_d(const float *got, const double *want, size_t n, double atol, double rtol, const char *what)
{
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - want[i]);
        if (!(e <= atol + rtol * fabs(want[i])))
            fail_msg("%s[%zu]: got %.7g want %.7g", what, i, (double)got[i], want[i]);
    }
}

/* ---- embedding ---- */

static void test_embedding(void **state)
{
    (void)state;
    enum { V = 7, C = 5, BT = 9 };
    birdie_rng rng = birdie_rng_stream(1, 0, 0, BIRDIE_RNG_TEST);
    float wte[V * C], out[BT * C], dout[BT * C], dwte[V * C] = {0};
    int32_t tok[BT];
    fill_random(wte, V * C, 1, &rng);
    fill_random(dout, BT * C, 1, &rng);
    for (int i = 0; i < BT; i++)
        tok[i] = (int32_t)birdie_rng_below(&rng, V);
    cpu_embedding_forward(out, tok, wte, BT, C);
    cpu_embedding_backward(dwte, dout, tok, BT, C);
    double want[V * C] = {0};
    for (int i = 0; i < BT; i++)
        for (int c = 0; c < C; c++) {
            assert_true(out[i * C + c] == wte[tok[i] * C + c]);
            want[tok[i] * C + c] += dout[i * C + c];
        }
    assert_close_d(dwte, want, V * C, 1e-6, 1e-6, "dwte");
}

/* ---- rmsnorm ---- */

typedef struct {
    int BT, C;
    const double *w, *dy;
    int wrt_weight; /* differentiate with respect to the weight instead of the input */
    const double *x;
} rms_ctx;

static void rmsnorm_ref(double *y, const double *x, const double *w, int BT, int C)
{
    for (int i = 0; i < BT; i++) {
        double ss = 0;
        for (int c = 0; c < C; c++)
            ss += x[i * C + c] * x[i * C + c];
        double s = 1.0 / sqrt(ss / C + 1e-5);
        for (int c = 0; c < C; c++)
            y[i * C + c] = x[i * C + c] * s * w[c];
    }
}

static double rms_loss(void *vctx, const double *v)
{
    rms_ctx *k = vctx;
    double *y = malloc((size_t)k->BT * k->C * sizeof *y), L = 0;
    rmsnorm_ref(y, k->wrt_weight ? k->x : v, k->wrt_weight ? v : k->w, k->BT, k->C);
    for (int i = 0; i < k->BT * k->C; i++)
        L += k->dy[i] * y[i];
    free(y);
    return L;
}

static void test_rmsnorm(void **state)
{
    (void)state;
    enum { BT = 5, C = 13 };
    birdie_rng rng = birdie_rng_stream(2, 0, 0, BIRDIE_RNG_TEST);
    float x[BT * C], w[C], y[BT * C], rstd[BT], dy[BT * C], dx[BT * C], dw[C];
    fill_random(x, BT * C, 2, &rng);
    fill_random(w, C, 1, &rng);
    fill_random(dy, BT * C, 1, &rng);
    for (int i = 0; i < BT * C; i++)
        dx[i] = 0.25f; /* backward accumulates (+=) into dinp */
    memset(dw, 0, sizeof dw);
    cpu_rmsnorm_forward(y, rstd, x, w, BT, C);
    cpu_rmsnorm_backward(dx, dw, dy, x, w, rstd, BT, C);
    double *xd = to_double(x, BT * C), *wd = to_double(w, C), *dyd = to_double(dy, BT * C);
    double yref[BT * C], gx[BT * C], gw[C];
    rmsnorm_ref(yref, xd, wd, BT, C);
    assert_close_d(y, yref, BT * C, 1e-5, 1e-5, "rmsnorm y");
    rms_ctx k = {BT, C, wd, dyd, 0, xd};
    fd_grad(rms_loss, &k, xd, BT * C, gx);
    for (int i = 0; i < BT * C; i++)
        gx[i] += 0.25;
    assert_close_d(dx, gx, BT * C, 1e-4, 1e-3, "rmsnorm dx");
    k.wrt_weight = 1;
    fd_grad(rms_loss, &k, wd, C, gw);
    assert_close_d(dw, gw, C, 1e-4, 1e-3, "rmsnorm dw");
    free(xd), free(wd), free(dyd);
}

/* ---- matmul ---- */

static void test_matmul(void **state)
{
    (void)state;
    enum { BT = 7, C = 11, OC = 9 };
    birdie_rng rng = birdie_rng_stream(3, 0, 0, BIRDIE_RNG_TEST);
    float x[BT * C], w[OC * C], b[OC], y[BT * OC], dy[BT * OC], dx[BT * C], dw[OC * C], db[OC];
    fill_random(x, BT * C, 1, &rng);
    fill_random(w, OC * C, 1, &rng);
    fill_random(b, OC, 1, &rng);
    fill_random(dy, BT * OC, 1, &rng);
    for (int i = 0; i < OC * C; i++)
        dw[i] = 0.5f; /* accumulates */
    for (int i = 0; i < OC; i++)
        db[i] = -0.5f;
    cpu_matmul_forward(y, x, w, b, BT, C, OC);
    cpu_matmul_backward(dx, dw, db, dy, x, w, BT, C, OC);
    double yref[BT * OC], dxref[BT * C] = {0}, dwref[OC * C], dbref[OC];
    for (int i = 0; i < OC * C; i++)
        dwref[i] = 0.5;
    for (int o = 0; o < OC; o++)
        dbref[o] = -0.5;
    for (int i = 0; i < BT; i++)
        for (int o = 0; o < OC; o++) {
            double s = b[o];
            for (int c = 0; c < C; c++) {
                s += (double)x[i * C + c] * w[o * C + c];
                dxref[i * C + c] += (double)dy[i * OC + o] * w[o * C + c];
                dwref[o * C + c] += (double)dy[i * OC + o] * x[i * C + c];
            }
            yref[i * OC + o] = s;
            dbref[o] += dy[i * OC + o];
        }
    assert_close_d(y, yref, BT * OC, 1e-5, 1e-5, "matmul y");
    assert_close_d(dx, dxref, BT * C, 1e-5, 1e-5, "matmul dx");
    assert_close_d(dw, dwref, OC * C, 1e-5, 1e-5, "matmul dw");
    assert_close_d(db, dbref, OC, 1e-5, 1e-5, "matmul db");
    /* no bias, no dinp */
    float y2[BT * OC];
    cpu_matmul_forward(y2, x, w, NULL, BT, C, OC);
    for (int i = 0; i < BT * OC; i++)
        yref[i] -= b[i % OC];
    assert_close_d(y2, yref, BT * OC, 1e-5, 1e-5, "matmul y (no bias)");
    cpu_matmul_backward(NULL, dw, NULL, dy, x, w, BT, C, OC);
}

/* ---- gates ---- */

static double sigm(double x) { return 1.0 / (1.0 + exp(-x)); }
static double gelu_ref(double x) { return 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x))); }

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

static void test_ssm_gates(void **state)
{
    (void)state;
    enum { BT = 3, N = 7 };
    birdie_rng rng = birdie_rng_stream(4, 0, 0, BIRDIE_RNG_TEST);
    float proj[BT * 4 * N], h[BT * N], x[BT * N], f[BT * N], g[BT * N], dx[BT * N], df[BT * N], dg[BT * N],
        dh[BT * N], dproj[BT * 4 * N];
    fill_random(proj, BT * 4 * N, 3, &rng);
    fill_random(h, BT * N, 1, &rng);
    fill_random(dx, BT * N, 1, &rng);
    fill_random(df, BT * N, 1, &rng);
    fill_random(dg, BT * N, 1, &rng);
    cpu_ssm_gates_forward(x, f, proj, BT, N);
    cpu_ssm_output_forward(g, proj, h, BT, N);
    for (int i = 0; i < BT; i++)
        for (int n = 0; n < N; n++) {
            const float *p = proj + i * 4 * N;
            int j = i * N + n;
            assert_true(fabs(x[j] - sigm(p[n]) * p[N + n]) < 1e-5);
            assert_true(fabs(f[j] - sigm(p[3 * N + n])) < 1e-6);
            assert_true(fabs(g[j] - gelu_ref(p[2 * N + n]) * h[j]) < 1e-5);
        }
    cpu_ssm_output_backward(dproj, dh, dg, proj, h, BT, N);
    cpu_ssm_gates_backward(dproj, dx, df, proj, BT, N);
    double *pd = to_double(proj, BT * 4 * N), *hd = to_double(h, BT * N), *dxd = to_double(dx, BT * N),
           *dfd = to_double(df, BT * N), *dgd = to_double(dg, BT * N), gp[BT * 4 * N];
    gates_ctx k = {BT, N, hd, dxd, dfd, dgd};
    fd_grad(gates_loss, &k, pd, BT * 4 * N, gp);
    assert_close_d(dproj, gp, BT * 4 * N, 1e-4, 1e-3, "dproj");
    for (int j = 0; j < BT * N; j++) /* dh = dg * gelu(a_o) */
        assert_true(fabs(dh[j] - dg[j] * gelu_ref(proj[(j / N) * 4 * N + 2 * N + j % N])) < 1e-5);
    free(pd), free(hd), free(dxd), free(dfd), free(dgd);
}

/* ---- scan ---- */

typedef struct {
    int B, T, N, n_fwd;
    const uint8_t *resets;
    const double *x, *f, *dh;
    int wrt_f;
} scan_ctx;

/* The naive scan: one channel at a time, a plain recursion in double. */
static void scan_ref(double *h, const double *x, const double *f, const uint8_t *resets, int B, int T, int N, int n_fwd)
{
    for (int b = 0; b < B; b++)
        for (int n = 0; n < N; n++) {
            double state = 0;
            if (n < n_fwd) {
                for (int t = 0; t < T; t++) {
                    size_t i = ((size_t)b * T + t) * N + n;
                    int reset = t == 0 || (resets[b * T + t] & BIRDIE_RESET_FWD);
                    state = (reset ? 0.0 : f[i] * state) + x[i];
                    h[i] = state;
                }
            } else {
                for (int t = T - 1; t >= 0; t--) {
                    size_t i = ((size_t)b * T + t) * N + n;
                    int reset = t == T - 1 || (resets[b * T + t] & BIRDIE_RESET_REV);
                    state = (reset ? 0.0 : f[i] * state) + x[i];
                    h[i] = state;
                }
            }
        }
}

static double scan_loss(void *vctx, const double *v)
{
    scan_ctx *k = vctx;
    size_t n = (size_t)k->B * k->T * k->N;
    double *h = malloc(n * sizeof *h), L = 0;
    scan_ref(h, k->wrt_f ? k->x : v, k->wrt_f ? v : k->f, k->resets, k->B, k->T, k->N, k->n_fwd);
    for (size_t i = 0; i < n; i++)
        L += k->dh[i] * h[i];
    free(h);
    return L;
}

static void check_scan(int B, int T, int N, int n_fwd, uint64_t seed)
{
    size_t BTN = (size_t)B * T * N;
    birdie_rng rng = birdie_rng_stream(seed, 0, 0, BIRDIE_RNG_TEST);
    float *x = malloc(BTN * sizeof *x), *f = malloc(BTN * sizeof *f), *h = malloc(BTN * sizeof *h),
          *dh = malloc(BTN * sizeof *dh), *dx = malloc(BTN * sizeof *dx), *df = malloc(BTN * sizeof *df);
    uint8_t *resets = malloc((size_t)B * T);
    fill_random(x, BTN, 1, &rng);
    for (size_t i = 0; i < BTN; i++)
        f[i] = (float)birdie_rng_uniform(&rng);
    fill_random(dh, BTN, 1, &rng);
    for (int i = 0; i < B * T; i++)
        resets[i] = (uint8_t)birdie_rng_below(&rng, 4) & (uint8_t)birdie_rng_below(&rng, 4);
    cpu_scan_forward(h, x, f, resets, B, T, N, n_fwd);
    cpu_scan_backward(dx, df, dh, h, f, resets, B, T, N, n_fwd);
    double *xd = to_double(x, BTN), *fd = to_double(f, BTN), *dhd = to_double(dh, BTN);
    double *href = malloc(BTN * sizeof *href), *gx = malloc(BTN * sizeof *gx), *gf = malloc(BTN * sizeof *gf);
    scan_ref(href, xd, fd, resets, B, T, N, n_fwd);
    assert_close_d(h, href, BTN, 1e-5, 1e-5, "scan h");
    scan_ctx k = {B, T, N, n_fwd, resets, xd, fd, dhd, 0};
    fd_grad(scan_loss, &k, xd, BTN, gx);
    assert_close_d(dx, gx, BTN, 1e-4, 1e-4, "scan dx");
    k.wrt_f = 1;
    fd_grad(scan_loss, &k, fd, BTN, gf);
    assert_close_d(df, gf, BTN, 1e-4, 1e-4, "scan df");
    free(xd), free(fd), free(dhd), free(href), free(gx), free(gf);
    free(x), free(f), free(h), free(dh), free(dx), free(df), free(resets);
}

static void test_scan_causal(void **state) { (void)state; check_scan(2, 11, 6, 6, 5); }
static void test_scan_bidirectional(void **state) { (void)state; check_scan(2, 11, 6, 3, 6); }
static void test_scan_all_reverse(void **state) { (void)state; check_scan(2, 11, 6, 0, 7); }
/* wider than one work block (64 channels), split point inside a block, a one-position row */
static void test_scan_blocks(void **state)
{
    (void)state;
    check_scan(2, 5, 150, 75, 8);
    check_scan(3, 1, 130, 64, 9);
}

/* A reset bit cuts the flow exactly: changing x before a forward reset leaves h after it unchanged. */
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
    x[1 * N + 0] += 1.0f; /* forward channel 0 at t = 1 */
    x[6 * N + 3] += 1.0f; /* reverse channel 3 at t = 6 */
    cpu_scan_forward(h2, x, f, resets, 1, T, N, N / 2);
    for (int t = 3; t < T; t++)
        assert_true(h1[t * N + 0] == h2[t * N + 0]);
    assert_true(h1[2 * N + 0] != h2[2 * N + 0]);
    for (int t = 0; t <= 5; t++)
        assert_true(h1[t * N + 3] == h2[t * N + 3]);
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

static void test_crossentropy(void **state)
{
    (void)state;
    enum { BT = 6, V = 17 };
    birdie_rng rng = birdie_rng_stream(9, 0, 0, BIRDIE_RNG_TEST);
    float z[BT * V], dz[BT * V], losses[BT];
    int32_t targets[BT] = {3, BIRDIE_IGNORE_LABEL, 0, 16, BIRDIE_IGNORE_LABEL, 7};
    fill_random(z, BT * V, 4, &rng);
    cpu_crossentropy_forward_backward(losses, dz, z, targets, BT, V, 0.5f);
    double *zd = to_double(z, BT * V), g[BT * V];
    ce_ctx k = {BT, V, targets, 1.0};
    for (int i = 0; i < BT; i++) {
        ce_ctx one = {1, V, targets + i, 1.0};
        double want = ce_loss(&one, zd + i * V);
        assert_true(fabs(losses[i] - want) < 1e-5);
    }
    k.dloss = 0.5;
    fd_grad(ce_loss, &k, zd, BT * V, g);
    assert_close_d(dz, g, BT * V, 1e-5, 1e-4, "dlogits");
    /* in place (dlogits aliasing logits) gives the same result */
    float zi[BT * V];
    memcpy(zi, z, sizeof zi);
    cpu_crossentropy_forward_backward(losses, zi, zi, targets, BT, V, 0.5f);
    assert_memory_equal(zi, dz, sizeof zi);
    free(zd);
}

/* ---- AdamW and sum of squares ---- */

static void test_adamw(void **state)
{
    (void)state;
    enum { n = 37 };
    birdie_rng rng = birdie_rng_stream(10, 0, 0, BIRDIE_RNG_TEST);
    float p[n], g[n], m[n] = {0}, v[n] = {0};
    double pd[n], md[n] = {0}, vd[n] = {0};
    fill_random(p, n, 1, &rng);
    for (int i = 0; i < n; i++)
        pd[i] = p[i];
    for (int step = 1; step <= 3; step++) {
        fill_random(g, n, 1, &rng);
        birdie_adamw_params ap = {.lr = 1e-2f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f,
                                  .weight_decay = 0.1f, .grad_scale = 0.5f, .step = step};
        cpu_adamw_update(p, g, m, v, n, &ap);
        for (int i = 0; i < n; i++) {
            double gi = 0.5 * g[i];
            md[i] = 0.9 * md[i] + 0.1 * gi;
            vd[i] = 0.95 * vd[i] + 0.05 * gi * gi;
            double mh = md[i] / (1 - pow(0.9, step)), vh = vd[i] / (1 - pow(0.95, step));
            pd[i] -= 1e-2 * (mh / (sqrt(vh) + 1e-8) + 0.1 * pd[i]);
        }
    }
    assert_close_d(p, pd, n, 1e-5, 1e-5, "adamw param");
    double ss = 0;
    for (int i = 0; i < n; i++)
        ss += (double)g[i] * g[i];
    assert_true(fabs(cpu_sum_squares(g, n) - ss) < 1e-9 * ss);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_embedding),
        cmocka_unit_test(test_rmsnorm),
        cmocka_unit_test(test_matmul),
        cmocka_unit_test(test_ssm_gates),
        cmocka_unit_test(test_scan_causal),
        cmocka_unit_test(test_scan_bidirectional),
        cmocka_unit_test(test_scan_all_reverse),
        cmocka_unit_test(test_scan_blocks),
        cmocka_unit_test(test_scan_reset_cuts),
        cmocka_unit_test(test_crossentropy),
        cmocka_unit_test(test_adamw),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
