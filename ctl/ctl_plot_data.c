/* ctl_plot_data: see ctl_plot_data.h. */
#include "ctl/ctl_plot_data.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker/error.h"

void ctl_plot_data_free(ctl_plot_data *d)
{
    if (!d)
        return;
    ctl_series *all[] = {&d->train, &d->val, &d->class_loss, &d->mixture, &d->reward, &d->observed};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        free(all[i]->x);
        free(all[i]->y);
    }
    for (int k = 0; k < CTL_MARK_COUNT; k++)
        free(d->marks[k].x);
    free(d->classes);
    memset(d, 0, sizeof(*d));
}

static int series_init(ctl_series *s, size_t cap, size_t width)
{
    s->n = 0;
    s->width = width;
    s->x = malloc((cap ? cap : 1) * sizeof(double));
    s->y = width ? malloc((cap ? cap : 1) * width * sizeof(double)) : NULL;
    return s->x && (s->y || !width) ? 0 : -ENOMEM;
}

/* A new point at step x (all its values NaN), or the existing last point when it has the same step. */
static double *series_point(ctl_series *s, double x)
{
    if (s->n == 0 || s->x[s->n - 1] != x) {
        s->x[s->n] = x;
        for (size_t c = 0; c < s->width; c++)
            s->y[s->n * s->width + c] = NAN;
        s->n++;
    }
    return s->width ? s->y + (s->n - 1) * s->width : NULL;
}

static int cmp_index_by_x(const void *a, const void *b, const double *x)
{
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    if (x[i] != x[j])
        return x[i] < x[j] ? -1 : 1;
    return i < j ? -1 : (i > j); /* stable: later rows (newer incarnations) after earlier ones */
}

static const double *sort_key;
static int cmp_sort(const void *a, const void *b)
{
    return cmp_index_by_x(a, b, sort_key);
}

/* Orders the points by step and keeps, for a step seen more than once, the last one written (the
 * history lists incarnations oldest first). */
static int series_sort_dedup(ctl_series *s)
{
    if (s->n < 2)
        return 0;
    size_t *idx = malloc(s->n * sizeof(size_t));
    double *x = malloc(s->n * sizeof(double));
    double *y = s->width ? malloc(s->n * s->width * sizeof(double)) : NULL;
    if (!idx || !x || (s->width && !y)) {
        free(idx);
        free(x);
        free(y);
        return -ENOMEM;
    }
    for (size_t i = 0; i < s->n; i++)
        idx[i] = i;
    sort_key = s->x;
    qsort(idx, s->n, sizeof(size_t), cmp_sort);
    size_t m = 0;
    for (size_t k = 0; k < s->n; k++) {
        size_t i = idx[k];
        if (m > 0 && x[m - 1] == s->x[i])
            m--; /* the same step again: the later row replaces it */
        x[m] = s->x[i];
        if (s->width)
            memcpy(y + m * s->width, s->y + i * s->width, s->width * sizeof(double));
        m++;
    }
    free(idx);
    free(s->x);
    free(s->y);
    s->x = x;
    s->y = y;
    s->n = m;
    return 0;
}

/* Class index of every arm (by the history's arm list) and the class names. */
static int build_classes(const Birdie__V1__GetHistoryResponse *h, ctl_plot_data *d, char *err, size_t errlen)
{
    if (h->n_arms == 0)
        return birdie_fail(err, errlen, -EINVAL,
                           "the history has no arm list (a server older than this birdiectl?): cannot group by class");
    d->classes = calloc(h->n_arms, sizeof(*d->classes));
    if (!d->classes)
        return birdie_fail(err, errlen, -ENOMEM, "out of memory");
    for (size_t a = 0; a < h->n_arms; a++) {
        const char *c = h->arms[a]->objective_class;
        int k = 0;
        while (k < d->n_classes && strcmp(d->classes[k], c) != 0)
            k++;
        if (k == d->n_classes)
            snprintf(d->classes[d->n_classes++], CTL_PLOT_CLASS_MAX, "%s", c);
    }
    return 0;
}

static int class_of(const Birdie__V1__GetHistoryResponse *h, const ctl_plot_data *d, const char *arm)
{
    for (size_t a = 0; a < h->n_arms; a++)
        if (strcmp(h->arms[a]->name, arm) == 0)
            for (int k = 0; k < d->n_classes; k++)
                if (strcmp(d->classes[k], h->arms[a]->objective_class) == 0)
                    return k;
    return -1;
}

static int unknown_arm(char *err, size_t errlen, const char *what, const char *arm)
{
    return birdie_fail(err, errlen, -EINVAL, "%s names arm '%s', which the run's arm list lacks", what, arm);
}

