/* metrics: see metrics.h. The exposition format (prometheus.io/docs/instrumenting/exposition_formats):
 * one "# HELP" and one "# TYPE" line per family, then its samples; label values escape backslash,
 * double quote and newline; every line ends in "\n"; floats print so that they read back exactly
 * (%.17g), NaN as "NaN". Families whose value is not known yet keep their HELP and TYPE and have no
 * sample, so a dashboard shows a gap rather than a made-up zero. */
#include "daemon/metrics.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const birdie_metrics_states[] = {"starting", "running", "paused", "stopping",
                                             "finished", "failed",  "stopped"};
const int birdie_metrics_n_states = (int)(sizeof birdie_metrics_states / sizeof birdie_metrics_states[0]);

typedef struct out_buf {
    char *p;
    size_t len, cap;
    int failed;
} out_buf;

static void put(out_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(out_buf *b, const char *fmt, ...)
{
    if (b->failed)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = 1;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap * 2 + (size_t)n + 1;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
}

/* A label value with \\, \" and \n escaped. */
static void put_label(out_buf *b, const char *v)
{
    for (const char *c = v ? v : ""; *c; c++) {
        if (*c == '\\')
            put(b, "\\\\");
        else if (*c == '"')
            put(b, "\\\"");
        else if (*c == '\n')
            put(b, "\\n");
        else
            put(b, "%c", *c);
    }
}

static void put_value(out_buf *b, double v)
{
    if (isnan(v))
        put(b, " NaN\n");
    else if (isinf(v))
        put(b, v > 0 ? " +Inf\n" : " -Inf\n");
    else
        put(b, " %.17g\n", v);
}

static void family(out_buf *b, const char *name, const char *type, const char *help)
{
    put(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{key="value"} v, or name v when key is NULL. */
static void sample1(out_buf *b, const char *name, const char *key, const char *value, double v)
{
    put(b, "%s", name);
    if (key) {
        put(b, "{%s=\"", key);
        put_label(b, value);
        put(b, "\"}");
    }
    put_value(b, v);
}

static void per_class(out_buf *b, const birdie_metrics *m, const char *name, const char *help, const double *v)
{
    family(b, name, "gauge", help);
    for (int c = 0; v && c < m->n_classes; c++)
        if (!isnan(v[c]))
            sample1(b, name, "class", m->class_names[c], v[c]);
}

static void run_families(out_buf *b, const birdie_metrics *m)
{
    family(b, "birdie_run_info", "gauge", "The run this coordinator serves (always 1; the run's name is the label).");
    sample1(b, "birdie_run_info", "run", m->run_name, 1);
    family(b, "birdie_run_state", "gauge", "1 for the run's current state, 0 for every other state.");
    for (int i = 0; i < birdie_metrics_n_states; i++)
        sample1(b, "birdie_run_state", "state", birdie_metrics_states[i],
                m->state && strcmp(m->state, birdie_metrics_states[i]) == 0);
    family(b, "birdie_health_serving", "gauge",
           "1 while grpc.health.v1 answers SERVING, 0 while it answers NOT_SERVING.");
    sample1(b, "birdie_health_serving", NULL, NULL, m->serving ? 1 : 0);
    family(b, "birdie_restarts_total", "counter", "Resumes of this run from a checkpoint (its incarnation minus one).");
    sample1(b, "birdie_restarts_total", NULL, NULL, (double)(m->incarnation > 0 ? m->incarnation - 1 : 0));
}

static void train_families(out_buf *b, const birdie_metrics *m)
{
    family(b, "birdie_train_step", "gauge", "Newest training step any rank reported.");
    sample1(b, "birdie_train_step", NULL, NULL, (double)m->step);
    family(b, "birdie_train_tokens_per_second", "gauge",
           "Training throughput in tokens per second, summed over ranks.");
    sample1(b, "birdie_train_tokens_per_second", NULL, NULL, m->tokens_per_s);
    family(b, "birdie_train_loss", "gauge", "Training loss (nats per token) of the newest recorded step.");
    if (!isnan(m->loss))
        sample1(b, "birdie_train_loss", NULL, NULL, m->loss);
    per_class(b, m, "birdie_train_class_loss",
              "Training loss (nats per token) of the newest recorded step by objective class.", m->class_train_loss);
    per_class(b, m, "birdie_validation_loss",
              "Validation loss (nats per token) of the newest evaluation by objective class: its arms' summed loss "
              "over their summed tokens.",
              m->class_val_loss);
}

static void mixture_families(out_buf *b, const birdie_metrics *m)
{
    family(b, "birdie_mixture_version", "gauge", "Version of the mixture in force (config 0, +1 per new mixture).");
    sample1(b, "birdie_mixture_version", NULL, NULL, (double)m->mixture_version);
    family(b, "birdie_mixture_weight", "gauge", "Weight of each objective arm in the mixture in force.");
    for (int i = 0; i < m->n_arms; i++) {
        put(b, "birdie_mixture_weight{arm=\"");
        put_label(b, m->arm_names[i]);
        put(b, "\",class=\"");
        put_label(b, m->arm_classes[i]);
        put(b, "\"}");
        put_value(b, m->arm_weight[i]);
    }
    per_class(b, m, "birdie_mixture_class_weight", "Weight of each objective class in the mixture in force.",
              m->class_weight);
}

static void scheduler_families(out_buf *b, const birdie_metrics *m)
{
    family(b, "birdie_scheduler_decisions_total", "counter",
           "Mixture decisions recorded for this run by kind: the scheduler's explore or exploit draws, or an "
           "operator's mixture.");
    sample1(b, "birdie_scheduler_decisions_total", "kind", "explore", (double)m->decisions_explore);
    sample1(b, "birdie_scheduler_decisions_total", "kind", "exploit", (double)m->decisions_exploit);
    sample1(b, "birdie_scheduler_decisions_total", "kind", "operator", (double)m->decisions_operator);
    per_class(b, m, "birdie_scheduler_reward",
              "Reward of the newest scheduler decision by objective class (mean over "
              "the class's arms).",
              m->class_reward);
    const char *h = "birdie_scheduler_decision_duration_seconds";
    family(b, h, "histogram", "Time the scheduler took per decision, in this process.");
    int64_t cum = 0;
    for (int i = 0; i < m->n_buckets; i++) {
        cum += m->bucket_count[i];
        put(b, "%s_bucket{le=\"%.17g\"} %lld\n", h, m->bucket_le[i], (long long)cum);
    }
    cum += m->bucket_count[m->n_buckets];
    put(b, "%s_bucket{le=\"+Inf\"} %lld\n", h, (long long)cum);
    put(b, "%s_sum", h);
    put_value(b, m->decide_seconds_sum);
    put(b, "%s_count %lld\n", h, (long long)cum);
}

static void health_families(out_buf *b, const birdie_metrics *m)
{
    family(b, "birdie_checkpoint_age_seconds", "gauge", "Seconds since the newest recorded checkpoint was written.");
    if (!isnan(m->checkpoint_age_s))
        sample1(b, "birdie_checkpoint_age_seconds", NULL, NULL, m->checkpoint_age_s);
    family(b, "birdie_checkpoint_step", "gauge", "Training step of the newest recorded checkpoint.");
    if (!isnan(m->checkpoint_age_s))
        sample1(b, "birdie_checkpoint_step", NULL, NULL, (double)m->checkpoint_step);
    char rank[16];
    family(b, "birdie_rank_heartbeat_age_seconds", "gauge", "Seconds since each rank's newest heartbeat.");
    for (int r = 0; r < m->world_size; r++) {
        snprintf(rank, sizeof rank, "%d", r);
        if (!isnan(m->heartbeat_age_s[r]))
            sample1(b, "birdie_rank_heartbeat_age_seconds", "rank", rank, m->heartbeat_age_s[r]);
    }
    family(b, "birdie_rank_stalled", "gauge", "1 while a rank is flagged as stalled (its heartbeat is late), else 0.");
    for (int r = 0; r < m->world_size; r++) {
        snprintf(rank, sizeof rank, "%d", r);
        sample1(b, "birdie_rank_stalled", "rank", rank, m->stalled[r] ? 1 : 0);
    }
    family(b, "birdie_grpc_requests_total", "counter", "RPCs this coordinator answered, by method and status code.");
    for (size_t i = 0; i < m->n_rpc; i++) {
        put(b, "birdie_grpc_requests_total{method=\"");
        put_label(b, m->rpc[i].method);
        put(b, "\",code=\"");
        put_label(b, m->rpc[i].code);
        put(b, "\"} %lld\n", (long long)m->rpc[i].count);
    }
}

char *birdie_metrics_format(const birdie_metrics *m, size_t *len)
{
    out_buf b = {.cap = 16384};
    b.p = malloc(b.cap);
    if (!b.p)
        return NULL;
    run_families(&b, m);
    train_families(&b, m);
    mixture_families(&b, m);
    scheduler_families(&b, m);
    health_families(&b, m);
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    if (len)
        *len = b.len;
    return b.p;
}
