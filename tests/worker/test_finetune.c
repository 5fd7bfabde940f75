/* tests/worker/test_finetune.c: phonebook fine-tuning (worker/finetune_data.c, worker/finetune.c) on
 * the CPU twin:
 *  - the packed rows hold exactly the items' layout of docs/algorithm.md §1.4, checked field by field
 *    against the item tokens (labels on the answers only), items skipped only when they do not fit;
 *  - the items obey their flags (book sizes, K, asked names distinct, the answer = the asked
 *    numbers) and cover both ends of each range;
 *  - training items and held-out items are never an item of the curve's evaluation set (nor of each
 *    other), even with K = 4 and books of 4 as the evaluation set has, and every (step, row, index)
 *    draws a book of its own;
 *  - 60 steps from a random XS model take the held-out answer loss far down;
 *  - a curve point's answer loss is the mean loss per answer token of the held-out items, each
 *    alone in a row, its digit accuracy birdie_eval_phonebook's on the K=4 set, and its train loss the
 *    mean of the step losses since the previous point;
 *  - two runs give the same curve and parameters bit for bit, whatever AdamW moments the model
 *    held before (they are reset);
 *  - `birdied finetune` (birdie_finetune_main) hands every point to its hooks with --db (and refuses
 *    --db without them), and writes a checkpoint that loads from its directory alone, with the
 *    fine-tune's configuration and a matching hash. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <fcntl.h>
#include <unistd.h>

#include "kernels/ops.h"
#include "worker/checkpoint.h"
#include "worker/error.h"
#include "worker/eval/model_eval.h"
#include "worker/finetune.h"
#include "worker/finetune_main.h"
#include "worker/fnv.h"
#include "worker/run_checkpoint.h"
#include "worker/trained_model.h"
#include "worker/vocab.h"

static birdie_finetune_data data_of(uint64_t seed, int emin, int emax, int kmin, int kmax)
{
    return (birdie_finetune_data){.seed = seed, .entries_min = emin, .entries_max = emax, .k_min = kmin, .k_max = kmax};
}

static int skipped_total; /* items longer than a row met by check_row */

/* The §1.4 layout of the items of row r, written from the contract, not through the packer: items in
 * turn, one that does not fit the space left is a miss, MAX_MISSES misses in a row end the row, and
 * an item longer than a whole row is skipped before the first item without counting as a miss. */
static void check_row(const birdie_finetune_data *d, uint64_t step, const birdie_rows *rows, int r, int *n_items)
{
    char err[256];
    int T = rows->T, used = 0, placed = 0, misses = 0;
    size_t o = (size_t)r * (size_t)T;
    for (int j = 0; misses < BIRDIE_FINETUNE_MAX_MISSES; j++) {
        birdie_phonebook_item it;
        assert_int_equal(birdie_finetune_item(d, step, (uint64_t)r, j, &it, err, sizeof err), 0);
        int np = it.n_prompt_tokens, na = it.n_answer_tokens;
        if (used + np + na > T) {
            misses += placed > 0 || np + na <= T; /* longer than a row: skipped, not a miss */
            skipped_total += placed == 0 && np + na > T;
            birdie_phonebook_item_free(&it);
            continue;
        }
        misses = 0;
        placed++;
        for (int i = 0; i < np + na; i++) {
            size_t p = o + (size_t)(used + i);
            int in_prefix = i < np;
            int32_t want_in = in_prefix ? it.prompt_tokens[i] : i == np ? BIRDIE_BEGIN : it.answer_tokens[i - np - 1];
            int32_t want_label = in_prefix ? BIRDIE_IGNORE_LABEL : it.answer_tokens[i - np];
            uint8_t want_reset = (uint8_t)((i == 0 ? BIRDIE_RESET_FWD : 0) | (in_prefix ? 0 : BIRDIE_RESET_REV));
            assert_int_equal(rows->inputs[p], want_in);
            assert_int_equal(rows->labels[p], want_label);
            assert_int_equal(rows->segments[p], placed);
            assert_int_equal(rows->prefix[p], in_prefix);
            assert_int_equal(rows->resets[p], want_reset);
        }
        used += np + na;
        birdie_phonebook_item_free(&it);
    }
    for (int t = used; t < T; t++) { /* padding */
        size_t p = o + (size_t)t;
        assert_int_equal(rows->inputs[p], BIRDIE_PAD);
        assert_int_equal(rows->labels[p], BIRDIE_IGNORE_LABEL);
        assert_int_equal(rows->segments[p], 0);
        assert_int_equal(rows->resets[p], BIRDIE_RESET_FWD | BIRDIE_RESET_REV);
    }
    *n_items = placed;
}

