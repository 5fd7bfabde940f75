/* worker/data/corpus.h: the deterministic synthetic text corpus (docs/algorithm.md §4.1).
 *
 * Documents are English-shaped prose over a seeded ~2k-word syllable lexicon with Zipf frequencies:
 * a small grammar with sentence templates, a few names and numbers per document that recur inside
 * it, punctuation and paragraph breaks. Text is printable ASCII plus '\n' (never byte 0).
 * Document k of split s is a pure function of (seed, s, k), drawn from the counter-based RNG with
 * purpose BIRDIE_RNG_CORPUS, so any document can be regenerated without the ones before it and the
 * two splits are disjoint streams. A corpus is immutable after birdie_corpus_open and may be read
 * by any number of threads. Windows over the corpus (source.h) are cut in source.c, not here.
 */
#ifndef BIRDIE_CORPUS_H
#define BIRDIE_CORPUS_H

#include <stddef.h>
#include <stdint.h>

#include "worker/source.h"

enum {
    BIRDIE_CORPUS_DOC_MAX = 8192, /* bytes a document never exceeds: the size of a document buffer */
    BIRDIE_CORPUS_LEN_MIN = 200, /* range of a document's nominal length (see doc_min_len) */
    BIRDIE_CORPUS_LEN_MAX = 2600
};

/* Document indices of a split are 0 .. BIRDIE_CORPUS_DOCS-1 (the stream wraps around after it). */
#define BIRDIE_CORPUS_DOCS (UINT64_C(1) << 40)

typedef struct birdie_corpus birdie_corpus;

/* Builds the lexicon of a seed (about a millisecond). Returns 0 or a negative errno with err set. */
int birdie_corpus_open(birdie_corpus **out, uint64_t seed, char *err, size_t errlen);
void birdie_corpus_close(birdie_corpus *corpus);

/* A lower bound on the length of document k, in [BIRDIE_CORPUS_LEN_MIN, BIRDIE_CORPUS_LEN_MAX],
 * known without generating it: every document is at least this long. */
size_t birdie_corpus_doc_min_len(const birdie_corpus *corpus, birdie_split split, uint64_t k);

/* Writes document k of a split into buf (BIRDIE_CORPUS_DOC_MAX bytes) and returns its length.
 * Generation stops at the end of the first sentence that reaches stop_after bytes, so a caller
 * that needs only a prefix pays only for it: the result is always a prefix of the whole document
 * (pass BIRDIE_CORPUS_DOC_MAX for the whole document). Complete documents end with '\n'. */
size_t birdie_corpus_document(const birdie_corpus *corpus, birdie_split split, uint64_t k, uint8_t *buf,
                              size_t stop_after);

#endif
