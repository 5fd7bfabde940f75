/* Tests of the coordinator's checkpoint methods, in-process on 127.0.0.1:0: Control.Checkpoint
 * (auth, run-state rules, checkpoint_seq reaching every worker_client, request-id retries, the
 * "checkpoint_requested" event) and Coordinator.ReportCheckpoint (every bad field refused with
 * INVALID_ARGUMENT and nothing written; a good report recorded once per step and shown by
 * GetStatus, GetHistory and Watch; the last checkpoint surviving a coordinator restart). */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "birdie/v1/birdie.pb-c.h"
#include "daemon/worker_client.h"
#include "tests/daemon/daemon_fixture.h"
#include "tests/daemon/two_ranks.h"

#define DEADLINE_MS 5000
#define SUM_A "0123456789abcdef"

static int64_t status_seq(birdie_rpc_channel *ch)
{
    Birdie__V1__GetStatusResponse *s = get_status(ch);
    int64_t seq = s->checkpoint_seq;
    protobuf_c_message_free_unpacked(&s->base, NULL);
    return seq;
}

/* Control.Checkpoint; returns the status code, *seq and *replayed on OK (either may be NULL). */
static grpc_status_code checkpoint(birdie_rpc_channel *ch, const char *reason, const char *request_id, int64_t *seq,
                                   int *replayed, birdie_rpc_status *st)
{
    Birdie__V1__CheckpointRequest req = BIRDIE__V1__CHECKPOINT_REQUEST__INIT;
    req.reason = (char *)(reason ? reason : "");
    req.request_id = (char *)(request_id ? request_id : "");
    ProtobufCMessage *r = NULL;
    birdie_rpc_status local;
    if (!st)
        st = &local;
    if (birdie_rpc_unary(ch, "/birdie.v1.Control/Checkpoint", &req.base, &birdie__v1__checkpoint_response__descriptor,
                         &r, DEADLINE_MS, st) == 0) {
        const Birdie__V1__CheckpointResponse *resp = (const void *)r;
        if (seq)
            *seq = resp->checkpoint_seq;
        if (replayed)
            *replayed = resp->replayed;
        protobuf_c_message_free_unpacked(r, NULL);
    }
    return st->code;
}

/* Raw Coordinator.ReportCheckpoint (for ranks a worker_client cannot claim). */
static grpc_status_code report_raw(birdie_rpc_channel *ch, int rank, int64_t step, const char *path, uint64_t bytes,
                                   const char *checksum, birdie_rpc_status *st)
{
    Birdie__V1__ReportCheckpointRequest req = BIRDIE__V1__REPORT_CHECKPOINT_REQUEST__INIT;
    req.rank = rank;
    req.step = step;
    req.path = (char *)path;
    req.bytes = bytes;
    req.checksum = (char *)checksum;
    ProtobufCMessage *r = NULL;
    if (birdie_rpc_unary(ch, "/birdie.v1.Coordinator/ReportCheckpoint", &req.base,
                         &birdie__v1__report_checkpoint_response__descriptor, &r, DEADLINE_MS, st) == 0)
        protobuf_c_message_free_unpacked(r, NULL);
    return st->code;
}

/* Polls until the worker holds checkpoint_seq >= want (3 s at most); returns the last value seen. */
static int64_t wait_seq(worker_client *wc, int64_t want)
{
    worker_directive d = {0};
    for (int i = 0; i < 150; i++) {
        worker_client_poll(wc, &d, NULL);
        if (d.checkpoint_seq >= want)
            break;
        usleep(20000);
    }
    return d.checkpoint_seq;
}

/* Opens a Control.Watch stream and consumes its first (snapshot) event. */
static birdie_rpc_stream *open_watch(birdie_rpc_channel *ch)
{
    Birdie__V1__WatchRequest req = BIRDIE__V1__WATCH_REQUEST__INIT;
    birdie_rpc_stream *s = NULL;
    birdie_rpc_status st;
    if (birdie_rpc_stream_open(ch, "/birdie.v1.Control/Watch", &req.base, 5000, &s, &st))
        fail_msg("Watch: %s", st.message);
    ProtobufCMessage *m = NULL;
    assert_int_equal(birdie_rpc_stream_next(s, &birdie__v1__event__descriptor, &m, &st), 1);
    assert_string_equal(((Birdie__V1__Event *)m)->kind, "state");
    protobuf_c_message_free_unpacked(m, NULL);
    return s;
}

