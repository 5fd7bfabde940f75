/* worker/model_transformer.c: the Transformer family's parameter layout, initialisation, buffers and the order of
 * its ops in a forward and a backward pass (block structure in model_transformer.h, docs/algorithm.md §1.6). The
 * numbers are the backend's ops; what the families share stays in model.c. */
#include "worker/model_transformer.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker/model_hawk.h" /* the MLP width, shared */
#include "worker/model_mlp.h"
#include "worker/model_op.h"
#include "worker/rng.h"

int birdie_tf_check(const birdie_model_config *cfg, char *err, size_t errlen)
{
    int H = cfg->n_heads;
    if (H <= 0 || cfg->d_model % H != 0 || (cfg->d_model / H) % 2 != 0 || cfg->d_model / H > 128) {
        snprintf(err, errlen,
                 "model: transformer with d_model %d and %d heads: each head needs an even width of at most 128",
                 cfg->d_model, H);
        return -EINVAL;
    }
    return 0;
}

void birdie_tf_layout(birdie_model *m)
{
    const birdie_model_config *c = &m->cfg;
    size_t C = (size_t)c->d_model, V = (size_t)c->vocab, M = (size_t)m->tf->M;
    m->wte = birdie_model_add_tensor(m, -1, "wte", V * C, 1);
    for (int l = 0; l < c->n_layers; l++) {
        birdie_tf_layer_params *p = &m->tf->layer[l];
        p->ln = birdie_model_add_tensor(m, l, "ln", C, 0);
        p->w_qkv = birdie_model_add_tensor(m, l, "w_qkv", 3 * C * C, 1);
        p->w_o = birdie_model_add_tensor(m, l, "w_o", C * C, 1);
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

void birdie_tf_init_params(const birdie_model *m, float *host, uint64_t seed)
{
    const birdie_model_config *c = &m->cfg;
    int C = c->d_model, V = c->vocab, M = m->tf->M, L = c->n_layers;
    birdie_rng rng = birdie_rng_stream(seed, 0, 0, BIRDIE_RNG_INIT);
    fill_uniform(host + m->wte, (size_t)V * C, 1.0f, &rng);
    for (int l = 0; l < L; l++) {
        const birdie_tf_layer_params *p = &m->tf->layer[l];
        for (int i = 0; i < C; i++)
            host[p->ln + i] = host[p->ln2 + i] = 1.0f;
        fill_uniform(host + p->w_qkv, (size_t)3 * C * C, 1.0f / sqrtf((float)C), &rng);
        fill_uniform(host + p->w_o, (size_t)C * C, 1.0f / sqrtf((float)C * 2.0f * L), &rng);
        fill_uniform(host + p->w_mlp, (size_t)2 * M * C, 1.0f / sqrtf((float)C), &rng);
        fill_uniform(host + p->w_mo, (size_t)C * M, 1.0f / sqrtf((float)M * 2.0f * L), &rng);
    }
    for (int i = 0; i < C; i++)
        host[m->ln_f + i] = 1.0f;
    fill_uniform(host + m->head, (size_t)V * C, 1.0f / sqrtf((float)C), &rng);
}

static void *talloc(const birdie_model *m, size_t bytes, int *failed)
{
    void *p = m->ops->alloc(bytes);
    if (!p)
        *failed = 1;
    return p;
}

int birdie_tf_alloc(birdie_model *m)
{
    birdie_tf *tf = m->tf;
    size_t B = (size_t)m->B, T = (size_t)m->T, BT = B * T, C = (size_t)m->cfg.d_model, M = (size_t)tf->M;
    size_t fb = sizeof(float);
    int failed = 0;
    for (int l = 0; l < m->cfg.n_layers; l++) {
        birdie_tf_layer_acts *a = &tf->acts[l];
        a->x = talloc(m, BT * C * fb, &failed);
        a->rstd = talloc(m, BT * fb, &failed);
        a->u = talloc(m, BT * C * fb, &failed);
        a->qkv = talloc(m, BT * 3 * C * fb, &failed);
        a->att = talloc(m, BT * C * fb, &failed);
        a->lse = talloc(m, BT * (size_t)tf->H * fb, &failed);
        a->x_mid = talloc(m, BT * C * fb, &failed);
        a->rstd2 = talloc(m, BT * fb, &failed);
        a->u2 = talloc(m, BT * C * fb, &failed);
        a->mlp = talloc(m, BT * 2 * M * fb, &failed);
        a->mlp_g = talloc(m, BT * M * fb, &failed);
    }
    tf->dqkv = talloc(m, BT * 3 * C * fb, &failed);
    tf->datt = talloc(m, BT * C * fb, &failed);
    tf->dmlp = talloc(m, BT * 2 * M * fb, &failed);
    tf->dmlp_g = talloc(m, BT * M * fb, &failed);
    tf->d_pos = talloc(m, BT * sizeof(int32_t), &failed);
    int32_t *pos = malloc(BT * sizeof *pos);
    if (failed || !pos) {
        free(pos);
        return -ENOMEM;
    }
    for (size_t i = 0; i < BT; i++)
        pos[i] = (int32_t)(i % T);
    m->ops->upload(tf->d_pos, pos, BT * sizeof *pos);
    free(pos);
    return 0;
}

void birdie_tf_free(birdie_model *m)
{
    birdie_tf *tf = m->tf;
    if (!tf)
        return;
    if (m->ops) {
        for (int l = 0; tf->acts && l < m->cfg.n_layers; l++) {
            birdie_tf_layer_acts *a = &tf->acts[l];
            float *bufs[] = {a->x, a->rstd, a->u, a->qkv, a->att, a->lse, a->x_mid, a->rstd2, a->u2, a->mlp, a->mlp_g};
            for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
                if (bufs[i])
                    m->ops->free(bufs[i]);
        }
        void *bufs[] = {tf->dqkv, tf->datt, tf->dmlp, tf->dmlp_g, tf->d_pos};
        for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
            if (bufs[i])
                m->ops->free(bufs[i]);
    }
    free(tf->layer);
    free(tf->acts);
    free(tf);
    m->tf = NULL;
}

void birdie_tf_forward_layers(birdie_model *m, int B)
{
    const birdie_model_config *c = &m->cfg;
    birdie_tf *tf = m->tf;
    int T = m->T, BT = B * T, C = c->d_model, M = tf->M, H = tf->H, D = tf->D;
    const float *p = m->params;
    for (int l = 0; l < c->n_layers; l++) {
        birdie_tf_layer_acts *a = &tf->acts[l];
        const birdie_tf_layer_params *lp = &tf->layer[l];
        float *x_next = l + 1 < c->n_layers ? tf->acts[l + 1].x : m->x_final;
        OP(m, rmsnorm_forward, a->u, a->rstd, a->x, p + lp->ln, BT, C);
        OP(m, matmul_forward, a->qkv, a->u, p + lp->w_qkv, NULL, BT, C, 3 * C);
        OP(m, rope_forward, a->qkv, 3 * C, tf->d_pos, BT, H, D, BIRDIE_ROPE_BASE, 1);
        OP(m, rope_forward, a->qkv + C, 3 * C, tf->d_pos, BT, H, D, BIRDIE_ROPE_BASE, 1);
        OP(m, attention_forward, a->att, a->lse, a->qkv, m->d_resets, B, T, H, D, c->bidirectional);
        OP(m, matmul_forward, m->du, a->att, p + lp->w_o, NULL, BT, C, C);
        OP(m, residual_forward, a->x_mid, a->x, m->du, (size_t)BT * C);
        birdie_mlp_forward(
            m, &(birdie_mlp_layer){a->x_mid, a->rstd2, a->u2, a->mlp, a->mlp_g, lp->ln2, lp->w_mlp, lp->w_mo}, x_next,
            M);
    }
}

static size_t layer_end(const birdie_model *m, int l)
{
    return l + 1 < m->cfg.n_layers ? m->tf->layer[l + 1].ln : m->ln_f;
}

int birdie_tf_backward_layers(birdie_model *m, birdie_grads_ready_fn ready, void *ctx)
{
    const birdie_model_config *c = &m->cfg;
    birdie_tf *tf = m->tf;
    int B = m->cur_B, T = m->T, BT = B * T, C = c->d_model, M = tf->M, H = tf->H, D = tf->D, rc;
    float *p = m->params, *g = m->grads;
    for (int l = c->n_layers - 1; l >= 0; l--) {
        birdie_tf_layer_acts *a = &tf->acts[l];
        const birdie_tf_layer_params *lp = &tf->layer[l];
        birdie_mlp_backward(
            m, &(birdie_mlp_layer){a->x_mid, a->rstd2, a->u2, a->mlp, a->mlp_g, lp->ln2, lp->w_mlp, lp->w_mo},
            tf->dmlp_g, tf->dmlp, M);
        OP(m, matmul_backward, tf->datt, g + lp->w_o, NULL, m->dresidual, a->att, p + lp->w_o, BT, C, C);
        OP(m, attention_backward, tf->dqkv, tf->datt, a->qkv, a->att, a->lse, m->d_resets, B, T, H, D,
           c->bidirectional);
        /* the gradient of a rotated vector goes back through the inverse rotation */
        OP(m, rope_forward, tf->dqkv, 3 * C, tf->d_pos, BT, H, D, BIRDIE_ROPE_BASE, -1);
        OP(m, rope_forward, tf->dqkv + C, 3 * C, tf->d_pos, BT, H, D, BIRDIE_ROPE_BASE, -1);
        OP(m, matmul_backward, m->du, g + lp->w_qkv, NULL, tf->dqkv, a->u, p + lp->w_qkv, BT, C, 3 * C);
        OP(m, rmsnorm_backward, m->dresidual, g + lp->ln, m->du, a->x, p + lp->ln, a->rstd, BT, C);
        if (ready && (rc = ready(ctx, lp->ln, layer_end(m, l) - lp->ln)) < 0)
            return rc;
    }
    return 0;
}
