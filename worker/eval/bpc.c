/* worker/eval/bpc.c: bits per character from per-token losses, and the fixed held-out documents
 * (contract in bpc.h). Not here: the model's forward pass that produces the losses. */
#include "worker/eval/bpc.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "worker/error.h"
#include "worker/eval/eval_text.h"
#include "worker/rng.h"
#include "worker/vocab.h"

double birdie_bpc_of(double nats, uint64_t chars)
{
    return chars ? nats / log(2.0) / (double)chars : NAN;
}

double birdie_bpc_value(const birdie_bpc *acc)
{
    return birdie_bpc_of(acc->nats, acc->chars);
}

static int is_continuation(uint8_t b)
{
    return (b & 0xC0) == 0x80;
}

uint64_t birdie_bpc_chars(const char *text, size_t len)
{
    uint64_t c = 0;
    for (size_t i = 0; i < len; i++)
        c += !is_continuation((uint8_t)text[i]);
    return c;
}

static int bad_loss(double x)
{
    return !isfinite(x) || x < 0.0;
}

int birdie_bpc_add_tokens(birdie_bpc *acc, const float *loss_nats, const int32_t *targets, int n, char *err,
                          size_t errlen)
{
    if (n < 0 || (n > 0 && (!loss_nats || !targets)))
        return birdie_fail(err, errlen, -EINVAL, "bpc: need losses and targets for %d positions", n);
    double nats = 0.0;
    uint64_t chars = 0, tokens = 0;
    for (int j = 0; j < n; j++) {
        int32_t t = targets[j];
        if (t == -1)
            continue;
        if (t < 0 || t >= BIRDIE_VOCAB)
            return birdie_fail(err, errlen, -EINVAL, "bpc: target %d at position %d is not a token id", t, j);
        if (bad_loss(loss_nats[j]))
            return birdie_fail(err, errlen, -EINVAL, "bpc: loss %g at position %d is not a finite loss",
                               (double)loss_nats[j], j);
        nats += loss_nats[j];
        tokens++;
        chars += t > BIRDIE_PAD && t <= 255 && !is_continuation((uint8_t)t);
    }
    acc->nats += nats;
    acc->chars += chars;
    acc->tokens += tokens;
    return 0;
}

int birdie_bpc_add_text(birdie_bpc *acc, const double *loss_nats, int n, const char *text, size_t len, char *err,
                        size_t errlen)
{
    if (n < 0 || (n > 0 && !loss_nats) || (len > 0 && !text))
        return birdie_fail(err, errlen, -EINVAL, "bpc: need %d losses and %zu bytes of text", n, len);
    double nats = 0.0;
    for (int j = 0; j < n; j++) {
        if (bad_loss(loss_nats[j]))
            return birdie_fail(err, errlen, -EINVAL, "bpc: loss %g at position %d is not a finite loss", loss_nats[j],
                               j);
        nats += loss_nats[j];
    }
    acc->nats += nats;
    acc->chars += birdie_bpc_chars(text, len);
    acc->tokens += (uint64_t)n;
    return 0;
}

uint64_t birdie_bpc_doc_index(uint64_t seed, uint64_t i)
{
    birdie_rng rng = birdie_rng_stream(seed, 0, i, BIRDIE_RNG_EVAL_BPC);
    return birdie_rng_below(&rng, BIRDIE_CORPUS_DOCS);
}

int birdie_bpc_doc_tokens(const birdie_corpus *corpus, uint64_t seed, uint64_t i, int32_t *out, int cap, char *err,
                          size_t errlen)
{
    if (!corpus || !out || cap < 1)
        return birdie_fail(err, errlen, -EINVAL, "bpc: need a corpus and room for at least one token (got %d)", cap);
    uint8_t *buf = malloc(BIRDIE_CORPUS_DOC_MAX);
    if (!buf)
        return birdie_fail(err, errlen, -ENOMEM, "bpc: out of memory for a document");
    size_t want = (size_t)cap < (size_t)BIRDIE_CORPUS_DOC_MAX ? (size_t)cap : (size_t)BIRDIE_CORPUS_DOC_MAX;
    size_t n = birdie_corpus_document(corpus, BIRDIE_SPLIT_VAL, birdie_bpc_doc_index(seed, i), buf, want);
    if (n > want)
        n = want;
    int rc = birdie_eval_encode((const char *)buf, n, out, err, errlen);
    free(buf);
    return rc;
}
