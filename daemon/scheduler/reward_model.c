/* daemon/scheduler/reward_model.c: parameters, sequence forward/backward, cached history state and
 * one-step candidate scoring of the v1 Gated SSM reward model (see reward_model.h).
 *
 * The recurrence uses the forget gate of the previous position (h_t = K_{t-1} h_{t-1} + ...): the
 * scan op of kernels/ops.h is called with f shifted down by one row (row 0 is reset by the op), and
 * the gradient it returns for f is shifted back up onto K. After the history, block l carries
 * c_l = K_{T-1} * h_{T-1}, so a candidate at position T needs only h_T = c_l + its own input term:
 * scoring M candidates is one batched step, not M re-runs of the history (docs/algorithm.md §3.5).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/scheduler/reward_model.h"
#include "daemon/scheduler/rm_layers.h"
#include "daemon/scheduler/sched_rng.h"
#include "kernels/ops.h"

#define OPS (&birdie_ops_cpu)
#define RM_SCALE_INIT 0.1f

enum { STEP_CHUNK = 256 }; /* candidate rows per batched step: keeps the activations in cache */

/* Views of one parameter-shaped buffer (the parameters, the gradients). */
typedef struct rm_view {
    float *in_gamma, *in_scale, *w_in; /* (2N), (2N), (D,2N) */
    float *blocks; /* L blocks of block_stride floats */
    float *f_gamma, *f_scale, *w_head; /* (D), (D), (N,D) */
} rm_view;

typedef struct rm_block_view {
    float *gamma, *scale; /* (D), (D) */
    float *wk; /* (S,D) */
    float *wugg; /* (3S,D) */
    float *wout; /* (D,S) */
} rm_block_view;

struct rm_seq_ws {
    int cap_T;
    float *mem;
    uint8_t *resets; /* (cap_T) zeros: only t = 0 resets */
    float *X, *in_rms, *nin; /* (T,2N), (T,2), (T,2N) */
    float *x; /* (L+1) x (T,D): block l's input; x[L] feeds the head */
    float *u, *u_rms, *K, *ugg, *sgi, *sgo; /* per block: (T,D), (T,2), (T,S), (T,3S), (T,S), (T,S) */
    float *pg, *fsh, *h, *z; /* per block: (T,S) each */
    float *f_rms, *uf, *pred; /* (T,2), (T,D), (T,N) */
    float *kg, *y; /* scratch (T,S), (T,D) */
    float *dpred, *dx, *du, *du2, *dz, *dh, *dpg, *df, *dkc, *dkg, *dugg, *dnin; /* backward scratch */
};

struct rm_step_ws {
    float *mem;
    float *X, *in_rms, *nin, *xa, *xb, *u, *u_rms, *kg, *K, *ugg, *sgi, *sgo, *pg, *z, *y, *f_rms, *uf, *pred;
};

static size_t block_stride(int D)
{
    return (size_t)2 * D + (size_t)5 * (2 * D) * D;
}

size_t rm_param_count(int N, int D, int L)
{
    return (size_t)4 * N + (size_t)2 * N * D + (size_t)L * block_stride(D) + (size_t)2 * D + (size_t)N * D;
}

static rm_view view_of(const reward_model *rm, float *base)
{
    rm_view v;
    v.in_gamma = base;
    v.in_scale = base + 2 * rm->N;
    v.w_in = base + 4 * rm->N;
    v.blocks = v.w_in + (size_t)rm->D * 2 * rm->N;
    v.f_gamma = v.blocks + (size_t)rm->L * block_stride(rm->D);
    v.f_scale = v.f_gamma + rm->D;
    v.w_head = v.f_scale + rm->D;
    return v;
}

static rm_block_view block_of(const reward_model *rm, const rm_view *v, int l)
{
    rm_block_view b;
    int D = rm->D, S = rm->S;
    b.gamma = v->blocks + (size_t)l * block_stride(D);
    b.scale = b.gamma + D;
    b.wk = b.scale + D;
    b.wugg = b.wk + (size_t)S * D;
    b.wout = b.wugg + (size_t)3 * S * D;
    return b;
}

static void fill(float *x, size_t n, float value)
{
    for (size_t i = 0; i < n; i++)
        x[i] = value;
}

