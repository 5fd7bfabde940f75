/* worker/eval/infill.h: infilling on held-out synthetic documents (the Birdie paper's §4.3 analogue):
 * a span cut out of a window of a validation-split document, the prompt in the layout the infilling
 * objective trains on, the reference answer, and scoring.
 *
 * Item i of a set is a pure function of (corpus seed, seed, context_len, span_len, paradigm, i),
 * drawn with purpose BIRDIE_RNG_EVAL_INFILL: a document index of BIRDIE_SPLIT_VAL (uniform over the
 * split, redrawn until the document is known to hold context_len bytes), a window of context_len
 * bytes at a uniform offset inside the document's guaranteed length, and a span of span_len bytes at
 * a uniform offset in [1, context_len - span_len - 1] (at least one byte of context on each side).
 * The set is fixed before any run; every model sees the same items.
 *
 * Layout, the same as a training sample of the infilling objective (worker/objectives/infilling.c,
 * docs/algorithm.md §2.6) with one span and sequential sentinels, so the span's sentinel is
 * S0 = BIRDIE_SENTINEL0, and the paradigm id PAR = BIRDIE_PARADIGM0 + BIRDIE_OBJ_INFILLING:
 *   prompt (P)  [PAR] before S0 after          (PAR first: BIRDIE_INFILL_PARADIGM_FIRST)
 *               before S0 after [PAR]          (PAR last: BIRDIE_INFILL_PARADIGM_LAST)
 *               before S0 after                (no paradigm: BIRDIE_INFILL_PARADIGM_NONE)
 *   answer (T)  span S0
 * where before = window[0, a), span = window[a, a + span_len), after = window[a + span_len, end), one
 * id per byte. A model is fed P, BEGIN and generates T.
 *
 * Scoring (birdie_infill_score): the generated span is the generated ids up to the first id that is
 * not a byte (S0, EOS, any special) or the end. Exact when it equals the span; token accuracy = the
 * positions j < span_len where generated[j] == span[j], over span_len (a short answer loses the
 * missing positions, extra ids past span_len are ignored). Whether S0 closed the answer is reported
 * but does not count. Not here: generation, the corpus (worker/data/corpus.h).
 */
#ifndef BIRDIE_EVAL_INFILL_H
#define BIRDIE_EVAL_INFILL_H

#include <stddef.h>
#include <stdint.h>

#include "worker/data/corpus.h"

typedef enum birdie_infill_paradigm {
    BIRDIE_INFILL_PARADIGM_NONE = 0,
    BIRDIE_INFILL_PARADIGM_FIRST = 1,
    BIRDIE_INFILL_PARADIGM_LAST = 2
} birdie_infill_paradigm;

typedef struct birdie_infill_item {
    uint64_t doc; /* document index in BIRDIE_SPLIT_VAL (0 for birdie_infill_item_from) */
    size_t offset; /* where the window starts in the document */
    int context_len, span_start, span_len;
    char *window; /* context_len bytes, NUL-terminated */
    char *span; /* span_len bytes, NUL-terminated: the reference answer's text */
    int32_t *prompt_tokens, *answer_tokens; /* P and T of the layout above */
    int n_prompt_tokens, n_answer_tokens;
} birdie_infill_item;

typedef struct birdie_infill_set {
    uint64_t seed;
    int context_len, span_len, n_items;
    birdie_infill_paradigm paradigm;
    birdie_infill_item *items;
} birdie_infill_set;

/* An item from a given window text[0..len) (encodable, 1 <= span_len, 1 <= span_start,
 * span_start + span_len < len). Returns 0, -EINVAL or -ENOMEM with a message. */
int birdie_infill_item_from(birdie_infill_item *item, const char *text, size_t len, int span_start, int span_len,
                            birdie_infill_paradigm paradigm, char *err, size_t errlen);

/* Item `index` of the set: span_len >= 1, span_len + 2 <= context_len <= BIRDIE_CORPUS_LEN_MAX. */
int birdie_infill_item_make(birdie_infill_item *item, const birdie_corpus *corpus, uint64_t seed, int context_len,
                            int span_len, birdie_infill_paradigm paradigm, uint64_t index, char *err, size_t errlen);
void birdie_infill_item_free(birdie_infill_item *item);

/* Items 0 .. n_items-1 (1 <= n_items <= 1 << 20). */
int birdie_infill_set_make(birdie_infill_set *set, const birdie_corpus *corpus, uint64_t seed, int n_items,
                           int context_len, int span_len, birdie_infill_paradigm paradigm, char *err, size_t errlen);
void birdie_infill_set_free(birdie_infill_set *set);

typedef struct birdie_infill_score {
    int exact; /* 0 or 1 */
    double token_accuracy; /* in [0, 1] */
    int generated; /* ids of the generated span */
    int closed; /* the span was followed by S0 */
} birdie_infill_score;

/* Scores generated ids gen[0..n) (what followed BEGIN). Returns 0 or -EINVAL (no item). */
int birdie_infill_score_tokens(const birdie_infill_item *item, const int32_t *gen, int n, birdie_infill_score *out);

typedef struct birdie_infill_tally {
    long items, exact;
    double accuracy_sum;
} birdie_infill_tally;

void birdie_infill_tally_add(birdie_infill_tally *t, const birdie_infill_score *s);
double birdie_infill_tally_exact_rate(const birdie_infill_tally *t); /* 0 when empty */
double birdie_infill_tally_token_accuracy(const birdie_infill_tally *t); /* mean over items; 0 when empty */

#endif
