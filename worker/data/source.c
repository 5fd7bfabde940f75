/* worker/data/source.c: worker/source.h over the synthetic corpus or a set of shard files.
 *
 * Shard windows: a shard is picked with probability proportional to its token count among the
 * shards that hold at least n tokens, then a uniform start inside it; a window never crosses a
 * file. The shards are kept sorted by count (descending, ties in the order given) with prefix sums,
 * so the shards long enough for n are a prefix of the array and a draw is two binary searches.
 * Synthetic windows: a uniform document index, a uniform start below the document's guaranteed
 * length, then on into the following documents with BIRDIE_EOS between them.
 * After open nothing is written, so any number of threads may draw windows concurrently.
 * Not here: the corpus grammar (corpus.c), the shard format (shard.c).
 */
#define _GNU_SOURCE
#include "worker/source.h"

#include <ctype.h>
#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker/data/corpus.h"
#include "worker/data/shard.h"
#include "worker/vocab.h"
#include "worker/error.h"

typedef enum source_kind { SOURCE_SYNTHETIC, SOURCE_SHARDS } source_kind;

struct birdie_source {
    source_kind kind;
    /* SOURCE_SYNTHETIC */
    birdie_corpus *corpus;
    birdie_split split;
    /* SOURCE_SHARDS, sorted by count descending */
    birdie_shard *shards;
    size_t nshards;
    uint64_t *cumulative; /* (nshards) tokens in shards[0..i] inclusive */
};

int birdie_source_open_synthetic(birdie_source **out, uint64_t seed, birdie_split split, char *err, size_t errlen)
{
    *out = NULL;
    if (split != BIRDIE_SPLIT_TRAIN && split != BIRDIE_SPLIT_VAL) {
        return birdie_fail(err, errlen, -EINVAL, "synthetic source: unknown split %d", (int)split);
    }
    birdie_source *src = calloc(1, sizeof *src);
    if (!src) {
        return birdie_fail(err, errlen, -ENOMEM, "synthetic source: out of memory");
    }
    src->kind = SOURCE_SYNTHETIC;
    src->split = split;
    int rc = birdie_corpus_open(&src->corpus, seed, err, errlen);
    if (rc < 0) {
        free(src);
        return rc;
    }
    *out = src;
    return 0;
}

void birdie_source_close(birdie_source *src)
{
    if (!src)
        return;
    birdie_corpus_close(src->corpus);
    for (size_t i = 0; i < src->nshards; i++)
        birdie_shard_close(&src->shards[i]);
    free(src->shards);
    free(src->cumulative);
    free(src);
}

/* ---- opening shards ----------------------------------------------------------------------------- */

/* The list of file names a pattern list expands to, in order. */
typedef struct path_list {
    char **paths;
    size_t count, cap;
} path_list;

static int path_list_add(path_list *list, const char *path)
{
    if (list->count == list->cap) {
        size_t cap = list->cap ? 2 * list->cap : 16;
        char **grown = realloc(list->paths, cap * sizeof *grown);
        if (!grown)
            return -ENOMEM;
        list->paths = grown;
        list->cap = cap;
    }
    if (!(list->paths[list->count] = strdup(path)))
        return -ENOMEM;
    list->count++;
    return 0;
}

static void path_list_free(path_list *list)
{
    for (size_t i = 0; i < list->count; i++)
        free(list->paths[i]);
    free(list->paths);
}

/* Expands one trimmed element: a plain path is taken as is (a missing file is then reported by
 * the shard reader), a glob pattern must match at least one file. */
static int expand_element(path_list *list, const char *element, char *err, size_t errlen)
{
    if (!strpbrk(element, "*?[")) {
        int rc = path_list_add(list, element);
        if (rc < 0)
            snprintf(err, errlen, "shards: out of memory");
        return rc;
    }
    glob_t g;
    int grc = glob(element, GLOB_ERR, NULL, &g);
    if (grc == GLOB_NOMATCH) {
        snprintf(err, errlen, "shards: pattern '%s' matches no file", element);
        globfree(&g);
        return -ENOENT;
    }
    if (grc != 0) {
        snprintf(err, errlen, "shards: cannot expand pattern '%s'%s", element,
                 grc == GLOB_NOSPACE ? ": out of memory" : ": read error");
        globfree(&g);
        return grc == GLOB_NOSPACE ? -ENOMEM : -EIO;
    }
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < g.gl_pathc; i++)
        rc = path_list_add(list, g.gl_pathv[i]);
    if (rc < 0)
        snprintf(err, errlen, "shards: out of memory");
    globfree(&g);
    return rc;
}

/* Splits patterns at commas, trims blanks, and expands every element. Empty elements are errors:
 * "a,,b" is more likely a mistake than a request. */
static int expand_patterns(path_list *list, const char *patterns, char *err, size_t errlen)
{
    char *copy = strdup(patterns);
    if (!copy) {
        return birdie_fail(err, errlen, -ENOMEM, "shards: out of memory");
    }
    int rc = 0;
    char *cursor = copy;
    for (;;) {
        char *comma = strchr(cursor, ',');
        if (comma)
            *comma = '\0';
        char *end = cursor + strlen(cursor);
        while (isspace((unsigned char)*cursor))
            cursor++;
        while (end > cursor && isspace((unsigned char)end[-1]))
            *--end = '\0';
        if (*cursor == '\0') {
            snprintf(err, errlen, "shards: empty entry in the shard list '%s'", patterns);
            rc = -EINVAL;
            break;
        }
        if ((rc = expand_element(list, cursor, err, errlen)) < 0 || !comma)
            break;
        cursor = comma + 1;
    }
    free(copy);
    return rc;
}

