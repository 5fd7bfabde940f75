/* tests/worker/objectives/test_packer.c: the packed layout of samples in a row — the docs/algorithm.md §1.4 example
 * position by position, and the packer's refusals. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "kernels/ops.h"
#include "worker/objectives/packer.h"
#include "worker/vocab.h"

enum { F = BIRDIE_RESET_FWD, R = BIRDIE_RESET_REV, X = BIRDIE_IGNORE_LABEL, B0 = BIRDIE_BEGIN };

/* §1.4: sample A (prefix 4 5 6, targets 7 8 9) and sample B (NTP over 10 11 12) in a row of 12;
 * the table's B is BEGIN (256). */
static void test_section_1_4_table(void **state)
{
    (void)state;
    birdie_rows rows;
    assert_int_equal(birdie_rows_alloc(&rows, 2, 12), 0);
    birdie_row_cursor cur;
    birdie_row_begin(&rows, 1, &cur); /* row 1, so that the row offset is exercised */
    const int32_t pa[] = {4, 5, 6}, ta[] = {7, 8, 9}, tb[] = {10, 11, 12};
    assert_int_equal(birdie_row_add(&rows, &cur, pa, 3, ta, 3, 5), 0);
    assert_int_equal(birdie_row_add(&rows, &cur, NULL, 0, tb, 3, 9), 0);
    assert_int_equal(cur.used, 9);

    const int32_t input[12] = {4, 5, 6, B0, 7, 8, B0, 10, 11, 0, 0, 0};
    const int32_t label[12] = {X, X, X, 7, 8, 9, 10, 11, 12, X, X, X};
    const int32_t segment[12] = {1, 1, 1, 1, 1, 1, 2, 2, 2, 0, 0, 0};
    const uint8_t prefix[12] = {1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    const uint8_t fwd[12] = {1, 0, 0, 0, 0, 0, 1, 0, 0, 1, 1, 1};
    const uint8_t rev[12] = {0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    const int16_t arm[12] = {5, 5, 5, 5, 5, 5, 9, 9, 9, -1, -1, -1};
    for (int t = 0; t < 12; t++) {
        size_t i = 12 + (size_t)t;
        assert_int_equal(rows.inputs[i], input[t]);
        assert_int_equal(rows.labels[i], label[t]);
        assert_int_equal(rows.segments[i], segment[t]);
        assert_int_equal(rows.prefix[i], prefix[t]);
        assert_int_equal(!!(rows.resets[i] & F), fwd[t]);
        assert_int_equal(!!(rows.resets[i] & R), rev[t]);
        assert_int_equal(rows.arms[i], arm[t]);
    }
    /* row 0 untouched: still padding */
    for (int t = 0; t < 12; t++) {
        assert_int_equal(rows.segments[t], 0);
        assert_int_equal(rows.resets[t], F | R);
    }
    birdie_rows_free(&rows);
}

static void test_refuses_what_does_not_fit(void **state)
{
    (void)state;
    birdie_rows rows;
    assert_int_equal(birdie_rows_alloc(&rows, 1, 8), 0);
    birdie_row_cursor cur;
    birdie_row_begin(&rows, 0, &cur);
    const int32_t p[] = {1, 2, 3, 4}, t[] = {5, 6, 7};
    assert_int_equal(birdie_row_add(&rows, &cur, p, 4, t, 3, 0), 0); /* 7 of 8 */
    assert_int_equal(birdie_row_add(&rows, &cur, p, 1, t, 1, 0), -ENOSPC);
    assert_int_equal(cur.used, 7);
    assert_int_equal(rows.inputs[7], BIRDIE_PAD);
    assert_int_equal(rows.segments[7], 0);
    assert_int_equal(birdie_row_add(&rows, &cur, p, 1, t, 0, 0), -EINVAL); /* no targets */
    assert_int_equal(birdie_row_add(&rows, &cur, NULL, 0, t, 1, -1), -EINVAL); /* bad arm id */
    /* exactly filling the last position: an NTP sample of one token gets both reset bits */
    assert_int_equal(birdie_row_add(&rows, &cur, NULL, 0, t, 1, 3), 0);
    assert_int_equal(rows.inputs[7], BIRDIE_BEGIN);
    assert_int_equal(rows.labels[7], 5);
    assert_int_equal(rows.resets[7], F | R);
    assert_int_equal(rows.segments[7], 2);
    birdie_rows_free(&rows);
}

static void test_row_begin_clears(void **state)
{
    (void)state;
    birdie_rows rows;
    assert_int_equal(birdie_rows_alloc(&rows, 1, 6), 0);
    birdie_row_cursor cur;
    birdie_row_begin(&rows, 0, &cur);
    const int32_t p[] = {1, 2}, t[] = {3, 4};
    assert_int_equal(birdie_row_add(&rows, &cur, p, 2, t, 2, 1), 0);
    birdie_row_begin(&rows, 0, &cur);
    assert_int_equal(cur.used, 0);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(rows.inputs[i], BIRDIE_PAD);
        assert_int_equal(rows.labels[i], X);
        assert_int_equal(rows.arms[i], -1);
        assert_int_equal(rows.prefix[i], 0);
    }
    birdie_rows_free(&rows);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_section_1_4_table),
        cmocka_unit_test(test_refuses_what_does_not_fit),
        cmocka_unit_test(test_row_begin_clears),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
