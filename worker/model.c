/* worker/model.c: forward, backward and optimiser step of the models (layout in model.h); the Hawk family's
 * layers are ordered in model_hawk.c, everything else (the Gated SSM, the shared ends) here.
 * Every numerical op goes through the backend table (kernels/ops.h); this file only orders the ops and
 * owns the buffers. Initialisation runs on the host and is uploaded once. */
#include "worker/model.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "worker/clock.h"
#include "worker/model_hawk.h"
#include "worker/model_op.h"
#include "worker/model_transformer.h"
#include "worker/rng.h"

int birdie_model_config_of_family(const char *name, int family, birdie_model_config *cfg)
{
    /* Hawk's blocks carry a gated MLP (3 C M, M = 8/3 C) and dense N x N gates besides the recurrence, so it
     * reaches a size's parameter count with fewer, narrower-state blocks than the fused Gated SSM block.
     * The Transformer (no state: d_state = d_model) spends 4 C^2 on attention and 3 C M on the MLP per block;
     * its heads are 64 wide from S up (16 at XS). */
    static const struct {
        const char *name;
        int family, d_model, d_state, n_layers, n_heads;
    } sizes[] = {
        {"XS", BIRDIE_FAMILY_GATED_SSM, 64, 64, 2, 0},
        {"S", BIRDIE_FAMILY_GATED_SSM, 384, 512, 8, 0},
        {"125M", BIRDIE_FAMILY_GATED_SSM, 768, 1536, 20, 0},
        {"350M", BIRDIE_FAMILY_GATED_SSM, 1024, 2048, 32, 0},
        {"XS", BIRDIE_FAMILY_HAWK, 64, 64, 2, 0},
        {"S", BIRDIE_FAMILY_HAWK, 384, 512, 4, 0},
        {"125M", BIRDIE_FAMILY_HAWK, 768, 1024, 12, 0},
        {"350M", BIRDIE_FAMILY_HAWK, 1024, 1536, 18, 0},
        {"XS", BIRDIE_FAMILY_TRANSFORMER, 64, 64, 2, 4},
        {"S", BIRDIE_FAMILY_TRANSFORMER, 384, 384, 4, 6},
        {"125M", BIRDIE_FAMILY_TRANSFORMER, 768, 768, 12, 12},
        {"350M", BIRDIE_FAMILY_TRANSFORMER, 1024, 1024, 24, 16},
    };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        if (strcmp(name, sizes[i].name) == 0 && family == sizes[i].family) {
            cfg->family = family;
            cfg->vocab = 384;
            cfg->d_model = sizes[i].d_model;
            cfg->d_state = sizes[i].d_state;
            cfg->n_layers = sizes[i].n_layers;
            cfg->n_heads = sizes[i].n_heads;
            return 0;
        }
    return -EINVAL;
}

int birdie_model_config_by_name(const char *name, birdie_model_config *cfg)
{
    return birdie_model_config_of_family(name, BIRDIE_FAMILY_GATED_SSM, cfg);
}

static const char *const family_names[] = {"gated_ssm", "hawk", "transformer"};

int birdie_model_family_parse(const char *name)
{
    for (int f = 0; f < (int)(sizeof family_names / sizeof family_names[0]); f++)
        if (strcmp(name, family_names[f]) == 0)
            return f;
    return -EINVAL;
}

const char *birdie_model_family_name(int family)
{
    return family >= 0 && family < (int)(sizeof family_names / sizeof family_names[0]) ? family_names[family] : "?";
}

/* ------------------------------------------------------------------------------------------------
 * Parameter layout */

size_t birdie_model_add_tensor(birdie_model *m, int layer, const char *what, size_t count, int decay)
{
    birdie_tensor *t = &m->tensors[m->n_tensors++];
    if (layer >= 0)
        snprintf(t->name, sizeof t->name, "l%d.%s", layer, what);
    else
        snprintf(t->name, sizeof t->name, "%s", what);
    t->offset = m->n_params;
    t->count = count;
    t->decay = decay;
    m->n_params += count;
    return t->offset;
}

