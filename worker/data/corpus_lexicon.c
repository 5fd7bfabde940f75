/* worker/data/corpus_lexicon.c: builds the synthetic corpus's lexicon from a seed.
 *
 * Words are strings of syllables (onset + vowel + coda); frequent ranks get fewer syllables, as in
 * natural languages. Every word is unique across all classes and never equals one of the grammar's
 * English function words (the caller passes them as reserved). Names use their own endings so they
 * look like names. The Zipf tables are alias tables (Vose), so sampling costs one draw.
 * Not here: sentences and documents (corpus.c).
 */
#include "worker/data/corpus_lexicon.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker/fnv.h"
#include "worker/error.h"

/* The lexicon's draws use a step value that no split uses (splits are steps 0 and 1). */
#define LEXICON_STEP UINT64_MAX

static const uint32_t class_size[CORPUS_NUM_CLASSES] = {1000, 480, 360, 200, 200};
/* Zipf exponents: content words follow the classic s = 1; names are flatter. */
static const double class_zipf_s[CORPUS_NUM_CLASSES] = {1.0, 1.0, 1.0, 0.7, 0.7};

static const char *const onsets[] = {"",  "",   "b",  "br", "d", "dr", "f",  "fl", "g",  "gr", "h",
                                     "k", "l",  "m",  "n",  "p", "pl", "r",  "s",  "sh", "sk", "st",
                                     "t", "th", "tr", "v",  "w", "z",  "ch", "cl", "sn", "j"};
static const char *const vowels[] = {"a", "e", "i", "o", "u", "a", "e", "o", "ai", "ea", "oo", "ou", "y"};
static const char *const codas[] = {"", "", "", "", "n", "r", "l", "s", "t", "m", "nd", "st", "rk", "ng", "lt"};
static const char *const first_endings[] = {"a", "o", "i", "en", "an", "el", "is", "ra", "ia", "on"};
static const char *const last_endings[] = {"son", "berg", "ley", "ova", "ez", "ard", "ton", "vik", "ell", "ani"};

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

static void append(corpus_word *w, const char *s)
{
    size_t n = strlen(s);
    memcpy(w->text + w->len, s, n);
    w->len = (uint8_t)(w->len + n);
}

static const char *pick_str(birdie_rng *rng, const char *const *list, size_t count)
{
    return list[birdie_rng_below(rng, count)];
}

static void append_syllable(corpus_word *w, birdie_rng *rng)
{
    append(w, pick_str(rng, onsets, COUNT_OF(onsets)));
    append(w, pick_str(rng, vowels, COUNT_OF(vowels)));
    append(w, pick_str(rng, codas, COUNT_OF(codas)));
}

/* Syllables for a content word of a rank: frequent words are short (Zipf's law of abbreviation). */
static int syllables_for_rank(uint32_t rank, birdie_rng *rng)
{
    int base = rank < 60 ? 1 : rank < 400 ? 2 : 3;
    if (base > 1 && birdie_rng_below(rng, 4) == 0)
        base--;
    return base;
}

/* A syllable is at most 6 bytes: 3 syllables (18) or 2 syllables + a 4-byte name ending (16) fit. */
static void make_word(corpus_word *w, corpus_class c, uint32_t rank, birdie_rng *rng)
{
    w->len = 0;
    if (c == CORPUS_FIRST || c == CORPUS_LAST) {
        int syllables = 1 + (int)birdie_rng_below(rng, 2);
        for (int i = 0; i < syllables; i++)
            append_syllable(w, rng);
        append(w, c == CORPUS_FIRST ? pick_str(rng, first_endings, COUNT_OF(first_endings))
                                    : pick_str(rng, last_endings, COUNT_OF(last_endings)));
        w->text[0] = (char)(w->text[0] - 'a' + 'A');
        return;
    }
    int syllables = syllables_for_rank(rank, rng);
    for (int i = 0; i < syllables; i++)
        append_syllable(w, rng);
}

/* Open-addressing set of the words made so far (plus the reserved ones), to keep words unique. */
typedef struct word_set {
    uint32_t cap; /* power of two */
    const char **text;
    uint8_t *len;
} word_set;

/* Returns 1 if inserted, 0 if it was already present. The set stores the caller's pointer. */
static int word_set_insert(word_set *set, const char *s, size_t n)
{
    uint32_t i = birdie_fnv1a32(BIRDIE_FNV32_OFFSET, s, n) & (set->cap - 1);
    while (set->text[i]) {
        if (set->len[i] == n && memcmp(set->text[i], s, n) == 0)
            return 0;
        i = (i + 1) & (set->cap - 1);
    }
    set->text[i] = s;
    set->len[i] = (uint8_t)n;
    return 1;
}