static void check_steps(const birdie_finetune_data *d, int B, int T)
{
    char err[256];
    birdie_rows rows;
    assert_int_equal(birdie_rows_alloc(&rows, B, T), 0);
    for (uint64_t step = 1; step <= 3; step++) {
        long placed = -1, checked = 0;
        assert_int_equal(birdie_finetune_pack_step(d, step, &rows, &placed, err, sizeof err), 0);
        for (int r = 0; r < rows.B; r++) {
            int n;
            check_row(d, step, &rows, r, &n);
            assert_true(n >= 1);
            checked += n;
        }
        assert_int_equal(placed, checked);
    }
    birdie_rows_free(&rows);
}

static void test_rows_hold_the_item_layout(void **state)
{
    (void)state;
    birdie_finetune_data d = data_of(3, 2, 4, 1, 2);
    check_steps(&d, 6, 320);
    /* books of up to 12 entries (about 400 positions) in rows of 300: the longest are skipped */
    d = data_of(4, 2, 12, 1, 2);
    skipped_total = 0;
    check_steps(&d, 8, 300);
    assert_true(skipped_total > 0);
    char err[256];
    birdie_rows held;
    assert_int_equal(birdie_finetune_heldout_rows(&d, 16, 300, &held, err, sizeof err), 0);
    assert_true(held.B >= 6 && held.B <= 16); /* items of 150-300 positions, one or two per row */
    birdie_rows_free(&held);
}

/* Books of the asked sizes, K in range, distinct asked names whose numbers are the answer. */
static void test_items_obey_their_ranges(void **state)
{
    (void)state;
    char err[256];
    birdie_finetune_data d = data_of(11, 3, 6, 1, 3);
    int seen_e[7] = {0}, seen_k[4] = {0};
    for (int row = 0; row < 200; row++) {
        birdie_phonebook_item it;
        assert_int_equal(birdie_finetune_item(&d, 5, (uint64_t)row, row % 3, &it, err, sizeof err), 0);
        assert_in_range(it.entries, 3, 6);
        assert_in_range(it.k, 1, 3);
        seen_e[it.entries]++, seen_k[it.k]++;
        char want[BIRDIE_PHONEBOOK_K_MAX * (BIRDIE_PHONEBOOK_NUMBER_LEN + 1) + 1], *w = want;
        for (int i = 0; i < it.k; i++) {
            for (int j = 0; j < i; j++)
                assert_int_not_equal(it.asked[i], it.asked[j]);
            w += sprintf(w, "%s\n", it.book[it.asked[i]].number);
        }
        assert_string_equal(it.answer, want);
        birdie_phonebook_item_free(&it);
    }
    for (int e = 3; e <= 6; e++)
        assert_true(seen_e[e] > 20); /* 200 draws over 4 sizes: about 50 each */
    for (int k = 1; k <= 3; k++)
        assert_true(seen_k[k] > 30); /* about 67 each */
    birdie_finetune_data bad = data_of(0, 1, 4, 1, 2);
    assert_int_equal(birdie_finetune_data_check(&bad, 320, err, sizeof err), -EINVAL); /* a book of 1 asked 2 */
    bad = data_of(0, 2, 4, 1, 2);
    size_t smallest = birdie_phonebook_prompt_bound(1, 2) + birdie_phonebook_answer_len(1);
    assert_int_equal(birdie_finetune_data_check(&bad, (int)smallest - 1, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "--seq-len"));
    assert_int_equal(birdie_finetune_data_check(&bad, (int)smallest, err, sizeof err), 0);
}

