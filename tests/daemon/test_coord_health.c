/* Tests of daemon/coord_health.c, grpc.health.v1 as docs/design.md §9.2 specifies it.
 *
 * The decision itself is a function of the coordinator's state and a time given to it, so its rules
 * are pinned without a clock: every run state, a stalled rank, the progress deadline at its exact
 * boundary (COORD_HEALTH_STEP_FACTOR recent step times, never under stall_after_ms), and the step-time
 * average that deadline follows. Over gRPC, against an in-process coordinator, each case flips
 * Check and a Health/Watch stream: starting -> running (every rank registered), paused (still
 * SERVING), stopping, stopped, failed, a rank whose heartbeats stop, and steps that stop while
 * heartbeats go on. Flips back to SERVING are read from the Watch stream, which is pushed the change
 * by the event that causes it; waits for NOT_SERVING have generous deadlines, never a fixed sleep. */
#define _GNU_SOURCE
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "birdie/v1/birdie.pb-c.h"
#include "daemon/coordinator_internal.h"
#include "daemon/worker_client.h"
#include "grpc/health/v1/health.pb-c.h"
#include "tests/daemon/daemon_fixture.h"
#include "tests/daemon/two_ranks.h"
#include "worker/clock.h"

#define SERVING GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
#define NOT_SERVING GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING
#define SERVICE_UNKNOWN GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN

/* ---- the rules, without a clock ----------------------------------------------------------------- */

typedef struct fake_co {
    coordinator co;
    rank_info ranks[3];
} fake_co;

/* A running world of three whose last step finished at t = 1000 ms, step time unknown, floor 300 ms. */
static void fake_running(fake_co *f)
{
    memset(f, 0, sizeof *f);
    f->co.world_size = 3;
    f->co.ranks = f->ranks;
    f->co.state = RUN_RUNNING;
    f->co.stall_after_ms = 300;
    f->co.progress_ms = 1000;
}

static void test_rules_by_state(void **state)
{
    (void)state;
    fake_co f;
    char why[256];
    fake_running(&f);
    assert_int_equal(coord_health_serving(&f.co, 1000, why, sizeof why), 1);
    assert_string_equal(why, "steps complete");
    static const run_state not_serving[] = {RUN_STARTING, RUN_STOPPING, RUN_FINISHED, RUN_FAILED, RUN_STOPPED};
    for (size_t i = 0; i < sizeof not_serving / sizeof not_serving[0]; i++) {
        f.co.state = not_serving[i];
        assert_int_equal(coord_health_serving(&f.co, 1000, why, sizeof why), 0);
        assert_non_null(strstr(why, coord_run_state_name(not_serving[i])));
    }
    /* paused: SERVING however long ago the last step was, even with a rank flagged */
    f.co.state = RUN_PAUSED;
    f.ranks[1].stalled = 1;
    assert_int_equal(coord_health_serving(&f.co, 1000 + 3600 * 1000, why, sizeof why), 1);
    assert_non_null(strstr(why, "paused"));
    /* a coordinator on its way out is NOT_SERVING whatever the run does */
    fake_running(&f);
    f.co.draining = 1;
    assert_int_equal(coord_health_serving(&f.co, 1000, NULL, 0), 0);
    fake_running(&f);
    f.co.shutting_down = 1;
    assert_int_equal(coord_health_serving(&f.co, 1000, why, sizeof why), 0);
    assert_non_null(strstr(why, "shutting down"));
}

static void test_rules_stalled_rank(void **state)
{
    (void)state;
    fake_co f;
    char why[256];
    for (int r = 0; r < 3; r++) { /* the last rank too: a loop that stops one short misses it */
        fake_running(&f);
        f.ranks[r].stalled = 1;
        assert_int_equal(coord_health_serving(&f.co, 1000, why, sizeof why), 0);
        char want[64];
        snprintf(want, sizeof want, "rank %d is stalled", r);
        assert_non_null(strstr(why, want));
    }
}

