/* tests/worker/test_model.c: the CPU model as a whole, held against the specification rather than against itself:
 *  - forward losses against an independent double-precision reference (tests/worker/model_ref.c), causal and
 *    bidirectional, on packed rows (several samples, prefixes, NTP samples, padding);
 *  - the analytic gradient of every parameter against central differences of that reference;
 *  - the per-layer structure of docs/algorithm.md §1.3 (every § below is that file's): which layers read
 *    both ways and which state channels run right to left; causality and packing isolation (§5);
 *  - AdamW's weight-decay exclusions (§1.0).
 * The configurations have d_model != d_state (and d_model/2 != d_state/2) and four layers, so a wrong
 * dimension or a wrong layer parity cannot hide behind a symmetric shape. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/common/testutil.h"
#include "tests/worker/hawk_ref.h"
#include "tests/worker/model_ref.h"
#include "tests/worker/tf_ref.h"
#include "worker/model.h"
#include "worker/model_hawk.h"
#include "worker/model_transformer.h"
#include "worker/vocab.h"

/* fp32 unit roundoff */
#define U32 0x1.0p-24

/* The main configuration: byte vocabulary, C = 24, N = 16 (N/2 = 8, C/2 = 12), four layers. */
enum { MAIN_C = 24, MAIN_N = 16, MAIN_L = 4, MAIN_B = 3, MAIN_T = 32 };

/* ---- packed rows (§1.4 layout) ---- */

typedef struct sample_shape {
    int np, nt; /* prefix length (0: an NTP sample), number of targets; -1 ends a row */
} sample_shape;

/* Row layouts of the main configuration: prefixes of 1..12, NTP samples, a full row, padding. */
static const sample_shape MAIN_ROWS[MAIN_B][4] = {
    {{6, 7}, {3, 5}, {0, 6}, {-1, 0}}, /* 0..12, 13..20, 21..26, padding 27..31 */
    {{10, 10}, {1, 11}, {-1, 0}}, /* 0..19, 20..31: no padding */
    {{0, 9}, {12, 4}, {-1, 0}}, /* 0..8, 9..24, padding 25..31 */
};

/* Appends one sample (prefix P, targets Tg) at *pos of row b: inputs (P, BEGIN, Tg[:-1]), labels
 * shifted by one, forward reset on the first position, reverse reset on BEGIN and every target input. */
static void put_sample(birdie_rows *r, int b, int *pos, int seg, const int32_t *P, int np, const int32_t *Tg, int nt,
                       int32_t begin)
{
    int base = b * r->T, p = *pos;
    for (int i = 0; i < np + nt; i++) {
        int at = base + p + i;
        int in_prefix = i < np;
        r->inputs[at] = in_prefix ? P[i] : (i == np ? begin : Tg[i - np - 1]);
        r->labels[at] = in_prefix ? BIRDIE_IGNORE_LABEL : Tg[i - np];
        r->segments[at] = seg;
        r->prefix[at] = (uint8_t)in_prefix;
        r->resets[at] = (uint8_t)((i == 0 ? BIRDIE_RESET_FWD : 0) | (in_prefix ? 0 : BIRDIE_RESET_REV));
        r->arms[at] = 0;
    }
    *pos = p + np + nt;
}

/* Rows of B x T from the layouts; tokens and targets uniform in [lo, hi), BEGIN = begin. */
static void make_rows(birdie_rows *r, int B, int T, const sample_shape (*layout)[4], int32_t lo, int32_t hi,
                      int32_t begin, uint64_t seed)
{
    birdie_rng rng = birdie_rng_stream(seed, 0, 0, BIRDIE_RNG_TEST);
    assert_int_equal(birdie_rows_alloc(r, B, T), 0);
    for (int b = 0; b < B; b++) {
        int pos = 0;
        for (int s = 0; s < 4 && layout[b][s].np >= 0; s++) {
            int32_t P[64], Tg[64];
            for (int i = 0; i < 64; i++) {
                P[i] = lo + (int32_t)birdie_rng_below(&rng, (uint64_t)(hi - lo));
                Tg[i] = lo + (int32_t)birdie_rng_below(&rng, (uint64_t)(hi - lo));
            }
            put_sample(r, b, &pos, s + 1, P, layout[b][s].np, Tg, layout[b][s].nt, begin);
            assert_true(pos <= T);
        }
    }
}

static void make_main_rows(birdie_rows *r, uint64_t seed)
{
    make_rows(r, MAIN_B, MAIN_T, MAIN_ROWS, 1, 256, BIRDIE_BEGIN, seed);
}

/* ---- model set-up ---- */

/* The family of the models the checks below build: the Gated SSM unless a Hawk test sets it. */
static int family = BIRDIE_FAMILY_GATED_SSM;

static void init_model(birdie_model *m, int V, int C, int N, int L, int bidirectional, int B, int T)
{
    birdie_model_config cfg = {
        .vocab = V, .d_model = C, .d_state = N, .n_layers = L, .bidirectional = bidirectional, .family = family};
    /* a Transformer gets the most heads of {3, 2, 1} that split C into even widths: 3 x 8 at C = 24, 1 x 10 at 10 */
    for (int h = 3; h >= 1 && !cfg.n_heads; h--)
        if (C % h == 0 && (C / h) % 2 == 0)
            cfg.n_heads = h;
    char err[256];
    int rc = birdie_model_init(m, &cfg, &birdie_ops_cpu, 1234, B, T, err, sizeof err);
    if (rc)
        fail_msg("model init: %s", err);
}