static void layout_params(birdie_model *m)
{
    const birdie_model_config *c = &m->cfg;
    size_t C = (size_t)c->d_model, N = (size_t)c->d_state, V = (size_t)c->vocab;
    m->wte = birdie_model_add_tensor(m, -1, "wte", V * C, 1);
    for (int l = 0; l < c->n_layers; l++) {
        birdie_layer_params *p = &m->layer[l];
        p->ln = birdie_model_add_tensor(m, l, "ln", C, 0);
        /* W_in rows are [W_i | W_z | W_o | W_f]: two tensors, contiguous, so one GEMM covers
         * all four while W_f keeps its own decay flag (no decay on W_f, docs/algorithm.md §1.0). */
        p->w_in = birdie_model_add_tensor(m, l, "w_izo", 3 * N * C, 1);
        birdie_model_add_tensor(m, l, "w_f", N * C, 0);
        p->b_in = birdie_model_add_tensor(m, l, "b_in", 4 * N, 0);
        p->w_out = birdie_model_add_tensor(m, l, "w_out", C * N, 1);
        p->b_out = birdie_model_add_tensor(m, l, "b_out", C, 0);
    }
    m->ln_f = birdie_model_add_tensor(m, -1, "ln_f", C, 0);
    m->head = birdie_model_add_tensor(m, -1, "head", V * C, 1);
}

static int layer_is_bidirectional(const birdie_model *m, int l)
{
    return m->cfg.bidirectional && l % 2 == 0;
}

static int layer_n_fwd(const birdie_model *m, int l)
{
    return layer_is_bidirectional(m, l) ? m->cfg.d_state / 2 : m->cfg.d_state;
}

static void fill_uniform(float *p, size_t n, float bound, birdie_rng *rng)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (float)((2.0 * birdie_rng_uniform(rng) - 1.0) * bound);
}

/* Forget-gate biases: sigmoid(b_f) log-spaced in 1 - f from 0.1 to 0.001, i.e. f in [0.9, 0.999],
 * across the channels of each scan direction (docs/algorithm.md §1.2): long memory at initialisation. */
static void init_forget_bias(float *b_f, int count)
{
    for (int n = 0; n < count; n++) {
        double frac = count > 1 ? (double)n / (count - 1) : 0.0;
        double one_minus_f = 0.1 * pow(0.01, frac);
        double f = 1.0 - one_minus_f;
        b_f[n] = (float)log(f / one_minus_f);
    }
}

static void init_params(birdie_model *m, float *host, uint64_t seed)
{
    const birdie_model_config *c = &m->cfg;
    int C = c->d_model, N = c->d_state, V = c->vocab;
    birdie_rng rng = birdie_rng_stream(seed, 0, 0, BIRDIE_RNG_INIT);
    /* Linear layers: PyTorch's default U(+-1/sqrt(fan_in)); the residual output projection is
     * scaled by 1/sqrt(2L) (GPT-2) so the residual stream does not grow with depth. */
    fill_uniform(host + m->wte, (size_t)V * C, 1.0f, &rng);
    for (int l = 0; l < c->n_layers; l++) {
        birdie_layer_params *p = &m->layer[l];
        for (int i = 0; i < C; i++)
            host[p->ln + i] = 1.0f;
        fill_uniform(host + p->w_in, (size_t)4 * N * C, 1.0f / sqrtf((float)C), &rng);
        float *b_f = host + p->b_in + 3 * N;
        int n_fwd = layer_n_fwd(m, l);
        init_forget_bias(b_f, n_fwd);
        init_forget_bias(b_f + n_fwd, N - n_fwd);
        fill_uniform(host + p->w_out, (size_t)C * N, 1.0f / sqrtf((float)N * 2.0f * c->n_layers), &rng);
    }
    for (int i = 0; i < C; i++)
        host[m->ln_f + i] = 1.0f;
    fill_uniform(host + m->head, (size_t)V * C, 1.0f / sqrtf((float)C), &rng);
}

