/* tests/worker/data/test_source.c: windows of both source kinds are deterministic per RNG stream, stay
 * inside their shard or document stream, follow the promised distribution, and are the same when
 * drawn from several threads; opening shard lists reports every bad entry by name. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/worker/data/data_test_util.h"
#include "worker/data/corpus.h"
#include "worker/data/shard.h"
#include "worker/source.h"
#include "worker/vocab.h"

enum { SHORT = 10, MID = 1000, LONG = 3000, WINDOW = 16 };

/* Fixture: a directory with three shards of SHORT, MID and LONG random tokens. */
typedef struct fixture {
    char *dir;
    char *path[3];
    uint16_t *tokens[3];
    size_t count[3];
} fixture;

static int setup_shards(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->dir = test_tmpdir();
    const size_t counts[3] = {SHORT, MID, LONG};
    const char *names[3] = {"part_short.bin", "part_mid.bin", "part_long.bin"};
    for (int i = 0; i < 3; i++) {
        f->count[i] = counts[i];
        f->path[i] = test_path(f->dir, names[i]);
        f->tokens[i] = malloc(counts[i] * sizeof(uint16_t));
        birdie_rng rng = birdie_rng_stream(77, 0, (uint64_t)i, BIRDIE_RNG_TEST);
        for (size_t j = 0; j < counts[i]; j++)
            f->tokens[i][j] = (uint16_t)birdie_rng_below(&rng, BIRDIE_VOCAB);
        char err[512];
        assert_int_equal(birdie_shard_write(f->path[i], f->tokens[i], counts[i], err, sizeof err), 0);
    }
    *state = f;
    return 0;
}

static int teardown_shards(void **state)
{
    fixture *f = *state;
    test_rmtree(f->dir);
    for (int i = 0; i < 3; i++)
        free(f->path[i]), free(f->tokens[i]);
    free(f->dir);
    free(f);
    return 0;
}

static birdie_source *open_shards_ok(const char *patterns)
{
    birdie_source *src = NULL;
    char err[1024] = "";
    int rc = birdie_source_open_shards(&src, patterns, err, sizeof err);
    if (rc != 0)
        fail_msg("open_shards('%s'): %d %s", patterns, rc, err);
    return src;
}

/* Which shard and start a window came from: random 16-token windows are unique in the fixture. */
static int locate(const fixture *f, const int32_t *w, int n, size_t *start)
{
    int found = -1;
    for (int i = 0; i < 3; i++) {
        for (size_t s = 0; s + (size_t)n <= f->count[i]; s++) {
            int same = 1;
            for (int j = 0; same && j < n; j++)
                same = f->tokens[i][s + (size_t)j] == w[j];
            if (same) {
                assert_int_equal(found, -1);
                found = i, *start = s;
            }
        }
    }
    return found;
}

static void test_shard_windows(void **state)
{
    fixture *f = *state;
    char *pattern = test_path(f->dir, "part_*.bin");
    birdie_source *src = open_shards_ok(pattern);
    assert_int_equal(birdie_source_tokens(src), SHORT + MID + LONG);
    enum { DRAWS = 3000 };
    int hits[3] = {0};
    int32_t w[WINDOW], again[WINDOW];
    for (int d = 0; d < DRAWS; d++) {
        birdie_rng rng = birdie_rng_stream(5, (uint64_t)d, 0, BIRDIE_RNG_DATA);
        birdie_rng same = rng;
        assert_int_equal(birdie_source_window(src, &rng, w, WINDOW), 0);
        assert_int_equal(birdie_source_window(src, &same, again, WINDOW), 0);
        assert_memory_equal(w, again, sizeof w);
        size_t start = 0;
        int shard = locate(f, w, WINDOW, &start);
        assert_true(shard >= 0);
        assert_true(start + WINDOW <= f->count[shard]);
        hits[shard]++;
    }
    /* Proportional to size among the shards long enough: 1000 : 3000, the short one never. */
    print_message("# windows per shard: short %d, mid %d, long %d\n", hits[0], hits[1], hits[2]);
    assert_int_equal(hits[0], 0);
    double mid_share = (double)hits[1] / DRAWS;
    assert_true(mid_share > 0.22 && mid_share < 0.28);
    /* A window as long as a whole shard is its only window; longer than every shard is an error. */
    int32_t *full = malloc(LONG * sizeof *full);
    birdie_rng rng = birdie_rng_stream(5, 0, 0, BIRDIE_RNG_DATA);
    assert_int_equal(birdie_source_window(src, &rng, full, LONG), 0);
    for (int j = 0; j < LONG; j++)
        assert_int_equal(full[j], f->tokens[2][j]);
    assert_int_equal(birdie_source_window(src, &rng, full, LONG + 1), -ENODATA);
    assert_int_equal(birdie_source_window(src, &rng, full, 0), -EINVAL);
    free(full);
    birdie_source_close(src);
    free(pattern);
}

