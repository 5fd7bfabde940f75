/* Tests of daemon/metrics.c, the Prometheus text exposition: a small snapshot against the exact
 * text written by hand from the format's rules (HELP and TYPE once per family, then its samples; `\n`
 * line ends; label values with backslash, quote and newline escaped; histogram buckets cumulative
 * and ending in +Inf = _count), unknown values (NaN) left out rather than shown as 0, the run state
 * as one 1 among 0s, and a snapshot large enough to grow the output buffer several times. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "daemon/metrics.h"

static const char *const class_names[2] = {"ntp", "copy\"ing"};
static const char *const arm_names[3] = {"ntp.a", "copy\\b", "copy\nc"};
static const char *const arm_classes[3] = {"ntp", "copy\"ing", "copy\"ing"};
static const double le[2] = {0.5, 2};
static const int64_t buckets[3] = {1, 0, 2};

/* A two-rank run at step 120: rank 1 has sent no heartbeat yet and is not stalled. */
static birdie_metrics small(double *train, double *val, double *weight, double *reward, double *arm_w, double *hb,
                            int *stalled, birdie_metrics_rpc *rpc)
{
    train[0] = 2.5, train[1] = NAN;
    val[0] = 2.25, val[1] = 3;
    weight[0] = 0.25, weight[1] = 0.75;
    reward[0] = NAN, reward[1] = -0.125;
    arm_w[0] = 0.25, arm_w[1] = 0.5, arm_w[2] = 0.25;
    hb[0] = 0.5, hb[1] = NAN;
    stalled[0] = 0, stalled[1] = 1;
    rpc[0] = (birdie_metrics_rpc){.method = "/birdie.v1.Control/GetStatus", .code = "OK", .count = 7};
    rpc[1] = (birdie_metrics_rpc){.method = "unknown", .code = "UNIMPLEMENTED", .count = 1};
    return (birdie_metrics){.run_name = "run \"a\"",
                            .state = "paused",
                            .serving = 1,
                            .incarnation = 3,
                            .step = 120,
                            .tokens_per_s = 1500,
                            .loss = 2.75,
                            .mixture_version = 4,
                            .n_classes = 2,
                            .class_names = class_names,
                            .class_train_loss = train,
                            .class_val_loss = val,
                            .class_weight = weight,
                            .class_reward = reward,
                            .n_arms = 3,
                            .arm_names = arm_names,
                            .arm_classes = arm_classes,
                            .arm_weight = arm_w,
                            .decisions_explore = 5,
                            .decisions_exploit = 6,
                            .decisions_operator = 1,
                            .n_buckets = 2,
                            .bucket_le = le,
                            .bucket_count = buckets,
                            .decide_seconds_sum = 4.5,
                            .checkpoint_age_s = 12.5,
                            .checkpoint_step = 100,
                            .world_size = 2,
                            .heartbeat_age_s = hb,
                            .stalled = stalled,
                            .n_rpc = 2,
                            .rpc = rpc};
}

/* The samples (no HELP/TYPE lines) of the small snapshot, written from the format's rules. */
static const char *const want_samples =
    "birdie_run_info{run=\"run \\\"a\\\"\"} 1\n"
    "birdie_run_state{state=\"starting\"} 0\n"
    "birdie_run_state{state=\"running\"} 0\n"
    "birdie_run_state{state=\"paused\"} 1\n"
    "birdie_run_state{state=\"stopping\"} 0\n"
    "birdie_run_state{state=\"finished\"} 0\n"
    "birdie_run_state{state=\"failed\"} 0\n"
    "birdie_run_state{state=\"stopped\"} 0\n"
    "birdie_health_serving 1\n"
    "birdie_restarts_total 2\n"
    "birdie_train_step 120\n"
    "birdie_train_tokens_per_second 1500\n"
    "birdie_train_loss 2.75\n"
    "birdie_train_class_loss{class=\"ntp\"} 2.5\n"
    "birdie_validation_loss{class=\"ntp\"} 2.25\n"
    "birdie_validation_loss{class=\"copy\\\"ing\"} 3\n"
    "birdie_mixture_version 4\n"
    "birdie_mixture_weight{arm=\"ntp.a\",class=\"ntp\"} 0.25\n"
    "birdie_mixture_weight{arm=\"copy\\\\b\",class=\"copy\\\"ing\"} 0.5\n"
    "birdie_mixture_weight{arm=\"copy\\nc\",class=\"copy\\\"ing\"} 0.25\n"
    "birdie_mixture_class_weight{class=\"ntp\"} 0.25\n"
    "birdie_mixture_class_weight{class=\"copy\\\"ing\"} 0.75\n"
    "birdie_scheduler_decisions_total{kind=\"explore\"} 5\n"
    "birdie_scheduler_decisions_total{kind=\"exploit\"} 6\n"
    "birdie_scheduler_decisions_total{kind=\"operator\"} 1\n"
    "birdie_scheduler_reward{class=\"copy\\\"ing\"} -0.125\n"
    "birdie_scheduler_decision_duration_seconds_bucket{le=\"0.5\"} 1\n"
    "birdie_scheduler_decision_duration_seconds_bucket{le=\"2\"} 1\n"
    "birdie_scheduler_decision_duration_seconds_bucket{le=\"+Inf\"} 3\n"
    "birdie_scheduler_decision_duration_seconds_sum 4.5\n"
    "birdie_scheduler_decision_duration_seconds_count 3\n"
    "birdie_checkpoint_age_seconds 12.5\n"
    "birdie_checkpoint_step 100\n"
    "birdie_rank_heartbeat_age_seconds{rank=\"0\"} 0.5\n"
    "birdie_rank_stalled{rank=\"0\"} 0\n"
    "birdie_rank_stalled{rank=\"1\"} 1\n"
    "birdie_grpc_requests_total{method=\"/birdie.v1.Control/GetStatus\",code=\"OK\"} 7\n"
    "birdie_grpc_requests_total{method=\"unknown\",code=\"UNIMPLEMENTED\"} 1\n";