static int same_book(const birdie_phonebook_item *a, const birdie_phonebook_item *b)
{
    if (a->entries != b->entries)
        return 0;
    for (int e = 0; e < a->entries; e++)
        if (strcmp(a->book[e].name, b->book[e].name) || strcmp(a->book[e].number, b->book[e].number))
            return 0;
    return 1;
}

/* With K = 4 and books of 4 (the evaluation set's own shape) no training or held-out book is an
 * evaluation book, and no held-out item is a training item. Keying the training items like the
 * evaluation set (seed, K, entries, index) would fail at once. */
static void test_training_items_are_not_evaluation_items(void **state)
{
    (void)state;
    char err[256];
    enum { EVAL_ITEMS = 32, STEPS = 20, ROWS = 8, HELDOUT = 32 };
    for (uint64_t seed = 0; seed < 2; seed++) {
        birdie_finetune_data d = data_of(seed, 4, 4, 4, 4);
        birdie_phonebook_set set;
        assert_int_equal(birdie_phonebook_set_make(&set, seed, 4, EVAL_ITEMS, 4, err, sizeof err), 0);
        birdie_phonebook_item held[HELDOUT];
        for (int h = 0; h < HELDOUT; h++)
            assert_int_equal(
                birdie_finetune_item(&d, BIRDIE_FINETUNE_HELDOUT_STEP, (uint64_t)h, 0, &held[h], err, sizeof err), 0);
        for (int h = 0; h < HELDOUT; h++)
            for (int i = 0; i < EVAL_ITEMS; i++)
                assert_false(same_book(&held[h], &set.items[i]));
        static birdie_phonebook_item train[STEPS * ROWS * 2];
        int n = 0;
        for (uint64_t step = 1; step <= STEPS; step++)
            for (int r = 0; r < ROWS; r++)
                for (int j = 0; j < 2; j++) {
                    birdie_phonebook_item *it = &train[n++];
                    assert_int_equal(birdie_finetune_item(&d, step, (uint64_t)r, j, it, err, sizeof err), 0);
                    for (int i = 0; i < EVAL_ITEMS; i++)
                        assert_false(same_book(it, &set.items[i]));
                    for (int h = 0; h < HELDOUT; h++)
                        assert_false(same_book(it, &held[h]));
                }
        /* and every (step, row, index) draws a book of its own */
        for (int a = 0; a < n; a++) {
            for (int b = 0; b < a; b++)
                assert_false(same_book(&train[a], &train[b]));
        }
        for (int a = 0; a < n; a++)
            birdie_phonebook_item_free(&train[a]);
        for (int h = 0; h < HELDOUT; h++)
            birdie_phonebook_item_free(&held[h]);
        birdie_phonebook_set_free(&set);
    }
}

/* ---- the loop ------------------------------------------------------------------------------------ */

enum { MAX_POINTS = 16 };

typedef struct curve {
    int n;
    birdie_finetune_point p[MAX_POINTS];
} curve;

static int collect(void *ctx, const birdie_finetune_point *p, char *err, size_t errlen)
{
    (void)err, (void)errlen;
    curve *c = ctx;
    assert_true(c->n < MAX_POINTS);
    c->p[c->n++] = *p;
    return 0;
}

static birdie_finetune_options xs_options(long steps, long every)
{
    return (birdie_finetune_options){.data = data_of(7, 2, 4, 1, 2),
                                     .steps = steps,
                                     .batch = 4,
                                     .seq_len = 320,
                                     .lr = 3e-3,
                                     .weight_decay = 0.1,
                                     .grad_clip = 1.0,
                                     .curve_every = every,
                                     .curve_items = 16};
}

static void xs_model(birdie_model *m, const birdie_finetune_options *o)
{
    char err[256];
    birdie_model_config mc;
    assert_int_equal(birdie_model_config_by_name("XS", &mc), 0);
    mc.vocab = BIRDIE_VOCAB;
    mc.bidirectional = 1;
    assert_int_equal(birdie_model_init(m, &mc, &birdie_ops_cpu, 21, o->batch, o->seq_len, err, sizeof err), 0);
}

/* Mean loss per answer token of the held-out items, each alone in a row of its own (isolation of
 * packed samples, docs/algorithm.md §1.4, makes that the packed measurement's value). */
