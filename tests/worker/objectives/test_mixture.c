/* tests/worker/objectives/test_mixture.c: named and explicit mixtures over the default grid, their
 * normalisation (sums other than 1 are scaled) and errors (each names what is wrong), and the
 * frequencies of the arm draw. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "worker/objectives/mixture.h"

static birdie_arm_set grid;
static double w[BIRDIE_MAX_ARMS];

static int setup(void **state)
{
    (void)state;
    char err[256];
    birdie_arm_set_init(&grid);
    return birdie_arm_set_add_default(&grid, err, sizeof err);
}

static int teardown(void **state)
{
    (void)state;
    birdie_arm_set_free(&grid);
    return 0;
}

static double total(void)
{
    double s = 0;
    for (int i = 0; i < grid.n; i++)
        s += w[i];
    return s;
}

static double class_total(birdie_objective_class c)
{
    double s = 0;
    for (int i = 0; i < grid.n; i++)
        s += grid.arms[i].cls == c ? w[i] : 0;
    return s;
}

static double infill_total(double rate, int width)
{
    double s = 0;
    for (int i = 0; i < grid.n; i++) {
        const birdie_arm *a = &grid.arms[i];
        if (a->cls == BIRDIE_OBJ_INFILLING && fabs(a->rate - rate) < 1e-9 && a->width == width)
            s += w[i];
    }
    return s;
}

static void test_ntp(void **state)
{
    (void)state;
    char err[256];
    assert_int_equal(birdie_mixture_parse(&grid, "ntp", w, err, sizeof err), 0);
    for (int i = 0; i < grid.n; i++)
        assert_true(w[i] == (grid.arms[i].cls == BIRDIE_OBJ_NTP ? 1.0 : 0.0));
}

static void test_uniform_over_classes_then_arms(void **state)
{
    (void)state;
    char err[256];
    assert_int_equal(birdie_mixture_parse(&grid, " uniform", w, err, sizeof err), 0);
    assert_true(fabs(total() - 1) < 1e-12);
    for (int c = 0; c < BIRDIE_NUM_OBJECTIVE_CLASSES; c++)
        assert_true(fabs(class_total((birdie_objective_class)c) - 1.0 / 7) < 1e-12);
    /* within a class all arms are equal: the 24 autoencoding arms get 1/168 each */
    for (int i = 0; i < grid.n; i++)
        if (grid.arms[i].cls == BIRDIE_OBJ_AUTOENCODING)
            assert_true(fabs(w[i] - 1.0 / 168) < 1e-12);
}

static void test_ul2_mapping(void **state)
{
    (void)state;
    char err[256];
    assert_int_equal(birdie_mixture_parse(&grid, "ul2", w, err, sizeof err), 0);
    assert_true(fabs(total() - 1) < 1e-12);
    assert_true(fabs(class_total(BIRDIE_OBJ_PREFIX_LM) - 0.2) < 1e-12);
    assert_true(fabs(infill_total(0.15, 8) - 0.2) < 1e-12); /* R(3, 15%) -> width 8 */
    assert_true(fabs(infill_total(0.15, 24) - 0.3) < 1e-12); /* R(8, 15%) + X(64, 15%) -> width 24 */
    assert_true(fabs(infill_total(0.5, 8) - 0.1) < 1e-12); /* X(3, 50%) */
    assert_true(fabs(infill_total(0.5, 24) - 0.2) < 1e-12); /* X(8, 50%) + X(64, 50%) */
    assert_true(infill_total(0.05, 8) == 0.0);
    assert_true(class_total(BIRDIE_OBJ_NTP) == 0.0);

    birdie_arm_set small;
    const char *specs[] = {"ntp", "infill rate=0.15"};
    assert_int_equal(birdie_arm_set_from_specs(&small, specs, 2, err, sizeof err), 0);
    double w2[2];
    assert_int_equal(birdie_mixture_parse(&small, "ul2", w2, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "prefix_lm"));
    birdie_arm_set_free(&small);
}

