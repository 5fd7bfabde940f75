/* worker/finetune_data.c: phonebook fine-tuning items and their packed rows (finetune_data.h). */
#include "worker/finetune_data.h"

#include <errno.h>
#include <string.h>

#include "worker/error.h"
#include "worker/objectives/packer.h"
#include "worker/rng.h"

/* The arm id the rows carry: the fine-tune has one kind of sample. */
enum { FINETUNE_ARM = 0 };

int birdie_finetune_data_check(const birdie_finetune_data *d, int seq_len, char *err, size_t errlen)
{
    if (d->k_min < 1 || d->k_min > d->k_max || d->k_max > BIRDIE_PHONEBOOK_K_MAX)
        return birdie_fail(err, errlen, -EINVAL, "--k %d-%d: need 1 <= min <= max <= %d", d->k_min, d->k_max,
                           BIRDIE_PHONEBOOK_K_MAX);
    if (d->entries_min < d->k_max || d->entries_min > d->entries_max || d->entries_max > BIRDIE_PHONEBOOK_MAX_ENTRIES)
        return birdie_fail(err, errlen, -EINVAL,
                           "--entries %d-%d: need K's max (%d) <= min <= max <= %d, so every book holds the K names "
                           "it is asked",
                           d->entries_min, d->entries_max, d->k_max, BIRDIE_PHONEBOOK_MAX_ENTRIES);
    /* the bound holds for any names: the smallest items fit an empty row whatever their names */
    size_t need = birdie_phonebook_prompt_bound(d->k_min, d->entries_min) + birdie_phonebook_answer_len(d->k_min);
    if (seq_len <= 0 || need > (size_t)seq_len)
        return birdie_fail(err, errlen, -EINVAL,
                           "--seq-len %d: an item of %d entries asking %d names needs up to %zu positions", seq_len,
                           d->entries_min, d->k_min, need);
    return 0;
}

int birdie_finetune_item(const birdie_finetune_data *d, uint64_t step, uint64_t row, int index,
                         birdie_phonebook_item *item, char *err, size_t errlen)
{
    birdie_rng row_rng = birdie_rng_stream(d->seed, step, row, BIRDIE_RNG_FINETUNE);
    birdie_rng rng = birdie_rng_fork(&row_rng, (uint64_t)index);
    int entries = (int)birdie_rng_range(&rng, d->entries_min, d->entries_max);
    int k = (int)birdie_rng_range(&rng, d->k_min, d->k_max);
    uint64_t book_seed = birdie_rng_u64(&rng);
    birdie_phonebook_item book;
    /* the evaluation generator's book (distinct names and numbers) under a seed of our own stream */
    int rc = birdie_phonebook_item_make(&book, book_seed, 1, entries, 0, err, errlen);
    if (rc < 0)
        return rc;
    int order[BIRDIE_PHONEBOOK_MAX_ENTRIES], asked[BIRDIE_PHONEBOOK_K_MAX];
    for (int e = 0; e < entries; e++)
        order[e] = e;
    for (int i = 0; i < k; i++) { /* a partial Fisher-Yates shuffle: k distinct entries in a drawn order */
        int j = i + (int)birdie_rng_below(&rng, (uint64_t)(entries - i));
        int t = order[i];
        order[i] = order[j];
        order[j] = t;
        asked[i] = order[i];
    }
    rc = birdie_phonebook_item_from(item, book.book, entries, asked, k, err, errlen);
    birdie_phonebook_item_free(&book);
    return rc;
}

/* An item longer than a whole row of T positions. */
static int oversize(const birdie_phonebook_item *item, int T)
{
    return item->n_prompt_tokens + item->n_answer_tokens > T;
}