/* The reference of the model's family. */
typedef struct any_ref {
    model_ref gated;
    hawk_ref hawk;
    tf_ref tf;
    int family;
} any_ref;

static void init_ref(any_ref *r, const birdie_model *m)
{
    char err[256];
    memset(r, 0, sizeof *r);
    r->family = m->cfg.family;
    int rc = r->family == BIRDIE_FAMILY_HAWK          ? hawk_ref_init(&r->hawk, m, err, sizeof err)
             : r->family == BIRDIE_FAMILY_TRANSFORMER ? tf_ref_init(&r->tf, m, err, sizeof err)
                                                      : model_ref_init(&r->gated, m, err, sizeof err);
    if (rc)
        fail_msg("reference: %s", err);
}

static double ref_forward(const any_ref *r, const double *p, const birdie_rows *rows, double *losses, double *h_trace)
{
    if (r->family == BIRDIE_FAMILY_TRANSFORMER)
        return tf_ref_forward(&r->tf, p, rows, losses); /* no recurrent state to trace */
    return r->family == BIRDIE_FAMILY_HAWK ? hawk_ref_forward(&r->hawk, p, rows, losses, h_trace)
                                           : model_ref_forward(&r->gated, p, rows, losses, h_trace);
}

static void free_ref(any_ref *r)
{
    if (r->family == BIRDIE_FAMILY_HAWK)
        hawk_ref_free(&r->hawk);
    else if (r->family == BIRDIE_FAMILY_TRANSFORMER)
        tf_ref_free(&r->tf);
    else
        model_ref_free(&r->gated);
}

/* Layer l's scan state (BT,N) of the last forward; NULL for the Transformer, which has none. */
static const float *layer_h(const birdie_model *m, int l)
{
    return m->hawk ? m->hawk->acts[l].h : m->tf ? NULL : m->acts[l].h;
}

/* The longest chain of fp32 sums one position passes through a block (docs/algorithm.md §1.2, §1.5, §1.6): the Gated
 * SSM's projections (K = C, N) and scan (K <= T); Hawk's two more projections (gates K = N, MLP K = C and M) and
 * its conv (K = 4); 16 (32 for Hawk) u for the elementwise gates. */
static double block_path(const birdie_model *m, int T)
{
    const birdie_model_config *c = &m->cfg;
    if (m->hawk)
        return 2.0 * c->d_model + 2.0 * c->d_state + m->hawk->M + T + 4 + 32;
    if (m->tf) /* the projections (K = C three times, M once), scores (K = C / H), softmax and values (K <= T) */
        return 3.0 * c->d_model + m->tf->M + 2.0 * T + 32;
    return (double)(c->d_model + c->d_state + T + 16);
}

static int name_ends(const char *name, const char *suffix)
{
    size_t n = strlen(name), k = strlen(suffix);
    return n >= k && strcmp(name + n - k, suffix) == 0;
}

/* Every parameter drawn afresh (the initialisation leaves biases at 0, norms at 1, which would hide a
 * bias or norm weight that is read wrongly). The embedding is small so that RMSNorm's eps is a visible
 * part of the first layer's normalisation; forget gates sit in (0.6, 0.95) so state flows far. */
/* Hawk's parameters drawn the same way: sigmoid(lambda) in (0.62, 0.98) and the gate biases spread, so a =
 * sigmoid(lambda)^(8 r) spans short and long memories; conv taps and biases large enough that a tap read wrongly
 * shows. */
static void randomize_hawk_params(birdie_model *m, uint64_t seed)
{
    birdie_rng rng = birdie_rng_stream(seed, 0, 0, BIRDIE_RNG_TEST);
    int C = m->cfg.d_model, N = m->cfg.d_state, M = m->hawk->M;
    for (int ti = 0; ti < m->n_tensors; ti++) {
        const birdie_tensor *t = &m->tensors[ti];
        float *p = m->params + t->offset;
        if (strcmp(t->name, "wte") == 0)
            fill_random(p, t->count, 0.05f, &rng);
        else if (name_ends(t->name, "ln") || name_ends(t->name, "ln2") || strcmp(t->name, "ln_f") == 0)
            for (size_t i = 0; i < t->count; i++)
                p[i] = (float)(0.5 + birdie_rng_uniform(&rng));
        else if (name_ends(t->name, "lambda"))
            for (size_t i = 0; i < t->count; i++)
                p[i] = (float)(0.5 + 3.5 * birdie_rng_uniform(&rng));
        else if (name_ends(t->name, "conv_w"))
            fill_random(p, t->count, 0.6f, &rng);
        else if (name_ends(t->name, "conv_b") || name_ends(t->name, "b_rg"))
            fill_random(p, t->count, 0.5f, &rng);
        else if (name_ends(t->name, "w_rg") || name_ends(t->name, "w_out"))
            fill_random(p, t->count, 1.0f / sqrtf((float)N), &rng);
        else if (name_ends(t->name, "w_mo"))
            fill_random(p, t->count, 1.0f / sqrtf((float)M), &rng);
        else /* w_in, w_mlp, head */
            fill_random(p, t->count, 1.5f / sqrtf((float)C), &rng);
    }
}

