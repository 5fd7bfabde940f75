/* worker/trained_model.c: configuration + checkpoint -> model (trained_model.h). */
#include "worker/trained_model.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "worker/cli_flags.h"
#include "worker/error.h"
#include "worker/run_checkpoint.h"

int birdie_trained_take_arg(birdie_trained_args *a, int argc, char **argv, int *i, char *err, size_t errlen)
{
    const char *v;
    if ((v = birdie_flag_value(argc, argv, i, "--checkpoint"))) {
        a->checkpoint = v;
    } else if ((v = birdie_flag_value(argc, argv, i, "--config"))) {
        a->config = v;
    } else if (birdie_flag_is_override(argv[*i])) {
        if (a->n_overrides == BIRDIE_TRAINED_MAX_OVERRIDES)
            return birdie_fail(err, errlen, birdie_error_tag(-E2BIG, BIRDIE_EXIT_USAGE),
                               "more than %d --section.key=value overrides", BIRDIE_TRAINED_MAX_OVERRIDES);
        a->overrides[a->n_overrides++] = argv[*i] + 2;
    } else {
        return 0;
    }
    return 1;
}

/* The directory a checkpoint path names: itself, or the file's directory. */
static void checkpoint_dir_of(const char *path, char *dir, size_t cap)
{
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(dir, cap, "%s", path);
        return;
    }
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, cap, ".");
    else
        snprintf(dir, cap, "%.*s", (int)(slash - path > 0 ? slash - path : 1), path);
}

static int resolve_config(birdie_trained *t, const birdie_trained_args *a, char *err, size_t errlen)
{
    const int usage_error = birdie_error_tag(-EINVAL, BIRDIE_EXIT_USAGE);
    birdie_config_defaults(&t->cfg);
    snprintf(t->config_from, sizeof t->config_from, "defaults");
    if (a->config) {
        if (birdie_config_load_file(&t->cfg, a->config, err, errlen) < 0)
            return usage_error;
        snprintf(t->config_from, sizeof t->config_from, "%s", a->config);
    } else if (a->checkpoint) {
        char dir[4096], path[4200];
        checkpoint_dir_of(a->checkpoint, dir, sizeof dir);
        snprintf(path, sizeof path, "%s/%s", dir, BIRDIE_RUN_CONFIG_FILE);
        if (access(path, F_OK) == 0) {
            if (birdie_config_load_file(&t->cfg, path, err, errlen) < 0)
                return birdie_error_tag(-EINVAL, BIRDIE_EXIT_DATA);
            snprintf(t->config_from, sizeof t->config_from, "%s", path);
        }
    }
    for (int i = 0; i < a->n_overrides; i++)
        if (birdie_config_set(&t->cfg, a->overrides[i], err, errlen) < 0)
            return usage_error;
    if (birdie_config_validate(&t->cfg, err, errlen) < 0)
        return usage_error;
    int rc = birdie_run_model_shape(&t->cfg, &t->mc, err, errlen);
    return rc < 0 ? birdie_error_tag(rc, BIRDIE_EXIT_USAGE) : 0;
}

/* The checkpoint of a [checkpoint] dir (newest that verifies) or of one file. */
static int load_checkpoint(const char *path, birdie_checkpoint *ck, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return birdie_fail(err, errlen, birdie_error_tag(-errno, BIRDIE_EXIT_DATA), "checkpoint %s: %s", path,
                           strerror(errno));
    int rc;
    if (S_ISDIR(st.st_mode)) {
        char notes[2048];
        rc = birdie_checkpoint_load_latest(path, ck, notes, sizeof notes, err, errlen);
        if (rc == 0)
            return birdie_fail(err, errlen, birdie_error_tag(-ENOENT, BIRDIE_EXIT_DATA),
                               "checkpoint: %s holds no manifest.json (no checkpoint written there)", path);
        rc = rc > 0 ? 0 : rc;
    } else {
        rc = birdie_checkpoint_load_file(path, ck, err, errlen);
    }
    return rc < 0 ? birdie_error_tag(rc, BIRDIE_EXIT_DATA) : 0;
}

int birdie_trained_load(birdie_trained *t, const birdie_trained_args *a, char *err, size_t errlen)
{
    memset(t, 0, sizeof *t);
    int rc = resolve_config(t, a, err, errlen);
    if (rc < 0)
        return rc;
    snprintf(t->checkpoint, sizeof t->checkpoint, "%s", a->checkpoint ? a->checkpoint : t->cfg.ckpt_dir);
    if ((rc = load_checkpoint(t->checkpoint, &t->ck, err, errlen)) < 0)
        return rc;
    uint64_t want = birdie_train_config_hash(&t->cfg);
    if (t->ck.family != t->mc.family) {
        rc = birdie_fail(err, errlen, birdie_error_tag(-EINVAL, BIRDIE_EXIT_DATA),
                         "checkpoint %s (step %lld) holds a %s model; the configuration from %s with the overrides "
                         "asks for [model] family = %s",
                         t->checkpoint, (long long)t->ck.step, birdie_model_family_name(t->ck.family), t->config_from,
                         birdie_model_family_name(t->mc.family));
        birdie_trained_free(t);
    } else if (t->ck.config_hash != want) {
        rc = birdie_fail(err, errlen, birdie_error_tag(-EINVAL, BIRDIE_EXIT_DATA),
                         "checkpoint %s (step %lld) was written by a run with another configuration (hash %016llx; "
                         "the configuration from %s with the overrides gives %016llx): pass that run's --config "
                         "and overrides",
                         t->checkpoint, (long long)t->ck.step, (unsigned long long)t->ck.config_hash, t->config_from,
                         (unsigned long long)want);
        birdie_trained_free(t);
    }
    return rc;
}

int birdie_trained_model(const birdie_trained *t, birdie_model *m, int B, int T, char *err, size_t errlen)
{
    int rc = birdie_model_init(m, &t->mc, &birdie_ops_cpu, 0, B, T, err, errlen);
    if (rc < 0)
        return birdie_error_tag(rc, rc == -ENOMEM ? BIRDIE_EXIT_INTERNAL : BIRDIE_EXIT_USAGE);
    if (m->n_params != t->ck.n_params) {
        rc = birdie_fail(err, errlen, birdie_error_tag(-EINVAL, BIRDIE_EXIT_DATA),
                         "checkpoint %s holds %zu parameters; the configuration's model has %zu", t->checkpoint,
                         t->ck.n_params, m->n_params);
        birdie_model_free(m);
        return rc;
    }
    size_t bytes = t->ck.n_params * sizeof(float);
    m->ops->upload(m->params, t->ck.params, bytes);
    m->ops->upload(m->m, t->ck.m, bytes);
    m->ops->upload(m->v, t->ck.v, bytes);
    return 0;
}

void birdie_trained_free(birdie_trained *t)
{
    birdie_checkpoint_free(&t->ck);
}
