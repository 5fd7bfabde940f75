/* tests/worker/test_generate.c: the generator (worker/generate.h) against the model's own training
 * forward, on the CPU twin:
 *  - teacher forcing a continuation through the recurrent step gives, at every generated position,
 *    the logits of birdie_model_forward on the packed row (prefix = prompt, BEGIN, continuation), for
 *    a causal and a bidirectional model (C != N, four layers, random init); prompts of 0 to 17 tokens;
 *  - a batch gives bit for bit what each prompt gives alone (logits, greedy and sampled tokens);
 *  - greedy generation is deterministic; sampling with one seed is reproducible, another seed
 *    differs, top-k = 1 is greedy; a stop string ends a row and is not kept.
 *
 * Tolerance. Both paths run the same ops on the same parameters; only the GEMMs see a different row
 * count (n rows per step against B*T per forward), which may change the summation order inside
 * BLAS. A dot product of length K in fp32 is off by at most about K*u of the sum of |terms| (u =
 * 2^-24). One position passes L blocks of two GEMMs (K = C and K = N) and the head (K = C), so its
 * logits may drift by about (L*(C + N) + C)*u relative to their scale; the test allows 16 times that
 * (the norms and gates amplify errors by small factors) times the largest |logit| of the position. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "worker/generate.h"
#include "worker/model_hawk.h"
#include "worker/model_transformer.h"
#include "worker/rng.h"
#include "worker/vocab.h"

#define U32 0x1.0p-24

enum { TC = 48, TN = 32, TL = 4, TB = 4, TT = 40, CONT = 14 };

static const int PROMPT_LENS[TB] = {5, 0, 17, 11};

static int family = BIRDIE_FAMILY_GATED_SSM; /* of the models the tests build */

static birdie_model_config test_config(int bidirectional)
{
    birdie_model_config c = {.vocab = BIRDIE_VOCAB, .d_model = TC, .d_state = TN, .n_layers = TL};
    c.bidirectional = bidirectional;
    c.family = family;
    c.n_heads = 4; /* the Transformer's: 4 heads of 12 */
    return c;
}

/* Prompt and continuation tokens of row i: printable bytes from a fixed stream. */
static void make_tokens(int32_t prompts[TB][TT], int32_t cont[TB][CONT])
{
    birdie_rng rng = birdie_rng_stream(7, 0, 0, BIRDIE_RNG_TEST);
    for (int i = 0; i < TB; i++) {
        for (int t = 0; t < TT; t++)
            prompts[i][t] = 32 + (int32_t)birdie_rng_below(&rng, 95);
        for (int t = 0; t < CONT; t++)
            cont[i][t] = 32 + (int32_t)birdie_rng_below(&rng, 95);
    }
}

/* The packed rows of docs/algorithm.md §1.4: prompt as prefix, BEGIN, the continuation as targets. */
static void make_rows(birdie_rows *r, int32_t prompts[TB][TT], int32_t cont[TB][CONT])
{
    assert_int_equal(birdie_rows_alloc(r, TB, TT), 0);
    for (int b = 0; b < TB; b++) {
        int np = PROMPT_LENS[b];
        for (int i = 0; i < np + CONT; i++) {
            int at = b * TT + i, in_prefix = i < np;
            r->inputs[at] = in_prefix ? prompts[b][i] : (i == np ? BIRDIE_BEGIN : cont[b][i - np - 1]);
            r->labels[at] = in_prefix ? BIRDIE_IGNORE_LABEL : cont[b][i - np];
            r->segments[at] = 1;
            r->prefix[at] = (uint8_t)in_prefix;
            r->resets[at] = (uint8_t)((i == 0 ? BIRDIE_RESET_FWD : 0) | (in_prefix ? 0 : BIRDIE_RESET_REV));
            r->arms[at] = 0;
        }
    }
}

