/* tests/worker/eval/test_model_eval.c: the evaluation tasks run on a model (worker/eval/model_eval.h),
 * on the CPU twin with a small random model:
 *  - phonebook and infilling: every item is generated and scored once, in set order, and the tally is
 *    the sum of the scores; an item's generation in the batch is, id for id, what generating its
 *    prompt alone gives (greedy, the answer's length), and its score is the scorer's on that; two
 *    runs give the same tally (deterministic);
 *  - a prompt longer than the model's rows is refused by name, before any generation;
 *  - bits per character: the row of a document against the layout table of docs/algorithm.md §1.4
 *    (EOS a target only for a whole document); a model whose head is zero predicts every id with
 *    probability 1/V, so its bits/char is log2(V) x targets / characters, known without the model;
 *    a random model's value equals the losses of the same documents fed one row at a time through
 *    birdie_model_forward with rows built here, not by the code under test. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kernels/ops.h"
#include "worker/data/corpus.h"

#include "worker/eval/model_eval.h"
#include "worker/vocab.h"

enum { ITEMS = 7, ROWS = 3 };

typedef struct seen {
    int n;
    char text[ITEMS][256];
    double acc[ITEMS];
    const birdie_phonebook_item *item[ITEMS];
} seen;

static void record(void *ctx, const birdie_phonebook_item *item, const char *text, size_t len,
                   const birdie_phonebook_score *s)
{
    seen *w = ctx;
    assert_true(w->n < ITEMS);
    assert_true(len < sizeof w->text[0]);
    memcpy(w->text[w->n], text, len);
    w->text[w->n][len] = '\0';
    w->acc[w->n] = s->mean_digit_accuracy;
    w->item[w->n] = item;
    w->n++;
}

typedef struct fixture {
    birdie_phonebook_set set;
    birdie_model m;
    birdie_generator g;
} fixture;

static void setup_model(fixture *f, int T)
{
    char err[256];
    birdie_model_config c = {.vocab = BIRDIE_VOCAB, .d_model = 32, .d_state = 16, .n_layers = 2, .bidirectional = 1};
    assert_int_equal(birdie_phonebook_set_make(&f->set, 99, 2, ITEMS, 3, err, sizeof err), 0);
    assert_int_equal(birdie_model_init(&f->m, &c, &birdie_ops_cpu, 5, ROWS, T, err, sizeof err), 0);
    assert_int_equal(birdie_generator_init(&f->g, &f->m, err, sizeof err), 0);
}

static void teardown_model(fixture *f)
{
    birdie_generator_free(&f->g);
    birdie_model_free(&f->m);
    birdie_phonebook_set_free(&f->set);
}

static void test_batched_run_matches_items_alone(void **state)
{
    (void)state;
    fixture f;
    char err[256];
    setup_model(&f, 256);
    seen w = {0};
    birdie_phonebook_tally tally = {0};
    assert_int_equal(birdie_eval_phonebook(&f.g, &f.set, &tally, record, &w, err, sizeof err), 0);
    assert_int_equal(w.n, ITEMS);
    assert_int_equal(tally.items, ITEMS);
    assert_int_equal(tally.names, ITEMS * 2);
    double sum = 0;
    for (int i = 0; i < ITEMS; i++) {
        assert_ptr_equal(w.item[i], &f.set.items[i]);
        /* alone: one prompt, greedy, the answer's length */
        const birdie_phonebook_item *it = &f.set.items[i];
        birdie_gen_params p = {.max_tokens = (int)birdie_phonebook_answer_len(2)};
        birdie_gen_output out;
        const int32_t *prompts[1] = {it->prompt_tokens};
        int len = it->n_prompt_tokens;
        assert_int_equal(birdie_generate(&f.g, prompts, &len, 1, &p, &out, err, sizeof err), 0);
        assert_int_equal(out.text_len, strlen(w.text[i]));
        assert_memory_equal(out.text, w.text[i], out.text_len);
        birdie_phonebook_score s;
        assert_int_equal(birdie_phonebook_score_text(it, out.text, out.text_len, &s), 0);
        assert_true(s.mean_digit_accuracy == w.acc[i]);
        sum += s.mean_digit_accuracy * 2;
        birdie_gen_output_free(&out);
    }
    assert_true(fabs(tally.digit_sum - sum) < 1e-12);
    birdie_phonebook_tally again = {0};
    assert_int_equal(birdie_eval_phonebook(&f.g, &f.set, &again, NULL, NULL, err, sizeof err), 0);
    assert_memory_equal(&again, &tally, sizeof tally);
    teardown_model(&f);
}

