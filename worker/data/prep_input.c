/* worker/data/prep_input.c: documents out of text and JSONL files (see prep_input.h).
 *
 * JSON is parsed by jansson, one line at a time; \u0000 is admitted by the parser only so that it
 * can be reported like a raw byte 0, with its offset. Not here: what is done with the documents.
 */
#define _GNU_SOURCE /* getline */
#include "worker/data/prep_input.h"
#include "worker/error.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

enum { TEXT_CHUNK = 1 << 20 };

int prep_is_jsonl(const char *path)
{
    size_t n = strlen(path);
    return n >= 6 && strcasecmp(path + n - 6, ".jsonl") == 0;
}

static int read_text(FILE *f, const char *path, const prep_sink *sink, char *err, size_t errlen)
{
    uint8_t *chunk = malloc(TEXT_CHUNK);
    if (!chunk) {
        return birdie_fail(err, errlen, -ENOMEM, "%s: out of memory", path);
    }
    uint64_t offset = 0;
    int rc = 0;
    size_t n;
    while (rc == 0 && (n = fread(chunk, 1, TEXT_CHUNK, f)) > 0) {
        const uint8_t *zero = memchr(chunk, 0, n);
        if (zero) {
            snprintf(err, errlen, "%s: byte 0 at offset %llu (text may not contain NUL bytes)", path,
                     (unsigned long long)(offset + (uint64_t)(zero - chunk)));
            rc = -EINVAL;
            break;
        }
        rc = sink->bytes(sink->ctx, chunk, n, err, errlen);
        offset += n;
    }
    if (rc == 0 && ferror(f)) {
        rc = -EIO;
        snprintf(err, errlen, "%s: read error after %llu bytes", path, (unsigned long long)offset);
    }
    free(chunk);
    return rc == 0 ? sink->end_document(sink->ctx, err, errlen) : rc;
}

static int is_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            return 0;
    return 1;
}

static const char *json_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "an unknown value";
}

/* One JSONL line (without its newline) to one document. */
static int read_json_line(const char *line, size_t n, const char *path, unsigned long lineno, const prep_sink *sink,
                          char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root = json_loadb(line, n, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    if (!root) {
        return birdie_fail(err, errlen, -EINVAL, "%s:%lu: invalid JSON at column %d: %s", path, lineno, jerr.column,
                           jerr.text);
    }
    int rc = -EINVAL;
    json_t *text = json_is_object(root) ? json_object_get(root, "text") : NULL;
    if (!json_is_object(root)) {
        snprintf(err, errlen, "%s:%lu: expected an object with a \"text\" string, got %s", path, lineno,
                 json_type_name(root));
    } else if (!text) {
        snprintf(err, errlen, "%s:%lu: missing the \"text\" key", path, lineno);
    } else if (!json_is_string(text)) {
        snprintf(err, errlen, "%s:%lu: \"text\" is %s, not a string", path, lineno, json_type_name(text));
    } else {
        const char *s = json_string_value(text);
        size_t len = json_string_length(text);
        const char *zero = memchr(s, 0, len);
        if (zero)
            snprintf(err, errlen, "%s:%lu: \"text\" contains byte 0 at offset %zu of the text", path, lineno,
                     (size_t)(zero - s));
        else if ((rc = sink->bytes(sink->ctx, (const uint8_t *)s, len, err, errlen)) == 0)
            rc = sink->end_document(sink->ctx, err, errlen);
    }
    json_decref(root);
    return rc;
}

static int read_jsonl(FILE *f, const char *path, const prep_sink *sink, char *err, size_t errlen)
{
    char *line = NULL;
    size_t cap = 0;
    unsigned long lineno = 0;
    ssize_t n;
    int rc = 0;
    while (rc == 0 && (n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (!is_blank(line, (size_t)n))
            rc = read_json_line(line, (size_t)n, path, lineno, sink, err, errlen);
    }
    if (rc == 0 && ferror(f)) {
        rc = -EIO;
        snprintf(err, errlen, "%s:%lu: read error", path, lineno + 1);
    }
    free(line);
    return rc;
}

int prep_read_file(const char *path, const prep_sink *sink, char *err, size_t errlen)
{
    /* O_NONBLOCK: opening a FIFO would otherwise wait for a writer forever; only regular files are read */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        int rc = -errno;
        return birdie_fail(err, errlen, rc, "%s: cannot open: %s", path, strerror(-rc));
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return birdie_fail(err, errlen, -EINVAL, "%s: not a regular file%s", path,
                           S_ISDIR(st.st_mode) ? " (a directory)" : "");
    }
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        int rc = -errno;
        close(fd);
        return birdie_fail(err, errlen, rc, "%s: cannot open: %s", path, strerror(-rc));
    }
    int rc = prep_is_jsonl(path) ? read_jsonl(f, path, sink, err, errlen) : read_text(f, path, sink, err, errlen);
    fclose(f);
    return rc;
}