static double heldout_loss_alone(birdie_model *m, const birdie_finetune_options *o)
{
    char err[256];
    birdie_rows one;
    assert_int_equal(birdie_rows_alloc(&one, 1, o->seq_len), 0);
    double loss = 0;
    long tokens = 0;
    for (int i = 0; i < o->curve_items; i++) {
        birdie_phonebook_item it;
        for (int j = 0;; j++) { /* the first item of the held-out row that fits a row */
            assert_int_equal(
                birdie_finetune_item(&o->data, BIRDIE_FINETUNE_HELDOUT_STEP, (uint64_t)i, j, &it, err, sizeof err), 0);
            if (it.n_prompt_tokens + it.n_answer_tokens <= o->seq_len)
                break;
            birdie_phonebook_item_free(&it);
        }
        birdie_rows_clear(&one, 0, 1);
        int np = it.n_prompt_tokens, na = it.n_answer_tokens;
        for (int t = 0; t < np + na; t++) {
            one.inputs[t] = t < np ? it.prompt_tokens[t] : t == np ? BIRDIE_BEGIN : it.answer_tokens[t - np - 1];
            one.labels[t] = t < np ? BIRDIE_IGNORE_LABEL : it.answer_tokens[t - np];
            one.segments[t] = 1;
            one.prefix[t] = t < np;
            one.resets[t] = (uint8_t)((t == 0 ? BIRDIE_RESET_FWD : 0) | (t < np ? 0 : BIRDIE_RESET_REV));
            one.arms[t] = 0;
        }
        birdie_model_forward(m, &one, 0.0f);
        for (int t = np; t < np + na; t++)
            loss += m->losses_host[t];
        tokens += na;
        birdie_phonebook_item_free(&it);
    }
    birdie_rows_free(&one);
    return loss / (double)tokens;
}

/* Digit accuracy of m on the curve's K=4 set, measured apart from the loop. */
static double k4_accuracy(const birdie_model *m, const birdie_finetune_options *o, double *exact)
{
    char err[256];
    birdie_phonebook_set set;
    assert_int_equal(birdie_phonebook_set_make(&set, o->data.seed, 4, o->curve_items, birdie_finetune_curve_entries(o),
                                               err, sizeof err),
                     0);
    birdie_model g_m;
    birdie_generator g;
    assert_int_equal(
        birdie_model_init(&g_m, &m->cfg, m->ops, 0, 5, birdie_phonebook_set_longest_prompt(&set) + 1, err, sizeof err),
        0);
    memcpy(g_m.params, m->params, m->n_params * sizeof(float));
    assert_int_equal(birdie_generator_init(&g, &g_m, err, sizeof err), 0);
    birdie_phonebook_tally tally = {0};
    assert_int_equal(birdie_eval_phonebook(&g, &set, &tally, NULL, NULL, err, sizeof err), 0);
    birdie_generator_free(&g);
    birdie_model_free(&g_m);
    birdie_phonebook_set_free(&set);
    *exact = birdie_phonebook_tally_exact_rate(&tally);
    return birdie_phonebook_tally_digit_accuracy(&tally);
}

/* From a random XS model (uniform guess ln 384 = 5.95 nats) 60 steps of 4 rows teach the answer's
 * format: digits, dashes, newlines, in about 2 nats if the digits are guessed uniformly (10 of 13
 * tokens at ln 10, the rest near 0). Measured: 5.9 -> about 2.5. The bound asks for a fall of 2.5
 * nats and an end below 3.4; a loop without its update stays at 5.9, one whose loss or gradient
 * misses the answers (labels elsewhere, wrong scale of 1/labels by the batch size) falls far less. */