static void prompt_ptrs(int32_t prompts[TB][TT], const int32_t *ptrs[TB])
{
    for (int i = 0; i < TB; i++)
        ptrs[i] = prompts[i];
}

static void teacher_forced_matches_forward(int bidirectional, int batch_gemm)
{
    char err[256];
    birdie_model m;
    birdie_model_config c = test_config(bidirectional);
    assert_int_equal(birdie_model_init(&m, &c, &birdie_ops_cpu, 11, TB, TT, err, sizeof err), 0);
    int32_t prompts[TB][TT], cont[TB][CONT];
    make_tokens(prompts, cont);
    birdie_rows rows;
    make_rows(&rows, prompts, cont);
    birdie_model_forward(&m, &rows, 1.0f);
    float *full = malloc((size_t)TB * TT * BIRDIE_VOCAB * sizeof(float));
    assert_non_null(full);
    for (int b = 0; b < TB; b++)
        for (int t = 0; t < TT; t++)
            birdie_model_logits(&m, b, t, full + ((size_t)b * TT + t) * BIRDIE_VOCAB);

    birdie_generator g;
    assert_int_equal(birdie_generator_init(&g, &m, err, sizeof err), 0);
    g.batch_gemm = batch_gemm;
    const int32_t *ptrs[TB];
    prompt_ptrs(prompts, ptrs);
    assert_int_equal(birdie_generator_start(&g, ptrs, PROMPT_LENS, TB, err, sizeof err), 0);
    /* A Hawk block has three more GEMMs on the path (the gates, K = N, and the MLP's two, K = C and K = M). */
    double path = family == BIRDIE_FAMILY_HAWK          ? TL * (2 * TC + 2 * TN + m.hawk->M) + TC
                  : family == BIRDIE_FAMILY_TRANSFORMER ? TL * (3 * TC + TT + m.tf->M) + TC
                                                        : TL * (TC + TN) + TC;
    double tol_factor = 16.0 * path * U32, worst = 0.0, worst_abs = 0.0;
    for (int j = 0; j < CONT; j++) {
        if (j > 0) {
            int32_t feed[TB];
            for (int b = 0; b < TB; b++)
                feed[b] = cont[b][j - 1];
            birdie_generator_step(&g, feed);
        }
        for (int b = 0; b < TB; b++) {
            const float *got = birdie_generator_logits(&g, b);
            const float *want = full + ((size_t)b * TT + PROMPT_LENS[b] + j) * BIRDIE_VOCAB;
            double scale = 0.0, err_max = 0.0;
            for (int v = 0; v < BIRDIE_VOCAB; v++) {
                scale = fmax(scale, fabs(want[v]));
                err_max = fmax(err_max, fabs((double)got[v] - want[v]));
            }
            double rel = err_max / (tol_factor * scale);
            if (!(rel <= 1.0))
                fail_msg("%s row %d generated position %d: max |logit diff| %.3g > %.3g (scale %.3g)",
                         bidirectional ? "bidirectional" : "causal", b, j, err_max, tol_factor * scale, scale);
            worst = fmax(worst, rel);
            worst_abs = fmax(worst_abs, err_max);
        }
    }
    print_message("# %s%s, %s: worst |logit diff| %.3g = %.3f of the tolerance (%.3g x max|logit|)\n",
                  family == BIRDIE_FAMILY_HAWK          ? "hawk "
                  : family == BIRDIE_FAMILY_TRANSFORMER ? "transformer "
                                                        : "",
                  bidirectional ? "bidirectional" : "causal", batch_gemm ? "batched GEMMs" : "GEMMs per row", worst_abs,
                  worst, tol_factor);
    birdie_generator_free(&g);
    free(full);
    birdie_rows_free(&rows);
    birdie_model_free(&m);
}

static void test_teacher_forced_causal(void **state)
{
    (void)state;
    teacher_forced_matches_forward(0, 0);
    teacher_forced_matches_forward(0, 1);
}

