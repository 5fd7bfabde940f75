/* tests/worker/data/data_test_util.h: temporary directories and raw files for the data tests.
 *
 * Helpers only: they assert with cmocka on failure, so a broken fixture fails the test that uses it.
 */
#ifndef BIRDIE_DATA_TEST_UTIL_H
#define BIRDIE_DATA_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* A fresh directory under $TMPDIR (or /tmp); free() the result after test_rmtree. */
char *test_tmpdir(void);
/* Removes dir and everything below it. */
void test_rmtree(const char *dir);
/* cmocka group/test fixtures: *state = a fresh temporary directory, removed afterwards. */
int test_setup_tmpdir(void **state);
int test_teardown_tmpdir(void **state);
/* dir + "/" + name, malloc'd. */
char *test_path(const char *dir, const char *name);
void test_write_file(const char *path, const void *data, size_t n);
/* Reads a whole file (malloc'd, NUL-terminated for convenience); *n gets its size. */
char *test_read_file(const char *path, size_t *n);
/* Writes a shard file byte by byte, bypassing the validating writer, so that tests can corrupt it:
 * a header of 256 int32 {magic, version, count, 0...}, then ntokens uint16 and extra_bytes zeros. */
void test_write_raw_shard(const char *path, int32_t magic, int32_t version, int32_t count, const uint16_t *tokens,
                          size_t ntokens, size_t extra_bytes);

#endif
