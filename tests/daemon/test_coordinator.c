/* Tests of the coordinator in-process on 127.0.0.1:0, driven by the C worker client and raw gRPC
 * calls: registration, the evaluation round -> decision -> one transaction -> pushed version path,
 * per-arm loss and token sums over ranks (the mean is sum/sum), the SetMixture contract (normalisation,
 * INVALID_ARGUMENT / ABORTED / FAILED_PRECONDITION naming the field),
 * every bad SetMixture input with its status and no change, expected-version races, request-id
 * retries, auth, malformed messages, unknown methods, pause/resume/stop delivery, eval deadline,
 * scheduler failures, Watch events, history, health, hundreds of concurrent GetStatus calls while
 * ranks heartbeat, and a port already in use. */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <regex.h>
#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "birdie/v1/birdie.pb-c.h"
#include "daemon/worker_client.h"
#include "grpc/health/v1/health.pb-c.h"
#include "tests/daemon/daemon_fixture.h"
#include "tests/daemon/two_ranks.h"
#include "worker/clock.h"

#define DEADLINE_MS 5000

static int64_t current_version(birdie_rpc_channel *ch)
{
    Birdie__V1__GetStatusResponse *s = get_status(ch);
    int64_t v = s->mixture->version;
    protobuf_c_message_free_unpacked(&s->base, NULL);
    return v;
}

/* SetMixture; returns the status code. *resp (if non-NULL) gets the reply on OK. */
static grpc_status_code set_mixture(birdie_rpc_channel *ch, size_t n, const char *const *arms, const double *w,
                                    int64_t expected, const char *request_id, Birdie__V1__SetMixtureResponse **resp,
                                    birdie_rpc_status *st)
{
    Birdie__V1__SetMixtureRequest req = BIRDIE__V1__SET_MIXTURE_REQUEST__INIT;
    Birdie__V1__ArmWeight items[8], *ptrs[8];
    for (size_t i = 0; i < n; i++) {
        birdie__v1__arm_weight__init(&items[i]);
        items[i].arm = (char *)arms[i];
        items[i].weight = w[i];
        ptrs[i] = &items[i];
    }
    Birdie__V1__ExpectedVersion ev = BIRDIE__V1__EXPECTED_VERSION__INIT;
    ev.version = expected;
    req.n_weights = n;
    req.weights = ptrs;
    if (expected >= 0)
        req.expected_version = &ev;
    req.request_id = (char *)(request_id ? request_id : "");
    ProtobufCMessage *r = NULL;
    birdie_rpc_status local;
    if (!st)
        st = &local;
    if (birdie_rpc_unary(ch, "/birdie.v1.Control/SetMixture", &req.base, &birdie__v1__set_mixture_response__descriptor,
                         &r, DEADLINE_MS, st) == 0) {
        if (resp)
            *resp = (Birdie__V1__SetMixtureResponse *)r;
        else
            protobuf_c_message_free_unpacked(r, NULL);
    }
    return st->code;
}

static void report_both(worker_client *w0, worker_client *w1, int64_t step, const double *l0, const double *l1)
{
    double tokens[FIX_N_ARMS] = {100, 100, 100, 100};
    char err[512];
    int complete = -1;
    if (worker_client_report_eval(w0, step, l0, tokens, &complete, err, sizeof(err)))
        fail_msg("%s", err);
    assert_int_equal(complete, 0);
    if (worker_client_report_eval(w1, step, l1, tokens, &complete, err, sizeof(err)))
        fail_msg("%s", err);
    assert_int_equal(complete, 1);
}

static void test_register_and_initial_mixture(void **state)
{
    two_ranks *t = *state;
    assert_int_equal(worker_client_arm_count(t->w0), FIX_N_ARMS);
    assert_string_equal(worker_client_arm_name(t->w0, 2), "copy_short");
    assert_int_equal(worker_client_incarnation(t->w0), 1);
    assert_true(worker_client_wait(t->w1, 0, WORKER_WAKE_VERSION, 3000));
    worker_directive d;
    double w[FIX_N_ARMS];
    worker_client_poll(t->w1, &d, w);
    assert_int_equal(d.version, 0);
    assert_false(d.pause || d.stop);
    /* uniform over the 3 classes, the 'copying' class split in two */
    assert_true(fabs(w[0] - 1.0 / 3) < 1e-12 && fabs(w[2] - 1.0 / 6) < 1e-12);
    Birdie__V1__GetStatusResponse *s = get_status(t->ch);
    assert_string_equal(s->state, "running");
    assert_int_equal(s->n_ranks, 2);
    assert_true(s->ranks[0]->registered && s->ranks[1]->registered);
    assert_int_equal(s->last_eval->step, -1);
    protobuf_c_message_free_unpacked(&s->base, NULL);
    assert_int_equal(fix_count(&t->f, "mixtures", "source = 'config' AND version = 0"), 1);
}

static void test_eval_round_to_new_version(void **state)
{
    two_ranks *t = *state;
    double l0[FIX_N_ARMS] = {100, 200, 300, 400}, l1[FIX_N_ARMS] = {300, 200, 100, 0};
    report_both(t->w0, t->w1, 100, l0, l1);
    assert_true(worker_client_wait(t->w0, 1, WORKER_WAKE_VERSION, 3000));
    assert_true(worker_client_wait(t->w1, 1, WORKER_WAKE_VERSION, 3000));
    double got[FIX_N_ARMS], want[FIX_N_ARMS], sums[FIX_N_ARMS], tok[FIX_N_ARMS] = {200, 200, 200, 200};
    for (int i = 0; i < FIX_N_ARMS; i++)
        sums[i] = l0[i] + l1[i];
    fix_expected_weights(sums, tok, want);
    worker_directive d;
    worker_client_poll(t->w1, &d, got);
    assert_int_equal(d.version, 1);
    for (int i = 0; i < FIX_N_ARMS; i++)
        assert_true(fabs(got[i] - want[i]) < 1e-12);
    assert_int_equal(t->f.sched.calls, 1);
    /* evals + rewards + decision + mixture, all for step 100 */
    assert_int_equal(fix_count(&t->f, "evals", "step = 100"), FIX_N_ARMS);
    assert_int_equal(fix_count(&t->f, "evals", "step = 100 AND arm_index = 0 AND loss_sum = 400 AND tokens = 200"), 1);
    assert_int_equal(fix_count(&t->f, "rewards", "step = 100"), FIX_N_ARMS);
    assert_int_equal(fix_count(&t->f, "decisions",
                               "step = 100 AND source = 'scheduler' AND mixture_version = 1 AND fit_error = 0.125"),
                     1);
    assert_int_equal(fix_count(&t->f, "mixtures", "version = 1 AND source = 'scheduler' AND step = 100"), 1);
    assert_int_equal(fix_count(&t->f, "mixture_weights", "version = 1"), FIX_N_ARMS);
    Birdie__V1__GetStatusResponse *s = get_status(t->ch);
    assert_int_equal(s->last_eval->step, 100);
    assert_true(s->last_eval->evals[3]->loss_sum == 400);
    assert_string_equal(s->mixture->source, "scheduler");
    protobuf_c_message_free_unpacked(&s->base, NULL);
    /* A late retry of a closed step is accepted and changes nothing. */
    char err[256];
    int complete = 0;
    double tokens[FIX_N_ARMS] = {100, 100, 100, 100};
    assert_int_equal(worker_client_report_eval(t->w0, 100, l0, tokens, &complete, err, sizeof(err)), 0);
    assert_int_equal(complete, 1);
    assert_int_equal(fix_count(&t->f, "evals", NULL), FIX_N_ARMS);
}