static void test_teacher_forced_bidirectional(void **state)
{
    (void)state;
    teacher_forced_matches_forward(1, 0);
    teacher_forced_matches_forward(1, 1);
}

/* The same for Hawk: its conv window and RG-LRU state carried step to step give the logits of the full forward
 * (prompts of 0 and 5 tokens start with windows shorter than the conv). */
static void test_teacher_forced_hawk(void **state)
{
    (void)state;
    family = BIRDIE_FAMILY_HAWK;
    for (int bidirectional = 0; bidirectional <= 1; bidirectional++) {
        teacher_forced_matches_forward(bidirectional, 0);
        teacher_forced_matches_forward(bidirectional, 1);
    }
    family = BIRDIE_FAMILY_GATED_SSM;
}

/* The Transformer's key/value cache: each generated token's logits are those of the full forward, causal and
 * prefix-LM (the prompt read both ways by the prefix pass, the generated tokens causally). */
static void test_teacher_forced_transformer(void **state)
{
    (void)state;
    family = BIRDIE_FAMILY_TRANSFORMER;
    for (int bidirectional = 0; bidirectional <= 1; bidirectional++) {
        teacher_forced_matches_forward(bidirectional, 0);
        teacher_forced_matches_forward(bidirectional, 1);
    }
    family = BIRDIE_FAMILY_GATED_SSM;
}

/* A Transformer generates past the rows its model was built for (eval and generate build them prompt-long): the
 * key/value caches grow, and what was cached stays. With rows of 12, the prompt of 5 and 14 generated tokens need
 * 20 positions; the logits match those of a model built with rows of 40 (the caches' contents survive the
 * growth: a lost or misplaced key changes the logits far beyond the tolerance). */
static void test_transformer_cache_grows(void **state)
{
    (void)state;
    char err[256];
    family = BIRDIE_FAMILY_TRANSFORMER;
    birdie_model_config c = test_config(1);
    family = BIRDIE_FAMILY_GATED_SSM;
    birdie_model small, big;
    assert_int_equal(birdie_model_init(&small, &c, &birdie_ops_cpu, 11, 1, 12, err, sizeof err), 0);
    assert_int_equal(birdie_model_init(&big, &c, &birdie_ops_cpu, 11, 1, TT, err, sizeof err), 0);
    int32_t prompts[TB][TT], cont[TB][CONT];
    make_tokens(prompts, cont);
    const int32_t *ptrs[1] = {prompts[0]};
    int lens[1] = {PROMPT_LENS[0]};
    birdie_generator gs, gb;
    assert_int_equal(birdie_generator_init(&gs, &small, err, sizeof err), 0);
    assert_int_equal(birdie_generator_init(&gb, &big, err, sizeof err), 0);
    assert_int_equal(birdie_generator_start(&gs, ptrs, lens, 1, err, sizeof err), 0);
    assert_int_equal(birdie_generator_start(&gb, ptrs, lens, 1, err, sizeof err), 0);
    assert_int_equal(birdie_generator_reserve(&gs, lens[0] + 1 + CONT, err, sizeof err), 0);
    for (int j = 0; j < CONT; j++) {
        if (j > 0) {
            birdie_generator_step(&gs, &cont[0][j - 1]);
            birdie_generator_step(&gb, &cont[0][j - 1]);
        }
        /* the prefix passes run over rows of 12 and of 40, whose GEMMs may round differently: the teacher-forced
         * tolerance */
        const float *a = birdie_generator_logits(&gs, 0), *b = birdie_generator_logits(&gb, 0);
        double scale = 0.0, tol = 16.0 * (TL * (3 * TC + TT + small.tf->M) + TC) * U32;
        for (int v = 0; v < BIRDIE_VOCAB; v++)
            scale = fmax(scale, fabs(b[v]));
        for (int v = 0; v < BIRDIE_VOCAB; v++)
            if (!(fabs((double)a[v] - b[v]) <= tol * scale))
                fail_msg("generated position %d: logit %d is %.9g with grown caches, %.9g with room from the start", j,
                         v, a[v], b[v]);
    }
    birdie_generator_free(&gs);
    birdie_generator_free(&gb);
    birdie_model_free(&small);
    birdie_model_free(&big);
}