/* PyTorch's nn.Linear default (kaiming_uniform with a = sqrt(5)): U(-1/sqrt(fan_in), 1/sqrt(fan_in)). */
static void init_linear(float *w, int out_features, int fan_in, uint64_t seed, uint64_t tensor)
{
    birdie_rng rng = sched_rng(seed, 0, SCHED_RNG_INIT, tensor);
    double bound = 1.0 / sqrt((double)fan_in);
    size_t n = (size_t)out_features * fan_in;
    for (size_t i = 0; i < n; i++)
        w[i] = (float)((2.0 * birdie_rng_uniform(&rng) - 1.0) * bound);
}

int rm_init(reward_model *rm, int N, int D, int L, uint64_t seed)
{
    memset(rm, 0, sizeof(*rm));
    rm->N = N;
    rm->D = D;
    rm->S = 2 * D;
    rm->L = L;
    rm->n_params = rm_param_count(N, D, L);
    rm->params = calloc(rm->n_params, sizeof(float));
    rm->grads = calloc(rm->n_params, sizeof(float));
    rm->adam_m = calloc(rm->n_params, sizeof(float));
    rm->adam_v = calloc(rm->n_params, sizeof(float));
    rm->cache = calloc((size_t)L * rm->S, sizeof(float));
    if (!rm->params || !rm->grads || !rm->adam_m || !rm->adam_v || !rm->cache) {
        rm_free(rm);
        return -ENOMEM;
    }
    rm_view v = view_of(rm, rm->params);
    fill(v.in_gamma, (size_t)2 * N, 1.0f);
    fill(v.in_scale, (size_t)2 * N, RM_SCALE_INIT);
    init_linear(v.w_in, D, 2 * N, seed, 0);
    for (int l = 0; l < L; l++) {
        rm_block_view b = block_of(rm, &v, l);
        fill(b.gamma, (size_t)D, 1.0f);
        fill(b.scale, (size_t)D, RM_SCALE_INIT);
        init_linear(b.wk, rm->S, D, seed, 1 + 3 * (uint64_t)l);
        init_linear(b.wugg, 3 * rm->S, D, seed, 2 + 3 * (uint64_t)l);
        init_linear(b.wout, D, rm->S, seed, 3 + 3 * (uint64_t)l);
    }
    fill(v.f_gamma, (size_t)D, 1.0f);
    fill(v.f_scale, (size_t)D, RM_SCALE_INIT);
    init_linear(v.w_head, N, D, seed, 1 + 3 * (uint64_t)L);
    return 0;
}

static void seq_ws_free(rm_seq_ws *ws)
{
    if (!ws)
        return;
    free(ws->mem);
    free(ws->resets);
    free(ws);
}

static void step_ws_free(rm_step_ws *ws)
{
    if (!ws)
        return;
    free(ws->mem);
    free(ws);
}

void rm_free(reward_model *rm)
{
    free(rm->params);
    free(rm->grads);
    free(rm->adam_m);
    free(rm->adam_v);
    free(rm->cache);
    seq_ws_free(rm->seq);
    step_ws_free(rm->step);
    memset(rm, 0, sizeof(*rm));
}

/* Hands out consecutive slices of one allocation; a first pass with mem NULL only counts. */
typedef struct carver {
    float *mem;
    size_t used;
} carver;

static float *carve(carver *c, size_t n)
{
    float *p = c->mem ? c->mem + c->used : NULL;
    c->used += n;
    return p;
}

static void carve_seq(rm_seq_ws *ws, carver *c, const reward_model *rm, size_t T)
{
    size_t N = rm->N, D = rm->D, S = rm->S, L = rm->L;
    ws->X = carve(c, T * 2 * N);
    ws->in_rms = carve(c, T * 2);
    ws->nin = carve(c, T * 2 * N);
    ws->x = carve(c, (L + 1) * T * D);
    ws->u = carve(c, L * T * D);
    ws->u_rms = carve(c, L * T * 2);
    ws->K = carve(c, L * T * S);
    ws->ugg = carve(c, L * T * 3 * S);
    ws->sgi = carve(c, L * T * S);
    ws->sgo = carve(c, L * T * S);
    ws->pg = carve(c, L * T * S);
    ws->fsh = carve(c, L * T * S);
    ws->h = carve(c, L * T * S);
    ws->z = carve(c, L * T * S);
    ws->f_rms = carve(c, T * 2);
    ws->uf = carve(c, T * D);
    ws->pred = carve(c, T * N);
    ws->kg = carve(c, T * S);
    ws->y = carve(c, T * D);
    ws->dpred = carve(c, T * N);
    ws->dx = carve(c, T * D);
    ws->du = carve(c, T * D);
    ws->du2 = carve(c, T * D);
    ws->dz = carve(c, T * S);
    ws->dh = carve(c, T * S);
    ws->dpg = carve(c, T * S);
    ws->df = carve(c, T * S);
    ws->dkc = carve(c, T * S);
    ws->dkg = carve(c, T * S);
    ws->dugg = carve(c, T * 3 * S);
    ws->dnin = carve(c, T * 2 * N);
}