/* docs/design.md §4.6: the coordinator sums each arm's loss and tokens over ranks; the mean loss the
 * scheduler sees is sum(loss) / sum(tokens), not one rank's tokens and not a mean of per-rank means.
 * The ranks here evaluate different token counts per arm, so each wrong division gives another
 * mixture (the fake scheduler's mixture is proportional to the mean loss it is handed). A retried
 * report of rank 0 is counted once, and the round makes exactly one decision. */
static void test_eval_sums_over_ranks_and_tokens(void **state)
{
    two_ranks *t = *state;
    const double l0[FIX_N_ARMS] = {10, 40, 9, 30}, t0[FIX_N_ARMS] = {10, 20, 30, 60};
    const double l1[FIX_N_ARMS] = {90, 2, 30, 10}, t1[FIX_N_ARMS] = {30, 2, 10, 20};
    char err[512];
    int complete = -1;
    assert_int_equal(worker_client_report_eval(t->w0, 100, l0, t0, &complete, err, sizeof(err)), 0);
    assert_int_equal(complete, 0);
    assert_int_equal(worker_client_report_eval(t->w0, 100, l0, t0, &complete, err, sizeof(err)), 0); /* a retry */
    assert_int_equal(complete, 0);
    assert_int_equal(worker_client_report_eval(t->w1, 100, l1, t1, &complete, err, sizeof(err)), 0);
    assert_int_equal(complete, 1);
    assert_true(worker_client_wait(t->w0, 1, WORKER_WAKE_VERSION, 3000));
    double sum_l[FIX_N_ARMS], sum_t[FIX_N_ARMS], want[FIX_N_ARMS], total = 0;
    for (int i = 0; i < FIX_N_ARMS; i++) {
        sum_l[i] = l0[i] + l1[i];
        sum_t[i] = t0[i] + t1[i];
        want[i] = sum_l[i] / sum_t[i];
        total += want[i];
    }
    for (int i = 0; i < FIX_N_ARMS; i++)
        want[i] /= total;
    /* the wrong aggregations this must tell apart: one rank's tokens, and the mean of per-rank means */
    double alt[3][FIX_N_ARMS], alt_total[3] = {0, 0, 0};
    for (int i = 0; i < FIX_N_ARMS; i++) {
        alt[0][i] = sum_l[i] / t0[i];
        alt[1][i] = sum_l[i] / t1[i];
        alt[2][i] = (l0[i] / t0[i] + l1[i] / t1[i]) / 2;
        for (int a = 0; a < 3; a++)
            alt_total[a] += alt[a][i];
    }
    for (int a = 0; a < 3; a++) {
        double far = 0;
        for (int i = 0; i < FIX_N_ARMS; i++)
            far = fmax(far, fabs(alt[a][i] / alt_total[a] - want[i]));
        assert_true(far > 0.05);
    }
    double got[FIX_N_ARMS];
    worker_directive d;
    worker_client_poll(t->w0, &d, got);
    assert_int_equal(d.version, 1);
    for (int i = 0; i < FIX_N_ARMS; i++)
        if (fabs(got[i] - want[i]) > 1e-12)
            fail_msg("arm %d: weight %.15g, sum/sum gives %.15g", i, got[i], want[i]);
    assert_int_equal(t->f.sched.calls, 1);
    assert_int_equal(fix_count(&t->f, "decisions", NULL), 1);
    assert_int_equal(fix_count(&t->f, "mixtures", "source = 'scheduler'"), 1);
    assert_int_equal(fix_count(&t->f, "evals", NULL), FIX_N_ARMS);
    char where[128];
    for (int i = 0; i < FIX_N_ARMS; i++) {
        snprintf(where, sizeof(where), "step = 100 AND arm_index = %d AND loss_sum = %g AND tokens = %g", i, sum_l[i],
                 sum_t[i]);
        assert_int_equal(fix_count(&t->f, "evals", where), 1);
    }
    Birdie__V1__GetStatusResponse *s = get_status(t->ch);
    assert_int_equal(s->last_eval->n_evals, FIX_N_ARMS);
    for (int i = 0; i < FIX_N_ARMS; i++) {
        assert_string_equal(s->last_eval->evals[i]->arm, fix_arm_names[i]);
        assert_true(s->last_eval->evals[i]->loss_sum == sum_l[i] && s->last_eval->evals[i]->tokens == sum_t[i]);
    }
    protobuf_c_message_free_unpacked(&s->base, NULL);
    /* late retries of the closed step (either rank) change nothing and decide nothing */
    assert_int_equal(worker_client_report_eval(t->w1, 100, l1, t1, &complete, err, sizeof(err)), 0);
    assert_int_equal(complete, 1);
    assert_int_equal(t->f.sched.calls, 1);
    assert_int_equal(fix_count(&t->f, "decisions", NULL), 1);
    assert_int_equal(fix_count(&t->f, "evals", NULL), FIX_N_ARMS);
}

/* docs/design.md §4.7 and §6: a mixture that sums to less than 1 is normalised (it is the
 * proportions that count); a negative, NaN or infinite weight, an unknown arm or no weights at all is
 * INVALID_ARGUMENT naming the arm or field whatever the run's state; a stale expected_version is
 * ABORTED (version 0 included: proto3's default must not read as "no expectation"); a valid request
 * while the run is stopping is FAILED_PRECONDITION. Nothing is recorded for a refused request. */
