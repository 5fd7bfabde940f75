/* worker/objectives/bench.h: throughput of row building and packing on the calling thread (what
 * `birdie-bench --packer` reports). Not used in training. */
#ifndef BIRDIE_OBJECTIVES_BENCH_H
#define BIRDIE_OBJECTIVES_BENCH_H

#include <stddef.h>

#include "worker/objectives/build.h"

typedef struct birdie_packer_bench_result {
    double positions_per_s; /* row positions (B x T per step) built per second */
    double tokens_per_s; /* non-padding positions per second */
    double seconds;
    double setup_seconds; /* measuring sample sizes and solving the draw weights, before timing */
    double class_share_min, class_share_max; /* samples' share / mixture weight over the classes */
    birdie_pack_stats stats;
} birdie_packer_bench_result;

/* Builds steps of B rows of T positions (steps 0, 1, ...) with the given arms and weights from src
 * until at least min_seconds have passed (and at least one step). Timing uses CLOCK_MONOTONIC;
 * the rows themselves are drawn deterministically as in training. */
int birdie_packer_bench(const birdie_arm_set *arms, const double *weights, const birdie_source *src, int B, int T,
                        double min_seconds, birdie_packer_bench_result *out, char *err, size_t errlen);

#endif
