/* worker/model_hawk.c: the Hawk family's parameter layout, initialisation, buffers and the order of its ops in
 * a forward and a backward pass (block structure in model_hawk.h, docs/algorithm.md §1.5). Every number is
 * computed by the backend's ops; this file only orders them. What the families share (embedding, the batch
 * upload, final norm, head, loss, AdamW) stays in model.c. */
#include "worker/model_hawk.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker/model_mlp.h"
#include "worker/model_op.h"
#include "worker/rng.h"

int birdie_hawk_mlp_width(int C)
{
    return (8 * C / 3 + 63) / 64 * 64;
}

int birdie_hawk_n_fwd(const birdie_model *m, int l)
{
    return m->cfg.bidirectional && l % 2 == 0 ? m->cfg.d_state / 2 : m->cfg.d_state;
}

/* Weight decay: on the projections, the conv taps, the embedding and the head; not on the RG-LRU's own
 * parameters (W_rg, b_rg, lambda), biases or norms (docs/algorithm.md §1.0). */
void birdie_hawk_layout(birdie_model *m)
{
    const birdie_model_config *c = &m->cfg;
    size_t C = (size_t)c->d_model, N = (size_t)c->d_state, V = (size_t)c->vocab, M = (size_t)m->hawk->M;
    m->wte = birdie_model_add_tensor(m, -1, "wte", V * C, 1);
    for (int l = 0; l < c->n_layers; l++) {
        birdie_hawk_layer_params *p = &m->hawk->layer[l];
        p->ln = birdie_model_add_tensor(m, l, "ln", C, 0);
        p->w_in = birdie_model_add_tensor(m, l, "w_in", 2 * N * C, 1);
        p->conv_w = birdie_model_add_tensor(m, l, "conv_w", BIRDIE_CONV_WIDTH * N, 1);
        p->conv_b = birdie_model_add_tensor(m, l, "conv_b", N, 0);
        p->w_rg = birdie_model_add_tensor(m, l, "w_rg", 2 * N * N, 0);
        p->b_rg = birdie_model_add_tensor(m, l, "b_rg", 2 * N, 0);
        p->lambda = birdie_model_add_tensor(m, l, "lambda", N, 0);
        p->w_out = birdie_model_add_tensor(m, l, "w_out", C * N, 1);
        p->ln2 = birdie_model_add_tensor(m, l, "ln2", C, 0);
        p->w_mlp = birdie_model_add_tensor(m, l, "w_mlp", 2 * M * C, 1);
        p->w_mo = birdie_model_add_tensor(m, l, "w_mo", C * M, 1);
    }
    m->ln_f = birdie_model_add_tensor(m, -1, "ln_f", C, 0);
    m->head = birdie_model_add_tensor(m, -1, "head", V * C, 1);
}

static void fill_uniform(float *p, size_t n, float bound, birdie_rng *rng)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (float)((2.0 * birdie_rng_uniform(rng) - 1.0) * bound);
}

/* lambda = logit(a) with a log-spaced in 1 - a from 0.1 to 0.001 across the channels of one direction, so
 * a^(8 r) starts with memories from ~10 to ~1000 positions (docs/algorithm.md §1.5: a in [0.9, 0.999]). */
static void init_lambda(float *lambda, int count)
{
    for (int n = 0; n < count; n++) {
        double frac = count > 1 ? (double)n / (count - 1) : 0.0;
        double one_minus_a = 0.1 * pow(0.01, frac);
        lambda[n] = (float)log((1.0 - one_minus_a) / one_minus_a);
    }
}

void birdie_hawk_init_params(const birdie_model *m, float *host, uint64_t seed)
{
    const birdie_model_config *c = &m->cfg;
    int C = c->d_model, N = c->d_state, V = c->vocab, M = m->hawk->M, L = c->n_layers;
    birdie_rng rng = birdie_rng_stream(seed, 0, 0, BIRDIE_RNG_INIT);
    /* Fan-in uniform init; the two residual projections of each block are scaled by 1/sqrt(2 L) more (GPT-2). */
    fill_uniform(host + m->wte, (size_t)V * C, 1.0f, &rng);
    for (int l = 0; l < L; l++) {
        const birdie_hawk_layer_params *p = &m->hawk->layer[l];
        for (int i = 0; i < C; i++)
            host[p->ln + i] = host[p->ln2 + i] = 1.0f;
        fill_uniform(host + p->w_in, (size_t)2 * N * C, 1.0f / sqrtf((float)C), &rng);
        fill_uniform(host + p->conv_w, (size_t)BIRDIE_CONV_WIDTH * N, 1.0f / sqrtf((float)BIRDIE_CONV_WIDTH), &rng);
        fill_uniform(host + p->w_rg, (size_t)2 * N * N, 1.0f / sqrtf((float)N), &rng);
        int n_fwd = birdie_hawk_n_fwd(m, l);
        init_lambda(host + p->lambda, n_fwd);
        init_lambda(host + p->lambda + n_fwd, N - n_fwd);
        fill_uniform(host + p->w_out, (size_t)C * N, 1.0f / sqrtf((float)N * 2.0f * L), &rng);
        fill_uniform(host + p->w_mlp, (size_t)2 * M * C, 1.0f / sqrtf((float)C), &rng);
        fill_uniform(host + p->w_mo, (size_t)C * M, 1.0f / sqrtf((float)M * 2.0f * L), &rng);
    }
    for (int i = 0; i < C; i++)
        host[m->ln_f + i] = 1.0f;
    fill_uniform(host + m->head, (size_t)V * C, 1.0f / sqrtf((float)C), &rng);
}

