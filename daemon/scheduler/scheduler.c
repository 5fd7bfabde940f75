/* daemon/scheduler/scheduler.c: the scheduler object and one evaluation (docs/algorithm.md §3.1 steps 4-7):
 * validate -> reward -> history -> fit -> choose -> record. Serialisation is state_io.c, records
 * are decision.c, the model is reward_model.c/rm_fit.c, the pieces of the choice are reward.c,
 * explore.c and candidates.c.
 *
 * An observe either completes or leaves the scheduler exactly as it was: inputs are checked before
 * anything changes, and the reward model is copied before the fit so that a failure afterwards
 * (a diverged fit, memory) can put it back.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/scheduler/candidates.h"
#include "daemon/scheduler/decision_internal.h"
#include "daemon/scheduler/explore.h"
#include "daemon/scheduler/reward.h"
#include "daemon/scheduler/rm_fit.h"
#include "daemon/scheduler/sched_internal.h"
#include "daemon/scheduler/sched_rng.h"
#include "worker/error.h"
#include "worker/objectives/mixture_rules.h"

#define MIXTURE_SUM_TOLERANCE 1e-6
#define MAX_MEAN_LOSS 1e6 /* nats per token; anything above is a broken evaluation, not a loss */

void birdie_sched_free(birdie_sched *s)
{
    if (!s)
        return;
    if (s->names)
        for (int i = 0; i < s->cfg.n_arms; i++)
            free(s->names[i]);
    free(s->names);
    free(s->arm_class);
    free(s->class_size);
    free(s->class_weight);
    free(s->uniform);
    free(s->loss);
    free(s->mixture);
    free(s->hist_loss);
    free(s->hist_action);
    free(s->hist_reward);
    rm_free(&s->rm);
    free(s);
}

static int copy_arms(birdie_sched *s, const birdie_sched_config *cfg)
{
    int N = cfg->n_arms;
    s->names = calloc((size_t)N, sizeof(char *));
    s->arm_class = malloc((size_t)N * sizeof(int));
    s->class_size = calloc((size_t)cfg->n_classes, sizeof(int));
    s->class_weight = malloc((size_t)N * sizeof(double));
    s->uniform = malloc((size_t)N * sizeof(double));
    s->loss = calloc((size_t)N, sizeof(double));
    s->mixture = malloc((size_t)N * sizeof(double));
    if (!s->names || !s->arm_class || !s->class_size || !s->class_weight || !s->uniform || !s->loss || !s->mixture)
        return -ENOMEM;
    for (int i = 0; i < N; i++) {
        s->names[i] = strdup(cfg->arm_names[i]);
        if (!s->names[i])
            return -ENOMEM;
        s->arm_class[i] = cfg->arm_class[i];
        s->class_size[cfg->arm_class[i]]++;
    }
    sched_class_weights(s->arm_class, N, cfg->n_classes, s->class_weight);
    birdie_class_uniform(N, s->arm_class, s->uniform);
    memcpy(s->mixture, s->uniform, (size_t)N * sizeof(double));
    s->cfg.arm_names = (const char *const *)s->names;
    s->cfg.arm_class = s->arm_class;
    return 0;
}

int sched_alloc(const birdie_sched_config *cfg, birdie_sched **out, char *err, size_t errlen)
{
    *out = NULL;
    int rc = sched_config_check(cfg, err, errlen);
    if (rc != 0)
        return rc;
    birdie_sched *s = calloc(1, sizeof(*s));
    if (!s)
        return birdie_fail(err, errlen, -ENOMEM, "scheduler: out of memory");
    s->cfg = *cfg;
    rc = copy_arms(s, cfg);
    if (rc == 0)
        rc = rm_init(&s->rm, cfg->n_arms, cfg->hidden, cfg->layers, cfg->seed);
    if (rc != 0) {
        birdie_sched_free(s);
        return birdie_fail(err, errlen, rc, "scheduler: out of memory for %d arms, hidden %d, %d layers", cfg->n_arms,
                           cfg->hidden, cfg->layers);
    }
    *out = s;
    return 0;
}

int birdie_sched_create(const birdie_sched_config *cfg, birdie_sched **out, char *err, size_t errlen)
{
    return sched_alloc(cfg, out, err, errlen);
}

int sched_history_reserve(birdie_sched *s, int n)
{
    if (n <= s->hist_cap)
        return 0;
    int cap = s->hist_cap ? 2 * s->hist_cap : 32;
    if (cap < n)
        cap = n;
    size_t bytes = (size_t)cap * s->cfg.n_arms * sizeof(double);
    double **arrays[3] = {&s->hist_loss, &s->hist_action, &s->hist_reward};
    for (int a = 0; a < 3; a++) {
        double *p = realloc(*arrays[a], bytes);
        if (!p)
            return -ENOMEM;
        *arrays[a] = p;
    }
    s->hist_cap = cap;
    return 0;
}

