/* worker/data/prep_input.h: reads the documents of one input file of `birdied prep` (internal).
 *
 * A file whose name ends in ".jsonl" holds one JSON object per line with a string "text" (blank
 * lines are allowed and skipped); any other file is one document of raw bytes. Every document is
 * checked for byte 0 (it is PAD, never text). The documents are handed to a sink in order, in
 * chunks, so a large file is never held in memory whole. Not here: tokens and shards (prep.c).
 */
#ifndef BIRDIE_PREP_INPUT_H
#define BIRDIE_PREP_INPUT_H

#include <stddef.h>
#include <stdint.h>

typedef struct prep_sink {
    /* Part of the current document (called zero or more times per document). */
    int (*bytes)(void *ctx, const uint8_t *data, size_t n, char *err, size_t errlen);
    /* The current document is complete (called once per document, also for an empty one). */
    int (*end_document)(void *ctx, char *err, size_t errlen);
    void *ctx;
} prep_sink;

/* Feeds every document of path to sink. Returns 0, a negative errno from the system or the sink,
 * or -EINVAL for bad input; err names the file and, for JSONL, the line (and the offset of a byte 0). */
int prep_read_file(const char *path, const prep_sink *sink, char *err, size_t errlen);

/* Whether path is read as JSONL (by its extension). */
int prep_is_jsonl(const char *path);

#endif