/* ------------------------------------------------------------------------------------------------
 * Allocation */

/* Offsets of the parts of the batch buffers: 256 bytes, the alignment of a device allocation. */
static size_t batch_align(size_t bytes)
{
    return (bytes + 255) / 256 * 256;
}

static void *balloc(birdie_model *m, size_t bytes, int *failed)
{
    void *p = m->ops->alloc(bytes);
    if (!p)
        *failed = 1;
    return p;
}

int birdie_model_init(birdie_model *m, const birdie_model_config *cfg, const birdie_ops *ops, uint64_t seed, int B,
                      int T, char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    if (cfg->d_model <= 0 || cfg->d_state <= 0 || cfg->d_state % 2 || cfg->n_layers <= 0 || cfg->vocab <= 0 || B <= 0 ||
        T <= 0) {
        snprintf(err, errlen, "model: invalid shape (C=%d N=%d L=%d V=%d B=%d T=%d; N must be even)", cfg->d_model,
                 cfg->d_state, cfg->n_layers, cfg->vocab, B, T);
        return -EINVAL;
    }
    if (cfg->family < BIRDIE_FAMILY_GATED_SSM || cfg->family > BIRDIE_FAMILY_TRANSFORMER) {
        snprintf(err, errlen, "model: unknown family %d", cfg->family);
        return -EINVAL;
    }
    int hawk = cfg->family == BIRDIE_FAMILY_HAWK, tf = cfg->family == BIRDIE_FAMILY_TRANSFORMER;
    if (tf && birdie_tf_check(cfg, err, errlen) < 0)
        return -EINVAL;
    m->cfg = *cfg;
    m->ops = ops;
    m->B = B;
    m->T = T;
    int L = cfg->n_layers;
    m->tensors = calloc((size_t)((hawk ? 11 : 6) * L + 3), sizeof *m->tensors);
    if (tf && (m->tf = calloc(1, sizeof *m->tf)) != NULL) {
        m->tf->M = birdie_hawk_mlp_width(cfg->d_model);
        m->tf->H = cfg->n_heads;
        m->tf->D = cfg->d_model / cfg->n_heads;
        m->tf->layer = calloc((size_t)L, sizeof *m->tf->layer);
        m->tf->acts = calloc((size_t)L, sizeof *m->tf->acts);
    }
    m->layer = calloc((size_t)L, sizeof *m->layer);
    m->acts = calloc((size_t)L, sizeof *m->acts);
    m->losses_host = calloc((size_t)B * T, sizeof *m->losses_host);
    if (hawk && (m->hawk = calloc(1, sizeof *m->hawk)) != NULL) {
        m->hawk->M = birdie_hawk_mlp_width(cfg->d_model);
        m->hawk->layer = calloc((size_t)L, sizeof *m->hawk->layer);
        m->hawk->acts = calloc((size_t)L, sizeof *m->hawk->acts);
    }
    if (!m->tensors || !m->layer || !m->acts || !m->losses_host ||
        (hawk && (!m->hawk || !m->hawk->layer || !m->hawk->acts)) ||
        (tf && (!m->tf || !m->tf->layer || !m->tf->acts))) {
        birdie_model_free(m);
        snprintf(err, errlen, "model: out of host memory");
        return -ENOMEM;
    }
    if (hawk)
        birdie_hawk_layout(m);
    else if (tf)
        birdie_tf_layout(m);
    else
        layout_params(m);

    int failed = 0;
    size_t pbytes = m->n_params * sizeof(float);
    m->params = balloc(m, pbytes, &failed);
    m->grads = balloc(m, pbytes, &failed);
    m->m = balloc(m, pbytes, &failed);
    m->v = balloc(m, pbytes, &failed);

    size_t BT = (size_t)B * T, C = (size_t)cfg->d_model, N = (size_t)cfg->d_state, V = (size_t)cfg->vocab;
    size_t fb = sizeof(float);
    for (int l = 0; !hawk && !tf && l < L; l++) {
        birdie_layer_acts *a = &m->acts[l];
        a->x = balloc(m, BT * C * fb, &failed);
        a->rstd = balloc(m, BT * fb, &failed);
        a->u = balloc(m, BT * C * fb, &failed);
        a->proj = balloc(m, BT * 4 * N * fb, &failed);
        a->h = balloc(m, BT * N * fb, &failed);
        a->g = balloc(m, BT * N * fb, &failed);
    }
    m->x_final = balloc(m, BT * C * fb, &failed);
    m->rstd_final = balloc(m, BT * fb, &failed);
    m->u_final = balloc(m, BT * C * fb, &failed);
    m->logits = balloc(m, BT * V * fb, &failed);
    m->dlogits = balloc(m, BT * V * fb, &failed);
    m->losses = balloc(m, BT * fb, &failed);
    m->dresidual = balloc(m, BT * C * fb, &failed);
    m->du = balloc(m, BT * C * fb, &failed);
    if (hawk) {
        failed |= birdie_hawk_alloc(m) < 0;
    } else if (tf) {
        failed |= birdie_tf_alloc(m) < 0;
    } else {
        m->scratch_x = balloc(m, BT * N * fb, &failed);
        m->scratch_f = balloc(m, BT * N * fb, &failed);
        m->dproj = balloc(m, BT * 4 * N * fb, &failed);
        m->dg = balloc(m, BT * N * fb, &failed);
        m->dh = balloc(m, BT * N * fb, &failed);
        m->dscan_x = balloc(m, BT * N * fb, &failed);
        m->dscan_f = balloc(m, BT * N * fb, &failed);
    }
    /* The rows of a step: one buffer on each side, so a forward uploads them with one copy. */
    m->batch_labels_at = batch_align(BT * sizeof(int32_t));
    m->batch_resets_at = m->batch_labels_at + batch_align(BT * sizeof(int32_t));
    m->d_batch = balloc(m, m->batch_resets_at + BT, &failed);
    m->batch_host = ops->host_alloc(m->batch_resets_at + BT);
    failed |= !m->batch_host;
    if (m->d_batch) {
        m->d_inputs = (int32_t *)m->d_batch;
        m->d_labels = (int32_t *)((char *)m->d_batch + m->batch_labels_at);
        m->d_resets = (uint8_t *)m->d_batch + m->batch_resets_at;
    }
    m->adamw_segs = calloc((size_t)m->n_tensors, sizeof *m->adamw_segs);
    for (int i = 0; m->adamw_segs && i < m->n_tensors; i++)
        m->adamw_segs[i] = (birdie_adamw_segment){m->tensors[i].offset, m->tensors[i].count, m->tensors[i].decay};
    /* The backend's working memory for the largest shapes of a step, so no op allocates during one. */
    birdie_op_shapes shapes = {.rows = (int)BT,
                               .width = (int)C,
                               .n_matmuls = 3,
                               .matmul = {{(int)C, 4 * (int)N}, {(int)N, (int)C}, {(int)C, (int)V}}};
    if (hawk) {
        int M = m->hawk->M;
        shapes = (birdie_op_shapes){.rows = (int)BT,
                                    .width = (int)(C > 2 * N ? C : 2 * N),
                                    .n_matmuls = 6,
                                    .matmul = {{(int)C, 2 * (int)N},
                                               {(int)N, 2 * (int)N},
                                               {(int)N, (int)C},
                                               {(int)C, 2 * M},
                                               {M, (int)C},
                                               {(int)C, (int)V}}};
    }
    if (tf) {
        int M = m->tf->M;
        shapes = (birdie_op_shapes){
            .rows = (int)BT,
            .width = (int)C,
            .n_matmuls = 5,
            .matmul = {{(int)C, 3 * (int)C}, {(int)C, (int)C}, {(int)C, 2 * M}, {M, (int)C}, {(int)C, (int)V}}};
    }
    if (!failed && ops->reserve(&shapes) < 0)
        failed = 1;
    if (failed || !m->adamw_segs) {
        birdie_model_free(m);
        snprintf(err, errlen, "model: out of %s memory for %zu parameters, B=%d T=%d activations and working memory",
                 ops->name, (size_t)(pbytes / fb), B, T);
        return -ENOMEM;
    }

    float *host = calloc(m->n_params, sizeof(float));
    if (!host) {
        birdie_model_free(m);
        snprintf(err, errlen, "model: out of host memory for initialisation");
        return -ENOMEM;
    }
    if (hawk)
        birdie_hawk_init_params(m, host, seed);
    else if (tf)
        birdie_tf_init_params(m, host, seed);
    else
        init_params(m, host, seed);
    ops->upload(m->params, host, pbytes);
    free(host);
    return 0;
}