/* X (T,2N) = [loss | action] and Y (T,N) = reward of every history row, as the model's floats. */
static int history_tensors(const birdie_sched *s, float **X, float **Y)
{
    int N = s->cfg.n_arms, T = s->hist_len;
    *X = malloc((size_t)T * 2 * N * sizeof(float));
    *Y = malloc((size_t)T * N * sizeof(float));
    if (!*X || !*Y) {
        free(*X);
        free(*Y);
        return -ENOMEM;
    }
    for (int t = 0; t < T; t++)
        for (int i = 0; i < N; i++) {
            size_t k = (size_t)t * N + i;
            (*X)[(size_t)t * 2 * N + i] = (float)s->hist_loss[k];
            (*X)[(size_t)t * 2 * N + N + i] = (float)s->hist_action[k];
            (*Y)[k] = (float)s->hist_reward[k];
        }
    return 0;
}

int sched_refresh_cache(birdie_sched *s, double *mse)
{
    s->rm.cache_T = 0;
    if (s->hist_len == 0)
        return 0;
    float *X, *Y;
    int rc = history_tensors(s, &X, &Y);
    if (rc != 0)
        return rc;
    rc = rm_build_cache(&s->rm, X, Y, s->hist_len, mse);
    free(X);
    free(Y);
    return rc;
}

static int check_weights(const birdie_sched *s, const double *w, const char *what, char *err, size_t errlen)
{
    double total = 0.0;
    for (int i = 0; i < s->cfg.n_arms; i++) {
        if (birdie_mixture_weight_fault(w[i]) != BIRDIE_MIXTURE_OK)
            return birdie_fail(err, errlen, -EINVAL, "%s: weight of arm '%s' is %g (must be finite and >= 0)", what,
                               s->names[i], w[i]);
        total += w[i];
    }
    if (fabs(total - 1.0) > MIXTURE_SUM_TOLERANCE)
        return birdie_fail(err, errlen, -EINVAL, "%s: weights sum to %.9g, not 1", what, total);
    return 0;
}

static int check_input(const birdie_sched *s, const birdie_sched_input *in, char *err, size_t errlen)
{
    if (!in || !in->loss_sum || !in->tokens)
        return birdie_fail(err, errlen, -EINVAL, "evaluation: loss_sum and tokens are required");
    if (in->n_arms != s->cfg.n_arms)
        return birdie_fail(err, errlen, -EINVAL, "evaluation: loss vector has %d arms, the scheduler has %d",
                           in->n_arms, s->cfg.n_arms);
    if (in->step < 0)
        return birdie_fail(err, errlen, -EINVAL, "evaluation: step %lld is negative", (long long)in->step);
    if (s->eval_count > 0 && in->step <= s->last_step)
        return birdie_fail(err, errlen, -EINVAL,
                           "evaluation: step %lld is not after the previous evaluation's step %lld",
                           (long long)in->step, (long long)s->last_step);
    for (int i = 0; i < s->cfg.n_arms; i++) {
        if (!isfinite(in->loss_sum[i]) || in->loss_sum[i] < 0.0)
            return birdie_fail(err, errlen, -EINVAL,
                               "evaluation: arm '%s' has validation loss sum %g (must be finite and >= 0)", s->names[i],
                               in->loss_sum[i]);
        if (!isfinite(in->tokens[i]) || in->tokens[i] <= 0.0)
            return birdie_fail(err, errlen, -EINVAL,
                               "evaluation: arm '%s' has %g validation tokens (must be finite and > 0)", s->names[i],
                               in->tokens[i]);
        double mean = in->loss_sum[i] / in->tokens[i];
        if (!(mean <= MAX_MEAN_LOSS))
            return birdie_fail(err, errlen, -EINVAL, "evaluation: arm '%s' mean loss %g / %g = %g exceeds %g",
                               s->names[i], in->loss_sum[i], in->tokens[i], mean, MAX_MEAN_LOSS);
    }
    if (!in->mixture)
        return 0;
    int rc = check_weights(s, in->mixture, "evaluation mixture", err, errlen);
    if (rc != 0)
        return rc;
    if (in->mixture_version < s->mixture_version)
        return birdie_fail(err, errlen, -EINVAL,
                           "evaluation: mixture version %llu is older than the scheduler's version %llu",
                           (unsigned long long)in->mixture_version, (unsigned long long)s->mixture_version);
    if (in->mixture_version == s->mixture_version &&
        memcmp(in->mixture, s->mixture, (size_t)s->cfg.n_arms * sizeof(double)) != 0)
        return birdie_fail(err, errlen, -EINVAL,
                           "evaluation: mixture version %llu differs from the scheduler's mixture of that version",
                           (unsigned long long)in->mixture_version);
    return 0;
}

