/* tests/worker/tf_ref.c: the double-precision Transformer reference of tests/worker/tf_ref.h: one plain loop per
 * equation, full softmax over the allowed keys, no birdie kernel. */
#include "tests/worker/tf_ref.h"

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

int tf_ref_init(tf_ref *r, const birdie_model *m, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    r->V = m->cfg.vocab;
    r->C = m->cfg.d_model;
    r->M = (8 * r->C / 3 + 63) / 64 * 64;
    r->H = m->cfg.n_heads;
    r->L = m->cfg.n_layers;
    r->prefix_lm = m->cfg.bidirectional;
    size_t V = (size_t)r->V, C = (size_t)r->C, M = (size_t)r->M;
    r->layer = calloc((size_t)r->L, sizeof *r->layer);
    if (!r->layer) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = find(m, -1, "wte", V * C, &r->wte, err, errlen);
    rc = rc ? rc : find(m, -1, "ln_f", C, &r->ln_f, err, errlen);
    rc = rc ? rc : find(m, -1, "head", V * C, &r->head, err, errlen);
    for (int l = 0; l < r->L && !rc; l++) {
        tf_ref_layer *y = &r->layer[l];
        rc = find(m, l, "ln", C, &y->ln, err, errlen);
        rc = rc ? rc : find(m, l, "w_qkv", 3 * C * C, &y->w_qkv, err, errlen);
        rc = rc ? rc : find(m, l, "w_o", C * C, &y->w_o, err, errlen);
        rc = rc ? rc : find(m, l, "ln2", C, &y->ln2, err, errlen);
        rc = rc ? rc : find(m, l, "w_mlp", 2 * M * C, &y->w_mlp, err, errlen);
        rc = rc ? rc : find(m, l, "w_mo", C * M, &y->w_mo, err, errlen);
    }
    if (rc)
        tf_ref_free(r);
    return rc;
}

void tf_ref_free(tf_ref *r)
{
    free(r->layer);
    memset(r, 0, sizeof *r);
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

static void linear(double *out, const double *w, const double *in, int C, int OC)
{
    for (int o = 0; o < OC; o++) {
        double s = 0.0;
        for (int c = 0; c < C; c++)
            s += w[(size_t)o * C + c] * in[c];
        out[o] = s;
    }
}

/* Rotates each head's pairs (j, j + d/2) by pos * 250000^(-2j/d). */
static void rope(double *x, int H, int d, int pos)
{
    for (int h = 0; h < H; h++)
        for (int j = 0; j < d / 2; j++) {
            double angle = pos * pow(250000.0, -2.0 * j / d), c = cos(angle), s = sin(angle);
            double *a = x + h * d + j, *b = a + d / 2, x0 = *a, x1 = *b;
            *a = x0 * c - x1 * s;
            *b = x0 * s + x1 * c;
        }
}

double tf_ref_forward(const tf_ref *r, const double *p, const birdie_rows *rows, double *losses)
{
    const int B = rows->B, T = rows->T, C = r->C, M = r->M, V = r->V, H = r->H, d = C / H;
    const size_t BT = (size_t)B * T;
    double *x = malloc(BT * C * sizeof *x), *u = malloc((size_t)C * sizeof *u);
    double *qkv = malloc(BT * 3 * C * sizeof *qkv), *att = malloc((size_t)C * sizeof *att);
    double *w = malloc((size_t)T * sizeof *w), *mlp = malloc((size_t)2 * M * sizeof *mlp);
    double *y = malloc((size_t)(C > M ? C : M) * sizeof *y), *logits = malloc((size_t)V * sizeof *logits);
    double *x_mid = malloc(BT * C * sizeof *x_mid);
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
        const tf_ref_layer *ly = &r->layer[l];
        for (size_t bt = 0; bt < BT; bt++) {
            rmsnorm(u, x + bt * C, p + ly->ln, C);
            double *row = qkv + bt * 3 * C;
            linear(row, p + ly->w_qkv, u, C, 3 * C);
            rope(row, H, d, (int)(bt % (size_t)T));
            rope(row + C, H, d, (int)(bt % (size_t)T));
        }
        for (int b = 0; b < B; b++)
            for (int q = 0; q < T; q++) {
                size_t bq = (size_t)b * T + q;
                for (int h = 0; h < H; h++) {
                    const double *qv = qkv + bq * 3 * C + h * d;
                    double mx = -INFINITY, sum = 0.0;
                    for (int k = 0; k < T; k++) {
                        size_t bk = (size_t)b * T + k;
                        int same = rows->segments[bq] == rows->segments[bk];
                        int allowed = same && (k <= q || (r->prefix_lm && rows->prefix[bq] && rows->prefix[bk]));
                        w[k] = -INFINITY;
                        if (!allowed)
                            continue;
                        double s = 0.0;
                        for (int e = 0; e < d; e++)
                            s += qv[e] * qkv[bk * 3 * C + C + h * d + e];
                        w[k] = s / sqrt((double)d);
                        mx = w[k] > mx ? w[k] : mx;
                    }
                    for (int k = 0; k < T; k++)
                        sum += w[k] == -INFINITY ? 0.0 : exp(w[k] - mx);
                    for (int e = 0; e < d; e++) {
                        double o = 0.0;
                        for (int k = 0; k < T; k++)
                            if (w[k] != -INFINITY)
                                o += exp(w[k] - mx) / sum * qkv[((size_t)b * T + k) * 3 * C + 2 * C + h * d + e];
                        att[h * d + e] = o;
                    }
                }
                linear(y, p + ly->w_o, att, C, C);
                for (int c = 0; c < C; c++)
                    x_mid[bq * C + c] = x[bq * C + c] + y[c];
            }
        for (size_t bt = 0; bt < BT; bt++) {
            double *xr = x + bt * C;
            rmsnorm(u, x_mid + bt * C, p + ly->ln2, C);
            linear(mlp, p + ly->w_mlp, u, C, 2 * M);
            for (int j = 0; j < M; j++)
                mlp[j] = gelu_tanh(mlp[j]) * mlp[M + j];
            linear(y, p + ly->w_mo, mlp, M, C);
            for (int c = 0; c < C; c++)
                xr[c] = x_mid[bt * C + c] + y[c];
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
            linear(logits, p + r->head, u, C, V);
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
    free(x), free(u), free(qkv), free(att), free(w), free(mlp), free(y), free(logits), free(x_mid);
    return total;
}
