/* worker/run_checkpoint.c: a run's parts to and from a checkpoint (run_checkpoint.h). */
#include "worker/run_checkpoint.h"
#include "worker/error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int birdie_run_model_shape(const birdie_config *cfg, birdie_model_config *mc, char *err, size_t errlen)
{
    int family = birdie_model_family_parse(cfg->family[0] ? cfg->family : "gated_ssm");
    if (family < 0)
        return birdie_fail(err, errlen, -EINVAL, "[model] family = '%s': unknown", cfg->family);
    if (birdie_model_config_of_family(cfg->size, family, mc) < 0) {
        return birdie_fail(err, errlen, -EINVAL, "[model] size = '%s': unknown", cfg->size);
    }
    if (cfg->d_model)
        mc->d_model = cfg->d_model;
    if (cfg->d_state)
        mc->d_state = cfg->d_state;
    if (cfg->n_layers)
        mc->n_layers = cfg->n_layers;
    mc->bidirectional = cfg->bidirectional;
    if (mc->family == BIRDIE_FAMILY_TRANSFORMER)
        mc->d_state = mc->d_model; /* no recurrent state: the width that shapes nothing, fixed */
    return 0;
}

uint64_t birdie_train_config_hash(const birdie_config *cfg)
{
    birdie_model_config mc;
    char err[128];
    memset(&mc, 0, sizeof mc);
    birdie_run_model_shape(cfg, &mc, err, sizeof err);
    int64_t numbers[] = {mc.vocab,     mc.d_model, mc.d_state,         mc.n_layers,  mc.bidirectional,
                         cfg->seq_len, cfg->batch, (int64_t)cfg->seed, cfg->paradigm};
    uint64_t h = birdie_fnv1a(BIRDIE_FNV_OFFSET, numbers, sizeof numbers);
    /* The Gated SSM hashes as it did before families existed, so its old checkpoints still resume. */
    if (mc.family != BIRDIE_FAMILY_GATED_SSM) {
        int64_t family = mc.family;
        h = birdie_fnv1a(h, &family, sizeof family);
    }
    h = birdie_fnv1a(h, cfg->arms, strlen(cfg->arms));
    return birdie_fnv1a(h, cfg->mixture, strlen(cfg->mixture));
}

int birdie_run_config_write(const char *dir, const birdie_config *cfg, char *err, size_t errlen)
{
    char path[4200], tmp[4300];
    snprintf(path, sizeof path, "%s/%s", dir, BIRDIE_RUN_CONFIG_FILE);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f)
        return birdie_fail(err, errlen, -errno, "%s: %s", tmp, strerror(errno));
    fprintf(f,
            "; the configuration of run '%s', written beside its checkpoints (birdied generate, eval and\n"
            "; finetune read the model's shape from it)\n",
            cfg->name);
    birdie_config_print(cfg, f);
    int rc = fflush(f) == 0 && fsync(fileno(f)) == 0 ? 0 : -errno;
    if (fclose(f) != 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -errno;
    if (rc < 0) {
        unlink(tmp);
        return birdie_fail(err, errlen, rc, "%s: %s", path, strerror(-rc));
    }
    return 0;
}

/* The scheduler's state: the one in this process, or the coordinator's (rank 0 hosts it). */
static int save_scheduler_state(const birdie_run_parts *p, birdie_checkpoint *ck, char *err, size_t errlen)
{
    if (p->sched)
        return p->sched->save(p->sched->ctx, &ck->sched_state, &ck->sched_len, err, errlen);
    if (p->ctl && p->ctl->save_scheduler)
        return p->ctl->save_scheduler(p->ctl->ctx, &ck->sched_state, &ck->sched_len, err, errlen);
    return 0;
}

int birdie_run_checkpoint_write(const birdie_run_parts *p, long step, birdie_checkpoint_info *info, char *err,
                                size_t errlen)
{
    const birdie_model *model = p->model;
    size_t n = model->n_params, bytes = n * sizeof(float);
    birdie_checkpoint ck = {.step = step,
                            .n_params = n,
                            .n_arms = p->cur->arms.n,
                            .mixture_version = p->cur->version,
                            .weights = p->cur->weights,
                            .config_hash = birdie_train_config_hash(p->cfg),
                            .family = model->cfg.family};
    ck.params = malloc(bytes);
    ck.m = malloc(bytes);
    ck.v = malloc(bytes);
    int rc = -ENOMEM;
    if (ck.params && ck.m && ck.v && (rc = save_scheduler_state(p, &ck, err, errlen)) == 0) {
        model->ops->download(ck.params, model->params, bytes);
        model->ops->download(ck.m, model->m, bytes);
        model->ops->download(ck.v, model->v, bytes);
        rc = birdie_checkpoint_write(p->cfg->ckpt_dir, &ck, p->cfg->ckpt_keep, info, err, errlen);
        if (rc == 0)
            rc = birdie_run_config_write(p->cfg->ckpt_dir, p->cfg, err, errlen);
    } else if (rc == -ENOMEM) {
        snprintf(err, errlen, "checkpoint: out of memory for %zu parameters", n);
    }
    free(ck.params);
    free(ck.m);
    free(ck.v);
    free(ck.sched_state);
    return rc;
}

int birdie_run_checkpoint_restore(const birdie_run_parts *p, const birdie_checkpoint *ck, char *err, size_t errlen)
{
    birdie_curriculum *cur = p->cur;
    if (ck->family != p->model->cfg.family)
        return birdie_fail(err, errlen, -EINVAL,
                           "checkpoint of step %lld holds a %s model; this run's [model] family is %s: it cannot "
                           "continue this run",
                           (long long)ck->step, birdie_model_family_name(ck->family),
                           birdie_model_family_name(p->model->cfg.family));
    if (ck->config_hash != birdie_train_config_hash(p->cfg) || ck->n_params != p->model->n_params ||
        ck->n_arms != cur->arms.n) {
        snprintf(err, errlen,
                 "checkpoint of step %lld was written with a different configuration (model shape, rows, "
                 "batch, seed, arms or mixture); it cannot continue this run",
                 (long long)ck->step);
        return -EINVAL;
    }
    if (ck->step > p->cfg->steps)
        return birdie_fail(err, errlen, -EINVAL,
                           "checkpoint of step %lld is beyond [run] steps = %ld; it cannot continue this run",
                           (long long)ck->step, p->cfg->steps);
    size_t bytes = ck->n_params * sizeof(float);
    p->model->ops->upload(p->model->params, ck->params, bytes);
    p->model->ops->upload(p->model->m, ck->m, bytes);
    p->model->ops->upload(p->model->v, ck->v, bytes);
    memcpy(cur->weights, ck->weights, (size_t)cur->arms.n * sizeof *cur->weights);
    cur->version = ck->mixture_version;
    return p->sched ? p->sched->restore(p->sched->ctx, ck, err, errlen) : 0;
}
