/* daemon/scheduler/sched_bench_main.c: birdie-sched-bench, the seconds of one scheduler decision
 * (reward-model fit + candidate scoring) for the default 61 arms on one thread, at two reward-model
 * widths and two history lengths. A speed measurement, never a test. */
#include <stdio.h>
#include <string.h>

#include "daemon/scheduler/scheduler.h"
#include "kernels/cpu/cpu_ops.h"

int main(int argc, char **argv)
{
    if (argc > 1) {
        fprintf(stderr, "usage: birdie-sched-bench   (seconds per scheduler decision; no options)\n");
        return strcmp(argv[1], "--help") ? 2 : 0;
    }
    birdie_cpu_set_threads(1);
    printf("scheduler decision, 61 arms, 4 layers, 200 fit iterations, 2048 candidates, 1 thread (target <= 0.5 s)\n");
    const int widths[] = {128, 256}, histories[] = {10, 22};
    for (int wi = 0; wi < 2; wi++)
        for (int hi = 0; hi < 2; hi++) {
            char err[256];
            double sec = birdie_sched_bench_decision_seconds(61, histories[hi], widths[wi], err, sizeof err);
            if (sec < 0) {
                fprintf(stderr, "birdie-sched-bench: %s\n", err);
                return 1;
            }
            printf("  width %3d, history %2d: %.3f s\n", widths[wi], histories[hi], sec);
        }
    return 0;
}
