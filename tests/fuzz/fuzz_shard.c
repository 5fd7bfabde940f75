/* tests/fuzz/fuzz_shard.c: the token shard reader (worker/data/shard.c) on an arbitrary file: the
 * header (magic, version, count), the size check and the token scan.
 *
 * Beyond "no crash, no leak, no undefined behaviour", what shard.h promises of a shard that opened:
 * the file is exactly the header and count token ids, and every id is inside the vocabulary. */
#include <stdlib.h>

#include "tests/fuzz/fuzz_util.h"
#include "worker/data/shard.h"
#include "worker/vocab.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[600];
    if (!path[0])
        fuzz_path(path, sizeof path, "shard.bin");
    fuzz_write_file(path, data, size);
    birdie_shard shard;
    char err[1024];
    if (birdie_shard_open(&shard, path, err, sizeof err) != 0)
        return 0;
    if (BIRDIE_SHARD_HEADER_BYTES + 2 * shard.count != size) {
        fprintf(stderr, "fuzz_shard: %zu bytes opened as a shard of %llu tokens\n", size,
                (unsigned long long)shard.count);
        abort();
    }
    for (uint64_t i = 0; i < shard.count; i++)
        if (shard.tokens[i] >= BIRDIE_VOCAB) {
            fprintf(stderr, "fuzz_shard: token %llu is %u, outside the vocabulary\n", (unsigned long long)i,
                    (unsigned)shard.tokens[i]);
            abort();
        }
    birdie_shard_close(&shard);
    return 0;
}
