/* daemon/scheduler/bench.c: the time of one scheduler decision (reward-model fit on the history +
 * candidate scoring + choice), for birdie-sched-bench. The history is synthetic (losses that
 * fall at arm-dependent rates, random mixtures) and written straight into the state, so that only
 * the measured evaluation runs the fit. Wall-clock time is read here only to report it. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/scheduler/candidates.h"
#include "daemon/scheduler/reward.h"
#include "daemon/scheduler/sched_internal.h"
#include "worker/clock.h"
#include "worker/error.h"

#define BENCH_CLASSES 7

static double bench_loss(int arm, int interval)
{
    return 3.0 * exp(-0.01 * (1 + arm % 5) * interval) + 0.5;
}

/* Fills history_len - 1 rows so that the timed evaluation makes it history_len. */
static int fill_history(birdie_sched *s, int history_len)
{
    int N = s->cfg.n_arms, rows = history_len - 1;
    if (sched_history_reserve(s, history_len) != 0)
        return -ENOMEM;
    birdie_rng rng = birdie_rng_stream(s->cfg.seed, 0, 0, BIRDIE_RNG_TEST);
    for (int t = 0; t < rows; t++) {
        size_t row = (size_t)t * N;
        sched_draw_candidates(s->hist_action + row, 1, N, &rng);
        for (int i = 0; i < N; i++) {
            s->hist_loss[row + i] = bench_loss(i, t);
            s->hist_reward[row + i] = sched_interval_reward(bench_loss(i, t), bench_loss(i, t + 1));
        }
    }
    s->hist_len = rows;
    s->eval_count = (uint64_t)rows + 1;
    s->last_step = 100 * (int64_t)rows;
    s->mixture_version = (uint64_t)rows + 1;
    for (int i = 0; i < N; i++)
        s->loss[i] = bench_loss(i, rows);
    return sched_refresh_cache(s, NULL);
}

double birdie_sched_bench_decision_seconds(int n_arms, int history_len, int hidden, char *err, size_t errlen)
{
    if (n_arms < BENCH_CLASSES || n_arms > BIRDIE_SCHED_MAX_ARMS || history_len < 1 || history_len > 100000)
        return birdie_fail(err, errlen, -EINVAL,
                           "scheduler bench: n_arms %d must be in [%d, %d], history_len %d in [1, 100000]", n_arms,
                           BENCH_CLASSES, BIRDIE_SCHED_MAX_ARMS, history_len);
    char(*names)[16] = malloc((size_t)n_arms * sizeof(*names));
    const char **name_ptrs = malloc((size_t)n_arms * sizeof(char *));
    int *classes = malloc((size_t)n_arms * sizeof(int));
    double *loss_sum = malloc((size_t)n_arms * sizeof(double)), *tokens = malloc((size_t)n_arms * sizeof(double));
    double result = -ENOMEM;
    birdie_sched *s = NULL;
    birdie_decision d = {0};
    if (!names || !name_ptrs || !classes || !loss_sum || !tokens) {
        if (err)
            snprintf(err, errlen, "scheduler bench: out of memory");
        goto out;
    }
    for (int i = 0; i < n_arms; i++) {
        snprintf(names[i], sizeof(names[i]), "arm%d", i);
        name_ptrs[i] = names[i];
        classes[i] = i % BENCH_CLASSES;
    }
    birdie_sched_config cfg;
    birdie_sched_config_defaults(&cfg);
    cfg.n_arms = n_arms;
    cfg.arm_names = name_ptrs;
    cfg.arm_class = classes;
    cfg.n_classes = BENCH_CLASSES;
    cfg.seed = 1;
    cfg.warmup_step = 0;
    if (hidden > 0)
        cfg.hidden = hidden;
    int rc = birdie_sched_create(&cfg, &s, err, errlen);
    if (rc == 0 && (rc = fill_history(s, history_len)) != 0 && err)
        snprintf(err, errlen, "scheduler bench: out of memory for the history");
    if (rc != 0) {
        result = rc;
        goto out;
    }
    for (int i = 0; i < n_arms; i++) {
        tokens[i] = 4096.0;
        loss_sum[i] = bench_loss(i, history_len) * tokens[i];
    }
    birdie_sched_input in = {.step = s->last_step + 100, .n_arms = n_arms, .loss_sum = loss_sum, .tokens = tokens};
    double t0 = birdie_monotonic_seconds();
    rc = birdie_sched_observe(s, &in, &d, err, errlen);
    double t1 = birdie_monotonic_seconds();
    result = rc != 0 ? rc : t1 - t0;
out:
    birdie_decision_free(&d);
    birdie_sched_free(s);
    free(names);
    free(name_ptrs);
    free(classes);
    free(loss_sum);
    free(tokens);
    return result;
}
