/* Unit tests of the coordinator's pure parts: mixture validation, evaluation rounds, token loading,
 * bearer-token matching. */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon/eval_round.h"
#include "daemon/mixture.h"
#include "daemon/rpc_wire.h"
#include "daemon/token.h"
#include "worker/clock.h"

static const char *const arms[3] = {"a", "b", "c"};

static void test_mixture_from_named_normalises(void **state)
{
    const char *names[2] = {"c", "a"};
    double w[2] = {3, 1}, out[3] = {-1, -1, -1};
    char err[256];
    assert_int_equal(mixture_from_named(3, arms, 2, names, w, out, err, sizeof(err)), 0);
    assert_true(fabs(out[0] - 0.25) < 1e-12);
    assert_true(out[1] == 0);
    assert_true(fabs(out[2] - 0.75) < 1e-12);
}

/* docs/design.md §4.7: weights are proportions; a sum below 1 is scaled up exactly as one above 1 is scaled
 * down, and the result sums to 1. */
static void test_mixture_sum_below_one_is_normalised(void **state)
{
    const char *names[3] = {"a", "b", "c"};
    double w[3] = {0.02, 0.05, 0.03}, out[3];
    char err[256];
    assert_int_equal(mixture_from_named(3, arms, 3, names, w, out, err, sizeof(err)), 0);
    assert_true(fabs(out[0] - 0.2) < 1e-15 && fabs(out[1] - 0.5) < 1e-15 && fabs(out[2] - 0.3) < 1e-15);
    double direct[3] = {0.125, 0.0, 0.125};
    assert_int_equal(mixture_normalise(3, arms, direct, err, sizeof(err)), 0);
    assert_true(direct[0] == 0.5 && direct[1] == 0.0 && direct[2] == 0.5);
    /* a weight that is negative is refused even when the sum stays positive, naming the arm */
    double neg[3] = {1.0, -0.25, 0.5};
    assert_int_equal(mixture_normalise(3, arms, neg, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "'b'"));
    assert_non_null(strstr(err, "negative"));
    assert_true(neg[0] == 1.0 && neg[1] == -0.25 && neg[2] == 0.5); /* untouched on error */
    const char *two[2] = {"a", "c"};
    double w2[2] = {2.0, -1.0}, out2[3] = {7, 7, 7};
    assert_int_equal(mixture_from_named(3, arms, 2, two, w2, out2, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "'c'"));
    assert_true(out2[0] == 7 && out2[1] == 7 && out2[2] == 7);
}

static void expect_rejected(size_t n, const char *const *names, const double *w, const char *needle)
{
    double out[3] = {7, 7, 7};
    char err[256] = "";
    assert_int_equal(mixture_from_named(3, arms, n, names, w, out, err, sizeof(err)), -EINVAL);
    if (!strstr(err, needle))
        fail_msg("message '%s' lacks '%s'", err, needle);
    assert_true(out[0] == 7 && out[1] == 7 && out[2] == 7); /* untouched on error */
}

static void test_mixture_rejects_bad_input(void **state)
{
    const char *one[1] = {"zzz"};
    double w1[1] = {1};
    expect_rejected(1, one, w1, "unknown arm 'zzz'");
    const char *a[1] = {"a"};
    double neg[1] = {-0.5};
    expect_rejected(1, a, neg, "negative");
    double nan1[1] = {NAN};
    expect_rejected(1, a, nan1, "not finite");
    double inf1[1] = {INFINITY};
    expect_rejected(1, a, inf1, "not finite");
    double zero[1] = {0};
    expect_rejected(1, a, zero, "sum to 0");
    const char *dup[2] = {"a", "a"};
    double w2[2] = {1, 1};
    expect_rejected(2, dup, w2, "twice");
    expect_rejected(0, a, w1, "no weights");
}

static void test_uniform_by_class(void **state)
{
    const char *classes[4] = {"x", "y", "y", "y"};
    double w[4];
    mixture_uniform_by_class(4, classes, w);
    assert_true(fabs(w[0] - 0.5) < 1e-12);
    for (int i = 1; i < 4; i++)
        assert_true(fabs(w[i] - 1.0 / 6.0) < 1e-12);
}

/* The messages of the set-mixture path, word for word (the config path's are pinned in
 * tests/worker/objectives/test_mixture.c). */