/* The deadline is max(stall_after_ms, COORD_HEALTH_STEP_FACTOR x step time), checked at its edge. */
static void test_rules_progress_deadline(void **state)
{
    (void)state;
    fake_co f;
    char why[256];
    fake_running(&f);
    /* step time unknown: the floor */
    assert_int_equal(coord_health_serving(&f.co, 1000 + 300, NULL, 0), 1);
    assert_int_equal(coord_health_serving(&f.co, 1000 + 301, why, sizeof why), 0);
    assert_non_null(strstr(why, "no step finished"));
    /* short steps: still the floor */
    f.co.step_ms = 20;
    assert_int_equal(coord_health_serving(&f.co, 1000 + 300, NULL, 0), 1);
    assert_int_equal(coord_health_serving(&f.co, 1000 + 301, NULL, 0), 0);
    /* long steps: the factor times the step time */
    f.co.step_ms = 100;
    assert_int_equal(COORD_HEALTH_STEP_FACTOR, 10);
    assert_int_equal(coord_health_serving(&f.co, 1000 + 1000, NULL, 0), 1);
    assert_int_equal(coord_health_serving(&f.co, 1000 + 1001, why, sizeof why), 0);
    assert_non_null(strstr(why, "deadline 1.0 s"));
}

/* The progress clock: a (re)start does not count as a step, so the first advance after it does not
 * enter the step-time average; later advances do, per step, as 0.8 x old + 0.2 x new. */
static void test_progress_clock(void **state)
{
    (void)state;
    fake_co f;
    fake_running(&f);
    coord_health_progress(&f.co, 5000, 0); /* entered running at 5 s */
    assert_int_equal(f.co.progress_ms, 5000);
    assert_true(f.co.step_ms == 0);
    coord_health_progress(&f.co, 9000, 3); /* the first steps came 4 s later (start-up): not a step time */
    assert_int_equal(f.co.progress_ms, 9000);
    assert_true(f.co.step_ms == 0);
    coord_health_progress(&f.co, 9400, 2); /* 200 ms per step */
    assert_true(f.co.step_ms == 200);
    coord_health_progress(&f.co, 9500, 1); /* 100 ms: 0.8 x 200 + 0.2 x 100 */
    assert_true(fabs(f.co.step_ms - 180) < 1e-9);
    coord_health_progress(&f.co, 20000, 0); /* a resume after a pause */
    coord_health_progress(&f.co, 20500, 1);
    assert_true(fabs(f.co.step_ms - 180) < 1e-9);
    assert_int_equal(f.co.progress_ms, 20500);
}

/* ---- over gRPC ---------------------------------------------------------------------------------- */

static int check(const fixture *f, const char *service, grpc_status_code *code)
{
    birdie_rpc_channel *ch = fix_channel(f, NULL); /* probes send no token */
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    req.service = (char *)service;
    ProtobufCMessage *resp = NULL;
    birdie_rpc_status st;
    int status = -1;
    if (birdie_rpc_unary(ch, "/grpc.health.v1.Health/Check", &req.base,
                         &grpc__health__v1__health_check_response__descriptor, &resp, 5000, &st) == 0) {
        status = ((Grpc__Health__V1__HealthCheckResponse *)resp)->status;
        protobuf_c_message_free_unpacked(resp, NULL);
    }
    if (code)
        *code = st.code;
    birdie_rpc_channel_close(ch);
    return status;
}

typedef struct health_watch {
    birdie_rpc_channel *ch;
    birdie_rpc_stream *s;
} health_watch;

static health_watch watch_open(const fixture *f, const char *service)
{
    health_watch w = {.ch = fix_channel(f, NULL)};
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    req.service = (char *)service;
    birdie_rpc_status st;
    assert_int_equal(birdie_rpc_stream_open(w.ch, "/grpc.health.v1.Health/Watch", &req.base, 20000, &w.s, &st), 0);
    return w;
}

/* The next status the stream sends (the call's 20 s deadline bounds the wait); -1 if it ended. */
static int watch_next(health_watch *w)
{
    ProtobufCMessage *m = NULL;
    birdie_rpc_status st;
    if (birdie_rpc_stream_next(w->s, &grpc__health__v1__health_check_response__descriptor, &m, &st) != 1)
        return -1;
    int status = ((Grpc__Health__V1__HealthCheckResponse *)m)->status;
    protobuf_c_message_free_unpacked(m, NULL);
    return status;
}

static void watch_close(health_watch *w)
{
    birdie_rpc_stream_close(w->s);
    birdie_rpc_channel_close(w->ch);
}

static void beat(worker_client *w, int64_t step)
{
    worker_heartbeat hb = {.step = step, .loss = NAN, .lr = NAN, .grad_norm = NAN};
    char err[256];
    if (worker_client_heartbeat(w, &hb, err, sizeof err))
        fail_msg("heartbeat: %s", err);
}

