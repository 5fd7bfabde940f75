/* tests/daemon/scheduler/bench_scheduler.c: `bench-scheduler [n_arms]` prints the time of one scheduler
 * decision (reward-model fit + candidate scoring) on one core, for the default config at a few
 * history lengths (docs/algorithm.md §3.2: about 22 evaluations at 3,000 steps, so histories of up to ~21 intervals;
 * 40 as a long-run bound). Not a test: birdie-sched-bench reports the same function. */
#include <stdio.h>
#include <stdlib.h>

#include "daemon/scheduler/scheduler.h"
#include "kernels/cpu/cpu_ops.h"

int main(int argc, char **argv)
{
    int n_arms = argc > 1 ? atoi(argv[1]) : 60;
    birdie_cpu_set_threads(1);
    const int histories[] = {10, 21, 40};
    const int widths[] = {256, 128};
    printf("scheduler decision, %d arms, 1 thread (target <= 0.5 s)\n", n_arms);
    for (size_t w = 0; w < sizeof(widths) / sizeof(widths[0]); w++)
        for (size_t h = 0; h < sizeof(histories) / sizeof(histories[0]); h++) {
            char err[256];
            double sec = birdie_sched_bench_decision_seconds(n_arms, histories[h], widths[w], err, sizeof(err));
            if (sec < 0) {
                fprintf(stderr, "bench-scheduler: %s\n", err);
                return 1;
            }
            printf("  hidden %3d x 4 layers, history %2d: %.3f s%s\n", widths[w], histories[h], sec,
                   widths[w] == 256 ? " (default width)" : "");
        }
    return 0;
}
