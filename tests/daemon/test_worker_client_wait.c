/* Tests of the wait for a scheduler decision, in-process on 127.0.0.1:0: worker_client_wait wakes on
 * ANY of the conditions it is given (a new mixture version, a pause, a stop), says which one woke it,
 * and times out (0) only when none arrives; the birdie_control wait that run_link.c builds on it
 * returns 1 as soon as the decision after a reported evaluation arrives, with the scheduler of a
 * real run behind the coordinator.
 *
 * Waking "as soon as" is checked without timing the wait: the waiter is given a 60 s timeout and the
 * test gives it 30 s to return with the decision, so only a wait that sleeps out its timeout instead
 * of waking on the arrival can fail, by a margin of seconds to the millisecond the wake takes.
 * Not covered here: the coordinator's own rules (test_coordinator.c) and the training loop's use of
 * the wait (the daemon end to end test). */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "birdie/v1/birdie.pb-c.h"
#include "daemon/run_link.h"
#include "daemon/worker_client.h"
#include "tests/daemon/daemon_fixture.h"
#include "tests/daemon/two_ranks.h"
#include "worker/clock.h"

#define LONG_WAIT_MS 60000 /* the waiter's own timeout: never reached by a wait that wakes on arrival */
#define WAKE_DEADLINE_S 30 /* how long the test gives the waiter to come back with the decision */
#define QUIET_WAIT_MS 150 /* a wait for something that never comes */
#define TOKEN "wait-test-token"
#define LINK_ARMS 3 /* the arms of the run_link tests' configuration */

static const double g_loss[FIX_N_ARMS] = {4, 3, 2, 1};
static const double g_tokens[FIX_N_ARMS] = {10, 10, 10, 10};

/* ---- a waiter on its own thread, so the decision can be pushed while it is blocked ---- */

typedef int (*wait_fn)(void *ctx, int64_t min_version, int timeout_ms);

typedef struct waiter {
    wait_fn fn;
    void *ctx;
    int64_t min_version;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int started, done, result;
} waiter;

