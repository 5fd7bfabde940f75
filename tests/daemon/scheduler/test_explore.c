/* tests/daemon/scheduler/test_explore.c: the exploration schedule (docs/algorithm.md §3.7: its values with the v2
 * defaults, and its formula re-derived here for a non-default config at every step), the
 * explore vector, the cyclic LR of the reward model and the §3.2 evaluation schedule. */
#define _GNU_SOURCE /* M_PI */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "daemon/scheduler/cyclic_lr.h"
#include "daemon/scheduler/explore.h"
#include "daemon/scheduler/scheduler.h"
#include "worker/eval_schedule.h"

static void test_explore_v2_values(void **state)
{
    (void)state;
    birdie_sched_config cfg;
    birdie_sched_config_defaults(&cfg);
    const birdie_explore_params *p = &cfg.explore;
    assert_true(p->horizon == 16384);
    const struct {
        int64_t step;
        double e, tol;
    } points[] = {
        {0, 1.0, 0},        {818, 1.0, 0},      {819, 0.5, 1e-12},   {1638, 0.5, 1e-12},    {4915, 0.35, 1e-3},
        {8191, 0.2, 1e-12}, {8192, 0.2, 1e-12}, {16384, 0.2, 1e-12}, {1000000, 0.2, 1e-12},
    };
    for (size_t i = 0; i < sizeof(points) / sizeof(points[0]); i++) {
        double e = birdie_explore_prob(p, points[i].step);
        if (fabs(e - points[i].e) > points[i].tol)
            fail_msg("E(%lld) = %.9f, expected %g", (long long)points[i].step, e, points[i].e);
    }
    double prev = 1.0;
    for (int64_t s = 0; s < 10000; s += 7) {
        double e = birdie_explore_prob(p, s);
        assert_true(e <= prev + 1e-15);
        prev = e;
    }
}

/* §3.7 written out here from docs/algorithm.md, for a config where every term matters (d != 1, cook
 * shorter than warm-up, min/max other than the defaults), compared at every step of the schedule:
 *   E(s) = c0 if s < C;  s' = clamp(s - W, 0, T - 1 - W);
 *   E(s) = clamp(min + (max - min)/2 * (1 + d^(s'/(2T - 2)) * cos(pi s'/(T - 1 - W))), min, max)
 * with C, W, T the integer step counts floor(fraction * horizon). */
static double ref_explore(int64_t s, int64_t C, int64_t W, int64_t T, double c0, double lo, double hi, double d)
{
    if (s < C)
        return c0;
    double sp = (double)(s - W);
    if (sp < 0)
        sp = 0;
    if (sp > (double)(T - 1 - W))
        sp = (double)(T - 1 - W);
    double e = lo + (hi - lo) / 2.0 * (1.0 + pow(d, sp / (2.0 * T - 2.0)) * cos(M_PI * sp / (double)(T - 1 - W)));
    return e < lo ? lo : (e > hi ? hi : e);
}

static void test_explore_formula_every_step(void **state)
{
    (void)state;
    birdie_explore_params p = {.horizon = 1000,
                               .cook_frac = 0.05,
                               .warmup_frac = 0.25,
                               .decay_frac = 0.75,
                               .cook_prob = 0.9,
                               .rate_min = 0.1,
                               .rate_max = 0.7,
                               .decay_factor = 0.25};
    const int64_t C = 50, W = 250, T = 750;
    for (int64_t s = 0; s <= 1200; s++) {
        double got = birdie_explore_prob(&p, s), want = ref_explore(s, C, W, T, 0.9, 0.1, 0.7, 0.25);
        if (fabs(got - want) > 1e-12)
            fail_msg("E(%lld) = %.15f, the formula gives %.15f", (long long)s, got, want);
    }
    /* the edges, stated on their own: cook ends at C, the plateau at max lasts until W, the decay
     * stops at T - 1 (with d < 1 the end value stays above min) */
    assert_true(birdie_explore_prob(&p, C - 1) == 0.9);
    assert_true(fabs(birdie_explore_prob(&p, C) - 0.7) < 1e-15);
    assert_true(fabs(birdie_explore_prob(&p, W) - 0.7) < 1e-15);
    assert_true(birdie_explore_prob(&p, W + 1) < 0.7 - 1e-9);
    double end = 0.1 + 0.3 * (1.0 - pow(0.25, 499.0 / 1498.0)); /* s' = T-1-W = 499, cos(pi) = -1 */
    assert_true(fabs(birdie_explore_prob(&p, T - 1) - end) < 1e-12);
    assert_true(birdie_explore_prob(&p, T + 100) == birdie_explore_prob(&p, T - 1));
    /* the v2 defaults with the step counts of §3.7 (C = 819, W = 1,638, T = 8,192) */
    birdie_sched_config cfg;
    birdie_sched_config_defaults(&cfg);
    for (int64_t s = 0; s <= 17000; s++) {
        double got = birdie_explore_prob(&cfg.explore, s), want = ref_explore(s, 819, 1638, 8192, 1.0, 0.2, 0.5, 1.0);
        if (fabs(got - want) > 1e-12)
            fail_msg("v2 defaults: E(%lld) = %.15f, the formula gives %.15f", (long long)s, got, want);
    }
    /* d = 1 (the defaults' value) reaches min exactly at T - 1 */
    p.decay_factor = 1.0;
    assert_true(fabs(birdie_explore_prob(&p, T - 1) - 0.1) < 1e-15);
    assert_true(birdie_explore_prob(&p, T - 2) > 0.1 + 1e-9);
}

