/* tests/worker/data/test_shard.c: shard files round-trip, and every malformed file is an error that
 * names the file and the problem. */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "tests/worker/data/data_test_util.h"
#include "worker/data/shard.h"
#include "worker/rng.h"
#include "worker/vocab.h"

static uint16_t *random_tokens(size_t n, uint64_t seed)
{
    uint16_t *t = malloc((n ? n : 1) * sizeof *t);
    assert_non_null(t);
    birdie_rng rng = birdie_rng_stream(seed, 0, 0, BIRDIE_RNG_TEST);
    for (size_t i = 0; i < n; i++)
        t[i] = (uint16_t)birdie_rng_below(&rng, BIRDIE_VOCAB);
    return t;
}

static void test_round_trip(void **state)
{
    const char *dir = *state;
    const size_t sizes[] = {0, 1, 1000, 70001};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        char name[32];
        snprintf(name, sizeof name, "rt_%zu.bin", s);
        char *path = test_path(dir, name), err[512] = "";
        uint16_t *tokens = random_tokens(sizes[s], s + 1);
        assert_int_equal(birdie_shard_write(path, tokens, sizes[s], err, sizeof err), 0);
        birdie_shard shard;
        int rc = birdie_shard_open(&shard, path, err, sizeof err);
        if (rc)
            fail_msg("open: %s", err);
        assert_int_equal(shard.count, sizes[s]);
        if (sizes[s])
            assert_memory_equal(shard.tokens, tokens, sizes[s] * sizeof *tokens);
        birdie_shard_close(&shard);
        /* The file is exactly the llm.c layout. */
        size_t n;
        char *raw = test_read_file(path, &n);
        assert_int_equal(n, 1024 + 2 * sizes[s]);
        int32_t header[3];
        memcpy(header, raw, sizeof header);
        assert_int_equal(header[0], 20240520);
        assert_int_equal(header[1], 1);
        assert_int_equal(header[2], (int32_t)sizes[s]);
        free(raw), free(tokens), free(path);
    }
    /* No temporary file is left behind. */
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        assert_null(strstr(e->d_name, ".tmp."));
    closedir(d);
}

static void test_write_replaces_atomically(void **state)
{
    char *path = test_path(*state, "replace.bin"), err[512] = "";
    uint16_t *a = random_tokens(100, 1), *b = random_tokens(50, 2);
    assert_int_equal(birdie_shard_write(path, a, 100, err, sizeof err), 0);
    assert_int_equal(birdie_shard_write(path, b, 50, err, sizeof err), 0);
    birdie_shard shard;
    assert_int_equal(birdie_shard_open(&shard, path, err, sizeof err), 0);
    assert_int_equal(shard.count, 50);
    assert_memory_equal(shard.tokens, b, 50 * sizeof *b);
    birdie_shard_close(&shard);
    free(a), free(b), free(path);
}

static void test_writer_rejects_bad_token(void **state)
{
    char *path = test_path(*state, "badwrite.bin"), err[512] = "";
    uint16_t tokens[4] = {1, 2, BIRDIE_VOCAB, 3};
    assert_int_equal(birdie_shard_write(path, tokens, 4, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "token 2"));
    FILE *f = fopen(path, "rb");
    assert_null(f); /* nothing was written under the name */
    char *missing_dir = test_path(*state, "no/such/dir.bin");
    tokens[2] = 5;
    assert_true(birdie_shard_write(missing_dir, tokens, 4, err, sizeof err) < 0);
    assert_non_null(strstr(err, missing_dir));
    free(missing_dir), free(path);
}

/* Opens a file that must fail; checks the code, that err names the file, and holds `what`. */
static void expect_open_error(const char *path, int expected_rc, const char *what)
{
    char err[512] = "";
    birdie_shard shard;
    memset(&shard, 0xAB, sizeof shard);
    int rc = birdie_shard_open(&shard, path, err, sizeof err);
    if (rc != expected_rc || !strstr(err, path) || !strstr(err, what))
        fail_msg("open '%s': rc %d (want %d), message '%s' (want '%s')", path, rc, expected_rc, err, what);
    assert_null(shard.map); /* left closed */
    birdie_shard_close(&shard);
}

static void test_open_errors_name_the_file(void **state)
{
    const char *dir = *state;
    uint16_t tokens[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    char *p;

    expect_open_error(p = test_path(dir, "missing.bin"), -ENOENT, "No such file");
    free(p);

    p = test_path(dir, "short_header.bin");
    test_write_file(p, "abc", 3);
    expect_open_error(p, -EINVAL, "truncated");
    free(p);

    p = test_path(dir, "empty.bin");
    test_write_file(p, "", 0);
    expect_open_error(p, -EINVAL, "truncated");
    free(p);

    p = test_path(dir, "truncated.bin");
    test_write_raw_shard(p, BIRDIE_SHARD_MAGIC, 1, 8, tokens, 5, 0);
    expect_open_error(p, -EINVAL, "truncated");
    free(p);

    p = test_path(dir, "magic.bin");
    test_write_raw_shard(p, 20240521, 1, 8, tokens, 8, 0);
    expect_open_error(p, -EINVAL, "magic");
    free(p);

    p = test_path(dir, "version.bin");
    test_write_raw_shard(p, BIRDIE_SHARD_MAGIC, 2, 8, tokens, 8, 0);
    expect_open_error(p, -EINVAL, "version");
    free(p);

    p = test_path(dir, "trailing.bin");
    test_write_raw_shard(p, BIRDIE_SHARD_MAGIC, 1, 8, tokens, 8, 2);
    expect_open_error(p, -EINVAL, "size mismatch");
    free(p);

    p = test_path(dir, "negative.bin");
    test_write_raw_shard(p, BIRDIE_SHARD_MAGIC, 1, -4, tokens, 0, 0);
    expect_open_error(p, -EINVAL, "negative");
    free(p);

    uint16_t bad[8] = {1, 2, 3, 4, 5, 6, 7, 999};
    p = test_path(dir, "badtoken.bin");
    test_write_raw_shard(p, BIRDIE_SHARD_MAGIC, 1, 8, bad, 8, 0);
    expect_open_error(p, -EINVAL, "token 7 has id 999");
    free(p);

    /* The first id past the vocabulary is found also in a long shard. */
    uint16_t *many = random_tokens(50000, 9);
    many[31337] = BIRDIE_VOCAB;
    p = test_path(dir, "badtoken_long.bin");
    test_write_raw_shard(p, BIRDIE_SHARD_MAGIC, 1, 50000, many, 50000, 0);
    expect_open_error(p, -EINVAL, "token 31337 has id 384");
    free(p), free(many);

    expect_open_error(dir, -EINVAL, "not a regular file");
    /* a FIFO is refused at once: opening it must not wait for a writer (the test would hang) */
    p = test_path(dir, "shard.fifo");
    assert_int_equal(mkfifo(p, 0600), 0);
    expect_open_error(p, -EINVAL, "not a regular file");
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, test_setup_tmpdir, test_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_write_replaces_atomically, test_setup_tmpdir, test_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_writer_rejects_bad_token, test_setup_tmpdir, test_teardown_tmpdir),
        cmocka_unit_test_setup_teardown(test_open_errors_name_the_file, test_setup_tmpdir, test_teardown_tmpdir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
