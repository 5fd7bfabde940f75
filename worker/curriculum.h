/* worker/curriculum.h: which objectives a run trains on and in what mixture, over time.
 *
 * Holds the arm set from [objectives] arms, the current mixture (weights per arm, summing to 1, with
 * a version that grows by one at every change) and, for mixture = birdie, the reward-driven
 * scheduler (daemon/scheduler) with its evaluation schedule (§7.5). Every rank holds its own copy:
 * the scheduler is deterministic and sees the same all-reduced losses everywhere, so all ranks
 * switch to the same mixture at the same step without talking. It does not build rows or run the
 * model (worker/objectives, worker/train.c). */
#ifndef BIRDIE_CURRICULUM_H
#define BIRDIE_CURRICULUM_H

#include <stdint.h>
#include <stdio.h>

#include "daemon/scheduler/scheduler.h"
#include "worker/config.h"
#include "worker/objectives/arm.h"

typedef struct birdie_curriculum {
    birdie_arm_set arms;
    double *weights; /* (arms.n) the mixture in force */
    uint64_t version;
    int birdie; /* mixture = birdie: the scheduler decides (here or in the coordinator) */
    birdie_sched *sched; /* the local scheduler; NULL for fixed mixtures and remote scheduling */
    int64_t *eval_steps; /* scheduler evaluation steps, ascending */
    int n_eval_steps;
} birdie_curriculum;

/* Parses arms and mixture from cfg and checks that every arm fits a row of T positions (an arm that
 * does not is an error naming it). For mixture = birdie it creates the scheduler unless remote is set
 * (the coordinator runs it; the evaluation schedule is kept). 0 or a negative errno with a message. */
int birdie_curriculum_init(birdie_curriculum *cur, const birdie_config *cfg, int T, int remote, char *err,
                           size_t errlen);
void birdie_curriculum_free(birdie_curriculum *cur);

/* 1 when the scheduler evaluates at this step. */
int birdie_curriculum_scheduler_step(const birdie_curriculum *cur, int64_t step);
/* The first scheduler evaluation step after `step`, or INT64_MAX when none is left. */
int64_t birdie_curriculum_next_scheduler_step(const birdie_curriculum *cur, int64_t step);

/* Hands one evaluation to the scheduler and adopts its mixture. log (may be NULL) gets one line per
 * decision and the mixture by class. */
int birdie_curriculum_observe(birdie_curriculum *cur, int64_t step, const double *loss_sum, const double *tokens,
                              FILE *log, char *err, size_t errlen);

/* Writes "class weight ..." of the current mixture, summed per class, into buf. */
void birdie_curriculum_format_classes(const birdie_curriculum *cur, char *buf, size_t len);

#endif