static void test_answer_loss_falls_and_curve_is_measured(void **state)
{
    (void)state;
    char err[256];
    birdie_finetune_options o = xs_options(60, 25);
    birdie_model m;
    xs_model(&m, &o);
    double before = heldout_loss_alone(&m, &o);
    curve c = {0};
    assert_int_equal(birdie_finetune_run(&m, &o, collect, &c, err, sizeof err), 0);
    assert_int_equal(c.n, 4); /* steps 0, 25, 50 and the last, 60 */
    long want_steps[4] = {0, 25, 50, 60};
    for (int i = 0; i < c.n; i++) {
        assert_int_equal(c.p[i].step, want_steps[i]);
        assert_int_equal(c.p[i].k, 4);
        assert_int_equal(c.p[i].items, o.curve_items);
        assert_true(i == 0 ? isnan(c.p[i].train_loss) : isfinite(c.p[i].train_loss));
        assert_true(i == 0 ? c.p[i].seconds == 0 : c.p[i].seconds >= c.p[i - 1].seconds);
    }
    const birdie_finetune_point *first = &c.p[0], *last = &c.p[c.n - 1];
    /* the packed held-out measurement equals the items measured alone (fp32 sums in another order) */
    assert_true(fabs(first->answer_loss - before) <= 1e-5 * before);
    double after = heldout_loss_alone(&m, &o);
    assert_true(fabs(last->answer_loss - after) <= 1e-5 * after);
    print_message("# answer loss %.4f -> %.4f -> %.4f -> %.4f; train loss %.4f -> %.4f; digits %.4f -> %.4f\n",
                  c.p[0].answer_loss, c.p[1].answer_loss, c.p[2].answer_loss, c.p[3].answer_loss, c.p[1].train_loss,
                  c.p[3].train_loss, c.p[0].digit_accuracy, c.p[3].digit_accuracy);
    assert_true(first->answer_loss > 5.5);
    assert_true(last->answer_loss < first->answer_loss - 2.5);
    assert_true(last->answer_loss < 3.4);
    double exact, acc = k4_accuracy(&m, &o, &exact);
    assert_true(acc == last->digit_accuracy);
    assert_true(exact == last->exact_rate);
    birdie_model_free(&m);
}

static uint64_t params_hash(const birdie_model *m)
{
    return birdie_fnv1a(BIRDIE_FNV_OFFSET, m->params, m->n_params * sizeof(float));
}

/* Same options, same start: the same curve (but seconds) and parameters, bit for bit; the moments the
 * model held before do not matter (fresh moments). */
static void test_deterministic_with_fresh_moments(void **state)
{
    (void)state;
    char err[256];
    birdie_finetune_options o = xs_options(6, 4);
    o.curve_items = 4;
    curve c[2] = {{0}, {0}};
    uint64_t h[2];
    for (int run = 0; run < 2; run++) {
        birdie_model m;
        xs_model(&m, &o);
        if (run == 1)
            for (size_t i = 0; i < m.n_params; i++)
                m.m[i] = 0.5f, m.v[i] = 2.0f; /* what a checkpoint's moments could be */
        assert_int_equal(birdie_finetune_run(&m, &o, collect, &c[run], err, sizeof err), 0);
        h[run] = params_hash(&m);
        birdie_model_free(&m);
    }
    assert_int_equal(c[0].n, 3); /* 0, 4, 6 */
    assert_int_equal(c[1].n, c[0].n);
    for (int i = 0; i < c[0].n; i++) {
        c[0].p[i].seconds = c[1].p[i].seconds = 0;
        assert_memory_equal(&c[0].p[i], &c[1].p[i], sizeof c[0].p[i]);
    }
    assert_true(h[0] == h[1]);
    /* and the run changed the parameters */
    birdie_model fresh;
    xs_model(&fresh, &o);
    assert_true(params_hash(&fresh) != h[0]);
    birdie_model_free(&fresh);
}

/* Mean loss per answer token of step `step`'s rows on m as it is (no update). */
static double step_loss(birdie_model *m, const birdie_finetune_options *o, long step)
{
    char err[256];
    birdie_rows rows;
    assert_int_equal(birdie_rows_alloc(&rows, o->batch, o->seq_len), 0);
    assert_int_equal(birdie_finetune_pack_step(&o->data, (uint64_t)step, &rows, NULL, err, sizeof err), 0);
    double loss = birdie_model_forward(m, &rows, 0.0f) / (double)birdie_rows_label_count(&rows);
    birdie_rows_free(&rows);
    return loss;
}

/* A point's train loss is the mean of the step losses since the previous point: the loss of step 1
 * on the start, and of step 2 on the parameters after step 1 (a one-step run's, since the rate is
 * constant and the moments fresh). */