/* The families in order with their types. */
static const char *const want_types[][2] = {
    {"birdie_run_info", "gauge"},
    {"birdie_run_state", "gauge"},
    {"birdie_health_serving", "gauge"},
    {"birdie_restarts_total", "counter"},
    {"birdie_train_step", "gauge"},
    {"birdie_train_tokens_per_second", "gauge"},
    {"birdie_train_loss", "gauge"},
    {"birdie_train_class_loss", "gauge"},
    {"birdie_validation_loss", "gauge"},
    {"birdie_mixture_version", "gauge"},
    {"birdie_mixture_weight", "gauge"},
    {"birdie_mixture_class_weight", "gauge"},
    {"birdie_scheduler_decisions_total", "counter"},
    {"birdie_scheduler_reward", "gauge"},
    {"birdie_scheduler_decision_duration_seconds", "histogram"},
    {"birdie_checkpoint_age_seconds", "gauge"},
    {"birdie_checkpoint_step", "gauge"},
    {"birdie_rank_heartbeat_age_seconds", "gauge"},
    {"birdie_rank_stalled", "gauge"},
    {"birdie_grpc_requests_total", "counter"},
};

static void test_small_snapshot_exact_text(void **state)
{
    (void)state;
    double train[2], val[2], weight[2], reward[2], arm_w[3], hb[2];
    int stalled[2];
    birdie_metrics_rpc rpc[2];
    birdie_metrics m = small(train, val, weight, reward, arm_w, hb, stalled, rpc);
    size_t len = 0;
    char *text = birdie_metrics_format(&m, &len);
    assert_non_null(text);
    assert_int_equal(len, strlen(text));
    assert_true(len > 0 && text[len - 1] == '\n');
    /* the samples, in order, once the HELP/TYPE lines are set aside */
    static char got[1 << 14];
    size_t used = 0, n_types = 0;
    for (char *line = text; *line;) {
        char *end = strchr(line, '\n');
        assert_non_null(end);
        size_t n = (size_t)(end - line) + 1;
        if (strncmp(line, "# TYPE ", 7) == 0) {
            char want[128];
            assert_true(n_types < sizeof want_types / sizeof want_types[0]);
            snprintf(want, sizeof want, "# TYPE %s %s\n", want_types[n_types][0], want_types[n_types][1]);
            assert_memory_equal(line, want, strlen(want));
            n_types++;
        } else if (strncmp(line, "# HELP ", 7) == 0) {
            assert_true(n > 8 && line[7] == 'b'); /* "# HELP birdie_... text" */
        } else {
            assert_true(used + n < sizeof got);
            memcpy(got + used, line, n);
            used += n;
        }
        line = end + 1;
    }
    got[used] = '\0';
    assert_int_equal(n_types, sizeof want_types / sizeof want_types[0]);
    assert_string_equal(got, want_samples);
    /* each HELP comes right before its TYPE */
    for (size_t i = 0; i < n_types; i++) {
        char pair[128];
        snprintf(pair, sizeof pair, "# HELP %s ", want_types[i][0]);
        char *help = strstr(text, pair);
        assert_non_null(help);
        char *next = strchr(help, '\n') + 1;
        snprintf(pair, sizeof pair, "# TYPE %s ", want_types[i][0]);
        assert_memory_equal(next, pair, strlen(pair));
    }
    free(text);
}

