/* worker/data/corpus_lexicon.h: the synthetic corpus's vocabulary (internal to worker/data/).
 *
 * A lexicon is built once per corpus from the seed: about 2k pronounceable words made of syllables,
 * split into word classes (nouns, verbs, adjectives, first names, last names), each class with its
 * own Zipf frequency table sampled in O(1) by the alias method. The grammar that strings words into
 * sentences lives in corpus.c; this file knows nothing about sentences or documents.
 */
#ifndef BIRDIE_CORPUS_LEXICON_H
#define BIRDIE_CORPUS_LEXICON_H

#include <stddef.h>
#include <stdint.h>

#include "worker/rng.h"

/* Longest word text in bytes, before inflection suffixes (at most 3 more bytes are appended). */
enum { CORPUS_WORD_MAX = 20 };

typedef enum corpus_class {
    CORPUS_NOUN = 0,
    CORPUS_VERB,
    CORPUS_ADJ,
    CORPUS_FIRST, /* first names, capitalised */
    CORPUS_LAST, /* last names, capitalised */
    CORPUS_NUM_CLASSES
} corpus_class;

typedef struct corpus_word {
    char text[CORPUS_WORD_MAX + 3]; /* not NUL-terminated; room for "ily" style suffixes */
    uint8_t len;
} corpus_word;

/* Zipf(s) over ranks 0..n-1 as an alias table: one 64-bit draw picks a column with its high half and
 * accepts it or takes its alias with its low half. */
typedef struct corpus_zipf {
    uint32_t n;
    uint32_t *accept; /* (n) column kept when low 32 bits of the draw < accept[i] */
    uint16_t *alias; /* (n) rank taken otherwise */
} corpus_zipf;

typedef struct corpus_lexicon {
    corpus_word *words[CORPUS_NUM_CLASSES]; /* words[c][rank], rank 0 most frequent */
    corpus_zipf zipf[CORPUS_NUM_CLASSES];
} corpus_lexicon;

/* Builds the lexicon of a seed; no word equals one of reserved[] (NULL-terminated, may be NULL).
 * Returns 0 or a negative errno with a message in err. */
int corpus_lexicon_build(corpus_lexicon *lex, uint64_t seed, const char *const *reserved, char *err, size_t errlen);
void corpus_lexicon_free(corpus_lexicon *lex);

static inline uint32_t corpus_zipf_draw(const corpus_zipf *z, birdie_rng *rng)
{
    uint64_t x = birdie_rng_u64(rng);
    uint32_t column = (uint32_t)(((x >> 32) * (uint64_t)z->n) >> 32);
    return (uint32_t)x < z->accept[column] ? column : z->alias[column];
}

static inline const corpus_word *corpus_pick(const corpus_lexicon *lex, corpus_class c, birdie_rng *rng)
{
    return &lex->words[c][corpus_zipf_draw(&lex->zipf[c], rng)];
}

#endif
