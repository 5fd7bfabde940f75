/* daemon/scheduler/decision.c: decision records: allocation, bit-exact comparison and the plain-text
 * dump for logs. A record's double arrays live in one allocation that starts at loss_sum, its one
 * int array (top_index) in another. Recomputing a record from a saved state is state_io.c. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/scheduler/decision_internal.h"

void birdie_decision_free(birdie_decision *d)
{
    if (!d)
        return;
    free(d->loss_sum);
    free(d->top_index);
    memset(d, 0, sizeof(*d));
}

int sched_decision_alloc(birdie_decision *d, int n_arms, int top_k)
{
    birdie_decision_free(d);
    size_t N = (size_t)n_arms, k = (size_t)top_k;
    double *block = calloc(8 * N + k + k * N, sizeof(double));
    int *idx = calloc(k, sizeof(int));
    if (!block || !idx) {
        free(block);
        free(idx);
        return -ENOMEM;
    }
    d->n_arms = n_arms;
    d->top_k = top_k;
    double **arrays[8] = {&d->loss_sum, &d->tokens,       &d->mixture_in,  &d->loss,
                          &d->reward,   &d->predicted_in, &d->mixture_out, &d->predicted_out};
    for (int a = 0; a < 8; a++)
        *arrays[a] = block + (size_t)a * N;
    d->top_score = block + 8 * N;
    d->top_candidates = d->top_score + k;
    d->top_index = idx;
    d->fit_mse_first = d->fit_mse_last = d->fit_mse_clean = NAN;
    d->explore_prob = d->explore_draw = NAN;
    return 0;
}

static int same_bits(const void *a, const void *b, size_t bytes)
{
    return memcmp(a, b, bytes) == 0;
}

static int same_doubles(double a, double b)
{
    return same_bits(&a, &b, sizeof(double));
}

int birdie_decision_equal(const birdie_decision *a, const birdie_decision *b)
{
    if (a->n_arms != b->n_arms || a->top_k != b->top_k || a->eval_index != b->eval_index || a->step != b->step ||
        a->kind != b->kind || a->mixture_version_in != b->mixture_version_in ||
        a->mixture_version_out != b->mixture_version_out || a->has_reward != b->has_reward ||
        a->has_prediction != b->has_prediction || a->history_len != b->history_len ||
        a->n_candidates != b->n_candidates)
        return 0;
    const double scalars_a[] = {a->observed_score, a->predicted_in_score, a->fit_mse_first, a->fit_mse_last,
                                a->fit_mse_clean,  a->explore_prob,       a->explore_draw,  a->predicted_out_score};
    const double scalars_b[] = {b->observed_score, b->predicted_in_score, b->fit_mse_first, b->fit_mse_last,
                                b->fit_mse_clean,  b->explore_prob,       b->explore_draw,  b->predicted_out_score};
    for (size_t i = 0; i < sizeof(scalars_a) / sizeof(scalars_a[0]); i++)
        if (!same_doubles(scalars_a[i], scalars_b[i]))
            return 0;
    size_t N = (size_t)a->n_arms, k = (size_t)a->top_k;
    /* the double block: 8 arrays of N, then top_score (k) and top_candidates (k, N) */
    return same_bits(a->loss_sum, b->loss_sum, (8 * N + k + k * N) * sizeof(double)) &&
           same_bits(a->top_index, b->top_index, k * sizeof(int));
}

const char *birdie_decision_kind_name(birdie_decision_kind kind)
{
    switch (kind) {
    case BIRDIE_DECISION_INITIAL: return "initial";
    case BIRDIE_DECISION_WARMUP: return "warmup";
    case BIRDIE_DECISION_EXPLORE: return "explore";
    case BIRDIE_DECISION_EXPLOIT: return "exploit";
    }
    return "unknown";
}

/* snprintf into a buffer that may run out; counts what the whole text needs. */
typedef struct appender {
    char *buf;
    size_t len, used;
} appender;

__attribute__((format(printf, 2, 3))) static void append(appender *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t room = a->used < a->len ? a->len - a->used : 0;
    int n = vsnprintf(room ? a->buf + a->used : NULL, room, fmt, ap);
    va_end(ap);
    if (n > 0)
        a->used += (size_t)n;
}

int birdie_decision_format(const birdie_decision *d, const birdie_sched *s, char *buf, size_t len)
{
    appender a = {buf, len, 0};
    if (buf && len)
        buf[0] = '\0';
    append(&a,
           "decision eval=%llu step=%lld kind=%s version=%llu->%llu history=%d observed_score=%.9g "
           "predicted_in_score=%.9g fit_mse_first=%.9g fit_mse_last=%.9g fit_mse_clean=%.9g explore_prob=%.9g "
           "explore_draw=%.9g candidates=%d predicted_out_score=%.9g\n",
           (unsigned long long)d->eval_index, (long long)d->step, birdie_decision_kind_name(d->kind),
           (unsigned long long)d->mixture_version_in, (unsigned long long)d->mixture_version_out, d->history_len,
           d->observed_score, d->predicted_in_score, d->fit_mse_first, d->fit_mse_last, d->fit_mse_clean,
           d->explore_prob, d->explore_draw, d->n_candidates, d->predicted_out_score);
    for (int i = 0; i < d->n_arms; i++) {
        const char *name = s ? birdie_sched_arm_name(s, i) : NULL;
        if (name)
            append(&a, "arm %s", name);
        else
            append(&a, "arm #%d", i);
        append(&a,
               " class=%d loss=%.9g tokens=%.17g reward=%.9g predicted_in=%.9g mixture_in=%.9g mixture_out=%.9g "
               "predicted_out=%.9g\n",
               s ? birdie_sched_arm_class(s, i) : -1, d->loss[i], d->tokens[i], d->reward[i], d->predicted_in[i],
               d->mixture_in[i], d->mixture_out[i], d->predicted_out[i]);
    }
    for (int j = 0; j < d->n_candidates && j < d->top_k; j++)
        append(&a, "top rank=%d candidate=%d score=%.9g\n", j, d->top_index[j], d->top_score[j]);
    return a.used > (size_t)0x7fffffff ? 0x7fffffff : (int)a.used;
}
