/* worker/eval_schedule.h: when a Birdie run evaluates for its scheduler (the evaluation schedule of the
 * paper's small-scale plan), scaled to the run length, and the scheduler warm-up that goes with it.
 * Every rank computes the same steps from the step count alone, so no rank has to be told. It does not
 * evaluate (worker/train.c) or decide anything (the scheduler, daemon/scheduler). */
#ifndef BIRDIE_EVAL_SCHEDULE_H
#define BIRDIE_EVAL_SCHEDULE_H

#include <stddef.h>
#include <stdint.h>

/* The evaluation steps of a run of total_steps: at 3,000 steps they are 4, 20, 100, then every 150
 * (..., 2,950): 22 evaluations. Other lengths scale linearly: the first three at 4/3000, 20/3000 and
 * 1/30 of the run (the last one is birdie_eval_schedule_warmup), then every 1/20 of the run, each at
 * least one step after the previous, rounded to the nearest step, all < total_steps. Writes up to cap
 * steps and returns how many there are (call with steps NULL to size), or a negative errno. */
int birdie_eval_schedule(int64_t total_steps, int64_t *steps, int cap, char *err, size_t errlen);

/* The scheduler's warm-up end that goes with the schedule above: round(total_steps / 30), at least 1. */
int64_t birdie_eval_schedule_warmup(int64_t total_steps);

#endif