/* The Transformer's: norms in (0.5, 1.5), projections at 1.5 / sqrt(fan-in) so that attention is far from
 * uniform (a wrong mask or rotation moves the losses), the embedding small as above. */
static void randomize_tf_params(birdie_model *m, uint64_t seed)
{
    birdie_rng rng = birdie_rng_stream(seed, 0, 0, BIRDIE_RNG_TEST);
    int C = m->cfg.d_model, M = m->tf->M;
    for (int ti = 0; ti < m->n_tensors; ti++) {
        const birdie_tensor *t = &m->tensors[ti];
        float *p = m->params + t->offset;
        if (strcmp(t->name, "wte") == 0)
            fill_random(p, t->count, 0.05f, &rng);
        else if (name_ends(t->name, "ln") || name_ends(t->name, "ln2") || strcmp(t->name, "ln_f") == 0)
            for (size_t i = 0; i < t->count; i++)
                p[i] = (float)(0.5 + birdie_rng_uniform(&rng));
        else if (name_ends(t->name, "w_mo"))
            fill_random(p, t->count, 1.0f / sqrtf((float)M), &rng);
        else if (name_ends(t->name, "w_qkv"))
            fill_random(p, t->count, 2.5f / sqrtf((float)C), &rng);
        else /* w_o, w_mlp, head */
            fill_random(p, t->count, 1.5f / sqrtf((float)C), &rng);
    }
}

static void randomize_params(birdie_model *m, uint64_t seed)
{
    if (m->hawk) {
        randomize_hawk_params(m, seed);
        return;
    }
    if (m->tf) {
        randomize_tf_params(m, seed);
        return;
    }
    birdie_rng rng = birdie_rng_stream(seed, 0, 0, BIRDIE_RNG_TEST);
    int C = m->cfg.d_model, N = m->cfg.d_state;
    for (int ti = 0; ti < m->n_tensors; ti++) {
        const birdie_tensor *t = &m->tensors[ti];
        float *p = m->params + t->offset;
        if (strcmp(t->name, "wte") == 0)
            fill_random(p, t->count, 0.05f, &rng);
        else if (name_ends(t->name, "ln") || strcmp(t->name, "ln_f") == 0)
            for (size_t i = 0; i < t->count; i++)
                p[i] = (float)(0.5 + birdie_rng_uniform(&rng));
        else if (name_ends(t->name, "b_in")) {
            fill_random(p, 3 * (size_t)N, 0.5f, &rng);
            for (int n = 0; n < N; n++)
                p[3 * N + n] = (float)(0.5 + 2.5 * birdie_rng_uniform(&rng));
        } else if (name_ends(t->name, "b_out"))
            fill_random(p, t->count, 0.2f, &rng);
        else if (name_ends(t->name, "w_out"))
            fill_random(p, t->count, 1.0f / sqrtf((float)N), &rng);
        else /* w_izo, w_f, head */
            fill_random(p, t->count, 1.5f / sqrtf((float)C), &rng);
    }
}

static double *params_double(const birdie_model *m)
{
    double *d = malloc(m->n_params * sizeof *d);
    for (size_t i = 0; i < m->n_params; i++)
        d[i] = m->params[i];
    return d;
}

static const char *tensor_of(const birdie_model *m, size_t i, size_t *within)
{
    for (int ti = 0; ti < m->n_tensors; ti++)
        if (i >= m->tensors[ti].offset && i < m->tensors[ti].offset + m->tensors[ti].count) {
            *within = i - m->tensors[ti].offset;
            return m->tensors[ti].name;
        }
    *within = i;
    return "?";
}

/* ---- forward against the reference ---- */

/* Tolerance of a per-position loss. The model runs in fp32 (unit roundoff u = 2^-24); every op's error
 * is bounded by its longest sum: gamma_K = K u relative to the sum of the absolute terms (RMSNorm and
 * the projections K = C or N, the scan K <= T, the cross-entropy's log-sum-exp K = V), plus a few u for
 * the elementwise gates (fast exp: 2e-7 ~ 4u). Summed along the path of one position through L blocks
 * and the head, a relative error budget on the logits is (L (C + N + T + 16) + C + V) u; the loss moves
 * by at most 2 max|logit| times a relative error of the logits. On the main configuration that is
 * about 5e-5 * 2 max|logit|; a factor 1 + 2 max|logit| is used. Worst-case bounds, so the measured
 * error is far below; the planted-bug class (a wrong layer, a wrong channel split, a missing bias, a
 * wrong constant) moves losses by 1e-3 and more. */
static double loss_tolerance(const birdie_model *m, int T, double max_logit)
{
    const birdie_model_config *c = &m->cfg;
    double budget = (c->n_layers * block_path(m, T) + c->d_model + c->vocab) * U32;
    return budget * (1.0 + 2.0 * max_logit);
}