static void batched_equals_one_by_one(void **state)
{
    (void)state;
    char err[256];
    for (int bidirectional = 0; bidirectional <= 1; bidirectional++) {
        birdie_model m;
        birdie_model_config c = test_config(bidirectional);
        assert_int_equal(birdie_model_init(&m, &c, &birdie_ops_cpu, 5, TB, TT, err, sizeof err), 0);
        int32_t prompts[TB][TT], cont[TB][CONT];
        make_tokens(prompts, cont);
        const int32_t *ptrs[TB];
        prompt_ptrs(prompts, ptrs);
        birdie_generator g;
        assert_int_equal(birdie_generator_init(&g, &m, err, sizeof err), 0);

        /* logits under teacher forcing */
        size_t V = BIRDIE_VOCAB;
        float *batch = malloc((size_t)TB * CONT * V * sizeof(float));
        assert_non_null(batch);
        assert_int_equal(birdie_generator_start(&g, ptrs, PROMPT_LENS, TB, err, sizeof err), 0);
        for (int j = 0; j < CONT; j++) {
            if (j > 0) {
                int32_t feed[TB];
                for (int b = 0; b < TB; b++)
                    feed[b] = cont[b][j - 1];
                birdie_generator_step(&g, feed);
            }
            for (int b = 0; b < TB; b++)
                memcpy(batch + ((size_t)b * CONT + j) * V, birdie_generator_logits(&g, b), V * sizeof(float));
        }
        for (int b = 0; b < TB; b++) {
            assert_int_equal(birdie_generator_start(&g, &ptrs[b], &PROMPT_LENS[b], 1, err, sizeof err), 0);
            for (int j = 0; j < CONT; j++) {
                if (j > 0)
                    birdie_generator_step(&g, &cont[b][j - 1]);
                assert_memory_equal(birdie_generator_logits(&g, 0), batch + ((size_t)b * CONT + j) * V,
                                    V * sizeof(float));
            }
        }
        free(batch);

        /* free generation, greedy and sampled */
        birdie_gen_params params[2] = {{.max_tokens = 24}, {.max_tokens = 24, .temperature = 1.0f, .seed = 3}};
        for (int k = 0; k < 2; k++) {
            birdie_gen_output all[TB], one;
            assert_int_equal(birdie_generate(&g, ptrs, PROMPT_LENS, TB, &params[k], all, err, sizeof err), 0);
            for (int b = 0; b < TB; b++) {
                birdie_gen_params alone = params[k];
                alone.row0 = (uint64_t)b;
                assert_int_equal(birdie_generate(&g, &ptrs[b], &PROMPT_LENS[b], 1, &alone, &one, err, sizeof err), 0);
                assert_int_equal(one.n_tokens, all[b].n_tokens);
                assert_memory_equal(one.tokens, all[b].tokens, (size_t)one.n_tokens * sizeof(int32_t));
                assert_int_equal(one.finish, all[b].finish);
                birdie_gen_output_free(&one);
                birdie_gen_output_free(&all[b]);
            }
        }
        birdie_generator_free(&g);
        birdie_model_free(&m);
    }
}

/* Generates row 0's continuation of the standard prompts under p (one prompt). */
static birdie_gen_output generate_one(birdie_generator *g, const birdie_gen_params *p)
{
    char err[256];
    int32_t prompts[TB][TT], cont[TB][CONT];
    make_tokens(prompts, cont);
    const int32_t *ptr = prompts[2];
    birdie_gen_output out;
    assert_int_equal(birdie_generate(g, &ptr, &PROMPT_LENS[2], 1, p, &out, err, sizeof err), 0);
    return out;
}

