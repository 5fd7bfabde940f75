/* tests/worker/data/data_test_util.c: fixtures of the data tests (see data_test_util.h). */
#define _GNU_SOURCE /* nftw */
#include "tests/worker/data/data_test_util.h"

#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

char *test_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    char *dir = test_path(base && *base ? base : "/tmp", "birdie-data-XXXXXX");
    assert_non_null(mkdtemp(dir));
    return dir;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st, (void)type, (void)ftw;
    return remove(path);
}

void test_rmtree(const char *dir)
{
    assert_int_equal(nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
}

char *test_path(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    assert_non_null(p);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

void test_write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

char *test_read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t cap = 4096, len = 0, got;
    char *buf = malloc(cap + 1);
    assert_non_null(buf);
    while ((got = fread(buf + len, 1, cap - len, f)) > 0) {
        len += got;
        if (len == cap) {
            cap *= 2;
            buf = realloc(buf, cap + 1);
            assert_non_null(buf);
        }
    }
    fclose(f);
    buf[len] = '\0';
    *n = len;
    return buf;
}

void test_write_raw_shard(const char *path, int32_t magic, int32_t version, int32_t count, const uint16_t *tokens,
                          size_t ntokens, size_t extra_bytes)
{
    int32_t header[256] = {magic, version, count};
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(header, sizeof header, 1, f), 1);
    if (ntokens)
        assert_int_equal(fwrite(tokens, sizeof *tokens, ntokens, f), ntokens);
    for (size_t i = 0; i < extra_bytes; i++)
        assert_int_equal(fputc(0, f), 0);
    assert_int_equal(fclose(f), 0);
}

int test_setup_tmpdir(void **state)
{
    *state = test_tmpdir();
    return 0;
}

int test_teardown_tmpdir(void **state)
{
    test_rmtree(*state);
    free(*state);
    return 0;
}