static float *halloc(const birdie_model *m, size_t floats, int *failed)
{
    float *p = m->ops->alloc(floats * sizeof(float));
    if (!p)
        *failed = 1;
    return p;
}

int birdie_hawk_alloc(birdie_model *m)
{
    birdie_hawk *hk = m->hawk;
    size_t BT = (size_t)m->B * m->T, C = (size_t)m->cfg.d_model, N = (size_t)m->cfg.d_state, M = (size_t)hk->M;
    int failed = 0;
    for (int l = 0; l < m->cfg.n_layers; l++) {
        birdie_hawk_layer_acts *a = &hk->acts[l];
        a->x = halloc(m, BT * C, &failed);
        a->rstd = halloc(m, BT, &failed);
        a->u = halloc(m, BT * C, &failed);
        a->proj = halloc(m, BT * 2 * N, &failed);
        a->conv = halloc(m, BT * N, &failed);
        a->gates = halloc(m, BT * 2 * N, &failed);
        a->h = halloc(m, BT * N, &failed);
        a->gh = halloc(m, BT * N, &failed);
        a->x_mid = halloc(m, BT * C, &failed);
        a->rstd2 = halloc(m, BT, &failed);
        a->u2 = halloc(m, BT * C, &failed);
        a->mlp = halloc(m, BT * 2 * M, &failed);
        a->mlp_g = halloc(m, BT * M, &failed);
    }
    hk->sx = halloc(m, BT * N, &failed);
    hk->sa = halloc(m, BT * N, &failed);
    hk->dproj = halloc(m, BT * 2 * N, &failed);
    hk->dgates = halloc(m, BT * 2 * N, &failed);
    hk->dconv = halloc(m, BT * N, &failed);
    hk->dtmp = halloc(m, BT * N, &failed);
    hk->dh = halloc(m, BT * N, &failed);
    hk->dgh = halloc(m, BT * N, &failed);
    hk->dsx = halloc(m, BT * N, &failed);
    hk->dsa = halloc(m, BT * N, &failed);
    hk->dmlp = halloc(m, BT * 2 * M, &failed);
    hk->dmlp_g = halloc(m, BT * M, &failed);
    return failed ? -ENOMEM : 0;
}

void birdie_hawk_free(birdie_model *m)
{
    birdie_hawk *hk = m->hawk;
    if (!hk)
        return;
    if (m->ops) {
        for (int l = 0; hk->acts && l < m->cfg.n_layers; l++) {
            birdie_hawk_layer_acts *a = &hk->acts[l];
            float *bufs[] = {a->x,  a->rstd,  a->u,     a->proj, a->conv, a->gates, a->h,
                             a->gh, a->x_mid, a->rstd2, a->u2,   a->mlp,  a->mlp_g};
            for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
                if (bufs[i])
                    m->ops->free(bufs[i]);
        }
        float *bufs[] = {hk->sx, hk->sa,  hk->dproj, hk->dgates, hk->dconv, hk->dtmp,
                         hk->dh, hk->dgh, hk->dsx,   hk->dsa,    hk->dmlp,  hk->dmlp_g};
        for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
            if (bufs[i])
                m->ops->free(bufs[i]);
    }
    free(hk->layer);
    free(hk->acts);
    free(hk);
    m->hawk = NULL;
}