/* Makes the sequence workspace hold at least T positions. */
static int seq_reserve(reward_model *rm, int T)
{
    if (rm->seq && rm->seq->cap_T >= T)
        return 0;
    int cap = rm->seq ? 2 * rm->seq->cap_T : 16;
    if (cap < T)
        cap = T;
    rm_seq_ws *ws = calloc(1, sizeof(*ws));
    if (!ws)
        return -ENOMEM;
    carver c = {NULL, 0};
    carve_seq(ws, &c, rm, (size_t)cap);
    c.mem = malloc(c.used * sizeof(float));
    ws->resets = calloc((size_t)cap, 1);
    if (!c.mem || !ws->resets) {
        free(c.mem);
        free(ws->resets);
        free(ws);
        return -ENOMEM;
    }
    ws->mem = c.mem;
    ws->cap_T = cap;
    c.used = 0;
    carve_seq(ws, &c, rm, (size_t)cap);
    seq_ws_free(rm->seq);
    rm->seq = ws;
    return 0;
}

static void carve_step(rm_step_ws *ws, carver *c, const reward_model *rm)
{
    size_t R = STEP_CHUNK, N = rm->N, D = rm->D, S = rm->S;
    ws->X = carve(c, R * 2 * N);
    ws->in_rms = carve(c, R * 2);
    ws->nin = carve(c, R * 2 * N);
    ws->xa = carve(c, R * D);
    ws->xb = carve(c, R * D);
    ws->u = carve(c, R * D);
    ws->u_rms = carve(c, R * 2);
    ws->kg = carve(c, R * S);
    ws->K = carve(c, R * S);
    ws->ugg = carve(c, R * 3 * S);
    ws->sgi = carve(c, R * S);
    ws->sgo = carve(c, R * S);
    ws->pg = carve(c, R * S);
    ws->z = carve(c, R * S);
    ws->y = carve(c, R * D);
    ws->f_rms = carve(c, R * 2);
    ws->uf = carve(c, R * D);
    ws->pred = carve(c, R * N);
}

static int step_reserve(reward_model *rm)
{
    if (rm->step)
        return 0;
    rm_step_ws *ws = calloc(1, sizeof(*ws));
    if (!ws)
        return -ENOMEM;
    carver c = {NULL, 0};
    carve_step(ws, &c, rm);
    c.mem = malloc(c.used * sizeof(float));
    if (!c.mem) {
        free(ws);
        return -ENOMEM;
    }
    ws->mem = c.mem;
    c.used = 0;
    carve_step(ws, &c, rm);
    rm->step = ws;
    return 0;
}

/* x0 (R,D) = W_in RMSsplit(X) for X (R,2N). */
static void model_input(const reward_model *rm, const rm_view *p, const float *X, int R, float *in_rms, float *nin,
                        float *x0)
{
    rm_rmssplit_forward(nin, in_rms, X, p->in_gamma, p->in_scale, R, 2 * rm->N);
    OPS->matmul_forward(x0, nin, p->w_in, NULL, R, 2 * rm->N, rm->D);
}

/* pred (R,N) = W_head RMSsplit(x) for the last residual x (R,D). */
static void model_head(const reward_model *rm, const rm_view *p, const float *x, int R, float *f_rms, float *uf,
                       float *pred)
{
    rm_rmssplit_forward(uf, f_rms, x, p->f_gamma, p->f_scale, R, rm->D);
    OPS->matmul_forward(pred, uf, p->w_head, NULL, R, rm->D, rm->N);
}

/* The part of a block before the recurrence: norm, the two projections, the gates. */
static void block_gates(const reward_model *rm, const rm_block_view *w, const float *x, int R, float *u, float *u_rms,
                        float *kg, float *K, float *ugg, float *sgi, float *sgo, float *pg)
{
    rm_rmssplit_forward(u, u_rms, x, w->gamma, w->scale, R, rm->D);
    OPS->matmul_forward(kg, u, w->wk, NULL, R, rm->D, rm->S);
    OPS->matmul_forward(ugg, u, w->wugg, NULL, R, rm->D, 3 * rm->S);
    rm_in_gates_forward(K, sgi, sgo, pg, kg, ugg, R, rm->S);
}

