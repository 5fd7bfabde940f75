/* worker/eval/bpc.h: bits per character of next-token prediction on held-out documents.
 *
 * bits/char = (sum of the per-token losses in nats) / ln 2 / (characters those tokens decode to).
 * With the byte-level vocabulary (docs/algorithm.md §4.2) a byte token decodes to one byte; a
 * character is a UTF-8 code point, so a continuation byte (0x80..0xBF) adds no character and, on
 * the ASCII synthetic corpus, characters = bytes. Special ids (EOS, ...) decode to no character but
 * their loss counts: predicting where a document ends is part of modelling it. Positions whose
 * target is the ignore label (-1) count for nothing.
 * The held-out documents are fixed by seed: document i of the set is a BIRDIE_SPLIT_VAL index drawn
 * with purpose BIRDIE_RNG_EVAL_BPC, the same for every model. Not here: running the model.
 */
#ifndef BIRDIE_EVAL_BPC_H
#define BIRDIE_EVAL_BPC_H

#include <stddef.h>
#include <stdint.h>

#include "worker/data/corpus.h"

typedef struct birdie_bpc {
    double nats; /* sum of counted losses */
    uint64_t chars; /* characters of the counted targets */
    uint64_t tokens; /* counted targets */
} birdie_bpc;

/* bits per character of a loss sum over chars characters; NAN when chars is 0. */
double birdie_bpc_of(double nats, uint64_t chars);

/* Adds positions 0..n-1: loss_nats[j] is the loss of predicting targets[j] (-1: ignored). Returns 0
 * or -EINVAL, with nothing added, for a target outside -1..BIRDIE_VOCAB-1 or a counted loss that is
 * negative or not finite. */
int birdie_bpc_add_tokens(birdie_bpc *acc, const float *loss_nats, const int32_t *targets, int n, char *err,
                          size_t errlen);

/* Adds n losses whose tokens decode to text[0..len) (characters as above). Returns 0 or -EINVAL. */
int birdie_bpc_add_text(birdie_bpc *acc, const double *loss_nats, int n, const char *text, size_t len, char *err,
                        size_t errlen);

/* The accumulated bits per character (NAN when no character was added). */
double birdie_bpc_value(const birdie_bpc *acc);

/* Characters of UTF-8 bytes text[0..len): the bytes that are not continuation bytes. */
uint64_t birdie_bpc_chars(const char *text, size_t len);

/* Document i of the held-out set of seed: a BIRDIE_SPLIT_VAL index. */
uint64_t birdie_bpc_doc_index(uint64_t seed, uint64_t i);

/* Tokens of document i of the set (one id per byte, the document's first cap bytes at most).
 * Returns the count, or -EINVAL (no corpus, cap < 1). */
int birdie_bpc_doc_tokens(const birdie_corpus *corpus, uint64_t seed, uint64_t i, int32_t *out, int cap, char *err,
                          size_t errlen);

#endif