static void test_set_mixture_contract(void **state)
{
    two_ranks *t = *state;
    const char *two[2] = {"ntp", "copy_long"}, *three[3] = {"prefix_lm", "copy_short", "copy_long"};
    birdie_rpc_status st;
    Birdie__V1__SetMixtureResponse *r = NULL;
    /* a sum below 1: normalised, arms not named get 0 */
    double small[3] = {0.05, 0.1, 0.05};
    assert_int_equal(set_mixture(t->ch, 3, three, small, 0, NULL, &r, &st), GRPC_STATUS_OK);
    assert_int_equal(r->mixture->version, 1);
    const double want[FIX_N_ARMS] = {0, 0.25, 0.5, 0.25};
    assert_int_equal(r->mixture->n_weights, FIX_N_ARMS);
    for (int i = 0; i < FIX_N_ARMS; i++) {
        assert_string_equal(r->mixture->weights[i]->arm, fix_arm_names[i]);
        if (fabs(r->mixture->weights[i]->weight - want[i]) > 1e-15)
            fail_msg("arm %s: %.17g, want %.17g", fix_arm_names[i], r->mixture->weights[i]->weight, want[i]);
    }
    protobuf_c_message_free_unpacked(&r->base, NULL);
    double got[FIX_N_ARMS];
    assert_true(worker_client_wait(t->w1, 1, WORKER_WAKE_VERSION, 3000));
    worker_directive d;
    worker_client_poll(t->w1, &d, got);
    for (int i = 0; i < FIX_N_ARMS; i++)
        assert_true(fabs(got[i] - want[i]) < 1e-15);
    assert_int_equal(fix_count(&t->f, "mixture_weights", "version = 1 AND arm_index = 2 AND weight = 0.5"), 1);

    int64_t rows = fix_count(&t->f, "mixtures", NULL), decisions = fix_count(&t->f, "decisions", NULL);
    struct {
        const char *const *arms;
        size_t n;
        double w[2];
        const char *needles[2];
    } bad[] = {
        /* the other weight keeps the sum positive: only the per-weight check can refuse these */
        {two, 2, {-0.25, 1}, {"'ntp'", "negative"}},
        {two, 2, {1, -1e-300}, {"'copy_long'", "negative"}},
        {two, 2, {NAN, 1}, {"'ntp'", "not finite"}},
        {two, 2, {1, INFINITY}, {"'copy_long'", "not finite"}},
        {two, 2, {1, -INFINITY}, {"'copy_long'", "not finite"}},
        {(const char *const[]){"ntp", "nope"}, 2, {1, 1}, {"unknown arm 'nope'", "weights[1]"}},
        {two, 0, {1, 1}, {"no weights", "no weights"}},
    };
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        assert_int_equal(set_mixture(t->ch, bad[k].n, bad[k].arms, bad[k].w, 1, NULL, NULL, &st),
                         GRPC_STATUS_INVALID_ARGUMENT);
        for (int j = 0; j < 2; j++)
            if (!strstr(st.message, bad[k].needles[j]))
                fail_msg("case %zu: '%s' lacks '%s'", k, st.message, bad[k].needles[j]);
    }
    /* stale expected versions: ABORTED with both versions named */
    double fine[2] = {1, 3};
    const int64_t stale[] = {0, 2, 1000};
    for (size_t k = 0; k < sizeof(stale) / sizeof(stale[0]); k++) {
        assert_int_equal(set_mixture(t->ch, 2, two, fine, stale[k], NULL, NULL, &st), GRPC_STATUS_ABORTED);
        assert_non_null(strstr(st.message, "expected mixture version"));
        assert_non_null(strstr(st.message, "current version is 1"));
    }
    assert_int_equal(current_version(t->ch), 1);
    assert_int_equal(fix_count(&t->f, "mixtures", NULL), rows);
    assert_int_equal(fix_count(&t->f, "decisions", NULL), decisions);
    /* the matching version goes through, once */
    assert_int_equal(set_mixture(t->ch, 2, two, fine, 1, NULL, NULL, &st), GRPC_STATUS_OK);
    assert_int_equal(current_version(t->ch), 2);
    assert_int_equal(fix_count(&t->f, "decisions", "source = 'operator'"), 2);
    /* stopping: a valid request is FAILED_PRECONDITION, an invalid one still INVALID_ARGUMENT */
    assert_int_equal(control(t->ch, "/birdie.v1.Control/Stop"), GRPC_STATUS_OK);
    assert_int_equal(set_mixture(t->ch, 2, two, fine, 2, NULL, NULL, &st), GRPC_STATUS_FAILED_PRECONDITION);
    assert_non_null(strstr(st.message, "stopping"));
    double neg[2] = {-1, 2};
    assert_int_equal(set_mixture(t->ch, 2, two, neg, 2, NULL, NULL, &st), GRPC_STATUS_INVALID_ARGUMENT);
    assert_int_equal(current_version(t->ch), 2);
}

