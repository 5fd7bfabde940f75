/* worker/clock.h: the monotonic clock every timer of birdie reads (step times, deadlines, benches),
 * and absolute realtime deadlines for condition-variable waits.
 * Time is only ever measured, never used to draw random numbers (worker/rng.h). */
#ifndef BIRDIE_CLOCK_H
#define BIRDIE_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline struct timespec birdie_monotonic_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts;
}

static inline double birdie_monotonic_seconds(void)
{
    struct timespec ts = birdie_monotonic_now();
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Whole milliseconds, truncated: the unit of the daemon's deadlines and lease times. */
static inline int64_t birdie_monotonic_ms(void)
{
    struct timespec ts = birdie_monotonic_now();
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The CLOCK_REALTIME instant ms milliseconds from now: the absolute deadline pthread_cond_timedwait
 * takes. */
static inline struct timespec birdie_realtime_after_ms(int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

#endif
