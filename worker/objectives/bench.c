/* worker/objectives/bench.c: the packer benchmark (contract in bench.h). */
#include "worker/objectives/bench.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "worker/clock.h"

/* Adds the samples of each class in rows (a sample starts where the segment id changes); returns
 * how many there were. Counted inside the timed loop: a small share of the building time. */
static double count_class_samples(const birdie_arm_set *arms, const birdie_rows *rows, double *samples)
{
    double n = 0.0;
    for (size_t i = 0; i < (size_t)rows->B * rows->T; i++)
        if (rows->arms[i] >= 0 && (i % (size_t)rows->T == 0 || rows->segments[i] != rows->segments[i - 1])) {
            samples[arms->arms[rows->arms[i]].cls]++;
            n++;
        }
    return n;
}

static void class_share_range(const birdie_arm_set *arms, const double *weights, const double *samples, double total,
                              double *lo, double *hi)
{
    double w[BIRDIE_NUM_OBJECTIVE_CLASSES] = {0}, sum = 0.0;
    for (int a = 0; a < arms->n; a++)
        if (weights[a] > 0.0) {
            w[arms->arms[a].cls] += weights[a];
            sum += weights[a];
        }
    *lo = INFINITY;
    *hi = 0.0;
    for (int c = 0; c < BIRDIE_NUM_OBJECTIVE_CLASSES; c++)
        if (w[c] > 0.0 && total > 0.0) {
            double ratio = samples[c] / total / (w[c] / sum);
            *lo = fmin(*lo, ratio);
            *hi = fmax(*hi, ratio);
        }
}

int birdie_packer_bench(const birdie_arm_set *arms, const double *weights, const birdie_source *src, int B, int T,
                        double min_seconds, birdie_packer_bench_result *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    birdie_builder b;
    int rc = birdie_builder_init(&b, arms, src, 1234, T, err, errlen);
    if (rc)
        return rc;
    birdie_rows rows;
    rc = birdie_rows_alloc(&rows, B, T);
    if (rc) {
        snprintf(err, errlen, "packer bench: cannot allocate %d rows of %d", B, T);
        birdie_builder_free(&b);
        return rc;
    }
    double start = birdie_monotonic_seconds(), elapsed = 0.0;
    rc = birdie_builder_prepare(&b, weights, err, errlen);
    out->setup_seconds = birdie_monotonic_seconds() - start;
    double samples[BIRDIE_NUM_OBJECTIVE_CLASSES] = {0}, total = 0.0;
    start = birdie_monotonic_seconds();
    for (uint64_t step = 0; !rc && (step == 0 || elapsed < min_seconds); step++) {
        rc = birdie_build_rows(&b, weights, step, &rows, 0, B, step * (uint64_t)B, &out->stats, err, errlen);
        elapsed = birdie_monotonic_seconds() - start;
        total += count_class_samples(arms, &rows, samples);
    }
    if (!rc) {
        out->seconds = elapsed;
        out->positions_per_s = (double)out->stats.positions / elapsed;
        out->tokens_per_s = (double)out->stats.tokens / elapsed;
        class_share_range(arms, weights, samples, total, &out->class_share_min, &out->class_share_max);
    }
    birdie_rows_free(&rows);
    birdie_builder_free(&b);
    return rc;
}
