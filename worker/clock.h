/* worker/clock.h: the monotonic clock every timer of birdie reads (step times, deadlines, benches).
 * Time is only ever measured, never used to draw random numbers (worker/rng.h). */
#ifndef BIRDIE_CLOCK_H
#define BIRDIE_CLOCK_H

#include <time.h>

static inline double birdie_monotonic_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#endif