static void test_shard_list_forms(void **state)
{
    fixture *f = *state;
    /* Plain paths with blanks around commas, and a glob mixed in. */
    char list[2048];
    char *glob_long = test_path(f->dir, "*_long.bin");
    snprintf(list, sizeof list, " %s , %s,%s", f->path[0], f->path[1], glob_long);
    birdie_source *src = open_shards_ok(list);
    assert_int_equal(birdie_source_tokens(src), SHORT + MID + LONG);
    birdie_source_close(src);
    free(glob_long);
}

/* An open that must fail; err must hold every needle. */
static void expect_open_fails(const char *patterns, int expected_rc, const char *needle1, const char *needle2)
{
    static char sentinel;
    birdie_source *src = (birdie_source *)&sentinel; /* open must reset it to NULL */
    char err[2048] = "";
    int rc = birdie_source_open_shards(&src, patterns, err, sizeof err);
    if (rc != expected_rc || !strstr(err, needle1) || (needle2 && !strstr(err, needle2)))
        fail_msg("open_shards('%s'): rc %d (want %d), message '%s'", patterns, rc, expected_rc, err);
    assert_null(src);
}

static void test_shard_open_errors(void **state)
{
    fixture *f = *state;
    char list[4096];
    char *nomatch = test_path(f->dir, "nothing_*.bin");
    expect_open_fails(nomatch, -ENOENT, nomatch, "matches no file");
    char *missing = test_path(f->dir, "missing.bin");
    snprintf(list, sizeof list, "%s,%s", f->path[1], missing);
    expect_open_fails(list, -ENOENT, missing, "cannot open");
    expect_open_fails("", -EINVAL, "empty", NULL);
    snprintf(list, sizeof list, "%s,,%s", f->path[1], f->path[2]);
    expect_open_fails(list, -EINVAL, "empty entry", NULL);
    snprintf(list, sizeof list, "%s,%s", f->path[1], f->path[1]);
    expect_open_fails(list, -EINVAL, "listed twice", f->path[1]);
    /* A corrupt file among good ones found by a glob is named. */
    char *corrupt = test_path(f->dir, "part_zcorrupt.bin");
    test_write_file(corrupt, "not a shard at all, just some bytes", 35);
    char *glob_all = test_path(f->dir, "part_*.bin");
    expect_open_fails(glob_all, -EINVAL, corrupt, "truncated");
    free(glob_all), free(corrupt), free(missing), free(nomatch);
}

/* ---- synthetic ---------------------------------------------------------------------------------- */

static birdie_source *open_synthetic_ok(uint64_t seed, birdie_split split)
{
    birdie_source *src = NULL;
    char err[512] = "";
    int rc = birdie_source_open_synthetic(&src, seed, split, err, sizeof err);
    if (rc != 0)
        fail_msg("open_synthetic: %d %s", rc, err);
    return src;
}

/* The window is the documented walk: document k from the stream, an offset below its minimum
 * length, then the following documents with EOS between them. Rebuilt here from the corpus. */
static void expect_walk(const birdie_corpus *corpus, birdie_split split, birdie_rng rng, const int32_t *w, int n)
{
    static uint8_t doc[BIRDIE_CORPUS_DOC_MAX];
    uint64_t k = birdie_rng_below(&rng, BIRDIE_CORPUS_DOCS);
    size_t offset = (size_t)birdie_rng_below(&rng, birdie_corpus_doc_min_len(corpus, split, k));
    int i = 0;
    while (i < n) {
        size_t len = birdie_corpus_document(corpus, split, k, doc, BIRDIE_CORPUS_DOC_MAX);
        for (size_t j = offset; j < len && i < n; j++)
            assert_int_equal(w[i++], doc[j]);
        if (i < n)
            assert_int_equal(w[i++], BIRDIE_EOS);
        k++, offset = 0;
    }
}

