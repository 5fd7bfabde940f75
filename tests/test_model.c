/* tests/test_model.c: the CPU model as a whole: finite-difference gradient check of the XS model
 * (causal and bidirectional) and the causality / packing-isolation properties of §7.9. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/testutil.h"
#include "worker/model.h"
#include "worker/vocab.h"

enum { TB = 2, TT = 24 };

/* Appends one sample (prefix P, targets Tg) at position *pos of row b, in the §1.4 layout. */
static void put_sample(birdie_rows *r, int b, int *pos, int seg, const int32_t *P, int np, const int32_t *Tg, int nt)
{
    int base = b * r->T, p = *pos;
    for (int i = 0; i < np + nt; i++) {
        int at = base + p + i;
        int in_prefix = i < np;
        r->inputs[at] = in_prefix ? P[i] : (i == np ? BIRDIE_BEGIN : Tg[i - np - 1]);
        r->labels[at] = in_prefix ? BIRDIE_IGNORE_LABEL : Tg[i - np];
        r->segments[at] = seg;
        r->prefix[at] = (uint8_t)in_prefix;
        r->resets[at] = (uint8_t)((i == 0 ? BIRDIE_RESET_FWD : 0) | (in_prefix ? 0 : BIRDIE_RESET_REV));
        r->arms[at] = 0;
    }
    *pos = p + np + nt;
}

/* Row b: sample 1 = prefix of 6 + 7 targets, sample 2 = prefix of 3 + 5 targets, then padding. */
static void make_rows(birdie_rows *r, uint64_t seed)
{
    birdie_rng rng = birdie_rng_stream(seed, 0, 0, BIRDIE_RNG_TEST);
    birdie_rows_alloc(r, TB, TT);
    for (int b = 0; b < TB; b++) {
        int32_t tok[24];
        for (int i = 0; i < 24; i++)
            tok[i] = (int32_t)(32 + birdie_rng_below(&rng, 90));
        int pos = 0;
        put_sample(r, b, &pos, 1, tok, 6, tok + 6, 7);
        put_sample(r, b, &pos, 2, tok + 13, 3, tok + 16, 5);
    }
}

static void init_xs(birdie_model *m, int bidirectional, int B, int T)
{
    birdie_model_config cfg;
    assert_int_equal(birdie_model_config_by_name("XS", &cfg), 0);
    cfg.bidirectional = bidirectional;
    char err[256];
    assert_int_equal(birdie_model_init(m, &cfg, &birdie_ops_cpu, 1234, B, T, err, sizeof err), 0);
}

/* ---- gradient check ---- */

static double loss_of(birdie_model *m, const birdie_rows *rows)
{
    return birdie_model_forward(m, rows, 1.0f);
}

static void gradcheck(int bidirectional)
{
    birdie_model m;
    init_xs(&m, bidirectional, TB, TT);
    birdie_rows rows;
    make_rows(&rows, 7);
    birdie_model_zero_grad(&m);
    loss_of(&m, &rows);
    birdie_model_backward(&m);

    /* In every tensor, check the 3 entries with the largest analytic gradient and 3 random ones. */
    birdie_rng rng = birdie_rng_stream(3, 0, 0, BIRDIE_RNG_TEST);
    const float eps = 1e-2f;
    int checked = 0;
    double worst = 0;
    for (int ti = 0; ti < m.n_tensors; ti++) {
        const birdie_tensor *t = &m.tensors[ti];
        size_t pick[6];
        for (int k = 0; k < 3; k++) {
            size_t best = t->offset;
            for (size_t i = t->offset; i < t->offset + t->count; i++) {
                int taken = 0;
                for (int j = 0; j < k; j++)
                    taken |= pick[j] == i;
                if (!taken && fabsf(m.grads[i]) > fabsf(m.grads[best]))
                    best = i;
            }
            pick[k] = best;
        }
        for (int k = 3; k < 6; k++)
            pick[k] = t->offset + birdie_rng_below(&rng, t->count);
        for (int k = 0; k < 6; k++) {
            size_t i = pick[k];
            float keep = m.params[i];
            m.params[i] = keep + eps;
            double up = loss_of(&m, &rows);
            m.params[i] = keep - eps;
            double down = loss_of(&m, &rows);
            m.params[i] = keep;
            double num = (up - down) / (2.0 * eps), ana = m.grads[i];
            double err = fabs(num - ana) / (2e-3 + 2e-2 * fabs(ana));
            if (err > worst)
                worst = err;
            if (err > 1.0)
                fail_msg("%s[%zu]: analytic %.6g numeric %.6g", t->name, i - t->offset, ana, num);
            checked++;
        }
    }
    print_message("# gradcheck (%s): %d entries, worst scaled error %.3f\n", bidirectional ? "bidirectional" : "causal",
                  checked, worst);
    birdie_rows_free(&rows);
    birdie_model_free(&m);
}

