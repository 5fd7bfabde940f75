/* tests/worker/objectives/test_build.c: building the rows of a step from a mixture — determinism, rank
 * independence (1 rank x 2b rows == 2 ranks x b rows), the layout of every built row, fill rate,
 * errors — and the fixed validation rows and per-arm loss sums. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kernels/ops.h"
#include "tests/worker/objectives/fake_source.h"
#include "worker/objectives/build.h"
#include "worker/objectives/mixture.h"
#include "worker/vocab.h"

#define T 512

static birdie_arm_set arms;
static birdie_source *text;
static double uniform[BIRDIE_MAX_ARMS];

static int setup(void **state)
{
    (void)state;
    char err[256];
    birdie_arm_set_init(&arms);
    if (birdie_arm_set_add_default(&arms, err, sizeof err) || fake_source_open(&text, 5, 1 << 16, FAKE_WORDS) ||
        birdie_mixture_parse(&arms, "uniform", uniform, err, sizeof err))
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    birdie_arm_set_free(&arms);
    birdie_source_close(text);
    return 0;
}

static int rows_equal(const birdie_rows *a, int ra, const birdie_rows *b, int rb, int n)
{
    size_t o1 = (size_t)ra * T, o2 = (size_t)rb * T, len = (size_t)n * T;
    return !memcmp(a->inputs + o1, b->inputs + o2, len * 4) && !memcmp(a->labels + o1, b->labels + o2, len * 4) &&
           !memcmp(a->segments + o1, b->segments + o2, len * 4) && !memcmp(a->prefix + o1, b->prefix + o2, len) &&
           !memcmp(a->resets + o1, b->resets + o2, len) && !memcmp(a->arms + o1, b->arms + o2, len * 2);
}

static void build(birdie_rows *rows, const double *w, uint64_t seed, uint64_t step, int r0, int n, uint64_t g0,
                  birdie_pack_stats *stats)
{
    birdie_builder b;
    char err[256] = "";
    assert_int_equal(birdie_builder_init(&b, &arms, text, seed, T, err, sizeof err), 0);
    int rc = birdie_build_rows(&b, w, step, rows, r0, n, g0, stats, err, sizeof err);
    if (rc)
        print_error("%s\n", err);
    assert_int_equal(rc, 0);
    birdie_builder_free(&b);
}

/* The layout contract of packer.h, checked on every position of a built row. */
static void check_row_layout(const birdie_rows *rows, int r)
{
    size_t o = (size_t)r * T;
    int t = 0, segment = 0;
    while (t < T && rows->segments[o + t] != 0) {
        segment++;
        int start = t, arm = rows->arms[o + t];
        assert_int_equal(rows->segments[o + t], segment);
        assert_true(arm >= 0 && arm < arms.n);
        while (t < T && rows->segments[o + t] == segment) {
            assert_int_equal(rows->arms[o + t], arm);
            t++;
        }
        int begin = start;
        while (rows->prefix[o + begin])
            begin++;
        assert_int_equal(rows->inputs[o + begin], BIRDIE_BEGIN);
        for (int i = start; i < t; i++) {
            uint8_t want = (uint8_t)((i == start ? BIRDIE_RESET_FWD : 0) | (i >= begin ? BIRDIE_RESET_REV : 0));
            assert_int_equal(rows->resets[o + i], want);
            assert_int_equal(rows->prefix[o + i], i < begin);
            if (i < begin)
                assert_int_equal(rows->labels[o + i], BIRDIE_IGNORE_LABEL);
            else if (i + 1 < t) /* teacher forcing: the label is the next input */
                assert_int_equal(rows->labels[o + i], rows->inputs[o + i + 1]);
            else
                assert_true(rows->labels[o + i] >= 0);
        }
        if (rows->arms[o + start] == 0) /* the NTP arm: no prefix */
            assert_int_equal(begin, start);
    }
    for (; t < T; t++) { /* padding only at the end */
        assert_int_equal(rows->segments[o + t], 0);
        assert_int_equal(rows->inputs[o + t], BIRDIE_PAD);
        assert_int_equal(rows->labels[o + t], BIRDIE_IGNORE_LABEL);
        assert_int_equal(rows->resets[o + t], BIRDIE_RESET_FWD | BIRDIE_RESET_REV);
        assert_int_equal(rows->arms[o + t], -1);
    }
}

