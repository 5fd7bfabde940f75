/* tests/fuzz/fuzz_util.h: what the fuzz targets share: a private temporary directory per process
 * (removed at exit) for readers that take a path, and writing the input there. Every target defines
 * LLVMFuzzerTestOneInput; it is linked either with libFuzzer (-Dfuzz=enabled, clang) or with
 * replay_main.c, which runs it over the checked-in inputs. Nothing here judges an input. */
#ifndef BIRDIE_TESTS_FUZZ_UTIL_H
#define BIRDIE_TESTS_FUZZ_UTIL_H

#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char fuzz_dir_path[512];

static inline void fuzz_remove_dir(void)
{
    char cmd[600];
    if (!fuzz_dir_path[0])
        return;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fuzz_dir_path);
    if (system(cmd) != 0)
        fprintf(stderr, "fuzz: could not remove %s\n", fuzz_dir_path);
}

/* The process's temporary directory, created on first use; aborts when it cannot be made (a broken
 * test machine, not a finding). */
static inline const char *fuzz_dir(void)
{
    if (fuzz_dir_path[0])
        return fuzz_dir_path;
    const char *tmp = getenv("TMPDIR");
    snprintf(fuzz_dir_path, sizeof fuzz_dir_path, "%s/birdie-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(fuzz_dir_path)) {
        perror("fuzz: mkdtemp");
        abort();
    }
    atexit(fuzz_remove_dir);
    return fuzz_dir_path;
}

/* The path of name inside the process's temporary directory, into out. */
static inline void fuzz_path(char *out, size_t len, const char *name)
{
    snprintf(out, len, "%s/%s", fuzz_dir(), name);
}

/* Replaces path with exactly these bytes; aborts on an I/O failure of the test machine. */
static inline void fuzz_write_file(const char *path, const void *data, size_t size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    const char *p = data;
    while (fd >= 0 && size > 0) {
        ssize_t n = write(fd, p, size);
        if (n <= 0)
            break;
        p += n;
        size -= (size_t)n;
    }
    if (fd < 0 || size != 0 || close(fd) != 0) {
        perror("fuzz: writing the input file");
        abort();
    }
}

#endif