static void check_forward(int bidirectional)
{
    birdie_model m;
    init_model(&m, BIRDIE_VOCAB, MAIN_C, MAIN_N, MAIN_L, bidirectional, MAIN_B, MAIN_T);
    randomize_params(&m, 21 + (uint64_t)bidirectional);
    any_ref r;
    init_ref(&r, &m);
    birdie_rows rows;
    make_main_rows(&rows, 5);
    const size_t BT = (size_t)MAIN_B * MAIN_T, N = MAIN_N;

    double sum = birdie_model_forward(&m, &rows, 1.0f);
    double *p = params_double(&m), *want = malloc(BT * sizeof *want);
    double *h_ref = malloc((size_t)MAIN_L * BT * N * sizeof *h_ref);
    double want_sum = ref_forward(&r, p, &rows, want, h_ref);

    /* Layer by layer first, so that a failure names the layer and the channel: the scan state of each
     * layer against the reference's (same fp32 budget, relative to the layer's largest |h|). */
    for (int l = 0; layer_h(&m, 0) && l < MAIN_L; l++) {
        double hmax = 0;
        for (size_t i = 0; i < BT * N; i++)
            hmax = fmax(hmax, fabs(h_ref[(size_t)l * BT * N + i]));
        double tol = (double)(l + 1) * block_path(&m, MAIN_T) * U32 * 8 * hmax;
        for (size_t i = 0; i < BT * N; i++) {
            double got = layer_h(&m, l)[i], ref = h_ref[(size_t)l * BT * N + i];
            if (!(fabs(got - ref) <= tol))
                fail_msg("layer %d h[bt=%zu][n=%zu]: model %.8g reference %.8g (tol %.2g)", l, i / N, i % N, got, ref,
                         tol);
        }
    }

    double max_logit = 0;
    float *logits = malloc((size_t)BIRDIE_VOCAB * sizeof *logits);
    for (int b = 0; b < MAIN_B; b++)
        for (int t = 0; t < MAIN_T; t++) {
            birdie_model_logits(&m, b, t, logits);
            for (int v = 0; v < BIRDIE_VOCAB; v++)
                max_logit = fmax(max_logit, fabs(logits[v]));
        }
    double tol = loss_tolerance(&m, MAIN_T, max_logit), worst = 0, host_sum = 0;
    long labelled = 0;
    for (size_t i = 0; i < BT; i++) {
        double got = m.losses_host[i];
        host_sum += got;
        if (rows.labels[i] == BIRDIE_IGNORE_LABEL) {
            if (got != 0.0)
                fail_msg("position %zu carries no label but has loss %.8g", i, got);
            continue;
        }
        labelled++;
        worst = fmax(worst, fabs(got - want[i]) / tol);
        if (!(fabs(got - want[i]) <= tol))
            fail_msg("loss at row %zu position %zu: model %.8g reference %.8g (tol %.2g)", i / MAIN_T, i % MAIN_T, got,
                     want[i], tol);
    }
    assert_int_equal(labelled, birdie_rows_label_count(&rows));
    /* the returned sum is the sum of the per-position losses, and matches the reference's */
    assert_true(fabs(sum - host_sum) <= 1e-9 * fabs(host_sum));
    assert_true(fabs(sum - want_sum) <= tol * (double)labelled);
    print_message("# forward (%s%s): %ld labelled positions, loss sum %.6f, worst |error|/tol %.3g (tol %.2g)\n",
                  m.hawk ? "hawk, "
                  : m.tf ? "transformer, "
                         : "",
                  bidirectional ? "bidirectional" : "causal", labelled, sum, worst, tol);

    free(logits), free(p), free(want), free(h_ref);
    free_ref(&r);
    birdie_rows_free(&rows);
    birdie_model_free(&m);
}

static void test_forward_reference_causal(void **state)
{
    (void)state;
    check_forward(0);
}
static void test_forward_reference_bidirectional(void **state)
{
    (void)state;
    check_forward(1);
}

/* ---- gradient of every parameter against finite differences of the reference ---- */

/* A tiny model so that every parameter can be differentiated numerically: V = 40 (the model takes any
 * vocabulary; id 1 plays BEGIN), C = 10, N = 6 (C/2 = 5 != N/2 = 3), four layers, two rows of 16. */
enum { GC_V = 40, GC_C = 10, GC_N = 6, GC_L = 4, GC_B = 2, GC_T = 16 };
static const sample_shape GC_ROWS[GC_B][4] = {
    {{4, 5}, {0, 4}, {-1, 0}}, /* 0..8, NTP 9..12, padding 13..15 */
    {{7, 9}, {-1, 0}}, /* 0..15 */
};

