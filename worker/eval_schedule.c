/* worker/eval_schedule.c: the steps at which a Birdie run evaluates for its scheduler (eval_schedule.h;
 * docs/algorithm.md §3.2).
 * The training loop owns them (it evaluates and reports); the scheduler, local or in the coordinator,
 * only reads the evaluations. */
#include <errno.h>
#include <math.h>
#include <stdio.h>

#include "worker/eval_schedule.h"

#define SCHEDULE_REFERENCE_STEPS 3000.0

int64_t birdie_eval_schedule_warmup(int64_t total_steps)
{
    int64_t w = llround((double)total_steps / 30.0);
    return w < 1 ? 1 : w;
}

int birdie_eval_schedule(int64_t total_steps, int64_t *steps, int cap, char *err, size_t errlen)
{
    if (total_steps < 1 || total_steps > ((int64_t)1 << 50)) {
        if (err)
            snprintf(err, errlen, "evaluation schedule: total_steps %lld is out of range [1, 2^50]",
                     (long long)total_steps);
        return -EINVAL;
    }
    if (steps && cap < 0) {
        if (err)
            snprintf(err, errlen, "evaluation schedule: negative capacity %d", cap);
        return -EINVAL;
    }
    double total = (double)total_steps;
    int64_t early[3] = {llround(total * 4.0 / SCHEDULE_REFERENCE_STEPS),
                        llround(total * 20.0 / SCHEDULE_REFERENCE_STEPS), birdie_eval_schedule_warmup(total_steps)};
    int64_t interval = llround(total / 20.0);
    if (interval < 1)
        interval = 1;
    int n = 0;
    int64_t prev = 0;
    for (int i = 0;; i++) {
        int64_t next = i < 3 ? early[i] : prev + interval;
        if (next <= prev)
            next = prev + 1;
        if (next >= total_steps)
            break;
        if (steps && n < cap)
            steps[n] = next;
        else if (steps) {
            if (err)
                snprintf(err, errlen, "evaluation schedule: %d slots are too few for %lld steps", cap,
                         (long long)total_steps);
            return -ENOSPC;
        }
        n++;
        prev = next;
    }
    return n;
}
