/* tests/worker/test_grad_buckets.c: the bucketed gradient all-reduce (worker/grad_buckets.c) over a real XS
 * backward pass, with a recording collective in place of MPI/NCCL: the buckets cover the gradient
 * buffer exactly once in the order every rank uses, start before the pass ends when they are small,
 * respect the bucket size, and the notifying backward computes the same gradients as the plain one.
 * The sums themselves are checked by the data-parallel test under mpirun. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "worker/grad_buckets.h"
#include "worker/model.h"
#include "worker/rng.h"

enum { TB = 2, TT = 16, MAX_BEGUN = 64 };

typedef struct recorder {
    float *grads;
    size_t offset[MAX_BEGUN], count[MAX_BEGUN];
    int ready_calls_at_begin[MAX_BEGUN];
    int n_begun, waits, fail_begin_at;
    int ready_calls; /* ranges the model has reported so far */
    birdie_grad_buckets *buckets;
} recorder;

static recorder rec;

static int rec_begin(birdie_collective *c, float *buf, size_t n, char *err, size_t errlen)
{
    if (rec.n_begun == rec.fail_begin_at) {
        snprintf(err, errlen, "injected failure");
        return -EIO;
    }
    assert_true(rec.n_begun < MAX_BEGUN);
    rec.offset[rec.n_begun] = (size_t)(buf - rec.grads);
    rec.count[rec.n_begun] = n;
    rec.ready_calls_at_begin[rec.n_begun] = rec.ready_calls;
    rec.n_begun++;
    return 0;
}

static int rec_wait(birdie_collective *c, char *err, size_t errlen)
{
    rec.waits++;
    return 0;
}

static int counting_ready(void *ctx, size_t offset, size_t count)
{
    rec.ready_calls++;
    return birdie_grad_buckets_ready(ctx, offset, count);
}

static birdie_collective recording = {
    .name = "recording", .rank = 0, .world = 2, .grad_begin = rec_begin, .grad_wait = rec_wait};

static int make_rows(birdie_rows *r)
{
    birdie_rng rng = birdie_rng_stream(7, 0, 0, BIRDIE_RNG_TEST);
    if (birdie_rows_alloc(r, TB, TT))
        return -1;
    for (int i = 0; i < TB * TT; i++) {
        r->inputs[i] = (int32_t)(32 + birdie_rng_below(&rng, 90));
        r->labels[i] = (int32_t)(32 + birdie_rng_below(&rng, 90));
        r->segments[i] = 1;
        r->resets[i] = (uint8_t)(i % TT == 0 ? BIRDIE_RESET_FWD : 0);
        r->resets[i] |= (uint8_t)(i % TT == TT - 1 ? BIRDIE_RESET_REV : 0);
    }
    return 0;
}

/* One forward and a notifying backward of the XS model with the given bucket size. */
static int run_pass(birdie_model *m, const birdie_rows *rows, size_t bucket_floats, char *err, size_t errlen)
{
    memset(&rec, 0, sizeof rec);
    rec.fail_begin_at = -1;
    rec.grads = m->grads;
    birdie_model_zero_grad(m);
    birdie_model_forward(m, rows, 1.0f / (TB * TT));
    static birdie_grad_buckets buckets;
    birdie_grad_buckets_start(&buckets, &recording, m->grads, m->n_params, bucket_floats, err, errlen);
    int rc = birdie_model_backward_notify(m, counting_ready, &buckets);
    return rc < 0 ? rc : birdie_grad_buckets_wait(&buckets);
}

/* One XS model and one batch for every test (each pass zeroes the gradients first). */
static birdie_model model;
static birdie_rows batch;

static int setup(void **state)
{
    birdie_model_config cfg;
    char err[256];
    if (birdie_model_config_by_name("XS", &cfg) ||
        birdie_model_init(&model, &cfg, &birdie_ops_cpu, 99, TB, TT, err, sizeof err))
        return -1;
    return make_rows(&batch);
}

static int teardown(void **state)
{
    birdie_model_free(&model);
    birdie_rows_free(&batch);
    return 0;
}

/* Buckets are adjacent, descending, and cover [0, n_params) once. */
static void assert_cover(size_t n_params)
{
    size_t expect_end = n_params;
    for (int i = 0; i < rec.n_begun; i++) {
        assert_true(rec.count[i] > 0);
        assert_int_equal(rec.offset[i] + rec.count[i], expect_end);
        expect_end = rec.offset[i];
    }
    assert_int_equal(expect_end, 0);
    assert_int_equal(rec.waits, 1);
}

static void test_one_bucket_when_size_zero(void **state)
{
    birdie_model *m = &model;
    char err[256];
    assert_int_equal(run_pass(m, &batch, 0, err, sizeof err), 0);
    assert_int_equal(rec.n_begun, 1);
    assert_cover(m->n_params);
    /* head + ln_f, 2 layers, wte: the one bucket begins with the last range */
    assert_int_equal(rec.ready_calls_at_begin[0], 2 + m->cfg.n_layers);
}