static int same_tokens(const birdie_gen_output *a, const birdie_gen_output *b)
{
    return a->n_tokens == b->n_tokens && memcmp(a->tokens, b->tokens, (size_t)a->n_tokens * sizeof(int32_t)) == 0;
}

static void sampling_and_stop(void **state)
{
    (void)state;
    char err[256];
    birdie_model m;
    birdie_model_config c = test_config(1);
    assert_int_equal(birdie_model_init(&m, &c, &birdie_ops_cpu, 9, 1, TT, err, sizeof err), 0);
    birdie_generator g;
    assert_int_equal(birdie_generator_init(&g, &m, err, sizeof err), 0);

    birdie_gen_params greedy = {.max_tokens = 32};
    birdie_gen_output g1 = generate_one(&g, &greedy), g2 = generate_one(&g, &greedy);
    assert_true(same_tokens(&g1, &g2));
    assert_int_equal(g1.n_tokens, g1.finish == BIRDIE_GEN_EOS ? g1.n_tokens : 32);

    birdie_gen_params top1 = {.max_tokens = 32, .temperature = 0.7f, .top_k = 1, .seed = 1};
    birdie_gen_output t1 = generate_one(&g, &top1);
    assert_true(same_tokens(&g1, &t1));

    birdie_gen_params s = {.max_tokens = 32, .temperature = 1.0f, .seed = 42};
    birdie_gen_output s1 = generate_one(&g, &s), s2 = generate_one(&g, &s);
    assert_true(same_tokens(&s1, &s2));
    s.seed = 43;
    birdie_gen_output s3 = generate_one(&g, &s);
    assert_false(same_tokens(&s1, &s3));
    s.top_k = 8; /* within the 8 largest logits: reproducible too */
    birdie_gen_output k1 = generate_one(&g, &s), k2 = generate_one(&g, &s);
    assert_true(same_tokens(&k1, &k2));

    /* a stop string: the greedy text's first byte that occurs after its first byte ends it there */
    if (g1.text_len >= 2) {
        char stop[2] = {g1.text[1], '\0'};
        birdie_gen_params ps = {.max_tokens = 32, .stop = stop};
        birdie_gen_output st = generate_one(&g, &ps);
        size_t at = (size_t)(strchr(g1.text, stop[0]) - g1.text);
        assert_int_equal(st.finish, BIRDIE_GEN_STOP);
        assert_int_equal(st.text_len, at);
        assert_memory_equal(st.text, g1.text, at);
        assert_int_equal(st.text[st.text_len], '\0');
        birdie_gen_output_free(&st);
    } else {
        print_message("# greedy text has fewer than 2 bytes: stop string not exercised\n");
    }

    /* bad parameters and a prompt longer than the rows are errors, not crashes */
    birdie_gen_params bad = {.max_tokens = 0};
    birdie_gen_output none;
    int32_t long_prompt[TT] = {0};
    const int32_t *lp = long_prompt;
    int len = TT;
    assert_true(birdie_generate(&g, &lp, &len, 1, &bad, &none, err, sizeof err) < 0);
    assert_true(birdie_generate(&g, &lp, &len, 1, &greedy, &none, err, sizeof err) < 0);
    assert_non_null(strstr(err, "at most"));

    birdie_gen_output *outs[] = {&g1, &g2, &t1, &s1, &s2, &s3, &k1, &k2};
    for (size_t i = 0; i < sizeof outs / sizeof outs[0]; i++)
        birdie_gen_output_free(outs[i]);
    birdie_generator_free(&g);
    birdie_model_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_teacher_forced_causal),
        cmocka_unit_test(test_teacher_forced_bidirectional),
        cmocka_unit_test(test_teacher_forced_hawk),
        cmocka_unit_test(test_teacher_forced_transformer),
        cmocka_unit_test(test_transformer_cache_grows),
        cmocka_unit_test(batched_equals_one_by_one),
        cmocka_unit_test(sampling_and_stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