static void check_gradients(int bidirectional)
{
    birdie_model m;
    /* Hawk's blocks hold ~10x the parameters (the MLP is at least 64 wide): two layers, one of each kind in
     * the bidirectional model, keep the finite differences affordable. */
    init_model(&m, GC_V, GC_C, GC_N, family != BIRDIE_FAMILY_GATED_SSM ? 2 : GC_L, bidirectional, GC_B, GC_T);
    randomize_params(&m, 31 + (uint64_t)bidirectional);
    any_ref r;
    init_ref(&r, &m);
    birdie_rows rows;
    make_rows(&rows, GC_B, GC_T, GC_ROWS, 2, GC_V, 1, 9);

    /* The trainer's scaling: dloss = 1 / labelled tokens, so the gradient is that of the mean loss. */
    const double dloss = 1.0 / (double)birdie_rows_label_count(&rows);
    birdie_model_zero_grad(&m);
    birdie_model_forward(&m, &rows, (float)dloss);
    birdie_model_backward(&m);

    /* Fourth-order central differences, step h = 1e-4, on the double reference: the smallest scale
     * the loss varies on is the embedding's RMSNorm, ~sqrt(mean x^2 + eps) ~ 0.03, so the truncation
     * error is ~ (h / 0.03)^4 ~ 1e-10 relative, and rounding ~ 1e-16 |L| / h ~ 4e-12: the numeric
     * gradient is exact to ~1e-10 next to the fp32 analytic one. That one's error is bounded like the
     * forward's: each entry is a sum of per-position products carried back through the same chain of
     * fp32 sums, (L (C + N + T + 16) + C + V) u ~ 1.4e-5 relative to the magnitudes summed, times 4
     * for the forward's error inherited by the saved activations and the backward's own sums of each
     * op (~6e-5). Entries that cancel to near zero keep an absolute error of that budget times the
     * tensor's typical gradient, hence |error| <= budget * (|g| + rms of the tensor's gradient). The
     * measured worst is ~6% of it; a wrong factor, a dropped term or a wrong index moves entries by a
     * large fraction of |g|. */
    double *p = params_double(&m);
    const double h = 1e-4;
    const double budget = (m.cfg.n_layers * block_path(&m, GC_T) + GC_C + GC_V) * U32 * 4;
    double worst = 0;
    size_t worst_i = 0;
    for (int ti = 0; ti < m.n_tensors; ti++) {
        const birdie_tensor *t = &m.tensors[ti];
        double *num = malloc(t->count * sizeof *num), rms = 0;
        for (size_t k = 0; k < t->count; k++) {
            size_t i = t->offset + k;
            double keep = p[i], f[4];
            const double at[4] = {-2 * h, -h, h, 2 * h};
            for (int s = 0; s < 4; s++) {
                p[i] = keep + at[s];
                f[s] = ref_forward(&r, p, &rows, NULL, NULL) * dloss;
            }
            p[i] = keep;
            num[k] = (f[0] - 8 * f[1] + 8 * f[2] - f[3]) / (12 * h);
            rms += num[k] * num[k];
        }
        rms = sqrt(rms / (double)t->count);
        for (size_t k = 0; k < t->count; k++) {
            double ana = m.grads[t->offset + k];
            double e = fabs(ana - num[k]) / (budget * (fabs(num[k]) + rms));
            if (e > worst)
                worst = e, worst_i = t->offset + k;
            if (!(e <= 1.0))
                fail_msg("%s[%zu]: analytic %.9g numeric %.9g (|g| rms of the tensor %.3g)", t->name, k, ana, num[k],
                         rms);
        }
        free(num);
    }
    size_t within;
    const char *name = tensor_of(&m, worst_i, &within);
    print_message("# gradients (%s%s): all %zu parameters, worst |error|/tol %.3g at %s[%zu]\n",
                  m.hawk ? "hawk, "
                  : m.tf ? "transformer, "
                         : "",
                  bidirectional ? "bidirectional" : "causal", m.n_params, worst, name, within);

    /* The backward accumulates: a second pass over the same rows doubles every gradient. */
    float *once = malloc(m.n_params * sizeof *once);
    memcpy(once, m.grads, m.n_params * sizeof *once);
    birdie_model_forward(&m, &rows, (float)dloss);
    birdie_model_backward(&m);
    for (int ti = 0; ti < m.n_tensors; ti++) {
        const birdie_tensor *t = &m.tensors[ti];
        double rms = sqrt(birdie_ops_cpu.sum_squares(once + t->offset, t->count) / (double)t->count);
        for (size_t k = 0; k < t->count; k++) {
            double g1 = once[t->offset + k], g2 = m.grads[t->offset + k];
            if (!(fabs(g2 - 2.0 * g1) <= budget * (fabs(g1) + rms)))
                fail_msg("%s[%zu] after two passes: %.9g, after one %.9g", t->name, k, g2, g1);
        }
    }

    free(once), free(p);
    free_ref(&r);
    birdie_rows_free(&rows);
    birdie_model_free(&m);
}

static void test_gradients_causal(void **state)
{
    (void)state;
    check_gradients(0);
}
static void test_gradients_bidirectional(void **state)
{
    (void)state;
    check_gradients(1);
}

/* ---- per-layer structure of the bidirectional model (§1.3) ---- */

/* With every block's output projection zeroed, each layer's input is the embedding itself, so a
 * layer's scan state shows that layer's own reading direction and nothing inherited from the layers
 * below. Changing the last prefix token p of a sample must then change, at the earlier prefix
 * positions of that sample, exactly the upper N/2 state channels of the even layers of a bidirectional
 * model and nothing in its odd layers nor anywhere in a causal model; at positions >= p it changes the
 * forward channels of every layer and no reverse channel after p; other samples see nothing. */
