/* tests/worker/test_fault.c: the BIRDIE_FAULT table (worker/fault.c): the spec grammar and its errors,
 * the step and the count of each point, the rank filter (and drop_push's target rank), and what an
 * unarmed process answers. What each point does is tested end to end by tests/faults.sh. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "worker/fault.h"

static void test_unarmed_never_fires(void **state)
{
    (void)state;
    char err[256];
    assert_int_equal(birdie_fault_arm(NULL, 0, err, sizeof err), 0);
    for (int p = 0; p < BIRDIE_FAULT_POINTS; p++) {
        assert_int_equal(birdie_fault_fire((birdie_fault_point)p, 1000000), 0);
        assert_int_equal(birdie_fault_active((birdie_fault_point)p, 1000000), 0);
        assert_int_equal(birdie_fault_count((birdie_fault_point)p), 0);
    }
}

static void test_step_and_count(void **state)
{
    (void)state;
    char err[256];
    assert_int_equal(birdie_fault_arm("nan_loss@7,fail_fsync@3=2", 0, err, sizeof err), 0);
    assert_int_equal(birdie_fault_fire(BIRDIE_FAULT_NAN_LOSS, 6), 0); /* before its step */
    assert_int_equal(birdie_fault_fire(BIRDIE_FAULT_NAN_LOSS, 7), 1);
    assert_int_equal(birdie_fault_fire(BIRDIE_FAULT_NAN_LOSS, 8), 0); /* used up */
    assert_int_equal(birdie_fault_active(BIRDIE_FAULT_NAN_LOSS, 8), 1); /* still armed, for lasting faults */
    assert_int_equal(birdie_fault_count(BIRDIE_FAULT_FAIL_FSYNC), 2);
    /* -1: the process's current step */
    birdie_fault_set_step(2);
    assert_int_equal(birdie_fault_fire(BIRDIE_FAULT_FAIL_FSYNC, -1), 0);
    birdie_fault_set_step(3);
    assert_int_equal(birdie_fault_fire(BIRDIE_FAULT_FAIL_FSYNC, -1), 1);
    assert_int_equal(birdie_fault_fire(BIRDIE_FAULT_FAIL_FSYNC, -1), 1);
    assert_int_equal(birdie_fault_fire(BIRDIE_FAULT_FAIL_FSYNC, -1), 0);
    assert_int_equal(birdie_fault_fire(BIRDIE_FAULT_KILL, 100), 0); /* not armed */
    /* arming again replaces the table */
    assert_int_equal(birdie_fault_arm("kill@1", 0, err, sizeof err), 0);
    assert_int_equal(birdie_fault_active(BIRDIE_FAULT_NAN_LOSS, 100), 0);
    assert_int_equal(birdie_fault_active(BIRDIE_FAULT_KILL, 1), 1);
}

static void test_rank_filter(void **state)
{
    (void)state;
    char err[256];
    assert_int_equal(birdie_fault_arm("hang_collective@4/1,drop_push@2/1", 0, err, sizeof err), 0);
    assert_int_equal(birdie_fault_active(BIRDIE_FAULT_HANG_COLLECTIVE, 9), 0); /* rank 0 is spared */
    /* drop_push runs in rank 0's coordinator: its rank is whose directive is dropped */
    assert_int_equal(birdie_fault_fire_for_rank(BIRDIE_FAULT_DROP_PUSH, 5, 0), 0);
    assert_int_equal(birdie_fault_fire_for_rank(BIRDIE_FAULT_DROP_PUSH, 5, 1), 1);
    assert_int_equal(birdie_fault_arm("hang_collective@4/1", 1, err, sizeof err), 0);
    assert_int_equal(birdie_fault_fire(BIRDIE_FAULT_HANG_COLLECTIVE, 4), 1);
    assert_int_equal(birdie_fault_arm("drop_push@2", 0, err, sizeof err), 0); /* every rank */
    assert_int_equal(birdie_fault_fire_for_rank(BIRDIE_FAULT_DROP_PUSH, 2, 3), 1);
}

static void test_bad_specs(void **state)
{
    (void)state;
    const struct {
        const char *spec, *says;
    } bad[] = {
        {"kill", "point@step"},        {"explode@3", "unknown point 'explode'"}, {"kill@", "needs a step"},
        {"kill@-1", "needs a step"},   {"kill@3=0", "count after '='"},          {"kill@3/x", "rank after '/'"},
        {"kill@3x", "unexpected 'x'"}, {"kill@1,kill@2", "given twice"},         {"kill@3=2/1/2", "unexpected"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[256] = "";
        assert_int_equal(birdie_fault_arm(bad[i].spec, 0, err, sizeof err), -EINVAL);
        if (!strstr(err, bad[i].says))
            fail_msg("'%s': message '%s' lacks '%s'", bad[i].spec, err, bad[i].says);
    }
    /* a bad spec arms nothing, not even its good entries */
    char err[256];
    assert_int_equal(birdie_fault_arm("nan_loss@1,bogus@2", 0, err, sizeof err), -EINVAL);
    assert_int_equal(birdie_fault_active(BIRDIE_FAULT_NAN_LOSS, 5), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unarmed_never_fires),
        cmocka_unit_test(test_step_and_count),
        cmocka_unit_test(test_rank_filter),
        cmocka_unit_test(test_bad_specs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