static void test_explicit(void **state)
{
    (void)state;
    char err[256];
    assert_int_equal(birdie_mixture_parse(&grid, "ntp.l32-512=3, copy.l32-64 = 1", w, err, sizeof err), 0);
    assert_true(fabs(w[birdie_arm_set_find(&grid, "ntp.l32-512")] - 0.75) < 1e-12);
    assert_true(fabs(w[birdie_arm_set_find(&grid, "copy.l32-64")] - 0.25) < 1e-12);
    assert_true(fabs(total() - 1) < 1e-12);

    const struct {
        const char *spec, *says;
    } bad[] = {
        {"nope.arm=1", "unknown arm 'nope.arm'"},
        {"ntp.l32-512=-1", "'ntp.l32-512' has weight -1"},
        {"ntp.l32-512=nan", "'ntp.l32-512' has weight nan"},
        {"ntp.l32-512=inf", "'ntp.l32-512' has weight inf"},
        {"ntp.l32-512=0,copy.l32-64=0", "sum to 0"},
        {"ntp.l32-512=1,ntp.l32-512=2", "'ntp.l32-512' given twice"},
        {"ntp.l32-512=x", "'ntp.l32-512': weight 'x' is not a number"},
        {"ntp.l32-512=1e999", "has weight inf"},
        {"ntp.l32-512", "unknown"},
        {"ntp.l32-512=1,junk", "'junk' is not name=weight"},
        {"birdie", "mixture 'birdie': unknown"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc = birdie_mixture_parse(&grid, bad[i].spec, w, err, sizeof err);
        if (rc != -EINVAL || !strstr(err, bad[i].says)) {
            print_error("'%s': rc %d, message '%s' (expected '%s')\n", bad[i].spec, rc, err, bad[i].says);
            fail();
        }
    }
}

static void test_normalise_names_the_arm(void **state)
{
    (void)state;
    char err[256];
    for (int i = 0; i < grid.n; i++)
        w[i] = 1;
    w[5] = -0.5;
    assert_int_equal(birdie_mixture_normalise(&grid, w, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, grid.arms[5].name));
    w[5] = 2;
    assert_int_equal(birdie_mixture_normalise(&grid, w, err, sizeof err), 0);
    assert_true(fabs(w[5] - 2.0 / 62) < 1e-12);
}

/* The contract (mixture.h, docs/design.md §4.7: known arms, finite, non-negative, divided by their sum):
 * weights that sum below (or above) 1 are scaled to sum 1, keeping their ratios. */
static void test_sums_other_than_one_are_normalised(void **state)
{
    (void)state;
    char err[256];
    const int ntp = birdie_arm_set_find(&grid, "ntp.l32-512"), copy = birdie_arm_set_find(&grid, "copy.l32-64");
    assert_int_equal(birdie_mixture_parse(&grid, "ntp.l32-512=0.1, copy.l32-64=0.3", w, err, sizeof err), 0);
    assert_true(fabs(w[ntp] - 0.25) < 1e-15 && fabs(w[copy] - 0.75) < 1e-15);
    assert_true(fabs(total() - 1) < 1e-15);
    assert_int_equal(birdie_mixture_parse(&grid, "ntp.l32-512=6,copy.l32-64=2", w, err, sizeof err), 0);
    assert_true(fabs(w[ntp] - 0.75) < 1e-15 && fabs(w[copy] - 0.25) < 1e-15);
    /* the same through the operator / scheduler path */
    for (int i = 0; i < grid.n; i++)
        w[i] = i < 4 ? 0.05 * (i + 1) : 0.0; /* 0.05 0.1 0.15 0.2: sum 0.5 */
    assert_int_equal(birdie_mixture_normalise(&grid, w, err, sizeof err), 0);
    for (int i = 0; i < 4; i++)
        assert_true(fabs(w[i] - 0.1 * (i + 1)) < 1e-15);
    assert_true(fabs(total() - 1) < 1e-15);
    /* named mixtures come out normalised too */
    const char *named[] = {"ntp", "uniform", "ul2"};
    for (int k = 0; k < 3; k++) {
        assert_int_equal(birdie_mixture_parse(&grid, named[k], w, err, sizeof err), 0);
        assert_true(fabs(total() - 1) < 1e-12);
    }
}

/* Every rejected vector says what is wrong and, where one arm is to blame, names it: the config
 * path's messages word for word (the coordinator's own are pinned in tests/daemon/test_daemon_units.c). */
static void test_normalise_rejects(void **state)
{
    (void)state;
    char err[256];
    const struct {
        int arm;
        double value;
        const char *says;
    } bad[] = {
        {7, -0.25, "mixture: arm 'deshuffle.l128-256.p100' has weight -0.25 (weights are finite and >= 0)"},
        {7, -1e-300, "mixture: arm 'deshuffle.l128-256.p100' has weight -1e-300 (weights are finite and >= 0)"},
        {12, NAN, "mixture: arm '%s' has weight nan (weights are finite and >= 0)"},
        {12, INFINITY, "mixture: arm '%s' has weight inf (weights are finite and >= 0)"},
        {1, NAN, "mixture: arm 'plm.l32-512.s75' has weight nan (weights are finite and >= 0)"},
        {0, -INFINITY, "mixture: arm 'ntp.l32-512' has weight -inf (weights are finite and >= 0)"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        for (int i = 0; i < grid.n; i++)
            w[i] = 1.0;
        w[bad[k].arm] = bad[k].value;
        char want[256];
        snprintf(want, sizeof want, bad[k].says, grid.arms[bad[k].arm].name);
        int rc = birdie_mixture_normalise(&grid, w, err, sizeof err);
        if (rc != -EINVAL || strcmp(err, want) != 0)
            fail_msg("weight %g on arm %d: rc %d, message '%s', expected '%s'", bad[k].value, bad[k].arm, rc, err,
                     want);
    }
    for (int i = 0; i < grid.n; i++)
        w[i] = 0.0;
    assert_int_equal(birdie_mixture_normalise(&grid, w, err, sizeof err), -EINVAL);
    assert_string_equal(err, "mixture: the weights of the 61 arms sum to 0 (need a finite sum > 0)");
    /* finite weights whose sum overflows: no finite normalisation exists */
    w[0] = w[1] = 1e308;
    assert_int_equal(birdie_mixture_normalise(&grid, w, err, sizeof err), -EINVAL);
    assert_string_equal(err, "mixture: the weights of the 61 arms sum to inf (need a finite sum > 0)");
}

/* The parse errors: the last ones are whole messages, so the config path keeps its wording. */
static void test_parse_rejects(void **state)
{
    (void)state;
    char err[256];
    const struct {
        const char *spec, *says;
    } bad[] = {
        {"", "mixture '': unknown"},
        {"   ", "mixture '': unknown"},
        {"ntp.l32-512=1, copy.l32-64=-0.5", "'copy.l32-64' has weight -0.5"},
        {"copy.l32-64=0.5, ntp.l32-512=-0", NULL}, /* -0 is zero, not negative: accepted */
        {"ntp.l32-512=1e308, copy.l32-64=1e308", "sum to inf"},
        {"ntp.l32-512=0", "sum to 0"},
        {"=1", "unknown arm ''"},
        {"ntp.l32-512=", "weight '' is not a number"},
        {"ntp.l32-512=1 2", "weight '1 2' is not a number"},
        {"copy.l32-64=1,ntp.l32-512=1,copy.l32-64=1", "'copy.l32-64' given twice"},
        {"NTP.L32-512=1", "unknown arm 'NTP.L32-512'"},
        {"ntp.l32-512=0x", "is not a number"},
        /* whole messages, word for word */
        {"ntp.l32-512=1, nope=1", "mixture: unknown arm 'nope'"},
        {"copy.l32-64=1,copy.l32-64=2", "mixture: arm 'copy.l32-64' given twice"},
        {"ntp.l32-512=x", "mixture: arm 'ntp.l32-512': weight 'x' is not a number"},
        {"ntp.l32-512", "mixture 'ntp.l32-512': unknown (ntp, ul2, uniform, or name=weight,...)"},
        {"ntp.l32-512=-1", "mixture: arm 'ntp.l32-512' has weight -1 (weights are finite and >= 0)"},
        {"ntp.l32-512=0", "mixture: the weights of the 61 arms sum to 0 (need a finite sum > 0)"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc = birdie_mixture_parse(&grid, bad[i].spec, w, err, sizeof err);
        if (!bad[i].says) {
            if (rc != 0)
                fail_msg("'%s': rc %d (%s)", bad[i].spec, rc, err);
            continue;
        }
        if (rc != -EINVAL || !strstr(err, bad[i].says))
            fail_msg("'%s': rc %d, message '%s' (expected '%s')", bad[i].spec, rc, err, bad[i].says);
    }
}

/* "uniform" on a set with unequal classes: 1/classes per class present, split equally inside it
 * (the initial action, docs/algorithm.md §2.9), nothing for absent classes. */
static void test_uniform_on_a_small_set(void **state)
{
    (void)state;
    char err[256];
    birdie_arm_set set;
    const char *specs[] = {"ntp", "copy len=10-20", "copy len=20-40", "copy len=40-80", "plm"};
    assert_int_equal(birdie_arm_set_from_specs(&set, specs, 5, err, sizeof err), 0);
    double v[5];
    assert_int_equal(birdie_mixture_parse(&set, "uniform", v, err, sizeof err), 0);
    const double want[5] = {1.0 / 3, 1.0 / 9, 1.0 / 9, 1.0 / 9, 1.0 / 3};
    for (int i = 0; i < 5; i++)
        assert_true(fabs(v[i] - want[i]) < 1e-15);
    assert_int_equal(birdie_mixture_parse(&set, "ntp", v, err, sizeof err), 0);
    assert_true(v[0] == 1.0 && v[1] == 0.0 && v[4] == 0.0);
    birdie_arm_set_free(&set);
}

/* Draw frequencies match the weights (within 5 standard deviations) and weight 0 is never drawn. */
/* The exact output of "uniform" over the default grid (7 classes of 1, 1, 2, 4, 13, 24 and 16 arms),
 * bit for bit: the class-uniform rule and the normalisation after it are shared with the scheduler's
 * a0 and the coordinator, so a change to either shows here first. The config path once computed
 * 1/7/13 where the scheduler computed 1/13/7; since it uses the scheduler's order (one rule,
 * mixture_rules.h) the 13 infilling arms come out 1 ulp higher (...821p-7 before). */
static void test_uniform_default_grid_pinned(void **state)
{
    (void)state;
    char err[256];
    assert_int_equal(birdie_mixture_parse(&grid, "uniform", w, err, sizeof err), 0);
    static const double want[BIRDIE_NUM_OBJECTIVE_CLASSES] = {
        0x1.249249249249bp-3, 0x1.249249249249bp-3, 0x1.249249249249bp-4, 0x1.249249249249bp-5,
        0x1.6816816816822p-7, 0x1.8618618618623p-8, 0x1.249249249249bp-7,
    };
    for (int i = 0; i < grid.n; i++)
        if (w[i] != want[grid.arms[i].cls])
            fail_msg("arm %d (%s): %a, pinned %a", i, grid.arms[i].name, w[i], want[grid.arms[i].cls]);
}

static void test_draw_frequencies(void **state)
{
    (void)state;
    const double weights[5] = {0.5, 0.0, 0.2, 0.3, 0.0};
    int count[5] = {0};
    birdie_rng rng = birdie_rng_stream(3, 0, 0, BIRDIE_RNG_TEST);
    const int draws = 100000;
    for (int i = 0; i < draws; i++)
        count[birdie_mixture_draw(weights, 5, &rng)]++;
    for (int i = 0; i < 5; i++) {
        double sd = sqrt(draws * weights[i] * (1 - weights[i]));
        assert_true(fabs(count[i] - draws * weights[i]) <= 5 * sd);
    }
    assert_int_equal(count[1] + count[4], 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ntp),
        cmocka_unit_test(test_uniform_over_classes_then_arms),
        cmocka_unit_test(test_ul2_mapping),
        cmocka_unit_test(test_explicit),
        cmocka_unit_test(test_normalise_names_the_arm),
        cmocka_unit_test(test_draw_frequencies),
        cmocka_unit_test(test_sums_other_than_one_are_normalised),
        cmocka_unit_test(test_normalise_rejects),
        cmocka_unit_test(test_parse_rejects),
        cmocka_unit_test(test_uniform_on_a_small_set),
        cmocka_unit_test(test_uniform_default_grid_pinned),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
