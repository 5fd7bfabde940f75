/* tests/worker/hawk_ref.c: the double-precision Hawk reference of tests/worker/hawk_ref.h, one plain loop per
 * equation of docs/algorithm.md, without any birdie kernel, so a bug in worker/model_hawk.c or kernels/cpu/
 * cannot be copied into it. The decay is computed as the specification writes it, sigmoid(lambda)^(8 r), not
 * through the kernels' softplus form. */
#include "tests/worker/hawk_ref.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ops.h"

static int find(const birdie_model *m, int l, const char *what, size_t count, size_t *offset, char *err, size_t errlen)
{
    char name[32];
    if (l >= 0)
        snprintf(name, sizeof name, "l%d.%s", l, what);
    else
        snprintf(name, sizeof name, "%s", what);
    for (int i = 0; i < m->n_tensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0) {
            if (m->tensors[i].count != count) {
                snprintf(err, errlen, "tensor %s holds %zu elements, the shapes say %zu", name, m->tensors[i].count,
                         count);
                return -1;
            }
            *offset = m->tensors[i].offset;
            return 0;
        }
    snprintf(err, errlen, "no tensor named %s", name);
    return -1;
}

int hawk_ref_init(hawk_ref *r, const birdie_model *m, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    r->V = m->cfg.vocab;
    r->C = m->cfg.d_model;
    r->N = m->cfg.d_state;
    r->M = (8 * r->C / 3 + 63) / 64 * 64;
    r->L = m->cfg.n_layers;
    r->bidirectional = m->cfg.bidirectional;
    r->n_params = m->n_params;
    size_t V = (size_t)r->V, C = (size_t)r->C, N = (size_t)r->N, M = (size_t)r->M;
    r->layer = calloc((size_t)r->L, sizeof *r->layer);
    if (!r->layer) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = find(m, -1, "wte", V * C, &r->wte, err, errlen);
    rc = rc ? rc : find(m, -1, "ln_f", C, &r->ln_f, err, errlen);
    rc = rc ? rc : find(m, -1, "head", V * C, &r->head, err, errlen);
    for (int l = 0; l < r->L && !rc; l++) {
        hawk_ref_layer *y = &r->layer[l];
        rc = find(m, l, "ln", C, &y->ln, err, errlen);
        rc = rc ? rc : find(m, l, "w_in", 2 * N * C, &y->w_in, err, errlen);
        rc = rc ? rc : find(m, l, "conv_w", 4 * N, &y->conv_w, err, errlen);
        rc = rc ? rc : find(m, l, "conv_b", N, &y->conv_b, err, errlen);
        rc = rc ? rc : find(m, l, "w_rg", 2 * N * N, &y->w_rg, err, errlen);
        rc = rc ? rc : find(m, l, "b_rg", 2 * N, &y->b_rg, err, errlen);
        rc = rc ? rc : find(m, l, "lambda", N, &y->lambda, err, errlen);
        rc = rc ? rc : find(m, l, "w_out", C * N, &y->w_out, err, errlen);
        rc = rc ? rc : find(m, l, "ln2", C, &y->ln2, err, errlen);
        rc = rc ? rc : find(m, l, "w_mlp", 2 * M * C, &y->w_mlp, err, errlen);
        rc = rc ? rc : find(m, l, "w_mo", C * M, &y->w_mo, err, errlen);
    }
    if (rc)
        hawk_ref_free(r);
    return rc;
}

void hawk_ref_free(hawk_ref *r)
{
    free(r->layer);
    memset(r, 0, sizeof *r);
}

static double sigmoid(double a)
{
    return 1.0 / (1.0 + exp(-a));
}

static double gelu_tanh(double a)
{
    const double k = sqrt(2.0 / 3.14159265358979323846);
    return 0.5 * a * (1.0 + tanh(k * (a + 0.044715 * a * a * a)));
}

static void rmsnorm(double *out, const double *x, const double *w, int C)
{
    double ss = 0.0;
    for (int c = 0; c < C; c++)
        ss += x[c] * x[c];
    double s = 1.0 / sqrt(ss / C + 1e-5);
    for (int c = 0; c < C; c++)
        out[c] = x[c] * s * w[c];
}

/* out (OC) = W (OC rows of C) in (+ b when not NULL) */
static void linear(double *out, const double *w, const double *b, const double *in, int C, int OC)
{
    for (int o = 0; o < OC; o++) {
        double s = b ? b[o] : 0.0;
        for (int c = 0; c < C; c++)
            s += w[(size_t)o * C + c] * in[c];
        out[o] = s;
    }
}

/* Does a tap of the conv at t read position s of the same row (§1.5, §1.4)? Forward channels read back, never
 * across a forward reset at a position in (s, t]; reverse channels read ahead, never across a reverse reset at a
 * position in [t, s). */
static int tap_reads(const uint8_t *rb, int t, int s, int reverse)
{
    if (!reverse) {
        for (int j = s + 1; j <= t; j++)
            if (rb[j] & BIRDIE_RESET_FWD)
                return 0;
    } else {
        for (int j = t; j < s; j++)
            if (rb[j] & BIRDIE_RESET_REV)
                return 0;
    }
    return 1;
}