static void test_train_loss_is_the_mean_since_the_last_point(void **state)
{
    (void)state;
    char err[256];
    birdie_finetune_options o = xs_options(1, 1);
    o.curve_items = 2;
    birdie_model m;
    xs_model(&m, &o);
    double loss1 = step_loss(&m, &o, 1);
    curve c = {0};
    assert_int_equal(birdie_finetune_run(&m, &o, collect, &c, err, sizeof err), 0);
    assert_int_equal(c.n, 2);
    assert_true(fabs(c.p[1].train_loss - loss1) <= 1e-6 * loss1);
    double loss2 = step_loss(&m, &o, 2);
    birdie_model_free(&m);
    o = xs_options(2, 3);
    o.curve_items = 2;
    xs_model(&m, &o);
    c.n = 0;
    assert_int_equal(birdie_finetune_run(&m, &o, collect, &c, err, sizeof err), 0);
    assert_int_equal(c.n, 2); /* steps 0 and the last, 2: two steps since the previous point, not 3 */
    assert_true(fabs(c.p[1].train_loss - 0.5 * (loss1 + loss2)) <= 1e-6 * loss1);
    assert_true(fabs(loss1 - loss2) > 1e-3); /* the two steps differ, so a mean of one would show */
    birdie_model_free(&m);
}

static void test_bad_options_are_refused(void **state)
{
    (void)state;
    char err[256];
    birdie_finetune_options o = xs_options(10, 5);
    birdie_model m;
    xs_model(&m, &o);
    o.batch = 8; /* more rows than the model holds */
    assert_int_equal(birdie_finetune_run(&m, &o, collect, NULL, err, sizeof err), -EINVAL);
    o = xs_options(10, 0);
    assert_int_equal(birdie_finetune_check(&o, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "--curve-every"));
    o = xs_options(10, 5);
    o.data.k_max = 3; /* books of 2 cannot be asked 3 names */
    assert_int_equal(birdie_finetune_check(&o, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "--entries"));
    birdie_model_free(&m);
}

/* ---- the command ------------------------------------------------------------------------------- */

typedef struct fake_store {
    char db[256], run[64];
    int opened, closed, points;
    int64_t source_step;
    double lr;
    long last_step;
} fake_store;

static int fake_open(void *ctx, const char *db, char *err, size_t errlen)
{
    (void)err, (void)errlen;
    fake_store *f = ctx;
    snprintf(f->db, sizeof f->db, "%s", db);
    f->opened++;
    return 0;
}

static int fake_point(void *ctx, const char *run, int64_t source_step, double lr, const birdie_finetune_point *p,
                      char *err, size_t errlen)
{
    (void)err, (void)errlen;
    fake_store *f = ctx;
    snprintf(f->run, sizeof f->run, "%s", run);
    f->source_step = source_step;
    f->lr = lr;
    f->last_step = p->step;
    f->points++;
    return 0;
}

static void fake_close(void *ctx)
{
    ((fake_store *)ctx)->closed++;
}

/* birdie_finetune_main with stdout sent to /dev/null (it prints the curve there). */
static int run_main(int argc, char **argv, const birdie_finetune_hooks *hooks)
{
    fflush(stdout);
    int saved = dup(1), devnull = open("/dev/null", O_WRONLY);
    assert_true(saved >= 0 && devnull >= 0);
    dup2(devnull, 1);
    int rc = birdie_finetune_main(argc, argv, hooks);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    close(devnull);
    return rc;
}

/* A source run's checkpoint (XS, step 5) with its config.ini, as training writes them. */
static void write_source(const char *dir, birdie_config *cfg)
{
    char err[256];
    birdie_config_defaults(cfg);
    snprintf(cfg->name, sizeof cfg->name, "unit");
    snprintf(cfg->size, sizeof cfg->size, "XS");
    snprintf(cfg->arms, sizeof cfg->arms, "ntp len=16-64");
    snprintf(cfg->mixture, sizeof cfg->mixture, "ntp");
    cfg->seq_len = 64;
    cfg->batch = 2;
    birdie_model_config mc;
    assert_int_equal(birdie_run_model_shape(cfg, &mc, err, sizeof err), 0);
    birdie_model m;
    assert_int_equal(birdie_model_init(&m, &mc, &birdie_ops_cpu, 3, 1, 8, err, sizeof err), 0);
    double weights[1] = {1.0};
    birdie_checkpoint ck = {.step = 5,
                            .n_params = m.n_params,
                            .params = m.params,
                            .m = m.m,
                            .v = m.v,
                            .n_arms = 1,
                            .mixture_version = 1,
                            .weights = weights,
                            .config_hash = birdie_train_config_hash(cfg)};
    assert_int_equal(birdie_checkpoint_write(dir, &ck, 1, NULL, err, sizeof err), 0);
    assert_int_equal(birdie_run_config_write(dir, cfg, err, sizeof err), 0);
    birdie_model_free(&m);
}

