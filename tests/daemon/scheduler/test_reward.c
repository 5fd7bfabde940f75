/* tests/daemon/scheduler/test_reward.c: the interval reward against the docs/algorithm.md §3.3 table and its formula written
 * out independently on a grid, and the class weighting
 * of §3.4 (splitting an arm into identical copies leaves the score of an equivalent action unchanged). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "daemon/scheduler/reward.h"

static void test_reward_table(void **state)
{
    (void)state;
    /* ℓ_old, ℓ_new, reward from docs/algorithm.md §3.3 (4 significant decimals) */
    const double table[][3] = {
        {4.5, 4.2, 0.9518},   {0.6, 0.5207, 0.9535}, {2.0, 1.96, 0.0117},  {2.0, 1.9, 0.1800},  {2.0, 1.8, 1.0},
        {2.0, 2.04, -0.0119}, {2.0, 2.2, -1.0},      {1.0, 0.99, 0.00074}, {1.0, 0.95, 0.0900}, {1.0, 0.9, 0.7010},
        {0.3, 0.27, 0.2103},  {0.1, 0.09, 0.0701},   {3.0, 2.97, 0.0022},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        double r = sched_interval_reward(table[i][0], table[i][1]);
        if (fabs(r - table[i][2]) > 6e-5)
            fail_msg("reward(%g -> %g) = %.6f, table says %.5f", table[i][0], table[i][1], r, table[i][2]);
    }
}

/* §3.3 written out here (the authors' code's sign): ratio = (new - old)/(old + 1e-8), S = sqrt(old new),
 * n = e S ratio^3, R = clip(-100 e tanh(n), -1, 1), NaN -> 0; compared on a grid of losses from 0.05
 * to 8 and relative changes from -30% to +30%, which spans the cubic regime and both saturations. */
static void test_reward_formula_grid(void **state)
{
    (void)state;
    const double e = exp(1.0);
    int saturated_up = 0, saturated_down = 0, inside = 0;
    for (double old = 0.05; old < 8.0; old *= 1.37) {
        for (int k = -60; k <= 60; k++) {
            double nw = old * (1.0 + 0.005 * k);
            double ratio = (nw - old) / (old + 1e-8);
            double want = -100.0 * e * tanh(e * sqrt(old * nw) * ratio * ratio * ratio);
            want = want > 1.0 ? 1.0 : (want < -1.0 ? -1.0 : want);
            double got = sched_interval_reward(old, nw);
            if (fabs(got - want) > 1e-13)
                fail_msg("reward(%.6g -> %.6g) = %.17g, the formula gives %.17g", old, nw, got, want);
            if (k < 0)
                assert_true(got > 0.0); /* the loss fell: a positive reward */
            if (k > 0)
                assert_true(got < 0.0);
            saturated_up += got == 1.0;
            saturated_down += got == -1.0;
            inside += fabs(got) > 0.01 && fabs(got) < 0.99;
        }
    }
    assert_true(saturated_up > 50 && saturated_down > 50 && inside > 50); /* every regime was visited */
    assert_true(sched_interval_reward(NAN, 2.0) == 0.0 && sched_interval_reward(2.0, NAN) == 0.0);
}

static void test_reward_saturates_and_signs(void **state)
{
    (void)state;
    assert_true(sched_interval_reward(2.0, 1.8) == 1.0);
    assert_true(sched_interval_reward(2.0, 2.2) == -1.0);
    assert_true(sched_interval_reward(2.0, 2.0) == 0.0);
    assert_true(sched_interval_reward(2.0, 1.99) > 0.0);
    assert_true(sched_interval_reward(2.0, 2.01) < 0.0);
    assert_true(sched_interval_reward(NAN, 1.0) == 0.0);
    assert_true(sched_interval_reward(0.0, 0.0) == 0.0);
    /* the same relative drop earns less at a lower loss (the geometric-mean factor) */
    assert_true(sched_interval_reward(1.0, 0.97) < sched_interval_reward(2.0, 1.94));
}

static void test_class_weights(void **state)
{
    (void)state;
    const int classes[] = {0, 1, 1, 2, 2, 2};
    double w[6];
    sched_class_weights(classes, 6, 3, w);
    assert_true(w[0] == 1.0);
    assert_true(w[1] == 0.5 && w[2] == 0.5);
    assert_true(fabs(w[3] - 1.0 / 3.0) < 1e-15 && w[4] == w[3] && w[5] == w[3]);
    /* the score is the sum of per-class mean values */
    const double value[] = {0.3, 0.2, 0.6, 0.1, 0.4, 0.7};
    double expect = 0.3 + (0.2 + 0.6) / 2.0 + (0.1 + 0.4 + 0.7) / 3.0;
    assert_true(fabs(sched_class_score(value, w, 6) - expect) < 1e-12);
}

/* Arm B split into two identical arms B1, B2 of the same class, an action's B mass split between
 * them: each copy predicts B's reward, and the score must not move. */
static void test_split_arm_keeps_score(void **state)
{
    (void)state;
    const int classes_two[] = {0, 1, 2};
    const int classes_split[] = {0, 1, 1, 2};
    double w2[3], w3[4];
    sched_class_weights(classes_two, 3, 3, w2);
    sched_class_weights(classes_split, 4, 3, w3);
    const double rewards[][3] = {{0.1, 0.9, -0.2}, {-1.0, 0.25, 0.5}, {0.0, -0.7, 1.0}};
    for (int k = 0; k < 3; k++) {
        const double *r = rewards[k];
        double split[4] = {r[0], r[1], r[1], r[2]};
        double a = sched_class_score(r, w2, 3), b = sched_class_score(split, w3, 4);
        if (fabs(a - b) > 1e-15)
            fail_msg("case %d: score %.17g before the split, %.17g after", k, a, b);
    }
    /* without the weighting the split arm would count twice: the test can tell the difference */
    double ones[4] = {1, 1, 1, 1};
    double split[4] = {0.1, 0.9, 0.9, -0.2};
    assert_true(fabs(sched_class_score(split, ones, 4) - sched_class_score(rewards[0], ones, 3)) > 0.5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reward_table),
        cmocka_unit_test(test_reward_formula_grid),
        cmocka_unit_test(test_reward_saturates_and_signs),
        cmocka_unit_test(test_class_weights),
        cmocka_unit_test(test_split_arm_keeps_score),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
