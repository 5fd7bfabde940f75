/* worker/data/shard.h: token shard files in llm.c's format, written atomically and read via mmap.
 *
 * Layout: a header of 256 little-endian int32 (header[0] = 20240520 magic, header[1] = version 1,
 * header[2] = token count, the rest 0), then count uint16 token ids. A file is valid only if its
 * size is exactly 1024 + 2*count bytes and every token id is < BIRDIE_VOCAB. The ids are checked
 * once, at open (a sequential scan at memory speed), so readers of an open shard never check them
 * again. Not here: choosing windows (source.c), turning text into tokens (prep.c).
 */
#ifndef BIRDIE_SHARD_H
#define BIRDIE_SHARD_H

#include <stddef.h>
#include <stdint.h>

enum {
    BIRDIE_SHARD_MAGIC = 20240520,
    BIRDIE_SHARD_VERSION = 1,
    BIRDIE_SHARD_HEADER_INTS = 256,
    BIRDIE_SHARD_HEADER_BYTES = 256 * 4
};

/* header[2] is an int32, so a shard holds at most INT32_MAX tokens. */
#define BIRDIE_SHARD_MAX_TOKENS ((uint64_t)INT32_MAX)

typedef struct birdie_shard {
    char *path; /* as given to open, for messages */
    const uint16_t *tokens; /* (count) token ids, mapped read-only */
    uint64_t count;
    uint64_t device, inode; /* identity of the file (two names of one file are one shard) */
    void *map;
    size_t map_len;
} birdie_shard;

/* Writes tokens[0..count) to path through a temporary file in the same directory that is fsynced
 * and renamed over path, so readers see the old file or the whole new one. Rejects ids >=
 * BIRDIE_VOCAB and counts above BIRDIE_SHARD_MAX_TOKENS. Returns 0 or a negative errno; err names
 * the file and the problem. */
int birdie_shard_write(const char *path, const uint16_t *tokens, uint64_t count, char *err, size_t errlen);

/* Maps and validates one shard (magic, version, size, every token id). On error the shard is left
 * closed, and err names the file and what is wrong: -ENOENT/-EACCES/... from the system, -EINVAL
 * for a file that is not a valid shard. */
int birdie_shard_open(birdie_shard *shard, const char *path, char *err, size_t errlen);

/* Unmaps; safe on a zeroed or already closed shard. */
void birdie_shard_close(birdie_shard *shard);

#endif