/* Values read back exactly: %.17g, never a rounded %g. */
static void test_values_round_trip(void **state)
{
    (void)state;
    double train[2], val[2], weight[2], reward[2], arm_w[3], hb[2];
    int stalled[2];
    birdie_metrics_rpc rpc[2];
    birdie_metrics m = small(train, val, weight, reward, arm_w, hb, stalled, rpc);
    m.loss = 0.1 + 0.2; /* 0.30000000000000004 */
    m.tokens_per_s = 1.0 / 3.0;
    char *text = birdie_metrics_format(&m, NULL);
    assert_non_null(text);
    const char *l = strstr(text, "\nbirdie_train_loss ");
    const char *t = strstr(text, "\nbirdie_train_tokens_per_second ");
    assert_non_null(l);
    assert_non_null(t);
    assert_true(strtod(l + strlen("\nbirdie_train_loss "), NULL) == 0.1 + 0.2);
    assert_true(strtod(t + strlen("\nbirdie_train_tokens_per_second "), NULL) == 1.0 / 3.0);
    free(text);
}

/* Nothing known yet (a run that just started): the unknown gauges have no sample at all. */
static void test_unknown_values_are_absent(void **state)
{
    (void)state;
    double train[2], val[2], weight[2], reward[2], arm_w[3], hb[2];
    int stalled[2];
    birdie_metrics_rpc rpc[2];
    birdie_metrics m = small(train, val, weight, reward, arm_w, hb, stalled, rpc);
    m.loss = NAN;
    m.checkpoint_age_s = NAN;
    val[0] = val[1] = NAN;
    hb[0] = NAN;
    m.n_rpc = 0;
    m.state = "starting";
    m.serving = 0;
    char *text = birdie_metrics_format(&m, NULL);
    assert_non_null(text);
    assert_null(strstr(text, "\nbirdie_train_loss "));
    assert_null(strstr(text, "\nbirdie_validation_loss{"));
    assert_null(strstr(text, "\nbirdie_checkpoint_age_seconds "));
    assert_null(strstr(text, "\nbirdie_checkpoint_step "));
    assert_null(strstr(text, "\nbirdie_rank_heartbeat_age_seconds{"));
    assert_null(strstr(text, "\nbirdie_grpc_requests_total{"));
    assert_null(strstr(text, "NaN"));
    assert_non_null(strstr(text, "\nbirdie_run_state{state=\"starting\"} 1\n"));
    assert_non_null(strstr(text, "\nbirdie_run_state{state=\"paused\"} 0\n"));
    assert_non_null(strstr(text, "\nbirdie_health_serving 0\n"));
    assert_non_null(strstr(text, "# TYPE birdie_validation_loss gauge\n"));
    free(text);
}

/* 61 arms with long names and 512 ranks: more than twice the first buffer, every sample still there. */
static void test_large_snapshot(void **state)
{
    (void)state;
    enum { ARMS = 61, RANKS = 512 };
    static char names[ARMS][64];
    static const char *arm_ptr[ARMS], *cls_ptr[ARMS];
    static double arm_w[ARMS], hb[RANKS];
    static int stalled[RANKS];
    for (int i = 0; i < ARMS; i++) {
        snprintf(names[i], sizeof names[i], "infill.l%d-%d.r15.w%d.extra-long-name", 16 + i, 96 + i, i);
        arm_ptr[i] = names[i];
        cls_ptr[i] = "infilling";
        arm_w[i] = 1.0 / ARMS;
    }
    for (int r = 0; r < RANKS; r++)
        hb[r] = r * 0.25;
    static const char *const one_class[1] = {"infilling"};
    double one[1] = {1};
    birdie_metrics m = {.run_name = "r",
                        .state = "running",
                        .loss = NAN,
                        .checkpoint_age_s = NAN,
                        .n_classes = 1,
                        .class_names = one_class,
                        .class_weight = one,
                        .n_arms = ARMS,
                        .arm_names = arm_ptr,
                        .arm_classes = cls_ptr,
                        .arm_weight = arm_w,
                        .n_buckets = 2,
                        .bucket_le = le,
                        .bucket_count = buckets,
                        .world_size = RANKS,
                        .heartbeat_age_s = hb,
                        .stalled = stalled};
    size_t len = 0;
    char *text = birdie_metrics_format(&m, &len);
    assert_non_null(text);
    assert_true(len > 2 * 16384); /* the buffer started at 16 KiB */
    int weights = 0, ages = 0;
    for (const char *p = text; (p = strstr(p, "\nbirdie_mixture_weight{")); p++)
        weights++;
    for (const char *p = text; (p = strstr(p, "\nbirdie_rank_heartbeat_age_seconds{")); p++)
        ages++;
    assert_int_equal(weights, ARMS);
    assert_int_equal(ages, RANKS);
    assert_non_null(strstr(text, "\nbirdie_rank_heartbeat_age_seconds{rank=\"511\"} 127.75\n"));
    assert_non_null(strstr(text, "infill.l76-156.r15.w60.extra-long-name"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_snapshot_exact_text),
        cmocka_unit_test(test_values_round_trip),
        cmocka_unit_test(test_unknown_values_are_absent),
        cmocka_unit_test(test_large_snapshot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
