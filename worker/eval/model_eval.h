/* worker/eval/model_eval.h: the evaluation tasks run on a model. Phonebook and infilling: each item's
 * prompt through the generator (worker/generate.h), greedy, in batches of the generator's rows, and
 * the task's scorer over what came out; the model comes from the caller, with B rows and T >= the
 * longest prompt + 1 positions. Bits per character: the held-out documents teacher-forced through
 * birdie_model_forward, rows laid out as birdie_bpc_fill_row says. The sets, prompts and scorers are
 * the tasks' own (phonebook.h, infill.h, bpc.h).
 *
 * Decoding is greedy (temperature 0) and the batch is fixed by the set's order and the generator's
 * rows, so a run is deterministic: the same checkpoint and set give the same scores bit for bit on
 * one machine (with batch_gemm set, for the same number of rows). Not here: reading checkpoints,
 * printing tables, storing results. */
#ifndef BIRDIE_EVAL_MODEL_EVAL_H
#define BIRDIE_EVAL_MODEL_EVAL_H

#include <stddef.h>

#include "worker/eval/bpc.h"
#include "worker/eval/infill.h"
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

/* Called once per infilling item, in set order, with the generated ids (after BEGIN) and their score. */
typedef void (*birdie_infill_item_fn)(void *ctx, const birdie_infill_item *item, const int32_t *gen, int n,
                                      const birdie_infill_score *score);

/* Tokens a set's longest prompt holds. */
int birdie_infill_set_longest_prompt(const birdie_infill_set *set);

/* Generates span_len + 1 ids per item (the span and its closing sentinel, the answer's length) and
 * adds each score (birdie_infill_score_tokens) to tally. 0 or a negative errno with a message. */
int birdie_eval_infill(birdie_generator *g, const birdie_infill_set *set, birdie_infill_tally *tally,
                       birdie_infill_item_fn each, void *ctx, char *err, size_t errlen);

/* Row r of rows (rows->T positions) as the next-token-prediction sample of one document, the layout
 * of an NTP training row (docs/algorithm.md §1.4, worker/batch.c): an empty prefix, inputs BEGIN,
 * d0, d1, ... and labels d0, d1, ..., so every byte of the document is a target predicted from the
 * bytes before it only (a prefix would leave its bytes unscored, and a bidirectional layer would
 * read them both ways: that is not a likelihood of the text). The targets are the first rows->T of
 * (doc[0..n), EOS) where `whole` says doc is the complete document (EOS only then: a cut document
 * does not end there); positions past them are padding. Returns the targets written. */
int birdie_bpc_fill_row(birdie_rows *rows, int r, const int32_t *doc, int n, int whole);

/* Bits per character of documents 0 .. n_docs-1 of the held-out set of seed (bpc.h), each cut to
 * the model's rows (m->T targets), teacher-forced in batches of m->B rows; adds every counted
 * position to acc. 0 or a negative errno with a message (a non-finite loss is -EINVAL). */
int birdie_eval_bpc(birdie_model *m, const birdie_corpus *corpus, uint64_t seed, int n_docs, birdie_bpc *acc, char *err,
                    size_t errlen);

#endif
