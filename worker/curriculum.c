/* worker/curriculum.c: arm set, mixture and scheduler of a run (curriculum.h). */
#include "worker/curriculum.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "worker/eval_schedule.h"
#include "worker/objectives/mixture.h"
#include "worker/objectives/mixture_rules.h"
#include "worker/error.h"

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

/* A Birdie run starts where the scheduler starts: the class-uniform mixture at version 0, and
 * evaluates at the steps of the evaluation schedule. */
static int init_birdie(birdie_curriculum *cur, const birdie_config *cfg, char *err, size_t errlen)
{
    int n = cur->arms.n;
    int *cls = calloc((size_t)n, sizeof *cls);
    if (!cls) {
        return birdie_fail(err, errlen, -ENOMEM, "out of memory");
    }
    for (int a = 0; a < n; a++)
        cls[a] = (int)cur->arms.arms[a].cls;
    birdie_class_uniform(n, cls, cur->weights);
    free(cls);
    cur->version = 0;
    int count = birdie_eval_schedule(cfg->steps, NULL, 0, err, errlen);
    if (count < 0)
        return count;
    cur->eval_steps = calloc((size_t)count + 1, sizeof *cur->eval_steps);
    if (!cur->eval_steps) {
        return birdie_fail(err, errlen, -ENOMEM, "out of memory");
    }
    cur->n_eval_steps = birdie_eval_schedule(cfg->steps, cur->eval_steps, count, err, errlen);
    return cur->n_eval_steps < 0 ? cur->n_eval_steps : 0;
}

int birdie_curriculum_parse_arms(const birdie_config *cfg, birdie_arm_set *arms, char *err, size_t errlen)
{
    char specs_buf[sizeof cfg->arms];
    const char *specs[BIRDIE_MAX_ARMS];
    memcpy(specs_buf, cfg->arms, sizeof specs_buf);
    int nspecs = split_specs(specs_buf, specs, BIRDIE_MAX_ARMS);
    if (nspecs <= 0) {
        return birdie_fail(err, errlen, -EINVAL, "[objectives] arms: %s",
                           nspecs == 0 ? "no arm given" : "too many arms");
    }
    char msg[512];
    int rc = birdie_arm_set_from_specs(arms, specs, nspecs, msg, sizeof msg);
    if (rc < 0) {
        return birdie_fail(err, errlen, rc, "[objectives] arms: %s", msg);
    }
    birdie_arm_set_paradigm(arms, cfg->paradigm);
    return 0;
}

int birdie_curriculum_init(birdie_curriculum *cur, const birdie_config *cfg, int T, char *err, size_t errlen)
{
    memset(cur, 0, sizeof *cur);
    int rc = birdie_curriculum_parse_arms(cfg, &cur->arms, err, errlen);
    if (rc < 0)
        return rc;
    char msg[512];
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
        return birdie_fail(err, errlen, -ENOMEM, "out of memory");
    }
    cur->birdie = strcmp(cfg->mixture, "birdie") == 0;
    if (cur->birdie)
        rc = init_birdie(cur, cfg, msg, sizeof msg);
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
