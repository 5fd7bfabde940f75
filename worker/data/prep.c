/* worker/data/prep.c: `birdied prep` (see prep.h): arguments, two passes over the input, shards.
 *
 * Pass 1 validates every input file and records each document's token count; only then is the
 * train/validation split known and anything written. Pass 2 reads the files again and spools the
 * tokens into shards. This is the one file of worker/data/ that prints (it is a command's main).
 * Not here: parsing the input formats (prep_input.c), the shard format (shard.c).
 */
#include "worker/data/prep.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "worker/data/prep_input.h"
#include "worker/data/shard.h"
#include "worker/vocab.h"
#include "worker/error.h"

enum { ERR_LEN = 1024 };

typedef struct prep_options {
    const char *out;
    uint64_t shard_tokens;
    double val_fraction;
    char **files;
    int nfiles;
} prep_options;

static void usage(FILE *to)
{
    fprintf(to,
            "usage: birdied prep [--out DIR] [--shard-tokens N] [--val-fraction F] FILE...\n"
            "  Turns text files (one document each) and .jsonl files (one {\"text\": ...} per line)\n"
            "  into byte-level shards DIR/train_NNNNNN.bin and DIR/val_NNNNNN.bin.\n"
            "  --out DIR          output directory, created if missing (default: .)\n"
            "  --shard-tokens N   tokens per shard file, 1..%llu (default: 100000000)\n"
            "  --val-fraction F   fraction of the documents, taken from the end, that form the\n"
            "                     validation split, 0 <= F < 1 (default: 0.01; at least one\n"
            "                     document when there are two or more and F > 0)\n",
            (unsigned long long)BIRDIE_SHARD_MAX_TOKENS);
}

/* ---- arguments -------------------------------------------------------------------------------- */

static int parse_count(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    if (*s < '0' || *s > '9')
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < 1 || v > BIRDIE_SHARD_MAX_TOKENS)
        return -1;
    *out = v;
    return 0;
}

static int parse_fraction(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < 0.0 || v >= 1.0)
        return -1;
    *out = v;
    return 0;
}

/* Matches "--name VALUE" or "--name=VALUE"; advances *i past what it used. Returns 1 on a match,
 * 0 if argv[*i] is another option, -1 if the value is missing. */
static int option_value(int argc, char **argv, int *i, const char *name, const char **value)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0)
        return 0;
    if (argv[*i][n] == '=') {
        *value = argv[*i] + n + 1;
        return 1;
    }
    if (argv[*i][n] != '\0')
        return 0;
    if (*i + 1 >= argc)
        return -1;
    *value = argv[++*i];
    return 1;
}

/* Returns 0, 1 when --help was asked for, or -1 with the problem in err. Files are collected in
 * argv order; options may come anywhere before "--". */
static int parse_args(int argc, char **argv, prep_options *o, char *err, size_t errlen)
{
    o->out = ".";
    o->shard_tokens = 100000000;
    o->val_fraction = 0.01;
    o->nfiles = 0;
    o->files = calloc((size_t)(argc > 0 ? argc : 1), sizeof *o->files);
    if (!o->files) {
        return birdie_fail(err, errlen, -1, "out of memory");
    }
    int options_done = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *value = NULL;
        int m;
        if (options_done || arg[0] != '-' || arg[1] == '\0') {
            o->files[o->nfiles++] = argv[i];
        } else if (strcmp(arg, "--") == 0) {
            options_done = 1;
        } else if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            return 1;
        } else if ((m = option_value(argc, argv, &i, "--out", &value)) != 0) {
            if (m < 0 || !*value) {
                return birdie_fail(err, errlen, -1, "--out needs a directory");
            }
            o->out = value;
        } else if ((m = option_value(argc, argv, &i, "--shard-tokens", &value)) != 0) {
            if (m < 0 || parse_count(value, &o->shard_tokens) < 0) {
                return birdie_fail(err, errlen, -1, "--shard-tokens needs an integer in 1..%llu, got '%s'",
                                   (unsigned long long)BIRDIE_SHARD_MAX_TOKENS, m < 0 ? "" : value);
            }
        } else if ((m = option_value(argc, argv, &i, "--val-fraction", &value)) != 0) {
            if (m < 0 || parse_fraction(value, &o->val_fraction) < 0) {
                return birdie_fail(err, errlen, -1, "--val-fraction needs a number in [0, 1), got '%s'",
                                   m < 0 ? "" : value);
            }
        } else {
            return birdie_fail(err, errlen, -1, "unknown option '%s'", arg);
        }
    }
    if (o->nfiles == 0) {
        return birdie_fail(err, errlen, -1, "no input FILE given");
    }
    return 0;
}

/* ---- pass 1: census ----------------------------------------------------------------------------- */

typedef struct census {
    uint64_t *doc_tokens; /* (docs) tokens of each non-empty document, its EOS included */
    size_t docs, cap;
    uint64_t current; /* bytes of the document being read */
    uint64_t empty;
} census;