static void test_prompt_longer_than_rows_is_refused(void **state)
{
    (void)state;
    fixture f;
    char err[256] = "";
    setup_model(&f, 40);
    birdie_phonebook_tally tally = {0};
    int longest = birdie_phonebook_set_longest_prompt(&f.set);
    assert_true(longest + 1 > 40);
    assert_int_equal(birdie_eval_phonebook(&f.g, &f.set, &tally, NULL, NULL, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "does not fit the model's rows of 40 positions"));
    assert_int_equal(tally.items, 0);
    teardown_model(&f);
}

/* ---- infilling ----------------------------------------------------------------------------------- */

typedef struct infill_seen {
    int n;
    int32_t ids[ITEMS][32];
    int n_ids[ITEMS];
    birdie_infill_score score[ITEMS];
    const birdie_infill_item *item[ITEMS];
} infill_seen;

static void record_infill(void *ctx, const birdie_infill_item *item, const int32_t *gen, int n,
                          const birdie_infill_score *s)
{
    infill_seen *w = ctx;
    assert_true(w->n < ITEMS);
    assert_true(n <= 32);
    memcpy(w->ids[w->n], gen, (size_t)n * sizeof *gen);
    w->n_ids[w->n] = n;
    w->score[w->n] = *s;
    w->item[w->n] = item;
    w->n++;
}

static birdie_corpus *open_corpus(uint64_t seed)
{
    char err[256];
    birdie_corpus *c = NULL;
    if (birdie_corpus_open(&c, seed, err, sizeof err) < 0)
        fail_msg("corpus: %s", err);
    return c;
}

static void test_infill_batched_run_matches_items_alone(void **state)
{
    (void)state;
    enum { CONTEXT = 48, SPAN = 5 };
    char err[256];
    birdie_corpus *corpus = open_corpus(11);
    birdie_infill_set set;
    assert_int_equal(
        birdie_infill_set_make(&set, corpus, 3, ITEMS, CONTEXT, SPAN, BIRDIE_INFILL_PARADIGM_FIRST, err, sizeof err),
        0);
    birdie_model_config c = {.vocab = BIRDIE_VOCAB, .d_model = 32, .d_state = 16, .n_layers = 2, .bidirectional = 1};
    birdie_model m;
    birdie_generator g;
    int T = birdie_infill_set_longest_prompt(&set) + 1;
    assert_int_equal(T, CONTEXT - SPAN + 3); /* before, S0, after, PAR; then BEGIN */
    assert_int_equal(birdie_model_init(&m, &c, &birdie_ops_cpu, 9, ROWS, T, err, sizeof err), 0);
    assert_int_equal(birdie_generator_init(&g, &m, err, sizeof err), 0);
    infill_seen w = {0};
    birdie_infill_tally tally = {0};
    assert_int_equal(birdie_eval_infill(&g, &set, &tally, record_infill, &w, err, sizeof err), 0);
    assert_int_equal(w.n, ITEMS);
    assert_int_equal(tally.items, ITEMS);
    birdie_infill_tally sum = {0};
    for (int i = 0; i < ITEMS; i++) {
        const birdie_infill_item *it = &set.items[i];
        assert_ptr_equal(w.item[i], it);
        /* the answer's length (span + S0) unless EOS ended the row first */
        assert_true(w.n_ids[i] == SPAN + 1 || (w.n_ids[i] < SPAN + 1 && w.ids[i][w.n_ids[i] - 1] == BIRDIE_EOS));
        birdie_gen_params p = {.max_tokens = SPAN + 1};
        birdie_gen_output out;
        const int32_t *prompts[1] = {it->prompt_tokens};
        int len = it->n_prompt_tokens;
        assert_int_equal(birdie_generate(&g, prompts, &len, 1, &p, &out, err, sizeof err), 0);
        assert_int_equal(out.n_tokens, w.n_ids[i]);
        assert_memory_equal(out.tokens, w.ids[i], (size_t)out.n_tokens * sizeof(int32_t));
        birdie_infill_score s;
        assert_int_equal(birdie_infill_score_tokens(it, out.tokens, out.n_tokens, &s), 0);
        assert_memory_equal(&s, &w.score[i], sizeof s);
        birdie_infill_tally_add(&sum, &s);
        birdie_gen_output_free(&out);
    }
    assert_int_equal(sum.exact, tally.exact);
    assert_true(sum.accuracy_sum == tally.accuracy_sum);
    birdie_infill_tally again = {0};
    assert_int_equal(birdie_eval_infill(&g, &set, &again, NULL, NULL, err, sizeof err), 0);
    assert_memory_equal(&again, &tally, sizeof tally);
    /* a model one position short is refused by name */
    birdie_generator_free(&g);
    birdie_model_free(&m);
    assert_int_equal(birdie_model_init(&m, &c, &birdie_ops_cpu, 9, ROWS, T - 1, err, sizeof err), 0);
    assert_int_equal(birdie_generator_init(&g, &m, err, sizeof err), 0);
    birdie_infill_tally none = {0};
    assert_int_equal(birdie_eval_infill(&g, &set, &none, NULL, NULL, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "does not fit the model's rows"));
    assert_int_equal(none.items, 0);
    birdie_generator_free(&g);
    birdie_model_free(&m);
    birdie_infill_set_free(&set);
    birdie_corpus_close(corpus);
}

