/* worker/eval/model_eval.h: the evaluation tasks run on a model: each item's prompt through the
 * generator (worker/generate.h), greedy, in batches of the generator's rows, and the task's scorer
 * over what came out. The sets, prompts and scorers are the tasks' own (phonebook.h, infill.h,
 * bpc.h); the model comes from the caller, with B rows and T >= the longest prompt + 1 positions.
 *
 * Decoding is greedy (temperature 0) and the batch is fixed by the set's order and the generator's
 * rows, so a run is deterministic: the same checkpoint and set give the same scores bit for bit on
 * one machine. Not here: reading checkpoints, printing tables, storing results. */
#ifndef BIRDIE_EVAL_MODEL_EVAL_H
#define BIRDIE_EVAL_MODEL_EVAL_H

#include <stddef.h>

#include "worker/eval/phonebook.h"
#include "worker/generate.h"

/* Called once per item, in set order, with the decoded generation and its score (may be NULL). */
typedef void (*birdie_phonebook_item_fn)(void *ctx, const birdie_phonebook_item *item, const char *text, size_t len,
                                         const birdie_phonebook_score *score);

/* Tokens a set's longest prompt holds (the model needs one more position for BEGIN). */
int birdie_phonebook_set_longest_prompt(const birdie_phonebook_set *set);

/* Generates the answer of every item of set (the answer's length in tokens at most: the scorer ignores
 * text past the K-th number) and adds each score to tally. 0 or a negative errno with a message (a
 * prompt longer than the model's rows, out of memory). */
int birdie_eval_phonebook(birdie_generator *g, const birdie_phonebook_set *set, birdie_phonebook_tally *tally,
                          birdie_phonebook_item_fn each, void *ctx, char *err, size_t errlen);

#endif
