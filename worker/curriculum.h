/* worker/curriculum.h: which objectives a run trains on and in what mixture, over time.
 *
 * Holds the arm set from [objectives] arms, the current mixture (weights per arm, summing to 1, with
 * a version that grows by one at every change) and, for mixture = birdie, the steps at which the run
 * evaluates for its scheduler (worker/eval_schedule.h). A Birdie run starts from the class-uniform
 * mixture at version 0, as the scheduler does. It does not decide mixtures (the scheduler behind a
 * birdie_mixture_source or the coordinator), build rows or run the model (worker/objectives,
 * worker/train.c). */
#ifndef BIRDIE_CURRICULUM_H
#define BIRDIE_CURRICULUM_H

#include <stdint.h>
#include <stdio.h>

#include "worker/config.h"
#include "worker/objectives/arm.h"

typedef struct birdie_curriculum {
    birdie_arm_set arms;
    double *weights; /* (arms.n) the mixture in force */
    uint64_t version;
    int birdie; /* mixture = birdie: a scheduler decides (in this process or in the coordinator) */
    int64_t *eval_steps; /* scheduler evaluation steps, ascending */
    int n_eval_steps;
} birdie_curriculum;

/* Parses arms and mixture from cfg and checks that every arm fits a row of T positions (an arm that
 * does not is an error naming it). 0 or a negative errno with a message. */
int birdie_curriculum_init(birdie_curriculum *cur, const birdie_config *cfg, int T, char *err, size_t errlen);
/* The arm set of [objectives] arms alone (for a scheduler built from the same config). */
int birdie_curriculum_parse_arms(const birdie_config *cfg, birdie_arm_set *arms, char *err, size_t errlen);
void birdie_curriculum_free(birdie_curriculum *cur);

/* 1 when the scheduler evaluates at this step. */
int birdie_curriculum_scheduler_step(const birdie_curriculum *cur, int64_t step);
/* The first scheduler evaluation step after `step`, or INT64_MAX when none is left. */
int64_t birdie_curriculum_next_scheduler_step(const birdie_curriculum *cur, int64_t step);

/* Writes "class weight ..." of the current mixture, summed per class, into buf. */
void birdie_curriculum_format_classes(const birdie_curriculum *cur, char *buf, size_t len);

#endif