static void test_gradcheck_causal(void **state) { (void)state; gradcheck(0); }
static void test_gradcheck_bidirectional(void **state) { (void)state; gradcheck(1); }

/* ---- causality ---- */

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

static int position_changed(const float *a, const float *b, int t, int V)
{
    return memcmp(a + (size_t)t * V, b + (size_t)t * V, (size_t)V * sizeof(float)) != 0;
}

/* Changing the input token at position `at` of row 0; returns which positions' outputs changed. */
static void changed_positions(birdie_model *m, birdie_rows *rows, int at, int *changed)
{
    float *before = all_logits(m, rows);
    int32_t keep = rows->inputs[at];
    rows->inputs[at] = keep == 40 ? 41 : 40;
    float *after = all_logits(m, rows);
    rows->inputs[at] = keep;
    for (int t = 0; t < rows->T; t++)
        changed[t] = position_changed(before, after, t, m->cfg.vocab);
    free(before);
    free(after);
}

static void check_causality(int bidirectional)
{
    birdie_model m;
    init_xs(&m, bidirectional, TB, TT);
    birdie_rows rows;
    make_rows(&rows, 11);
    int changed[TT];
    /* Sample 1 occupies 0..12 (prefix 0..5, BEGIN 6, targets 7..12); sample 2 occupies 13..20. */
    for (int at = 6; at < 13; at++) { /* BEGIN and teacher-forced target inputs of sample 1 */
        changed_positions(&m, &rows, at, changed);
        for (int t = 0; t < at; t++) {
            /* The reverse half reads the BEGIN position's own input into the prefix (§1.4: the
             * reset sits on BEGIN itself). BEGIN is a constant id, so no target information flows;
             * every teacher-forced target position is strictly causal. */
            int begin_into_prefix = bidirectional && at == 6 && t < 6;
            if (changed[t] && !begin_into_prefix)
                fail_msg("input at %d changed the output at %d < %d", at, t, at);
        }
        assert_true(changed[at]);
    }
    /* A prefix token: later positions see it; earlier prefix positions only in the bidirectional
     * model, and never anything outside the prefix before it. */
    changed_positions(&m, &rows, 4, changed);
    assert_true(changed[4] && changed[8]);
    int earlier_prefix_changed = changed[0] || changed[1] || changed[2] || changed[3];
    assert_int_equal(earlier_prefix_changed, bidirectional);
    /* Packed samples never see each other, in either direction. */
    for (int at = 13; at < 21; at++) {
        changed_positions(&m, &rows, at, changed);
        for (int t = 0; t < 13; t++)
            if (changed[t])
                fail_msg("sample 2 input at %d changed sample 1 output at %d", at, t);
    }
    for (int at = 0; at < 13; at++) {
        changed_positions(&m, &rows, at, changed);
        for (int t = 13; t < 21; t++)
            if (changed[t])
                fail_msg("sample 1 input at %d changed sample 2 output at %d", at, t);
    }
    birdie_rows_free(&rows);
    birdie_model_free(&m);
}

static void test_causality_causal(void **state) { (void)state; check_causality(0); }
static void test_causality_bidirectional(void **state) { (void)state; check_causality(1); }

/* Rows of a batch are independent: row 1's outputs do not depend on row 0's tokens. */
static void test_rows_independent(void **state)
{
    (void)state;
    birdie_model m;
    init_xs(&m, 1, TB, TT);
    birdie_rows rows;
    make_rows(&rows, 12);
    float *before = all_logits(&m, &rows);
    for (int t = 0; t < TT; t++)
        rows.inputs[t] = 50;
    float *after = all_logits(&m, &rows);
    size_t V = (size_t)m.cfg.vocab;
    assert_memory_equal(before + TT * V, after + TT * V, TT * V * sizeof(float));
    free(before);
    free(after);
    birdie_rows_free(&rows);
    birdie_model_free(&m);
}

/* Bad shapes are refused with a message, not a crash. */
static void test_bad_shape(void **state)
{
    (void)state;
    birdie_model m;
    birdie_model_config cfg = {384, 64, 63, 2, 1};
    char err[256] = "";
    assert_true(birdie_model_init(&m, &cfg, &birdie_ops_cpu, 1, 2, 8, err, sizeof err) < 0);
    assert_non_null(strstr(err, "N must be even"));
    assert_true(birdie_model_config_by_name("XXL", &cfg) < 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gradcheck_causal),
        cmocka_unit_test(test_gradcheck_bidirectional),
        cmocka_unit_test(test_causality_causal),
        cmocka_unit_test(test_causality_bidirectional),
        cmocka_unit_test(test_rows_independent),
        cmocka_unit_test(test_bad_shape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
