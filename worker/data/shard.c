/* worker/data/shard.c: writing and validating token shard files (format in shard.h).
 *
 * The writer never leaves a half-written file under the final name: temp file, fsync, rename,
 * fsync of the directory. The reader maps the whole file read-only and validates it completely
 * before handing it out. Not here: which shards a source holds (source.c).
 */
#define _GNU_SOURCE /* mkostemp */
#include "worker/data/shard.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "worker/vocab.h"
#include "worker/error.h"
#include "worker/fault.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "shard files are little-endian and are read in place: this host must be little-endian"
#endif

/* Index of the first token id >= BIRDIE_VOCAB, or count if all are valid. The max reduction
 * vectorises, so the common all-valid case is one fast pass. */
static uint64_t first_bad_token(const uint16_t *tokens, uint64_t count)
{
    uint16_t max = 0;
    for (uint64_t i = 0; i < count; i++)
        max = tokens[i] > max ? tokens[i] : max;
    if (max < BIRDIE_VOCAB)
        return count;
    uint64_t i = 0;
    while (tokens[i] < BIRDIE_VOCAB)
        i++;
    return i;
}

static int write_all(int fd, const void *data, size_t n)
{
    const char *p = data;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* fsync of the directory that holds path, so that the rename itself is durable. */
static int sync_parent_dir(const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return -ENOMEM;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(copy);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    /* Some file systems cannot fsync a directory; the data itself is already synced. */
    return rc == -EINVAL ? 0 : rc;
}

int birdie_shard_write(const char *path, const uint16_t *tokens, uint64_t count, char *err, size_t errlen)
{
    if (count > BIRDIE_SHARD_MAX_TOKENS) {
        return birdie_fail(err, errlen, -EINVAL, "shard '%s': %llu tokens exceed the format's limit of %llu", path,
                           (unsigned long long)count, (unsigned long long)BIRDIE_SHARD_MAX_TOKENS);
    }
    uint64_t bad = first_bad_token(tokens, count);
    if (bad < count) {
        return birdie_fail(err, errlen, -EINVAL, "shard '%s': token %llu has id %u, outside the vocabulary (< %d)",
                           path, (unsigned long long)bad, (unsigned)tokens[bad], BIRDIE_VOCAB);
    }
    int32_t header[BIRDIE_SHARD_HEADER_INTS] = {BIRDIE_SHARD_MAGIC, BIRDIE_SHARD_VERSION, (int32_t)count};

    size_t tmp_len = strlen(path) + sizeof ".tmp.XXXXXX";
    char *tmp = malloc(tmp_len);
    if (!tmp) {
        return birdie_fail(err, errlen, -ENOMEM, "shard '%s': out of memory", path);
    }
    snprintf(tmp, tmp_len, "%s.tmp.XXXXXX", path);
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        int rc = -errno;
        snprintf(err, errlen, "shard '%s': cannot create a temporary file: %s", path, strerror(-rc));
        free(tmp);
        return rc;
    }
    const char *step = "write";
    int rc = write_all(fd, header, sizeof header);
    if (rc == 0)
        rc = write_all(fd, tokens, (size_t)count * sizeof *tokens);
    if (rc == 0 && fsync(fd) < 0)
        rc = -errno, step = "fsync";
    if (close(fd) < 0 && rc == 0)
        rc = -errno, step = "close";
    if (rc == 0 && rename(tmp, path) < 0)
        rc = -errno, step = "rename";
    if (rc == 0 && (rc = sync_parent_dir(path)) < 0)
        step = "fsync the directory of";
    if (rc < 0) {
        snprintf(err, errlen, "shard '%s': cannot %s it: %s", path, step, strerror(-rc));
        unlink(tmp); /* harmless after a successful rename: the name is gone */
    }
    free(tmp);
    return rc;
}

void birdie_shard_close(birdie_shard *shard)
{
    if (shard->map)
        munmap(shard->map, shard->map_len);
    free(shard->path);
    memset(shard, 0, sizeof *shard);
}