/* Validation loss: sums per (incarnation, step) group of eval rows, divided at the end. */
static int build_evals(const Birdie__V1__GetHistoryResponse *h, ctl_plot_data *d, char *err, size_t errlen)
{
    int C = d->n_classes;
    if (series_init(&d->val, h->n_evals, 1) || series_init(&d->class_loss, h->n_evals, (size_t)C))
        return birdie_fail(err, errlen, -ENOMEM, "out of memory");
    double *sums = calloc(2 * (size_t)(C + 1), sizeof(double)); /* loss, tokens per class; then the total */
    if (!sums)
        return birdie_fail(err, errlen, -ENOMEM, "out of memory");
    for (size_t i = 0; i < h->n_evals; i++) {
        const Birdie__V1__EvalRecord *e = h->evals[i];
        int k = class_of(h, d, e->arm);
        if (k < 0) {
            free(sums);
            return unknown_arm(err, errlen, "an eval", e->arm);
        }
        sums[2 * k] += e->loss_sum;
        sums[2 * k + 1] += e->tokens;
        sums[2 * C] += e->loss_sum;
        sums[2 * C + 1] += e->tokens;
        int last =
            i + 1 == h->n_evals || h->evals[i + 1]->step != e->step || h->evals[i + 1]->incarnation != e->incarnation;
        if (!last)
            continue;
        double x = (double)e->step;
        /* a new point per group, even when an earlier incarnation had the same step */
        d->val.x[d->val.n] = x;
        d->val.y[d->val.n++] = sums[2 * C + 1] > 0 ? sums[2 * C] / sums[2 * C + 1] : NAN;
        d->class_loss.x[d->class_loss.n] = x;
        for (int c = 0; c < C; c++)
            d->class_loss.y[d->class_loss.n * (size_t)C + (size_t)c] =
                sums[2 * c + 1] > 0 ? sums[2 * c] / sums[2 * c + 1] : NAN;
        d->class_loss.n++;
        memset(sums, 0, 2 * (size_t)(C + 1) * sizeof(double));
    }
    free(sums);
    return 0;
}

static int build_rewards(const Birdie__V1__GetHistoryResponse *h, ctl_plot_data *d, char *err, size_t errlen)
{
    int C = d->n_classes;
    if (series_init(&d->reward, h->n_rewards, (size_t)C))
        return birdie_fail(err, errlen, -ENOMEM, "out of memory");
    double *sum = calloc(2 * (size_t)C, sizeof(double)); /* reward sum, arm count per class */
    if (!sum)
        return birdie_fail(err, errlen, -ENOMEM, "out of memory");
    for (size_t i = 0; i < h->n_rewards; i++) {
        const Birdie__V1__RewardRecord *r = h->rewards[i];
        int k = class_of(h, d, r->arm);
        if (k < 0) {
            free(sum);
            return unknown_arm(err, errlen, "a reward", r->arm);
        }
        if (!isnan(r->reward)) {
            sum[2 * k] += r->reward;
            sum[2 * k + 1] += 1;
        }
        if (i + 1 < h->n_rewards && h->rewards[i + 1]->step == r->step &&
            h->rewards[i + 1]->incarnation == r->incarnation)
            continue;
        d->reward.x[d->reward.n] = (double)r->step;
        for (int c = 0; c < C; c++)
            d->reward.y[d->reward.n * (size_t)C + (size_t)c] = sum[2 * c + 1] > 0 ? sum[2 * c] / sum[2 * c + 1] : NAN;
        d->reward.n++;
        memset(sum, 0, 2 * (size_t)C * sizeof(double));
    }
    free(sum);
    return 0;
}

static int build_mixtures(const Birdie__V1__GetHistoryResponse *h, ctl_plot_data *d, char *err, size_t errlen)
{
    int C = d->n_classes;
    if (series_init(&d->mixture, h->n_mixtures, (size_t)C))
        return birdie_fail(err, errlen, -ENOMEM, "out of memory");
    for (size_t i = 0; i < h->n_mixtures; i++) {
        const Birdie__V1__MixtureRecord *r = h->mixtures[i];
        if (!r->mixture)
            continue;
        /* a mixture trains from the step every rank applied it at; before that it was only decided */
        double *y = d->mixture.y + d->mixture.n * (size_t)C;
        d->mixture.x[d->mixture.n] = (double)(r->applied_step >= 0 ? r->applied_step : r->mixture->step);
        for (int c = 0; c < C; c++)
            y[c] = 0;
        for (size_t a = 0; a < r->mixture->n_weights; a++) {
            int k = class_of(h, d, r->mixture->weights[a]->arm);
            if (k < 0)
                return unknown_arm(err, errlen, "a mixture", r->mixture->weights[a]->arm);
            y[k] += r->mixture->weights[a]->weight;
        }
        d->mixture.n++;
    }
    return 0;
}