/* starting -> running -> paused -> running -> stopping -> stopped, as Check and Watch see it. */
static void test_health_follows_the_run_state(void **state)
{
    (void)state;
    fixture f;
    assert_int_equal(fix_start(&f, 2, 1, 3000), 0);
    health_watch all = watch_open(&f, ""), ctl = watch_open(&f, "birdie.v1.Control");
    health_watch unknown = watch_open(&f, "no.such.Service");
    assert_int_equal(watch_next(&unknown), SERVICE_UNKNOWN);
    grpc_status_code code;
    assert_int_equal(check(&f, "no.such.Service", &code), -1);
    assert_int_equal(code, GRPC_STATUS_NOT_FOUND);
    assert_int_equal(watch_next(&all), NOT_SERVING); /* starting: nothing trains yet */
    assert_int_equal(watch_next(&ctl), NOT_SERVING);
    worker_client *w0 = open_worker(&f, 0, 2);
    assert_int_equal(check(&f, "", NULL), NOT_SERVING); /* one rank of two */
    worker_client *w1 = open_worker(&f, 1, 2);
    assert_int_equal(watch_next(&all), SERVING);
    assert_int_equal(watch_next(&ctl), SERVING);
    assert_int_equal(check(&f, "birdie.v1.Coordinator", NULL), SERVING);
    birdie_rpc_channel *ch = fix_channel(&f, FIX_TOKEN);
    assert_int_equal(control(ch, "/birdie.v1.Control/Pause"), GRPC_STATUS_OK);
    assert_int_equal(check(&f, "", NULL), SERVING); /* paused is SERVING (docs/design.md §9.2) */
    assert_int_equal(control(ch, "/birdie.v1.Control/Resume"), GRPC_STATUS_OK);
    beat(w0, 1);
    beat(w1, 1);
    assert_int_equal(control(ch, "/birdie.v1.Control/Stop"), GRPC_STATUS_OK);
    assert_int_equal(watch_next(&all), NOT_SERVING); /* stopping */
    assert_int_equal(check(&f, "", NULL), NOT_SERVING);
    char err[256];
    assert_int_equal(worker_client_finish(w0, 1, 0, "", err, sizeof err), 0);
    assert_int_equal(worker_client_finish(w1, 1, 0, "", err, sizeof err), 0);
    char s[32];
    coordinator_state(f.co, s, sizeof s);
    assert_string_equal(s, "stopped");
    assert_int_equal(check(&f, "", NULL), NOT_SERVING);
    watch_close(&all);
    watch_close(&ctl);
    watch_close(&unknown);
    worker_client_close(w0);
    worker_client_close(w1);
    birdie_rpc_channel_close(ch);
    fix_stop(&f);
}

/* A finished run and a failed one are NOT_SERVING. */
static void test_health_after_the_end(void **state)
{
    (void)state;
    for (int failed = 0; failed < 2; failed++) {
        fixture f;
        assert_int_equal(fix_start(&f, 1, 1, 3000), 0);
        worker_client *w = open_worker(&f, 0, 1);
        health_watch hw = watch_open(&f, "");
        assert_int_equal(watch_next(&hw), SERVING);
        char err[256];
        assert_int_equal(worker_client_finish(w, 7, failed, failed ? "boom" : "", err, sizeof err), 0);
        assert_int_equal(watch_next(&hw), NOT_SERVING);
        char s[32];
        coordinator_state(f.co, s, sizeof s);
        assert_string_equal(s, failed ? "failed" : "finished");
        assert_int_equal(check(&f, "", NULL), NOT_SERVING);
        watch_close(&hw);
        worker_client_close(w);
        fix_stop(&f);
    }
}

static void close_two(two_ranks *t)
{
    worker_client_close(t->w0);
    worker_client_close(t->w1);
    birdie_rpc_channel_close(t->ch);
    fix_stop(&t->f);
}

/* Rank 0 keeps finishing steps while rank 1 goes silent: NOT_SERVING once rank 1 is flagged, and
 * SERVING again with rank 1's next heartbeat. */
