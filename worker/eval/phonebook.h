/* worker/eval/phonebook.h: the multi-phone-number retrieval task (the Birdie paper's §4.1): books of
 * "First Last: DDD-DDD-DDDD" entries, prompts in the question-context-question layout, and scoring.
 *
 * A book has `entries` lines, unique in names and in numbers. Names are First Last pairs from a fixed
 * list of 64 first and 64 last names (ASCII letters, at most 10 each; phonebook.c); numbers are ten
 * uniform digits. K of the book's entries are asked (K in {1, 2, 4, 8}), in a drawn order. Item i of
 * a set is a pure function of (seed, K, entries, i) drawn from the counter-based RNG with purpose
 * BIRDIE_RNG_EVAL_PHONEBOOK, so a set is fixed by its seed before any run: every model sees the same
 * items. A longer-book variant for length generalisation is the same set with more entries: use
 * birdie_phonebook_entries_fitting for the largest book of a training context and
 * BIRDIE_PHONEBOOK_LONG_FACTOR times that for the long variant.
 *
 * The exact text layout, byte for byte ("\n" is a newline, N1..NK the asked names in asked order,
 * E1..En the book in book order):
 *
 *   prompt  "Look up: N1, N2, ..., NK\n"          the question (names joined by ", ")
 *           "\n"
 *           "E1\n" ... "En\n"                      each E = "First Last: DDD-DDD-DDDD"
 *           "\n"
 *           "Look up: N1, N2, ..., NK\n"          the question again
 *           "Numbers:\n"
 *   answer  "DDD-DDD-DDDD\n" for N1, ..., for NK   one line per asked name, in asked order
 *
 * For K = 1, entries = 2 that is, e.g.
 *   "Look up: Ada Moreno\n\nLeo Ford: 123-456-7890\nAda Moreno: 555-010-9999\n\nLook up: Ada Moreno\nNumbers:\n"
 * with the answer "555-010-9999\n". Tokens: one id per byte (eval_text.h); every byte is printable
 * ASCII or '\n', so everything is encodable. The prompt tokens are a sample's P and the answer
 * tokens its T (objective.h): a model is fed P, BEGIN and generates the answer.
 *
 * Scoring (birdie_phonebook_score_text): the generated text is cut into slots at the separators
 * '\n', ',' and ';'; slot i answers asked name i. In a slot, leading spaces and tabs are skipped and
 * the answer field is the longest run of digits and '-' that follows; anything after it up to the
 * next separator is ignored. Digit accuracy of a name = (positions j < 10 where the field's j-th digit,
 * dashes dropped, equals the number's j-th digit) / 10, so digits count in position and partial
 * answers get partial credit; a name is exact when the field is the 12-byte number, dashes included.
 * A missing slot (the text ends first) scores 0. Text after the K-th slot is ignored.
 * Not here: generation (the caller feeds the tokens to a model), the corpus check (the corpus
 * never writes a phonebook line: tests/worker/eval/test_eval_tasks.c checks it with
 * birdie_phonebook_line_at).
 */
#ifndef BIRDIE_EVAL_PHONEBOOK_H
#define BIRDIE_EVAL_PHONEBOOK_H

#include <stddef.h>
#include <stdint.h>

enum {
    BIRDIE_PHONEBOOK_K_MAX = 8, /* K is 1, 2, 4 or 8 */
    BIRDIE_PHONEBOOK_MAX_ENTRIES = 2048, /* a book never has more (64 x 64 names exist) */
    BIRDIE_PHONEBOOK_NAME_MAX = 21, /* bytes of "First Last", at most */
    BIRDIE_PHONEBOOK_NUMBER_LEN = 12, /* "DDD-DDD-DDDD" */
    BIRDIE_PHONEBOOK_DIGITS = 10,
    BIRDIE_PHONEBOOK_LONG_FACTOR = 4 /* the length-generalisation book is this many times longer */
};

typedef struct birdie_phonebook_entry {
    char name[BIRDIE_PHONEBOOK_NAME_MAX + 1]; /* "First Last", NUL-terminated */
    char number[BIRDIE_PHONEBOOK_NUMBER_LEN + 1]; /* "DDD-DDD-DDDD", NUL-terminated */
} birdie_phonebook_entry;