void birdie_model_free(birdie_model *m)
{
    if (m->ops) {
        void *bufs[] = {m->params, m->grads,   m->m,      m->v,         m->x_final,   m->rstd_final, m->u_final,
                        m->logits, m->dlogits, m->losses, m->scratch_x, m->scratch_f, m->dresidual,  m->du,
                        m->dproj,  m->dg,      m->dh,     m->dscan_x,   m->dscan_f,   m->d_batch};
        for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
            if (bufs[i])
                m->ops->free(bufs[i]);
        for (int l = 0; m->acts && l < m->cfg.n_layers; l++) {
            birdie_layer_acts *a = &m->acts[l];
            void *lb[] = {a->x, a->rstd, a->u, a->proj, a->h, a->g};
            for (size_t i = 0; i < sizeof lb / sizeof lb[0]; i++)
                if (lb[i])
                    m->ops->free(lb[i]);
        }
        if (m->batch_host)
            m->ops->host_free(m->batch_host);
    }
    birdie_hawk_free(m);
    birdie_tf_free(m);
    free(m->adamw_segs);
    free(m->tensors);
    free(m->layer);
    free(m->acts);
    free(m->losses_host);
    memset(m, 0, sizeof *m);
}

/* ------------------------------------------------------------------------------------------------
 * Profiling: with m->profile set, every op is synchronised and timed under its name. */