static void check_layer_structure(int bidirectional)
{
    birdie_model m;
    init_model(&m, BIRDIE_VOCAB, MAIN_C, MAIN_N, MAIN_L, bidirectional, MAIN_B, MAIN_T);
    randomize_params(&m, 41);
    for (int l = 0; l < MAIN_L; l++) {
        memset(m.params + m.layer[l].w_out, 0, (size_t)MAIN_C * MAIN_N * sizeof(float));
        memset(m.params + m.layer[l].b_out, 0, (size_t)MAIN_C * sizeof(float));
    }
    birdie_rows rows;
    make_main_rows(&rows, 6);
    const int N = MAIN_N, T = MAIN_T;
    const size_t BTN = (size_t)MAIN_B * T * N;
    /* row 1, sample 1: prefix 0..9, BEGIN at 10, targets 11..19; sample 2 from 20 */
    const int row = 1, p = 9, begin = 10, end = 20;

    float *before = malloc((size_t)MAIN_L * BTN * sizeof *before);
    birdie_model_forward(&m, &rows, 0.0f);
    for (int l = 0; l < MAIN_L; l++)
        memcpy(before + (size_t)l * BTN, m.acts[l].h, BTN * sizeof(float));
    int32_t *tok = &rows.inputs[row * T + p];
    *tok = *tok == 77 ? 78 : 77;
    birdie_model_forward(&m, &rows, 0.0f);

    for (int l = 0; l < MAIN_L; l++) {
        int bidir_layer = bidirectional && l % 2 == 0;
        int n_fwd = bidir_layer ? N / 2 : N;
        for (int b = 0; b < MAIN_B; b++)
            for (int t = 0; t < T; t++)
                for (int n = 0; n < N; n++) {
                    size_t i = ((size_t)b * T + t) * N + n;
                    int changed = before[(size_t)l * BTN + i] != m.acts[l].h[i];
                    int expect; /* 1 must change, 0 must not */
                    if (b != row || t >= end)
                        expect = 0; /* other rows, the next sample */
                    else if (n < n_fwd)
                        expect = t >= p; /* forward channel: from p on */
                    else
                        expect = t <= p; /* reverse channel: the prefix up to p, never BEGIN or later */
                    if (changed != expect)
                        fail_msg("%s model, layer %d (%s), row %d position %d (p=%d, BEGIN %d), channel %d (N=%d): "
                                 "state %s",
                                 bidirectional ? "bidirectional" : "causal", l, bidir_layer ? "both ways" : "causal", b,
                                 t, p, begin, n, N, changed ? "changed but must not" : "did not change");
                }
    }
    free(before);
    birdie_rows_free(&rows);
    birdie_model_free(&m);
}

static void test_layer_structure_bidirectional(void **state)
{
    (void)state;
    check_layer_structure(1);
}
static void test_layer_structure_causal(void **state)
{
    (void)state;
    check_layer_structure(0);
}

/* ---- causality and packing isolation (§5), whole model ---- */

static float *all_logits(birdie_model *m, const birdie_rows *rows)
{
    size_t V = (size_t)m->cfg.vocab, n = (size_t)rows->B * rows->T * V;
    float *out = malloc(n * sizeof *out);
    birdie_model_forward(m, rows, 0.0f);
    for (int b = 0; b < rows->B; b++)
        for (int t = 0; t < rows->T; t++)
            birdie_model_logits(m, b, t, out + ((size_t)b * rows->T + t) * V);
    return out;
}

/* Changes the input at position `at` of row `row`; changed[t] says which positions of that row moved. */
static void changed_positions(birdie_model *m, birdie_rows *rows, int row, int at, int *changed)
{
    size_t V = (size_t)m->cfg.vocab, T = (size_t)rows->T;
    float *before = all_logits(m, rows);
    int32_t *tok = &rows->inputs[row * rows->T + at];
    int32_t keep = *tok;
    *tok = keep == 40 ? 41 : 40;
    float *after = all_logits(m, rows);
    *tok = keep;
    for (int b = 0; b < rows->B; b++)
        if (b != row)
            assert_memory_equal(before + b * T * V, after + b * T * V, T * V * sizeof(float));
    for (size_t t = 0; t < T; t++)
        changed[t] = memcmp(before + (row * T + t) * V, after + (row * T + t) * V, V * sizeof(float)) != 0;
    free(before);
    free(after);
}

/* Every non-padding position of every row is changed in turn. A position t of the same sample may see
 * it iff t >= at, or (bidirectional) t is a prefix position and `at` is in the prefix or is the BEGIN
 * position (§1.4: the reverse reset sits on BEGIN itself; BEGIN is a constant id, so no target
 * information flows). Positions at and after `at` in its sample, and earlier prefix positions of a
 * bidirectional model when `at` is in the prefix, must change; other samples never do. */