/* ---- bits per character ---------------------------------------------------------------------------- */

static void test_bpc_row_layout(void **state)
{
    (void)state;
    birdie_rows rows;
    assert_int_equal(birdie_rows_alloc(&rows, 2, 6), 0);
    const int32_t doc[3] = {10, 11, 12};
    const uint8_t F = BIRDIE_RESET_FWD, R = BIRDIE_RESET_REV;
    /* a whole document: BEGIN d0 d1 d2 | labels d0 d1 d2 EOS, then padding */
    assert_int_equal(birdie_bpc_fill_row(&rows, 1, doc, 3, 1), 4);
    const int32_t in[6] = {BIRDIE_BEGIN, 10, 11, 12, BIRDIE_PAD, BIRDIE_PAD};
    const int32_t lab[6] = {10, 11, 12, BIRDIE_EOS, -1, -1};
    const int32_t seg[6] = {1, 1, 1, 1, 0, 0};
    const uint8_t res[6] = {F | R, R, R, R, F | R, F | R};
    for (int t = 0; t < 6; t++) {
        assert_int_equal(rows.inputs[6 + t], in[t]);
        assert_int_equal(rows.labels[6 + t], lab[t]);
        assert_int_equal(rows.segments[6 + t], seg[t]);
        assert_int_equal(rows.prefix[6 + t], 0);
        assert_int_equal(rows.resets[6 + t], res[t]);
    }
    /* a cut document has no EOS: it does not end there */
    assert_int_equal(birdie_bpc_fill_row(&rows, 0, doc, 3, 0), 3);
    assert_int_equal(rows.labels[2], 12);
    assert_int_equal(rows.labels[3], -1);
    /* more targets than positions: the first T */
    rows.T = 2;
    assert_int_equal(birdie_bpc_fill_row(&rows, 0, doc, 3, 1), 2);
    assert_int_equal(rows.inputs[0], BIRDIE_BEGIN);
    assert_int_equal(rows.inputs[1], 10);
    assert_int_equal(rows.labels[1], 11);
    rows.T = 6;
    birdie_rows_free(&rows);
}

/* Document i of seed's held-out set, whole (the corpus's own function, not birdie_bpc_doc_tokens). */
static size_t whole_doc(const birdie_corpus *corpus, uint64_t seed, uint64_t i, uint8_t *buf)
{
    return birdie_corpus_document(corpus, BIRDIE_SPLIT_VAL, birdie_bpc_doc_index(seed, i), buf, BIRDIE_CORPUS_DOC_MAX);
}

