/* worker/objectives/build.c: the builder, filling one row with samples, and the training rows of
 * a step (contract in build.h). Validation rows are in validation.c. */
#include "worker/objectives/build.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker/objectives/build_impl.h"
#include "worker/objectives/mixture.h"
#include "worker/objectives/packer.h"
#include "worker/error.h"

#define MAX_MISSES 8

double birdie_pack_fill_rate(const birdie_pack_stats *stats)
{
    return stats->positions ? (double)stats->tokens / (double)stats->positions : 0.0;
}

int birdie_builder_init(birdie_builder *b, const birdie_arm_set *arms, const birdie_source *src, uint64_t seed, int T,
                        char *err, size_t errlen)
{
    memset(b, 0, sizeof *b);
    if (!arms || arms->n <= 0 || !src || T <= 0) {
        return birdie_fail(err, errlen, -EINVAL, "row builder: need arms, a source and a row length > 0 (T = %d)", T);
    }
    b->arms = arms;
    b->src = src;
    b->seed = seed;
    b->T = T;
    b->chunk = malloc((size_t)T * sizeof *b->chunk);
    b->mixture_seen = malloc((size_t)arms->n * sizeof *b->mixture_seen);
    b->draw = malloc((size_t)arms->n * sizeof *b->draw);
    if (!b->chunk || !b->mixture_seen || !b->draw || birdie_sample_init(&b->sample, T)) {
        birdie_builder_free(b);
        return birdie_fail(err, errlen, -ENOMEM, "row builder: out of memory for rows of %d", T);
    }
    return 0;
}

void birdie_builder_free(birdie_builder *b)
{
    free(b->chunk);
    free(b->mixture_seen);
    free(b->draw);
    if (b->have_shares)
        birdie_share_model_free(&b->shares);
    birdie_sample_free(&b->sample);
    memset(b, 0, sizeof *b);
}

int birdie_fill_row(birdie_builder *b, const double *weights, int fixed_arm, int min_need, birdie_rows *rows, int r,
                    birdie_row_streams *streams, birdie_pack_stats *stats, char *err, size_t errlen)
{
    birdie_row_cursor cur;
    birdie_row_begin(rows, r, &cur);
    int misses = 0;
    uint64_t k = 0;
    while (misses < MAX_MISSES && b->T - cur.used >= min_need) {
        int a = fixed_arm >= 0 ? fixed_arm : birdie_mixture_draw(weights, b->arms->n, &streams->arm);
        const birdie_arm *arm = &b->arms->arms[a];
        int space = b->T - cur.used;
        if (space < birdie_arm_min_size(arm)) {
            misses++;
            stats->misses++;
            continue;
        }
        birdie_rng data = birdie_rng_fork(&streams->data, k), obj = birdie_rng_fork(&streams->objective, k);
        k++;
        int len = (int)birdie_rng_range(&obj, arm->min_len, arm->max_len);
        int cap = birdie_arm_chunk_cap(arm, space);
        if (len > cap)
            len = cap;
        int rc = birdie_source_window(b->src, &data, b->chunk, len);
        if (rc) {
            snprintf(err, errlen, "arm '%s': reading a window of %d tokens from the source failed (%d)", arm->name, len,
                     rc);
            return rc < 0 ? rc : -EIO;
        }
        rc = birdie_objective_apply(arm, b->chunk, len, space, &obj, &b->sample, err, errlen);
        if (rc == -ENOSPC || rc == -EAGAIN) {
            misses++;
            stats->misses++;
            continue;
        }
        if (rc)
            return rc;
        rc = birdie_row_add_sample(rows, &cur, &b->sample, a);
        if (rc) { /* the objective promised to fit the space: a broken invariant, not bad input */
            return birdie_fail(err, errlen, rc, "arm '%s': sample of %d positions does not fit the %d left", arm->name,
                               b->sample.nprefix + b->sample.ntargets, space);
        }
        misses = 0;
        stats->samples++;
    }
    stats->rows++;
    stats->positions += (uint64_t)b->T;
    stats->tokens += (uint64_t)cur.used;
    return 0;
}

int birdie_builder_prepare(birdie_builder *b, const double *weights, char *err, size_t errlen)
{
    size_t bytes = (size_t)b->arms->n * sizeof *weights;
    if (!b->have_shares) {
        int rc = birdie_share_model_init(&b->shares, b->arms, b->src, b->seed, b->T, MAX_MISSES, b->chunk, &b->sample,
                                         err, errlen);
        if (rc)
            return rc;
        b->have_shares = 1;
    }
    if (!b->have_draw || memcmp(b->mixture_seen, weights, bytes) != 0) {
        memcpy(b->mixture_seen, weights, bytes);
        b->share_error = birdie_share_correct(&b->shares, weights, b->draw);
        b->have_draw = 1;
    }
    return 0;
}

int birdie_build_rows(birdie_builder *b, const double *weights, uint64_t step, birdie_rows *rows, int row_begin,
                      int nrows, uint64_t global_row0, birdie_pack_stats *stats, char *err, size_t errlen)
{
    if (!b || !b->chunk || !weights || !rows || rows->T != b->T || row_begin < 0 || nrows < 0 ||
        row_begin + nrows > rows->B) {
        return birdie_fail(err, errlen, -EINVAL,
                           "build rows: bad arguments (rows %d+%d of %d, row length %d vs builder %d)", row_begin,
                           nrows, rows ? rows->B : 0, rows ? rows->T : 0, b ? b->T : 0);
    }
    const birdie_arm_set *set = b->arms;
    int min_need = b->T + 1;
    double sum = 0.0;
    for (int a = 0; a < set->n; a++) {
        if (!(weights[a] > 0.0))
            continue;
        sum += weights[a];
        int need = birdie_arm_min_size(&set->arms[a]);
        if (need > b->T) {
            return birdie_fail(err, errlen, -EINVAL, "arm '%s': its smallest sample takes %d positions, rows have %d",
                               set->arms[a].name, need, b->T);
        }
        if (need < min_need)
            min_need = need;
    }
    if (!(sum > 0.0)) {
        return birdie_fail(err, errlen, -EINVAL, "build rows: the mixture gives no arm a positive weight");
    }
    int rc = birdie_builder_prepare(b, weights, err, errlen);
    if (rc)
        return rc;
    birdie_pack_stats local = {0};
    if (!stats)
        stats = &local;
    for (int i = 0; i < nrows; i++) {
        uint64_t g = global_row0 + (uint64_t)i;
        birdie_row_streams streams = {
            birdie_rng_stream(b->seed, step, g, BIRDIE_RNG_ARM),
            birdie_rng_stream(b->seed, step, g, BIRDIE_RNG_DATA),
            birdie_rng_stream(b->seed, step, g, BIRDIE_RNG_OBJECTIVE),
        };
        if ((rc = birdie_fill_row(b, b->draw, -1, min_need, rows, row_begin + i, &streams, stats, err, errlen)))
            return rc;
    }
    return 0;
}