void birdie_hawk_forward_layers(birdie_model *m, int B)
{
    const birdie_model_config *c = &m->cfg;
    birdie_hawk *hk = m->hawk;
    int T = m->T, BT = B * T, C = c->d_model, N = c->d_state, M = hk->M;
    const float *p = m->params;
    for (int l = 0; l < c->n_layers; l++) {
        birdie_hawk_layer_acts *a = &hk->acts[l];
        const birdie_hawk_layer_params *lp = &hk->layer[l];
        float *x_next = l + 1 < c->n_layers ? hk->acts[l + 1].x : m->x_final;
        int n_fwd = birdie_hawk_n_fwd(m, l);
        OP(m, rmsnorm_forward, a->u, a->rstd, a->x, p + lp->ln, BT, C);
        OP(m, matmul_forward, a->proj, a->u, p + lp->w_in, NULL, BT, C, 2 * N);
        OP(m, conv1d_forward, a->conv, a->proj + N, 2 * N, p + lp->conv_w, p + lp->conv_b, m->d_resets, B, T, N, n_fwd);
        OP(m, matmul_forward, a->gates, a->conv, p + lp->w_rg, p + lp->b_rg, BT, N, 2 * N);
        OP(m, rglru_forward, hk->sx, hk->sa, a->gates, a->conv, p + lp->lambda, m->d_resets, B, T, N, n_fwd);
        OP(m, scan_forward, a->h, hk->sx, hk->sa, m->d_resets, B, T, N, n_fwd);
        OP(m, gelu_mul_forward, a->gh, a->proj, 2 * N, a->h, N, BT, N);
        /* the branch outputs land in du (free during the forward) before the residual add */
        OP(m, matmul_forward, m->du, a->gh, p + lp->w_out, NULL, BT, N, C);
        OP(m, residual_forward, a->x_mid, a->x, m->du, (size_t)BT * C);
        birdie_mlp_forward(
            m, &(birdie_mlp_layer){a->x_mid, a->rstd2, a->u2, a->mlp, a->mlp_g, lp->ln2, lp->w_mlp, lp->w_mo}, x_next,
            M);
    }
}

/* Layer l's parameters end where layer l+1's (or ln_f) begin. */
static size_t layer_end(const birdie_model *m, int l)
{
    return l + 1 < m->cfg.n_layers ? m->hawk->layer[l + 1].ln : m->ln_f;
}

int birdie_hawk_backward_layers(birdie_model *m, birdie_grads_ready_fn ready, void *ctx)
{
    const birdie_model_config *c = &m->cfg;
    birdie_hawk *hk = m->hawk;
    int B = m->cur_B, T = m->T, BT = B * T, C = c->d_model, N = c->d_state, M = hk->M, rc;
    float *p = m->params, *g = m->grads;
    for (int l = c->n_layers - 1; l >= 0; l--) {
        birdie_hawk_layer_acts *a = &hk->acts[l];
        const birdie_hawk_layer_params *lp = &hk->layer[l];
        int n_fwd = birdie_hawk_n_fwd(m, l);
        /* dresidual = dL/dx_next: the MLP branch, then dL/dx_mid += its RMSNorm's input gradient */
        birdie_mlp_backward(
            m, &(birdie_mlp_layer){a->x_mid, a->rstd2, a->u2, a->mlp, a->mlp_g, lp->ln2, lp->w_mlp, lp->w_mo},
            hk->dmlp_g, hk->dmlp, M);
        /* the recurrent branch */
        OP(m, matmul_backward, hk->dgh, g + lp->w_out, NULL, m->dresidual, a->gh, p + lp->w_out, BT, N, C);
        OP(m, gelu_mul_backward, hk->dproj, hk->dh, hk->dgh, a->proj, 2 * N, a->h, N, BT, N);
        OP(m, rglru_forward, hk->sx, hk->sa, a->gates, a->conv, p + lp->lambda, m->d_resets, B, T, N,
           n_fwd); /* recompute the scan's gate */
        OP(m, scan_backward, hk->dsx, hk->dsa, hk->dh, a->h, hk->sa, m->d_resets, B, T, N, n_fwd);
        OP(m, rglru_backward, hk->dgates, hk->dconv, g + lp->lambda, hk->dsx, hk->dsa, a->gates, a->conv,
           p + lp->lambda, m->d_resets, B, T, N, n_fwd);
        OP(m, matmul_backward, hk->dtmp, g + lp->w_rg, g + lp->b_rg, hk->dgates, a->conv, p + lp->w_rg, BT, N, 2 * N);
        OP(m, residual_forward, hk->dconv, hk->dconv, hk->dtmp, (size_t)BT * N);
        OP(m, conv1d_backward, hk->dproj + N, 2 * N, g + lp->conv_w, g + lp->conv_b, hk->dconv, a->proj + N,
           p + lp->conv_w, m->d_resets, B, T, N, n_fwd);
        OP(m, matmul_backward, m->du, g + lp->w_in, NULL, hk->dproj, a->u, p + lp->w_in, BT, C, 2 * N);
        OP(m, rmsnorm_backward, m->dresidual, g + lp->ln, m->du, a->x, p + lp->ln, a->rstd, BT, C);
        if (ready && (rc = ready(ctx, lp->ln, layer_end(m, l) - lp->ln)) < 0)
            return rc;
    }
    return 0;
}
