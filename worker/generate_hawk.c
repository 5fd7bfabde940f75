/* worker/generate_hawk.c: the Hawk step of the generator (generate_hawk.h). A step runs the training ops on
 * tiny shapes:
 *   - the conv on a window row of BIRDIE_CONV_WIDTH positions per generated row, whose last position is the new
 *     one; a forward reset bit on the first position of the sample when the sample is shorter than the window,
 *     so the taps stop there as they do in training. The reverse channels of a bidirectional layer read only
 *     their own position (it is the window's last, and every generated position carries the reverse reset);
 *   - the RG-LRU gates on one row whose positions are the generated rows, all with the reverse reset bit, so the
 *     forward channels decay and the reverse channels get a = 0, as at every target position in training;
 *   - the scan on two positions (carry, new input), as generate.c does for the Gated SSM.
 * Windows shift by copies (an add of zeros); two window buffers per layer take turns.
 * Not here: choosing tokens, the prefix pass (generate.c). */
#include "worker/generate_hawk.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "worker/error.h"
#include "worker/model_hawk.h"

enum { W = BIRDIE_CONV_WIDTH };

void birdie_hawk_gen_free(birdie_generator *g)
{
    birdie_hawk_gen *hg = g->hawk;
    if (!hg)
        return;
    const birdie_ops *ops = g->m->ops;
    for (int s = 0; s < 2; s++) {
        for (int l = 0; hg->win[s] && l < g->m->cfg.n_layers; l++)
            if (hg->win[s][l])
                ops->free(hg->win[s][l]);
        free(hg->win[s]);
    }
    void *bufs[] = {hg->conv_out, hg->conv, hg->gates, hg->mlp, hg->mlp_g, hg->zeros, hg->d_win_resets, hg->d_rev};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        if (bufs[i])
            ops->free(bufs[i]);
    free(hg->host_win_resets);
    free(hg->filled);
    free(hg->host_v);
    free(hg);
    g->hawk = NULL;
}

static void *alloc_or_flag(const birdie_ops *ops, size_t bytes, int *failed)
{
    void *p = ops->alloc(bytes);
    if (!p)
        *failed = 1;
    return p;
}

int birdie_hawk_gen_init(birdie_generator *g, char *err, size_t errlen)
{
    birdie_model *m = g->m;
    const birdie_ops *ops = m->ops;
    size_t R = (size_t)g->cap, N = (size_t)m->cfg.d_state, M = (size_t)m->hawk->M, fb = sizeof(float);
    int L = m->cfg.n_layers, failed = 0;
    birdie_hawk_gen *hg = g->hawk = calloc(1, sizeof *hg);
    if (!hg)
        return birdie_fail(err, errlen, -ENOMEM, "generate: out of host memory");
    hg->win[0] = calloc((size_t)L, sizeof(float *));
    hg->win[1] = calloc((size_t)L, sizeof(float *));
    hg->host_win_resets = calloc(R * W, 1);
    hg->filled = calloc(R, sizeof(int));
    hg->host_v = malloc(N * fb);
    if (!hg->win[0] || !hg->win[1] || !hg->host_win_resets || !hg->filled || !hg->host_v) {
        birdie_hawk_gen_free(g);
        return birdie_fail(err, errlen, -ENOMEM, "generate: out of host memory");
    }
    for (int s = 0; s < 2; s++)
        for (int l = 0; l < L; l++)
            hg->win[s][l] = alloc_or_flag(ops, R * W * N * fb, &failed);
    hg->conv_out = alloc_or_flag(ops, R * W * N * fb, &failed);
    hg->conv = alloc_or_flag(ops, R * N * fb, &failed);
    hg->gates = alloc_or_flag(ops, R * 2 * N * fb, &failed);
    hg->mlp = alloc_or_flag(ops, R * 2 * M * fb, &failed);
    hg->mlp_g = alloc_or_flag(ops, R * M * fb, &failed);
    hg->zeros = alloc_or_flag(ops, W * N * fb, &failed);
    hg->d_win_resets = alloc_or_flag(ops, R * W, &failed);
    hg->d_rev = alloc_or_flag(ops, R, &failed);
    if (failed) {
        birdie_hawk_gen_free(g);
        return birdie_fail(err, errlen, -ENOMEM, "generate: out of %s memory for the Hawk step buffers of %zu rows",
                           ops->name, R);
    }
    uint8_t *rev = malloc(R);
    if (rev) {
        memset(rev, BIRDIE_RESET_REV, R);
        ops->upload(hg->d_rev, rev, R);
        free(rev);
        return 0;
    }
    birdie_hawk_gen_free(g);
    return birdie_fail(err, errlen, -ENOMEM, "generate: out of host memory");
}