/* The model's prediction (n_arms) and score for running mixture after the current history. */
static int predict_one(birdie_sched *s, const float *lossf, const double *mixture, double *pred, double *score)
{
    int N = s->cfg.n_arms;
    float *p = malloc((size_t)N * sizeof(float));
    if (!p)
        return -ENOMEM;
    int rc = rm_score_step(&s->rm, lossf, mixture, 1, p);
    if (rc == 0) {
        for (int i = 0; i < N; i++)
            pred[i] = p[i];
        *score = sched_class_score(pred, s->class_weight, N);
    }
    free(p);
    return rc;
}

static void to_floats(float *dst, const double *src, int n)
{
    for (int i = 0; i < n; i++)
        dst[i] = (float)src[i];
}

int birdie_sched_predict(birdie_sched *s, const double *mixture, int n_arms, double *pred, double *score, char *err,
                         size_t errlen)
{
    if (n_arms != s->cfg.n_arms || !mixture || !pred || !score)
        return birdie_fail(err, errlen, -EINVAL, "predict: mixture has %d arms, the scheduler has %d", n_arms,
                           s->cfg.n_arms);
    int rc = check_weights(s, mixture, "predict mixture", err, errlen);
    if (rc != 0)
        return rc;
    if (s->hist_len == 0 || s->rm.cache_T != s->hist_len)
        return birdie_fail(err, errlen, -ENODATA,
                           "predict: the reward model has no history yet (needs two evaluations)");
    float lossf[n_arms];
    to_floats(lossf, s->loss, n_arms);
    rc = predict_one(s, lossf, mixture, pred, score);
    if (rc != 0)
        return birdie_fail(err, errlen, rc, "predict: out of memory");
    return 0;
}

/* A copy of what the fit changes, so that a failed observe can put it back. */
typedef struct fit_backup {
    float *buf; /* params | adam_m | adam_v */
    uint64_t adam_step, fit_iter_total;
    int hist_len;
} fit_backup;

static int backup_take(const birdie_sched *s, fit_backup *b)
{
    size_t n = s->rm.n_params;
    b->buf = malloc(3 * n * sizeof(float));
    if (!b->buf)
        return -ENOMEM;
    memcpy(b->buf, s->rm.params, n * sizeof(float));
    memcpy(b->buf + n, s->rm.adam_m, n * sizeof(float));
    memcpy(b->buf + 2 * n, s->rm.adam_v, n * sizeof(float));
    b->adam_step = s->rm.adam_step;
    b->fit_iter_total = s->fit_iter_total;
    b->hist_len = s->hist_len;
    return 0;
}

static void backup_restore(birdie_sched *s, const fit_backup *b)
{
    size_t n = s->rm.n_params;
    memcpy(s->rm.params, b->buf, n * sizeof(float));
    memcpy(s->rm.adam_m, b->buf + n, n * sizeof(float));
    memcpy(s->rm.adam_v, b->buf + 2 * n, n * sizeof(float));
    s->rm.adam_step = b->adam_step;
    s->fit_iter_total = b->fit_iter_total;
    s->hist_len = b->hist_len;
    /* The same weights on the same history give the same cache; only memory can fail here, and
     * then predict reports the missing cache instead of using a stale one. */
    sched_refresh_cache(s, NULL);
}

