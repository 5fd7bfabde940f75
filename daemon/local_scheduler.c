/* daemon/local_scheduler.c: a run's scheduler from its config, from a checkpoint, and as a mixture
 * source (local_scheduler.h). */
#include "daemon/local_scheduler.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "worker/curriculum.h"
#include "worker/eval_schedule.h"

int birdie_local_scheduler_create(const birdie_config *cfg, birdie_sched **out, char *err, size_t errlen)
{
    birdie_arm_set arms;
    int rc = birdie_curriculum_parse_arms(cfg, &arms, err, errlen);
    if (rc < 0)
        return rc;
    int n = arms.n;
    const char **names = calloc((size_t)n, sizeof *names);
    int *cls = calloc((size_t)n, sizeof *cls);
    int present[BIRDIE_NUM_OBJECTIVE_CLASSES] = {0}, remap[BIRDIE_NUM_OBJECTIVE_CLASSES], n_classes = 0;
    if (!names || !cls) {
        snprintf(err, errlen, "out of memory");
        rc = -ENOMEM;
        goto out;
    }
    /* The scheduler wants dense class ids over the classes this run uses. */
    for (int a = 0; a < n; a++)
        present[arms.arms[a].cls] = 1;
    for (int c = 0; c < BIRDIE_NUM_OBJECTIVE_CLASSES; c++)
        remap[c] = present[c] ? n_classes++ : -1;
    for (int a = 0; a < n; a++) {
        names[a] = arms.arms[a].name;
        cls[a] = remap[arms.arms[a].cls];
    }
    birdie_sched_config sc;
    birdie_sched_config_defaults(&sc);
    sc.n_arms = n;
    sc.arm_names = names;
    sc.arm_class = cls;
    sc.n_classes = n_classes;
    sc.seed = cfg->seed;
    sc.hidden = cfg->rm_hidden;
    sc.layers = cfg->rm_layers;
    sc.fit_iters = cfg->fit_iters;
    sc.candidates = cfg->candidates;
    sc.top_k = cfg->top_k;
    sc.warmup_step = cfg->warmup_steps ? cfg->warmup_steps : birdie_eval_schedule_warmup(cfg->steps);
    /* The exploration schedule spans the run; very short runs (smoke tests) get the shortest horizon
     * whose cook, warm-up and decay phases are each at least a few steps long. */
    sc.explore.horizon = cfg->steps > 64 ? cfg->steps : 64;
    rc = birdie_sched_create(&sc, out, err, errlen);
out:
    free(names);
    free(cls);
    birdie_arm_set_free(&arms);
    return rc;
}

int birdie_local_scheduler_restore(birdie_sched **sched, const birdie_checkpoint *ck, char *err, size_t errlen)
{
    if (!ck->sched_state) {
        snprintf(err, errlen, "checkpoint of step %lld holds no scheduler state", (long long)ck->step);
        return -EINVAL;
    }
    birdie_sched *loaded;
    int rc = birdie_sched_load(ck->sched_state, ck->sched_len, NULL, &loaded, err, errlen);
    if (rc < 0)
        return rc;
    birdie_sched_free(*sched);
    *sched = loaded;
    return 0;
}

/* ---- the mixture source: ctx is a birdie_sched ** (restore swaps the scheduler) ---- */

static int source_observe(void *ctx, int64_t step, const double *loss_sum, const double *tokens, int n_arms,
                          double *weights, uint64_t *version, char *note, size_t notelen, char *err, size_t errlen)
{
    birdie_sched *s = *(birdie_sched **)ctx;
    birdie_decision d = {0};
    birdie_sched_input in = {.step = step,
                             .n_arms = n_arms,
                             .loss_sum = loss_sum,
                             .tokens = tokens,
                             .mixture = weights,
                             .mixture_version = *version};
    int rc = birdie_sched_observe(s, &in, &d, err, errlen);
    if (rc < 0)
        return rc;
    memcpy(weights, d.mixture_out, (size_t)n_arms * sizeof *weights);
    *version = d.mixture_version_out;
    if (note)
        snprintf(note, notelen, "%s | observed %.4f predicted %.4f | fit mse %.4g", birdie_decision_kind_name(d.kind),
                 d.observed_score, d.has_prediction ? d.predicted_in_score : 0.0, d.fit_mse_clean);
    birdie_decision_free(&d);
    return 0;
}

static int source_save(void *ctx, uint8_t **state, size_t *len, char *err, size_t errlen)
{
    return birdie_sched_save(*(birdie_sched **)ctx, state, len, err, errlen);
}

static int source_restore(void *ctx, const birdie_checkpoint *ck, char *err, size_t errlen)
{
    return birdie_local_scheduler_restore((birdie_sched **)ctx, ck, err, errlen);
}

int birdie_local_scheduler_open(const birdie_config *cfg, birdie_mixture_source *src, char *err, size_t errlen)
{
    memset(src, 0, sizeof *src);
    birdie_sched **holder = calloc(1, sizeof *holder);
    if (!holder) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    int rc = birdie_local_scheduler_create(cfg, holder, err, errlen);
    if (rc < 0) {
        free(holder);
        return rc;
    }
    *src = (birdie_mixture_source){
        .ctx = holder, .observe = source_observe, .save = source_save, .restore = source_restore};
    return 0;
}

void birdie_local_scheduler_close(birdie_mixture_source *src)
{
    if (!src || !src->ctx)
        return;
    birdie_sched **holder = src->ctx;
    birdie_sched_free(*holder);
    free(holder);
    memset(src, 0, sizeof *src);
}