static void test_bpc_uniform_model_known_answer(void **state)
{
    (void)state;
    char err[256];
    birdie_corpus *corpus = open_corpus(4);
    static uint8_t text[BIRDIE_CORPUS_DOC_MAX];
    size_t L = whole_doc(corpus, 77, 0, text);
    assert_true(L >= 200);
    birdie_model_config c = {.vocab = BIRDIE_VOCAB, .d_model = 16, .d_state = 8, .n_layers = 2, .bidirectional = 1};
    const double log2v = log2((double)BIRDIE_VOCAB);
    /* rows of L + 1: the whole document and its EOS; rows of L: the document is cut at L (no EOS) */
    for (int whole = 1; whole >= 0; whole--) {
        birdie_model m;
        int T = (int)L + whole;
        assert_int_equal(birdie_model_init(&m, &c, &birdie_ops_cpu, 1, 2, T, err, sizeof err), 0);
        size_t V = BIRDIE_VOCAB, C = 16;
        float *zero = calloc(V * C, sizeof *zero);
        m.ops->upload(m.params + m.head, zero, V * C * sizeof *zero);
        free(zero);
        birdie_bpc acc = {0};
        assert_int_equal(birdie_eval_bpc(&m, corpus, 77, 1, &acc, err, sizeof err), 0);
        assert_int_equal(acc.tokens, L + (size_t)whole);
        assert_int_equal(acc.chars, L); /* ASCII: one character per byte; EOS none */
        double want = log2v * (double)(L + (size_t)whole) / (double)L;
        /* each loss is logsumexp of V zeros in fp32: ln V within a few ulps */
        assert_true(fabs(birdie_bpc_value(&acc) - want) < 1e-5 * want);
        birdie_model_free(&m);
    }
    birdie_corpus_close(corpus);
}

static void test_bpc_random_model_matches_rows_alone(void **state)
{
    (void)state;
    enum { DOCS = 5, TROWS = 96, B = 2 };
    char err[256];
    birdie_corpus *corpus = open_corpus(4);
    birdie_model_config c = {.vocab = BIRDIE_VOCAB, .d_model = 24, .d_state = 16, .n_layers = 4, .bidirectional = 1};
    birdie_model m;
    assert_int_equal(birdie_model_init(&m, &c, &birdie_ops_cpu, 3, B, TROWS, err, sizeof err), 0);
    birdie_bpc acc = {0};
    assert_int_equal(birdie_eval_bpc(&m, corpus, 5, DOCS, &acc, err, sizeof err), 0);
    /* the same documents, one row each, built here as an NTP row: BEGIN + the first TROWS - 1 bytes as
     * inputs, the first TROWS bytes as labels (every corpus document is longer than TROWS: no EOS) */
    birdie_rows rows;
    assert_int_equal(birdie_rows_alloc(&rows, 1, TROWS), 0);
    static uint8_t text[BIRDIE_CORPUS_DOC_MAX];
    double nats = 0;
    for (int i = 0; i < DOCS; i++) {
        size_t L = whole_doc(corpus, 5, (uint64_t)i, text);
        assert_true(L > TROWS);
        for (int t = 0; t < TROWS; t++) {
            rows.inputs[t] = t ? text[t - 1] : BIRDIE_BEGIN;
            rows.labels[t] = text[t];
            rows.segments[t] = 1;
            rows.prefix[t] = 0;
            rows.resets[t] = (uint8_t)(BIRDIE_RESET_REV | (t ? 0 : BIRDIE_RESET_FWD));
            rows.arms[t] = 0;
        }
        rows.B = 1;
        nats += birdie_model_forward(&m, &rows, 0.0f);
    }
    assert_int_equal(acc.tokens, DOCS * TROWS);
    assert_int_equal(acc.chars, DOCS * TROWS);
    /* one row against rows of two: the GEMMs may round differently, each loss to a few fp32 ulps of
     * its logits (|logit| < 10 here), summed over 480 positions */
    assert_true(fabs(acc.nats - nats) < 1e-4 * nats);
    birdie_bpc again = {0};
    assert_int_equal(birdie_eval_bpc(&m, corpus, 5, DOCS, &again, err, sizeof err), 0);
    assert_memory_equal(&again, &acc, sizeof acc);
    assert_int_equal(birdie_eval_bpc(&m, corpus, 5, 0, &again, err, sizeof err), -EINVAL);
    birdie_rows_free(&rows);
    birdie_model_free(&m);
    birdie_corpus_close(corpus);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batched_run_matches_items_alone),
        cmocka_unit_test(test_prompt_longer_than_rows_is_refused),
        cmocka_unit_test(test_infill_batched_run_matches_items_alone),
        cmocka_unit_test(test_bpc_row_layout),
        cmocka_unit_test(test_bpc_uniform_model_known_answer),
        cmocka_unit_test(test_bpc_random_model_matches_rows_alone),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
