/* worker/objectives/autoencoding.c: autoencoding and autoencoding + deshuffling (docs/algorithm.md §2.7, v1).
 *
 * The v1 scan as in infilling, except that a masked span puts only its sentinel into P, nothing into
 * T, and also drops the token right after the span. T is the whole consumed text x[0..consumed).
 * With arm->shuffle, P's body is cut before every sentinel into pieces (piece 0 is the text before
 * the first sentinel), the pieces are shuffled uniformly and concatenated. The scan stops where the
 * next token or span would overrun the budget; redraws as infilling does. */
#include <errno.h>
#include <string.h>

#include "worker/objectives/objective_impl.h"
#include "worker/vocab.h"

#define MAX_TRIES 100

static int scan_once(const birdie_arm *arm, const int32_t *x, int n, int room, birdie_rng *rng, int32_t *body,
                     int *nbody, int *spans)
{
    birdie_span_scan scan = {0, 0};
    int pos = 0, np = 0, len;
    /* size so far: np (P body) + pos (T is x[0..pos)) */
    while (pos < n) {
        if (birdie_span_starts(arm, &scan, pos, rng, &len)) {
            int take = len + 1 < n - pos ? len + 1 : n - pos;
            if (np + 1 + pos + take > room)
                break;
            body[np++] = birdie_span_sentinel(arm, scan.spans++, rng);
            pos += take;
        } else {
            if (np + 1 + pos + 1 > room)
                break;
            body[np++] = x[pos++];
        }
    }
    *nbody = np;
    *spans = scan.spans;
    return pos;
}

static int is_sentinel(int32_t id)
{
    return id >= BIRDIE_SENTINEL0 && id < BIRDIE_SENTINEL0 + BIRDIE_NUM_SENTINELS;
}

/* Shuffles the pieces of body[0..n) in place, using work for the piece starts and work2 for a copy. */
static void shuffle_pieces(int32_t *body, int n, birdie_rng *rng, int32_t *starts, int32_t *copy)
{
    int pieces = 0;
    for (int i = 0; i < n; i++)
        if (i == 0 || is_sentinel(body[i]))
            starts[pieces++] = i;
    for (int i = pieces - 1; i > 0; i--) {
        int j = (int)birdie_rng_below(rng, (uint64_t)i + 1);
        int32_t t = starts[i];
        starts[i] = starts[j];
        starts[j] = t;
    }
    memcpy(copy, body, (size_t)n * sizeof *body);
    int out = 0;
    for (int p = 0; p < pieces; p++) {
        int b = starts[p], e = b + 1;
        while (e < n && !is_sentinel(copy[e]))
            e++;
        memcpy(body + out, copy + b, (size_t)(e - b) * sizeof *body);
        out += e - b;
    }
}

int birdie_autoencoding_apply(const birdie_arm *arm, const int32_t *x, int n, int budget, birdie_rng *rng,
                              birdie_paradigm par, birdie_sample *s)
{
    int room = budget - birdie_paradigm_size(par);
    int at = birdie_prefix_open(par, s);
    int32_t *body = s->prefix + at;
    for (int t = 0; t < MAX_TRIES; t++) {
        int nbody, spans;
        int consumed = scan_once(arm, x, n, room, rng, body, &nbody, &spans);
        if (spans == 0 || consumed < arm->min_len)
            continue;
        if (arm->shuffle)
            shuffle_pieces(body, nbody, rng, s->work, s->work2);
        birdie_prefix_close(par, s, at + nbody);
        memcpy(s->targets, x, (size_t)consumed * sizeof *x);
        s->ntargets = consumed;
        s->consumed = consumed;
        return 0;
    }
    s->nprefix = s->ntargets = 0;
    return -EAGAIN;
}