static void test_set_mixture_bad_inputs_change_nothing(void **state)
{
    two_ranks *t = *state;
    int64_t before_rows = fix_count(&t->f, "mixtures", NULL);
    int64_t v = current_version(t->ch);
    const char *one[1] = {"ntp"}, *unknown[1] = {"frobnicate"}, *dup[2] = {"ntp", "ntp"},
               *two[2] = {"ntp", "copy_long"};
    struct {
        size_t n;
        const char *const *arms;
        double w[2];
        const char *needle;
    } cases[] = {
        {1, unknown, {1, 0}, "unknown arm 'frobnicate'"},
        {1, one, {-1, 0}, "negative"},
        {1, one, {NAN, 0}, "not finite"},
        {1, one, {INFINITY, 0}, "not finite"},
        {2, two, {0, 0}, "sum to 0"},
        {2, dup, {1, 1}, "twice"},
        {0, one, {0, 0}, "no weights"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        birdie_rpc_status st;
        assert_int_equal(set_mixture(t->ch, cases[i].n, cases[i].arms, cases[i].w, -1, NULL, NULL, &st),
                         GRPC_STATUS_INVALID_ARGUMENT);
        if (!strstr(st.message, cases[i].needle))
            fail_msg("case %zu: '%s' lacks '%s'", i, st.message, cases[i].needle);
    }
    assert_int_equal(current_version(t->ch), v);
    assert_int_equal(fix_count(&t->f, "mixtures", NULL), before_rows);
    assert_int_equal(fix_count(&t->f, "decisions", NULL), 0);
}

static void test_expected_version_and_request_id(void **state)
{
    two_ranks *t = *state;
    const char *arms[2] = {"ntp", "copy_long"};
    double w[2] = {3, 1};
    birdie_rpc_status st;
    assert_int_equal(set_mixture(t->ch, 2, arms, w, 7, NULL, NULL, &st), GRPC_STATUS_ABORTED);
    assert_non_null(strstr(st.message, "current version is 0"));
    assert_int_equal(current_version(t->ch), 0);
    Birdie__V1__SetMixtureResponse *r = NULL;
    assert_int_equal(set_mixture(t->ch, 2, arms, w, 0, "req-42", &r, &st), GRPC_STATUS_OK);
    assert_int_equal(r->mixture->version, 1);
    assert_int_equal(r->previous->version, 0);
    assert_false(r->replayed);
    assert_true(fabs(r->mixture->weights[0]->weight - 0.75) < 1e-12);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    assert_true(worker_client_wait(t->w0, 1, WORKER_WAKE_VERSION, 3000));
    /* The same request again (e.g. a retry after a timeout): the first result, nothing new. The
   * stale expected version does not matter: the request was already applied. */
    double other[2] = {1, 1};
    r = NULL;
    assert_int_equal(set_mixture(t->ch, 2, arms, other, 0, "req-42", &r, &st), GRPC_STATUS_OK);
    assert_true(r->replayed);
    assert_int_equal(r->mixture->version, 1);
    assert_true(fabs(r->mixture->weights[0]->weight - 0.75) < 1e-12);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    assert_int_equal(current_version(t->ch), 1);
    assert_int_equal(fix_count(&t->f, "mixtures", "source = 'operator'"), 1);
    assert_int_equal(fix_count(&t->f, "decisions", "source = 'operator' AND mixture_version = 1"), 1);
    /* A stale version after the change is ABORTED. */
    assert_int_equal(set_mixture(t->ch, 2, arms, other, 0, NULL, NULL, &st), GRPC_STATUS_ABORTED);
    assert_int_equal(current_version(t->ch), 1);
}

static void test_auth(void **state)
{
    two_ranks *t = *state;
    birdie_rpc_channel *wrong = fix_channel(&t->f, "not-the-token");
    birdie_rpc_channel *none = fix_channel(&t->f, NULL);
    const char *arms[1] = {"ntp"};
    double w[1] = {1};
    birdie_rpc_status st;
    assert_int_equal(set_mixture(wrong, 1, arms, w, -1, NULL, NULL, &st), GRPC_STATUS_UNAUTHENTICATED);
    assert_int_equal(set_mixture(none, 1, arms, w, -1, NULL, NULL, &st), GRPC_STATUS_UNAUTHENTICATED);
    assert_int_equal(control(wrong, "/birdie.v1.Control/Stop"), GRPC_STATUS_UNAUTHENTICATED);
    Birdie__V1__GetStatusRequest req = BIRDIE__V1__GET_STATUS_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    assert_int_equal(birdie_rpc_unary(none, "/birdie.v1.Control/GetStatus", &req.base,
                                      &birdie__v1__get_status_response__descriptor, &resp, DEADLINE_MS, &st),
                     -1);
    assert_int_equal(st.code, GRPC_STATUS_UNAUTHENTICATED);
    /* Health needs no token. */
    Grpc__Health__V1__HealthCheckRequest hreq = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    assert_int_equal(birdie_rpc_unary(none, "/grpc.health.v1.Health/Check", &hreq.base,
                                      &grpc__health__v1__health_check_response__descriptor, &resp, DEADLINE_MS, &st),
                     0);
    assert_int_equal(((Grpc__Health__V1__HealthCheckResponse *)resp)->status,
                     GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
    protobuf_c_message_free_unpacked(resp, NULL);
    hreq.service = "no.such.Service";
    assert_int_equal(birdie_rpc_unary(none, "/grpc.health.v1.Health/Check", &hreq.base,
                                      &grpc__health__v1__health_check_response__descriptor, &resp, DEADLINE_MS, &st),
                     -1);
    assert_int_equal(st.code, GRPC_STATUS_NOT_FOUND);
    assert_int_equal(current_version(t->ch), 0);
    Birdie__V1__GetStatusResponse *s = get_status(t->ch);
    assert_string_equal(s->state, "running");
    protobuf_c_message_free_unpacked(&s->base, NULL);
    birdie_rpc_channel_close(wrong);
    birdie_rpc_channel_close(none);
}

static void test_malformed_and_unknown(void **state)
{
    two_ranks *t = *state;
    static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01, 0x02};
    const char *methods[] = {"/birdie.v1.Control/SetMixture", "/birdie.v1.Coordinator/ReportEval",
                             "/birdie.v1.Coordinator/Register", "/birdie.v1.Control/Watch"};
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        ProtobufCMessage *resp = NULL;
        birdie_rpc_status st;
        assert_int_equal(birdie_rpc_unary_raw(t->ch, methods[i], garbage, sizeof(garbage),
                                              &birdie__v1__control_response__descriptor, &resp, DEADLINE_MS, &st),
                         -1);
        if (st.code != GRPC_STATUS_INVALID_ARGUMENT)
            fail_msg("%s: status %d (%s)", methods[i], st.code, st.message);
    }
    ProtobufCMessage *resp = NULL;
    birdie_rpc_status st;
    assert_int_equal(birdie_rpc_unary_raw(t->ch, "/birdie.v1.Control/Explode", NULL, 0,
                                          &birdie__v1__control_response__descriptor, &resp, DEADLINE_MS, &st),
                     -1);
    assert_int_equal(st.code, GRPC_STATUS_UNIMPLEMENTED);
    /* A wrong-typed but parseable message for ReportEval: rank far out of range. */
    Birdie__V1__ReportEvalRequest rep = BIRDIE__V1__REPORT_EVAL_REQUEST__INIT;
    rep.rank = 99;
    assert_int_equal(birdie_rpc_unary(t->ch, "/birdie.v1.Coordinator/ReportEval", &rep.base,
                                      &birdie__v1__report_eval_response__descriptor, &resp, DEADLINE_MS, &st),
                     -1);
    assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
    /* Still serving, nothing changed. */
    assert_int_equal(current_version(t->ch), 0);
    assert_int_equal(fix_count(&t->f, "evals", NULL), 0);
}

static void test_bad_eval_reports(void **state)
{
    two_ranks *t = *state;
    char err[512];
    double good[FIX_N_ARMS] = {1, 1, 1, 1}, bad[FIX_N_ARMS] = {1, NAN, 1, 1}, tokens[FIX_N_ARMS] = {1, 1, 1, 1};
    int rc = worker_client_report_eval(t->w0, 10, bad, tokens, NULL, err, sizeof(err));
    assert_int_equal(worker_client_rpc_code(rc), GRPC_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(err, "prefix_lm"));
    assert_int_equal(worker_client_report_eval(t->w0, 10, good, tokens, NULL, err, sizeof(err)), 0);
    rc = worker_client_report_eval(t->w1, 20, good, tokens, NULL, err, sizeof(err));
    assert_int_equal(worker_client_rpc_code(rc), GRPC_STATUS_FAILED_PRECONDITION);
    assert_non_null(strstr(err, "still open"));
}

static void test_pause_resume_stop_reach_workers(void **state)
{
    two_ranks *t = *state;
    assert_int_equal(control(t->ch, "/birdie.v1.Control/Pause"), GRPC_STATUS_OK);
    assert_true(worker_client_wait(t->w0, 0, WORKER_WAKE_PAUSE, 3000));
    assert_int_equal(control(t->ch, "/birdie.v1.Control/Pause"), GRPC_STATUS_OK); /* idempotent */
    assert_int_equal(control(t->ch, "/birdie.v1.Control/Resume"), GRPC_STATUS_OK);
    worker_directive d;
    for (int i = 0; i < 100; i++) {
        worker_client_poll(t->w0, &d, NULL);
        if (!d.pause)
            break;
        usleep(20000);
    }
    assert_false(d.pause);
    assert_int_equal(control(t->ch, "/birdie.v1.Control/Stop"), GRPC_STATUS_OK);
    assert_true(worker_client_wait(t->w1, 0, WORKER_WAKE_STOP, 3000));
    worker_client_poll(t->w1, &d, NULL);
    assert_non_null(strstr(d.stop_reason, "operator stop"));
    /* Stopping: no more mixtures or pauses. */
    const char *arms[1] = {"ntp"};
    double w[1] = {1};
    assert_int_equal(set_mixture(t->ch, 1, arms, w, -1, NULL, NULL, NULL), GRPC_STATUS_FAILED_PRECONDITION);
    assert_int_equal(control(t->ch, "/birdie.v1.Control/Pause"), GRPC_STATUS_FAILED_PRECONDITION);
    char err[256];
    assert_int_equal(worker_client_finish(t->w0, 500, 0, "done", err, sizeof(err)), 0);
    assert_int_equal(worker_client_finish(t->w1, 500, 0, "done", err, sizeof(err)), 0);
    char state_name[32];
    coordinator_state(t->f.co, state_name, sizeof(state_name));
    assert_string_equal(state_name, "stopped"); /* an operator's stop, not a run that reached its end */
    assert_int_equal(control(t->ch, "/birdie.v1.Control/Resume"), GRPC_STATUS_FAILED_PRECONDITION);
    assert_int_equal(fix_count(&t->f, "incarnations", "end_state = 'stopped' AND end_reason LIKE '%operator stop%'"),
                     1);
    assert_int_equal(fix_count(&t->f, "runs", "state = 'stopped'"), 1);
}