static void test_mixture_messages_pinned(void **state)
{
    char err[256];
    double out[3];
    const char *a[1] = {"a"}, *zzz[2] = {"b", "zzz"}, *dup[2] = {"a", "a"}, *ab[2] = {"a", "b"};
    double one[1] = {1}, neg[1] = {-0.5}, nan1[1] = {NAN}, inf1[1] = {-INFINITY}, zero[1] = {0}, two[2] = {1, 1},
           huge[2] = {1e308, 1e308};
    const struct {
        size_t n;
        const char *const *names;
        const double *w;
        const char *says;
    } cases[] = {
        {2, zzz, two, "unknown arm 'zzz' (weights[1])"},
        {1, a, neg, "weight of arm 'a' is negative (-0.5)"},
        {1, a, nan1, "weight of arm 'a' is not finite (nan)"},
        {1, a, inf1, "weight of arm 'a' is not finite (-inf)"},
        {1, a, zero, "weights sum to 0; at least one arm needs a positive finite weight"},
        {2, ab, huge, "weights sum to inf; at least one arm needs a positive finite weight"},
        {2, dup, two, "arm 'a' is given twice"},
        {0, a, one, "no weights given; name at least one arm"},
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        assert_int_equal(mixture_from_named(3, arms, cases[k].n, cases[k].names, cases[k].w, out, err, sizeof(err)),
                         -EINVAL);
        assert_string_equal(err, cases[k].says);
    }
    double direct[3] = {1, -0.25, 0.5};
    assert_int_equal(mixture_normalise(3, arms, direct, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "weight of arm 'b' is negative (-0.25)");
}

/* Today's exact class-uniform mixture for the classes of the default grid (7 classes of 1, 1, 2, 4,
 * 13, 24 and 16 arms), bit for bit: the same rule gives the scheduler's a0. */
static void test_uniform_by_class_default_grid_pinned(void **state)
{
    static const int count[7] = {1, 1, 2, 4, 13, 24, 16};
    static const char *const names[7] = {"ntp", "plm", "copy", "dshuf", "infill", "ae", "sc"};
    static const double want[7] = {0x1.2492492492492p-3, 0x1.2492492492492p-3, 0x1.2492492492492p-4,
                                   0x1.2492492492492p-5, 0x1.6816816816817p-7, 0x1.8618618618618p-8,
                                   0x1.2492492492492p-7};
    const char *classes[61];
    int cls[61], n = 0;
    for (int c = 0; c < 7; c++)
        for (int k = 0; k < count[c]; k++, n++) {
            classes[n] = names[c];
            cls[n] = c;
        }
    double w[61];
    mixture_uniform_by_class(n, classes, w);
    for (int i = 0; i < n; i++)
        if (w[i] != want[cls[i]])
            fail_msg("arm %d: %a, pinned %a", i, w[i], want[cls[i]]);
}

/* The daemon's millisecond deadlines and the worker's second timers read one clock. */
static void test_monotonic_ms_and_seconds_agree(void **state)
{
    int64_t before = birdie_monotonic_ms();
    double s = birdie_monotonic_seconds();
    int64_t after = birdie_monotonic_ms();
    assert_true(before <= after);
    assert_true((double)before <= s * 1000.0 + 1e-6 && s * 1000.0 < (double)after + 1.0);
}

static void test_eval_round_sums_and_completes(void **state)
{
    eval_round r;
    char err[256];
    assert_int_equal(eval_round_init(&r, 2, 2), 0);
    double l0[2] = {1, 2}, t0[2] = {10, 20}, l1[2] = {3, 4}, t1[2] = {30, 40};
    assert_int_equal(eval_round_add(&r, 0, 100, l0, t0, 1000, 500, err, sizeof(err)), EVAL_ADDED);
    assert_false(eval_round_complete(&r));
    assert_int_equal(eval_round_add(&r, 0, 100, l0, t0, 1001, 500, err, sizeof(err)), EVAL_DUPLICATE);
    assert_int_equal(eval_round_add(&r, 0, 200, l0, t0, 1001, 500, err, sizeof(err)), -EBUSY);
    assert_int_equal(eval_round_add(&r, 1, 100, l1, t1, 1002, 500, err, sizeof(err)), EVAL_ADDED);
    assert_true(eval_round_complete(&r));
    assert_true(r.loss_sum[0] == 4 && r.loss_sum[1] == 6 && r.tokens[0] == 40 && r.tokens[1] == 60);
    eval_round_close(&r);
    assert_int_equal(eval_round_add(&r, 1, 100, l1, t1, 1003, 500, err, sizeof(err)), EVAL_ALREADY_CLOSED);
    assert_int_equal(eval_round_add(&r, 1, 50, l1, t1, 1003, 500, err, sizeof(err)), -EBUSY);
    eval_round_free(&r);
}

static void test_eval_round_deadline_and_bad_values(void **state)
{
    eval_round r;
    char err[256], missing[64];
    assert_int_equal(eval_round_init(&r, 3, 1), 0);
    double l[1] = {1}, t[1] = {1}, bad[1] = {NAN};
    assert_int_equal(eval_round_add(&r, 3, 10, l, t, 0, 100, err, sizeof(err)), -EINVAL);
    assert_int_equal(eval_round_add(&r, 0, 10, bad, t, 0, 100, err, sizeof(err)), -EINVAL);
    assert_false(r.open); /* rejected reports open nothing */
    assert_int_equal(eval_round_add(&r, 1, 10, l, t, 0, 100, err, sizeof(err)), EVAL_ADDED);
    assert_false(eval_round_expired(&r, 99));
    assert_true(eval_round_expired(&r, 100));
    eval_round_missing(&r, missing, sizeof(missing));
    assert_string_equal(missing, "0,2");
    eval_round_free(&r);
}

static void test_token_load(void **state)
{
    char dir[] = "/tmp/birdie-token-XXXXXX", path[128], tok[BIRDIE_TOKEN_MAX], err[256];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/t", dir);
    FILE *f = fopen(path, "w");
    fputs("abc123\n", f);
    fclose(f);
    assert_int_equal(birdie_token_load(path, tok, sizeof(tok), err, sizeof(err)), 0);
    assert_string_equal(tok, "abc123");
    f = fopen(path, "w");
    fputs("has space\n", f);
    fclose(f);
    assert_int_equal(birdie_token_load(path, tok, sizeof(tok), err, sizeof(err)), -EINVAL);
    f = fopen(path, "w");
    fclose(f);
    assert_int_equal(birdie_token_load(path, tok, sizeof(tok), err, sizeof(err)), -EINVAL);
    unlink(path);
    assert_int_equal(birdie_token_load(path, tok, sizeof(tok), err, sizeof(err)), -ENOENT);
    setenv("BIRDIE_TOKEN", "from-env", 1);
    assert_int_equal(birdie_token_load(NULL, tok, sizeof(tok), err, sizeof(err)), 0);
    assert_string_equal(tok, "from-env");
    unsetenv("BIRDIE_TOKEN");
    assert_int_equal(birdie_token_load(NULL, tok, sizeof(tok), err, sizeof(err)), 0);
    assert_string_equal(tok, "");
    rmdir(dir);
}

static void test_bearer_match(void **state)
{
    grpc_metadata md[1];
    grpc_metadata_array arr = {.count = 1, .capacity = 1, .metadata = md};
    md[0].key = grpc_slice_from_static_string("authorization");
    md[0].value = grpc_slice_from_static_string("Bearer secret");
    assert_true(wire_bearer_matches(&arr, "secret"));
    assert_false(wire_bearer_matches(&arr, "secreT"));
    assert_false(wire_bearer_matches(&arr, "secret2"));
    assert_false(wire_bearer_matches(&arr, ""));
    md[0].value = grpc_slice_from_static_string("secret");
    assert_false(wire_bearer_matches(&arr, "secret"));
    arr.count = 0;
    assert_false(wire_bearer_matches(&arr, "secret"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mixture_from_named_normalises),
        cmocka_unit_test(test_mixture_rejects_bad_input),
        cmocka_unit_test(test_mixture_sum_below_one_is_normalised),
        cmocka_unit_test(test_uniform_by_class),
        cmocka_unit_test(test_mixture_messages_pinned),
        cmocka_unit_test(test_uniform_by_class_default_grid_pinned),
        cmocka_unit_test(test_monotonic_ms_and_seconds_agree),
        cmocka_unit_test(test_eval_round_sums_and_completes),
        cmocka_unit_test(test_eval_round_deadline_and_bad_values),
        cmocka_unit_test(test_token_load),
        cmocka_unit_test(test_bearer_match),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