static int census_bytes(void *ctx, const uint8_t *data, size_t n, char *err, size_t errlen)
{
    census *c = ctx;
    (void)data, (void)err, (void)errlen;
    c->current += n;
    return 0;
}

static int census_end(void *ctx, char *err, size_t errlen)
{
    census *c = ctx;
    if (c->current == 0) {
        c->empty++;
        return 0;
    }
    if (c->docs == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 1024;
        uint64_t *grown = realloc(c->doc_tokens, cap * sizeof *grown);
        if (!grown) {
            return birdie_fail(err, errlen, -ENOMEM, "out of memory after %zu documents", c->docs);
        }
        c->doc_tokens = grown;
        c->cap = cap;
    }
    c->doc_tokens[c->docs++] = c->current + 1;
    c->current = 0;
    return 0;
}

/* ---- pass 2: spooling tokens into shard files -------------------------------------------------- */

typedef struct spool {
    const char *dir, *split; /* files are dir/split_NNNNNN.bin */
    uint16_t *buf; /* (cap) tokens of the shard being filled */
    size_t cap, len;
    unsigned files;
    uint64_t tokens;
} spool;

/* dir/split_NNNNNN.bin, malloc'd. */
static char *shard_name(const spool *s, unsigned index)
{
    size_t path_len = strlen(s->dir) + strlen(s->split) + 32;
    char *path = malloc(path_len);
    if (path)
        snprintf(path, path_len, "%s/%s_%06u.bin", s->dir, s->split, index);
    return path;
}

static int spool_flush(spool *s, char *err, size_t errlen)
{
    if (s->len == 0)
        return 0;
    char *path = shard_name(s, s->files);
    if (!path) {
        return birdie_fail(err, errlen, -ENOMEM, "out of memory");
    }
    int rc = birdie_shard_write(path, s->buf, s->len, err, errlen);
    free(path);
    if (rc < 0)
        return rc;
    s->files++;
    s->tokens += s->len;
    s->len = 0;
    return 0;
}

/* After a failed run: the shards written so far would be an incomplete data set. */
static void spool_remove_written(const spool *s)
{
    for (unsigned i = 0; i < s->files; i++) {
        char *path = shard_name(s, i);
        if (path)
            remove(path);
        free(path);
    }
}

