/* daemon/scheduler/sched_internal.h: the scheduler object, shared by the files that implement the
 * public API (scheduler.c: create/observe; state_io.c: save/load; decision.c: records). Not a
 * public header. */
#ifndef BIRDIE_SCHED_INTERNAL_H
#define BIRDIE_SCHED_INTERNAL_H

#include <stdint.h>

#include "daemon/scheduler/reward_model.h"
#include "daemon/scheduler/scheduler.h"

struct birdie_sched {
    birdie_sched_config cfg; /* arm_names and arm_class point at the copies below */
    char **names; /* (n_arms) */
    int *arm_class; /* (n_arms) */
    int *class_size; /* (n_classes) */
    double *class_weight; /* (n_arms) 1 / class_size of the arm's class */
    double *uniform; /* (n_arms) the class-uniform mixture a0 */
    reward_model rm;

    /* progress: what a checkpoint must carry */
    uint64_t eval_count; /* evaluations observed */
    int64_t last_step; /* step of the last evaluation (valid when eval_count > 0) */
    double *loss; /* (n_arms) loss at the last evaluation */
    double *mixture; /* (n_arms) last published mixture */
    uint64_t mixture_version;
    uint64_t fit_iter_total; /* fit iterations so far: CyclicLR position and noise key */
    int hist_len, hist_cap;
    double *hist_loss; /* (hist_cap, n_arms) loss at the start of each interval */
    double *hist_action; /* (hist_cap, n_arms) mixture during it */
    double *hist_reward; /* (hist_cap, n_arms) its reward */
};

/* Checks a config (arms, classes, sizes, schedules); 0 or -EINVAL with the field named in err. */
int sched_config_check(const birdie_sched_config *cfg, char *err, size_t errlen);

/* Allocates a scheduler for cfg with a freshly initialised reward model and no history. */
int sched_alloc(const birdie_sched_config *cfg, birdie_sched **out, char *err, size_t errlen);

/* Makes room for at least n history rows. 0 or -ENOMEM. */
int sched_history_reserve(birdie_sched *s, int n);

/* Rebuilds the reward model's end-of-history cache from the history (no-op when it is empty) and
 * returns the model's noise-free MSE on it through mse (may be NULL). 0 or -ENOMEM. */
int sched_refresh_cache(birdie_sched *s, double *mse);

#endif
