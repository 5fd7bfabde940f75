/* tests/daemon/scheduler/test_candidates.c: candidate actions sum to 1, the explore half, top-k selection
 * (order, ties) and the top-k mean (docs/algorithm.md §3.6). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "daemon/scheduler/candidates.h"

static void test_candidates_sum_to_one(void **state)
{
    (void)state;
    enum { M = 300, N = 17 };
    static double cand[M * N], again[M * N];
    birdie_rng rng = birdie_rng_stream(3, 1, 2, BIRDIE_RNG_TEST);
    sched_draw_candidates(cand, M, N, &rng);
    double mean_first = 0.0;
    for (int m = 0; m < M; m++) {
        double total = 0.0;
        for (int i = 0; i < N; i++) {
            assert_true(cand[m * N + i] > 0.0 && cand[m * N + i] < 1.0);
            total += cand[m * N + i];
        }
        assert_true(fabs(total - 1.0) < 1e-12);
        mean_first += cand[m * N] / M;
    }
    /* uniform rows: each arm's mean share is close to 1/N */
    assert_true(fabs(mean_first - 1.0 / N) < 0.25 / N);
    rng = birdie_rng_stream(3, 1, 2, BIRDIE_RNG_TEST);
    sched_draw_candidates(again, M, N, &rng);
    for (int k = 0; k < M * N; k++)
        assert_true(again[k] == cand[k]);
}

static void test_explore_half(void **state)
{
    (void)state;
    enum { M = 9, N = 3 };
    double cand[M * N];
    birdie_rng rng = birdie_rng_stream(3, 1, 2, BIRDIE_RNG_TEST);
    sched_draw_candidates(cand, M, N, &rng);
    const double vec[N] = {0.7, 0.2, 0.1};
    sched_fill_explore_half(cand, M, N, vec);
    int copies = 0;
    for (int m = 0; m < M; m++) {
        int same = cand[m * N] == vec[0] && cand[m * N + 1] == vec[1] && cand[m * N + 2] == vec[2];
        assert_true(same == (m >= M - M / 2));
        copies += same;
    }
    assert_int_equal(copies, M / 2);
}

static void test_top_k(void **state)
{
    (void)state;
    const double score[] = {0.1, 0.9, -3.0, 0.5, 0.9, 0.7, 0.2, 0.9};
    int top[4];
    sched_top_k(score, 8, 4, top);
    /* ties at 0.9 go to the lower index */
    assert_int_equal(top[0], 1);
    assert_int_equal(top[1], 4);
    assert_int_equal(top[2], 7);
    assert_int_equal(top[3], 5);
    int all[8];
    sched_top_k(score, 8, 8, all);
    for (int j = 1; j < 8; j++)
        assert_true(score[all[j - 1]] >= score[all[j]]);
    assert_int_equal(all[7], 2);
}

static void test_top_k_matches_full_sort(void **state)
{
    (void)state;
    enum { M = 2048, K = 8 };
    static double score[M];
    birdie_rng rng = birdie_rng_stream(11, 0, 0, BIRDIE_RNG_TEST);
    for (int m = 0; m < M; m++)
        score[m] = birdie_rng_normal(&rng);
    int top[K];
    sched_top_k(score, M, K, top);
    /* every other candidate scores no higher than the k-th */
    for (int m = 0; m < M; m++) {
        int chosen = 0;
        for (int j = 0; j < K; j++)
            chosen |= top[j] == m;
        if (!chosen)
            assert_true(score[m] <= score[top[K - 1]]);
    }
}

static void test_mean_of_rows(void **state)
{
    (void)state;
    enum { N = 3 };
    const double cand[] = {0.5, 0.25, 0.25, 0.0, 1.0, 0.0, 0.2, 0.2, 0.6, 1.0, 0.0, 0.0};
    const int top[] = {3, 0};
    double a[N];
    sched_mean_of_rows(a, cand, N, top, 2);
    assert_true(fabs(a[0] - 0.75) < 1e-15 && fabs(a[1] - 0.125) < 1e-15 && fabs(a[2] - 0.125) < 1e-15);
    const int three[] = {1, 2, 3};
    sched_mean_of_rows(a, cand, N, three, 3);
    assert_true(fabs(a[0] + a[1] + a[2] - 1.0) < 1e-15);
    assert_true(fabs(a[0] - 1.2 / 3) < 1e-15 && fabs(a[1] - 1.2 / 3) < 1e-15);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_candidates_sum_to_one),
        cmocka_unit_test(test_explore_half),
        cmocka_unit_test(test_top_k),
        cmocka_unit_test(test_top_k_matches_full_sort),
        cmocka_unit_test(test_mean_of_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