static void test_layout_and_fill(void **state)
{
    (void)state;
    birdie_rows rows;
    assert_int_equal(birdie_rows_alloc(&rows, 32, T), 0);
    birdie_pack_stats stats = {0};
    build(&rows, uniform, 42, 0, 0, 32, 0, &stats);
    for (int r = 0; r < 32; r++)
        check_row_layout(&rows, r);
    int seen[BIRDIE_NUM_OBJECTIVE_CLASSES] = {0};
    for (size_t i = 0; i < (size_t)32 * T; i++)
        if (rows.arms[i] >= 0)
            seen[arms.arms[rows.arms[i]].cls] = 1;
    for (int c = 0; c < BIRDIE_NUM_OBJECTIVE_CLASSES; c++)
        assert_true(seen[c]);
    assert_int_equal(stats.rows, 32);
    assert_int_equal(stats.positions, 32 * T);
    double fill = birdie_pack_fill_rate(&stats);
    print_message("# uniform mixture, rows of %d: fill %.4f, %.2f samples/row, %.2f misses/row\n", T, fill,
                  (double)stats.samples / 32, (double)stats.misses / 32);
    assert_true(fill > 0.9);
    birdie_rows_free(&rows);
}

static void test_ntp_mixture_fills_rows(void **state)
{
    (void)state;
    double w[BIRDIE_MAX_ARMS];
    char err[256];
    assert_int_equal(birdie_mixture_parse(&arms, "ntp", w, err, sizeof err), 0);
    birdie_rows rows;
    assert_int_equal(birdie_rows_alloc(&rows, 8, T), 0);
    birdie_pack_stats stats = {0};
    build(&rows, w, 1, 3, 0, 8, 0, &stats);
    for (size_t i = 0; i < (size_t)8 * T; i++)
        assert_true(rows.arms[i] == 0 || rows.arms[i] == -1);
    for (int r = 0; r < 8; r++)
        check_row_layout(&rows, r);
    assert_true(birdie_pack_fill_rate(&stats) > 0.99);
    birdie_rows_free(&rows);
}

static void test_determinism_and_ranks(void **state)
{
    (void)state;
    const int b = 4;
    birdie_rows one, again, rank0, rank1, other;
    assert_int_equal(birdie_rows_alloc(&one, 2 * b, T), 0);
    assert_int_equal(birdie_rows_alloc(&again, 2 * b, T), 0);
    assert_int_equal(birdie_rows_alloc(&rank0, b, T), 0);
    assert_int_equal(birdie_rows_alloc(&rank1, b, T), 0);
    assert_int_equal(birdie_rows_alloc(&other, 2 * b, T), 0);
    build(&one, uniform, 7, 12, 0, 2 * b, 0, NULL);
    build(&again, uniform, 7, 12, 0, 2 * b, 0, NULL);
    assert_true(rows_equal(&one, 0, &again, 0, 2 * b)); /* same seed, same rows */
    build(&rank0, uniform, 7, 12, 0, b, 0, NULL); /* rank 0 of 2: global rows [0, b) */
    build(&rank1, uniform, 7, 12, 0, b, (uint64_t)b, NULL); /* rank 1 of 2: global rows [b, 2b) */
    assert_true(rows_equal(&one, 0, &rank0, 0, b));
    assert_true(rows_equal(&one, b, &rank1, 0, b));
    assert_false(rows_equal(&rank0, 0, &rank1, 0, b)); /* different rank, different rows */
    /* building into the middle of a larger batch changes nothing but where the rows go */
    build(&other, uniform, 7, 12, b, b, 0, NULL);
    assert_true(rows_equal(&other, b, &rank0, 0, b));
    build(&other, uniform, 7, 13, 0, 2 * b, 0, NULL); /* next step */
    for (int r = 0; r < 2 * b; r++)
        assert_false(rows_equal(&other, r, &one, r, 1));
    build(&other, uniform, 8, 12, 0, 2 * b, 0, NULL); /* other seed */
    for (int r = 0; r < 2 * b; r++)
        assert_false(rows_equal(&other, r, &one, r, 1));
    birdie_rows_free(&one);
    birdie_rows_free(&again);
    birdie_rows_free(&rank0);
    birdie_rows_free(&rank1);
    birdie_rows_free(&other);
}

static void test_errors(void **state)
{
    (void)state;
    char err[256] = "";
    birdie_builder b;
    birdie_rows rows;
    /* rows of 64 cannot hold the default grid's larger arms: the error names one */
    assert_int_equal(birdie_builder_init(&b, &arms, text, 1, 64, err, sizeof err), 0);
    assert_int_equal(birdie_rows_alloc(&rows, 2, 64), 0);
    assert_int_equal(birdie_build_rows(&b, uniform, 0, &rows, 0, 2, 0, NULL, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "copy.l32-64"));
    assert_non_null(strstr(err, "rows have 64"));
    /* but a mixture of arms that fit is fine */
    double w[BIRDIE_MAX_ARMS];
    assert_int_equal(birdie_mixture_parse(&arms, "ntp.l32-512=1,copy.l32-64=0", w, err, sizeof err), 0);
    assert_int_equal(birdie_build_rows(&b, w, 0, &rows, 0, 2, 0, NULL, err, sizeof err), 0);
    for (int i = 0; i < arms.n; i++)
        w[i] = 0;
    assert_int_equal(birdie_build_rows(&b, w, 0, &rows, 0, 2, 0, NULL, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "no arm a positive weight"));
    assert_int_equal(birdie_build_rows(&b, uniform, 0, &rows, 1, 2, 0, NULL, err, sizeof err), -EINVAL);
    birdie_rows_free(&rows);
    birdie_builder_free(&b);
    /* a source shorter than the windows asked for: its error comes back, naming the arm */
    birdie_source *tiny;
    assert_int_equal(fake_source_open(&tiny, 1, 40, FAKE_WORDS), 0);
    assert_int_equal(birdie_builder_init(&b, &arms, tiny, 1, T, err, sizeof err), 0);
    assert_int_equal(birdie_rows_alloc(&rows, 1, T), 0);
    assert_int_equal(birdie_mixture_parse(&arms, "ntp", w, err, sizeof err), 0);
    assert_int_equal(birdie_build_rows(&b, w, 0, &rows, 0, 1, 0, NULL, err, sizeof err), -ERANGE);
    assert_non_null(strstr(err, "ntp.l32-512"));
    birdie_rows_free(&rows);
    birdie_builder_free(&b);
    birdie_source_close(tiny);
    assert_int_equal(birdie_builder_init(&b, &arms, NULL, 1, T, err, sizeof err), -EINVAL);
}

