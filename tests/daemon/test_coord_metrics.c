/* Tests of daemon/coord_metrics.c against an in-process coordinator serving GET /metrics: on a paused
 * run (nothing changes between the calls) every number of a scrape equals what GetStatus answers and
 * what the store holds, each recomputed here from the rows themselves (per-class validation loss as
 * the class's summed loss over its summed tokens, per-class weight as a sum, reward as a mean, the
 * decisions counted by kind); a coordinator restarted on the same database counts a restart and
 * keeps the run's decision counts; RPCs are counted per method and code, exactly; the per-class
 * training loss of a heartbeat is shown and a class the run does not have is refused; other paths
 * and methods are refused over HTTP. */
#define _GNU_SOURCE
#include <math.h>
#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "birdie/v1/birdie.pb-c.h"
#include "daemon/worker_client.h"
#include "tests/daemon/daemon_fixture.h"
#include "tests/daemon/two_ranks.h"
#include "worker/clock.h"

static int setup_metrics(void **state)
{
    two_ranks *t = calloc(1, sizeof(*t));
    if (!t || fix_start_metrics(&t->f, 2, 1, 3000, 0))
        return -1;
    t->w0 = open_worker(&t->f, 0, 2);
    t->w1 = open_worker(&t->f, 1, 2);
    t->ch = fix_channel(&t->f, FIX_TOKEN);
    *state = t;
    return 0;
}