static void check_causality(int bidirectional)
{
    birdie_model m;
    init_model(&m, BIRDIE_VOCAB, MAIN_C, MAIN_N, MAIN_L, bidirectional, MAIN_B, MAIN_T);
    randomize_params(&m, 51);
    birdie_rows rows;
    make_main_rows(&rows, 11);
    const int T = MAIN_T;
    int changed[MAIN_T];
    for (int row = 0; row < MAIN_B; row++)
        for (int at = 0; at < T; at++) {
            const int32_t *seg = rows.segments + row * T;
            const uint8_t *pre = rows.prefix + row * T;
            if (seg[at] == 0)
                continue;
            /* The SSMs' reverse channels read BEGIN's own input into the prefix (§1.4); prefix-LM attention reads
             * prefix keys only (§1.6). */
            int at_begin =
                family != BIRDIE_FAMILY_TRANSFORMER && !pre[at] && at > 0 && seg[at - 1] == seg[at] && pre[at - 1];
            changed_positions(&m, &rows, row, at, changed);
            int earlier_prefix_seen = 0;
            for (int t = 0; t < T; t++) {
                int same = seg[t] == seg[at];
                int may = same && (t >= at || (bidirectional && pre[t] && (pre[at] || at_begin)));
                if (changed[t] && !may)
                    fail_msg("row %d: input at %d changed the output at %d", row, at, t);
                if (same && t >= at && !changed[t])
                    fail_msg("row %d: input at %d did not reach the output at %d", row, at, t);
                earlier_prefix_seen |= same && t < at && changed[t];
            }
            int expect_earlier = bidirectional && (pre[at] || at_begin) && at > 0 && seg[at - 1] == seg[at];
            if (earlier_prefix_seen != expect_earlier)
                fail_msg("row %d: prefix input at %d %s earlier prefix outputs", row, at,
                         expect_earlier ? "did not reach" : "reached");
        }
    birdie_rows_free(&rows);
    birdie_model_free(&m);
}

static void test_causality_causal(void **state)
{
    (void)state;
    check_causality(0);
}
static void test_causality_bidirectional(void **state)
{
    (void)state;
    check_causality(1);
}

/* Rows of a batch are independent: row 1's outputs do not depend on row 0's tokens. */
static void test_rows_independent(void **state)
{
    (void)state;
    birdie_model m;
    init_model(&m, BIRDIE_VOCAB, MAIN_C, MAIN_N, MAIN_L, 1, MAIN_B, MAIN_T);
    birdie_rows rows;
    make_main_rows(&rows, 12);
    float *before = all_logits(&m, &rows);
    for (int t = 0; t < MAIN_T; t++)
        rows.inputs[t] = 50;
    float *after = all_logits(&m, &rows);
    size_t V = (size_t)m.cfg.vocab;
    assert_memory_equal(before + MAIN_T * V, after + MAIN_T * V, (MAIN_B - 1) * MAIN_T * V * sizeof(float));
    free(before);
    free(after);
    birdie_rows_free(&rows);
    birdie_model_free(&m);
}

/* ---- AdamW decay flags (§1.0: no decay on W_f, biases or norms) ---- */

/* With zero gradients AdamW's moment term is 0, so one step only applies the decoupled decay:
 * p <- p (1 - lr wd) on decayed tensors and p unchanged elsewhere. The tensors that decay are named
 * here from the specification, not from the model's table. */
static void test_adamw_decay_flags(void **state)
{
    (void)state;
    birdie_model m;
    init_model(&m, BIRDIE_VOCAB, MAIN_C, MAIN_N, MAIN_L, 1, 1, 4);
    randomize_params(&m, 61);
    float *before = malloc(m.n_params * sizeof *before);
    memcpy(before, m.params, m.n_params * sizeof *before);
    birdie_model_zero_grad(&m);
    const float lr = 0.5f, wd = 0.2f;
    birdie_model_adamw(&m, lr, wd, 1.0f, 1);
    int seen_decay = 0, seen_plain = 0;
    for (int ti = 0; ti < m.n_tensors; ti++) {
        const birdie_tensor *t = &m.tensors[ti];
        int decays = strcmp(t->name, "wte") == 0 || strcmp(t->name, "head") == 0 || name_ends(t->name, ".w_izo") ||
                     name_ends(t->name, ".w_out");
        seen_decay += decays;
        seen_plain += !decays;
        for (size_t k = 0; k < t->count; k++) {
            double b = before[t->offset + k], want = decays ? b * (1.0 - (double)lr * wd) : b;
            double got = m.params[t->offset + k];
            if (!(fabs(got - want) <= 4 * U32 * fabs(b)))
                fail_msg("%s[%zu] (%s): %.9g -> %.9g, want %.9g", t->name, k, decays ? "decays" : "no decay", b, got,
                         want);
        }
    }
    assert_int_equal(seen_decay, 2 + 2 * MAIN_L);
    assert_int_equal(seen_plain, 1 + 4 * MAIN_L);
    free(before);
    birdie_model_free(&m);
}

/* ---- the Hawk family: the same checks on its own reference (tests/worker/hawk_ref.c) ---- */

static void test_hawk_forward_reference(void **state)
{
    (void)state;
    family = BIRDIE_FAMILY_HAWK;
    check_forward(0);
    check_forward(1);
    family = BIRDIE_FAMILY_GATED_SSM;
}

static void test_hawk_gradients(void **state)
{
    (void)state;
    family = BIRDIE_FAMILY_HAWK;
    check_gradients(0);
    check_gradients(1);
    family = BIRDIE_FAMILY_GATED_SSM;
}

