/* worker/trained_model.h: a trained model back from its checkpoint, for the commands that use one
 * (birdied generate, eval, finetune): which checkpoint, the run configuration that fixes its shape,
 * and a model holding the checkpoint's parameters.
 *
 * The configuration is, in order: --config FILE when given, else the config.ini that a training run
 * writes beside its checkpoints (birdie_run_config_write), else the defaults; then the
 * --section.key=value overrides. A checkpoint records the hash of its run's configuration, not the
 * model's shape, so the checkpoint is accepted only when that hash equals this configuration's and
 * the parameter counts agree: the shape is then the run's. Errors carry the exit classes of
 * worker/error.h (usage for flags and configuration, data for checkpoints). Not here: what the
 * commands do with the model. */
#ifndef BIRDIE_TRAINED_MODEL_H
#define BIRDIE_TRAINED_MODEL_H

#include <stddef.h>

#include "worker/checkpoint.h"
#include "worker/config.h"
#include "worker/model.h"

enum { BIRDIE_TRAINED_MAX_OVERRIDES = 64 };

typedef struct birdie_trained_args {
    const char *checkpoint; /* a [checkpoint] dir or one ckpt_*.bin; NULL: the configuration's dir */
    const char *config; /* NULL: config.ini beside the checkpoint, when there is one */
    int n_overrides;
    const char *overrides[BIRDIE_TRAINED_MAX_OVERRIDES];
} birdie_trained_args;

/* Takes argv[*i] when it is --checkpoint, --config or an override (advancing *i past a separate
 * value). Returns 1 when taken, 0 when argv[*i] is something else, or a usage error. */
int birdie_trained_take_arg(birdie_trained_args *a, int argc, char **argv, int *i, char *err, size_t errlen);

typedef struct birdie_trained {
    birdie_config cfg;
    birdie_model_config mc;
    birdie_checkpoint ck;
    char checkpoint[4096]; /* the path the checkpoint was read from */
    char config_from[4352]; /* the file the configuration came from, or "defaults" */
} birdie_trained;

/* Resolves the configuration, loads the checkpoint (a directory's newest that verifies, as --resume
 * auto) and checks that they belong together. */
int birdie_trained_load(birdie_trained *t, const birdie_trained_args *a, char *err, size_t errlen);

/* A CPU-backend model of B rows of T positions with the checkpoint's parameters (and its AdamW moments,
 * so that fine-tuning continues the optimizer's state only when the caller keeps them). */
int birdie_trained_model(const birdie_trained *t, birdie_model *m, int B, int T, char *err, size_t errlen);

void birdie_trained_free(birdie_trained *t);

#endif
