/* daemon/scheduler/sched_rng.h: how the scheduler keys its random streams. Every draw comes from
 * worker/rng.h with purpose BIRDIE_RNG_SCHEDULER; the "step" slot holds a counter (evaluation index,
 * or the global fit iteration for the training noise) and the "row" slot the use and an index, so
 * that no two uses share draws and any draw can be recomputed from (seed, counter). */
#ifndef BIRDIE_SCHED_RNG_H
#define BIRDIE_SCHED_RNG_H

#include "worker/rng.h"

enum sched_rng_use {
    SCHED_RNG_INIT = 1, /* counter 0, index = parameter tensor */
    SCHED_RNG_NOISE = 2, /* counter = global fit iteration */
    SCHED_RNG_EXPLORE_COIN = 3, /* counter = evaluation index */
    SCHED_RNG_EXPLORE_VECTOR = 4, /* counter = evaluation index */
    SCHED_RNG_CANDIDATES = 5 /* counter = evaluation index */
};

static inline birdie_rng sched_rng(uint64_t seed, uint64_t counter, enum sched_rng_use use, uint64_t index)
{
    return birdie_rng_stream(seed, counter, ((uint64_t)use << 48) ^ index, BIRDIE_RNG_SCHEDULER);
}

#endif
