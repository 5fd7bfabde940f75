/* worker/eval/infill.c: held-out infilling items and their scoring (contract and layout in infill.h).
 *
 * An item draws, in order from its own stream: document indices until one's guaranteed length holds
 * the window, the window's offset, the span's offset. Only the needed prefix of the document is
 * generated. Not here: generation from a model, the training objective (worker/objectives/).
 */
#include "worker/eval/infill.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "worker/error.h"
#include "worker/eval/eval_text.h"
#include "worker/objectives/arm.h"
#include "worker/rng.h"
#include "worker/vocab.h"

enum { MAX_DOC_DRAWS = 1 << 20 };

void birdie_infill_item_free(birdie_infill_item *item)
{
    if (!item)
        return;
    free(item->window);
    free(item->span);
    free(item->prompt_tokens);
    free(item->answer_tokens);
    memset(item, 0, sizeof *item);
}

int birdie_infill_item_from(birdie_infill_item *item, const char *text, size_t len, int span_start, int span_len,
                            birdie_infill_paradigm paradigm, char *err, size_t errlen)
{
    memset(item, 0, sizeof *item);
    if (len > (size_t)BIRDIE_CORPUS_DOC_MAX || span_len < 1 || span_start < 1 ||
        (size_t)span_start + (size_t)span_len >= len)
        return birdie_fail(err, errlen, -EINVAL,
                           "infill: need 1 <= span start (%d), 1 <= span length (%d), a byte after the span and a "
                           "window of at most %d bytes (got %zu)",
                           span_start, span_len, BIRDIE_CORPUS_DOC_MAX, len);
    if (paradigm != BIRDIE_INFILL_PARADIGM_NONE && paradigm != BIRDIE_INFILL_PARADIGM_FIRST &&
        paradigm != BIRDIE_INFILL_PARADIGM_LAST)
        return birdie_fail(err, errlen, -EINVAL, "infill: unknown paradigm placement %d", (int)paradigm);
    if (!birdie_eval_encodable(text, len))
        return birdie_fail(err, errlen, -EINVAL, "infill: the window holds a byte 0, which cannot be encoded");
    int n = (int)len, par = paradigm != BIRDIE_INFILL_PARADIGM_NONE;
    item->context_len = n;
    item->span_start = span_start;
    item->span_len = span_len;
    item->window = malloc(len + 1);
    item->span = malloc((size_t)span_len + 1);
    item->prompt_tokens = malloc((size_t)(n - span_len + 1 + par) * sizeof *item->prompt_tokens);
    item->answer_tokens = malloc((size_t)(span_len + 1) * sizeof *item->answer_tokens);
    if (!item->window || !item->span || !item->prompt_tokens || !item->answer_tokens) {
        birdie_infill_item_free(item);
        return birdie_fail(err, errlen, -ENOMEM, "infill: out of memory for a window of %d bytes", n);
    }
    memcpy(item->window, text, len);
    item->window[len] = '\0';
    memcpy(item->span, text + span_start, (size_t)span_len);
    item->span[span_len] = '\0';

    const int32_t par_id = BIRDIE_PARADIGM0 + BIRDIE_OBJ_INFILLING, sentinel = BIRDIE_SENTINEL0;
    int32_t *p = item->prompt_tokens;
    int np = 0;
    if (paradigm == BIRDIE_INFILL_PARADIGM_FIRST)
        p[np++] = par_id;
    np += birdie_eval_encode(text, (size_t)span_start, p + np, NULL, 0);
    p[np++] = sentinel;
    int after = span_start + span_len;
    np += birdie_eval_encode(text + after, (size_t)(n - after), p + np, NULL, 0);
    if (paradigm == BIRDIE_INFILL_PARADIGM_LAST)
        p[np++] = par_id;
    item->n_prompt_tokens = np;
    int na = birdie_eval_encode(item->span, (size_t)span_len, item->answer_tokens, NULL, 0);
    item->answer_tokens[na++] = sentinel;
    item->n_answer_tokens = na;
    return 0;
}

