/* worker/objectives/bench.c: the packer benchmark (contract in bench.h). */
#include "worker/objectives/bench.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "worker/clock.h"

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
    for (uint64_t step = 0; !rc && (step == 0 || elapsed < min_seconds); step++) {
        rc = birdie_build_rows(&b, weights, step, &rows, 0, B, step * (uint64_t)B, &out->stats, err, errlen);
        elapsed = birdie_monotonic_seconds() - start;
    }
    if (!rc) {
        out->seconds = elapsed;
        out->positions_per_s = (double)out->stats.positions / elapsed;
        out->tokens_per_s = (double)out->stats.tokens / elapsed;
    }
    birdie_rows_free(&rows);
    birdie_builder_free(&b);
    return rc;
}