static void test_heartbeats_show_in_status(void **state)
{
    two_ranks *t = *state;
    char err[256];
    worker_heartbeat hb = {.step = 42,
                           .tokens_per_s = 1000,
                           .applied_version = 0,
                           .applied_step = 0,
                           .loss = 2.5,
                           .lr = 1e-3,
                           .grad_norm = 0.5};
    assert_int_equal(worker_client_heartbeat(t->w0, &hb, err, sizeof(err)), 0);
    hb.step = 41;
    hb.tokens_per_s = 500;
    assert_int_equal(worker_client_heartbeat(t->w1, &hb, err, sizeof(err)), 0);
    hb.applied_version = 5; /* never issued */
    assert_int_equal(worker_client_rpc_code(worker_client_heartbeat(t->w1, &hb, err, sizeof(err))),
                     GRPC_STATUS_INVALID_ARGUMENT);
    Birdie__V1__GetStatusResponse *s = get_status(t->ch);
    assert_int_equal(s->step, 42);
    assert_true(s->tokens_per_s == 1500);
    assert_int_equal(s->ranks[1]->step, 41);
    assert_int_equal(s->ranks[1]->applied_version, 0);
    assert_true(s->ranks[0]->heartbeat_age_s >= 0 && s->ranks[0]->heartbeat_age_s < 5);
    protobuf_c_message_free_unpacked(&s->base, NULL);
    assert_int_equal(fix_count(&t->f, "steps", "step = 42 AND loss = 2.5"), 1);
    assert_int_equal(fix_count(&t->f, "mixtures", "version = 0 AND applied_step = 0"), 1);
}

/* Two ranks whose coordinator flags a rank after 300 ms without a heartbeat. */
static int setup_two_stall(void **state)
{
    two_ranks *t = calloc(1, sizeof(*t));
    if (!t || fix_start_stall(&t->f, 2, 1, 3000, 300))
        return -1;
    t->w0 = open_worker(&t->f, 0, 2);
    t->w1 = open_worker(&t->f, 1, 2);
    t->ch = fix_channel(&t->f, FIX_TOKEN);
    *state = t;
    return 0;
}

/* A rank that stops sending heartbeats (SIGSTOP, a hung collective) is flagged by name, host and pid
 * in the log and in GetStatus while the other rank keeps going; its next heartbeat clears the flag.
 * Waits are bounded by generous deadlines, never by a fixed sleep that decides the outcome. */
static void test_stalled_rank_is_flagged(void **state)
{
    two_ranks *t = *state;
    char err[256], host[256] = "";
    gethostname(host, sizeof host - 1);
    worker_heartbeat hb = {.step = 1, .loss = NAN, .lr = NAN, .grad_norm = NAN};
    assert_int_equal(worker_client_heartbeat(t->w0, &hb, err, sizeof(err)), 0);
    assert_int_equal(worker_client_heartbeat(t->w1, &hb, err, sizeof(err)), 0);
    fflush(stderr);
    FILE *log = tmpfile();
    assert_non_null(log);
    int saved = dup(STDERR_FILENO);
    assert_true(saved >= 0 && dup2(fileno(log), STDERR_FILENO) >= 0);
    int stalled1 = 0, stalled0 = 0;
    for (int i = 0; i < 1000 && !stalled1; i++) { /* up to 20 s; rank 0 keeps stepping */
        hb.step = 2 + i;
        assert_int_equal(worker_client_heartbeat(t->w0, &hb, err, sizeof(err)), 0);
        Birdie__V1__GetStatusResponse *s = get_status(t->ch);
        stalled1 = s->ranks[1]->stalled;
        stalled0 |= s->ranks[0]->stalled;
        if (stalled1) {
            assert_string_equal(s->ranks[1]->hostname, host);
            assert_int_equal(s->ranks[1]->pid, getpid());
            assert_non_null(strstr(s->last_error, "rank 1 (host "));
        }
        protobuf_c_message_free_unpacked(&s->base, NULL);
        usleep(20000);
    }
    assert_true(stalled1);
    assert_false(stalled0);
    hb.step = 2; /* rank 1 comes back */
    assert_int_equal(worker_client_heartbeat(t->w1, &hb, err, sizeof(err)), 0);
    Birdie__V1__GetStatusResponse *s = get_status(t->ch);
    assert_false(s->ranks[1]->stalled);
    protobuf_c_message_free_unpacked(&s->base, NULL);
    fflush(stderr);
    assert_true(dup2(saved, STDERR_FILENO) >= 0);
    close(saved);
    static char text[1 << 16];
    rewind(log);
    text[fread(text, 1, sizeof(text) - 1, log)] = 0;
    fclose(log);
    char want[512];
    snprintf(want, sizeof want, "rank 1 (host %s, pid %ld) has sent no heartbeat for ", host, (long)getpid());
    if (!strstr(text, want) || !strstr(text, "stopped or stuck") || !strstr(text, "sends heartbeats again"))
        fail_msg("no stall log lines in stderr:\n%s", text);
    assert_null(strstr(text, "rank 0 (host"));
}

/* A store write that fails (here: another process holds the database's write lock past SQLite's
 * bounded busy wait) fails the run by name instead of dropping the row: the state is failed, the
 * error names what could not be recorded, and the ranks are told to stop with the failure flag
 * (they exit 7). */
