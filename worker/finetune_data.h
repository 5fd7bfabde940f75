/* worker/finetune_data.h: the data of `birdied finetune --task phonebook`: phonebook items drawn
 * per (seed, step, row) and packed into rows with the pre-training packer (docs/algorithm.md §1.4).
 *
 * An item has the evaluation layout of worker/eval/phonebook.h exactly: P = the item's prompt,
 * T = its answer, so a row reads the prompt as a prefix (both ways in the bidirectional layers) and
 * carries labels on the answer only. Item `index` of row `row` of step `step` comes from the stream
 * fork(stream(seed, step, row, BIRDIE_RNG_FINETUNE), index): in order, entries ~ U{entries_min ..
 * entries_max}, K ~ U{k_min .. k_max}, a 64-bit book seed, then K distinct asked entries. The book
 * (distinct names, distinct numbers) is the phonebook generator's book of (book seed, K = 1,
 * entries, item 0); the asked names are the fine-tune's own draws, so any K in 1..8 is possible.
 *
 * Disjoint from the evaluation sets: an evaluation item of seed S is keyed directly by
 * (S, K, entries, i) under BIRDIE_RNG_EVAL_PHONEBOOK, a fine-tune book by a seed drawn under
 * BIRDIE_RNG_FINETUNE; a fine-tune book equals an evaluation book only if that 64-bit draw hits the
 * evaluation seed (and K = 1, i = 0), and even then the asked names are drawn apart. The held-out
 * answer-loss set is the same stream at step BIRDIE_FINETUNE_HELDOUT_STEP, a step no fine-tune
 * reaches, so it is never trained on. tests/worker/test_finetune.c checks both.
 *
 * A row takes items 0, 1, ... in turn; an item that does not fit the row's remaining positions is
 * dropped (a miss) and the next one tried, until BIRDIE_FINETUNE_MAX_MISSES misses in a row; the rest
 * is padding. As in pre-training's packer this fills rows better than stopping at the first miss, at
 * the cost of a mild lean towards smaller items at the ends of rows. An item longer than a whole row
 * (possible when the largest books nearly fill seq_len) is never used: it is skipped without counting
 * as a miss, so every row holds at least one item; BIRDIE_FINETUNE_MAX_SKIPS such items before a
 * row's first item are an error. The rows of a step are a pure function of (seed, step, global row).
 * Not here: the training loop (finetune.h), the command line (finetune_main.h). */
#ifndef BIRDIE_FINETUNE_DATA_H
#define BIRDIE_FINETUNE_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "worker/eval/phonebook.h"
#include "worker/rows.h"

/* Consecutive items that do not fit before a row is closed; consecutive items longer than a row
 * before packing gives up. */
enum { BIRDIE_FINETUNE_MAX_MISSES = 8, BIRDIE_FINETUNE_MAX_SKIPS = 256 };

/* The step key of the held-out answer-loss items (row i = item i); fine-tune steps are 1..steps. */
#define BIRDIE_FINETUNE_HELDOUT_STEP (UINT64_C(1) << 62)

typedef struct birdie_finetune_data {
    uint64_t seed;
    int entries_min, entries_max; /* book sizes, k_max <= entries_min <= entries_max */
    int k_min, k_max; /* asked names per item, 1 <= k_min <= k_max <= BIRDIE_PHONEBOOK_K_MAX */
} birdie_finetune_data;

/* Checks the ranges, and that the smallest items (entries_min, k_min; any names) fit a row of seq_len
 * positions. 0 or -EINVAL with a message naming the flag (--entries, --k, --seq-len). */
int birdie_finetune_data_check(const birdie_finetune_data *d, int seq_len, char *err, size_t errlen);

/* Item `index` of row `row` of step `step` (free with birdie_phonebook_item_free). 0 or a negative
 * errno with a message. */
int birdie_finetune_item(const birdie_finetune_data *d, uint64_t step, uint64_t row, int index,
                         birdie_phonebook_item *item, char *err, size_t errlen);

/* Packs row r of rows with the items of (step, global row grow); returns the number of items placed
 * (>= 1 when the data check passed for rows->T) or a negative errno with a message. */
int birdie_finetune_pack_row(const birdie_finetune_data *d, uint64_t step, uint64_t grow, birdie_rows *rows, int r,
                             char *err, size_t errlen);

/* Packs every row of rows for step (global rows 0 .. rows->B - 1); *items (may be NULL) gets the
 * items placed. */
int birdie_finetune_pack_step(const birdie_finetune_data *d, uint64_t step, birdie_rows *rows, long *items, char *err,
                              size_t errlen);

/* The held-out answer-loss set: n_items items, item i the first of birdie_finetune_item(d,
 * BIRDIE_FINETUNE_HELDOUT_STEP, i, 0, 1, ...) that fits a row of T, packed in order, as many per row as
 * fit, into rows of T positions allocated here (rows->B = the rows used; free with birdie_rows_free). */
int birdie_finetune_heldout_rows(const birdie_finetune_data *d, int n_items, int T, birdie_rows *rows, char *err,
                                 size_t errlen);

#endif