static void *waiter_main(void *arg)
{
    waiter *w = arg;
    pthread_mutex_lock(&w->mu);
    w->started = 1;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    int r = w->fn(w->ctx, w->min_version, LONG_WAIT_MS);
    pthread_mutex_lock(&w->mu);
    w->result = r;
    w->done = 1;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* Starts the waiter and returns once its thread is about to enter the wait. */
static waiter *waiter_start(wait_fn fn, void *ctx, int64_t min_version)
{
    waiter *w = calloc(1, sizeof *w);
    assert_non_null(w);
    *w = (waiter){.fn = fn, .ctx = ctx, .min_version = min_version};
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    assert_int_equal(pthread_create(&w->thread, NULL, waiter_main, w), 0);
    pthread_mutex_lock(&w->mu);
    while (!w->started)
        pthread_cond_wait(&w->cv, &w->mu);
    pthread_mutex_unlock(&w->mu);
    return w;
}

/* The waiter's result once it returned within WAKE_DEADLINE_S (it is freed). A waiter still blocked
 * then is left running, with what it waits on, and the test fails: freeing that under it would be
 * worse. */
static int waiter_result(waiter *w)
{
    struct timespec until = birdie_realtime_after_ms(WAKE_DEADLINE_S * 1000);
    pthread_mutex_lock(&w->mu);
    while (!w->done && pthread_cond_timedwait(&w->cv, &w->mu, &until) == 0) {
    }
    int done = w->done, result = w->result;
    pthread_mutex_unlock(&w->mu);
    if (!done)
        fail_msg("the wait did not return within %d s of the decision (its own timeout is %d s): it sleeps out its "
                 "timeout instead of waking on the arrival",
                 WAKE_DEADLINE_S, LONG_WAIT_MS / 1000);
    pthread_join(w->thread, NULL);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
    return result;
}

/* ---- worker_client_wait against the fixture's coordinator (world of one, fake scheduler) ---- */

typedef struct one_rank {
    fixture f;
    worker_client *w;
    birdie_rpc_channel *ch;
    int leaked; /* a waiter still holds w: leave it be */
} one_rank;

static int setup_one(void **state)
{
    one_rank *t = calloc(1, sizeof *t);
    if (!t || fix_start(&t->f, 1, 1, 30000))
        return -1;
    t->w = open_worker(&t->f, 0, 1);
    t->ch = fix_channel(&t->f, FIX_TOKEN);
    *state = t;
    return 0;
}

static int teardown_one(void **state)
{
    one_rank *t = *state;
    if (t->leaked)
        return 0;
    worker_client_close(t->w);
    birdie_rpc_channel_close(t->ch);
    fix_stop(&t->f);
    free(t);
    return 0;
}

static int64_t version_now(worker_client *w)
{
    worker_directive d;
    worker_client_poll(w, &d, NULL);
    return d.version;
}

/* The first directive (the mixture in force) arrives on the stream soon after Register. */
static int64_t first_version(worker_client *w)
{
    assert_int_equal(worker_client_wait(w, 0, WORKER_WAKE_VERSION, 30000), WORKER_WAKE_VERSION);
    return version_now(w);
}

/* One rank's evaluation completes the round: the fake scheduler publishes a new mixture. */
static void report(worker_client *w, int64_t step)
{
    char err[512];
    int complete = 0;
    if (worker_client_report_eval(w, step, g_loss, g_tokens, &complete, err, sizeof err))
        fail_msg("ReportEval: %s", err);
    assert_true(complete);
}

static int wait_version_or_stop(void *ctx, int64_t min_version, int timeout_ms)
{
    return worker_client_wait(ctx, min_version, WORKER_WAKE_VERSION | WORKER_WAKE_STOP, timeout_ms);
}

static void test_version_alone_wakes_a_wait_that_also_accepts_stop(void **state)
{
    one_rank *t = *state;
    int64_t v0 = first_version(t->w);
    report(t->w, 10);
    /* the run is not stopped: the version alone must end the wait, and it is the one named */
    assert_int_equal(
        worker_client_wait(t->w, v0 + 1, WORKER_WAKE_VERSION | WORKER_WAKE_STOP | WORKER_WAKE_PAUSE, 30000),
        WORKER_WAKE_VERSION);
    assert_true(version_now(t->w) >= v0 + 1);
}

static void test_blocked_wait_wakes_when_the_decision_arrives(void **state)
{
    one_rank *t = *state;
    int64_t v0 = first_version(t->w);
    t->leaked = 1;
    waiter *w = waiter_start(wait_version_or_stop, t->w, v0 + 1);
    report(t->w, 10);
    assert_int_equal(waiter_result(w), WORKER_WAKE_VERSION);
    t->leaked = 0;
    assert_true(version_now(t->w) >= v0 + 1);
}

static void test_times_out_only_when_nothing_arrives(void **state)
{
    one_rank *t = *state;
    int64_t v0 = first_version(t->w);
    /* nothing reported, not paused, not stopped */
    assert_int_equal(
        worker_client_wait(t->w, v0 + 1, WORKER_WAKE_VERSION | WORKER_WAKE_PAUSE | WORKER_WAKE_STOP, QUIET_WAIT_MS), 0);
    /* what already holds ends the wait at once, even with no time to wait */
    assert_int_equal(worker_client_wait(t->w, v0, WORKER_WAKE_VERSION | WORKER_WAKE_STOP, 0), WORKER_WAKE_VERSION);
    /* a condition not asked for does not count: the version holds, but only a stop is awaited */
    assert_int_equal(worker_client_wait(t->w, v0, WORKER_WAKE_STOP, QUIET_WAIT_MS), 0);
    assert_int_equal(worker_client_wait(t->w, v0, 0, QUIET_WAIT_MS), 0);
}

static void test_pause_and_stop_each_wake_and_are_named(void **state)
{
    one_rank *t = *state;
    int64_t v0 = first_version(t->w);
    const int any = WORKER_WAKE_VERSION | WORKER_WAKE_PAUSE | WORKER_WAKE_STOP;
    assert_int_equal(control(t->ch, "/birdie.v1.Control/Pause"), GRPC_STATUS_OK);
    /* no newer version will come: the pause alone wakes it */
    assert_int_equal(worker_client_wait(t->w, v0 + 1, any, 30000), WORKER_WAKE_PAUSE);
    /* the version in force holds as well: both are named, and only what was asked */
    assert_int_equal(worker_client_wait(t->w, v0, any, 0), WORKER_WAKE_VERSION | WORKER_WAKE_PAUSE);
    assert_int_equal(worker_client_wait(t->w, v0, WORKER_WAKE_VERSION, 0), WORKER_WAKE_VERSION);
    assert_int_equal(worker_client_wait(t->w, v0 + 1, WORKER_WAKE_VERSION | WORKER_WAKE_STOP, QUIET_WAIT_MS), 0);
    assert_int_equal(control(t->ch, "/birdie.v1.Control/Stop"), GRPC_STATUS_OK);
    assert_int_equal(worker_client_wait(t->w, v0 + 1, WORKER_WAKE_VERSION | WORKER_WAKE_STOP, 30000), WORKER_WAKE_STOP);
}

/* ---- the birdie_control wait of run_link.c, with a real scheduler behind the coordinator ---- */

typedef struct linked {
    char dir[256];
    birdie_collective *coll;
    birdie_run_link *link;
    birdie_control ctl;
    char *log_text;
    size_t log_len;
    FILE *log;
    int leaked;
} linked;

static int setup_link(void **state)
{
    linked *t = calloc(1, sizeof *t);
    if (!t)
        return -1;
    snprintf(t->dir, sizeof t->dir, "/tmp/birdie-wait-XXXXXX");
    if (!mkdtemp(t->dir))
        return -1;
    birdie_config cfg;
    birdie_config_defaults(&cfg);
    char err[512], set[1400];
    const char *sets[] = {"model.size=XS",
                          "train.seq_len=128",
                          "objectives.mixture=birdie",
                          "objectives.arms=ntp len=16-128; copying len=8-48; infill len=16-96 rate=0.15 width=4",
                          "daemon.listen=127.0.0.1:0",
                          "daemon.decision_timeout_s=60",
                          "daemon.eval_deadline_s=60"};
    for (size_t i = 0; i < sizeof sets / sizeof *sets; i++)
        if (birdie_config_set(&cfg, sets[i], err, sizeof err) < 0) {
            fprintf(stderr, "config %s: %s\n", sets[i], err);
            return -1;
        }
    snprintf(set, sizeof set, "daemon.db=%s/run.db", t->dir);
    if (birdie_config_set(&cfg, set, err, sizeof err) < 0 || birdie_config_validate(&cfg, err, sizeof err) < 0) {
        fprintf(stderr, "config: %s\n", err);
        return -1;
    }
    t->coll = birdie_collective_single();
    t->log = open_memstream(&t->log_text, &t->log_len);
    if (!t->coll || !t->log)
        return -1;
    if (birdie_run_link_open(&cfg, t->coll, TOKEN, NULL, t->log, &t->ctl, &t->link, err, sizeof err) < 0) {
        fprintf(stderr, "birdie_run_link_open: %s\n", err);
        return -1;
    }
    *state = t;
    return 0;
}

static int teardown_link(void **state)
{
    linked *t = *state;
    if (t->leaked)
        return 0;
    birdie_run_link_close(t->link, t->coll);
    t->coll->destroy(t->coll);
    fclose(t->log);
    free(t->log_text);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", t->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", t->dir);
    free(t);
    return 0;
}