int birdie_infill_item_make(birdie_infill_item *item, const birdie_corpus *corpus, uint64_t seed, int context_len,
                            int span_len, birdie_infill_paradigm paradigm, uint64_t index, char *err, size_t errlen)
{
    memset(item, 0, sizeof *item);
    if (!corpus || span_len < 1 || context_len < span_len + 2 || context_len > BIRDIE_CORPUS_LEN_MAX)
        return birdie_fail(err, errlen, -EINVAL,
                           "infill: need a corpus, 1 <= span length (%d) and span length + 2 <= context length (%d) "
                           "<= %d",
                           span_len, context_len, BIRDIE_CORPUS_LEN_MAX);
    birdie_rng rng =
        birdie_rng_stream(seed, ((uint64_t)context_len << 32) | (uint64_t)span_len, index, BIRDIE_RNG_EVAL_INFILL);
    uint64_t doc = 0;
    size_t min_len = 0;
    int found = 0;
    for (int t = 0; t < MAX_DOC_DRAWS && !found; t++) {
        doc = birdie_rng_below(&rng, BIRDIE_CORPUS_DOCS);
        min_len = birdie_corpus_doc_min_len(corpus, BIRDIE_SPLIT_VAL, doc);
        found = min_len >= (size_t)context_len;
    }
    if (!found)
        return birdie_fail(err, errlen, -EAGAIN, "infill: no validation document of %d bytes in %d draws", context_len,
                           MAX_DOC_DRAWS);
    size_t offset = (size_t)birdie_rng_below(&rng, (uint64_t)(min_len - (size_t)context_len) + 1);
    int span_start = (int)birdie_rng_range(&rng, 1, context_len - span_len - 1);
    uint8_t *buf = malloc(BIRDIE_CORPUS_DOC_MAX);
    if (!buf)
        return birdie_fail(err, errlen, -ENOMEM, "infill: out of memory for a document");
    size_t got = birdie_corpus_document(corpus, BIRDIE_SPLIT_VAL, doc, buf, offset + (size_t)context_len);
    int rc;
    if (got < offset + (size_t)context_len)
        rc = birdie_fail(err, errlen, -EIO, "infill: validation document %llu has %zu bytes, fewer than its %zu",
                         (unsigned long long)doc, got, offset + (size_t)context_len);
    else
        rc = birdie_infill_item_from(item, (const char *)buf + offset, (size_t)context_len, span_start, span_len,
                                     paradigm, err, errlen);
    free(buf);
    if (rc == 0) {
        item->doc = doc;
        item->offset = offset;
    }
    return rc;
}

int birdie_infill_set_make(birdie_infill_set *set, const birdie_corpus *corpus, uint64_t seed, int n_items,
                           int context_len, int span_len, birdie_infill_paradigm paradigm, char *err, size_t errlen)
{
    memset(set, 0, sizeof *set);
    if (n_items < 1 || n_items > 1 << 20)
        return birdie_fail(err, errlen, -EINVAL, "infill: need 1 <= items (%d) <= %d", n_items, 1 << 20);
    set->items = calloc((size_t)n_items, sizeof *set->items);
    if (!set->items)
        return birdie_fail(err, errlen, -ENOMEM, "infill: out of memory for %d items", n_items);
    set->seed = seed;
    set->context_len = context_len;
    set->span_len = span_len;
    set->paradigm = paradigm;
    for (int i = 0; i < n_items; i++) {
        int rc = birdie_infill_item_make(&set->items[i], corpus, seed, context_len, span_len, paradigm, (uint64_t)i,
                                         err, errlen);
        if (rc < 0) {
            birdie_infill_set_free(set);
            return rc;
        }
        set->n_items = i + 1;
    }
    return 0;
}

void birdie_infill_set_free(birdie_infill_set *set)
{
    if (!set)
        return;
    for (int i = 0; i < set->n_items; i++)
        birdie_infill_item_free(&set->items[i]);
    free(set->items);
    memset(set, 0, sizeof *set);
}

int birdie_infill_score_tokens(const birdie_infill_item *item, const int32_t *gen, int n, birdie_infill_score *out)
{
    memset(out, 0, sizeof *out);
    if (!item || !item->span || item->span_len < 1 || n < 0 || (n > 0 && !gen))
        return -EINVAL;
    int m = 0;
    while (m < n && gen[m] > BIRDIE_PAD && gen[m] <= 255)
        m++;
    int correct = 0;
    for (int j = 0; j < m && j < item->span_len; j++)
        correct += gen[j] == (int32_t)(uint8_t)item->span[j];
    out->generated = m;
    out->closed = m < n && gen[m] == BIRDIE_SENTINEL0;
    out->token_accuracy = (double)correct / item->span_len;
    out->exact = m == item->span_len && correct == item->span_len;
    return 0;
}

void birdie_infill_tally_add(birdie_infill_tally *t, const birdie_infill_score *s)
{
    t->items++;
    t->exact += s->exact;
    t->accuracy_sum += s->token_accuracy;
}

double birdie_infill_tally_exact_rate(const birdie_infill_tally *t)
{
    return t->items ? (double)t->exact / (double)t->items : 0.0;
}

double birdie_infill_tally_token_accuracy(const birdie_infill_tally *t)
{
    return t->items ? t->accuracy_sum / (double)t->items : 0.0;
}
