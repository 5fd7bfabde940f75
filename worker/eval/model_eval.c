/* worker/eval/model_eval.c: evaluation tasks on a model (model_eval.h): phonebook and infilling
 * through the generator, bits per character through the model's forward pass. */
#include "worker/eval/model_eval.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ops.h"
#include "worker/error.h"
#include "worker/vocab.h"

/* One task's items through the generator in batches of g->cap rows: prompt(ctx, i) gives item i's
 * tokens, done(ctx, i, out) scores its generation (a negative return is an item that cannot be
 * scored: the run goes on and reports the first such item). Batches follow the items' order, so a
 * run is deterministic for a given generator. */
typedef const int32_t *(*item_prompt_fn)(void *ctx, int i, int *len);
typedef int (*item_done_fn)(void *ctx, int i, const birdie_gen_output *out);

static int generate_items(birdie_generator *g, int n_items, const birdie_gen_params *p, item_prompt_fn prompt,
                          item_done_fn done, void *ctx, const char *task, char *err, size_t errlen)
{
    const int32_t **prompts = malloc((size_t)g->cap * sizeof *prompts);
    int *lens = malloc((size_t)g->cap * sizeof *lens);
    birdie_gen_output *out = calloc((size_t)g->cap, sizeof *out);
    int rc = prompts && lens && out ? 0 : birdie_fail(err, errlen, -ENOMEM, "%s: out of host memory", task);
    for (int first = 0; rc == 0 && first < n_items; first += g->cap) {
        int n = n_items - first < g->cap ? n_items - first : g->cap;
        for (int r = 0; r < n; r++)
            prompts[r] = prompt(ctx, first + r, &lens[r]);
        if ((rc = birdie_generate(g, prompts, lens, n, p, out, err, errlen)) < 0)
            break;
        for (int r = 0; r < n; r++) {
            if (done(ctx, first + r, &out[r]) < 0 && rc == 0)
                rc = birdie_fail(err, errlen, -EINVAL, "%s: item %d cannot be scored", task, first + r);
            birdie_gen_output_free(&out[r]);
        }
    }
    free(prompts);
    free(lens);
    free(out);
    return rc;
}

typedef struct phonebook_run {
    const birdie_phonebook_set *set;
    birdie_phonebook_tally *tally;
    birdie_phonebook_item_fn each;
    void *ctx;
} phonebook_run;

static const int32_t *phonebook_prompt(void *ctx, int i, int *len)
{
    const birdie_phonebook_item *item = &((phonebook_run *)ctx)->set->items[i];
    *len = item->n_prompt_tokens;
    return item->prompt_tokens;
}

static int phonebook_done(void *ctx, int i, const birdie_gen_output *out)
{
    phonebook_run *run = ctx;
    const birdie_phonebook_item *item = &run->set->items[i];
    birdie_phonebook_score s;
    if (birdie_phonebook_score_text(item, out->text, out->text_len, &s) < 0)
        return -EINVAL;
    birdie_phonebook_tally_add(run->tally, &s);
    if (run->each)
        run->each(run->ctx, item, out->text, out->text_len, &s);
    return 0;
}

typedef struct infill_run {
    const birdie_infill_set *set;
    birdie_infill_tally *tally;
    birdie_infill_item_fn each;
    void *ctx;
} infill_run;

static const int32_t *infill_prompt(void *ctx, int i, int *len)
{
    const birdie_infill_item *item = &((infill_run *)ctx)->set->items[i];
    *len = item->n_prompt_tokens;
    return item->prompt_tokens;
}

static int infill_done(void *ctx, int i, const birdie_gen_output *out)
{
    infill_run *run = ctx;
    const birdie_infill_item *item = &run->set->items[i];
    birdie_infill_score s;
    if (birdie_infill_score_tokens(item, out->tokens, out->n_tokens, &s) < 0)
        return -EINVAL;
    birdie_infill_tally_add(run->tally, &s);
    if (run->each)
        run->each(run->ctx, item, out->tokens, out->n_tokens, &s);
    return 0;
}

int birdie_phonebook_set_longest_prompt(const birdie_phonebook_set *set)
{
    int longest = 0;
    for (int i = 0; i < set->n_items; i++)
        if (set->items[i].n_prompt_tokens > longest)
            longest = set->items[i].n_prompt_tokens;
    return longest;
}