static void test_validation_rows(void **state)
{
    (void)state;
    char err[256] = "";
    birdie_rows val, again;
    birdie_pack_stats stats = {0};
    int rc = birdie_build_validation(&arms, text, 3, 8, T, &val, &stats, err, sizeof err);
    if (rc)
        print_error("%s\n", err);
    assert_int_equal(rc, 0);
    assert_int_equal(val.B, arms.n * 8);
    for (int a = 0; a < arms.n; a++)
        for (int j = 0; j < 8; j++) {
            int r = a * 8 + j, tokens = 0;
            check_row_layout(&val, r);
            for (int t = 0; t < T; t++) {
                int id = val.arms[(size_t)r * T + t];
                assert_true(id == a || id == -1);
                tokens += id == a;
            }
            assert_true(tokens > 0);
        }
    print_message("# validation: %d rows, fill %.4f\n", val.B, birdie_pack_fill_rate(&stats));
    assert_int_equal(birdie_build_validation(&arms, text, 3, 8, T, &again, NULL, err, sizeof err), 0);
    assert_true(rows_equal(&val, 0, &again, 0, val.B));
    birdie_rows_free(&again);

    /* an arm's validation rows do not depend on the other arms of the set */
    birdie_arm_set solo;
    birdie_arm_set_init(&solo);
    int k = birdie_arm_set_find(&arms, "infill.l26-128.r15.w8");
    assert_true(k >= 0);
    assert_int_equal(birdie_arm_set_add(&solo, &arms.arms[k], err, sizeof err), 0);
    assert_int_equal(birdie_build_validation(&solo, text, 3, 8, T, &again, NULL, err, sizeof err), 0);
    for (size_t i = 0; i < (size_t)8 * T; i++) /* arm ids differ (k vs 0); the rest must not */
        assert_int_equal(again.arms[i] >= 0, val.arms[(size_t)k * 8 * T + i] >= 0);
    assert_memory_equal(again.inputs, val.inputs + (size_t)k * 8 * T, (size_t)8 * T * 4);
    assert_memory_equal(again.labels, val.labels + (size_t)k * 8 * T, (size_t)8 * T * 4);
    birdie_rows_free(&again);
    birdie_arm_set_free(&solo);

    /* per-arm loss sums: a loss of 1 per labelled position counts each arm's targets */
    float *loss = malloc((size_t)val.B * T * sizeof *loss);
    double sum[BIRDIE_MAX_ARMS] = {0};
    uint64_t count[BIRDIE_MAX_ARMS] = {0};
    for (size_t i = 0; i < (size_t)val.B * T; i++)
        loss[i] = val.labels[i] >= 0 ? 1.0f : 0.0f;
    assert_int_equal(birdie_loss_by_arm(&val, loss, arms.n, sum, count, err, sizeof err), 0);
    for (int a = 0; a < arms.n; a++) {
        uint64_t want = 0;
        for (size_t i = (size_t)a * 8 * T; i < (size_t)(a + 1) * 8 * T; i++)
            want += val.labels[i] >= 0;
        assert_true(want > 0);
        assert_int_equal(count[a], want);
        assert_true(sum[a] == (double)want);
    }
    assert_int_equal(birdie_loss_by_arm(&val, loss, 3, sum, count, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "outside [0, 3)"));
    free(loss);
    birdie_rows_free(&val);

    assert_int_equal(birdie_build_validation(&arms, text, 3, 8, 64, &val, NULL, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "validation rows have 64"));
    assert_null(val.inputs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout_and_fill),       cmocka_unit_test(test_ntp_mixture_fills_rows),
        cmocka_unit_test(test_determinism_and_ranks), cmocka_unit_test(test_errors),
        cmocka_unit_test(test_validation_rows),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