double hawk_ref_forward(const hawk_ref *r, const double *p, const birdie_rows *rows, double *losses, double *h_trace)
{
    const int B = rows->B, T = rows->T, C = r->C, N = r->N, M = r->M, V = r->V;
    const size_t BT = (size_t)B * T;
    double *x = malloc(BT * C * sizeof *x), *u = malloc((size_t)C * sizeof *u);
    double *proj = malloc(BT * 2 * N * sizeof *proj), *v = malloc(BT * N * sizeof *v);
    double *a = malloc(BT * N * sizeof *a), *xin = malloc(BT * N * sizeof *xin), *h = malloc(BT * N * sizeof *h);
    double *gates = malloc((size_t)2 * N * sizeof *gates), *gh = malloc((size_t)N * sizeof *gh);
    double *mlp = malloc((size_t)2 * M * sizeof *mlp), *y = malloc((size_t)(C > M ? C : M) * sizeof *y);
    double *logits = malloc((size_t)V * sizeof *logits);
    double total = 0.0;

    for (size_t bt = 0; bt < BT; bt++) {
        int tok = rows->inputs[bt];
        if (tok < 0 || tok >= V) {
            total = NAN;
            goto out;
        }
        memcpy(x + bt * C, p + r->wte + (size_t)tok * C, (size_t)C * sizeof *x);
    }
    for (int l = 0; l < r->L; l++) {
        const hawk_ref_layer *ly = &r->layer[l];
        const int n_fwd = r->bidirectional && l % 2 == 0 ? N / 2 : N;
        /* [gate | v0] = W_in RMSNorm(x) */
        for (size_t bt = 0; bt < BT; bt++) {
            rmsnorm(u, x + bt * C, p + ly->ln, C);
            linear(proj + bt * 2 * N, p + ly->w_in, NULL, u, C, 2 * N);
        }
        /* the depthwise conv of width 4 with its bias */
        for (int b = 0; b < B; b++) {
            const uint8_t *rb = rows->resets + (size_t)b * T;
            for (int t = 0; t < T; t++)
                for (int n = 0; n < N; n++) {
                    int reverse = n >= n_fwd;
                    double s = p[ly->conv_b + n];
                    for (int k = 0; k < 4; k++) {
                        int at = reverse ? t + k : t - k;
                        if (at < 0 || at >= T || !tap_reads(rb, t, at, reverse))
                            continue;
                        s += p[ly->conv_w + (size_t)k * N + n] * proj[((size_t)b * T + at) * 2 * N + N + n];
                    }
                    v[((size_t)b * T + t) * N + n] = s;
                }
        }
        /* RG-LRU gates: a = sigmoid(lambda)^(8 r), 0 at the channel's reset; input sqrt(1 - a^2) i v */
        for (size_t bt = 0; bt < BT; bt++) {
            linear(gates, p + ly->w_rg, p + ly->b_rg, v + bt * N, N, 2 * N);
            for (int n = 0; n < N; n++) {
                uint8_t bit = n < n_fwd ? BIRDIE_RESET_FWD : BIRDIE_RESET_REV;
                double an = (rows->resets[bt] & bit) ? 0.0 : pow(sigmoid(p[ly->lambda + n]), 8.0 * sigmoid(gates[n]));
                a[bt * N + n] = an;
                xin[bt * N + n] = sqrt(1.0 - an * an) * sigmoid(gates[N + n]) * v[bt * N + n];
            }
        }
        /* the scan, each direction from the row's edge */
        for (int b = 0; b < B; b++)
            for (int n = 0; n < N; n++) {
                int reverse = n >= n_fwd;
                double state = 0.0;
                for (int i = 0; i < T; i++) {
                    size_t bt = (size_t)b * T + (reverse ? T - 1 - i : i);
                    state = a[bt * N + n] * state + xin[bt * N + n];
                    h[bt * N + n] = state;
                }
            }
        if (h_trace)
            memcpy(h_trace + (size_t)l * BT * N, h, BT * N * sizeof *h);
        for (size_t bt = 0; bt < BT; bt++) {
            double *xr = x + bt * C;
            for (int n = 0; n < N; n++)
                gh[n] = gelu_tanh(proj[bt * 2 * N + n]) * h[bt * N + n];
            linear(y, p + ly->w_out, NULL, gh, N, C);
            for (int c = 0; c < C; c++)
                xr[c] += y[c];
            rmsnorm(u, xr, p + ly->ln2, C);
            linear(mlp, p + ly->w_mlp, NULL, u, C, 2 * M);
            for (int j = 0; j < M; j++)
                mlp[j] = gelu_tanh(mlp[j]) * mlp[M + j];
            linear(y, p + ly->w_mo, NULL, mlp, M, C);
            for (int c = 0; c < C; c++)
                xr[c] += y[c];
        }
    }
    for (size_t bt = 0; bt < BT; bt++) {
        int label = rows->labels[bt];
        double loss = 0.0;
        if (label != BIRDIE_IGNORE_LABEL) {
            if (label < 0 || label >= V) {
                total = NAN;
                goto out;
            }
            rmsnorm(u, x + bt * C, p + r->ln_f, C);
            linear(logits, p + r->head, NULL, u, C, V);
            double mx = -INFINITY, se = 0.0;
            for (int k = 0; k < V; k++)
                mx = logits[k] > mx ? logits[k] : mx;
            for (int k = 0; k < V; k++)
                se += exp(logits[k] - mx);
            loss = log(se) + mx - logits[label];
        }
        if (losses)
            losses[bt] = loss;
        total += loss;
    }
out:
    free(x), free(u), free(proj), free(v), free(a), free(xin), free(h);
    free(gates), free(gh), free(mlp), free(y), free(logits);
    return total;
}
