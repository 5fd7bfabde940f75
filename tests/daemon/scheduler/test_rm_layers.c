/* tests/daemon/scheduler/test_rm_layers.c: finite-difference checks of the reward model's own layers
 * (split RMSNorm, the v1 block's input gates and output gate) and a forward check of the split norm
 * against its formula. Each check uses loss = sum(w * outputs) with fixed random w. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "daemon/scheduler/rm_layers.h"
#include "worker/rng.h"

#define FD_STEP 1e-3f

static void fill_normal(float *x, size_t n, uint64_t key, float scale)
{
    birdie_rng rng = birdie_rng_stream(21, key, 0, BIRDIE_RNG_TEST);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(scale * birdie_rng_normal(&rng));
}

static double dot(const float *a, const float *b, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return s;
}

typedef double (*loss_fn)(void *ctx);

/* Central difference of loss wrt *x against the analytic value. */
static void check_grad(loss_fn f, void *ctx, float *x, float analytic, const char *what, int index)
{
    float saved = *x;
    *x = saved + FD_STEP;
    double up = f(ctx);
    *x = saved - FD_STEP;
    double down = f(ctx);
    *x = saved;
    double fd = (up - down) / (2.0 * FD_STEP);
    if (fabs(fd - analytic) > 2e-3 + 1e-2 * (fabs(fd) + fabs(analytic)))
        fail_msg("%s[%d]: analytic %.6g, finite difference %.6g", what, index, analytic, fd);
}

enum { R = 3, C = 8, S = 5 };

typedef struct norm_case {
    float inp[R * C], gamma[C], scale[C], w[R * C];
} norm_case;

static double norm_loss(void *ctx)
{
    norm_case *c = ctx;
    float out[R * C], rms[R * 2];
    rm_rmssplit_forward(out, rms, c->inp, c->gamma, c->scale, R, C);
    return dot(out, c->w, R * C);
}

static void test_rmssplit_forward_formula(void **state)
{
    (void)state;
    norm_case c;
    fill_normal(c.inp, R * C, 1, 1.0f);
    fill_normal(c.gamma, C, 2, 1.0f);
    fill_normal(c.scale, C, 3, 1.0f);
    fill_normal(c.w, R * C, 8, 1.0f);
    float out[R * C], rms[R * 2];
    rm_rmssplit_forward(out, rms, c.inp, c.gamma, c.scale, R, C);
    for (int r = 0; r < R; r++)
        for (int half = 0; half < 2; half++) {
            double ss = 0.0;
            for (int k = 0; k < C / 2; k++)
                ss += (double)c.inp[r * C + half * C / 2 + k] * c.inp[r * C + half * C / 2 + k];
            double norm = sqrt(ss) * pow(C / 2, -0.5) + 1e-8; /* ||x|| * dim^-1/2 + 1e-8 */
            for (int k = 0; k < C / 2; k++) {
                int ch = half * C / 2 + k;
                double expect = c.gamma[ch] * c.inp[r * C + ch] / norm * c.scale[ch];
                assert_true(fabs(out[r * C + ch] - expect) < 1e-5 * (1.0 + fabs(expect)));
            }
        }
    /* an all-zero half stays zero and has a finite gradient */
    float zeros[C] = {0}, zout[C], zrms[2], dz[C] = {0}, dg[C] = {0}, ds[C] = {0};
    rm_rmssplit_forward(zout, zrms, zeros, c.gamma, c.scale, 1, C);
    rm_rmssplit_backward(dz, dg, ds, c.w, zeros, c.gamma, c.scale, zrms, 1, C);
    for (int k = 0; k < C; k++)
        assert_true(zout[k] == 0.0f && isfinite(dz[k]));
}

static void test_rmssplit_gradients(void **state)
{
    (void)state;
    norm_case c;
    fill_normal(c.inp, R * C, 4, 1.0f);
    fill_normal(c.gamma, C, 5, 1.0f);
    fill_normal(c.scale, C, 6, 1.0f);
    fill_normal(c.w, R * C, 7, 1.0f);
    float rms[R * 2], out[R * C];
    rm_rmssplit_forward(out, rms, c.inp, c.gamma, c.scale, R, C);
    float dinp[R * C], dgamma[C], dscale[C];
    /* dinp accumulates: start from a known offset and remove it */
    for (int i = 0; i < R * C; i++)
        dinp[i] = 1.0f;
    memset(dgamma, 0, sizeof(dgamma));
    memset(dscale, 0, sizeof(dscale));
    rm_rmssplit_backward(dinp, dgamma, dscale, c.w, c.inp, c.gamma, c.scale, rms, R, C);
    for (int i = 0; i < R * C; i++)
        check_grad(norm_loss, &c, &c.inp[i], dinp[i] - 1.0f, "dinp", i);
    for (int i = 0; i < C; i++) {
        check_grad(norm_loss, &c, &c.gamma[i], dgamma[i], "dgamma", i);
        check_grad(norm_loss, &c, &c.scale[i], dscale[i], "dscale", i);
    }
}

