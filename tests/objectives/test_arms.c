/* tests/objectives/test_arms.c: arm specs (grammar, errors naming the arm), the default §7.4 grid,
 * canonical descriptions, the span-length tables and the space an arm needs. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "worker/objectives/arm.h"
#include "worker/rng.h"

static void test_default_grid(void **state)
{
    (void)state;
    char err[256] = "";
    birdie_arm_set set;
    birdie_arm_set_init(&set);
    assert_int_equal(birdie_arm_set_add_default(&set, err, sizeof err), 0);
    assert_int_equal(set.n, 61);
    int per_class[BIRDIE_NUM_OBJECTIVE_CLASSES] = {0};
    for (int i = 0; i < set.n; i++) {
        per_class[set.arms[i].cls]++;
        assert_int_equal(birdie_arm_set_find(&set, set.arms[i].name), i); /* names unique */
        assert_true(birdie_arm_min_size(&set.arms[i]) <= 512);           /* fits rows of 512 */
        assert_int_equal(set.arms[i].paradigm, set.arms[i].cls != BIRDIE_OBJ_NTP);
    }
    const int expect[BIRDIE_NUM_OBJECTIVE_CLASSES] = {1, 1, 2, 4, 13, 24, 16};
    for (int c = 0; c < BIRDIE_NUM_OBJECTIVE_CLASSES; c++)
        assert_int_equal(per_class[c], expect[c]);
    /* v1's infilling filter: rate .05 width 8 keeps 64-128 and 128-256 with the lower bound 80;
     * rate .05 width 24 is dropped entirely; rate .5 width 8 starts at 8. */
    const char *present[] = {"infill.l80-128.r5.w8", "infill.l80-256.r5.w8", "infill.l8-64.r50.w8",
                             "infill.l26-256.r15.w8", "infill.l80-128.r15.w24", "ae.l48-96.r15.w8",
                             "ae.l192-384.r50.w24.shuf", "selcopy.l96-192.k1.pre", "selcopy.l192-384.k4.app",
                             "deshuffle.l32-64.p50", "deshuffle.l128-256.p100", "copy.l128-256",
                             "plm.l32-512.s75", "ntp.l32-512"};
    for (size_t i = 0; i < sizeof present / sizeof *present; i++)
        assert_true(birdie_arm_set_find(&set, present[i]) >= 0);
    assert_int_equal(birdie_arm_set_find(&set, "infill.l80-128.r15.w24") >= 0, 1);
    for (int i = 0; i < set.n; i++)
        assert_false(set.arms[i].cls == BIRDIE_OBJ_INFILLING && set.arms[i].rate < 0.1 && set.arms[i].width == 24);
    birdie_arm_set_free(&set);
}

static void test_parse_example(void **state)
{
    (void)state;
    char err[256] = "";
    birdie_arm arm;
    assert_int_equal(birdie_arm_parse(&arm, "infill len=32-64 rate=0.15 width=8", err, sizeof err), 0);
    assert_int_equal(arm.cls, BIRDIE_OBJ_INFILLING);
    assert_int_equal(arm.min_len, 32);
    assert_int_equal(arm.max_len, 64);
    assert_true(fabs(arm.rate - 0.15) < 1e-12);
    assert_int_equal(arm.width, 8);
    assert_int_equal(arm.random_sentinels, 0);
    assert_string_equal(arm.name, "infill.l32-64.r15.w8");

    assert_int_equal(birdie_arm_parse(&arm, "  selcopy\tlen=200 spans=2 layout=append name=my_arm-1 ", err,
                                      sizeof err), 0);
    assert_int_equal(arm.min_len, 200);
    assert_int_equal(arm.max_len, 200);
    assert_int_equal(arm.layout_append, 1);
    assert_string_equal(arm.name, "my_arm-1");

    assert_int_equal(birdie_arm_parse(&arm, "ntp paradigm=on", err, sizeof err), 0);
    assert_int_equal(arm.paradigm, 0); /* NTP never carries one */
    assert_int_equal(birdie_arm_parse(&arm, "ae shuffle=on sentinels=random rate=0.125", err, sizeof err), 0);
    assert_string_equal(arm.name, "ae.l32-64.r12.5.w8.shuf.rnd");
}