int birdie_finetune_pack_row(const birdie_finetune_data *d, uint64_t step, uint64_t grow, birdie_rows *rows, int r,
                             char *err, size_t errlen)
{
    birdie_row_cursor cur;
    birdie_row_begin(rows, r, &cur);
    int misses = 0, skipped = 0;
    for (int index = 0; misses < BIRDIE_FINETUNE_MAX_MISSES; index++) {
        birdie_phonebook_item item;
        int rc = birdie_finetune_item(d, step, grow, index, &item, err, errlen);
        if (rc < 0)
            return rc;
        int too_long = oversize(&item, rows->T);
        rc = birdie_row_add(rows, &cur, item.prompt_tokens, item.n_prompt_tokens, item.answer_tokens,
                            item.n_answer_tokens, FINETUNE_ARM);
        birdie_phonebook_item_free(&item);
        if (rc == -ENOSPC && cur.segments == 0 && too_long) { /* fits no row: skipped, not a miss */
            if (++skipped == BIRDIE_FINETUNE_MAX_SKIPS)
                return birdie_fail(err, errlen, -ERANGE,
                                   "fine-tune row %llu of step %llu: %d items in a row are longer than the %d "
                                   "positions of a row; use smaller books (--entries) or longer rows (--seq-len)",
                                   (unsigned long long)grow, (unsigned long long)step, skipped, rows->T);
            continue;
        }
        if (rc == -ENOSPC) {
            misses++;
            continue;
        }
        if (rc < 0)
            return birdie_fail(err, errlen, rc, "fine-tune row %llu of step %llu: item %d cannot be packed",
                               (unsigned long long)grow, (unsigned long long)step, index);
        misses = 0;
    }
    return cur.segments;
}

int birdie_finetune_pack_step(const birdie_finetune_data *d, uint64_t step, birdie_rows *rows, long *items, char *err,
                              size_t errlen)
{
    long placed = 0;
    for (int r = 0; r < rows->B; r++) {
        int rc = birdie_finetune_pack_row(d, step, (uint64_t)r, rows, r, err, errlen);
        if (rc < 0)
            return rc;
        placed += rc;
    }
    if (items)
        *items = placed;
    return 0;
}

int birdie_finetune_heldout_rows(const birdie_finetune_data *d, int n_items, int T, birdie_rows *rows, char *err,
                                 size_t errlen)
{
    if (n_items < 1)
        return birdie_fail(err, errlen, -EINVAL, "the held-out set needs at least one item");
    if (birdie_rows_alloc(rows, n_items, T) < 0)
        return birdie_fail(err, errlen, -ENOMEM, "out of memory for %d held-out rows of %d positions", n_items, T);
    birdie_row_cursor cur;
    birdie_row_begin(rows, 0, &cur);
    int rc = 0;
    for (int i = 0; i < n_items && rc == 0; i++) {
        birdie_phonebook_item item;
        /* item i is the first of the stream (held-out step, row i) that fits a row */
        for (int index = 0;; index++) {
            if ((rc = birdie_finetune_item(d, BIRDIE_FINETUNE_HELDOUT_STEP, (uint64_t)i, index, &item, err, errlen)) <
                0)
                break;
            if (!oversize(&item, T))
                break;
            birdie_phonebook_item_free(&item);
            if (index + 1 == BIRDIE_FINETUNE_MAX_SKIPS) {
                rc = birdie_fail(err, errlen, -ERANGE, "held-out item %d: %d drawn items are longer than a row of %d",
                                 i, BIRDIE_FINETUNE_MAX_SKIPS, T);
                break;
            }
        }
        if (rc < 0)
            break;
        for (int tries = 0; tries < 2; tries++) { /* into this row, else into a fresh one */
            rc = birdie_row_add(rows, &cur, item.prompt_tokens, item.n_prompt_tokens, item.answer_tokens,
                                item.n_answer_tokens, FINETUNE_ARM);
            if (rc != -ENOSPC || tries == 1)
                break;
            birdie_row_begin(rows, cur.row + 1, &cur);
        }
        birdie_phonebook_item_free(&item);
        if (rc < 0)
            rc = birdie_fail(err, errlen, rc, "held-out item %d does not fit a row of %d positions", i, T);
    }
    if (rc < 0) {
        birdie_rows_free(rows);
        return rc;
    }
    rows->B = cur.row + 1; /* the allocation stays n_items rows; birdie_rows_free does not read B */
    return 0;
}