typedef struct gate_case {
    float kg[R * S], ugg[R * 3 * S], h[R * S];
    float w_pg[R * S], w_k[R * S], w_z[R * S];
} gate_case;

/* loss = sum(w_pg * pg) + sum(w_k * K): w_k plays the gradient carried into K by the scan. */
static double in_gate_loss(void *ctx)
{
    gate_case *c = ctx;
    float K[R * S], sgi[R * S], sgo[R * S], pg[R * S];
    rm_in_gates_forward(K, sgi, sgo, pg, c->kg, c->ugg, R, S);
    return dot(pg, c->w_pg, R * S) + dot(K, c->w_k, R * S);
}

static double out_gate_loss(void *ctx)
{
    gate_case *c = ctx;
    float K[R * S], sgi[R * S], sgo[R * S], pg[R * S], z[R * S];
    rm_in_gates_forward(K, sgi, sgo, pg, c->kg, c->ugg, R, S);
    rm_out_gate_forward(z, c->h, sgo, R * S);
    return dot(z, c->w_z, R * S);
}

static void make_gate_case(gate_case *c)
{
    fill_normal(c->kg, R * S, 10, 1.5f);
    fill_normal(c->ugg, R * 3 * S, 11, 1.5f);
    fill_normal(c->h, R * S, 12, 1.0f);
    fill_normal(c->w_pg, R * S, 13, 1.0f);
    fill_normal(c->w_k, R * S, 14, 1.0f);
    fill_normal(c->w_z, R * S, 15, 1.0f);
}

static void test_in_gates_gradients(void **state)
{
    (void)state;
    gate_case c;
    make_gate_case(&c);
    float K[R * S], sgi[R * S], sgo[R * S], pg[R * S], dkg[R * S], dugg[R * 3 * S];
    rm_in_gates_forward(K, sgi, sgo, pg, c.kg, c.ugg, R, S);
    for (int i = 0; i < R * 3 * S; i++)
        dugg[i] = 42.0f; /* the g_out slot must stay untouched */
    rm_in_gates_backward(dkg, dugg, c.w_pg, c.w_k, c.ugg, K, sgi, R, S);
    for (int i = 0; i < R * S; i++)
        check_grad(in_gate_loss, &c, &c.kg[i], dkg[i], "dkg", i);
    for (int r = 0; r < R; r++)
        for (int k = 0; k < 3 * S; k++) {
            int i = r * 3 * S + k;
            if (k < 2 * S)
                check_grad(in_gate_loss, &c, &c.ugg[i], dugg[i], "dugg", i);
            else
                assert_true(dugg[i] == 42.0f);
        }
}

static void test_out_gate_gradients(void **state)
{
    (void)state;
    gate_case c;
    make_gate_case(&c);
    float K[R * S], sgi[R * S], sgo[R * S], pg[R * S], dh[R * S], dugg[R * 3 * S];
    rm_in_gates_forward(K, sgi, sgo, pg, c.kg, c.ugg, R, S);
    for (int i = 0; i < R * 3 * S; i++)
        dugg[i] = 42.0f; /* the p and g_in slots must stay untouched */
    rm_out_gate_backward(dh, dugg, c.w_z, c.h, sgo, R, S);
    for (int i = 0; i < R * S; i++)
        check_grad(out_gate_loss, &c, &c.h[i], dh[i], "dh", i);
    for (int r = 0; r < R; r++)
        for (int k = 0; k < 3 * S; k++) {
            int i = r * 3 * S + k;
            if (k >= 2 * S)
                check_grad(out_gate_loss, &c, &c.ugg[i], dugg[i], "dugg(g_out)", i);
            else
                assert_true(dugg[i] == 42.0f);
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rmssplit_forward_formula),
        cmocka_unit_test(test_rmssplit_gradients),
        cmocka_unit_test(test_in_gates_gradients),
        cmocka_unit_test(test_out_gate_gradients),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
