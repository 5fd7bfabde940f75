/* tests/worker/objectives/test_arms.c: arm specs (grammar, errors naming the arm), the default grid
 * (docs/algorithm.md §2.10), canonical descriptions, the span-length tables (against the figures of §2.6)
 * and the space an arm needs. */
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
        assert_true(birdie_arm_min_size(&set.arms[i]) <= 512); /* fits rows of 512 */
        assert_int_equal(set.arms[i].paradigm, set.arms[i].cls != BIRDIE_OBJ_NTP);
    }
    const int expect[BIRDIE_NUM_OBJECTIVE_CLASSES] = {1, 1, 2, 4, 13, 24, 16};
    for (int c = 0; c < BIRDIE_NUM_OBJECTIVE_CLASSES; c++)
        assert_int_equal(per_class[c], expect[c]);
    /* v1's infilling filter: rate .05 width 8 keeps 64-128 and 128-256 with the lower bound 80;
     * rate .05 width 24 is dropped entirely; rate .5 width 8 starts at 8. */
    const char *present[] = {
        "infill.l80-128.r5.w8",    "infill.l80-256.r5.w8", "infill.l8-64.r50.w8",      "infill.l26-256.r15.w8",
        "infill.l80-128.r15.w24",  "ae.l48-96.r15.w8",     "ae.l192-384.r50.w24.shuf", "selcopy.l96-192.k1.pre",
        "selcopy.l192-384.k4.app", "deshuffle.l32-64.p50", "deshuffle.l128-256.p100",  "copy.l128-256",
        "plm.l32-512.s75",         "ntp.l32-512"};
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

    assert_int_equal(birdie_arm_parse(&arm, "  selcopy\tlen=200 spans=2 layout=append name=my_arm-1 ", err, sizeof err),
                     0);
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
    assert_int_equal(
        birdie_arm_parse(&extra, "ae rate=0.3 width=5 sentinels=random shuffle=on paradigm=off", err, sizeof err), 0);
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

/* The tabulated span law against the values of docs/algorithm.md §2.6, not against a re-run of the
 * formula: l = max(1, trunc(Normal(w, 1))) has, for w = 3, P(1) = .16, P(2) = .34, P(3) = .34,
 * P(4) = .14 (that section's own figures), and for larger w the normal-table masses
 * P(w + j) = P(floor(Z) = j): .3413, .1359, .0214, .0013, .00003 for j = 0..4 (mirrored for -1 - j), so
 * the mean span is w - 0.5. A span of length l is masked with chance min(1, rate / l), so the
 * unconditional law is recovered from the table as p(l) = (cdf(l) - cdf(l - 1)) * mask_prob /
 * min(1, rate / l), and mask_prob = sum_l p(l) min(1, rate / l). */
static void test_span_table_matches_reference(void **state)
{
    (void)state;
    static const double normal_bin[5] = {0.3413447, 0.1359051, 0.0214002, 0.0013182, 0.0000314};
    const struct {
        const char *spec;
        int w;
    } cases[] = {{"infill rate=0.15 width=3", 3},
                 {"infill rate=0.5 width=8", 8},
                 {"ae rate=0.05 width=24", 24},
                 {"infill rate=1 width=8", 8}};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        char err[256];
        birdie_arm arm;
        assert_int_equal(birdie_arm_parse(&arm, cases[c].spec, err, sizeof err), 0);
        const int w = cases[c].w;
        double p[64] = {0}, prev = 0.0, mean = 0.0, total = 0.0;
        for (int i = 0; i < BIRDIE_SPAN_TABLE; i++) {
            int l = arm.span_lo + i;
            double keep = arm.rate / l < 1 ? arm.rate / l : 1;
            assert_true(arm.span_cdf[i] >= prev);
            if (l < 64)
                p[l] = (arm.span_cdf[i] - prev) * arm.mask_prob / keep;
            prev = arm.span_cdf[i];
        }
        assert_true(fabs(prev - 1.0) < 1e-12);
        double want[64] = {0}, mask = 0.0;
        if (w == 3) { /* the reference's rounded figures */
            const double ref[5] = {0, 0.16, 0.34, 0.34, 0.14};
            for (int l = 1; l <= 4; l++)
                if (fabs(p[l] - ref[l]) > 0.005)
                    fail_msg("%s: P(l = %d) = %.4f, the reference says %.2f", cases[c].spec, l, p[l], ref[l]);
        }
        for (int j = 0; j < 5; j++) { /* lengths below 1 are clamped to 1 */
            want[w + j] += normal_bin[j];
            want[w - 1 - j < 1 ? 1 : w - 1 - j] += normal_bin[j];
        }
        for (int l = 1; l < 64; l++) {
            if (fabs(p[l] - want[l]) > 1e-6) /* the table's tail beyond 5 sd: under 3e-7 */
                fail_msg("%s: P(l = %d) = %.6f, normal table %.6f", cases[c].spec, l, p[l], want[l]);
            mask += want[l] * (arm.rate / l < 1 ? arm.rate / l : 1);
            mean += l * p[l];
            total += p[l];
        }
        if (fabs(arm.mask_prob - mask) > 1e-5)
            fail_msg("%s: mask chance %.6f, the law gives %.6f", cases[c].spec, arm.mask_prob, mask);
        if (w > 4 && fabs(mean / total - (w - 0.5)) > 1e-3)
            fail_msg("%s: mean span %.4f, the reference says w - 0.5 = %.1f", cases[c].spec, mean / total, w - 0.5);
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
        cmocka_unit_test(test_default_grid),    cmocka_unit_test(test_parse_example),
        cmocka_unit_test(test_parse_errors),    cmocka_unit_test(test_describe_round_trip),
        cmocka_unit_test(test_sets_from_specs), cmocka_unit_test(test_span_table_matches_reference),
        cmocka_unit_test(test_space_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
