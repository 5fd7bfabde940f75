/* worker/data/corpus.c: the grammar that turns the lexicon into documents (see corpus.h).
 *
 * A document draws, in order from its own RNG stream: its nominal length, its tense, 2-4 people,
 * four numbers (a year, two counts, a time of day) and 3-5 topic nouns; then sentences from a
 * handful of templates until the nominal length is reached. People, numbers and topics are reused
 * across the document, so a model can learn to copy them, while function words, digits, ':' and
 * '-' appear everywhere. There is no "Name: digits" line anywhere: the phonebook format stays out of
 * pre-training (docs/algorithm.md §4.1). Not here: the lexicon (corpus_lexicon.c), windows (source.c).
 */
#include "worker/data/corpus.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker/data/corpus_lexicon.h"
#include "worker/error.h"

struct birdie_corpus {
    uint64_t seed;
    corpus_lexicon lex;
};

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

/* English function words of the grammar, by role. The lexicon never produces any of them. */
static const char *const det_one[] = {"the", "the", "the", "the", "a", "a", "this", "that", "every", "one", "each"};
static const char *const det_many[] = {"the", "the", "the", "some", "many", "these", "those", "all", "few"};
static const char *const preps[] = {"in", "on", "near", "under", "with", "from", "by", "for", "over", "into", "behind"};
static const char *const conjs[] = {"and", "but", "so", "while", "because"};
static const char *const openers[] = {"after", "before", "since", "during"};
static const char *const pronouns_one[] = {"he", "she", "it"};
static const char *const misc_words[] = {"an",    "of",  "that", "said", "says", "did", "does", "they", "it", "took",
                                         "takes", "had", "has",  "note", "at",   "in",  "and",  "the",  NULL};

typedef enum verb_form { FORM_BASE, FORM_S, FORM_PAST, FORM_LY } verb_form;
typedef enum number_kind { NUM_YEAR, NUM_COUNT_A, NUM_COUNT_B, NUM_TIME, NUM_KINDS } number_kind;

enum { DOC_PEOPLE_MAX = 4, DOC_TOPICS_MAX = 5, NUMBER_TEXT_MAX = 8 };

/* The state of one document being written. Lives on the caller's stack. */
typedef struct doc {
    const corpus_lexicon *lex;
    birdie_rng rng;
    uint8_t *buf;
    size_t len;
    int overflow; /* a write would have passed BIRDIE_CORPUS_DOC_MAX */
    int capitalize; /* the next word starts a sentence */
    int space; /* a space goes before the next word */
    const char *pending_sep; /* written before the next sentence: " " or a paragraph break */
    int past; /* the document's tense */
    int people;
    uint16_t first[DOC_PEOPLE_MAX], last[DOC_PEOPLE_MAX];
    uint8_t mentioned[DOC_PEOPLE_MAX];
    char number[NUM_KINDS][NUMBER_TEXT_MAX];
    uint8_t number_len[NUM_KINDS];
    int topics;
    uint16_t topic[DOC_TOPICS_MAX];
} doc;

static uint64_t below(doc *d, uint64_t n)
{
    return birdie_rng_below(&d->rng, n);
}

static int chance(doc *d, unsigned percent)
{
    return below(d, 100) < percent;
}

static const char *pick(doc *d, const char *const *list, size_t count)
{
    return list[below(d, count)];
}

/* ---- writing bytes ---------------------------------------------------------------------------- */

static void emit_raw(doc *d, const char *s, size_t n)
{
    if (d->len + n > BIRDIE_CORPUS_DOC_MAX) {
        d->overflow = 1;
        return;
    }
    memcpy(d->buf + d->len, s, n);
    d->len += n;
}

static void emit_word(doc *d, const char *s, size_t n)
{
    if (d->space)
        emit_raw(d, " ", 1);
    size_t start = d->len;
    emit_raw(d, s, n);
    if (d->capitalize && !d->overflow && d->buf[start] >= 'a' && d->buf[start] <= 'z')
        d->buf[start] = (uint8_t)(d->buf[start] - 'a' + 'A');
    d->capitalize = 0;
    d->space = 1;
}

static void emit_str(doc *d, const char *s)
{
    emit_word(d, s, strlen(s));
}

/* Punctuation that attaches to the previous word: ',' ':' '.' '?' '"'. */
static void emit_punct(doc *d, char c)
{
    emit_raw(d, &c, 1);
    d->space = 1;
}