/* The mark of a scheduler decision's kind (DecisionRecord.kind); -1 none. */
static int kind_mark(const char *kind)
{
    if (!kind)
        return -1;
    if (!strcmp(kind, "explore"))
        return CTL_MARK_EXPLORE;
    if (!strcmp(kind, "exploit"))
        return CTL_MARK_EXPLOIT;
    if (!strcmp(kind, "warmup") || !strcmp(kind, "initial"))
        return CTL_MARK_WARMUP;
    return -1;
}

static int build_decisions(const Birdie__V1__GetHistoryResponse *h, ctl_plot_data *d, char *err, size_t errlen)
{
    if (series_init(&d->observed, h->n_decisions, 1))
        return birdie_fail(err, errlen, -ENOMEM, "out of memory");
    for (int k = 0; k < CTL_MARK_COUNT; k++)
        if (series_init(&d->marks[k], h->n_decisions, 0))
            return birdie_fail(err, errlen, -ENOMEM, "out of memory");
    for (size_t i = 0; i < h->n_decisions; i++) {
        const Birdie__V1__DecisionRecord *r = h->decisions[i];
        int mark;
        if (!strcmp(r->source, "operator"))
            mark = CTL_MARK_OPERATOR;
        else if ((mark = kind_mark(r->kind)) < 0)
            mark = r->explore ? CTL_MARK_EXPLORE : -1; /* a fixed mixture's evaluation decides nothing */
        if (mark >= 0)
            series_point(&d->marks[mark], (double)r->step);
        if (strcmp(r->source, "operator") != 0 && !isnan(r->observed_reward)) {
            d->observed.x[d->observed.n] = (double)r->step;
            d->observed.y[d->observed.n++] = r->observed_reward;
        }
    }
    return 0;
}

static int build_train(const Birdie__V1__GetHistoryResponse *h, ctl_plot_data *d, char *err, size_t errlen)
{
    if (series_init(&d->train, h->n_steps, 1))
        return birdie_fail(err, errlen, -ENOMEM, "out of memory");
    for (size_t i = 0; i < h->n_steps; i++) {
        if (isnan(h->steps[i]->loss))
            continue;
        d->train.x[d->train.n] = (double)h->steps[i]->step;
        d->train.y[d->train.n++] = h->steps[i]->loss;
    }
    return 0;
}

/* The last mixture holds until the last step the history knows: one more point there, so that its
 * step line has a length. */
static int extend_mixture(ctl_plot_data *d)
{
    ctl_series *m = &d->mixture;
    double last = -1;
    if (d->train.n)
        last = d->train.x[d->train.n - 1];
    if (d->val.n && d->val.x[d->val.n - 1] > last)
        last = d->val.x[d->val.n - 1];
    if (!m->n || last <= m->x[m->n - 1])
        return 0;
    double *x = realloc(m->x, (m->n + 1) * sizeof(double));
    if (!x)
        return -ENOMEM;
    m->x = x;
    double *y = realloc(m->y, (m->n + 1) * m->width * sizeof(double));
    if (!y)
        return -ENOMEM;
    m->y = y;
    m->x[m->n] = last;
    memcpy(m->y + m->n * m->width, m->y + (m->n - 1) * m->width, m->width * sizeof(double));
    m->n++;
    return 0;
}

int ctl_plot_data_build(const Birdie__V1__GetHistoryResponse *h, ctl_plot_data *d, char *err, size_t errlen)
{
    memset(d, 0, sizeof(*d));
    int rc = build_classes(h, d, err, errlen);
    if (rc == 0)
        rc = build_train(h, d, err, errlen);
    if (rc == 0)
        rc = build_evals(h, d, err, errlen);
    if (rc == 0)
        rc = build_rewards(h, d, err, errlen);
    if (rc == 0)
        rc = build_mixtures(h, d, err, errlen);
    if (rc == 0)
        rc = build_decisions(h, d, err, errlen);
    ctl_series *all[] = {&d->train, &d->val, &d->class_loss, &d->mixture, &d->reward, &d->observed};
    for (size_t i = 0; rc == 0 && i < sizeof(all) / sizeof(all[0]); i++)
        if (series_sort_dedup(all[i]))
            rc = birdie_fail(err, errlen, -ENOMEM, "out of memory");
    for (int k = 0; rc == 0 && k < CTL_MARK_COUNT; k++)
        if (series_sort_dedup(&d->marks[k]))
            rc = birdie_fail(err, errlen, -ENOMEM, "out of memory");
    if (rc == 0 && extend_mixture(d))
        rc = birdie_fail(err, errlen, -ENOMEM, "out of memory");
    if (rc)
        ctl_plot_data_free(d);
    return rc;
}