static void test_store_write_failure_fails_the_run(void **state)
{
    two_ranks *t = *state;
    char err[256];
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(t->f.db_path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
    worker_heartbeat hb = {.step = 7, .loss = 2.0, .lr = 1e-3, .grad_norm = 1.0};
    worker_client_heartbeat(t->w0, &hb, err, sizeof(err)); /* its reply may time out: the store waits */
    /* the coordinator is busy in SQLite's bounded wait (5 s per write): wait for the stop it sends */
    int stopped = worker_client_wait(t->w1, 0, WORKER_WAKE_STOP, 30000) != 0;
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(db);
    assert_true(stopped);
    worker_directive dir;
    double w[FIX_N_ARMS];
    worker_client_poll(t->w1, &dir, w);
    assert_true(dir.stop && dir.failed);
    assert_non_null(strstr(dir.stop_reason, "store_write_failed: recording a step"));
    Birdie__V1__GetStatusResponse *s = get_status(t->ch);
    assert_string_equal(s->state, "failed");
    assert_non_null(strstr(s->last_error, "store_write_failed"));
    protobuf_c_message_free_unpacked(&s->base, NULL);
}

static void test_decide_failure_keeps_mixture(void **state)
{
    two_ranks *t = *state;
    t->f.sched.fail = 1;
    double l[FIX_N_ARMS] = {1, 2, 3, 4};
    report_both(t->w0, t->w1, 10, l, l);
    Birdie__V1__GetStatusResponse *s = NULL;
    for (int i = 0; i < 100; i++) {
        if (s)
            protobuf_c_message_free_unpacked(&s->base, NULL);
        s = get_status(t->ch);
        if (s->last_error[0])
            break;
        usleep(20000);
    }
    assert_non_null(strstr(s->last_error, "fake scheduler told to fail"));
    assert_int_equal(s->mixture->version, 0);
    protobuf_c_message_free_unpacked(&s->base, NULL);
    assert_int_equal(fix_count(&t->f, "evals", "step = 10"), FIX_N_ARMS);
    assert_int_equal(fix_count(&t->f, "events", "kind = 'decide_failed'"), 1);
    /* A scheduler returning NaN weights is refused the same way. */
    t->f.sched.fail = 0;
    t->f.sched.bad_weights = 1;
    report_both(t->w0, t->w1, 20, l, l);
    for (int i = 0; i < 100 && fix_count(&t->f, "events", "kind = 'decide_failed'") < 2; i++)
        usleep(20000);
    assert_int_equal(fix_count(&t->f, "events", "kind = 'decide_failed' AND detail LIKE '%not finite%'"), 1);
    assert_int_equal(current_version(t->ch), 0);
    /* Keeping the mixture is a decision, not an error. */
    t->f.sched.bad_weights = 0;
    t->f.sched.keep = 1;
    report_both(t->w0, t->w1, 30, l, l);
    for (int i = 0; i < 100 && fix_count(&t->f, "decisions", "step = 30") < 1; i++)
        usleep(20000);
    assert_int_equal(fix_count(&t->f, "decisions", "step = 30 AND mixture_version = 0"), 1);
    assert_int_equal(current_version(t->ch), 0);
}

/* Every error of the run is logged on stderr as one line, "<UTC time> birdied coordinator: step
 * <newest reported step>: <message>", besides being kept for GetStatus.last_error. */
static void test_errors_are_logged(void **state)
{
    two_ranks *t = *state;
    char err[256];
    worker_heartbeat hb = {.step = 12, .loss = NAN, .lr = NAN, .grad_norm = NAN};
    assert_int_equal(worker_client_heartbeat(t->w0, &hb, err, sizeof(err)), 0);
    fflush(stderr);
    FILE *log = tmpfile();
    assert_non_null(log);
    int saved = dup(STDERR_FILENO);
    assert_true(saved >= 0 && dup2(fileno(log), STDERR_FILENO) >= 0);
    t->f.sched.fail = 1;
    double l[FIX_N_ARMS] = {1, 2, 3, 4};
    report_both(t->w0, t->w1, 10, l, l);
    int failed = 0;
    for (int i = 0; i < 100 && !failed; i++) {
        Birdie__V1__GetStatusResponse *s = get_status(t->ch);
        failed = s->last_error[0] != 0;
        protobuf_c_message_free_unpacked(&s->base, NULL);
        if (!failed)
            usleep(20000);
    }
    time_t now = time(NULL);
    fflush(stderr);
    assert_true(dup2(saved, STDERR_FILENO) >= 0);
    close(saved);
    assert_true(failed);
    static char text[1 << 16];
    rewind(log);
    text[fread(text, 1, sizeof(text) - 1, log)] = 0;
    fclose(log);
    regex_t re;
    regmatch_t m;
    assert_int_equal(regcomp(&re,
                             "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z birdied coordinator: step 12: "
                             "decide callback failed at step 10: fake scheduler told to fail$",
                             REG_EXTENDED | REG_NEWLINE),
                     0);
    int found = regexec(&re, text, 1, &m, 0) == 0;
    regfree(&re);
    if (!found)
        fail_msg("no coordinator log line in stderr:\n%s", text);
    struct tm tm = {0};
    assert_non_null(strptime(text + m.rm_so, "%Y-%m-%dT%H:%M:%SZ", &tm));
    time_t when = timegm(&tm);
    assert_true(when <= now && when >= now - 60); /* UTC, not local time */
}

static void test_watch_stream_events(void **state)
{
    two_ranks *t = *state;
    Birdie__V1__WatchRequest req = BIRDIE__V1__WATCH_REQUEST__INIT;
    birdie_rpc_stream *s = NULL;
    birdie_rpc_status st;
    assert_int_equal(birdie_rpc_stream_open(t->ch, "/birdie.v1.Control/Watch", &req.base, 5000, &s, &st), 0);
    /* The first event is the current state: once it is here the stream is registered. */
    ProtobufCMessage *m = NULL;
    assert_int_equal(birdie_rpc_stream_next(s, &birdie__v1__event__descriptor, &m, &st), 1);
    Birdie__V1__Event *ev = (Birdie__V1__Event *)m;
    assert_string_equal(ev->kind, "state");
    assert_string_equal(ev->state, "running");
    assert_int_equal(ev->mixture->version, 0);
    protobuf_c_message_free_unpacked(m, NULL);
    const char *arms[1] = {"copy_short"};
    double w[1] = {1};
    assert_int_equal(set_mixture(t->ch, 1, arms, w, -1, NULL, NULL, NULL), GRPC_STATUS_OK);
    assert_int_equal(birdie_rpc_stream_next(s, &birdie__v1__event__descriptor, &m, &st), 1);
    ev = (Birdie__V1__Event *)m;
    assert_string_equal(ev->kind, "mixture");
    assert_int_equal(ev->mixture->version, 1);
    assert_string_equal(ev->mixture->source, "operator");
    protobuf_c_message_free_unpacked(m, NULL);
    birdie_rpc_stream_close(s);
}

static void test_history_rpc(void **state)
{
    two_ranks *t = *state;
    double l[FIX_N_ARMS] = {4, 3, 2, 1};
    report_both(t->w0, t->w1, 50, l, l);
    assert_true(worker_client_wait(t->w0, 1, WORKER_WAKE_VERSION, 3000));
    Birdie__V1__GetHistoryRequest req = BIRDIE__V1__GET_HISTORY_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    birdie_rpc_status st;
    assert_int_equal(birdie_rpc_unary(t->ch, "/birdie.v1.Control/GetHistory", &req.base,
                                      &birdie__v1__get_history_response__descriptor, &resp, DEADLINE_MS, &st),
                     0);
    Birdie__V1__GetHistoryResponse *h = (Birdie__V1__GetHistoryResponse *)resp;
    assert_int_equal(h->n_evals, FIX_N_ARMS);
    assert_int_equal(h->n_rewards, FIX_N_ARMS);
    assert_int_equal(h->n_decisions, 1);
    assert_true(h->decisions[0]->explore == 0 && h->decisions[0]->predicted_reward == 0.5);
    assert_int_equal(h->n_mixtures, 2);
    protobuf_c_message_free_unpacked(resp, NULL);
    req.limit = -1;
    assert_int_equal(birdie_rpc_unary(t->ch, "/birdie.v1.Control/GetHistory", &req.base,
                                      &birdie__v1__get_history_response__descriptor, &resp, DEADLINE_MS, &st),
                     -1);
    assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
}

/* ---- concurrency: 300 GetStatus calls while both ranks heartbeat ------------------------------ */

typedef struct load_arg {
    const fixture *f;
    int calls;
    int ok;
    worker_client *wc;
    volatile int *stop;
} load_arg;

static void *status_caller(void *p)
{
    load_arg *a = p;
    birdie_rpc_channel *ch = fix_channel(a->f, FIX_TOKEN);
    Birdie__V1__GetStatusRequest req = BIRDIE__V1__GET_STATUS_REQUEST__INIT;
    for (int i = 0; ch && i < a->calls; i++) {
        ProtobufCMessage *resp = NULL;
        birdie_rpc_status st;
        if (birdie_rpc_unary(ch, "/birdie.v1.Control/GetStatus", &req.base,
                             &birdie__v1__get_status_response__descriptor, &resp, DEADLINE_MS, &st) == 0) {
            a->ok++;
            protobuf_c_message_free_unpacked(resp, NULL);
        } else {
            fprintf(stderr, "GetStatus failed: %d %s\n", st.code, st.message);
        }
    }
    birdie_rpc_channel_close(ch);
    return NULL;
}

static void *heartbeater(void *p)
{
    load_arg *a = p;
    char err[256];
    worker_heartbeat hb = {.tokens_per_s = 10, .loss = 1, .lr = 1, .grad_norm = 1};
    for (int64_t step = 1; !*a->stop; step++) {
        hb.step = step;
        if (worker_client_heartbeat(a->wc, &hb, err, sizeof(err)) == 0)
            a->ok++;
    }
    return NULL;
}

static void test_concurrent_status_while_training(void **state)
{
    two_ranks *t = *state;
    enum { THREADS = 6, CALLS = 50 };
    pthread_t th[THREADS], hb[2];
    load_arg args[THREADS], hargs[2];
    volatile int stop = 0;
    for (int i = 0; i < 2; i++) {
        hargs[i] = (load_arg){.f = &t->f, .wc = i ? t->w1 : t->w0, .stop = &stop};
        pthread_create(&hb[i], NULL, heartbeater, &hargs[i]);
    }
    for (int i = 0; i < THREADS; i++) {
        args[i] = (load_arg){.f = &t->f, .calls = CALLS};
        pthread_create(&th[i], NULL, status_caller, &args[i]);
    }
    int ok = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        ok += args[i].ok;
    }
    stop = 1;
    for (int i = 0; i < 2; i++)
        pthread_join(hb[i], NULL);
    assert_int_equal(ok, THREADS * CALLS);
    assert_true(hargs[0].ok > 0 && hargs[1].ok > 0);
    printf("# %d GetStatus calls ok while %d + %d heartbeats were served\n", ok, hargs[0].ok, hargs[1].ok);
}