typedef struct birdie_phonebook_item {
    int k, entries;
    birdie_phonebook_entry *book; /* (entries) in book order */
    int asked[BIRDIE_PHONEBOOK_K_MAX]; /* book index of asked name i, in asked order (distinct) */
    char *prompt, *answer; /* NUL-terminated texts of the layout above */
    size_t prompt_len, answer_len;
    int32_t *prompt_tokens, *answer_tokens; /* one id per byte */
    int n_prompt_tokens, n_answer_tokens;
} birdie_phonebook_item;

typedef struct birdie_phonebook_set {
    uint64_t seed;
    int k, entries, n_items;
    birdie_phonebook_item *items;
} birdie_phonebook_set;

/* An item from a given book and asked indices (distinct, in 0..entries-1): renders the prompt, the
 * answer and their tokens. Names must be ASCII letters and single spaces (1..NAME_MAX bytes) and
 * numbers DDD-DDD-DDDD. Returns 0, -EINVAL (bad argument) or -ENOMEM, with a message. */
int birdie_phonebook_item_from(birdie_phonebook_item *item, const birdie_phonebook_entry *book, int entries,
                               const int *asked, int k, char *err, size_t errlen);

/* Item `index` of the set (seed, k, entries): k in {1, 2, 4, 8}, k <= entries <=
 * BIRDIE_PHONEBOOK_MAX_ENTRIES. Returns 0, -EINVAL (bad argument) or -ENOMEM, with a message. */
int birdie_phonebook_item_make(birdie_phonebook_item *item, uint64_t seed, int k, int entries, uint64_t index,
                               char *err, size_t errlen);
void birdie_phonebook_item_free(birdie_phonebook_item *item);

/* The evaluation set: items 0 .. n_items-1 of (seed, k, entries), 1 <= n_items <= 1 << 20. */
int birdie_phonebook_set_make(birdie_phonebook_set *set, uint64_t seed, int k, int n_items, int entries, char *err,
                              size_t errlen);
void birdie_phonebook_set_free(birdie_phonebook_set *set);

/* Upper bounds, for any names and numbers, on the prompt and answer of (k, entries), in bytes (=
 * tokens). */
size_t birdie_phonebook_prompt_bound(int k, int entries);
size_t birdie_phonebook_answer_len(int k);

/* The largest book (<= BIRDIE_PHONEBOOK_MAX_ENTRIES) whose prompt, BEGIN and answer fit max_tokens
 * positions for any names; 0 when not even a book of k entries fits. */
int birdie_phonebook_entries_fitting(int max_tokens, int k);

/* Offset of the first phonebook line in text[0..len) or -1: one or more words of ASCII letters
 * separated by single spaces, then ": ", then DDD-DDD-DDDD not followed by another digit, the words
 * starting the text or following a non-letter. A bare DDD-DDD-DDDD counts too when bare is set. */
long birdie_phonebook_line_at(const char *text, size_t len, int bare);

typedef struct birdie_phonebook_score {
    int k;
    double digit_accuracy[BIRDIE_PHONEBOOK_K_MAX]; /* per asked name, in [0, 1] */
    int exact[BIRDIE_PHONEBOOK_K_MAX]; /* per asked name, 0 or 1 */
    double mean_digit_accuracy; /* over the k names */
    double exact_rate; /* share of the k names answered exactly */
    int all_exact; /* 1 when every name is exact */
} birdie_phonebook_score;

/* Scores generated text (the model's output after BEGIN, decoded; need not be NUL-terminated) for
 * the k numbers answers[0..k) ("DDD-DDD-DDDD" each), as the header comment says. Returns 0 or
 * -EINVAL for k outside 1..BIRDIE_PHONEBOOK_K_MAX or a malformed reference number. */
int birdie_phonebook_score_numbers(const char *const *answers, int k, const char *text, size_t len,
                                   birdie_phonebook_score *out);
/* The same against an item's asked numbers. */
int birdie_phonebook_score_text(const birdie_phonebook_item *item, const char *text, size_t len,
                                birdie_phonebook_score *out);

/* Totals over a set: add one score per item, then read the means. */
typedef struct birdie_phonebook_tally {
    long items, names;
    double digit_sum; /* sum over names of digit accuracy */
    long exact_names, exact_items;
} birdie_phonebook_tally;

void birdie_phonebook_tally_add(birdie_phonebook_tally *t, const birdie_phonebook_score *s);
double birdie_phonebook_tally_digit_accuracy(const birdie_phonebook_tally *t); /* mean over names; 0 if none */
double birdie_phonebook_tally_exact_rate(const birdie_phonebook_tally *t); /* exact names / names; 0 if none */

#endif
