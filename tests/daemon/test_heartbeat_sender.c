/* tests/daemon/test_heartbeat_sender.c: heartbeats from a background thread (daemon/heartbeat_sender.c)
 * against a real coordinator: the newest posted heartbeat is what the coordinator shows after a
 * flush, a rejected heartbeat's error comes back from flush and from every later post, and stopping
 * with one still waiting leaves a whole posted heartbeat (or none) and the worker client usable. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "daemon/heartbeat_sender.h"
#include "tests/daemon/two_ranks.h"

static worker_heartbeat beat(int64_t step)
{
    return (worker_heartbeat){.step = step,
                              .tokens_per_s = 100.0 + (double)step,
                              .applied_version = 0,
                              .applied_step = 0,
                              .loss = 2.0,
                              .lr = 1e-3,
                              .grad_norm = 1.0};
}

static void test_newest_heartbeat_arrives(void **state)
{
    two_ranks *t = *state;
    char err[512] = "";
    heartbeat_sender *s = heartbeat_sender_start(t->w0, err, sizeof err);
    assert_non_null(s);
    for (int64_t step = 1; step <= 200; step++) {
        worker_heartbeat hb = beat(step);
        assert_int_equal(heartbeat_sender_post(s, &hb, err, sizeof err), 0);
    }
    assert_int_equal(heartbeat_sender_flush(s, TWO_RANKS_DEADLINE_MS, err, sizeof err), 0);
    Birdie__V1__GetStatusResponse *st = get_status(t->ch);
    assert_int_equal(st->ranks[0]->step, 200);
    assert_true(st->ranks[0]->tokens_per_s == 300.0);
    protobuf_c_message_free_unpacked(&st->base, NULL);
    /* a flush with nothing posted returns at once */
    assert_int_equal(heartbeat_sender_flush(s, 1, err, sizeof err), 0);
    heartbeat_sender_stop(s);
}

static void test_rejected_heartbeat_is_kept(void **state)
{
    two_ranks *t = *state;
    char err[512] = "";
    heartbeat_sender *s = heartbeat_sender_start(t->w1, err, sizeof err);
    assert_non_null(s);
    worker_heartbeat hb = beat(10);
    hb.applied_step = 11; /* after the step itself: INVALID_ARGUMENT */
    assert_int_equal(heartbeat_sender_post(s, &hb, err, sizeof err), 0);
    int rc = heartbeat_sender_flush(s, TWO_RANKS_DEADLINE_MS, err, sizeof err);
    assert_int_equal(worker_client_rpc_code(rc), GRPC_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(err, "applied_step"));
    hb = beat(11);
    err[0] = '\0';
    assert_int_equal(heartbeat_sender_post(s, &hb, err, sizeof err), rc);
    assert_non_null(strstr(err, "applied_step"));
    heartbeat_sender_stop(s);
}

static void test_stop_with_heartbeat_waiting(void **state)
{
    two_ranks *t = *state;
    char err[512] = "";
    heartbeat_sender *s = heartbeat_sender_start(t->w0, err, sizeof err);
    assert_non_null(s);
    for (int64_t step = 1; step <= 20; step++) {
        worker_heartbeat hb = beat(step);
        assert_int_equal(heartbeat_sender_post(s, &hb, err, sizeof err), 0);
    }
    heartbeat_sender_stop(s);
    heartbeat_sender_stop(NULL);
    /* Stop joined the thread, so whatever reached the coordinator is final: one of the posted
     * heartbeats whole (its tokens_per_s is 100 + its step), or none at all (step 0). Which one
     * depends on the scheduling and is not asserted. */
    Birdie__V1__GetStatusResponse *st = get_status(t->ch);
    int64_t shown = st->ranks[0]->step;
    double tps = st->ranks[0]->tokens_per_s;
    protobuf_c_message_free_unpacked(&st->base, NULL);
    assert_true(shown >= 0 && shown <= 20);
    if (shown > 0)
        assert_true(tps == 100.0 + (double)shown);
    /* the worker client is the caller's, not the sender's: it still works after stop, and nothing
     * from the stopped sender arrives after a later heartbeat to overwrite it */
    worker_heartbeat hb = beat(21);
    assert_int_equal(worker_client_heartbeat(t->w0, &hb, err, sizeof err), 0);
    st = get_status(t->ch);
    assert_int_equal(st->ranks[0]->step, 21);
    assert_true(st->ranks[0]->tokens_per_s == 121.0);
    protobuf_c_message_free_unpacked(&st->base, NULL);
    /* a new sender on the same client picks up where the old one stopped */
    s = heartbeat_sender_start(t->w0, err, sizeof err);
    assert_non_null(s);
    hb = beat(22);
    assert_int_equal(heartbeat_sender_post(s, &hb, err, sizeof err), 0);
    assert_int_equal(heartbeat_sender_flush(s, TWO_RANKS_DEADLINE_MS, err, sizeof err), 0);
    heartbeat_sender_stop(s);
    st = get_status(t->ch);
    assert_int_equal(st->ranks[0]->step, 22);
    protobuf_c_message_free_unpacked(&st->base, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_newest_heartbeat_arrives, setup_two, teardown_two),
        cmocka_unit_test_setup_teardown(test_rejected_heartbeat_is_kept, setup_two, teardown_two),
        cmocka_unit_test_setup_teardown(test_stop_with_heartbeat_waiting, setup_two, teardown_two),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
