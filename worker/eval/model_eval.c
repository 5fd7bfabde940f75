/* worker/eval/model_eval.c: evaluation tasks through the generator (model_eval.h). */
#include "worker/eval/model_eval.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "worker/error.h"

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
    const int32_t **prompts = malloc((size_t)g->cap * sizeof *prompts);
    int *lens = malloc((size_t)g->cap * sizeof *lens);
    birdie_gen_output *out = calloc((size_t)g->cap, sizeof *out);
    int rc = prompts && lens && out ? 0 : birdie_fail(err, errlen, -ENOMEM, "phonebook: out of host memory");
    for (int first = 0; rc == 0 && first < set->n_items; first += g->cap) {
        int n = set->n_items - first < g->cap ? set->n_items - first : g->cap;
        for (int r = 0; r < n; r++) {
            prompts[r] = set->items[first + r].prompt_tokens;
            lens[r] = set->items[first + r].n_prompt_tokens;
        }
        if ((rc = birdie_generate(g, prompts, lens, n, &p, out, err, errlen)) < 0)
            break;
        for (int r = 0; r < n; r++) {
            const birdie_phonebook_item *item = &set->items[first + r];
            birdie_phonebook_score s;
            if (birdie_phonebook_score_text(item, out[r].text, out[r].text_len, &s) == 0) {
                birdie_phonebook_tally_add(tally, &s);
                if (each)
                    each(ctx, item, out[r].text, out[r].text_len, &s);
            } else if (rc == 0) {
                rc = birdie_fail(err, errlen, -EINVAL, "phonebook: item %d has no scorable answer", first + r);
            }
            birdie_gen_output_free(&out[r]);
        }
    }
    free(prompts);
    free(lens);
    free(out);
    return rc;
}