/* Appends (previous loss, mixture in force, reward) and fits the model on the whole history. */
static int append_and_fit(birdie_sched *s, const double *mixture_in, birdie_decision *d, char *err, size_t errlen)
{
    int N = s->cfg.n_arms;
    if (sched_history_reserve(s, s->hist_len + 1) != 0)
        return birdie_fail(err, errlen, -ENOMEM, "evaluation: out of memory for the history");
    size_t row = (size_t)s->hist_len * N;
    memcpy(s->hist_loss + row, s->loss, (size_t)N * sizeof(double));
    memcpy(s->hist_action + row, mixture_in, (size_t)N * sizeof(double));
    memcpy(s->hist_reward + row, d->reward, (size_t)N * sizeof(double));
    s->hist_len++;
    float *X, *Y;
    if (history_tensors(s, &X, &Y) != 0)
        return birdie_fail(err, errlen, -ENOMEM, "evaluation: out of memory for the history");
    rm_fit_stats stats;
    int rc = rm_fit(&s->rm, X, Y, s->hist_len, s->cfg.fit_iters, &s->cfg.optim, s->cfg.noise, s->cfg.seed,
                    &s->fit_iter_total, &stats, err, errlen);
    free(X);
    free(Y);
    if (rc != 0)
        return rc;
    d->fit_mse_first = stats.mse_first;
    d->fit_mse_last = stats.mse_last;
    if (sched_refresh_cache(s, &d->fit_mse_clean) != 0)
        return birdie_fail(err, errlen, -ENOMEM, "evaluation: out of memory for the reward model");
    if (!isfinite(d->fit_mse_clean))
        return birdie_fail(err, errlen, -ERANGE, "evaluation: reward model output is not finite after the fit (mse %g)",
                           d->fit_mse_clean);
    return 0;
}

/* docs/algorithm.md §3.1 step 6 once the controller is in charge: explore coin, candidates, scores, top-k mean. */
static int choose(birdie_sched *s, const float *lossf, birdie_decision *d, char *err, size_t errlen)
{
    int N = s->cfg.n_arms, M = s->cfg.candidates, k = s->cfg.top_k;
    uint64_t e = s->eval_count;
    birdie_rng coin = sched_rng(s->cfg.seed, e, SCHED_RNG_EXPLORE_COIN, 0);
    d->explore_prob = birdie_explore_prob(&s->cfg.explore, d->step);
    d->explore_draw = birdie_rng_uniform(&coin);
    int explore = d->explore_draw < d->explore_prob;
    d->kind = explore ? BIRDIE_DECISION_EXPLORE : BIRDIE_DECISION_EXPLOIT;
    double *cand = malloc((size_t)M * N * sizeof(double));
    float *pred = malloc((size_t)M * N * sizeof(float));
    double *score = malloc((size_t)M * sizeof(double));
    int rc = (!cand || !pred || !score) ? -ENOMEM : 0;
    if (rc == 0) {
        birdie_rng rng = sched_rng(s->cfg.seed, e, SCHED_RNG_CANDIDATES, 0);
        sched_draw_candidates(cand, M, N, &rng);
        if (explore) {
            double vec[N];
            birdie_rng vrng = sched_rng(s->cfg.seed, e, SCHED_RNG_EXPLORE_VECTOR, 0);
            sched_explore_vector(vec, N, s->arm_class, s->cfg.n_classes, s->class_size, &vrng);
            sched_fill_explore_half(cand, M, N, vec);
        }
        rc = rm_score_step(&s->rm, lossf, cand, M, pred);
    }
    if (rc == 0) {
        double row[N];
        for (int m = 0; m < M; m++) {
            for (int i = 0; i < N; i++)
                row[i] = pred[(size_t)m * N + i];
            score[m] = sched_class_score(row, s->class_weight, N);
            if (!isfinite(score[m])) {
                rc = -ERANGE;
                break;
            }
        }
    }
    if (rc == 0) {
        sched_top_k(score, M, k, d->top_index);
        for (int j = 0; j < k; j++) {
            d->top_score[j] = score[d->top_index[j]];
            memcpy(d->top_candidates + (size_t)j * N, cand + (size_t)d->top_index[j] * N, (size_t)N * sizeof(double));
        }
        sched_mean_of_rows(d->mixture_out, cand, N, d->top_index, k);
        d->n_candidates = M;
    }
    free(cand);
    free(pred);
    free(score);
    if (rc == -ENOMEM)
        return birdie_fail(err, errlen, rc, "evaluation: out of memory for %d candidates", M);
    if (rc != 0)
        return birdie_fail(err, errlen, rc, "evaluation: reward model scores are not finite");
    return 0;
}

static void commit(birdie_sched *s, const birdie_decision *d)
{
    memcpy(s->loss, d->loss, (size_t)s->cfg.n_arms * sizeof(double));
    memcpy(s->mixture, d->mixture_out, (size_t)s->cfg.n_arms * sizeof(double));
    s->mixture_version = d->mixture_version_out;
    s->last_step = d->step;
    s->eval_count++;
}

