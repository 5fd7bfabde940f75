/* worker/generate.c: the generator of generate.h: the prompt through the model's forward pass, then one
 * recurrent step per token through the op table, and the host-side choice of each token.
 *
 * The step's scan. The op table has no single-step scan, so a step runs the training scan op on a row
 * of two positions whose channels are the n rows x N state channels side by side: one position holds
 * the carried state, the other the new input x (written there by the gate op), and the op computes
 * f * carry + x with the same instruction sequence as training. The two buffers of a layer take turns:
 * on even steps the carry is a[0], the new input goes to a[1] and a left-to-right scan writes b (b[1]
 * is the new state); on odd steps the carry is b[1], the new input goes to b[0] and a right-to-left
 * scan (n_fwd = 0) writes a (a[0] is the new state), which is where the next even step finds it. No
 * copy per step. The reverse-direction channels of a bidirectional layer must see h = x at every
 * generated position (their reverse reset, docs/algorithm.md §1.4): their part of the new state is
 * zeroed after use, so the next step computes f * 0 + x = x for them.
 *
 * Not here: checkpoints, configs and the command line (generate_main.c). */
#include "worker/generate.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "worker/error.h"
#include "worker/generate_hawk.h"
#include "worker/generate_transformer.h"
#include "worker/model_hawk.h"
#include "worker/model_transformer.h"
#include "worker/rng.h"
#include "worker/vocab.h"

/* The layer structure of docs/algorithm.md §1.3, as worker/model.c lays it out: even layers of a
 * bidirectional model scan their upper N/2 channels right to left. */
static int layer_n_fwd(const birdie_model *m, int l)
{
    return m->cfg.bidirectional && l % 2 == 0 ? m->cfg.d_state / 2 : m->cfg.d_state;
}

void birdie_generator_free(birdie_generator *g)
{
    const birdie_ops *ops = g->m ? g->m->ops : NULL;
    if (g->m) {
        birdie_hawk_gen_free(g);
        birdie_tf_gen_free(g);
    }
    if (ops) {
        void *bufs[] = {g->d_tokens, g->x[0], g->x[1],   g->u, g->rstd,    g->proj,
                        g->g,        g->y,    g->logits, g->f, g->d_resets};
        for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
            if (bufs[i])
                ops->free(bufs[i]);
        for (int l = 0; l < g->m->cfg.n_layers; l++) {
            if (g->state_a && g->state_a[l])
                ops->free(g->state_a[l]);
            if (g->state_b && g->state_b[l])
                ops->free(g->state_b[l]);
        }
    }
    free(g->state_a);
    free(g->state_b);
    free(g->logits_host);
    free(g->host_state);
    memset(g, 0, sizeof *g);
}

static void *galloc(const birdie_ops *ops, size_t bytes, int *failed)
{
    void *p = ops->alloc(bytes);
    if (!p)
        *failed = 1;
    return p;
}

int birdie_generator_init(birdie_generator *g, birdie_model *m, char *err, size_t errlen)
{
    memset(g, 0, sizeof *g);
    g->m = m;
    g->cap = m->B;
    const birdie_ops *ops = m->ops;
    size_t R = (size_t)m->B, C = (size_t)m->cfg.d_model, N = (size_t)m->cfg.d_state, V = (size_t)m->cfg.vocab;
    int L = m->cfg.n_layers, failed = 0;
    g->state_a = calloc((size_t)L, sizeof *g->state_a);
    g->state_b = calloc((size_t)L, sizeof *g->state_b);
    g->logits_host = malloc(R * V * sizeof(float));
    g->host_state = malloc(R * N * (size_t)L * sizeof(float));
    if (!g->state_a || !g->state_b || !g->logits_host || !g->host_state) {
        birdie_generator_free(g);
        return birdie_fail(err, errlen, -ENOMEM, "generate: out of host memory");
    }
    size_t fb = sizeof(float);
    g->d_tokens = galloc(ops, R * sizeof(int32_t), &failed);
    g->x[0] = galloc(ops, R * C * fb, &failed);
    g->x[1] = galloc(ops, R * C * fb, &failed);
    g->u = galloc(ops, R * C * fb, &failed);
    g->rstd = galloc(ops, R * fb, &failed);
    g->proj = galloc(ops, R * 4 * N * fb, &failed);
    g->g = galloc(ops, R * N * fb, &failed);
    g->y = galloc(ops, R * C * fb, &failed);
    g->logits = galloc(ops, R * V * fb, &failed);
    g->f = galloc(ops, 2 * R * N * fb, &failed);
    g->d_resets = galloc(ops, 2, &failed); /* zeroed by alloc: no reset inside the two positions */
    for (int l = 0; l < L; l++) {
        g->state_a[l] = galloc(ops, 2 * R * N * fb, &failed);
        g->state_b[l] = galloc(ops, 2 * R * N * fb, &failed);
    }
    if (failed) {
        birdie_generator_free(g);
        return birdie_fail(err, errlen, -ENOMEM, "generate: out of %s memory for the step buffers of %zu rows",
                           ops->name, R);
    }
    if (m->hawk || m->tf) {
        int rc = m->hawk ? birdie_hawk_gen_init(g, err, errlen) : birdie_tf_gen_init(g, err, errlen);
        if (rc < 0) {
            birdie_generator_free(g);
            return rc;
        }
    }
    return 0;
}

