/* worker/objectives/validation.c: the fixed per-arm validation rows and the per-arm sums of a
 * loss over them (contract in build.h). The model run itself is the trainer's. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "worker/objectives/build.h"
#include "worker/objectives/build_impl.h"
#include "worker/fnv.h"
#include "worker/error.h"

int birdie_build_validation(const birdie_arm_set *arms, const birdie_source *val_src, uint64_t seed, int rows_per_arm,
                            int T, birdie_rows *out, birdie_pack_stats *stats, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (rows_per_arm <= 0 || !arms || arms->n <= 0 || (int64_t)arms->n * rows_per_arm > 1 << 24) {
        return birdie_fail(err, errlen, -EINVAL,
                           "validation rows: need arms and 1 <= rows per arm (got %d for %d arms)", rows_per_arm,
                           arms ? arms->n : 0);
    }
    for (int a = 0; a < arms->n; a++) {
        int need = birdie_arm_min_size(&arms->arms[a]);
        if (need > T) {
            return birdie_fail(err, errlen, -EINVAL,
                               "arm '%s': its smallest sample takes %d positions, validation rows have %d",
                               arms->arms[a].name, need, T);
        }
    }
    birdie_builder b;
    int rc = birdie_builder_init(&b, arms, val_src, seed, T, err, errlen);
    if (rc)
        return rc;
    rc = birdie_rows_alloc(out, arms->n * rows_per_arm, T);
    if (rc) {
        snprintf(err, errlen, "validation rows: out of memory for %d x %d", arms->n * rows_per_arm, T);
        birdie_builder_free(&b);
        return rc;
    }
    birdie_pack_stats local = {0};
    if (!stats)
        stats = &local;
    for (int a = 0; a < arms->n && !rc; a++) {
        const birdie_arm *arm = &arms->arms[a];
        uint64_t key = birdie_fnv1a(BIRDIE_FNV_OFFSET, arm->name, strlen(arm->name));
        for (int j = 0; j < rows_per_arm && !rc; j++) {
            birdie_rng base = birdie_rng_stream(seed, key, (uint64_t)j, BIRDIE_RNG_VALIDATION);
            birdie_row_streams streams = {base, birdie_rng_fork(&base, 1), birdie_rng_fork(&base, 2)};
            uint64_t before = stats->samples;
            int r = a * rows_per_arm + j;
            rc = birdie_fill_row(&b, NULL, a, birdie_arm_min_size(arm), out, r, &streams, stats, err, errlen);
            if (!rc && stats->samples == before) {
                snprintf(err, errlen, "arm '%s': validation row %d got no valid sample", arm->name, j);
                rc = -EINVAL;
            }
        }
    }
    birdie_builder_free(&b);
    if (rc)
        birdie_rows_free(out);
    return rc;
}

int birdie_loss_by_arm(const birdie_rows *rows, const float *losses, int narms, double *loss_sum, uint64_t *tokens,
                       char *err, size_t errlen)
{
    size_t n = (size_t)rows->B * (size_t)rows->T;
    for (size_t i = 0; i < n; i++) {
        if (rows->labels[i] < 0)
            continue;
        int a = rows->arms[i];
        if (a < 0 || a >= narms) {
            return birdie_fail(err, errlen, -EINVAL, "loss by arm: position %zu carries arm id %d outside [0, %d)", i,
                               a, narms);
        }
        loss_sum[a] += losses[i];
        tokens[a]++;
    }
    return 0;
}