static Birdie__V1__Event *next_event(birdie_rpc_stream *s)
{
    ProtobufCMessage *m = NULL;
    birdie_rpc_status st;
    if (birdie_rpc_stream_next(s, &birdie__v1__event__descriptor, &m, &st) != 1)
        fail_msg("Watch ended: %s", st.message);
    return (Birdie__V1__Event *)m;
}

/* ---- Control.Checkpoint ------------------------------------------------------------------------- */

static void test_checkpoint_needs_the_token(void **state)
{
    two_ranks *t = *state;
    birdie_rpc_channel *wrong = fix_channel(&t->f, "not-the-token");
    birdie_rpc_channel *none = fix_channel(&t->f, NULL);
    assert_int_equal(checkpoint(none, "x", NULL, NULL, NULL, NULL), GRPC_STATUS_UNAUTHENTICATED);
    assert_int_equal(checkpoint(wrong, "x", "id-1", NULL, NULL, NULL), GRPC_STATUS_UNAUTHENTICATED);
    assert_int_equal(status_seq(t->ch), 0);
    assert_int_equal(fix_count(&t->f, "checkpoint_requests", NULL), 0);
    assert_int_equal(fix_count(&t->f, "events", "kind = 'checkpoint_requested'"), 0);
    /* The refused id was never recorded: with the token it is a fresh request. */
    int64_t seq = -1;
    int replayed = -1;
    assert_int_equal(checkpoint(t->ch, "x", "id-1", &seq, &replayed, NULL), GRPC_STATUS_OK);
    assert_int_equal(seq, 1);
    assert_false(replayed);
    birdie_rpc_channel_close(wrong);
    birdie_rpc_channel_close(none);
}

static void test_checkpoint_seq_reaches_every_worker(void **state)
{
    two_ranks *t = *state;
    assert_true(worker_client_wait(t->w0, 0, WORKER_WAKE_VERSION, 3000));
    worker_directive d;
    worker_client_poll(t->w0, &d, NULL);
    assert_int_equal(d.checkpoint_seq, 0);
    birdie_rpc_stream *watch = open_watch(t->ch);
    int64_t seq = -1;
    assert_int_equal(checkpoint(t->ch, "before the big eval", NULL, &seq, NULL, NULL), GRPC_STATUS_OK);
    assert_int_equal(seq, 1);
    assert_int_equal(wait_seq(t->w0, 1), 1);
    assert_int_equal(wait_seq(t->w1, 1), 1);
    Birdie__V1__Event *ev = next_event(watch);
    assert_string_equal(ev->kind, "checkpoint_requested");
    assert_int_equal(ev->checkpoint_seq, 1);
    assert_string_equal(ev->detail, "before the big eval");
    protobuf_c_message_free_unpacked(&ev->base, NULL);
    birdie_rpc_stream_close(watch);
    assert_int_equal(checkpoint(t->ch, "", NULL, &seq, NULL, NULL), GRPC_STATUS_OK);
    assert_int_equal(seq, 2);
    assert_int_equal(wait_seq(t->w1, 2), 2);
    assert_int_equal(status_seq(t->ch), 2);
    /* Mixture and pause are untouched by a checkpoint request. */
    worker_client_poll(t->w1, &d, NULL);
    assert_int_equal(d.version, 0);
    assert_false(d.pause || d.stop);
    assert_int_equal(fix_count(&t->f, "checkpoint_requests", NULL), 2);
    assert_int_equal(fix_count(&t->f, "checkpoint_requests", "seq = 1 AND reason = 'before the big eval'"), 1);
    assert_int_equal(fix_count(&t->f, "events", "kind = 'checkpoint_requested' AND detail = 'before the big eval'"), 1);
    assert_int_equal(fix_count(&t->f, "events", "kind = 'checkpoint_requested'"), 2);
}