static int by_count_descending(const void *a, const void *b)
{
    const birdie_shard *x = a, *y = b;
    return (x->count < y->count) - (x->count > y->count);
}

/* Opens every listed file; rejects one file listed twice (it would be drawn twice as often). */
static int open_all(birdie_source *src, const path_list *list, char *err, size_t errlen)
{
    src->shards = calloc(list->count, sizeof *src->shards);
    src->cumulative = calloc(list->count, sizeof *src->cumulative);
    if (!src->shards || !src->cumulative) {
        return birdie_fail(err, errlen, -ENOMEM, "shards: out of memory");
    }
    for (size_t i = 0; i < list->count; i++) {
        int rc = birdie_shard_open(&src->shards[i], list->paths[i], err, errlen);
        if (rc < 0)
            return rc;
        src->nshards = i + 1;
        for (size_t j = 0; j < i; j++) {
            if (src->shards[j].device == src->shards[i].device && src->shards[j].inode == src->shards[i].inode) {
                return birdie_fail(err, errlen, -EINVAL, "shards: '%s' is listed twice (also as '%s')", list->paths[i],
                                   list->paths[j]);
            }
        }
    }
    /* Insertion sort, because it is stable: equal counts keep the listing order, so the same
     * list always gives the same windows (qsort promises no order for ties). */
    for (size_t i = 1; i < src->nshards; i++) {
        birdie_shard s = src->shards[i];
        size_t j = i;
        while (j > 0 && by_count_descending(&src->shards[j - 1], &s) > 0) {
            src->shards[j] = src->shards[j - 1];
            j--;
        }
        src->shards[j] = s;
    }
    uint64_t total = 0;
    for (size_t i = 0; i < src->nshards; i++)
        src->cumulative[i] = total += src->shards[i].count;
    return 0;
}

int birdie_source_open_shards(birdie_source **out, const char *patterns, char *err, size_t errlen)
{
    *out = NULL;
    if (!patterns || !*patterns) {
        return birdie_fail(err, errlen, -EINVAL, "shards: the shard list is empty");
    }
    path_list list = {0};
    int rc = expand_patterns(&list, patterns, err, errlen);
    if (rc == 0 && list.count == 0) {
        snprintf(err, errlen, "shards: '%s' names no shard file", patterns);
        rc = -EINVAL;
    }
    birdie_source *src = NULL;
    if (rc == 0 && !(src = calloc(1, sizeof *src))) {
        snprintf(err, errlen, "shards: out of memory");
        rc = -ENOMEM;
    }
    if (rc == 0) {
        src->kind = SOURCE_SHARDS;
        rc = open_all(src, &list, err, errlen);
    }
    path_list_free(&list);
    if (rc < 0) {
        birdie_source_close(src);
        return rc;
    }
    *out = src;
    return 0;
}

/* ---- windows ------------------------------------------------------------------------------------ */

/* Number of leading shards (sorted descending) that hold at least n tokens. */
static size_t shards_long_enough(const birdie_source *src, uint64_t n)
{
    size_t lo = 0, hi = src->nshards;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (src->shards[mid].count >= n)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int shard_window(const birdie_source *src, birdie_rng *rng, int32_t *out, int n)
{
    size_t eligible = shards_long_enough(src, (uint64_t)n);
    if (eligible == 0)
        return -ENODATA;
    /* u picks a token of the eligible shards; its shard is the first whose prefix sum exceeds u. */
    uint64_t u = birdie_rng_below(rng, src->cumulative[eligible - 1]);
    size_t lo = 0, hi = eligible - 1;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (src->cumulative[mid] > u)
            hi = mid;
        else
            lo = mid + 1;
    }
    const birdie_shard *shard = &src->shards[lo];
    uint64_t start = birdie_rng_below(rng, shard->count - (uint64_t)n + 1);
    const uint16_t *tokens = shard->tokens + start;
    for (int i = 0; i < n; i++)
        out[i] = tokens[i];
    return 0;
}

static int synthetic_window(const birdie_source *src, birdie_rng *rng, int32_t *out, int n)
{
    uint8_t doc[BIRDIE_CORPUS_DOC_MAX];
    uint64_t k = birdie_rng_below(rng, BIRDIE_CORPUS_DOCS);
    size_t offset = (size_t)birdie_rng_below(rng, birdie_corpus_doc_min_len(src->corpus, src->split, k));
    int filled = 0;
    for (;;) {
        size_t need = (size_t)(n - filled);
        size_t len = birdie_corpus_document(src->corpus, src->split, k, doc, offset + need);
        size_t take = len > offset ? len - offset : 0;
        take = take < need ? take : need;
        for (size_t i = 0; i < take; i++)
            out[filled++] = doc[offset + i];
        if (filled == n)
            return 0;
        out[filled++] = BIRDIE_EOS;
        if (filled == n)
            return 0;
        k = (k + 1) % BIRDIE_CORPUS_DOCS;
        offset = 0;
    }
}

int birdie_source_window(const birdie_source *src, birdie_rng *rng, int32_t *out, int n)
{
    if (!src || !rng || !out || n <= 0)
        return -EINVAL;
    return src->kind == SOURCE_SHARDS ? shard_window(src, rng, out, n) : synthetic_window(src, rng, out, n);
}

uint64_t birdie_source_tokens(const birdie_source *src)
{
    return src->kind == SOURCE_SHARDS && src->nshards ? src->cumulative[src->nshards - 1] : 0;
}