/* Every bad spec fails with -EINVAL and a message that quotes the spec and says what is wrong. */
static void test_parse_errors(void **state)
{
    (void)state;
    const struct {
        const char *spec, *says;
    } bad[] = {
        {"bogus len=3", "unknown objective class 'bogus'"},
        {"", "empty"},
        {"copy rate=0.1", "unknown key 'rate'"},
        {"infill color=red", "unknown key 'color'"},
        {"infill rate=1.5", "rate 1.5 out of range"},
        {"infill rate=0", "rate 0 out of range"},
        {"infill rate=nan", "malformed value"},
        {"infill rate=abc", "malformed value"},
        {"infill width=0", "width 0 out of range"},
        {"infill width=300", "width 300 out of range"},
        {"copy len=0-5", "minimum length 0 out of range"},
        {"copy len=10-5", "maximum length 5 out of range"},
        {"copy len=-3", "minimum length -3"},
        {"copy len=5-", "malformed value"},
        {"copy len=99999999999", "malformed value"},
        {"plm len=4-16", "minimum length 4 out of range [8"},
        {"plm split=1", "split 1 out of range"},
        {"deshuffle share=0", "share 0 out of range"},
        {"selcopy spans=9", "spans 9 out of range"},
        {"selcopy len=40 spans=4", "minimum context length 40"},
        {"selcopy span=10-5", "span maximum 5"},
        {"selcopy layout=sideways", "malformed value"},
        {"ae shuffle=maybe", "malformed value"},
        {"copy len", "is not key=value"},
        {"copy =3", "is not key=value"},
        {"copy len=3-6 len=4-8", "given twice"},
        {"copy name=has/slash", "a name has"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char err[512] = "";
        birdie_arm arm;
        int rc = birdie_arm_parse(&arm, bad[i].spec, err, sizeof err);
        if (rc != -EINVAL || !strstr(err, bad[i].says) || !strstr(err, bad[i].spec)) {
            print_error("spec '%s': rc %d, message '%s' (expected to contain '%s')\n", bad[i].spec, rc, err,
                        bad[i].says);
            fail();
        }
    }
}

static void test_describe_round_trip(void **state)
{
    (void)state;
    char err[256] = "";
    birdie_arm_set set;
    birdie_arm_set_init(&set);
    assert_int_equal(birdie_arm_set_add_default(&set, err, sizeof err), 0);
    birdie_arm extra;
    assert_int_equal(birdie_arm_parse(&extra, "ae rate=0.3 width=5 sentinels=random shuffle=on paradigm=off", err,
                                      sizeof err), 0);
    assert_int_equal(birdie_arm_set_add(&set, &extra, err, sizeof err), 0);
    for (int i = 0; i < set.n; i++) {
        char spec[512];
        assert_true(birdie_arm_describe(&set.arms[i], spec, sizeof spec) < (int)sizeof spec);
        birdie_arm back;
        assert_int_equal(birdie_arm_parse(&back, spec, err, sizeof err), 0);
        assert_memory_equal(&back, &set.arms[i], sizeof back);
    }
    birdie_arm_set_free(&set);
}

static void test_sets_from_specs(void **state)
{
    (void)state;
    char err[256] = "";
    birdie_arm_set set;
    const char *ok[] = {"default", "copy len=300-400 name=long_copy"};
    assert_int_equal(birdie_arm_set_from_specs(&set, ok, 2, err, sizeof err), 0);
    assert_int_equal(set.n, 62);
    assert_int_equal(birdie_arm_set_find(&set, "long_copy"), 61);
    birdie_arm_set_paradigm(&set, 0);
    for (int i = 0; i < set.n; i++)
        assert_int_equal(set.arms[i].paradigm, 0);
    birdie_arm_set_paradigm(&set, 1);
    assert_int_equal(set.arms[0].paradigm, 0); /* ntp */
    assert_int_equal(set.arms[1].paradigm, 1);
    birdie_arm_set_free(&set);

    const char *twice[] = {"default", "default"};
    assert_int_equal(birdie_arm_set_from_specs(&set, twice, 2, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "ntp.l32-512"));
    assert_non_null(strstr(err, "used twice"));
    assert_null(set.arms);
    const char *dup[] = {"copy len=3-6", "copying len=3-6"};
    assert_int_equal(birdie_arm_set_from_specs(&set, dup, 2, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "copy.l3-6"));
    const char *bad[] = {"ntp", "infill rate=2"};
    assert_int_equal(birdie_arm_set_from_specs(&set, bad, 2, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "infill rate=2"));
    assert_int_equal(birdie_arm_set_from_specs(&set, NULL, 0, err, sizeof err), -EINVAL);
}

/* The tabulated mask chance and span law against a direct simulation of v1's draw:
 * l = max(1, trunc(Normal(w, 1))), mask with probability min(1, rate / l). */
static void test_span_table_matches_v1(void **state)
{
    (void)state;
    const char *specs[] = {"infill rate=0.15 width=8", "infill rate=0.5 width=3", "ae rate=0.9 width=1",
                           "infill rate=1 width=24"};
    for (size_t s = 0; s < sizeof specs / sizeof *specs; s++) {
        char err[256];
        birdie_arm arm;
        assert_int_equal(birdie_arm_parse(&arm, specs[s], err, sizeof err), 0);
        birdie_rng rng = birdie_rng_stream(7, s, 0, BIRDIE_RNG_TEST);
        const int draws = 200000;
        double masked = 0, len_sum = 0;
        for (int i = 0; i < draws; i++) {
            double x = arm.width + birdie_rng_normal(&rng);
            int l = (int)trunc(x);
            if (l < 1)
                l = 1;
            double p = arm.rate / l < 1 ? arm.rate / l : 1;
            if (birdie_rng_uniform(&rng) < p) {
                masked++;
                len_sum += l;
            }
        }
        double mean_table = 0, prev = 0;
        for (int i = 0; i < BIRDIE_SPAN_TABLE; i++) {
            mean_table += (arm.span_lo + i) * (arm.span_cdf[i] - prev);
            prev = arm.span_cdf[i];
        }
        assert_true(fabs(prev - 1.0) < 1e-12);
        double p_sim = masked / draws, mean_sim = len_sum / masked;
        if (fabs(p_sim - arm.mask_prob) > 4 * sqrt(arm.mask_prob * (1 - arm.mask_prob) / draws) + 1e-9 ||
            fabs(mean_sim - mean_table) > 0.02 * mean_table) {
            print_error("%s: mask %g vs table %g, mean span %g vs table %g\n", specs[s], p_sim, arm.mask_prob,
                        mean_sim, mean_table);
            fail();
        }
    }
}

/* chunk_cap(space) reaches min_len exactly when space >= min_size, and never exceeds max_len. */
static void test_space_bounds(void **state)
{
    (void)state;
    char err[256];
    birdie_arm_set set;
    birdie_arm_set_init(&set);
    assert_int_equal(birdie_arm_set_add_default(&set, err, sizeof err), 0);
    for (int i = 0; i < set.n; i++) {
        const birdie_arm *a = &set.arms[i];
        int need = birdie_arm_min_size(a);
        assert_true(need >= a->min_len);
        assert_true(birdie_arm_chunk_cap(a, need) >= a->min_len);
        assert_true(birdie_arm_chunk_cap(a, need - 1) < a->min_len);
        assert_true(birdie_arm_chunk_cap(a, 1 << 20) == a->max_len);
        assert_true(birdie_arm_chunk_cap(a, 0) >= 0);
    }
    birdie_arm_set_free(&set);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_grid),        cmocka_unit_test(test_parse_example),
        cmocka_unit_test(test_parse_errors),        cmocka_unit_test(test_describe_round_trip),
        cmocka_unit_test(test_sets_from_specs),     cmocka_unit_test(test_span_table_matches_v1),
        cmocka_unit_test(test_space_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