int birdie_sched_observe(birdie_sched *s, const birdie_sched_input *in, birdie_decision *out, char *err, size_t errlen)
{
    char no_err[1];
    if (!err) { /* the fit and the choice write messages unconditionally */
        err = no_err;
        errlen = sizeof(no_err);
    }
    int rc = check_input(s, in, err, errlen);
    if (rc != 0)
        return rc;
    int N = s->cfg.n_arms;
    if (sched_decision_alloc(out, N, s->cfg.top_k) != 0)
        return birdie_fail(err, errlen, -ENOMEM, "evaluation: out of memory for the decision record");
    birdie_decision *d = out;
    d->eval_index = s->eval_count;
    d->step = in->step;
    memcpy(d->loss_sum, in->loss_sum, (size_t)N * sizeof(double));
    memcpy(d->tokens, in->tokens, (size_t)N * sizeof(double));
    memcpy(d->mixture_in, in->mixture ? in->mixture : s->mixture, (size_t)N * sizeof(double));
    d->mixture_version_in = in->mixture ? in->mixture_version : s->mixture_version;
    d->mixture_version_out = d->mixture_version_in + 1;
    for (int i = 0; i < N; i++)
        d->loss[i] = in->loss_sum[i] / in->tokens[i];
    float lossf[N];
    to_floats(lossf, d->loss, N);

    fit_backup backup = {0};
    int fitted = 0;
    if (s->hist_len > 0 && s->rm.cache_T != s->hist_len && sched_refresh_cache(s, NULL) != 0)
        return birdie_fail(err, errlen, -ENOMEM, "evaluation: out of memory for the reward model");
    if (s->eval_count > 0) {
        if (s->hist_len > 0) {
            float prev_lossf[N];
            to_floats(prev_lossf, s->loss, N);
            if (predict_one(s, prev_lossf, d->mixture_in, d->predicted_in, &d->predicted_in_score) != 0)
                return birdie_fail(err, errlen, -ENOMEM, "evaluation: out of memory for the reward model");
            d->has_prediction = 1;
        }
        for (int i = 0; i < N; i++)
            d->reward[i] = sched_interval_reward(s->loss[i], d->loss[i]);
        d->has_reward = 1;
        d->observed_score = sched_class_score(d->reward, s->class_weight, N);
        if (backup_take(s, &backup) != 0)
            return birdie_fail(err, errlen, -ENOMEM, "evaluation: out of memory for the reward model backup");
        fitted = 1;
        rc = append_and_fit(s, d->mixture_in, d, err, errlen);
    }
    d->history_len = s->hist_len;
    if (rc == 0) {
        if (s->eval_count == 0 || in->step < s->cfg.warmup_step) {
            d->kind = s->eval_count == 0 ? BIRDIE_DECISION_INITIAL : BIRDIE_DECISION_WARMUP;
            memcpy(d->mixture_out, s->uniform, (size_t)N * sizeof(double));
        } else {
            rc = choose(s, lossf, d, err, errlen);
        }
    }
    if (rc == 0 && s->hist_len > 0 &&
        predict_one(s, lossf, d->mixture_out, d->predicted_out, &d->predicted_out_score) != 0) {
        rc = -ENOMEM;
        snprintf(err, errlen, "evaluation: out of memory for the reward model");
    }
    if (rc != 0 && fitted)
        backup_restore(s, &backup);
    free(backup.buf);
    if (rc != 0)
        return rc;
    commit(s, d);
    return 0;
}

int birdie_sched_n_arms(const birdie_sched *s)
{
    return s->cfg.n_arms;
}
uint64_t birdie_sched_mixture_version(const birdie_sched *s)
{
    return s->mixture_version;
}
uint64_t birdie_sched_eval_count(const birdie_sched *s)
{
    return s->eval_count;
}
int birdie_sched_history_len(const birdie_sched *s)
{
    return s->hist_len;
}
const double *birdie_sched_mixture(const birdie_sched *s)
{
    return s->mixture;
}

const char *birdie_sched_arm_name(const birdie_sched *s, int arm)
{
    return arm >= 0 && arm < s->cfg.n_arms ? s->names[arm] : NULL;
}

int birdie_sched_arm_class(const birdie_sched *s, int arm)
{
    return arm >= 0 && arm < s->cfg.n_arms ? s->arm_class[arm] : -EINVAL;
}

int birdie_sched_arm_index(const birdie_sched *s, const char *name, char *err, size_t errlen)
{
    for (int i = 0; name && i < s->cfg.n_arms; i++)
        if (strcmp(s->names[i], name) == 0)
            return i;
    return birdie_fail(err, errlen, -ENOENT, "unknown arm '%s'", name ? name : "(null)");
}

void birdie_sched_uniform_mixture(const birdie_sched *s, double *out)
{
    memcpy(out, s->uniform, (size_t)s->cfg.n_arms * sizeof(double));
}