static int is_vowel(char c)
{
    return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u';
}

/* Regular English inflection of a lexicon word (the lexicon leaves room for 3 more bytes). */
static void emit_inflected(doc *d, const corpus_word *w, verb_form form)
{
    char t[sizeof w->text];
    size_t n = w->len;
    memcpy(t, w->text, n);
    char last = t[n - 1], before = n > 1 ? t[n - 2] : 'a';
    int consonant_y = last == 'y' && !is_vowel(before);
    switch (form) {
    case FORM_BASE: break;
    case FORM_S:
        if (consonant_y)
            memcpy(t + n - 1, "ies", 3), n += 2;
        else if (last == 's' || last == 'x' || last == 'z' || (last == 'h' && (before == 's' || before == 'c')))
            memcpy(t + n, "es", 2), n += 2;
        else
            t[n++] = 's';
        break;
    case FORM_PAST:
        if (consonant_y)
            memcpy(t + n - 1, "ied", 3), n += 2;
        else if (last == 'e')
            t[n++] = 'd';
        else
            memcpy(t + n, "ed", 2), n += 2;
        break;
    case FORM_LY:
        if (last == 'y')
            memcpy(t + n - 1, "ily", 3), n += 2;
        else
            memcpy(t + n, "ly", 2), n += 2;
        break;
    }
    emit_word(d, t, n);
}