/* Builds the alias table of weights 1/(rank+1)^s over n ranks (Vose's method). */
static int zipf_build(corpus_zipf *z, uint32_t n, double s)
{
    double *p = malloc(n * sizeof *p);
    uint32_t *small = malloc(n * sizeof *small), *large = malloc(n * sizeof *large);
    z->n = n;
    z->accept = malloc(n * sizeof *z->accept);
    z->alias = malloc(n * sizeof *z->alias);
    if (!p || !small || !large || !z->accept || !z->alias) {
        free(p), free(small), free(large);
        return -ENOMEM;
    }
    double total = 0;
    for (uint32_t i = 0; i < n; i++)
        total += p[i] = pow((double)i + 1.0, -s);
    uint32_t ns = 0, nl = 0;
    for (uint32_t i = 0; i < n; i++) {
        p[i] *= (double)n / total; /* mean 1: a column holds probability mass 1/n */
        if (p[i] < 1.0)
            small[ns++] = i;
        else
            large[nl++] = i;
    }
    while (ns > 0 && nl > 0) {
        uint32_t lo = small[--ns], hi = large[nl - 1];
        z->accept[lo] = (uint32_t)(p[lo] * 4294967296.0);
        z->alias[lo] = (uint16_t)hi;
        p[hi] -= 1.0 - p[lo];
        if (p[hi] < 1.0) {
            nl--;
            small[ns++] = hi;
        }
    }
    /* Columns left over hold (up to rounding) exactly their own mass. */
    while (nl > 0) {
        uint32_t i = large[--nl];
        z->accept[i] = UINT32_MAX, z->alias[i] = (uint16_t)i;
    }
    while (ns > 0) {
        uint32_t i = small[--ns];
        z->accept[i] = UINT32_MAX, z->alias[i] = (uint16_t)i;
    }
    free(p), free(small), free(large);
    return 0;
}

void corpus_lexicon_free(corpus_lexicon *lex)
{
    for (int c = 0; c < CORPUS_NUM_CLASSES; c++) {
        free(lex->words[c]);
        free(lex->zipf[c].accept);
        free(lex->zipf[c].alias);
    }
    memset(lex, 0, sizeof *lex);
}

/* Draws words for one class until it holds class_size[c] unique words. Each rank tries a bounded
 * number of candidates so that a pathological inventory fails loudly instead of looping. */
static int fill_class(corpus_lexicon *lex, corpus_class c, uint64_t seed, word_set *set, char *err, size_t errlen)
{
    birdie_rng rng = birdie_rng_stream(seed, LEXICON_STEP, (uint64_t)c, BIRDIE_RNG_CORPUS);
    for (uint32_t rank = 0; rank < class_size[c]; rank++) {
        corpus_word *w = &lex->words[c][rank];
        int tries = 0;
        do {
            if (++tries > 10000) {
                return birdie_fail(err, errlen, -EDEADLK, "corpus lexicon: cannot find a new word for class %d rank %u",
                                   (int)c, rank);
            }
            make_word(w, c, rank, &rng);
        } while (!word_set_insert(set, w->text, w->len));
    }
    return 0;
}

int corpus_lexicon_build(corpus_lexicon *lex, uint64_t seed, const char *const *reserved, char *err, size_t errlen)
{
    memset(lex, 0, sizeof *lex);
    uint32_t total = 0;
    for (int c = 0; c < CORPUS_NUM_CLASSES; c++)
        total += class_size[c];
    size_t nreserved = 0;
    while (reserved && reserved[nreserved])
        nreserved++;
    word_set set = {1, NULL, NULL};
    while (set.cap < 2 * (total + nreserved))
        set.cap *= 2;
    set.text = calloc(set.cap, sizeof *set.text);
    set.len = calloc(set.cap, sizeof *set.len);
    int rc = set.text && set.len ? 0 : -ENOMEM;
    for (size_t i = 0; rc == 0 && i < nreserved; i++)
        word_set_insert(&set, reserved[i], strlen(reserved[i]));
    for (int c = 0; rc == 0 && c < CORPUS_NUM_CLASSES; c++) {
        lex->words[c] = calloc(class_size[c], sizeof *lex->words[c]);
        rc = lex->words[c] ? zipf_build(&lex->zipf[c], class_size[c], class_zipf_s[c]) : -ENOMEM;
        if (rc == 0)
            rc = fill_class(lex, (corpus_class)c, seed, &set, err, errlen);
    }
    free(set.text);
    free(set.len);
    if (rc == -ENOMEM)
        snprintf(err, errlen, "corpus lexicon: out of memory");
    if (rc != 0)
        corpus_lexicon_free(lex);
    return rc;
}
