/* worker/generate_transformer.c: the Transformer step of the generator (generate_transformer.h): the new token's
 * q, k, v through the training ops (RoPE at the token's place in its row, as in training), k and v appended to
 * the layer's cache, then one query per row against the cache. Generated positions read every earlier position
 * of the sample and never a later one, which is what a target position's mask allows in training (the prompt's
 * two-way reading happened in the prefix pass, whose keys are what the cache holds). Cost per token: O(length
 * so far), the Transformer's; the SSMs' steps are O(1).
 * Not here: choosing tokens, the prefix pass (generate.c). */
#include "worker/generate_transformer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "worker/error.h"
#include "worker/model_transformer.h"

void birdie_tf_gen_free(birdie_generator *g)
{
    birdie_tf_gen *tg = g->tf;
    if (!tg)
        return;
    const birdie_ops *ops = g->m->ops;
    for (int l = 0; l < g->m->cfg.n_layers; l++) {
        if (tg->kc && tg->kc[l])
            ops->free(tg->kc[l]);
        if (tg->vc && tg->vc[l])
            ops->free(tg->vc[l]);
    }
    void *bufs[] = {tg->d_pos, tg->d_lens, tg->qkv, tg->att, tg->mlp, tg->mlp_g, tg->zeros};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        if (bufs[i])
            ops->free(bufs[i]);
    free(tg->kc), free(tg->vc), free(tg->lens), free(tg->lens1), free(tg->host_row);
    free(tg);
    g->tf = NULL;
}

static void *alloc_or_flag(const birdie_ops *ops, size_t bytes, int *failed)
{
    void *p = ops->alloc(bytes);
    if (!p)
        *failed = 1;
    return p;
}

int birdie_tf_gen_init(birdie_generator *g, char *err, size_t errlen)
{
    birdie_model *m = g->m;
    const birdie_ops *ops = m->ops;
    size_t R = (size_t)g->cap, T = (size_t)m->T, C = (size_t)m->cfg.d_model, M = (size_t)m->tf->M;
    size_t fb = sizeof(float);
    int L = m->cfg.n_layers, failed = 0;
    birdie_tf_gen *tg = g->tf = calloc(1, sizeof *tg);
    if (!tg)
        return birdie_fail(err, errlen, -ENOMEM, "generate: out of host memory");
    tg->kc = calloc((size_t)L, sizeof *tg->kc);
    tg->vc = calloc((size_t)L, sizeof *tg->vc);
    tg->lens = calloc(R, sizeof *tg->lens);
    tg->lens1 = calloc(R, sizeof *tg->lens1);
    tg->host_row = malloc(3 * C * fb);
    if (!tg->kc || !tg->vc || !tg->lens || !tg->lens1 || !tg->host_row) {
        birdie_tf_gen_free(g);
        return birdie_fail(err, errlen, -ENOMEM, "generate: out of host memory");
    }
    for (int l = 0; l < L; l++) {
        tg->kc[l] = alloc_or_flag(ops, R * T * C * fb, &failed);
        tg->vc[l] = alloc_or_flag(ops, R * T * C * fb, &failed);
    }
    tg->room = (int)T;
    tg->d_pos = alloc_or_flag(ops, R * sizeof(int32_t), &failed);
    tg->d_lens = alloc_or_flag(ops, R * sizeof(int32_t), &failed);
    tg->qkv = alloc_or_flag(ops, R * 3 * C * fb, &failed);
    tg->att = alloc_or_flag(ops, R * C * fb, &failed);
    tg->mlp = alloc_or_flag(ops, R * 2 * M * fb, &failed);
    tg->mlp_g = alloc_or_flag(ops, R * M * fb, &failed);
    tg->zeros = alloc_or_flag(ops, C * fb, &failed);
    if (failed) {
        birdie_tf_gen_free(g);
        return birdie_fail(err, errlen, -ENOMEM, "generate: out of %s memory for the key/value caches of %zu rows",
                           ops->name, R);
    }
    return 0;
}

void birdie_tf_gen_take_row(birdie_generator *g, int r, int i, int len)
{
    birdie_model *m = g->m;
    birdie_tf_gen *tg = g->tf;
    size_t T = (size_t)m->T, room = (size_t)tg->room, C = (size_t)m->cfg.d_model;
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int pos = 0; pos <= len; pos++) {
            m->ops->download(tg->host_row, m->tf->acts[l].qkv + ((size_t)r * T + (size_t)pos) * 3 * C,
                             3 * C * sizeof(float));
            size_t at = ((size_t)i * room + (size_t)pos) * C;
            m->ops->upload(tg->kc[l] + at, tg->host_row + C, C * sizeof(float));
            m->ops->upload(tg->vc[l] + at, tg->host_row + 2 * C, C * sizeof(float));
        }
    tg->lens[i] = len + 1;
}

int birdie_tf_gen_full(const birdie_generator *g, int r)
{
    return g->tf->lens[r] >= g->tf->room;
}