int birdie_generator_start(birdie_generator *g, const int32_t *const *prompts, const int *lens, int n, char *err,
                           size_t errlen)
{
    birdie_model *m = g->m;
    int T = m->T, N = m->cfg.d_state, V = m->cfg.vocab;
    if (n < 1 || n > g->cap)
        return birdie_fail(err, errlen, -EINVAL, "generate: %d prompts; this generator holds 1 to %d", n, g->cap);
    for (int i = 0; i < n; i++) {
        if (lens[i] < 0 || lens[i] + 1 > T)
            return birdie_fail(err, errlen, -E2BIG,
                               "generate: prompt %d has %d tokens; the model's rows hold at most %d (prompt + BEGIN)",
                               i, lens[i], T - 1);
        for (int t = 0; t < lens[i]; t++)
            if (prompts[i][t] < 0 || prompts[i][t] >= V)
                return birdie_fail(err, errlen, -EINVAL,
                                   "generate: prompt %d: token %d at %d is outside the vocabulary", i, prompts[i][t],
                                   t);
    }
    /* One pass over all prompts, or one per prompt (batch_gemm unset: the GEMMs then see the same rows
     * whatever the batch). */
    int group = g->batch_gemm ? n : 1;
    birdie_rows rows;
    if (birdie_rows_alloc(&rows, group, T) < 0)
        return birdie_fail(err, errlen, -ENOMEM, "generate: out of host memory for %d rows of %d", group, T);
    int L = m->cfg.n_layers;
    for (int l = 0; l < L; l++)
        memset(g->host_state + (size_t)l * n * N, 0, (size_t)n * N * sizeof(float));
    for (int i0 = 0; i0 < n; i0 += group) {
        birdie_rows_clear(&rows, 0, group);
        /* One sample per row: prefix = prompt, then BEGIN (docs/algorithm.md §1.4); no targets yet. */
        for (int r = 0; r < group; r++) {
            size_t base = (size_t)r * T;
            int len = lens[i0 + r];
            for (int t = 0; t <= len; t++) {
                int begin = t == len;
                rows.inputs[base + t] = begin ? BIRDIE_BEGIN : prompts[i0 + r][t];
                rows.labels[base + t] = BIRDIE_IGNORE_LABEL;
                rows.segments[base + t] = 1;
                rows.prefix[base + t] = (uint8_t)!begin;
                rows.resets[base + t] = (uint8_t)((t == 0 ? BIRDIE_RESET_FWD : 0) | (begin ? BIRDIE_RESET_REV : 0));
                rows.arms[base + t] = 0;
            }
        }
        birdie_model_forward(m, &rows, 0.0f);
        /* BEGIN's logits, and each layer's carry: the forward channels' scan state at BEGIN (the reverse
         * channels stay 0). */
        for (int r = 0; r < group; r++) {
            int i = i0 + r;
            birdie_model_logits(m, r, lens[i], g->logits_host + (size_t)i * V);
            for (int l = 0; !m->tf && l < L; l++) {
                const float *h = m->hawk ? m->hawk->acts[l].h : m->acts[l].h;
                m->ops->download(g->host_state + ((size_t)l * n + i) * N, h + ((size_t)r * T + lens[i]) * N,
                                 (size_t)layer_n_fwd(m, l) * sizeof(float));
            }
            if (m->hawk)
                birdie_hawk_gen_take_row(g, r, i, lens[i]);
            if (m->tf)
                birdie_tf_gen_take_row(g, r, i, lens[i]);
        }
    }
    birdie_rows_free(&rows);
    for (int l = 0; l < L; l++)
        m->ops->upload(g->state_a[l], g->host_state + (size_t)l * n * N, (size_t)n * N * sizeof(float));
    g->n = n;
    g->steps = 0;
    return 0;
}

void birdie_generator_matmul(const birdie_generator *g, float *out, const float *inp, const float *w, const float *b,
                             int C, int OC)
{
    if (g->batch_gemm) {
        g->m->ops->matmul_forward(out, inp, w, b, g->n, C, OC);
        return;
    }
    for (int r = 0; r < g->n; r++)
        g->m->ops->matmul_forward(out + (size_t)r * OC, inp + (size_t)r * C, w, b, 1, C, OC);
}