static void test_stalled_rank_is_not_serving(void **state)
{
    (void)state;
    two_ranks t;
    assert_int_equal(fix_start_stall(&t.f, 2, 1, 3000, 300), 0);
    t.w0 = open_worker(&t.f, 0, 2);
    t.w1 = open_worker(&t.f, 1, 2);
    t.ch = fix_channel(&t.f, FIX_TOKEN);
    beat(t.w0, 1);
    beat(t.w1, 1);
    int status = SERVING, stalled = 0;
    int64_t step = 1;
    for (int i = 0; i < 1000 && status == SERVING; i++) { /* up to 20 s */
        beat(t.w0, ++step);
        status = check(&t.f, "", NULL);
        usleep(20000);
    }
    assert_int_equal(status, NOT_SERVING);
    Birdie__V1__GetStatusResponse *s = get_status(t.ch);
    stalled = s->ranks[1]->stalled;
    protobuf_c_message_free_unpacked(&s->base, NULL);
    assert_true(stalled);
    health_watch hw = watch_open(&t.f, "");
    assert_int_equal(watch_next(&hw), NOT_SERVING);
    beat(t.w1, ++step); /* rank 1 is back (and this heartbeat is a new step, so progress is fresh too) */
    assert_int_equal(watch_next(&hw), SERVING);
    watch_close(&hw);
    close_two(&t);
}

/* Both ranks keep sending heartbeats but no step finishes: NOT_SERVING after the progress deadline,
 * with no rank stalled; the next step makes it SERVING. */
static void test_no_progress_is_not_serving(void **state)
{
    (void)state;
    two_ranks t;
    assert_int_equal(fix_start_stall(&t.f, 2, 1, 3000, 300), 0);
    t.w0 = open_worker(&t.f, 0, 2);
    t.w1 = open_worker(&t.f, 1, 2);
    t.ch = fix_channel(&t.f, FIX_TOKEN);
    beat(t.w0, 4);
    beat(t.w1, 4);
    int status = SERVING;
    for (int i = 0; i < 1000 && status == SERVING; i++) { /* up to 20 s */
        beat(t.w0, 4);
        beat(t.w1, 4);
        status = check(&t.f, "", NULL);
        usleep(20000);
    }
    assert_int_equal(status, NOT_SERVING);
    health_watch hw = watch_open(&t.f, "");
    assert_int_equal(watch_next(&hw), NOT_SERVING);
    beat(t.w0, 5);
    assert_int_equal(watch_next(&hw), SERVING);
    Birdie__V1__GetStatusResponse *s = get_status(t.ch);
    assert_false(s->ranks[0]->stalled || s->ranks[1]->stalled);
    protobuf_c_message_free_unpacked(&s->base, NULL);
    watch_close(&hw);
    close_two(&t);
}

/* A resume restarts the progress clock: however long the pause lasted (here longer than the 2 s
 * deadline), the resumed run is SERVING until the deadline passes again. The sleep only makes the
 * pause long enough; a correct coordinator answers SERVING whatever its length. */
static void test_resume_restarts_the_progress_clock(void **state)
{
    (void)state;
    fixture f;
    assert_int_equal(fix_start_stall(&f, 1, 1, 3000, 2000), 0);
    worker_client *w = open_worker(&f, 0, 1);
    birdie_rpc_channel *ch = fix_channel(&f, FIX_TOKEN);
    assert_int_equal(control(ch, "/birdie.v1.Control/Pause"), GRPC_STATUS_OK);
    usleep(2200 * 1000);
    assert_int_equal(check(&f, "", NULL), SERVING);
    assert_int_equal(control(ch, "/birdie.v1.Control/Resume"), GRPC_STATUS_OK);
    assert_int_equal(check(&f, "", NULL), SERVING);
    birdie_rpc_channel_close(ch);
    worker_client_close(w);
    fix_stop(&f);
}

/* A coordinator that stops ends its health streams (they do not hold the shutdown up). */
static void test_watch_ends_at_stop(void **state)
{
    (void)state;
    fixture f;
    assert_int_equal(fix_start(&f, 1, 1, 3000), 0);
    health_watch hw = watch_open(&f, "");
    assert_int_equal(watch_next(&hw), NOT_SERVING);
    int64_t t0 = birdie_monotonic_ms();
    coordinator_stop(f.co);
    f.co = NULL;
    assert_true(birdie_monotonic_ms() - t0 < 5000);
    assert_int_equal(watch_next(&hw), -1);
    watch_close(&hw);
    fix_stop(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rules_by_state),
        cmocka_unit_test(test_rules_stalled_rank),
        cmocka_unit_test(test_rules_progress_deadline),
        cmocka_unit_test(test_progress_clock),
        cmocka_unit_test(test_health_follows_the_run_state),
        cmocka_unit_test(test_health_after_the_end),
        cmocka_unit_test(test_stalled_rank_is_not_serving),
        cmocka_unit_test(test_no_progress_is_not_serving),
        cmocka_unit_test(test_resume_restarts_the_progress_clock),
        cmocka_unit_test(test_watch_ends_at_stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