static void test_explore_vector(void **state)
{
    (void)state;
    enum { N = 10, C = 4 };
    const int classes[N] = {0, 0, 1, 1, 1, 2, 3, 3, 3, 3};
    const int sizes[C] = {2, 3, 1, 4};
    int seen_k[3] = {0, 0, 0};
    for (uint64_t key = 0; key < 200; key++) {
        double v[N];
        birdie_rng rng = birdie_rng_stream(5, key, 0, BIRDIE_RNG_TEST);
        sched_explore_vector(v, N, classes, C, sizes, &rng);
        double total = 0.0, class_mass[C] = {0};
        for (int i = 0; i < N; i++) {
            assert_true(v[i] > 0.0);
            total += v[i];
            class_mass[classes[i]] += v[i];
        }
        assert_true(fabs(total - 1.0) < 1e-12);
        /* picked classes carry almost all the mass; the others q = N/(N-k)*0.005*k each, normalised */
        int picked = 0;
        for (int c = 0; c < C; c++)
            picked += class_mass[c] > 0.2;
        assert_true(picked == 1 || picked == 2);
        seen_k[picked]++;
        for (int c = 0; c < C; c++)
            if (class_mass[c] <= 0.2)
                assert_true(class_mass[c] < 0.02);
        /* the same key gives the same vector */
        double again[N];
        rng = birdie_rng_stream(5, key, 0, BIRDIE_RNG_TEST);
        sched_explore_vector(again, N, classes, C, sizes, &rng);
        for (int i = 0; i < N; i++)
            assert_true(again[i] == v[i]);
    }
    assert_true(seen_k[1] > 20 && seen_k[2] > 20);
}

static void test_cyclic_lr(void **state)
{
    (void)state;
    birdie_sched_config cfg;
    birdie_sched_config_defaults(&cfg);
    double lr, b1;
    sched_cyclic_lr(&cfg.optim, 0, &lr, &b1);
    assert_true(lr == 5e-7 && b1 == 0.9);
    sched_cyclic_lr(&cfg.optim, 100, &lr, &b1);
    assert_true(fabs(lr - 5e-4) < 1e-18 && fabs(b1 - 0.8) < 1e-15);
    sched_cyclic_lr(&cfg.optim, 50, &lr, &b1);
    assert_true(fabs(lr - (5e-7 + 5e-4) / 2) < 1e-15 && fabs(b1 - 0.85) < 1e-12);
    sched_cyclic_lr(&cfg.optim, 150, &lr, &b1);
    assert_true(fabs(lr - (5e-7 + 5e-4) / 2) < 1e-15);
    /* continued across evaluations: iteration 200 starts the second triangle */
    double lr2, b2;
    sched_cyclic_lr(&cfg.optim, 237, &lr, &b1);
    sched_cyclic_lr(&cfg.optim, 37, &lr2, &b2);
    assert_true(lr == lr2 && b1 == b2);
}

static void test_eval_schedule(void **state)
{
    (void)state;
    int64_t steps[64];
    char err[128];
    int n = birdie_eval_schedule(3000, steps, 64, err, sizeof(err));
    assert_int_equal(n, 22);
    assert_true(steps[0] == 4 && steps[1] == 20 && steps[2] == 100 && steps[3] == 250);
    assert_true(steps[21] == 2950);
    for (int i = 3; i < n; i++)
        assert_true(steps[i] - steps[i - 1] == 150);
    assert_true(birdie_eval_schedule_warmup(3000) == 100);
    /* ten times longer: the same shape, ten times the steps */
    int n10 = birdie_eval_schedule(30000, steps, 64, err, sizeof(err));
    assert_int_equal(n10, 22);
    assert_true(steps[0] == 40 && steps[1] == 200 && steps[2] == 1000 && steps[3] == 2500);
    /* tiny runs stay strictly increasing and inside the run */
    n = birdie_eval_schedule(10, steps, 64, err, sizeof(err));
    assert_true(n >= 1);
    for (int i = 0; i < n; i++)
        assert_true(steps[i] >= 1 && steps[i] < 10 && (i == 0 || steps[i] > steps[i - 1]));
    assert_int_equal(birdie_eval_schedule(3000, NULL, 0, err, sizeof(err)), 22);
    assert_int_equal(birdie_eval_schedule(3000, steps, 5, err, sizeof(err)), -ENOSPC);
    assert_int_equal(birdie_eval_schedule(0, steps, 64, err, sizeof(err)), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_explore_v2_values), cmocka_unit_test(test_explore_formula_every_step),
        cmocka_unit_test(test_explore_vector),    cmocka_unit_test(test_cyclic_lr),
        cmocka_unit_test(test_eval_schedule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