void birdie_model_profile_add(birdie_model *m, const char *op, double t0)
{
    m->ops->synchronize();
    double dt = birdie_monotonic_seconds() - t0;
    for (int i = 0; i < m->n_prof; i++)
        if (m->prof[i].op == op || strcmp(m->prof[i].op, op) == 0) {
            m->prof[i].seconds += dt;
            m->prof[i].calls++;
            return;
        }
    if (m->n_prof < (int)(sizeof m->prof / sizeof m->prof[0]))
        m->prof[m->n_prof++] = (birdie_profile_entry){op, dt, 1};
}

/* ------------------------------------------------------------------------------------------------
 * Forward and backward */

/* The Gated SSM's layers: from m->acts[0].x (the embedding) to m->x_final. */
static void gated_forward_layers(birdie_model *m, int B)
{
    const birdie_model_config *c = &m->cfg;
    int T = m->T, BT = B * T, C = c->d_model, N = c->d_state;
    float *p = m->params;
    for (int l = 0; l < c->n_layers; l++) {
        birdie_layer_acts *a = &m->acts[l];
        birdie_layer_params *lp = &m->layer[l];
        float *x_next = l + 1 < c->n_layers ? m->acts[l + 1].x : m->x_final;
        OP(m, rmsnorm_forward, a->u, a->rstd, a->x, p + lp->ln, BT, C);
        OP(m, matmul_forward, a->proj, a->u, p + lp->w_in, p + lp->b_in, BT, C, 4 * N);
        OP(m, ssm_gates_forward, m->scratch_x, m->scratch_f, a->proj, BT, N);
        OP(m, scan_forward, a->h, m->scratch_x, m->scratch_f, m->d_resets, B, T, N, layer_n_fwd(m, l));
        OP(m, ssm_output_forward, a->g, a->proj, a->h, BT, N);
        /* y = g @ W_out^T + b_out lands in du (free during the forward), then x_next = x + y */
        OP(m, matmul_forward, m->du, a->g, p + lp->w_out, p + lp->b_out, BT, N, C);
        OP(m, residual_forward, x_next, a->x, m->du, (size_t)BT * C);
    }
}