static int spool_put_bytes(spool *s, const uint8_t *data, size_t n, char *err, size_t errlen)
{
    while (n > 0) {
        size_t take = s->cap - s->len < n ? s->cap - s->len : n;
        for (size_t i = 0; i < take; i++)
            s->buf[s->len + i] = data[i];
        s->len += take, data += take, n -= take;
        if (s->len == s->cap) {
            int rc = spool_flush(s, err, errlen);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

static int spool_put_eos(spool *s, char *err, size_t errlen)
{
    s->buf[s->len++] = BIRDIE_EOS;
    return s->len == s->cap ? spool_flush(s, err, errlen) : 0;
}

typedef struct writer {
    spool train, val;
    size_t train_docs; /* documents 0..train_docs-1 go to train, the rest to val */
    size_t doc; /* index of the current document among the non-empty ones */
    uint64_t current; /* bytes of the current document so far */
} writer;

static spool *writer_spool(writer *w)
{
    return w->doc < w->train_docs ? &w->train : &w->val;
}

static int writer_bytes(void *ctx, const uint8_t *data, size_t n, char *err, size_t errlen)
{
    writer *w = ctx;
    w->current += n;
    return spool_put_bytes(writer_spool(w), data, n, err, errlen);
}

static int writer_end(void *ctx, char *err, size_t errlen)
{
    writer *w = ctx;
    if (w->current == 0)
        return 0;
    w->current = 0;
    int rc = spool_put_eos(writer_spool(w), err, errlen);
    w->doc++;
    return rc;
}

/* ---- output directory --------------------------------------------------------------------------- */

static int is_shard_name(const char *name)
{
    size_t n = strlen(name);
    int prefix = strncmp(name, "train_", 6) == 0 || strncmp(name, "val_", 4) == 0;
    return prefix && n > 4 && strcmp(name + n - 4, ".bin") == 0;
}

/* Creates dir if missing; refuses a dir that already holds shards. */
static int prepare_out_dir(const char *dir, char *err, size_t errlen)
{
    if (mkdir(dir, 0777) < 0 && errno != EEXIST) {
        int rc = -errno;
        return birdie_fail(err, errlen, rc, "--out '%s': cannot create the directory: %s", dir, strerror(-rc));
    }
    DIR *d = opendir(dir);
    if (!d) {
        int rc = -errno;
        return birdie_fail(err, errlen, rc, "--out '%s': cannot open the directory: %s", dir, strerror(-rc));
    }
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (is_shard_name(e->d_name)) {
            snprintf(err, errlen, "--out '%s' already holds shards (%s); remove them or choose another directory", dir,
                     e->d_name);
            rc = -EEXIST;
            break;
        }
    }
    closedir(d);
    return rc;
}

/* ---- the command ------------------------------------------------------------------------------- */

static int read_all(const prep_options *o, const prep_sink *sink, char *err, size_t errlen)
{
    for (int i = 0; i < o->nfiles; i++) {
        int rc = prep_read_file(o->files[i], sink, err, errlen);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Validation documents: the last F of them, at least one when there are two or more (F > 0),
 * never all of them. */
static size_t validation_docs(size_t docs, double fraction)
{
    if (docs < 2 || fraction <= 0.0)
        return 0;
    size_t val = (size_t)floor(fraction * (double)docs);
    if (val < 1)
        val = 1;
    return val > docs - 1 ? docs - 1 : val;
}

static size_t spool_capacity(uint64_t split_tokens, uint64_t shard_tokens)
{
    uint64_t cap = split_tokens < shard_tokens ? split_tokens : shard_tokens;
    return (size_t)(cap ? cap : 1);
}

static int write_shards(const prep_options *o, const census *c, writer *w, char *err, size_t errlen)
{
    size_t val_docs = validation_docs(c->docs, o->val_fraction);
    uint64_t train_tokens = 0, val_tokens = 0;
    for (size_t i = 0; i < c->docs; i++)
        *(i < c->docs - val_docs ? &train_tokens : &val_tokens) += c->doc_tokens[i];
    w->train_docs = c->docs - val_docs;
    w->train = (spool){.dir = o->out, .split = "train", .cap = spool_capacity(train_tokens, o->shard_tokens)};
    w->val = (spool){.dir = o->out, .split = "val", .cap = spool_capacity(val_tokens, o->shard_tokens)};
    w->train.buf = malloc(w->train.cap * sizeof *w->train.buf);
    w->val.buf = malloc(w->val.cap * sizeof *w->val.buf);
    if (!w->train.buf || !w->val.buf) {
        return birdie_fail(err, errlen, -ENOMEM, "out of memory for a shard of %zu tokens", w->train.cap);
    }
    prep_sink sink = {writer_bytes, writer_end, w};
    int rc = read_all(o, &sink, err, errlen);
    if (rc == 0)
        rc = spool_flush(&w->train, err, errlen);
    if (rc == 0)
        rc = spool_flush(&w->val, err, errlen);
    if (rc == 0 && (w->doc != c->docs || w->train.tokens != train_tokens || w->val.tokens != val_tokens)) {
        snprintf(err, errlen, "the input files changed while prep was reading them (%zu documents, then %zu)", c->docs,
                 w->doc);
        rc = -EAGAIN;
    }
    if (rc < 0) {
        spool_remove_written(&w->train);
        spool_remove_written(&w->val);
    }
    return rc;
}

static void print_summary(const prep_options *o, const census *c, const writer *w)
{
    size_t val_docs = c->docs - w->train_docs;
    printf("prep: %zu documents from %d file(s)", c->docs, o->nfiles);
    if (c->empty)
        printf(", %llu empty document(s) skipped", (unsigned long long)c->empty);
    printf("\nprep: train: %zu documents, %llu tokens in %u file(s) (%s/train_*.bin)\n", w->train_docs,
           (unsigned long long)w->train.tokens, w->train.files, o->out);
    if (val_docs)
        printf("prep: val: %zu documents, %llu tokens in %u file(s) (%s/val_*.bin)\n", val_docs,
               (unsigned long long)w->val.tokens, w->val.files, o->out);
    else
        printf("prep: val: none (%s)\n", o->val_fraction > 0.0 ? "fewer than 2 documents" : "--val-fraction 0");
}

int birdie_prep_main(int argc, char **argv)
{
    char err[ERR_LEN] = "";
    prep_options o;
    int parsed = parse_args(argc, argv, &o, err, sizeof err);
    if (parsed != 0) {
        free(o.files);
        if (parsed > 0) {
            usage(stdout);
            return BIRDIE_PREP_OK;
        }
        fprintf(stderr, "birdied prep: %s\n", err);
        usage(stderr);
        return BIRDIE_PREP_USAGE;
    }
    census c = {0};
    writer w = {0};
    prep_sink count = {census_bytes, census_end, &c};
    int exit_code = BIRDIE_PREP_DATA; /* what a failure of the current phase means */
    int rc = read_all(&o, &count, err, sizeof err);
    if (rc == 0 && c.docs == 0) {
        snprintf(err, sizeof err, "no documents: every input is empty");
        rc = -ENODATA;
    }
    if (rc == 0 && (rc = prepare_out_dir(o.out, err, sizeof err)) < 0)
        exit_code = BIRDIE_PREP_USAGE;
    if (rc == 0)
        rc = write_shards(&o, &c, &w, err, sizeof err);
    if (rc == 0)
        print_summary(&o, &c, &w);
    else
        fprintf(stderr, "birdied prep: %s\n", err);
    free(w.train.buf);
    free(w.val.buf);
    free(c.doc_tokens);
    free(o.files);
    return rc == 0 ? BIRDIE_PREP_OK : rc == -ENOMEM ? BIRDIE_PREP_FAILED : exit_code;
}
