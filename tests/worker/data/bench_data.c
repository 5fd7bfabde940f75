/* tests/worker/data/bench_data.c: throughput of the data sources on one core (not a test).
 *
 *   bench-data [seconds-per-case]     (default 1)
 *
 * Prints MB/s of synthetic document generation, of synthetic and shard windows of 512 tokens
 * (a token is one byte of text), and of shard validation at open. The packer's target is 5 M
 * tokens/s per process, so windows should stay well above that.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "worker/data/corpus.h"
#include "worker/data/shard.h"
#include "worker/source.h"
#include "worker/clock.h"
#include "worker/vocab.h"

enum { WINDOW = 512, SHARD_TOKENS = 16 << 20 };

static void die(const char *what, const char *err)
{
    fprintf(stderr, "bench-data: %s: %s\n", what, err);
    exit(1);
}

/* A token of the byte-level vocabulary is one byte of text, so M tokens/s = MB/s of text. */
static void report(const char *name, double tokens, double seconds)
{
    printf("%-28s %8.1f MB/s of text (M tokens/s)\n", name, tokens / seconds / 1e6);
}

static void bench_generation(double budget)
{
    char err[256];
    birdie_corpus *corpus;
    if (birdie_corpus_open(&corpus, 1, err, sizeof err) < 0)
        die("corpus", err);
    static uint8_t doc[BIRDIE_CORPUS_DOC_MAX];
    double t0 = birdie_monotonic_seconds(), t;
    uint64_t bytes = 0, k = 0;
    do {
        for (int i = 0; i < 256; i++)
            bytes += birdie_corpus_document(corpus, BIRDIE_SPLIT_TRAIN, k++, doc, BIRDIE_CORPUS_DOC_MAX);
    } while ((t = birdie_monotonic_seconds() - t0) < budget);
    report("synthetic documents", (double)bytes, t);
    birdie_corpus_close(corpus);
}

static void bench_windows(const char *name, const birdie_source *src, double budget)
{
    int32_t *out = malloc(WINDOW * sizeof *out);
    double t0 = birdie_monotonic_seconds(), t;
    uint64_t windows = 0;
    do {
        for (int i = 0; i < 256; i++, windows++) {
            birdie_rng rng = birdie_rng_stream(1, windows, 0, BIRDIE_RNG_DATA);
            if (birdie_source_window(src, &rng, out, WINDOW) < 0)
                die(name, "window failed");
        }
    } while ((t = birdie_monotonic_seconds() - t0) < budget);
    report(name, (double)windows * WINDOW, t);
    free(out);
}

int main(int argc, char **argv)
{
    double budget = argc > 1 ? atof(argv[1]) : 1.0;
    if (!(budget > 0))
        budget = 1.0;
    char err[1024];
    bench_generation(budget);

    birdie_source *synthetic;
    if (birdie_source_open_synthetic(&synthetic, 1, BIRDIE_SPLIT_TRAIN, err, sizeof err) < 0)
        die("synthetic source", err);
    bench_windows("synthetic windows of 512", synthetic, budget);
    birdie_source_close(synthetic);

    /* Shards: two files of random tokens in a temporary directory. */
    const char *tmp = getenv("TMPDIR");
    char dir[1024], paths[2][1100];
    snprintf(dir, sizeof dir, "%s/birdie-bench-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir))
        die("mkdtemp", dir);
    uint16_t *tokens = malloc((size_t)SHARD_TOKENS * sizeof *tokens);
    birdie_rng rng = birdie_rng_stream(1, 0, 0, BIRDIE_RNG_TEST);
    for (size_t i = 0; i < SHARD_TOKENS; i++)
        tokens[i] = (uint16_t)(1 + birdie_rng_below(&rng, 255));
    for (int i = 0; i < 2; i++) {
        snprintf(paths[i], sizeof paths[i], "%s/bench_%d.bin", dir, i);
        if (birdie_shard_write(paths[i], tokens, SHARD_TOKENS >> i, err, sizeof err) < 0)
            die("shard write", err);
    }
    free(tokens);
    char list[4096];
    snprintf(list, sizeof list, "%s,%s", paths[0], paths[1]);
    double t0 = birdie_monotonic_seconds();
    birdie_source *shards;
    if (birdie_source_open_shards(&shards, list, err, sizeof err) < 0)
        die("shard source", err);
    report("shard open + validation", (double)birdie_source_tokens(shards), birdie_monotonic_seconds() - t0);
    bench_windows("shard windows of 512", shards, budget);
    birdie_source_close(shards);
    unlink(paths[0]), unlink(paths[1]), rmdir(dir);
    return 0;
}