double birdie_model_forward(birdie_model *m, const birdie_rows *rows, float dloss)
{
    const birdie_model_config *c = &m->cfg;
    int B = rows->B, T = m->T, BT = B * T, C = c->d_model, V = c->vocab;
    m->cur_B = B;
    /* One pinned, asynchronous copy instead of three blocking ones; the host waits only for the
     * previous step's copy (long done by now) before it refills the staging buffer. */
    char *staging = m->batch_host;
    m->ops->upload_wait();
    memcpy(staging, rows->inputs, (size_t)BT * sizeof(int32_t));
    memcpy(staging + m->batch_labels_at, rows->labels, (size_t)BT * sizeof(int32_t));
    memcpy(staging + m->batch_resets_at, rows->resets, (size_t)BT);
    m->ops->upload_async(m->d_batch, staging, m->batch_resets_at + (size_t)BT);
    float *p = m->params;

    float *x0 = m->hawk ? m->hawk->acts[0].x : m->tf ? m->tf->acts[0].x : m->acts[0].x;
    OP(m, embedding_forward, x0, m->d_inputs, p + m->wte, BT, C);
    if (m->hawk)
        birdie_hawk_forward_layers(m, B);
    else if (m->tf)
        birdie_tf_forward_layers(m, B);
    else
        gated_forward_layers(m, B);
    OP(m, rmsnorm_forward, m->u_final, m->rstd_final, m->x_final, p + m->ln_f, BT, C);
    OP(m, matmul_forward, m->logits, m->u_final, p + m->head, NULL, BT, C, V);
    OP(m, crossentropy_forward_backward, m->losses, m->dlogits, m->logits, m->d_labels, BT, V, dloss);
    m->ops->download(m->losses_host, m->losses, (size_t)BT * sizeof(float));
    double sum = 0.0;
    for (int i = 0; i < BT; i++)
        sum += m->losses_host[i];
    return sum;
}

/* The parameters of layer l end where layer l+1 (or ln_f) begins: the layout of layout_params. */
static size_t layer_end(const birdie_model *m, int l)
{
    return l + 1 < m->cfg.n_layers ? m->layer[l + 1].ln : m->ln_f;
}

/* The Gated SSM's layers backward: dresidual holds dL/dx_final and ends as dL/d(embedding). */
static int gated_backward_layers(birdie_model *m, birdie_grads_ready_fn ready, void *ctx)
{
    const birdie_model_config *c = &m->cfg;
    int B = m->cur_B, T = m->T, BT = B * T, C = c->d_model, N = c->d_state;
    float *p = m->params, *g = m->grads;
    int rc;
    for (int l = c->n_layers - 1; l >= 0; l--) {
        birdie_layer_acts *a = &m->acts[l];
        birdie_layer_params *lp = &m->layer[l];
        int n_fwd = layer_n_fwd(m, l);
        /* dresidual is dL/dx_next, which is also dL/dy of this block */
        OP(m, matmul_backward, m->dg, g + lp->w_out, g + lp->b_out, m->dresidual, a->g, p + lp->w_out, BT, N, C);
        OP(m, ssm_output_backward, m->dproj, m->dh, m->dg, a->proj, a->h, BT, N);
        OP(m, ssm_gates_forward, NULL, m->scratch_f, a->proj, BT, N); /* recompute f (not x) */
        OP(m, scan_backward, m->dscan_x, m->dscan_f, m->dh, a->h, m->scratch_f, m->d_resets, B, T, N, n_fwd);
        OP(m, ssm_gates_backward, m->dproj, m->dscan_x, m->dscan_f, a->proj, BT, N);
        OP(m, matmul_backward, m->du, g + lp->w_in, g + lp->b_in, m->dproj, a->u, p + lp->w_in, BT, C, 4 * N);
        OP(m, rmsnorm_backward, m->dresidual, g + lp->ln, m->du, a->x, p + lp->ln, a->rstd, BT, C);
        if (ready && (rc = ready(ctx, lp->ln, layer_end(m, l) - lp->ln)) < 0)
            return rc;
    }
    return 0;
}

