/* tests/worker/model_ref.c: the double-precision reference model of tests/worker/model_ref.h. Written from docs/algorithm.md
 * (every § below is that file's), one plain loop per equation, without calling any birdie kernel: a bug in
 * worker/model.c or kernels/cpu/ cannot be copied into it. Not fast, not a training path. */
#include "tests/worker/model_ref.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ops.h"

/* The tensor called name: its offset, after checking that it holds count elements. */
static int find_tensor(const birdie_model *m, const char *name, size_t count, size_t *offset, char *err, size_t errlen)
{
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

int model_ref_init(model_ref *r, const birdie_model *m, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    r->V = m->cfg.vocab;
    r->C = m->cfg.d_model;
    r->N = m->cfg.d_state;
    r->L = m->cfg.n_layers;
    r->bidirectional = m->cfg.bidirectional;
    r->n_params = m->n_params;
    size_t V = (size_t)r->V, C = (size_t)r->C, N = (size_t)r->N;
    r->layer = calloc((size_t)r->L, sizeof *r->layer);
    if (!r->layer) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = find_tensor(m, "wte", V * C, &r->wte, err, errlen);
    rc = rc ? rc : find_tensor(m, "ln_f", C, &r->ln_f, err, errlen);
    rc = rc ? rc : find_tensor(m, "head", V * C, &r->head, err, errlen);
    char name[32];
    for (int l = 0; l < r->L && !rc; l++) {
        model_ref_layer *y = &r->layer[l];
        snprintf(name, sizeof name, "l%d.ln", l);
        rc = find_tensor(m, name, C, &y->ln, err, errlen);
        snprintf(name, sizeof name, "l%d.w_izo", l);
        rc = rc ? rc : find_tensor(m, name, 3 * N * C, &y->w_izo, err, errlen);
        snprintf(name, sizeof name, "l%d.w_f", l);
        rc = rc ? rc : find_tensor(m, name, N * C, &y->w_f, err, errlen);
        snprintf(name, sizeof name, "l%d.b_in", l);
        rc = rc ? rc : find_tensor(m, name, 4 * N, &y->b_in, err, errlen);
        snprintf(name, sizeof name, "l%d.w_out", l);
        rc = rc ? rc : find_tensor(m, name, C * N, &y->w_out, err, errlen);
        snprintf(name, sizeof name, "l%d.b_out", l);
        rc = rc ? rc : find_tensor(m, name, C, &y->b_out, err, errlen);
    }
    if (rc)
        model_ref_free(r);
    return rc;
}

void model_ref_free(model_ref *r)
{
    free(r->layer);
    memset(r, 0, sizeof *r);
}

int model_ref_n_fwd(const model_ref *r, int l)
{
    return r->bidirectional && l % 2 == 0 ? r->N / 2 : r->N;
}

static double sigmoid(double a)
{
    return 1.0 / (1.0 + exp(-a));
}

/* The tanh approximation of GeLU (§1.2; kernels/ops.h names the tanh form). */
static double gelu_tanh(double a)
{
    const double k = sqrt(2.0 / 3.14159265358979323846);
    return 0.5 * a * (1.0 + tanh(k * (a + 0.044715 * a * a * a)));
}

/* RMSNorm with eps 1e-5 (kernels/ops.h): out = x / sqrt(mean(x^2) + eps) * w. */
static void rmsnorm(double *out, const double *x, const double *w, int C)
{
    double ss = 0.0;
    for (int c = 0; c < C; c++)
        ss += x[c] * x[c];
    double s = 1.0 / sqrt(ss / C + 1e-5);
    for (int c = 0; c < C; c++)
        out[c] = x[c] * s * w[c];
}

double model_ref_forward(const model_ref *r, const double *p, const birdie_rows *rows, double *losses, double *h_trace)
{
    const int B = rows->B, T = rows->T, C = r->C, N = r->N, V = r->V;
    const size_t BT = (size_t)B * T;
    double *x = malloc(BT * C * sizeof *x), *u = malloc((size_t)C * sizeof *u);
    double *proj = malloc(BT * 4 * N * sizeof *proj), *h = malloc(BT * N * sizeof *h);
    double *logits = malloc((size_t)V * sizeof *logits), *g = malloc((size_t)N * sizeof *g);
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
        const model_ref_layer *ly = &r->layer[l];
        const int n_fwd = model_ref_n_fwd(r, l);
        /* proj = RMSNorm(x) @ [W_i; W_z; W_o; W_f]^T + b_in: rows 0..3N-1 of W_in are w_izo, 3N..4N-1 w_f */
        for (size_t bt = 0; bt < BT; bt++) {
            rmsnorm(u, x + bt * C, p + ly->ln, C);
            double *a = proj + bt * 4 * N;
            for (int j = 0; j < 4 * N; j++) {
                const double *w = j < 3 * N ? p + ly->w_izo + (size_t)j * C : p + ly->w_f + (size_t)(j - 3 * N) * C;
                double s = p[ly->b_in + j];
                for (int c = 0; c < C; c++)
                    s += u[c] * w[c];
                a[j] = s;
            }
        }
        /* h_t = f_t h_{t-1} + i_t z_t left to right on [0, n_fwd), f_t h_{t+1} + i_t z_t right to left
         * on [n_fwd, N); the gate is 0 at a forward (bit 0) resp. reverse (bit 1) reset and at the row's
         * edge where no neighbour exists (§1.3). */
        for (int b = 0; b < B; b++)
            for (int n = 0; n < N; n++) {
                int reverse = n >= n_fwd;
                double state = 0.0;
                for (int i = 0; i < T; i++) {
                    int t = reverse ? T - 1 - i : i;
                    size_t bt = (size_t)b * T + t;
                    const double *a = proj + bt * 4 * N;
                    uint8_t bit = reverse ? BIRDIE_RESET_REV : BIRDIE_RESET_FWD;
                    double f = (i == 0 || (rows->resets[bt] & bit)) ? 0.0 : sigmoid(a[3 * N + n]);
                    state = f * state + sigmoid(a[n]) * a[N + n];
                    h[bt * N + n] = state;
                }
            }
        if (h_trace)
            memcpy(h_trace + (size_t)l * BT * N, h, BT * N * sizeof *h);
        /* x += (GeLU(a_o) * h) @ W_out^T + b_out */
        for (size_t bt = 0; bt < BT; bt++) {
            const double *a = proj + bt * 4 * N, *hr = h + bt * N;
            for (int n = 0; n < N; n++)
                g[n] = gelu_tanh(a[2 * N + n]) * hr[n];
            for (int c = 0; c < C; c++) {
                const double *w = p + ly->w_out + (size_t)c * N;
                double s = p[ly->b_out + c];
                for (int n = 0; n < N; n++)
                    s += g[n] * w[n];
                x[bt * C + c] += s;
            }
        }
    }

    /* final RMSNorm, untied head, softmax cross-entropy on labelled positions (§1.0) */
    for (size_t bt = 0; bt < BT; bt++) {
        int label = rows->labels[bt];
        double loss = 0.0;
        if (label != BIRDIE_IGNORE_LABEL) {
            if (label < 0 || label >= V) {
                total = NAN;
                goto out;
            }
            rmsnorm(u, x + bt * C, p + r->ln_f, C);
            double mx = -INFINITY;
            for (int v = 0; v < V; v++) {
                const double *w = p + r->head + (size_t)v * C;
                double s = 0.0;
                for (int c = 0; c < C; c++)
                    s += u[c] * w[c];
                logits[v] = s;
                mx = s > mx ? s : mx;
            }
            double se = 0.0;
            for (int v = 0; v < V; v++)
                se += exp(logits[v] - mx);
            loss = log(se) + mx - logits[label];
        }
        if (losses)
            losses[bt] = loss;
        total += loss;
    }
out:
    free(x), free(u), free(proj), free(h), free(logits), free(g);
    return total;
}