int birdie_eval_phonebook(birdie_generator *g, const birdie_phonebook_set *set, birdie_phonebook_tally *tally,
                          birdie_phonebook_item_fn each, void *ctx, char *err, size_t errlen)
{
    int longest = birdie_phonebook_set_longest_prompt(set);
    if (longest + 1 > g->m->T)
        return birdie_fail(err, errlen, -EINVAL,
                           "phonebook K=%d with %d entries: a prompt of %d tokens does not fit the model's rows of "
                           "%d positions",
                           set->k, set->entries, longest, g->m->T);
    birdie_gen_params p = {.max_tokens = (int)birdie_phonebook_answer_len(set->k)};
    phonebook_run run = {set, tally, each, ctx};
    return generate_items(g, set->n_items, &p, phonebook_prompt, phonebook_done, &run, "phonebook", err, errlen);
}

int birdie_infill_set_longest_prompt(const birdie_infill_set *set)
{
    int longest = 0;
    for (int i = 0; i < set->n_items; i++)
        if (set->items[i].n_prompt_tokens > longest)
            longest = set->items[i].n_prompt_tokens;
    return longest;
}

int birdie_eval_infill(birdie_generator *g, const birdie_infill_set *set, birdie_infill_tally *tally,
                       birdie_infill_item_fn each, void *ctx, char *err, size_t errlen)
{
    int longest = birdie_infill_set_longest_prompt(set);
    if (longest + 1 > g->m->T)
        return birdie_fail(err, errlen, -EINVAL,
                           "infill (context %d, span %d): a prompt of %d tokens does not fit the model's rows of %d "
                           "positions",
                           set->context_len, set->span_len, longest, g->m->T);
    /* The answer is the span then its sentinel: one more id would only be scored as ignored. */
    birdie_gen_params p = {.max_tokens = set->span_len + 1};
    infill_run run = {set, tally, each, ctx};
    return generate_items(g, set->n_items, &p, infill_prompt, infill_done, &run, "infill", err, errlen);
}

int birdie_bpc_fill_row(birdie_rows *rows, int r, const int32_t *doc, int n, int whole)
{
    int T = rows->T, targets = n + (whole ? 1 : 0);
    if (targets > T)
        targets = T;
    birdie_rows_clear(rows, r, 1);
    size_t base = (size_t)r * T;
    for (int t = 0; t < targets; t++) {
        rows->inputs[base + t] = t == 0 ? BIRDIE_BEGIN : doc[t - 1];
        rows->labels[base + t] = t < n ? doc[t] : BIRDIE_EOS;
        rows->segments[base + t] = 1;
        rows->prefix[base + t] = 0;
        /* an empty prefix: the forward flow starts at BEGIN and every position is causal (reverse reset) */
        rows->resets[base + t] = (uint8_t)(BIRDIE_RESET_REV | (t == 0 ? BIRDIE_RESET_FWD : 0));
        rows->arms[base + t] = 0;
    }
    return targets;
}

int birdie_eval_bpc(birdie_model *m, const birdie_corpus *corpus, uint64_t seed, int n_docs, birdie_bpc *acc, char *err,
                    size_t errlen)
{
    if (!corpus || n_docs < 1)
        return birdie_fail(err, errlen, -EINVAL, "bpc: need a corpus and at least one document (got %d)", n_docs);
    int T = m->T;
    birdie_rows rows;
    if (birdie_rows_alloc(&rows, m->B, T) < 0)
        return birdie_fail(err, errlen, -ENOMEM, "bpc: out of host memory for %d rows of %d", m->B, T);
    int32_t *doc = malloc((size_t)T * sizeof *doc);
    int rc = doc ? 0 : birdie_fail(err, errlen, -ENOMEM, "bpc: out of host memory for a document");
    for (int first = 0; rc == 0 && first < n_docs; first += m->B) {
        int n = n_docs - first < m->B ? n_docs - first : m->B;
        rows.B = n;
        for (int r = 0; rc == 0 && r < n; r++) {
            /* T tokens asked: fewer back means the document ended, so its EOS is a target too */
            int got = birdie_bpc_doc_tokens(corpus, seed, (uint64_t)(first + r), doc, T, err, errlen);
            if (got < 0)
                rc = got;
            else
                birdie_bpc_fill_row(&rows, r, doc, got, got < T);
        }
        if (rc < 0)
            break;
        birdie_model_forward(m, &rows, 0.0f);
        for (int r = 0; rc == 0 && r < n; r++)
            rc =
                birdie_bpc_add_tokens(acc, m->losses_host + (size_t)r * T, rows.labels + (size_t)r * T, T, err, errlen);
    }
    rows.B = m->B;
    birdie_rows_free(&rows);
    free(doc);
    return rc;
}
