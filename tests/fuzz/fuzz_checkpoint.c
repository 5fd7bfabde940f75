/* tests/fuzz/fuzz_checkpoint.c: one checkpoint file (birdie_checkpoint_load_file, worker/checkpoint.c)
 * from arbitrary bytes. Each input is read twice: as it is, and with its last 8 bytes replaced by
 * the FNV-1a checksum of the rest, so that mutated headers and bodies get past the checksum to the
 * size and plausibility checks behind it (a random input almost never carries a matching checksum).
 *
 * Beyond "no crash, no leak, no undefined behaviour", what checkpoint.h and the header checks promise
 * of a checkpoint that loaded: a step in [0, 2^50], and mixture weights in [0, 1] that sum to 1. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fuzz_util.h"
#include "worker/checkpoint.h"

static void load(const char *path, const uint8_t *data, size_t size)
{
    fuzz_write_file(path, data, size);
    birdie_checkpoint ck;
    char err[1024];
    if (birdie_checkpoint_load_file(path, &ck, err, sizeof err) != 0)
        return;
    double total = 0;
    for (int a = 0; a < ck.n_arms; a++)
        total += ck.weights[a];
    if (ck.step < 0 || ck.step > ((int64_t)1 << 50) || (ck.n_arms > 0 && fabs(total - 1.0) > 1e-6)) {
        fprintf(stderr, "fuzz_checkpoint: accepted step %lld with %d arms summing to %g\n", (long long)ck.step,
                ck.n_arms, total);
        abort();
    }
    birdie_checkpoint_free(&ck);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[600];
    if (!path[0])
        fuzz_path(path, sizeof path, "ckpt_000000001.bin");
    load(path, data, size);
    uint64_t sum;
    if (size < sizeof sum)
        return 0;
    uint8_t *fixed = malloc(size);
    if (!fixed)
        abort();
    memcpy(fixed, data, size);
    sum = birdie_fnv1a(BIRDIE_FNV_OFFSET, fixed, size - sizeof sum);
    memcpy(fixed + size - sizeof sum, &sum, sizeof sum);
    load(path, fixed, size);
    free(fixed);
    return 0;
}