int birdie_generator_reserve(birdie_generator *g, int positions, char *err, size_t errlen)
{
    return g->tf ? birdie_tf_gen_reserve(g, positions, err, errlen) : 0;
}

void birdie_generator_step(birdie_generator *g, const int32_t *tokens)
{
    if (g->hawk || g->tf) {
        if (g->hawk)
            birdie_hawk_gen_step(g, tokens);
        else
            birdie_tf_gen_step(g, tokens);
        return;
    }
    birdie_model *m = g->m;
    const birdie_ops *ops = m->ops;
    int n = g->n, C = m->cfg.d_model, N = m->cfg.d_state, V = m->cfg.vocab;
    size_t nN = (size_t)n * N;
    const float *p = m->params;
    int odd = (int)(g->steps % 2), slot = odd ? 0 : 1, cur = 0;
    ops->upload(g->d_tokens, tokens, (size_t)n * sizeof(int32_t));
    ops->embedding_forward(g->x[0], g->d_tokens, p + m->wte, n, C);
    for (int l = 0; l < m->cfg.n_layers; l++) {
        const birdie_layer_params *lp = &m->layer[l];
        float *xin = g->x[cur], *xout = g->x[cur ^ 1];
        float *in = odd ? g->state_b[l] : g->state_a[l], *out = odd ? g->state_a[l] : g->state_b[l];
        ops->rmsnorm_forward(g->u, g->rstd, xin, p + lp->ln, n, C);
        birdie_generator_matmul(g, g->proj, g->u, p + lp->w_in, p + lp->b_in, C, 4 * N);
        ops->ssm_gates_forward(in + slot * nN, g->f + slot * nN, g->proj, n, N);
        ops->scan_forward(out, in, g->f, g->d_resets, 1, 2, (int)nN, odd ? 0 : (int)nN);
        float *h = out + slot * nN;
        ops->ssm_output_forward(g->g, g->proj, h, n, N);
        int n_fwd = layer_n_fwd(m, l);
        for (int r = 0; n_fwd < N && r < n; r++)
            ops->zero(h + (size_t)r * N + n_fwd, (size_t)(N - n_fwd) * sizeof(float));
        birdie_generator_matmul(g, g->y, g->g, p + lp->w_out, p + lp->b_out, N, C);
        ops->residual_forward(xout, xin, g->y, (size_t)n * C);
        cur ^= 1;
    }
    ops->rmsnorm_forward(g->u, g->rstd, g->x[cur], p + m->ln_f, n, C);
    birdie_generator_matmul(g, g->logits, g->u, p + m->head, NULL, C, V);
    ops->download(g->logits_host, g->logits, (size_t)n * V * sizeof(float));
    g->steps++;
}

const float *birdie_generator_logits(const birdie_generator *g, int r)
{
    return g->logits_host + (size_t)r * g->m->cfg.vocab;
}

/* ------------------------------------------------------------------------------------------------
 * Choosing tokens */

typedef struct scored {
    float logit;
    int32_t id;
} scored;

/* Larger logits first, lower ids first on a tie (NaN sorts last): a total order, so the choice does
 * not depend on qsort's algorithm. */
static int by_logit_desc(const void *a, const void *b)
{
    const scored *x = a, *y = b;
    int xn = isnan(x->logit), yn = isnan(y->logit);
    if (xn != yn)
        return xn - yn;
    if (!xn && x->logit != y->logit)
        return x->logit < y->logit ? 1 : -1;
    return (x->id > y->id) - (x->id < y->id);
}

int32_t birdie_gen_sample(const float *logits, int V, const birdie_gen_params *p, uint64_t row, long index)
{
    if (!(p->temperature > 0.0f)) {
        int32_t best = 0;
        for (int32_t v = 1; v < V; v++)
            if (logits[v] > logits[best] || isnan(logits[best]))
                best = v;
        return best;
    }
    scored *s = malloc((size_t)V * sizeof *s);
    if (!s) /* no memory for the sort: the greedy choice rather than none */
        return birdie_gen_sample(logits, V, &(birdie_gen_params){.temperature = 0}, row, index);
    for (int32_t v = 0; v < V; v++)
        s[v] = (scored){logits[v], v};
    qsort(s, (size_t)V, sizeof *s, by_logit_desc);
    int k = p->top_k > 0 && p->top_k < V ? p->top_k : V;
    /* softmax of logit / temperature over the k kept, in double, relative to the largest */
    double total = 0.0, *w = malloc((size_t)k * sizeof *w);
    int32_t chosen = s[0].id;
    if (w) {
        for (int j = 0; j < k; j++) {
            double e = isnan(s[j].logit) ? 0.0 : exp(((double)s[j].logit - s[0].logit) / p->temperature);
            w[j] = e;
            total += e;
        }
        birdie_rng rng = birdie_rng_stream(p->seed, (uint64_t)index, row, BIRDIE_RNG_GENERATE);
        double u = birdie_rng_uniform(&rng) * total, acc = 0.0;
        for (int j = 0; j < k; j++) {
            acc += w[j];
            if (u < acc && w[j] > 0) {
                chosen = s[j].id;
                break;
            }
        }
        free(w);
    }
    free(s);
    return chosen;
}

