/* tests/worker/objectives/fake_source.c: the test double of worker/source.h (see fake_source.h). */
#include "tests/worker/objectives/fake_source.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "worker/vocab.h"

struct birdie_source {
    int32_t *tokens;
    int n;
};

int fake_source_open(birdie_source **out, uint64_t seed, int ntokens, enum fake_text kind)
{
    *out = NULL;
    if (ntokens <= 0)
        return -EINVAL;
    birdie_source *s = calloc(1, sizeof *s);
    if (!s || !(s->tokens = malloc((size_t)ntokens * sizeof *s->tokens))) {
        free(s);
        return -ENOMEM;
    }
    s->n = ntokens;
    birdie_rng rng = birdie_rng_stream(seed, 0, 0, BIRDIE_RNG_TEST);
    int word_left = 0;
    for (int i = 0; i < ntokens; i++) {
        if (kind == FAKE_BYTES) {
            s->tokens[i] = 1 + (int32_t)birdie_rng_below(&rng, 255);
        } else if (kind == FAKE_CONSTANT) {
            s->tokens[i] = 'a';
        } else if (birdie_rng_below(&rng, 400) == 0) {
            s->tokens[i] = BIRDIE_EOS;
        } else if (word_left == 0) {
            s->tokens[i] = ' ';
            word_left = (int)birdie_rng_range(&rng, 2, 8);
        } else {
            s->tokens[i] = 'a' + (int32_t)birdie_rng_below(&rng, 26);
            word_left--;
        }
    }
    *out = s;
    return 0;
}

void birdie_source_close(birdie_source *src)
{
    if (src)
        free(src->tokens);
    free(src);
}

int birdie_source_window(const birdie_source *src, birdie_rng *rng, int32_t *out, int n)
{
    if (n < 0 || n > src->n)
        return -ERANGE;
    uint64_t at = birdie_rng_below(rng, (uint64_t)(src->n - n) + 1);
    memcpy(out, src->tokens + at, (size_t)n * sizeof *out);
    return 0;
}

uint64_t birdie_source_tokens(const birdie_source *src)
{
    return (uint64_t)src->n;
}