/* The command: every point reaches the hooks (open once with --db, close at the end), and the
 * checkpoint it writes loads with nothing but its directory, under the fine-tune's configuration. */
static void test_command_hooks_and_output(void **state)
{
    (void)state;
    char dir[] = "/tmp/birdie-test-finetune-XXXXXX", src[64], out[64], db[64], err[256];
    assert_non_null(mkdtemp(dir));
    snprintf(src, sizeof src, "%s/src", dir);
    snprintf(out, sizeof out, "%s/out", dir);
    snprintf(db, sizeof db, "%s/store.db", dir);
    birdie_config cfg;
    write_source(src, &cfg);
    char *argv[] = {"finetune",  "--checkpoint",
                    src,         "--task",
                    "phonebook", "--out",
                    out,         "--steps",
                    "3",         "--batch",
                    "2",         "--lr",
                    "2e-3",      "--curve-every",
                    "2",         "--curve-items",
                    "2",         "-o",
                    "json",      "--db",
                    db,          NULL};
    int argc = (int)(sizeof argv / sizeof argv[0]) - 1;
    assert_int_equal(run_main(argc, argv, NULL), BIRDIE_EXIT_USAGE); /* --db with no store */
    fake_store f = {0};
    birdie_finetune_hooks hooks = {.ctx = &f, .open = fake_open, .point = fake_point, .close = fake_close};
    assert_int_equal(run_main(argc, argv, &hooks), 0);
    assert_string_equal(f.db, db);
    assert_int_equal(f.opened, 1);
    assert_int_equal(f.closed, 1);
    assert_int_equal(f.points, 3); /* steps 0, 2 and 3 */
    assert_int_equal(f.last_step, 3);
    assert_string_equal(f.run, "unit-ft");
    assert_int_equal(f.source_step, 5);
    assert_true(f.lr == 2e-3);
    birdie_trained t;
    birdie_trained_args a = {.checkpoint = out};
    assert_int_equal(birdie_trained_load(&t, &a, err, sizeof err), 0);
    assert_int_equal(t.ck.step, 3);
    assert_int_equal(t.cfg.batch, 2);
    assert_int_equal(t.cfg.seq_len, 320);
    assert_int_equal(t.cfg.steps, 3);
    assert_true(t.cfg.lr == 2e-3);
    assert_string_equal(t.cfg.name, "unit-ft");
    assert_string_equal(t.cfg.arms, cfg.arms);
    assert_int_equal(t.ck.config_hash, birdie_train_config_hash(&t.cfg));
    birdie_trained_free(&t);
    /* a second run into the same --out (no --db this time) is refused: keeping one checkpoint would
     * delete the first */
    assert_int_equal(run_main(argc - 2, argv, NULL), BIRDIE_EXIT_USAGE);
    assert_int_equal(access(out, F_OK), 0);
    char first[128];
    snprintf(first, sizeof first, "%s/ckpt_000000003.bin", out);
    assert_int_equal(access(first, F_OK), 0);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows_hold_the_item_layout),
        cmocka_unit_test(test_items_obey_their_ranges),
        cmocka_unit_test(test_training_items_are_not_evaluation_items),
        cmocka_unit_test(test_answer_loss_falls_and_curve_is_measured),
        cmocka_unit_test(test_deterministic_with_fresh_moments),
        cmocka_unit_test(test_train_loss_is_the_mean_since_the_last_point),
        cmocka_unit_test(test_bad_options_are_refused),
        cmocka_unit_test(test_command_hooks_and_output),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