static void test_tiny_buckets_start_during_the_pass(void **state)
{
    birdie_model *m = &model;
    char err[256];
    assert_int_equal(run_pass(m, &batch, 1, err, sizeof err), 0);
    /* every range is its own bucket, begun as soon as it is reported */
    assert_int_equal(rec.n_begun, 2 + m->cfg.n_layers);
    assert_cover(m->n_params);
    for (int i = 0; i < rec.n_begun; i++)
        assert_int_equal(rec.ready_calls_at_begin[i], i + 1);
    assert_int_equal(rec.offset[0], m->ln_f);
}

static void test_bucket_size_is_respected(void **state)
{
    birdie_model *m = &model;
    char err[256];
    /* one layer of XS is below this size, two are above: buckets gather ranges until full */
    size_t layer = m->ln_f - m->layer[m->cfg.n_layers - 1].ln;
    size_t size = layer + layer / 2;
    assert_int_equal(run_pass(m, &batch, size, err, sizeof err), 0);
    assert_cover(m->n_params);
    for (int i = 0; i + 1 < rec.n_begun; i++)
        assert_true(rec.count[i] >= size);
    assert_true(rec.n_begun >= 2);
}

/* A bucket is full when it holds bucket_floats, not only beyond: with the size of the first range
 * exactly, that range is its own bucket, begun as soon as it is reported. */
static void test_bucket_of_exactly_the_size_is_full(void **state)
{
    birdie_model *m = &model;
    char err[256];
    size_t first = m->n_params - m->ln_f; /* head and ln_f: the first range of the pass */
    assert_int_equal(run_pass(m, &batch, first, err, sizeof err), 0);
    assert_cover(m->n_params);
    assert_int_equal(rec.offset[0], m->ln_f);
    assert_int_equal(rec.count[0], first);
    assert_int_equal(rec.ready_calls_at_begin[0], 1);
    /* one float more and the first range waits for the next */
    assert_int_equal(run_pass(m, &batch, first + 1, err, sizeof err), 0);
    assert_cover(m->n_params);
    assert_int_equal(rec.ready_calls_at_begin[0], 2);
    assert_true(rec.count[0] >= first + 1);
}

static void test_same_gradients_as_plain_backward(void **state)
{
    birdie_model *m = &model;
    char err[256];
    assert_int_equal(run_pass(m, &batch, 1, err, sizeof err), 0);
    float *bucketed = malloc(m->n_params * sizeof *bucketed);
    assert_non_null(bucketed);
    memcpy(bucketed, m->grads, m->n_params * sizeof *bucketed);
    birdie_model_zero_grad(m);
    birdie_model_forward(m, &batch, 1.0f / (TB * TT));
    birdie_model_backward(m);
    assert_memory_equal(bucketed, m->grads, m->n_params * sizeof *bucketed);
    double norm = 0;
    for (size_t i = 0; i < m->n_params; i++)
        norm += (double)bucketed[i] * bucketed[i];
    assert_true(norm > 0); /* the pass really produced gradients */
    free(bucketed);
}

static void test_errors_are_reported(void **state)
{
    birdie_model *m = &model;
    char err[256];
    /* a failing all-reduce stops the pass with its error */
    memset(&rec, 0, sizeof rec);
    rec.grads = m->grads;
    rec.fail_begin_at = 1;
    birdie_model_zero_grad(m);
    birdie_model_forward(m, &batch, 1.0f);
    birdie_grad_buckets b;
    birdie_grad_buckets_start(&b, &recording, m->grads, m->n_params, 1, err, sizeof err);
    assert_int_equal(birdie_model_backward_notify(m, counting_ready, &b), -EIO);
    assert_string_equal(err, "injected failure");
    assert_int_equal(rec.ready_calls, 2);
    /* a range that is not adjacent is refused, naming both ranges */
    birdie_grad_buckets_start(&b, &recording, m->grads, 100, 0, err, sizeof err);
    assert_int_equal(birdie_grad_buckets_ready(&b, 50, 40), -EINVAL);
    assert_non_null(strstr(err, "[50, 90)"));
    /* a pass that stops short leaves gradients out: wait refuses */
    assert_int_equal(birdie_grad_buckets_ready(&b, 60, 40), 0);
    assert_int_equal(birdie_grad_buckets_wait(&b), -EINVAL);
    assert_non_null(strstr(err, "[60, 100)"));
}

static void test_bucket_floats_from_mib(void **state)
{
    assert_int_equal(birdie_grad_bucket_floats(0), 0);
    assert_int_equal(birdie_grad_bucket_floats(25), 25u * 262144u);
    assert_int_equal(birdie_grad_bucket_floats(0.5), 131072u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_bucket_when_size_zero),
        cmocka_unit_test(test_tiny_buckets_start_during_the_pass),
        cmocka_unit_test(test_bucket_size_is_respected),
        cmocka_unit_test(test_bucket_of_exactly_the_size_is_full),
        cmocka_unit_test(test_same_gradients_as_plain_backward),
        cmocka_unit_test(test_errors_are_reported),
        cmocka_unit_test(test_bucket_floats_from_mib),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