/* The part after it: x_out (R,D) = x + W_out (h * sgo). */
static void block_output(const reward_model *rm, const rm_block_view *w, const float *x, const float *h,
                         const float *sgo, int R, float *z, float *y, float *x_out)
{
    rm_out_gate_forward(z, h, sgo, (size_t)R * rm->S);
    OPS->matmul_forward(y, z, w->wout, NULL, R, rm->S, rm->D);
    OPS->residual_forward(x_out, x, y, (size_t)R * rm->D);
}

/* Per-block slice of a workspace array with width `width` per position. */
static float *at(float *base, int l, int cap_T, int width)
{
    return base + (size_t)l * cap_T * width;
}

static void seq_forward(reward_model *rm, int T)
{
    rm_seq_ws *ws = rm->seq;
    int C = ws->cap_T, D = rm->D, S = rm->S;
    rm_view p = view_of(rm, rm->params);
    model_input(rm, &p, ws->X, T, ws->in_rms, ws->nin, at(ws->x, 0, C, D));
    for (int l = 0; l < rm->L; l++) {
        rm_block_view w = block_of(rm, &p, l);
        float *K = at(ws->K, l, C, S), *fsh = at(ws->fsh, l, C, S), *h = at(ws->h, l, C, S);
        float *pg = at(ws->pg, l, C, S), *sgo = at(ws->sgo, l, C, S);
        block_gates(rm, &w, at(ws->x, l, C, D), T, at(ws->u, l, C, D), at(ws->u_rms, l, C, 2), ws->kg, K,
                    at(ws->ugg, l, C, 3 * S), at(ws->sgi, l, C, S), sgo, pg);
        memset(fsh, 0, (size_t)S * sizeof(float));
        memcpy(fsh + S, K, (size_t)(T - 1) * S * sizeof(float));
        OPS->scan_forward(h, pg, fsh, ws->resets, 1, T, S, S);
        block_output(rm, &w, at(ws->x, l, C, D), h, sgo, T, at(ws->z, l, C, S), ws->y, at(ws->x, l + 1, C, D));
    }
    model_head(rm, &p, at(ws->x, rm->L, C, D), T, ws->f_rms, ws->uf, ws->pred);
}

/* Accumulates the gradient of the loss whose gradient wrt the predictions is ws->dpred. */
static void seq_backward(reward_model *rm, int T)
{
    rm_seq_ws *ws = rm->seq;
    int C = ws->cap_T, N = rm->N, D = rm->D, S = rm->S;
    rm_view p = view_of(rm, rm->params), g = view_of(rm, rm->grads);
    OPS->matmul_backward(ws->du, g.w_head, NULL, ws->dpred, ws->uf, p.w_head, T, D, N);
    memset(ws->dx, 0, (size_t)T * D * sizeof(float));
    rm_rmssplit_backward(ws->dx, g.f_gamma, g.f_scale, ws->du, at(ws->x, rm->L, C, D), p.f_gamma, p.f_scale, ws->f_rms,
                         T, D);
    for (int l = rm->L - 1; l >= 0; l--) {
        rm_block_view pw = block_of(rm, &p, l), gw = block_of(rm, &g, l);
        float *h = at(ws->h, l, C, S), *u = at(ws->u, l, C, D), *ugg = at(ws->ugg, l, C, 3 * S);
        /* ws->dx is the gradient wrt this block's output, i.e. wrt its W_out term and its input. */
        OPS->matmul_backward(ws->dz, gw.wout, NULL, ws->dx, at(ws->z, l, C, S), pw.wout, T, S, D);
        rm_out_gate_backward(ws->dh, ws->dugg, ws->dz, h, at(ws->sgo, l, C, S), T, S);
        OPS->scan_backward(ws->dpg, ws->df, ws->dh, h, at(ws->fsh, l, C, S), ws->resets, 1, T, S, S);
        /* f_t = K_{t-1}: the gradient on f at t+1 belongs to K at t; nothing reaches K_{T-1}. */
        memcpy(ws->dkc, ws->df + S, (size_t)(T - 1) * S * sizeof(float));
        memset(ws->dkc + (size_t)(T - 1) * S, 0, (size_t)S * sizeof(float));
        rm_in_gates_backward(ws->dkg, ws->dugg, ws->dpg, ws->dkc, ugg, at(ws->K, l, C, S), at(ws->sgi, l, C, S), T, S);
        OPS->matmul_backward(ws->du, gw.wugg, NULL, ws->dugg, u, pw.wugg, T, D, 3 * S);
        OPS->matmul_backward(ws->du2, gw.wk, NULL, ws->dkg, u, pw.wk, T, D, S);
        for (size_t i = 0; i < (size_t)T * D; i++)
            ws->du[i] += ws->du2[i];
        rm_rmssplit_backward(ws->dx, gw.gamma, gw.scale, ws->du, at(ws->x, l, C, D), pw.gamma, pw.scale,
                             at(ws->u_rms, l, C, 2), T, D);
    }
    OPS->matmul_backward(ws->dnin, g.w_in, NULL, ws->dx, ws->nin, p.w_in, T, 2 * N, D);
    rm_rmssplit_backward(NULL, g.in_gamma, g.in_scale, ws->dnin, ws->X, p.in_gamma, p.in_scale, ws->in_rms, T, 2 * N);
}