/* Checks a mapped file of size bytes; returns 0 or -EINVAL with err set. */
static int validate(const birdie_shard *shard, const int32_t *header, uint64_t size, char *err, size_t errlen)
{
    const char *path = shard->path;
    if (header[0] != BIRDIE_SHARD_MAGIC) {
        return birdie_fail(err, errlen, -EINVAL, "shard '%s': wrong magic %d (expected %d): not a token shard", path,
                           header[0], BIRDIE_SHARD_MAGIC);
    }
    if (header[1] != BIRDIE_SHARD_VERSION) {
        return birdie_fail(err, errlen, -EINVAL, "shard '%s': unsupported version %d (expected %d)", path, header[1],
                           BIRDIE_SHARD_VERSION);
    }
    if (header[2] < 0) {
        return birdie_fail(err, errlen, -EINVAL, "shard '%s': negative token count %d in the header", path, header[2]);
    }
    uint64_t expected = BIRDIE_SHARD_HEADER_BYTES + 2 * (uint64_t)header[2];
    if (size < expected) {
        return birdie_fail(err, errlen, -EINVAL,
                           "shard '%s': truncated: header says %d tokens (%llu bytes) but the file has %llu bytes",
                           path, header[2], (unsigned long long)expected, (unsigned long long)size);
    }
    if (size > expected) {
        snprintf(err, errlen,
                 "shard '%s': size mismatch: header says %d tokens (%llu bytes) but the file has %llu bytes", path,
                 header[2], (unsigned long long)expected, (unsigned long long)size);
        return -EINVAL;
    }
    const uint16_t *tokens = (const uint16_t *)(header + BIRDIE_SHARD_HEADER_INTS);
    uint64_t count = (uint64_t)header[2], bad = first_bad_token(tokens, count);
    unsigned bad_id = bad < count ? tokens[bad] : 0;
    if (count > 0 && birdie_fault_fire(BIRDIE_FAULT_CORRUPT_SHARD, -1) && count / 2 < bad) {
        bad = count / 2; /* the scan read a flipped id in the middle of the file */
        bad_id = 0xffffu;
    }
    if (bad < count) {
        return birdie_fail(err, errlen, -EINVAL, "shard '%s': token %llu has id %u, outside the vocabulary (< %d)",
                           path, (unsigned long long)bad, bad_id, BIRDIE_VOCAB);
    }
    return 0;
}

int birdie_shard_open(birdie_shard *shard, const char *path, char *err, size_t errlen)
{
    memset(shard, 0, sizeof *shard);
    shard->path = strdup(path);
    if (!shard->path) {
        return birdie_fail(err, errlen, -ENOMEM, "shard '%s': out of memory", path);
    }
    /* O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever; a regular file
     * is unaffected, and anything else is refused below */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    struct stat st;
    int rc = 0;
    if (fd < 0 || fstat(fd, &st) < 0) {
        rc = -errno;
        snprintf(err, errlen, "shard '%s': cannot open: %s", path, strerror(-rc));
    } else if (!S_ISREG(st.st_mode)) {
        rc = -EINVAL;
        snprintf(err, errlen, "shard '%s': not a regular file", path);
    } else if ((uint64_t)st.st_size < BIRDIE_SHARD_HEADER_BYTES) {
        rc = -EINVAL;
        snprintf(err, errlen, "shard '%s': truncated: %lld bytes, shorter than the %d-byte header", path,
                 (long long)st.st_size, BIRDIE_SHARD_HEADER_BYTES);
    } else {
        shard->map_len = (size_t)st.st_size;
        shard->map = mmap(NULL, shard->map_len, PROT_READ, MAP_SHARED, fd, 0);
        if (shard->map == MAP_FAILED) {
            rc = -errno;
            shard->map = NULL;
            snprintf(err, errlen, "shard '%s': cannot map: %s", path, strerror(-rc));
        }
    }
    if (fd >= 0)
        close(fd);
    if (rc == 0)
        rc = validate(shard, shard->map, (uint64_t)st.st_size, err, errlen);
    if (rc < 0) {
        birdie_shard_close(shard);
        return rc;
    }
    const int32_t *header = shard->map;
    shard->count = (uint64_t)header[2];
    shard->tokens = (const uint16_t *)(header + BIRDIE_SHARD_HEADER_INTS);
    shard->device = (uint64_t)st.st_dev;
    shard->inode = (uint64_t)st.st_ino;
    return 0;
}