static int64_t link_version(linked *t)
{
    birdie_control_state st;
    t->ctl.poll(t->ctl.ctx, &st, NULL);
    return st.version;
}

static int64_t link_first_version(linked *t)
{
    assert_int_equal(t->ctl.wait(t->ctl.ctx, 0, 0, 30000), 1);
    return link_version(t);
}

static void link_report(linked *t, int64_t step)
{
    double loss[LINK_ARMS] = {3.1, 2.2, 2.7}, tokens[LINK_ARMS] = {100, 100, 100};
    char err[512];
    if (t->ctl.report_eval(t->ctl.ctx, step, loss, tokens, err, sizeof err) < 0)
        fail_msg("report_eval: %s", err);
}

/* The coordinator's address, from the line run_link logs when it is up. */
static birdie_rpc_channel *link_channel(linked *t)
{
    fflush(t->log);
    const char *at = t->log_text ? strstr(t->log_text, "listening on ") : NULL;
    char addr[128];
    if (!at || sscanf(at, "listening on %127s", addr) != 1)
        fail_msg("no address in the run_link log: %s", t->log_text ? t->log_text : "");
    birdie_rpc_channel *ch = NULL;
    char err[256];
    if (birdie_rpc_channel_open(addr, TOKEN, &ch, err, sizeof err) < 0)
        fail_msg("channel to %s: %s", addr, err);
    return ch;
}