static void test_checkpoint_request_id_retry(void **state)
{
    two_ranks *t = *state;
    int64_t seq = -1;
    int replayed = -1;
    assert_int_equal(checkpoint(t->ch, "first", "ck-7", &seq, &replayed, NULL), GRPC_STATUS_OK);
    assert_int_equal(seq, 1);
    assert_false(replayed);
    /* The retry (even with another reason) answers the first result and changes nothing. */
    assert_int_equal(checkpoint(t->ch, "retry", "ck-7", &seq, &replayed, NULL), GRPC_STATUS_OK);
    assert_int_equal(seq, 1);
    assert_true(replayed);
    assert_int_equal(status_seq(t->ch), 1);
    assert_int_equal(fix_count(&t->f, "checkpoint_requests", NULL), 1);
    assert_int_equal(fix_count(&t->f, "events", "kind = 'checkpoint_requested'"), 1);
    assert_int_equal(checkpoint(t->ch, "second", "ck-8", &seq, &replayed, NULL), GRPC_STATUS_OK);
    assert_int_equal(seq, 2);
    assert_false(replayed);
    assert_int_equal(wait_seq(t->w0, 2), 2);
    /* Too long: refused whatever the state, nothing recorded. */
    char long_id[200];
    memset(long_id, 'a', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = 0;
    birdie_rpc_status st;
    assert_int_equal(checkpoint(t->ch, "", long_id, NULL, NULL, &st), GRPC_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(st.message, "request_id"));
    assert_int_equal(status_seq(t->ch), 2);
}

static void test_checkpoint_run_state_rules(void **state)
{
    fixture f;
    assert_int_equal(fix_start(&f, 2, 1, 3000), 0);
    birdie_rpc_channel *ch = fix_channel(&f, FIX_TOKEN);
    worker_client *w0 = open_worker(&f, 0, 2);
    /* Rank 1 has not registered: the run is starting. */
    birdie_rpc_status st;
    assert_int_equal(checkpoint(ch, "", NULL, NULL, NULL, &st), GRPC_STATUS_FAILED_PRECONDITION);
    assert_non_null(strstr(st.message, "starting"));
    worker_client *w1 = open_worker(&f, 1, 2);
    assert_int_equal(control(ch, "/birdie.v1.Control/Pause"), GRPC_STATUS_OK);
    int64_t seq = -1;
    assert_int_equal(checkpoint(ch, "while paused", "paused-1", &seq, NULL, NULL), GRPC_STATUS_OK);
    assert_int_equal(seq, 1);
    assert_int_equal(control(ch, "/birdie.v1.Control/Stop"), GRPC_STATUS_OK);
    assert_int_equal(checkpoint(ch, "", NULL, NULL, NULL, &st), GRPC_STATUS_FAILED_PRECONDITION);
    assert_non_null(strstr(st.message, "stopping"));
    char err[256];
    assert_int_equal(worker_client_finish(w0, 10, 0, "done", err, sizeof(err)), 0);
    assert_int_equal(worker_client_finish(w1, 10, 0, "done", err, sizeof(err)), 0);
    assert_int_equal(checkpoint(ch, "", NULL, NULL, NULL, &st), GRPC_STATUS_FAILED_PRECONDITION);
    assert_non_null(strstr(st.message, "stopped")); /* the operator's stop ended it */
    /* A late retry of an accepted request still gets its answer (as SetMixture's). */
    int replayed = 0;
    assert_int_equal(checkpoint(ch, "", "paused-1", &seq, &replayed, NULL), GRPC_STATUS_OK);
    assert_true(replayed && seq == 1);
    assert_int_equal(status_seq(ch), 1);
    assert_int_equal(fix_count(&f, "checkpoint_requests", NULL), 1);
    birdie_rpc_channel_close(ch);
    worker_client_close(w0);
    worker_client_close(w1);
    fix_stop(&f);
}

/* ---- Coordinator.ReportCheckpoint ---------------------------------------------------------------- */

static void expect_refused(int rc, const char *err, const char *needle)
{
    if (worker_client_rpc_code(rc) != GRPC_STATUS_INVALID_ARGUMENT)
        fail_msg("rc %d (%s), wanted INVALID_ARGUMENT", rc, err);
    if (!strstr(err, needle))
        fail_msg("'%s' does not name '%s'", err, needle);
}

static void test_report_checkpoint_bad_fields(void **state)
{
    fixture f;
    assert_int_equal(fix_start(&f, 3, 1, 3000), 0);
    birdie_rpc_channel *ch = fix_channel(&f, FIX_TOKEN);
    worker_client *w0 = open_worker(&f, 0, 3);
    char err[512];
    expect_refused(worker_client_report_checkpoint(w0, -1, "/ck/ckpt_1.bin", 10, SUM_A, err, sizeof(err)), err, "step");
    expect_refused(worker_client_report_checkpoint(w0, 5, "", 10, SUM_A, err, sizeof(err)), err, "path");
    static const char *const bad_sums[] = {
        "", "0123456789abcde", "0123456789abcdef0", "0123456789abcdeg", "0x23456789abcdef", "0123456789 bcdef"};
    for (size_t i = 0; i < sizeof(bad_sums) / sizeof(bad_sums[0]); i++)
        expect_refused(worker_client_report_checkpoint(w0, 5, "/ck/ckpt_5.bin", 10, bad_sums[i], err, sizeof(err)), err,
                       "checksum");
    expect_refused(worker_client_report_checkpoint(w0, 5, "/ck/ckpt_5.bin", UINT64_MAX, SUM_A, err, sizeof(err)), err,
                   "bytes");
    char *long_path = malloc(5000);
    memset(long_path, 'p', 4999);
    long_path[4999] = 0;
    expect_refused(worker_client_report_checkpoint(w0, 5, long_path, 10, SUM_A, err, sizeof(err)), err, "path");
    free(long_path);
    assert_int_equal(worker_client_report_checkpoint(w0, 5, NULL, 10, SUM_A, err, sizeof(err)), -EINVAL);
    birdie_rpc_status st;
    assert_int_equal(report_raw(ch, 7, 5, "/ck/ckpt_5.bin", 10, SUM_A, &st), GRPC_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(st.message, "rank 7"));
    assert_int_equal(report_raw(ch, 2, 5, "/ck/ckpt_5.bin", 10, SUM_A, &st), GRPC_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(st.message, "rank 2 has not registered"));
    /* Like every Coordinator method under auth_all, a report needs the token. */
    birdie_rpc_channel *none = fix_channel(&f, NULL);
    assert_int_equal(report_raw(none, 0, 5, "/ck/ckpt_5.bin", 10, SUM_A, &st), GRPC_STATUS_UNAUTHENTICATED);
    birdie_rpc_channel_close(none);
    assert_int_equal(fix_count(&f, "checkpoints", NULL), 0);
    assert_int_equal(fix_count(&f, "events", "kind = 'checkpoint'"), 0);
    Birdie__V1__GetStatusResponse *s = get_status(ch);
    assert_int_equal(s->last_checkpoint->step, 0);
    assert_string_equal(s->last_checkpoint->path, "");
    protobuf_c_message_free_unpacked(&s->base, NULL);
    birdie_rpc_channel_close(ch);
    worker_client_close(w0);
    fix_stop(&f);
}

static Birdie__V1__GetHistoryResponse *get_history(birdie_rpc_channel *ch, int64_t since)
{
    Birdie__V1__GetHistoryRequest req = BIRDIE__V1__GET_HISTORY_REQUEST__INIT;
    req.since_step = since;
    ProtobufCMessage *resp = NULL;
    birdie_rpc_status st;
    if (birdie_rpc_unary(ch, "/birdie.v1.Control/GetHistory", &req.base, &birdie__v1__get_history_response__descriptor,
                         &resp, DEADLINE_MS, &st))
        fail_msg("GetHistory: %s", st.message);
    return (Birdie__V1__GetHistoryResponse *)resp;
}

static void test_report_checkpoint_recorded_once(void **state)
{
    two_ranks *t = *state;
    birdie_rpc_stream *watch = open_watch(t->ch);
    char err[512];
    /* Upper-case hex is accepted and stored in lower case. */
    assert_int_equal(
        worker_client_report_checkpoint(t->w0, 200, "/ck/ckpt_200.bin", 123456, "0123456789ABCDEF", err, sizeof(err)),
        0);
    assert_int_equal(fix_count(&t->f, "checkpoints",
                               "step = 200 AND incarnation = 1 AND path = '/ck/ckpt_200.bin' AND "
                               "bytes = 123456 AND checksum = '" SUM_A "' AND reported_by_rank = 0"),
                     1);
    assert_int_equal(fix_count(&t->f, "events", "kind = 'checkpoint' AND step = 200"), 1);
    Birdie__V1__Event *ev = next_event(watch);
    assert_string_equal(ev->kind, "checkpoint");
    assert_int_equal(ev->step, 200);
    assert_non_null(ev->checkpoint);
    assert_string_equal(ev->checkpoint->path, "/ck/ckpt_200.bin");
    assert_int_equal(ev->checkpoint->bytes, 123456);
    protobuf_c_message_free_unpacked(&ev->base, NULL);
    birdie_rpc_stream_close(watch);
    /* Rank 1 reports the same step with another file: OK, nothing replaced, no second event. */
    assert_int_equal(
        worker_client_report_checkpoint(t->w1, 200, "/other/ckpt_200.bin", 1, "ffffffffffffffff", err, sizeof(err)), 0);
    assert_int_equal(fix_count(&t->f, "checkpoints", NULL), 1);
    assert_int_equal(fix_count(&t->f, "checkpoints", "path = '/ck/ckpt_200.bin' AND reported_by_rank = 0"), 1);
    assert_int_equal(fix_count(&t->f, "events", "kind = 'checkpoint'"), 1);
    /* An older step recorded later does not become the last checkpoint. */
    assert_int_equal(worker_client_report_checkpoint(t->w0, 100, "/ck/ckpt_100.bin", 99, SUM_A, err, sizeof(err)), 0);
    Birdie__V1__GetStatusResponse *s = get_status(t->ch);
    assert_int_equal(s->last_checkpoint->step, 200);
    assert_string_equal(s->last_checkpoint->path, "/ck/ckpt_200.bin");
    assert_string_equal(s->last_checkpoint->checksum, SUM_A);
    assert_int_equal(s->last_checkpoint->incarnation, 1);
    protobuf_c_message_free_unpacked(&s->base, NULL);
    Birdie__V1__GetHistoryResponse *h = get_history(t->ch, 0);
    assert_int_equal(h->n_checkpoints, 2);
    assert_int_equal(h->checkpoints[0]->step, 100);
    assert_int_equal(h->checkpoints[1]->step, 200);
    assert_int_equal(h->checkpoints[1]->bytes, 123456);
    protobuf_c_message_free_unpacked(&h->base, NULL);
    h = get_history(t->ch, 150);
    assert_int_equal(h->n_checkpoints, 1);
    assert_string_equal(h->checkpoints[0]->path, "/ck/ckpt_200.bin");
    protobuf_c_message_free_unpacked(&h->base, NULL);
}

/* A new incarnation starts at checkpoint_seq 0 and still shows the run's last checkpoint. */
static void test_last_checkpoint_survives_restart(void **state)
{
    fixture f;
    assert_int_equal(fix_start(&f, 1, 1, 3000), 0);
    worker_client *w = open_worker(&f, 0, 1);
    birdie_rpc_channel *ch = fix_channel(&f, FIX_TOKEN);
    char err[512];
    assert_int_equal(checkpoint(ch, "", NULL, NULL, NULL, NULL), GRPC_STATUS_OK);
    assert_int_equal(worker_client_report_checkpoint(w, 300, "/ck/ckpt_300.bin", 7, SUM_A, err, sizeof(err)), 0);
    worker_client_close(w);
    birdie_rpc_channel_close(ch);
    assert_int_equal(fix_restart(&f), 0);
    ch = fix_channel(&f, FIX_TOKEN);
    w = open_worker(&f, 0, 1);
    Birdie__V1__GetStatusResponse *s = get_status(ch);
    assert_int_equal(s->incarnation, 2);
    assert_int_equal(s->checkpoint_seq, 0);
    assert_int_equal(s->last_checkpoint->step, 300);
    assert_int_equal(s->last_checkpoint->incarnation, 1);
    protobuf_c_message_free_unpacked(&s->base, NULL);
    /* Steps are keyed per incarnation: the same step in the new one is a new row. */
    assert_int_equal(worker_client_report_checkpoint(w, 300, "/ck2/ckpt_300.bin", 7, SUM_A, err, sizeof(err)), 0);
    assert_int_equal(fix_count(&f, "checkpoints", "step = 300"), 2);
    s = get_status(ch);
    assert_int_equal(s->last_checkpoint->incarnation, 2);
    assert_string_equal(s->last_checkpoint->path, "/ck2/ckpt_300.bin");
    protobuf_c_message_free_unpacked(&s->base, NULL);
    birdie_rpc_channel_close(ch);
    worker_client_close(w);
    fix_stop(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_checkpoint_needs_the_token, setup_two, teardown_two),
        cmocka_unit_test_setup_teardown(test_checkpoint_seq_reaches_every_worker, setup_two, teardown_two),
        cmocka_unit_test_setup_teardown(test_checkpoint_request_id_retry, setup_two, teardown_two),
        cmocka_unit_test(test_checkpoint_run_state_rules),
        cmocka_unit_test(test_report_checkpoint_bad_fields),
        cmocka_unit_test_setup_teardown(test_report_checkpoint_recorded_once, setup_two, teardown_two),
        cmocka_unit_test(test_last_checkpoint_survives_restart),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
