/* daemon/local_scheduler.h: the reward-driven scheduler (daemon/scheduler) built from a run's config,
 * as the training loop's birdie_mixture_source (every rank runs its own copy when there is no
 * coordinator) and as the coordinator's decide callback on rank 0 (daemon/run_link.c). The one place
 * that turns [objectives] and [scheduler] keys into a scheduler config and continues a scheduler
 * from a checkpoint. It does not train or talk to other ranks. */
#ifndef BIRDIE_DAEMON_LOCAL_SCHEDULER_H
#define BIRDIE_DAEMON_LOCAL_SCHEDULER_H

#include <stddef.h>

#include "daemon/scheduler/scheduler.h"
#include "worker/checkpoint.h"
#include "worker/config.h"
#include "worker/mixture_source.h"

/* The scheduler of a run with mixture = birdie: its arms, classes (dense over the classes the run
 * uses), seed, reward model and warm-up come from cfg; the exploration schedule spans the run. */
int birdie_local_scheduler_create(const birdie_config *cfg, birdie_sched **out, char *err, size_t errlen);

/* Replaces *sched by the scheduler a checkpoint holds (the old one is freed only on success). */
int birdie_local_scheduler_restore(birdie_sched **sched, const birdie_checkpoint *ck, char *err, size_t errlen);

/* A mixture source over a new scheduler; close it with birdie_local_scheduler_close. */
int birdie_local_scheduler_open(const birdie_config *cfg, birdie_mixture_source *src, char *err, size_t errlen);
void birdie_local_scheduler_close(birdie_mixture_source *src);

#endif