void birdie_hawk_gen_take_row(birdie_generator *g, int r, int i, int len)
{
    birdie_model *m = g->m;
    birdie_hawk_gen *hg = g->hawk;
    size_t N = (size_t)m->cfg.d_state, T = (size_t)m->T;
    /* The windows before the first step hold positions len-(W-2) .. len in slots 1 .. W-1: the step shifts
     * them down by one and appends the new position. */
    for (int l = 0; l < m->cfg.n_layers; l++) {
        const float *proj = m->hawk->acts[l].proj;
        for (int j = 1; j < W; j++) {
            int pos = len - (W - 1) + j;
            if (pos < 0)
                continue;
            m->ops->download(hg->host_v, proj + ((size_t)r * T + (size_t)pos) * 2 * N + N, N * sizeof(float));
            m->ops->upload(hg->win[0][l] + ((size_t)i * W + (size_t)j) * N, hg->host_v, N * sizeof(float));
        }
    }
    hg->filled[i] = len + 1 < W - 1 ? len + 1 : W - 1;
}

void birdie_hawk_gen_step(birdie_generator *g, const int32_t *tokens)
{
    birdie_model *m = g->m;
    birdie_hawk_gen *hg = g->hawk;
    const birdie_ops *ops = m->ops;
    int n = g->n, C = m->cfg.d_model, N = m->cfg.d_state, V = m->cfg.vocab, M = m->hawk->M;
    size_t nN = (size_t)n * N;
    const float *p = m->params;
    int odd = (int)(g->steps % 2), slot = odd ? 0 : 1;
    float *x = g->x[0], *x_mid = g->x[1];
    /* the windows' reset bits after this step's position joins them */
    for (int r = 0; r < n; r++) {
        if (hg->filled[r] < W)
            hg->filled[r]++;
        uint8_t *rb = hg->host_win_resets + (size_t)r * W;
        memset(rb, 0, W);
        rb[W - hg->filled[r]] = BIRDIE_RESET_FWD;
    }
    ops->upload(hg->d_win_resets, hg->host_win_resets, (size_t)n * W);
    ops->upload(g->d_tokens, tokens, (size_t)n * sizeof(int32_t));
    ops->embedding_forward(x, g->d_tokens, p + m->wte, n, C);
    for (int l = 0; l < m->cfg.n_layers; l++) {
        const birdie_hawk_layer_params *lp = &m->hawk->layer[l];
        int n_fwd = birdie_hawk_n_fwd(m, l);
        float *in = odd ? g->state_b[l] : g->state_a[l], *out = odd ? g->state_a[l] : g->state_b[l];
        float *win_old = hg->win[odd][l], *win = hg->win[!odd][l];
        ops->rmsnorm_forward(g->u, g->rstd, x, p + lp->ln, n, C);
        birdie_generator_matmul(g, g->proj, g->u, p + lp->w_in, NULL, C, 2 * N);
        for (int r = 0; r < n; r++) {
            float *wr = win + (size_t)r * W * N;
            ops->residual_forward(wr, win_old + ((size_t)r * W + 1) * N, hg->zeros, (size_t)(W - 1) * N);
            ops->residual_forward(wr + (size_t)(W - 1) * N, g->proj + (size_t)r * 2 * N + N, hg->zeros, (size_t)N);
        }
        ops->conv1d_forward(hg->conv_out, win, N, p + lp->conv_w, p + lp->conv_b, hg->d_win_resets, n, W, N, n_fwd);
        for (int r = 0; r < n; r++)
            ops->residual_forward(hg->conv + (size_t)r * N, hg->conv_out + ((size_t)r * W + W - 1) * N, hg->zeros,
                                  (size_t)N);
        birdie_generator_matmul(g, hg->gates, hg->conv, p + lp->w_rg, p + lp->b_rg, N, 2 * N);
        ops->rglru_forward(in + slot * nN, g->f + slot * nN, hg->gates, hg->conv, p + lp->lambda, hg->d_rev, 1, n, N,
                           n_fwd);
        ops->scan_forward(out, in, g->f, g->d_resets, 1, 2, (int)nN, odd ? 0 : (int)nN);
        ops->gelu_mul_forward(g->g, g->proj, 2 * N, out + slot * nN, N, n, N);
        birdie_generator_matmul(g, g->y, g->g, p + lp->w_out, NULL, N, C);
        ops->residual_forward(x_mid, x, g->y, (size_t)n * C);
        ops->rmsnorm_forward(g->u, g->rstd, x_mid, p + lp->ln2, n, C);
        birdie_generator_matmul(g, hg->mlp, g->u, p + lp->w_mlp, NULL, C, 2 * M);
        ops->gelu_mul_forward(hg->mlp_g, hg->mlp, 2 * M, hg->mlp + M, 2 * M, n, M);
        birdie_generator_matmul(g, g->y, hg->mlp_g, p + lp->w_mo, NULL, M, C);
        ops->residual_forward(x, x_mid, g->y, (size_t)n * C);
    }
    ops->rmsnorm_forward(g->u, g->rstd, x, p + m->ln_f, n, C);
    birdie_generator_matmul(g, g->logits, g->u, p + m->head, NULL, C, V);
    ops->download(g->logits_host, g->logits, (size_t)n * V * sizeof(float));
    g->steps++;
}
