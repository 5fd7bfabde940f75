/* daemon/scheduler/sched_config.c: the scheduler's defaults (docs/algorithm.md §3.8; those a run's config
 * also exposes come from worker/scheduler_defaults.h) and the check of a config. A config is
 * rejected with the offending field named; nothing is clamped or repaired. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "daemon/scheduler/sched_internal.h"
#include "worker/error.h"
#include "worker/scheduler_defaults.h"

void birdie_sched_config_defaults(birdie_sched_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->seed = 0;
    cfg->hidden = BIRDIE_SCHED_DEFAULT_HIDDEN;
    cfg->layers = BIRDIE_SCHED_DEFAULT_LAYERS;
    cfg->fit_iters = BIRDIE_SCHED_DEFAULT_FIT_ITERS;
    cfg->candidates = BIRDIE_SCHED_DEFAULT_CANDIDATES;
    cfg->top_k = BIRDIE_SCHED_DEFAULT_TOP_K;
    cfg->warmup_step = 100;
    cfg->noise = 0.02;
    cfg->explore = (birdie_explore_params){
        .horizon = 16384,
        .cook_frac = 0.05,
        .warmup_frac = 0.10,
        .decay_frac = 0.50,
        .cook_prob = 1.0,
        .rate_min = 0.20,
        .rate_max = 0.50,
        .decay_factor = 1.0,
    };
    cfg->optim = (birdie_rm_optim){
        .lr_base = 5e-7,
        .lr_max = 5e-4,
        .cycle_up = 100,
        .cycle_down = 100,
        .beta1_at_base = 0.9,
        .beta1_at_max = 0.8,
        .beta2 = 0.999,
        .eps = 1e-8,
        .weight_decay = 0.1,
        .clip = 1.0,
    };
}

static int in_unit(double x)
{
    return isfinite(x) && x >= 0.0 && x <= 1.0;
}

static int check_name(const char *name)
{
    size_t n = strnlen(name, BIRDIE_SCHED_MAX_NAME);
    if (n == 0 || n >= BIRDIE_SCHED_MAX_NAME)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (name[i] <= ' ' || name[i] > '~')
            return 0;
    return 1;
}

static int check_arms(const birdie_sched_config *cfg, char *err, size_t errlen)
{
    if (cfg->n_arms < 1 || cfg->n_arms > BIRDIE_SCHED_MAX_ARMS)
        return birdie_fail(err, errlen, -EINVAL, "scheduler config: n_arms %d is out of range [1, %d]", cfg->n_arms,
                           BIRDIE_SCHED_MAX_ARMS);
    if (!cfg->arm_names || !cfg->arm_class)
        return birdie_fail(err, errlen, -EINVAL, "scheduler config: arm_names and arm_class are required");
    if (cfg->n_classes < 1 || cfg->n_classes > cfg->n_arms)
        return birdie_fail(err, errlen, -EINVAL, "scheduler config: n_classes %d is out of range [1, n_arms = %d]",
                           cfg->n_classes, cfg->n_arms);
    for (int i = 0; i < cfg->n_arms; i++) {
        if (!cfg->arm_names[i] || !check_name(cfg->arm_names[i]))
            return birdie_fail(
                err, errlen, -EINVAL,
                "scheduler config: arm %d has no name or a name that is not 1..%d printable non-space characters", i,
                BIRDIE_SCHED_MAX_NAME - 1);
        if (cfg->arm_class[i] < 0 || cfg->arm_class[i] >= cfg->n_classes)
            return birdie_fail(err, errlen, -EINVAL, "scheduler config: arm '%s' has class %d, outside [0, %d)",
                               cfg->arm_names[i], cfg->arm_class[i], cfg->n_classes);
        for (int j = 0; j < i; j++)
            if (strcmp(cfg->arm_names[i], cfg->arm_names[j]) == 0)
                return birdie_fail(err, errlen, -EINVAL,
                                   "scheduler config: arm name '%s' is used twice (arms %d and %d)", cfg->arm_names[i],
                                   j, i);
    }
    for (int c = 0; c < cfg->n_classes; c++) {
        int found = 0;
        for (int i = 0; i < cfg->n_arms && !found; i++)
            found = cfg->arm_class[i] == c;
        if (!found)
            return birdie_fail(err, errlen, -EINVAL, "scheduler config: class %d has no arm", c);
    }
    return 0;
}

static int check_model(const birdie_sched_config *cfg, char *err, size_t errlen)
{
    if (cfg->hidden < 2 || cfg->hidden > 4096 || cfg->hidden % 2 != 0)
        return birdie_fail(err, errlen, -EINVAL, "scheduler config: hidden %d must be even and in [2, 4096]",
                           cfg->hidden);
    if (cfg->layers < 1 || cfg->layers > 64)
        return birdie_fail(err, errlen, -EINVAL, "scheduler config: layers %d is out of range [1, 64]", cfg->layers);
    if (cfg->fit_iters < 0 || cfg->fit_iters > 1000000)
        return birdie_fail(err, errlen, -EINVAL, "scheduler config: fit_iters %d is out of range [0, 1000000]",
                           cfg->fit_iters);
    if (cfg->candidates < 2 || cfg->candidates > (1 << 20))
        return birdie_fail(err, errlen, -EINVAL, "scheduler config: candidates %d is out of range [2, 1048576]",
                           cfg->candidates);
    if (cfg->top_k < 1 || cfg->top_k > cfg->candidates)
        return birdie_fail(err, errlen, -EINVAL, "scheduler config: top_k %d is out of range [1, candidates = %d]",
                           cfg->top_k, cfg->candidates);
    if (cfg->warmup_step < 0)
        return birdie_fail(err, errlen, -EINVAL, "scheduler config: warmup_step %lld is negative",
                           (long long)cfg->warmup_step);
    if (!isfinite(cfg->noise) || cfg->noise < 0.0 || cfg->noise >= 1.0)
        return birdie_fail(err, errlen, -EINVAL, "scheduler config: noise %g is out of range [0, 1)", cfg->noise);
    return 0;
}

static int check_explore(const birdie_explore_params *e, char *err, size_t errlen)
{
    if (e->horizon < 1 || e->horizon > ((int64_t)1 << 50))
        return birdie_fail(err, errlen, -EINVAL, "scheduler config: explore.horizon %lld is out of range [1, 2^50]",
                           (long long)e->horizon);
    if (!in_unit(e->cook_frac) || !in_unit(e->warmup_frac) || !in_unit(e->decay_frac))
        return birdie_fail(err, errlen, -EINVAL,
                           "scheduler config: explore fractions (cook %g, warmup %g, decay %g) must be in [0, 1]",
                           e->cook_frac, e->warmup_frac, e->decay_frac);
    double h = (double)e->horizon;
    if (floor(e->decay_frac * h) - 1.0 - floor(e->warmup_frac * h) < 1.0)
        return birdie_fail(
            err, errlen, -EINVAL,
            "scheduler config: explore decay (%g of %lld steps) must end at least 2 steps after its warm-up (%g)",
            e->decay_frac, (long long)e->horizon, e->warmup_frac);
    if (!in_unit(e->cook_prob) || !in_unit(e->rate_min) || !in_unit(e->rate_max) || e->rate_min > e->rate_max)
        return birdie_fail(
            err, errlen, -EINVAL,
            "scheduler config: explore probabilities (cook %g, min %g, max %g) must be in [0, 1] with min <= max",
            e->cook_prob, e->rate_min, e->rate_max);
    if (!isfinite(e->decay_factor) || e->decay_factor <= 0.0)
        return birdie_fail(err, errlen, -EINVAL, "scheduler config: explore.decay_factor %g must be finite and > 0",
                           e->decay_factor);
    return 0;
}

static int check_optim(const birdie_rm_optim *o, char *err, size_t errlen)
{
    if (!isfinite(o->lr_base) || !isfinite(o->lr_max) || o->lr_base < 0.0 || o->lr_base > o->lr_max)
        return birdie_fail(
            err, errlen, -EINVAL,
            "scheduler config: optim learning rates (base %g, max %g) must be finite with 0 <= base <= max", o->lr_base,
            o->lr_max);
    if (o->cycle_up < 1 || o->cycle_down < 1 || o->cycle_up > 1000000 || o->cycle_down > 1000000)
        return birdie_fail(err, errlen, -EINVAL,
                           "scheduler config: optim cycle lengths (up %d, down %d) must be in [1, 1000000]",
                           o->cycle_up, o->cycle_down);
    if (!(o->beta1_at_base >= 0.0 && o->beta1_at_base < 1.0) || !(o->beta1_at_max >= 0.0 && o->beta1_at_max < 1.0) ||
        !(o->beta2 >= 0.0 && o->beta2 < 1.0))
        return birdie_fail(err, errlen, -EINVAL,
                           "scheduler config: optim betas (beta1 %g..%g, beta2 %g) must be in [0, 1)", o->beta1_at_base,
                           o->beta1_at_max, o->beta2);
    if (!isfinite(o->eps) || o->eps <= 0.0)
        return birdie_fail(err, errlen, -EINVAL, "scheduler config: optim.eps %g must be finite and > 0", o->eps);
    if (!isfinite(o->weight_decay) || o->weight_decay < 0.0)
        return birdie_fail(err, errlen, -EINVAL, "scheduler config: optim.weight_decay %g must be finite and >= 0",
                           o->weight_decay);
    if (!isfinite(o->clip) || o->clip <= 0.0)
        return birdie_fail(err, errlen, -EINVAL, "scheduler config: optim.clip %g must be finite and > 0", o->clip);
    return 0;
}

int sched_config_check(const birdie_sched_config *cfg, char *err, size_t errlen)
{
    if (!cfg)
        return birdie_fail(err, errlen, -EINVAL, "scheduler config: no config given");
    int rc = check_arms(cfg, err, errlen);
    if (rc == 0)
        rc = check_model(cfg, err, errlen);
    if (rc == 0)
        rc = check_explore(&cfg->explore, err, errlen);
    if (rc == 0)
        rc = check_optim(&cfg->optim, err, errlen);
    return rc;
}