/* Causality and packing isolation (§5) hold for Hawk too: its conv never reads across a sample start nor, in
 * the reverse half, past the prefix; only the prefix is read both ways in the bidirectional model. */
static void test_hawk_causality(void **state)
{
    (void)state;
    family = BIRDIE_FAMILY_HAWK;
    check_causality(0);
    check_causality(1);
    family = BIRDIE_FAMILY_GATED_SSM;
}

/* Weight decay applies to Hawk's projections, conv taps, embedding and head, and to none of the RG-LRU's own
 * parameters (W_rg, b_rg, lambda), biases or norms (§1.0). */
static void test_hawk_adamw_decay_flags(void **state)
{
    (void)state;
    family = BIRDIE_FAMILY_HAWK;
    birdie_model m;
    init_model(&m, BIRDIE_VOCAB, MAIN_C, MAIN_N, 2, 1, 1, 8);
    family = BIRDIE_FAMILY_GATED_SSM;
    randomize_params(&m, 62);
    float *before = malloc(m.n_params * sizeof *before);
    memcpy(before, m.params, m.n_params * sizeof *before);
    birdie_model_zero_grad(&m);
    const float lr = 0.5f, wd = 0.2f;
    birdie_model_adamw(&m, lr, wd, 1.0f, 1);
    static const char *const decayed[] = {".w_in", ".conv_w", ".w_out", ".w_mlp", ".w_mo"};
    for (int ti = 0; ti < m.n_tensors; ti++) {
        const birdie_tensor *t = &m.tensors[ti];
        int decays = strcmp(t->name, "wte") == 0 || strcmp(t->name, "head") == 0;
        for (size_t d = 0; d < sizeof decayed / sizeof decayed[0]; d++)
            decays |= name_ends(t->name, decayed[d]);
        for (size_t k = 0; k < t->count; k++) {
            double b = before[t->offset + k], want = decays ? b * (1.0 - (double)lr * wd) : b;
            if (!(fabs(m.params[t->offset + k] - want) <= 4 * U32 * fabs(b)))
                fail_msg("%s[%zu] (%s): %.9g -> %.9g, want %.9g", t->name, k, decays ? "decays" : "no decay", b,
                         m.params[t->offset + k], want);
        }
    }
    assert_int_equal(m.n_tensors, 3 + 11 * 2);
    free(before);
    birdie_model_free(&m);
}

/* ---- the Transformer: the same checks on its reference (tests/worker/tf_ref.c) ---- */

static void test_transformer_forward_reference(void **state)
{
    (void)state;
    family = BIRDIE_FAMILY_TRANSFORMER;
    check_forward(0);
    check_forward(1);
    family = BIRDIE_FAMILY_GATED_SSM;
}

static void test_transformer_gradients(void **state)
{
    (void)state;
    family = BIRDIE_FAMILY_TRANSFORMER;
    check_gradients(0);
    check_gradients(1);
    family = BIRDIE_FAMILY_GATED_SSM;
}

/* Causality and packing isolation (§5): a target never sees its future, samples never see each other, and the
 * prefix reads both ways only with the prefix-LM mask. */
static void test_transformer_causality(void **state)
{
    (void)state;
    family = BIRDIE_FAMILY_TRANSFORMER;
    check_causality(0);
    check_causality(1);
    family = BIRDIE_FAMILY_GATED_SSM;
}

/* Bad shapes are refused with a message, not a crash. */
static void test_bad_shape(void **state)
{
    (void)state;
    birdie_model m;
    birdie_model_config cfg = {384, 64, 63, 2, 1, BIRDIE_FAMILY_GATED_SSM, 0};
    char err[256] = "";
    assert_true(birdie_model_init(&m, &cfg, &birdie_ops_cpu, 1, 2, 8, err, sizeof err) < 0);
    assert_non_null(strstr(err, "N must be even"));
    assert_true(birdie_model_config_by_name("XXL", &cfg) < 0);
    /* a Transformer whose heads do not split its width evenly */
    cfg = (birdie_model_config){384, 64, 64, 2, 1, BIRDIE_FAMILY_TRANSFORMER, 3};
    assert_true(birdie_model_init(&m, &cfg, &birdie_ops_cpu, 1, 2, 8, err, sizeof err) < 0);
    assert_non_null(strstr(err, "3 heads"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_reference_causal),
        cmocka_unit_test(test_forward_reference_bidirectional),
        cmocka_unit_test(test_gradients_causal),
        cmocka_unit_test(test_gradients_bidirectional),
        cmocka_unit_test(test_layer_structure_bidirectional),
        cmocka_unit_test(test_layer_structure_causal),
        cmocka_unit_test(test_causality_causal),
        cmocka_unit_test(test_causality_bidirectional),
        cmocka_unit_test(test_rows_independent),
        cmocka_unit_test(test_adamw_decay_flags),
        cmocka_unit_test(test_bad_shape),
        cmocka_unit_test(test_hawk_forward_reference),
        cmocka_unit_test(test_hawk_gradients),
        cmocka_unit_test(test_hawk_causality),
        cmocka_unit_test(test_hawk_adamw_decay_flags),
        cmocka_unit_test(test_transformer_forward_reference),
        cmocka_unit_test(test_transformer_gradients),
        cmocka_unit_test(test_transformer_causality),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