int birdie_tf_gen_reserve(birdie_generator *g, int positions, char *err, size_t errlen)
{
    birdie_model *m = g->m;
    birdie_tf_gen *tg = g->tf;
    const birdie_ops *ops = m->ops;
    if (positions <= tg->room)
        return 0;
    int L = m->cfg.n_layers;
    size_t R = (size_t)g->cap, C = (size_t)m->cfg.d_model, old = (size_t)tg->room, room = (size_t)positions;
    /* every new cache first, so that a failure changes nothing */
    float **grown = calloc((size_t)2 * L, sizeof *grown), *host = malloc(old * C * sizeof *host);
    int failed = !grown || !host;
    for (int i = 0; !failed && i < 2 * L; i++)
        failed = !(grown[i] = ops->alloc(R * room * C * sizeof(float)));
    if (failed) {
        for (int i = 0; grown && i < 2 * L; i++)
            if (grown[i])
                ops->free(grown[i]);
        free(grown), free(host);
        return birdie_fail(err, errlen, -ENOMEM, "generate: out of memory for key/value caches of %d positions",
                           positions);
    }
    for (int l = 0; l < L; l++)
        for (int k = 0; k < 2; k++) {
            float **cache = k ? &tg->vc[l] : &tg->kc[l], *to = grown[2 * l + k];
            for (size_t r = 0; r < R; r++) { /* rows keep their place; each row's room grows */
                ops->download(host, *cache + r * old * C, old * C * sizeof(float));
                ops->upload(to + r * room * C, host, old * C * sizeof(float));
            }
            ops->free(*cache);
            *cache = to;
        }
    free(grown), free(host);
    tg->room = positions;
    return 0;
}

void birdie_tf_gen_step(birdie_generator *g, const int32_t *tokens)
{
    birdie_model *m = g->m;
    birdie_tf_gen *tg = g->tf;
    const birdie_ops *ops = m->ops;
    int n = g->n, C = m->cfg.d_model, V = m->cfg.vocab, M = m->tf->M, H = m->tf->H, D = m->tf->D, T = tg->room;
    const float *p = m->params;
    float *x = g->x[0], *x_mid = g->x[1];
    /* a full row re-reads its last position instead of writing past its cache */
    for (int r = 0; r < n; r++)
        tg->lens1[r] = tg->lens[r] < T ? tg->lens[r] + 1 : T;
    ops->upload(tg->d_pos, tg->lens, (size_t)n * sizeof(int32_t));
    ops->upload(tg->d_lens, tg->lens1, (size_t)n * sizeof(int32_t));
    ops->upload(g->d_tokens, tokens, (size_t)n * sizeof(int32_t));
    ops->embedding_forward(x, g->d_tokens, p + m->wte, n, C);
    for (int l = 0; l < m->cfg.n_layers; l++) {
        const birdie_tf_layer_params *lp = &m->tf->layer[l];
        ops->rmsnorm_forward(g->u, g->rstd, x, p + lp->ln, n, C);
        birdie_generator_matmul(g, tg->qkv, g->u, p + lp->w_qkv, NULL, C, 3 * C);
        ops->rope_forward(tg->qkv, 3 * C, tg->d_pos, n, H, D, BIRDIE_ROPE_BASE, 1);
        ops->rope_forward(tg->qkv + C, 3 * C, tg->d_pos, n, H, D, BIRDIE_ROPE_BASE, 1);
        for (int r = 0; r < n; r++) {
            if (tg->lens[r] >= T)
                continue;
            size_t at = ((size_t)r * T + (size_t)tg->lens[r]) * C;
            ops->residual_forward(tg->kc[l] + at, tg->qkv + (size_t)r * 3 * C + C, tg->zeros, (size_t)C);
            ops->residual_forward(tg->vc[l] + at, tg->qkv + (size_t)r * 3 * C + 2 * C, tg->zeros, (size_t)C);
        }
        ops->attention_decode(tg->att, tg->qkv, 3 * C, tg->kc[l], tg->vc[l], tg->d_lens, n, T, H, D);
        birdie_generator_matmul(g, g->y, tg->att, p + lp->w_o, NULL, C, C);
        ops->residual_forward(x_mid, x, g->y, (size_t)n * C);
        ops->rmsnorm_forward(g->u, g->rstd, x_mid, p + lp->ln2, n, C);
        birdie_generator_matmul(g, tg->mlp, g->u, p + lp->w_mlp, NULL, C, 2 * M);
        ops->gelu_mul_forward(tg->mlp_g, tg->mlp, 2 * M, tg->mlp + M, 2 * M, n, M);
        birdie_generator_matmul(g, g->y, tg->mlp_g, p + lp->w_mo, NULL, M, C);
        ops->residual_forward(x, x_mid, g->y, (size_t)n * C);
    }
    for (int r = 0; r < n; r++)
        tg->lens[r] = tg->lens1[r];
    ops->rmsnorm_forward(g->u, g->rstd, x, p + m->ln_f, n, C);
    birdie_generator_matmul(g, g->logits, g->u, p + m->head, NULL, C, V);
    ops->download(g->logits_host, g->logits, (size_t)n * V * sizeof(float));
    g->steps++;
}