static void test_synthetic_windows(void **state)
{
    (void)state;
    birdie_source *train = open_synthetic_ok(21, BIRDIE_SPLIT_TRAIN);
    birdie_source *train2 = open_synthetic_ok(21, BIRDIE_SPLIT_TRAIN);
    birdie_source *val = open_synthetic_ok(21, BIRDIE_SPLIT_VAL);
    birdie_corpus *corpus = NULL;
    char err[256];
    assert_int_equal(birdie_corpus_open(&corpus, 21, err, sizeof err), 0);
    assert_int_equal(birdie_source_tokens(train), 0);
    enum { N = 4000 };
    int32_t *a = malloc(N * sizeof *a), *b = malloc(N * sizeof *b);
    const int lengths[] = {1, 64, 512, N};
    int eos_seen = 0, differ = 0;
    for (int r = 0; r < 40; r++) {
        int n = lengths[r % 4];
        birdie_rng rng = birdie_rng_stream(9, (uint64_t)r, 3, BIRDIE_RNG_DATA), copy = rng;
        assert_int_equal(birdie_source_window(train, &rng, a, n), 0);
        assert_int_equal(birdie_source_window(train2, &copy, b, n), 0);
        assert_memory_equal(a, b, (size_t)n * sizeof *a);
        expect_walk(corpus, BIRDIE_SPLIT_TRAIN, birdie_rng_stream(9, (uint64_t)r, 3, BIRDIE_RNG_DATA), a, n);
        for (int i = 0; i < n; i++) {
            assert_true((a[i] > 0 && a[i] < 256) || a[i] == BIRDIE_EOS);
            eos_seen += a[i] == BIRDIE_EOS;
        }
        copy = birdie_rng_stream(9, (uint64_t)r, 3, BIRDIE_RNG_DATA);
        assert_int_equal(birdie_source_window(val, &copy, b, n), 0);
        differ += n > 1 && memcmp(a, b, (size_t)n * sizeof *a) != 0;
    }
    assert_true(eos_seen > 0); /* long windows run into the next document */
    assert_int_equal(differ, 30);
    birdie_rng rng = birdie_rng_stream(9, 0, 0, BIRDIE_RNG_DATA);
    assert_int_equal(birdie_source_window(train, &rng, a, -1), -EINVAL);
    free(a), free(b);
    birdie_corpus_close(corpus);
    birdie_source_close(train), birdie_source_close(train2), birdie_source_close(val);
}

/* ---- concurrency ------------------------------------------------------------------------------- */

enum { THREADS = 4, ROWS = 64, ROW_LEN = 256 };

/* Threads must not call cmocka's asserts (a failure longjmps): they record return codes, which
 * the main thread checks. */
typedef struct reader_job {
    const birdie_source *src;
    int first_row;
    int32_t *rows; /* (ROWS, ROW_LEN) shared output, this job fills every THREADS-th row */
    int rc[ROWS];
} reader_job;

static int fill_row(const birdie_source *src, int row, int32_t *out)
{
    birdie_rng rng = birdie_rng_stream(1, 7, (uint64_t)row, BIRDIE_RNG_DATA);
    return birdie_source_window(src, &rng, out, ROW_LEN);
}

static void *reader(void *arg)
{
    reader_job *job = arg;
    for (int r = job->first_row; r < ROWS; r += THREADS)
        job->rc[r] = fill_row(job->src, r, job->rows + (size_t)r * ROW_LEN);
    return NULL;
}

static void expect_threads_match_serial(const birdie_source *src)
{
    int32_t *serial = malloc(ROWS * ROW_LEN * sizeof *serial), *parallel = malloc(ROWS * ROW_LEN * sizeof *parallel);
    for (int r = 0; r < ROWS; r++)
        assert_int_equal(fill_row(src, r, serial + (size_t)r * ROW_LEN), 0);
    pthread_t t[THREADS];
    reader_job jobs[THREADS];
    for (int i = 0; i < THREADS; i++) {
        memset(&jobs[i], 0, sizeof jobs[i]);
        jobs[i].src = src, jobs[i].first_row = i, jobs[i].rows = parallel;
        assert_int_equal(pthread_create(&t[i], NULL, reader, &jobs[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        for (int r = i; r < ROWS; r += THREADS)
            assert_int_equal(jobs[i].rc[r], 0);
    }
    assert_memory_equal(serial, parallel, ROWS * ROW_LEN * sizeof *serial);
    free(serial), free(parallel);
}

static void test_concurrent_readers(void **state)
{
    fixture *f = *state;
    birdie_source *synthetic = open_synthetic_ok(3, BIRDIE_SPLIT_TRAIN);
    expect_threads_match_serial(synthetic);
    birdie_source_close(synthetic);
    char list[2048];
    snprintf(list, sizeof list, "%s,%s", f->path[1], f->path[2]);
    birdie_source *shards = open_shards_ok(list);
    expect_threads_match_serial(shards);
    birdie_source_close(shards);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_shard_windows, setup_shards, teardown_shards),
        cmocka_unit_test_setup_teardown(test_shard_list_forms, setup_shards, teardown_shards),
        cmocka_unit_test_setup_teardown(test_shard_open_errors, setup_shards, teardown_shards),
        cmocka_unit_test(test_synthetic_windows),
        cmocka_unit_test_setup_teardown(test_concurrent_readers, setup_shards, teardown_shards),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