/* ------------------------------------------------------------------------------------------------
 * Generation of a batch */

void birdie_gen_output_free(birdie_gen_output *out)
{
    free(out->tokens);
    free(out->text);
    memset(out, 0, sizeof *out);
}

/* Appends token tok to row o; returns 1 when the row is finished by it. */
static int take_token(birdie_gen_output *o, int32_t tok, const char *stop, size_t stop_len, int max_tokens)
{
    o->tokens[o->n_tokens++] = tok;
    if (tok == BIRDIE_EOS) {
        o->finish = BIRDIE_GEN_EOS;
        return 1;
    }
    if (tok > BIRDIE_PAD && tok < 256) { /* a byte; specials (and PAD, never in text) print nothing */
        o->text[o->text_len++] = (char)tok;
        if (stop_len && o->text_len >= stop_len && memcmp(o->text + o->text_len - stop_len, stop, stop_len) == 0) {
            o->text_len -= stop_len;
            o->finish = BIRDIE_GEN_STOP;
            return 1;
        }
    }
    if (o->n_tokens >= max_tokens) {
        o->finish = BIRDIE_GEN_LENGTH;
        return 1;
    }
    return 0;
}

static int longest_prompt(const int *lens, int n)
{
    int longest = 0;
    for (int i = 0; i < n; i++)
        longest = lens[i] > longest ? lens[i] : longest;
    return longest;
}

int birdie_generate(birdie_generator *g, const int32_t *const *prompts, const int *lens, int n,
                    const birdie_gen_params *p, birdie_gen_output *out, char *err, size_t errlen)
{
    if (p->max_tokens < 1 || !(p->temperature >= 0.0f) || !isfinite(p->temperature) || p->top_k < 0)
        return birdie_fail(err, errlen, -EINVAL,
                           "generate: max tokens %d must be > 0, temperature %g finite and >= 0, top-k %d >= 0",
                           p->max_tokens, (double)p->temperature, p->top_k);
    if (n < 1 || n > g->cap)
        return birdie_fail(err, errlen, -EINVAL, "generate: %d prompts; this generator holds 1 to %d", n, g->cap);
    memset(out, 0, (size_t)n * sizeof *out);
    int32_t *next = malloc((size_t)n * sizeof *next);
    char *done = calloc((size_t)n, 1);
    int rc = next && done ? 0 : -ENOMEM;
    for (int i = 0; rc == 0 && i < n; i++) {
        out[i].tokens = malloc((size_t)p->max_tokens * sizeof(int32_t));
        out[i].text = malloc((size_t)p->max_tokens + 1);
        if (!out[i].tokens || !out[i].text)
            rc = -ENOMEM;
    }
    if (rc < 0) {
        birdie_fail(err, errlen, rc, "generate: out of host memory for %d rows of %d tokens", n, p->max_tokens);
    } else if ((rc = birdie_generator_start(g, prompts, lens, n, err, errlen)) == 0 &&
               (rc = birdie_generator_reserve(g, longest_prompt(lens, n) + 1 + p->max_tokens, err, errlen)) == 0) {
        const char *stop = p->stop ? p->stop : "";
        size_t stop_len = strlen(stop);
        int V = g->m->cfg.vocab;
        for (long i = 0; i < p->max_tokens; i++) {
            int active = 0;
            for (int r = 0; r < n; r++) {
                if (done[r]) {
                    next[r] = BIRDIE_PAD; /* a finished row still steps; rows never mix */
                    continue;
                }
                next[r] = birdie_gen_sample(birdie_generator_logits(g, r), V, p, p->row0 + (uint64_t)r, i);
                done[r] = (char)take_token(&out[r], next[r], stop, stop_len, p->max_tokens);
                /* never after the reserve above; a row must not write past its cache whatever happens */
                if (!done[r] && g->tf && birdie_tf_gen_full(g, r)) {
                    out[r].finish = BIRDIE_GEN_LENGTH;
                    done[r] = 1;
                }
                active += !done[r];
            }
            if (!active)
                break;
            birdie_generator_step(g, next);
        }
    }
    for (int i = 0; i < n; i++) {
        if (rc < 0)
            birdie_gen_output_free(&out[i]);
        else
            out[i].text[out[i].text_len] = '\0';
    }
    free(next);
    free(done);
    return rc;
}