/* ---- tests with their own coordinator --------------------------------------------------------- */

static void test_not_started_and_eval_deadline(void **state)
{
    fixture f;
    assert_int_equal(fix_start(&f, 3, 0, 300), 0);
    worker_client *w0 = open_worker(&f, 0, 3), *w1 = open_worker(&f, 1, 3);
    birdie_rpc_channel *ch = fix_channel(&f, FIX_TOKEN);
    /* Rank 2 has not registered: the run has not started. */
    const char *arms[1] = {"ntp"};
    double w[1] = {1};
    birdie_rpc_status st;
    assert_int_equal(set_mixture(ch, 1, arms, w, -1, NULL, NULL, &st), GRPC_STATUS_FAILED_PRECONDITION);
    assert_non_null(strstr(st.message, "starting"));
    assert_int_equal(control(ch, "/birdie.v1.Control/Pause"), GRPC_STATUS_FAILED_PRECONDITION);
    /* auth_all off: reads need no token, mutations still do. */
    birdie_rpc_channel *anon = fix_channel(&f, NULL);
    Birdie__V1__GetStatusResponse *s = get_status(anon);
    assert_string_equal(s->state, "starting");
    protobuf_c_message_free_unpacked(&s->base, NULL);
    assert_int_equal(set_mixture(anon, 1, arms, w, -1, NULL, NULL, &st), GRPC_STATUS_UNAUTHENTICATED);
    /* A world-size mismatch is refused. */
    worker_client_config bad = {.addr = f.addr,
                                .token = FIX_TOKEN,
                                .rank = 2,
                                .world_size = 4,
                                .deadline_ms = DEADLINE_MS,
                                .connect_timeout_ms = 100};
    worker_client *wbad = NULL;
    char err[512];
    int rc = worker_client_open(&bad, &wbad, err, sizeof(err));
    assert_int_equal(worker_client_rpc_code(rc), GRPC_STATUS_FAILED_PRECONDITION);
    worker_client *w2 = open_worker(&f, 2, 3);
    /* Ranks 0 and 1 report step 10, rank 2 never does: the run fails with a named reason. */
    double l[FIX_N_ARMS] = {1, 1, 1, 1};
    assert_int_equal(worker_client_report_eval(w0, 10, l, l, NULL, err, sizeof(err)), 0);
    assert_int_equal(worker_client_report_eval(w1, 10, l, l, NULL, err, sizeof(err)), 0);
    assert_true(worker_client_wait(w2, 0, WORKER_WAKE_STOP, 3000));
    worker_directive d;
    worker_client_poll(w2, &d, NULL);
    assert_non_null(strstr(d.stop_reason, "eval_deadline_exceeded"));
    assert_non_null(strstr(d.stop_reason, "missing ranks 2"));
    s = get_status(anon);
    assert_string_equal(s->state, "failed");
    assert_non_null(strstr(s->last_error, "step 10"));
    protobuf_c_message_free_unpacked(&s->base, NULL);
    assert_int_equal(fix_count(&f, "events", "kind = 'eval_deadline_exceeded'"), 1);
    assert_int_equal(fix_count(&f, "incarnations", "end_state = 'failed'"), 1);
    assert_int_equal(fix_count(&f, "evals", NULL), 0);
    birdie_rpc_channel_close(anon);
    birdie_rpc_channel_close(ch);
    worker_client_close(w0);
    worker_client_close(w1);
    worker_client_close(w2);
    fix_stop(&f);
}

static int never_called(void *ctx, int64_t step, const double *loss_sum, const double *tokens, int n_arms,
                        coordinator_decision *out, char *err, size_t errlen)
{
    return -EINVAL;
}