double rm_sequence(reward_model *rm, const float *X, const float *Y, int T, float *pred, int want_grad)
{
    if (seq_reserve(rm, T) != 0)
        return -1.0;
    rm_seq_ws *ws = rm->seq;
    size_t TN = (size_t)T * rm->N;
    memcpy(ws->X, X, (size_t)T * 2 * rm->N * sizeof(float));
    seq_forward(rm, T);
    if (pred)
        memcpy(pred, ws->pred, TN * sizeof(float));
    if (!Y)
        return 0.0;
    double sse = 0.0;
    for (size_t i = 0; i < TN; i++) {
        double d = (double)ws->pred[i] - Y[i];
        sse += d * d;
        ws->dpred[i] = (float)(2.0 * d / (double)TN);
    }
    if (want_grad)
        seq_backward(rm, T);
    return sse / (double)TN;
}

int rm_build_cache(reward_model *rm, const float *X, const float *Y, int T, double *mse)
{
    double m = rm_sequence(rm, X, Y, T, NULL, 0);
    if (m < 0.0)
        return -ENOMEM;
    if (Y && mse)
        *mse = m;
    rm_seq_ws *ws = rm->seq;
    int S = rm->S;
    for (int l = 0; l < rm->L; l++) {
        const float *K = at(ws->K, l, ws->cap_T, S) + (size_t)(T - 1) * S;
        const float *h = at(ws->h, l, ws->cap_T, S) + (size_t)(T - 1) * S;
        for (int s = 0; s < S; s++)
            rm->cache[(size_t)l * S + s] = K[s] * h[s];
    }
    rm->cache_T = T;
    return 0;
}

int rm_score_step(reward_model *rm, const float *loss, const double *actions, int M, float *pred)
{
    if (step_reserve(rm) != 0)
        return -ENOMEM;
    rm_step_ws *ws = rm->step;
    int N = rm->N, S = rm->S;
    rm_view p = view_of(rm, rm->params);
    for (int m0 = 0; m0 < M; m0 += STEP_CHUNK) {
        int R = M - m0 < STEP_CHUNK ? M - m0 : STEP_CHUNK;
        for (int r = 0; r < R; r++) {
            float *row = ws->X + (size_t)r * 2 * N;
            const double *a = actions + (size_t)(m0 + r) * N;
            for (int i = 0; i < N; i++) {
                row[i] = loss[i];
                row[N + i] = (float)a[i];
            }
        }
        model_input(rm, &p, ws->X, R, ws->in_rms, ws->nin, ws->xa);
        float *x = ws->xa, *x_next = ws->xb;
        for (int l = 0; l < rm->L; l++) {
            rm_block_view w = block_of(rm, &p, l);
            block_gates(rm, &w, x, R, ws->u, ws->u_rms, ws->kg, ws->K, ws->ugg, ws->sgi, ws->sgo, ws->pg);
            const float *carry = rm->cache + (size_t)l * S;
            for (int r = 0; r < R; r++)
                for (int s = 0; s < S; s++)
                    ws->pg[(size_t)r * S + s] += carry[s]; /* h_T = K_{T-1} h_{T-1} + input term */
            block_output(rm, &w, x, ws->pg, ws->sgo, R, ws->z, ws->y, x_next);
            float *t = x;
            x = x_next;
            x_next = t;
        }
        model_head(rm, &p, x, R, ws->f_rms, ws->uf, ws->pred);
        memcpy(pred + (size_t)m0 * N, ws->pred, (size_t)R * N * sizeof(float));
    }
    return 0;
}
