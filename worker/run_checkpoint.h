/* worker/run_checkpoint.h: what a checkpoint holds of a run, gathered from the parts that own it (the
 * model's parameters and AdamW moments, the curriculum's mixture, the scheduler's state) and put back
 * into them on resume, with the config hash that decides whether a checkpoint may continue a run.
 * The file format is worker/checkpoint.h's; when to checkpoint is the training loop's (worker/train.c,
 * worker/step_control.h). */
#ifndef BIRDIE_RUN_CHECKPOINT_H
#define BIRDIE_RUN_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "worker/checkpoint.h"
#include "worker/config.h"
#include "worker/control.h"
#include "worker/curriculum.h"
#include "worker/mixture_source.h"
#include "worker/model.h"

typedef struct birdie_run_parts {
    const birdie_config *cfg;
    birdie_model *model;
    birdie_curriculum *cur;
    const birdie_mixture_source *sched; /* the scheduler in this process, or NULL */
    const birdie_control *ctl; /* the coordinator (its scheduler's state comes through it), or NULL */
} birdie_run_parts;

/* The model shape a config asks for: the size's defaults with the config's overrides. */
int birdie_run_model_shape(const birdie_config *cfg, birdie_model_config *mc, char *err, size_t errlen);

/* The hash a checkpoint records of everything a bit-identical resume depends on: model shape, row
 * length, global batch, seed, arms, mixture and paradigm setting (not the step count). */
uint64_t birdie_train_config_hash(const birdie_config *cfg);

/* The run's configuration beside its checkpoints, so that the commands that use a checkpoint
 * (worker/trained_model.h) find the model's shape without being told. */
#define BIRDIE_RUN_CONFIG_FILE "config.ini"

/* Writes cfg as INI (every key; birdie_config_print) to dir/config.ini through a temporary file and a
 * rename, so a reader sees the old file or the new one. The directory must exist. */
int birdie_run_config_write(const char *dir, const birdie_config *cfg, char *err, size_t errlen);

/* Writes the checkpoint of the state after `step` to [checkpoint] dir (call on one rank: the
 * parameters are the same everywhere), and the run's config.ini beside it. info receives where it
 * went. */
int birdie_run_checkpoint_write(const birdie_run_parts *p, long step, birdie_checkpoint_info *info, char *err,
                                size_t errlen);

/* Puts a checkpoint back: parameters, moments, mixture and (in this process) the scheduler. A
 * checkpoint of another configuration is an error naming its step. */
int birdie_run_checkpoint_restore(const birdie_run_parts *p, const birdie_checkpoint *ck, char *err, size_t errlen);

#endif