/* One number from the store (a read-only connection): the first column of the first row, NaN if none. */
static double sql_value(const fixture *f, const char *sql)
{
    sqlite3 *db = NULL;
    double v = NAN;
    if (sqlite3_open_v2(f->db_path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        sqlite3_stmt *st = NULL;
        sqlite3_busy_timeout(db, 2000);
        if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW &&
            sqlite3_column_type(st, 0) != SQLITE_NULL)
            v = sqlite3_column_double(st, 0);
        else if (!st)
            fprintf(stderr, "%s: %s\n", sql, sqlite3_errmsg(db));
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return v;
}

static char *scrape(const fixture *f)
{
    char *body = NULL, ctype[128];
    int status = fix_http_get(f, "GET", "/metrics", &body, ctype, sizeof ctype);
    if (status != 200 || !body)
        fail_msg("GET /metrics answered %d", status);
    assert_string_equal(ctype, "text/plain; version=0.0.4; charset=utf-8");
    return body;
}

static double metric(const char *text, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static double metric(const char *text, const char *fmt, ...)
{
    char sample[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sample, sizeof sample, fmt, ap);
    va_end(ap);
    return fix_metric(text, sample);
}

static void heartbeat(worker_client *w, int64_t step, double tokens_per_s, double loss, int n_classes,
                      const char *const *classes, const double *class_loss)
{
    worker_heartbeat hb = {.step = step, .tokens_per_s = tokens_per_s, .loss = loss, .lr = 1e-3, .grad_norm = 1};
    hb.n_classes = n_classes;
    for (int i = 0; i < n_classes; i++) {
        hb.class_names[i] = classes[i];
        hb.class_loss[i] = class_loss[i];
    }
    char err[256];
    if (worker_client_heartbeat(w, &hb, err, sizeof err))
        fail_msg("heartbeat: %s", err);
}

static void eval_round(two_ranks *t, int64_t step, const double *l0, const double *l1, int64_t want_version)
{
    double tokens0[FIX_N_ARMS] = {100, 50, 80, 20}, tokens1[FIX_N_ARMS] = {60, 70, 10, 40};
    char err[256];
    int complete = 0;
    if (worker_client_report_eval(t->w0, step, l0, tokens0, &complete, err, sizeof err) ||
        worker_client_report_eval(t->w1, step, l1, tokens1, &complete, err, sizeof err))
        fail_msg("report: %s", err);
    assert_true(complete);
    int64_t v = -1;
    for (int i = 0; i < 250 && v < want_version; i++) {
        Birdie__V1__GetStatusResponse *s = get_status(t->ch);
        v = s->mixture->version;
        protobuf_c_message_free_unpacked(&s->base, NULL);
        if (v < want_version)
            usleep(20000);
    }
    assert_int_equal(v, want_version);
}

/* The run through three scheduler decisions (exploit, explore, exploit: the fake scheduler explores
 * at odd steps), an operator mixture and a checkpoint, then paused. */
static void drive_and_pause(two_ranks *t)
{
    static const char *const classes[2] = {"copying", "ntp"};
    const double class_loss[2] = {3.25, 2.0};
    heartbeat(t->w0, 5, 1000, 2.5, 2, classes, class_loss);
    heartbeat(t->w1, 6, 600, NAN, 0, NULL, NULL);
    double a0[FIX_N_ARMS] = {200, 90, 100, 30}, a1[FIX_N_ARMS] = {150, 120, 15, 70};
    eval_round(t, 10, a0, a1, 1);
    double b0[FIX_N_ARMS] = {180, 80, 120, 25}, b1[FIX_N_ARMS] = {110, 130, 12, 90};
    eval_round(t, 15, b0, b1, 2);
    double c0[FIX_N_ARMS] = {170, 85, 110, 28}, c1[FIX_N_ARMS] = {100, 125, 14, 80};
    eval_round(t, 20, c0, c1, 3);
    heartbeat(t->w0, 21, 1100, 2.25, 2, classes, class_loss);
    Birdie__V1__SetMixtureRequest req = BIRDIE__V1__SET_MIXTURE_REQUEST__INIT;
    Birdie__V1__ArmWeight aw[2] = {BIRDIE__V1__ARM_WEIGHT__INIT, BIRDIE__V1__ARM_WEIGHT__INIT},
                          *awp[2] = {&aw[0], &aw[1]};
    aw[0].arm = "ntp", aw[0].weight = 3;
    aw[1].arm = "copy_long", aw[1].weight = 1;
    req.weights = awp;
    req.n_weights = 2;
    req.reason = "metrics test";
    ProtobufCMessage *resp = NULL;
    birdie_rpc_status st;
    assert_int_equal(birdie_rpc_unary(t->ch, "/birdie.v1.Control/SetMixture", &req.base,
                                      &birdie__v1__set_mixture_response__descriptor, &resp, 5000, &st),
                     0);
    protobuf_c_message_free_unpacked(resp, NULL);
    char err[256];
    assert_int_equal(
        worker_client_report_checkpoint(t->w0, 12, "/ck/ckpt_12.bin", 4096, "0123456789abcdef", err, sizeof err), 0);
    assert_int_equal(control(t->ch, "/birdie.v1.Control/Pause"), GRPC_STATUS_OK);
}

static void test_scrape_agrees_with_status_and_store(void **state)
{
    two_ranks *t = *state;
    drive_and_pause(t);
    int64_t t0 = birdie_monotonic_ms();
    char *text = scrape(&t->f);
    Birdie__V1__GetStatusResponse *s = get_status(t->ch);
    double between_s = (double)(birdie_monotonic_ms() - t0) / 1000.0;
    const fixture *f = &t->f;

    /* the run and its state */
    assert_string_equal(s->state, "paused");
    assert_true(metric(text, "birdie_run_state{state=\"paused\"}") == 1);
    assert_true(metric(text, "birdie_run_state{state=\"running\"}") == 0);
    assert_int_equal(fix_count(f, "runs", "state = 'paused'"), 1);
    assert_true(metric(text, "birdie_run_info{run=\"test-run\"}") == 1);
    assert_true(metric(text, "birdie_health_serving") == 1); /* paused is SERVING (docs/design.md §9.2) */
    assert_true(metric(text, "birdie_restarts_total") == sql_value(f, "SELECT count(*) - 1 FROM incarnations"));

    /* steps */
    assert_true(metric(text, "birdie_train_step") == (double)s->step);
    assert_int_equal(s->step, 21);
    assert_true(metric(text, "birdie_train_tokens_per_second") == s->tokens_per_s);
    assert_true(metric(text, "birdie_train_loss") ==
                sql_value(f, "SELECT loss FROM steps ORDER BY incarnation DESC, step DESC LIMIT 1"));
    assert_true(metric(text, "birdie_train_class_loss{class=\"ntp\"}") == 2.0);
    assert_true(metric(text, "birdie_train_class_loss{class=\"copying\"}") == 3.25);
    assert_true(isnan(metric(text, "birdie_train_class_loss{class=\"prefix_lm\"}"))); /* not in the heartbeat */

    /* the mixture in force, per arm and per class */
    assert_int_equal(s->mixture->version, 4);
    assert_true(metric(text, "birdie_mixture_version") == (double)s->mixture->version);
    assert_true(metric(text, "birdie_mixture_version") == sql_value(f, "SELECT max(version) FROM mixtures"));
    for (size_t i = 0; i < s->mixture->n_weights; i++) {
        const Birdie__V1__ArmWeight *w = s->mixture->weights[i];
        int a = 0;
        while (strcmp(fix_arm_names[a], w->arm) != 0)
            a++;
        char sql[256];
        snprintf(sql, sizeof sql,
                 "SELECT weight FROM mixture_weights w JOIN arms USING (run_id, arm_index) WHERE arms.name = '%s' "
                 "AND version = %lld",
                 w->arm, (long long)s->mixture->version);
        double m = metric(text, "birdie_mixture_weight{arm=\"%s\",class=\"%s\"}", w->arm, fix_arm_classes[a]);
        assert_true(m == w->weight);
        assert_true(m == sql_value(f, sql));
    }
    static const char *const classes[3] = {"ntp", "prefix_lm", "copying"};
    for (int c = 0; c < 3; c++) {
        char sql[512];
        snprintf(sql, sizeof sql,
                 "SELECT sum(weight) FROM mixture_weights w JOIN arms USING (run_id, arm_index) WHERE arms.class = "
                 "'%s' AND version = (SELECT max(version) FROM mixtures)",
                 classes[c]);
        assert_true(fabs(metric(text, "birdie_mixture_class_weight{class=\"%s\"}", classes[c]) - sql_value(f, sql)) <=
                    4 * 2.2e-16);
        /* the newest evaluation's validation loss of the class: its summed loss over its summed tokens */
        snprintf(sql, sizeof sql,
                 "SELECT sum(loss_sum) / sum(tokens) FROM evals e JOIN arms USING (run_id, arm_index) WHERE "
                 "arms.class = '%s' AND step = (SELECT max(step) FROM evals)",
                 classes[c]);
        double want = sql_value(f, sql);
        assert_true(fabs(metric(text, "birdie_validation_loss{class=\"%s\"}", classes[c]) - want) <= 4e-16 * want);
        /* the newest decision's reward of the class: the mean of its arms' rewards */
        snprintf(sql, sizeof sql,
                 "SELECT avg(reward) FROM rewards r JOIN arms USING (run_id, arm_index) WHERE arms.class = '%s' AND "
                 "step = (SELECT max(step) FROM rewards)",
                 classes[c]);
        want = sql_value(f, sql);
        assert_true(fabs(metric(text, "birdie_scheduler_reward{class=\"%s\"}", classes[c]) - want) <= 4e-16 * want);
    }
    /* decisions by kind: the store's rows */
    assert_true(metric(text, "birdie_scheduler_decisions_total{kind=\"exploit\"}") == 2);
    assert_true(metric(text, "birdie_scheduler_decisions_total{kind=\"explore\"}") == 1);
    assert_true(metric(text, "birdie_scheduler_decisions_total{kind=\"operator\"}") == 1);
    assert_true(metric(text, "birdie_scheduler_decisions_total{kind=\"exploit\"}") ==
                sql_value(f, "SELECT count(*) FROM decisions WHERE source = 'scheduler' AND explore = 0"));
    assert_true(metric(text, "birdie_scheduler_decisions_total{kind=\"explore\"}") ==
                sql_value(f, "SELECT count(*) FROM decisions WHERE source = 'scheduler' AND explore = 1"));
    assert_true(metric(text, "birdie_scheduler_decisions_total{kind=\"operator\"}") ==
                sql_value(f, "SELECT count(*) FROM decisions WHERE source = 'operator'"));
    assert_true(metric(text, "birdie_scheduler_decision_duration_seconds_count") == 3);
    assert_true(metric(text, "birdie_scheduler_decision_duration_seconds_bucket{le=\"+Inf\"}") == 3);

    /* the checkpoint */
    assert_true(metric(text, "birdie_checkpoint_step") == (double)s->last_checkpoint->step);
    assert_true(metric(text, "birdie_checkpoint_step") == sql_value(f, "SELECT max(step) FROM checkpoints"));
    assert_true(metric(text, "birdie_checkpoint_age_seconds") >= 0);

    /* ranks: the same ages as GetStatus, up to the time between the two reads */
    for (int r = 0; r < 2; r++) {
        double age = metric(text, "birdie_rank_heartbeat_age_seconds{rank=\"%d\"}", r);
        assert_true(age >= 0 && s->ranks[r]->heartbeat_age_s >= age - 0.0011 &&
                    s->ranks[r]->heartbeat_age_s <= age + between_s + 0.0011);
        assert_true(metric(text, "birdie_rank_stalled{rank=\"%d\"}", r) == s->ranks[r]->stalled);
    }
    protobuf_c_message_free_unpacked(&s->base, NULL);
    free(text);
}

/* Every RPC answered counts once under its method and status code. */
static void test_rpcs_counted_by_method_and_code(void **state)
{
    two_ranks *t = *state;
    char *before = scrape(&t->f);
    for (int i = 0; i < 3; i++)
        protobuf_c_message_free_unpacked(&get_status(t->ch)->base, NULL);
    birdie_rpc_channel *wrong = fix_channel(&t->f, "not-the-token");
    Birdie__V1__GetStatusRequest req = BIRDIE__V1__GET_STATUS_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    birdie_rpc_status st;
    assert_int_equal(birdie_rpc_unary(wrong, "/birdie.v1.Control/GetStatus", &req.base,
                                      &birdie__v1__get_status_response__descriptor, &resp, 5000, &st),
                     -1);
    assert_int_equal(birdie_rpc_unary(wrong, "/birdie.v1.Control/NoSuchMethod", &req.base,
                                      &birdie__v1__get_status_response__descriptor, &resp, 5000, &st),
                     -1);
    birdie_rpc_channel_close(wrong);
    char *after = scrape(&t->f);
    const char *ok = "birdie_grpc_requests_total{method=\"/birdie.v1.Control/GetStatus\",code=\"OK\"}";
    const char *denied = "birdie_grpc_requests_total{method=\"/birdie.v1.Control/GetStatus\",code=\"UNAUTHENTICATED\"}";
    const char *unknown = "birdie_grpc_requests_total{method=\"unknown\",code=\"UNIMPLEMENTED\"}";
    double ok0 = fix_metric(before, ok);
    assert_true(fix_metric(after, ok) == (isnan(ok0) ? 0 : ok0) + 3);
    assert_true(isnan(fix_metric(before, denied)));
    assert_true(fix_metric(after, denied) == 1);
    assert_true(fix_metric(after, unknown) == 1);
    assert_true(
        fix_metric(after, "birdie_grpc_requests_total{method=\"/birdie.v1.Coordinator/Register\",code=\"OK\"}") == 2);
    free(before);
    free(after);
}

/* A class the run's arms do not have is refused by name, and nothing of the heartbeat is kept. */
static void test_unknown_class_loss_refused(void **state)
{
    two_ranks *t = *state;
    worker_heartbeat hb = {.step = 3, .loss = 2, .lr = 1e-3, .grad_norm = 1, .n_classes = 1};
    hb.class_names[0] = "no_such_class";
    hb.class_loss[0] = 1;
    char err[256];
    assert_int_equal(worker_client_rpc_code(worker_client_heartbeat(t->w0, &hb, err, sizeof err)),
                     GRPC_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(err, "no_such_class"));
    hb.class_names[0] = "ntp";
    hb.class_loss[0] = -1;
    assert_int_equal(worker_client_rpc_code(worker_client_heartbeat(t->w0, &hb, err, sizeof err)),
                     GRPC_STATUS_INVALID_ARGUMENT);
    char *text = scrape(&t->f);
    assert_true(metric(text, "birdie_train_step") == 0);
    assert_true(isnan(metric(text, "birdie_train_loss")));
    free(text);
}

/* A resumed run (a new incarnation on the same database) counts one restart and keeps counting the
 * decisions the store holds from before. */
static void test_restart_keeps_counts(void **state)
{
    two_ranks *t = *state;
    drive_and_pause(t);
    worker_client_close(t->w0);
    worker_client_close(t->w1);
    t->w0 = t->w1 = NULL;
    birdie_rpc_channel_close(t->ch);
    assert_int_equal(fix_restart(&t->f), 0);
    t->ch = fix_channel(&t->f, FIX_TOKEN);
    char *text = scrape(&t->f);
    assert_true(metric(text, "birdie_restarts_total") == 1);
    assert_true(metric(text, "birdie_restarts_total") == sql_value(&t->f, "SELECT count(*) - 1 FROM incarnations"));
    assert_true(metric(text, "birdie_scheduler_decisions_total{kind=\"exploit\"}") == 2);
    assert_true(metric(text, "birdie_scheduler_decisions_total{kind=\"explore\"}") == 1);
    assert_true(metric(text, "birdie_scheduler_decisions_total{kind=\"operator\"}") == 1);
    assert_true(metric(text, "birdie_checkpoint_step") == 12); /* the run's newest, from before the restart */
    assert_true(metric(text, "birdie_run_state{state=\"starting\"}") == 1);
    assert_true(metric(text, "birdie_health_serving") == 0);
    assert_true(metric(text, "birdie_scheduler_decision_duration_seconds_count") == 0); /* this process's */
    free(text);
}

static void test_http_refuses_other_paths_and_methods(void **state)
{
    two_ranks *t = *state;
    char *body = NULL;
    assert_int_equal(fix_http_get(&t->f, "GET", "/", &body, NULL, 0), 404);
    free(body);
    assert_int_equal(fix_http_get(&t->f, "GET", "/metrics/x", &body, NULL, 0), 404);
    free(body);
    assert_int_equal(fix_http_get(&t->f, "POST", "/metrics", &body, NULL, 0), 405);
    free(body);
    assert_int_equal(fix_http_get(&t->f, "HEAD", "/metrics", &body, NULL, 0), 200);
    free(body);
}

static int never_decides(void *ctx, int64_t step, const double *loss_sum, const double *tokens, int n_arms,
                         coordinator_decision *out, char *err, size_t errlen)
{
    (void)ctx, (void)step, (void)loss_sum, (void)tokens, (void)n_arms, (void)out;
    snprintf(err, errlen, "not expected to run");
    return -1;
}

/* A metrics address nobody can serve stops the start with its name, leaving nothing running. */
static void test_bad_metrics_address(void **state)
{
    (void)state;
    fixture f;
    assert_int_equal(fix_start_metrics(&f, 1, 1, 3000, 0), 0);
    char taken[64], err[512];
    snprintf(taken, sizeof taken, "127.0.0.1:%d", f.metrics_port);
    char db[400];
    snprintf(db, sizeof db, "%s/other.db", f.dir);
    coordinator_config cfg = {.bind_addr = "127.0.0.1:0",
                              .token = FIX_TOKEN,
                              .auth_all = 1,
                              .db_path = db,
                              .run_name = "other",
                              .n_arms = FIX_N_ARMS,
                              .arm_names = fix_arm_names,
                              .arm_classes = fix_arm_classes,
                              .world_size = 1,
                              .eval_deadline_ms = 1000,
                              .decide = never_decides,
                              .metrics_addr = taken};
    coordinator *co = NULL;
    assert_true(coordinator_start(&cfg, &co, err, sizeof err) < 0);
    assert_null(co);
    assert_non_null(strstr(err, taken));
    cfg.metrics_addr = "no-port";
    assert_true(coordinator_start(&cfg, &co, err, sizeof err) < 0);
    assert_non_null(strstr(err, "no-port"));
    fix_stop(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_scrape_agrees_with_status_and_store, setup_metrics, teardown_two),
        cmocka_unit_test_setup_teardown(test_rpcs_counted_by_method_and_code, setup_metrics, teardown_two),
        cmocka_unit_test_setup_teardown(test_unknown_class_loss_refused, setup_metrics, teardown_two),
        cmocka_unit_test_setup_teardown(test_restart_keeps_counts, setup_metrics, teardown_two),
        cmocka_unit_test_setup_teardown(test_http_refuses_other_paths_and_methods, setup_metrics, teardown_two),
        cmocka_unit_test(test_bad_metrics_address),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