/* Small non-negative integers without snprintf (this runs for every range sentence). */
static size_t format_uint(char *out, unsigned v)
{
    char rev[12];
    size_t n = 0;
    do {
        rev[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = rev[n - 1 - i];
    return n;
}

static void emit_uint(doc *d, unsigned v)
{
    char t[12];
    emit_word(d, t, format_uint(t, v));
}

static void emit_number(doc *d, number_kind k)
{
    emit_word(d, d->number[k], d->number_len[k]);
}

/* ---- phrases ---------------------------------------------------------------------------------- */

static const corpus_word *noun_word(doc *d)
{
    if (chance(d, 35))
        return &d->lex->words[CORPUS_NOUN][d->topic[below(d, (uint64_t)d->topics)]];
    return corpus_pick(d->lex, CORPUS_NOUN, &d->rng);
}

/* [det] [adj | noun-adj] noun[s]. Returns whether it is plural (for verb agreement). */
static int noun_phrase(doc *d)
{
    int plural = chance(d, 22);
    const corpus_word *adj = NULL, *compound = NULL;
    if (chance(d, 30)) {
        adj = corpus_pick(d->lex, CORPUS_ADJ, &d->rng);
        if (chance(d, 6))
            compound = corpus_pick(d->lex, CORPUS_NOUN, &d->rng);
    }
    const corpus_word *noun = noun_word(d);
    const char *det = plural ? pick(d, det_many, COUNT_OF(det_many)) : pick(d, det_one, COUNT_OF(det_one));
    const corpus_word *next = compound ? compound : adj ? adj : noun;
    if (det[0] == 'a' && det[1] == 0 && is_vowel(next->text[0]))
        det = "an";
    emit_str(d, det);
    if (compound) {
        /* "a melon-quiet tarn": a hyphenated compound adjective. */
        char t[2 * sizeof adj->text + 1];
        memcpy(t, compound->text, compound->len);
        t[compound->len] = '-';
        memcpy(t + compound->len + 1, adj->text, adj->len);
        emit_word(d, t, (size_t)compound->len + 1 + adj->len);
    } else if (adj) {
        emit_inflected(d, adj, FORM_BASE);
    }
    emit_inflected(d, noun, plural ? FORM_S : FORM_BASE);
    return plural;
}

static void person(doc *d)
{
    int i = (int)below(d, (uint64_t)d->people);
    const corpus_word *first = &d->lex->words[CORPUS_FIRST][d->first[i]];
    const corpus_word *last = &d->lex->words[CORPUS_LAST][d->last[i]];
    /* The first mention gives the full name; later ones mostly the first name alone. */
    unsigned style = d->mentioned[i] ? (unsigned)below(d, 10) : 0;
    if (d->mentioned[i] < UINT8_MAX)
        d->mentioned[i]++;
    int full = style < 3, last_only = style == 9;
    if (!last_only)
        emit_inflected(d, first, FORM_BASE);
    if (full || last_only)
        emit_inflected(d, last, FORM_BASE);
}

static void prep_phrase(doc *d)
{
    emit_str(d, pick(d, preps, COUNT_OF(preps)));
    noun_phrase(d);
}

/* Subject of a clause; returns whether it is plural. */
static int subject(doc *d)
{
    unsigned u = (unsigned)below(d, 100);
    if (u < 50)
        return noun_phrase(d);
    if (u < 85) {
        person(d);
        return 0;
    }
    if (u < 93) {
        emit_str(d, pick(d, pronouns_one, COUNT_OF(pronouns_one)));
        return 0;
    }
    emit_str(d, "they");
    return 1;
}

static void verb(doc *d, int plural_subject)
{
    const corpus_word *v = corpus_pick(d->lex, CORPUS_VERB, &d->rng);
    emit_inflected(d, v, d->past ? FORM_PAST : plural_subject ? FORM_BASE : FORM_S);
}

static void adverb(doc *d)
{
    emit_inflected(d, corpus_pick(d->lex, CORPUS_ADJ, &d->rng), FORM_LY);
}

static void clause(doc *d, int depth);

static void verb_phrase(doc *d, int plural_subject, int depth)
{
    if (chance(d, 8))
        adverb(d);
    verb(d, plural_subject);
    unsigned u = (unsigned)below(d, 100);
    if (u < 50) {
        noun_phrase(d);
        if (chance(d, 40))
            prep_phrase(d);
    } else if (u < 63) {
        adverb(d);
    } else if (u < 78) {
        prep_phrase(d);
    } else if (u < 88) {
        emit_number(d, chance(d, 50) ? NUM_COUNT_A : NUM_COUNT_B);
        emit_inflected(d, noun_word(d), FORM_S);
    } else if (depth < 1) {
        emit_str(d, "that");
        clause(d, depth + 1);
    } else {
        person(d);
    }
}

static void clause(doc *d, int depth)
{
    int plural = subject(d);
    verb_phrase(d, plural, depth);
}

/* ---- sentences -------------------------------------------------------------------------------- */

static void begin_sentence(doc *d)
{
    if (d->pending_sep)
        emit_raw(d, d->pending_sep, strlen(d->pending_sep));
    d->capitalize = 1;
    d->space = 0; /* the separator already holds the spacing */
}

/* What goes between this sentence and the next: mostly a space, sometimes a paragraph break. It is
 * written lazily so that a document never ends in a separator. */
static void choose_separator(doc *d)
{
    unsigned u = (unsigned)below(d, 100);
    d->pending_sep = u < 12 ? "\n\n" : u < 15 ? "\n" : " ";
}

static void end_sentence(doc *d, char mark)
{
    emit_punct(d, mark);
    choose_separator(d);
}

/* "In 1832, ..." / "At 7:45, ..." / "After the melon, ..." */
static void fronted_sentence(doc *d)
{
    unsigned u = (unsigned)below(d, 3);
    if (u == 0) {
        emit_str(d, "in");
        emit_number(d, NUM_YEAR);
    } else if (u == 1) {
        emit_str(d, "at");
        emit_number(d, NUM_TIME);
    } else {
        emit_str(d, pick(d, openers, COUNT_OF(openers)));
        noun_phrase(d);
    }
    emit_punct(d, ',');
    clause(d, 0);
    end_sentence(d, '.');
}

static void compound_sentence(doc *d)
{
    clause(d, 0);
    emit_punct(d, ',');
    emit_str(d, pick(d, conjs, COUNT_OF(conjs)));
    clause(d, 1);
    end_sentence(d, '.');
}

/* Tov Brenik said, "The melon talsed." */
static void quote_sentence(doc *d)
{
    person(d);
    emit_str(d, d->past ? "said" : "says");
    emit_punct(d, ',');
    emit_raw(d, " \"", 2);
    d->space = 0;
    d->capitalize = 1;
    clause(d, 0);
    emit_punct(d, '.');
    emit_punct(d, '"');
    choose_separator(d);
}

static void question_sentence(doc *d)
{
    /* The auxiliary comes before the subject: in the present tense the subject is a person, so
     * that "does" always agrees. */
    emit_str(d, d->past ? "did" : "does");
    if (!d->past || chance(d, 50))
        person(d);
    else
        noun_phrase(d);
    emit_inflected(d, corpus_pick(d->lex, CORPUS_VERB, &d->rng), FORM_BASE);
    noun_phrase(d);
    end_sentence(d, '?');
}

static void note_sentence(doc *d)
{
    emit_str(d, "note");
    emit_punct(d, ':');
    clause(d, 0);
    end_sentence(d, '.');
}

/* "The tarn of Tov had 42 melons." / "It took 3-9 days." */
static void number_sentence(doc *d)
{
    if (chance(d, 60)) {
        emit_str(d, "the");
        emit_inflected(d, noun_word(d), FORM_BASE);
        emit_str(d, "of");
        person(d);
        emit_str(d, d->past ? "had" : "has");
        emit_number(d, chance(d, 50) ? NUM_COUNT_A : NUM_COUNT_B);
        emit_inflected(d, noun_word(d), FORM_S);
    } else {
        unsigned lo = 1 + (unsigned)below(d, 30), hi = lo + 1 + (unsigned)below(d, 40);
        char t[32];
        size_t n = format_uint(t, lo);
        t[n++] = '-';
        n += format_uint(t + n, hi);
        emit_str(d, "it");
        emit_str(d, d->past ? "took" : "takes");
        emit_word(d, t, n);
        emit_inflected(d, noun_word(d), FORM_S);
    }
    end_sentence(d, '.');
}

/* A short list paragraph: "- melons: 12\n- tarns: 40\n". */
static void list_block(doc *d)
{
    int items = 2 + (int)below(d, 3);
    for (int i = 0; i < items; i++) {
        emit_raw(d, "- ", 2);
        d->space = 0;
        d->capitalize = 0; /* list items are lower case, so none looks like "Name: digits" */
        emit_inflected(d, noun_word(d), FORM_S);
        emit_punct(d, ':');
        if (chance(d, 30))
            emit_number(d, NUM_COUNT_A);
        else
            emit_uint(d, 1 + (unsigned)below(d, 999));
        emit_raw(d, "\n", 1);
    }
    d->pending_sep = "\n";
}

static void sentence(doc *d)
{
    unsigned u = (unsigned)below(d, 100);
    if (u >= 96 && d->pending_sep && d->pending_sep[0] == ' ')
        d->pending_sep = "\n"; /* a list starts on its own line */
    begin_sentence(d);
    if (u < 42) {
        clause(d, 0);
        end_sentence(d, '.');
    } else if (u < 56) {
        fronted_sentence(d);
    } else if (u < 68) {
        compound_sentence(d);
    } else if (u < 76) {
        quote_sentence(d);
    } else if (u < 82) {
        question_sentence(d);
    } else if (u < 87) {
        note_sentence(d);
    } else if (u < 96) {
        number_sentence(d);
    } else {
        list_block(d);
    }
}

static void title(doc *d)
{
    d->capitalize = 1;
    if (chance(d, 50)) {
        emit_str(d, "the");
        emit_inflected(d, corpus_pick(d->lex, CORPUS_ADJ, &d->rng), FORM_BASE);
        emit_inflected(d, &d->lex->words[CORPUS_NOUN][d->topic[0]], FORM_BASE);
    } else {
        person(d);
        emit_str(d, "and");
        emit_str(d, "the");
        emit_inflected(d, &d->lex->words[CORPUS_NOUN][d->topic[0]], FORM_BASE);
    }
    d->pending_sep = "\n\n";
}

/* ---- documents -------------------------------------------------------------------------------- */

static birdie_rng doc_stream(const birdie_corpus *corpus, birdie_split split, uint64_t k)
{
    return birdie_rng_stream(corpus->seed, (uint64_t)split, k % BIRDIE_CORPUS_DOCS, BIRDIE_RNG_CORPUS);
}

/* The first draw of a document's stream is its nominal length. */
static size_t draw_min_len(birdie_rng *rng)
{
    return (size_t)birdie_rng_range(rng, BIRDIE_CORPUS_LEN_MIN, BIRDIE_CORPUS_LEN_MAX);
}

size_t birdie_corpus_doc_min_len(const birdie_corpus *corpus, birdie_split split, uint64_t k)
{
    birdie_rng rng = doc_stream(corpus, split, k);
    return draw_min_len(&rng);
}

static void cast(doc *d)
{
    d->past = chance(d, 60);
    d->people = 2 + (int)below(d, DOC_PEOPLE_MAX - 1);
    for (int i = 0; i < d->people; i++) {
        d->first[i] = (uint16_t)corpus_zipf_draw(&d->lex->zipf[CORPUS_FIRST], &d->rng);
        d->last[i] = (uint16_t)corpus_zipf_draw(&d->lex->zipf[CORPUS_LAST], &d->rng);
        d->mentioned[i] = 0;
    }
    unsigned values[NUM_KINDS] = {
        [NUM_YEAR] = 1650 + (unsigned)below(d, 450),
        [NUM_COUNT_A] = 2 + (unsigned)below(d, 98),
        [NUM_COUNT_B] = 100 + (unsigned)below(d, 9900),
        [NUM_TIME] = 0,
    };
    for (int k = 0; k < NUM_TIME; k++)
        d->number_len[k] = (uint8_t)format_uint(d->number[k], values[k]);
    /* A time of day "7:05": the minutes keep two digits. */
    size_t n = format_uint(d->number[NUM_TIME], 1 + (unsigned)below(d, 12));
    unsigned minutes = 5 * (unsigned)below(d, 12);
    d->number[NUM_TIME][n++] = ':';
    d->number[NUM_TIME][n++] = (char)('0' + minutes / 10);
    d->number[NUM_TIME][n++] = (char)('0' + minutes % 10);
    d->number_len[NUM_TIME] = (uint8_t)n;
    d->topics = 3 + (int)below(d, DOC_TOPICS_MAX - 2);
    for (int i = 0; i < d->topics; i++)
        d->topic[i] = (uint16_t)corpus_zipf_draw(&d->lex->zipf[CORPUS_NOUN], &d->rng);
}

size_t birdie_corpus_document(const birdie_corpus *corpus, birdie_split split, uint64_t k, uint8_t *buf,
                              size_t stop_after)
{
    doc d;
    memset(&d, 0, sizeof d);
    d.lex = &corpus->lex;
    d.rng = doc_stream(corpus, split, k);
    d.buf = buf;
    size_t min_len = draw_min_len(&d.rng);
    cast(&d);
    if (chance(&d, 40))
        title(&d);
    while (d.len < min_len && d.len < stop_after) {
        size_t sentence_start = d.len;
        sentence(&d);
        if (d.overflow) {
            /* Unreachable with the template sizes above (a sentence is far below the slack
             * DOC_MAX - LEN_MAX); kept so that a grammar change can never write out of bounds. */
            d.len = sentence_start;
            break;
        }
    }
    if (d.len >= min_len && d.len < BIRDIE_CORPUS_DOC_MAX)
        buf[d.len++] = '\n';
    return d.len;
}

/* ---- lifetime --------------------------------------------------------------------------------- */

int birdie_corpus_open(birdie_corpus **out, uint64_t seed, char *err, size_t errlen)
{
    *out = NULL;
    birdie_corpus *corpus = calloc(1, sizeof *corpus);
    if (!corpus) {
        return birdie_fail(err, errlen, -ENOMEM, "synthetic corpus: out of memory");
    }
    /* Every function word of the grammar, so that no lexicon word collides with one. */
    const char *const *lists[] = {det_one, det_many, preps, conjs, openers, pronouns_one, misc_words};
    const size_t sizes[] = {COUNT_OF(det_one), COUNT_OF(det_many),     COUNT_OF(preps),         COUNT_OF(conjs),
                            COUNT_OF(openers), COUNT_OF(pronouns_one), COUNT_OF(misc_words) - 1};
    const char *reserved[128];
    size_t n = 0;
    for (size_t l = 0; l < COUNT_OF(lists); l++)
        for (size_t i = 0; i < sizes[l] && n + 1 < COUNT_OF(reserved); i++)
            reserved[n++] = lists[l][i];
    reserved[n] = NULL;
    corpus->seed = seed;
    int rc = corpus_lexicon_build(&corpus->lex, seed, reserved, err, errlen);
    if (rc < 0) {
        free(corpus);
        return rc;
    }
    *out = corpus;
    return 0;
}

void birdie_corpus_close(birdie_corpus *corpus)
{
    if (!corpus)
        return;
    corpus_lexicon_free(&corpus->lex);
    free(corpus);
}