static void test_port_in_use_and_bad_config(void **state)
{
    fixture f;
    assert_int_equal(fix_start(&f, 1, 1, 1000), 0);
    fake_scheduler sched = {0};
    char db[400], err[512] = "";
    snprintf(db, sizeof(db), "%s/second.db", f.dir);
    coordinator_config cfg = {.bind_addr = f.addr,
                              .token = FIX_TOKEN,
                              .auth_all = 1,
                              .db_path = db,
                              .run_name = "r2",
                              .n_arms = FIX_N_ARMS,
                              .arm_names = fix_arm_names,
                              .arm_classes = fix_arm_classes,
                              .world_size = 1,
                              .eval_deadline_ms = 1000,
                              .decide = NULL,
                              .decide_ctx = &sched};
    coordinator *co = NULL;
    assert_int_equal(coordinator_start(&cfg, &co, err, sizeof(err)), -EINVAL); /* no decide callback */
    assert_non_null(strstr(err, "decide"));
    cfg.decide = never_called; /* start must fail at bind, before any round */
    assert_int_equal(coordinator_start(&cfg, &co, err, sizeof(err)), -EADDRINUSE);
    assert_null(co);
    assert_non_null(strstr(err, f.addr));
    cfg.token = "";
    assert_int_equal(coordinator_start(&cfg, &co, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "token"));
    /* The first coordinator still serves. */
    birdie_rpc_channel *ch = fix_channel(&f, FIX_TOKEN);
    Birdie__V1__GetStatusResponse *s = get_status(ch);
    assert_string_equal(s->run_name, "test-run");
    protobuf_c_message_free_unpacked(&s->base, NULL);
    birdie_rpc_channel_close(ch);
    fix_stop(&f);
}

/* A world of one registered rank holding its mixture, and an operator's Watch stream read past its
 * snapshot event: what the stream-ending tests start from. */
static birdie_rpc_stream *open_one_rank_watch(fixture *f, worker_client **w, birdie_rpc_channel **ch)
{
    assert_int_equal(fix_start(f, 1, 1, 1000), 0);
    *w = open_worker(f, 0, 1);
    assert_true(worker_client_wait(*w, 0, WORKER_WAKE_VERSION, 3000));
    *ch = fix_channel(f, FIX_TOKEN);
    Birdie__V1__WatchRequest req = BIRDIE__V1__WATCH_REQUEST__INIT;
    birdie_rpc_stream *s = NULL;
    birdie_rpc_status st;
    assert_int_equal(birdie_rpc_stream_open(*ch, "/birdie.v1.Control/Watch", &req.base, 0, &s, &st), 0);
    ProtobufCMessage *m = NULL;
    assert_int_equal(birdie_rpc_stream_next(s, &birdie__v1__event__descriptor, &m, &st), 1); /* the snapshot */
    protobuf_c_message_free_unpacked(m, NULL);
    return s;
}

/* Stopping the coordinator with live streams (a worker's WatchMixture, an operator's Watch) must not
 * hang, and the worker must notice the stream is gone. */
static void test_stop_with_live_streams(void **state)
{
    fixture f;
    worker_client *w;
    birdie_rpc_channel *ch;
    birdie_rpc_stream *s = open_one_rank_watch(&f, &w, &ch);
    birdie_rpc_status st;
    ProtobufCMessage *m = NULL;
    int64_t t0 = birdie_monotonic_ms();
    coordinator_stop(f.co);
    f.co = NULL;
    int64_t took = birdie_monotonic_ms() - t0;
    printf("# coordinator_stop with 2 live streams took %lld ms\n", (long long)took);
    assert_true(took < 2000);
    assert_int_equal(birdie_rpc_stream_next(s, &birdie__v1__event__descriptor, &m, &st), 0);
    assert_int_not_equal(st.code, GRPC_STATUS_OK);
    birdie_rpc_stream_close(s);
    worker_directive d = {.stream_connected = 1};
    for (int i = 0; i < 100 && d.stream_connected; i++) {
        worker_client_poll(w, &d, NULL);
        usleep(20000);
    }
    assert_false(d.stream_connected);
    assert_int_equal(fix_count(&f, "incarnations", "end_state = 'running' AND end_reason = 'coordinator stopped'"), 1);
    worker_client_close(w);
    birdie_rpc_channel_close(ch);
    fix_stop(&f);
}

/* At the normal end of a run the Watch stream delivers the run's last events and ends with OK (a
 * client following the usual gRPC advice would retry an UNAVAILABLE), and stopping stays prompt. */
static void test_watch_ends_ok_when_the_run_finished(void **state)
{
    (void)state;
    fixture f;
    char err[256];
    worker_client *w;
    birdie_rpc_channel *ch;
    birdie_rpc_stream *s = open_one_rank_watch(&f, &w, &ch);
    birdie_rpc_status st;
    ProtobufCMessage *m = NULL;
    assert_int_equal(worker_client_finish(w, 5, 0, "", err, sizeof(err)), 0);
    int64_t t0 = birdie_monotonic_ms();
    coordinator_stop(f.co);
    f.co = NULL;
    assert_true(birdie_monotonic_ms() - t0 < 5000);
    int finished_seen = 0, rc;
    while ((rc = birdie_rpc_stream_next(s, &birdie__v1__event__descriptor, &m, &st)) == 1) {
        const Birdie__V1__Event *ev = (const void *)m;
        finished_seen |= !strcmp(ev->kind, "state") && !strcmp(ev->state, "finished");
        protobuf_c_message_free_unpacked(m, NULL);
    }
    assert_int_equal(rc, 0);
    assert_int_equal(st.code, GRPC_STATUS_OK);
    assert_true(finished_seen);
    birdie_rpc_stream_close(s);
    worker_client_close(w);
    birdie_rpc_channel_close(ch);
    fix_stop(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_register_and_initial_mixture, setup_two, teardown_two),
        cmocka_unit_test_setup_teardown(test_stalled_rank_is_flagged, setup_two_stall, teardown_two),
        cmocka_unit_test_setup_teardown(test_store_write_failure_fails_the_run, setup_two, teardown_two),
        cmocka_unit_test(test_watch_ends_ok_when_the_run_finished),
        cmocka_unit_test_setup_teardown(test_eval_round_to_new_version, setup_two, teardown_two),
        cmocka_unit_test_setup_teardown(test_set_mixture_bad_inputs_change_nothing, setup_two, teardown_two),
        cmocka_unit_test_setup_teardown(test_expected_version_and_request_id, setup_two, teardown_two),
        cmocka_unit_test_setup_teardown(test_auth, setup_two, teardown_two),
        cmocka_unit_test_setup_teardown(test_malformed_and_unknown, setup_two, teardown_two),
        cmocka_unit_test_setup_teardown(test_bad_eval_reports, setup_two, teardown_two),
        cmocka_unit_test_setup_teardown(test_pause_resume_stop_reach_workers, setup_two, teardown_two),
        cmocka_unit_test_setup_teardown(test_heartbeats_show_in_status, setup_two, teardown_two),
        cmocka_unit_test_setup_teardown(test_decide_failure_keeps_mixture, setup_two, teardown_two),
        cmocka_unit_test_setup_teardown(test_errors_are_logged, setup_two, teardown_two),
        cmocka_unit_test_setup_teardown(test_eval_sums_over_ranks_and_tokens, setup_two, teardown_two),
        cmocka_unit_test_setup_teardown(test_set_mixture_contract, setup_two, teardown_two),
        cmocka_unit_test_setup_teardown(test_watch_stream_events, setup_two, teardown_two),
        cmocka_unit_test_setup_teardown(test_history_rpc, setup_two, teardown_two),
        cmocka_unit_test_setup_teardown(test_concurrent_status_while_training, setup_two, teardown_two),
        cmocka_unit_test(test_not_started_and_eval_deadline),
        cmocka_unit_test(test_port_in_use_and_bad_config),
        cmocka_unit_test(test_stop_with_live_streams),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