int birdie_model_backward_notify(birdie_model *m, birdie_grads_ready_fn ready, void *ctx)
{
    const birdie_model_config *c = &m->cfg;
    int B = m->cur_B, T = m->T, BT = B * T, C = c->d_model, V = c->vocab;
    float *p = m->params, *g = m->grads;
    int rc;

    OP(m, zero, m->dresidual, (size_t)BT * C * sizeof(float));
    OP(m, matmul_backward, m->du, g + m->head, NULL, m->dlogits, m->u_final, p + m->head, BT, C, V);
    OP(m, rmsnorm_backward, m->dresidual, g + m->ln_f, m->du, m->x_final, p + m->ln_f, m->rstd_final, BT, C);
    if (ready && (rc = ready(ctx, m->ln_f, m->n_params - m->ln_f)) < 0)
        return rc;
    rc = m->hawk ? birdie_hawk_backward_layers(m, ready, ctx)
         : m->tf ? birdie_tf_backward_layers(m, ready, ctx)
                 : gated_backward_layers(m, ready, ctx);
    if (rc < 0)
        return rc;
    OP(m, embedding_backward, g + m->wte, m->dresidual, m->d_inputs, BT, C);
    size_t first = m->hawk ? m->hawk->layer[0].ln : m->tf ? m->tf->layer[0].ln : m->layer[0].ln;
    return ready ? ready(ctx, m->wte, first - m->wte) : 0;
}

void birdie_model_backward(birdie_model *m)
{
    birdie_model_backward_notify(m, NULL, NULL);
}

void birdie_model_zero_grad(birdie_model *m)
{
    m->ops->zero(m->grads, m->n_params * sizeof(float));
}

void birdie_model_logits(const birdie_model *m, int b, int t, float *out)
{
    size_t V = (size_t)m->cfg.vocab;
    m->ops->download(out, m->logits + ((size_t)b * m->T + t) * V, V * sizeof(float));
}

double birdie_model_grad_norm(const birdie_model *m)
{
    return sqrt(m->ops->sum_squares(m->grads, m->n_params));
}

/* One op call over the flat buffers (one launch on CUDA, not one per tensor); each tensor's segment
 * carries its decay flag, so weight decay applies exactly where it did tensor by tensor. */
void birdie_model_adamw(birdie_model *m, float lr, float weight_decay, float grad_scale, int step)
{
    birdie_adamw_params ap = {.lr = lr,
                              .beta1 = 0.9f,
                              .beta2 = 0.95f,
                              .eps = 1e-8f,
                              .weight_decay = weight_decay,
                              .grad_scale = grad_scale,
                              .step = step};
    OP(m, adamw_update_segments, m->params, m->grads, m->m, m->v, m->adamw_segs, m->n_tensors, &ap);
}

long birdie_rows_label_count(const birdie_rows *rows)
{
    long n = 0;
    for (size_t i = 0; i < (size_t)rows->B * rows->T; i++)
        n += rows->labels[i] != BIRDIE_IGNORE_LABEL;
    return n;
}