static int link_wait_version(void *ctx, int64_t min_version, int timeout_ms)
{
    const birdie_control *ctl = ctx;
    return ctl->wait(ctl->ctx, min_version, 0, timeout_ms);
}

static void test_link_wait_returns_1_on_the_decision(void **state)
{
    linked *t = *state;
    assert_true(t->ctl.scheduler_remote);
    int64_t v0 = link_first_version(t);
    link_report(t, 10);
    /* the run is neither stopped nor paused: the decision's version alone must end the wait */
    assert_int_equal(t->ctl.wait(t->ctl.ctx, v0 + 1, 0, 30000), 1);
    assert_true(link_version(t) >= v0 + 1);
}

static void test_link_wait_wakes_when_the_decision_arrives(void **state)
{
    linked *t = *state;
    int64_t v0 = link_first_version(t);
    t->leaked = 1;
    waiter *w = waiter_start(link_wait_version, &t->ctl, v0 + 1);
    link_report(t, 10);
    assert_int_equal(waiter_result(w), 1);
    t->leaked = 0;
    assert_true(link_version(t) >= v0 + 1);
}

static void test_link_wait_times_out_without_a_decision_and_wakes_on_stop(void **state)
{
    linked *t = *state;
    int64_t v0 = link_first_version(t);
    assert_int_equal(t->ctl.wait(t->ctl.ctx, v0 + 1, 0, QUIET_WAIT_MS), 0);
    birdie_rpc_channel *ch = link_channel(t);
    assert_int_equal(control(ch, "/birdie.v1.Control/Stop"), GRPC_STATUS_OK);
    birdie_rpc_channel_close(ch);
    /* no decision will come: the stop ends the wait */
    assert_int_equal(t->ctl.wait(t->ctl.ctx, v0 + 1, 0, 30000), 1);
    birdie_control_state st;
    t->ctl.poll(t->ctl.ctx, &st, NULL);
    assert_true(st.stop);
    assert_true(st.version < v0 + 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_version_alone_wakes_a_wait_that_also_accepts_stop, setup_one,
                                        teardown_one),
        cmocka_unit_test_setup_teardown(test_blocked_wait_wakes_when_the_decision_arrives, setup_one, teardown_one),
        cmocka_unit_test_setup_teardown(test_times_out_only_when_nothing_arrives, setup_one, teardown_one),
        cmocka_unit_test_setup_teardown(test_pause_and_stop_each_wake_and_are_named, setup_one, teardown_one),
        cmocka_unit_test_setup_teardown(test_link_wait_returns_1_on_the_decision, setup_link, teardown_link),
        cmocka_unit_test_setup_teardown(test_link_wait_wakes_when_the_decision_arrives, setup_link, teardown_link),
        cmocka_unit_test_setup_teardown(test_link_wait_times_out_without_a_decision_and_wakes_on_stop, setup_link,
                                        teardown_link),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
