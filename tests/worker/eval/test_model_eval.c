/* tests/worker/eval/test_model_eval.c: the phonebook task run on a model (worker/eval/model_eval.h),
 * on the CPU twin with a small random model:
 *  - every item is generated and scored once, in set order, and the tally is the sum of the scores;
 *  - an item's generation in the batch is, byte for byte, what generating its prompt alone gives
 *    (greedy, the answer's length), and its score is the scorer's on that text;
 *  - two runs give the same tally (deterministic);
 *  - a prompt longer than the model's rows is refused by name, before any generation. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batched_run_matches_items_alone),
        cmocka_unit_test(test_prompt_longer_than_rows_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
