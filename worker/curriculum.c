/* worker/curriculum.c: arm set, mixture and scheduler of a run (curriculum.h). */
#include "worker/curriculum.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "worker/objectives/mixture.h"

/* Splits "a; b; c" into trimmed specs (pointers into buf, which is modified). */
static int split_specs(char *buf, const char **specs, int cap)
{
    int n = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ";", &save); tok; tok = strtok_r(NULL, ";", &save)) {
        while (*tok == ' ' || *tok == '\t')
            tok++;
        char *end = tok + strlen(tok);
        while (end > tok && (end[-1] == ' ' || end[-1] == '\t'))
            *--end = '\0';
        if (*tok && n < cap)
            specs[n++] = tok;
        else if (*tok)
            return -1;
    }
    return n;
}

static int init_scheduler(birdie_curriculum *cur, const birdie_config *cfg, int remote, char *err, size_t errlen)
{
    int n = cur->arms.n, rc = -ENOMEM;
    const char **names = calloc((size_t)n, sizeof *names);
    int *cls = calloc((size_t)n, sizeof *cls);
    int present[BIRDIE_NUM_OBJECTIVE_CLASSES] = {0}, remap[BIRDIE_NUM_OBJECTIVE_CLASSES], n_classes = 0;
    if (!names || !cls) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    /* The scheduler wants dense class ids over the classes this run uses. */
    for (int a = 0; a < n; a++)
        present[cur->arms.arms[a].cls] = 1;
    for (int c = 0; c < BIRDIE_NUM_OBJECTIVE_CLASSES; c++)
        remap[c] = present[c] ? n_classes++ : -1;
    for (int a = 0; a < n; a++) {
        names[a] = cur->arms.arms[a].name;
        cls[a] = remap[cur->arms.arms[a].cls];
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
    sc.warmup_step = cfg->warmup_steps ? cfg->warmup_steps : birdie_sched_default_warmup(cfg->steps);
    /* §7.5: the exploration schedule spans the run; very short runs (smoke tests) get the shortest
     * horizon whose cook, warm-up and decay phases are each at least a few steps long. */
    sc.explore.horizon = cfg->steps > 64 ? cfg->steps : 64;
    /* Created even when remote: it checks the config and gives the initial mixture and version. */
    if ((rc = birdie_sched_create(&sc, &cur->sched, err, errlen)) < 0)
        goto out;
    int count = birdie_sched_eval_schedule(cfg->steps, NULL, 0, err, errlen);
    if (count < 0) {
        rc = count;
        goto out;
    }
    cur->eval_steps = calloc((size_t)count + 1, sizeof *cur->eval_steps);
    if (!cur->eval_steps) {
        rc = -ENOMEM;
        goto out;
    }
    cur->n_eval_steps = birdie_sched_eval_schedule(cfg->steps, cur->eval_steps, count, err, errlen);
    memcpy(cur->weights, birdie_sched_mixture(cur->sched), (size_t)cur->arms.n * sizeof *cur->weights);
    cur->version = birdie_sched_mixture_version(cur->sched);
    if (remote) {
        birdie_sched_free(cur->sched);
        cur->sched = NULL;
    }
    rc = 0;
out:
    free(names);
    free(cls);
    return rc;
}

int birdie_curriculum_init(birdie_curriculum *cur, const birdie_config *cfg, int T, int remote, char *err,
                           size_t errlen)
{
    memset(cur, 0, sizeof *cur);
    char specs_buf[sizeof cfg->arms];
    const char *specs[BIRDIE_MAX_ARMS];
    memcpy(specs_buf, cfg->arms, sizeof specs_buf);
    int nspecs = split_specs(specs_buf, specs, BIRDIE_MAX_ARMS);
    if (nspecs <= 0) {
        snprintf(err, errlen, "[objectives] arms: %s", nspecs == 0 ? "no arm given" : "too many arms");
        return -EINVAL;
    }
    char msg[512];
    int rc = birdie_arm_set_from_specs(&cur->arms, specs, nspecs, msg, sizeof msg);
    if (rc < 0) {
        snprintf(err, errlen, "[objectives] arms: %s", msg);
        return rc;
    }
    birdie_arm_set_paradigm(&cur->arms, cfg->paradigm);
    for (int a = 0; a < cur->arms.n; a++) {
        int need = birdie_arm_min_size(&cur->arms.arms[a]);
        if (need > T) {
            snprintf(err, errlen, "[objectives] arm '%s' needs rows of at least %d positions but [train] seq_len = %d",
                     cur->arms.arms[a].name, need, T);
            birdie_curriculum_free(cur);
            return -EINVAL;
        }
    }
    cur->weights = calloc((size_t)cur->arms.n, sizeof *cur->weights);
    if (!cur->weights) {
        birdie_curriculum_free(cur);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    cur->birdie = strcmp(cfg->mixture, "birdie") == 0;
    if (cur->birdie)
        rc = init_scheduler(cur, cfg, remote, msg, sizeof msg);
    else
        rc = birdie_mixture_parse(&cur->arms, cfg->mixture, cur->weights, msg, sizeof msg);
    if (rc < 0) {
        snprintf(err, errlen, "[objectives] mixture = '%s': %s", cfg->mixture, msg);
        birdie_curriculum_free(cur);
        return rc;
    }
    return 0;
}

void birdie_curriculum_free(birdie_curriculum *cur)
{
    birdie_arm_set_free(&cur->arms);
    free(cur->weights);
    free(cur->eval_steps);
    if (cur->sched)
        birdie_sched_free(cur->sched);
    memset(cur, 0, sizeof *cur);
}

int birdie_curriculum_scheduler_step(const birdie_curriculum *cur, int64_t step)
{
    for (int i = 0; i < cur->n_eval_steps; i++)
        if (cur->eval_steps[i] == step)
            return 1;
    return 0;
}

int64_t birdie_curriculum_next_scheduler_step(const birdie_curriculum *cur, int64_t step)
{
    for (int i = 0; i < cur->n_eval_steps; i++)
        if (cur->eval_steps[i] > step)
            return cur->eval_steps[i];
    return INT64_MAX;
}

void birdie_curriculum_format_classes(const birdie_curriculum *cur, char *buf, size_t len)
{
    double by_class[BIRDIE_NUM_OBJECTIVE_CLASSES] = {0};
    for (int a = 0; a < cur->arms.n; a++)
        by_class[cur->arms.arms[a].cls] += cur->weights[a];
    size_t used = 0;
    buf[0] = '\0';
    for (int c = 0; c < BIRDIE_NUM_OBJECTIVE_CLASSES && used < len; c++)
        if (by_class[c] > 0)
            used += (size_t)snprintf(buf + used, len - used, "%s%s %.3f", used ? " " : "",
                                     birdie_objective_class_short((birdie_objective_class)c), by_class[c]);
}

int birdie_curriculum_observe(birdie_curriculum *cur, int64_t step, const double *loss_sum, const double *tokens,
                              FILE *log, char *err, size_t errlen)
{
    birdie_decision d = {0};
    birdie_sched_input in = {.step = step,
                             .n_arms = cur->arms.n,
                             .loss_sum = loss_sum,
                             .tokens = tokens,
                             .mixture = cur->weights,
                             .mixture_version = cur->version};
    int rc = birdie_sched_observe(cur->sched, &in, &d, err, errlen);
    if (rc < 0)
        return rc;
    memcpy(cur->weights, d.mixture_out, (size_t)cur->arms.n * sizeof *cur->weights);
    cur->version = d.mixture_version_out;
    if (log) {
        char classes[256];
        birdie_curriculum_format_classes(cur, classes, sizeof classes);
        fprintf(log, "step %5lld | scheduler %s | observed %.4f predicted %.4f | fit mse %.4g | mixture v%llu: %s\n",
                (long long)step, birdie_decision_kind_name(d.kind), d.observed_score,
                d.has_prediction ? d.predicted_in_score : 0.0, d.fit_mse_clean, (unsigned long long)cur->version,
                classes);
        fflush(log);
    }
    birdie_decision_free(&d);
    return 0;
}
