/* tests/fuzz/manifest_good.h: the two good checkpoints (steps 1 and 2) that fuzz_manifest.c puts
 * beside every fuzzed manifest, and that make_seeds.c writes to build the manifest seeds, so that the
 * seeds' checksums match the files the target reads. */
#ifndef BIRDIE_TESTS_FUZZ_MANIFEST_GOOD_H
#define BIRDIE_TESTS_FUZZ_MANIFEST_GOOD_H

#include <stdio.h>
#include <stdlib.h>

#include "worker/checkpoint.h"

static inline void fuzz_write_good_checkpoint(const char *dir, int64_t step)
{
    float params[6] = {1, 2, 3, 4, 5, 6}, m[6] = {0}, v[6] = {0};
    double weights[2] = {0.25, 0.75};
    birdie_checkpoint ck = {.step = step,
                            .n_params = 6,
                            .params = params,
                            .m = m,
                            .v = v,
                            .n_arms = 2,
                            .mixture_version = 3,
                            .weights = weights,
                            .config_hash = 42};
    char err[1024];
    if (birdie_checkpoint_write(dir, &ck, 0, NULL, err, sizeof err) != 0) {
        fprintf(stderr, "fuzz: writing a good checkpoint: %s\n", err);
        abort();
    }
}

#endif
