/* worker/objectives/infilling.c: infilling / span corruption (docs/algorithm.md §2.6, v1 semantics).
 *
 * Scanning the chunk left to right (span.c decides where spans start and how long they are), a
 * kept token goes to P; a masked span goes to T followed by its sentinel, and the sentinel alone
 * goes to P. So P (without the paradigm) and T re-assemble x[0..consumed): replace each sentinel of
 * P by the T tokens before that sentinel's occurrence in T. The scan stops where the next token or
 * span would overrun the budget. Redraws (same chunk, continued stream, at most 100 times) until a
 * span was masked and at least min_len tokens were consumed, else -EAGAIN. */
#include <errno.h>
#include <string.h>

#include "worker/objectives/objective_impl.h"

#define MAX_TRIES 100

/* One scan; returns the tokens consumed and writes P's body at prefix + at. */
static int scan_once(const birdie_arm *arm, const int32_t *x, int n, int room, birdie_rng *rng, int32_t *body,
                     birdie_sample *s, int *spans)
{
    birdie_span_scan scan = {0, 0};
    int pos = 0, np = 0, nt = 0, len;
    while (pos < n) {
        if (birdie_span_starts(arm, &scan, pos, rng, &len)) {
            int take = len < n - pos ? len : n - pos;
            if (np + nt + take + 2 > room)
                break;
            int32_t sentinel = birdie_span_sentinel(arm, scan.spans++, rng);
            body[np++] = sentinel;
            memcpy(s->targets + nt, x + pos, (size_t)take * sizeof *x);
            nt += take;
            s->targets[nt++] = sentinel;
            pos += take;
        } else {
            if (np + nt + 1 > room)
                break;
            body[np++] = x[pos++];
        }
    }
    s->nprefix = np;
    s->ntargets = nt;
    *spans = scan.spans;
    return pos;
}

int birdie_infilling_apply(const birdie_arm *arm, const int32_t *x, int n, int budget, birdie_rng *rng,
                           birdie_paradigm par, birdie_sample *s)
{
    int room = budget - birdie_paradigm_size(par);
    int at = birdie_prefix_open(par, s);
    for (int t = 0; t < MAX_TRIES; t++) {
        int spans;
        int consumed = scan_once(arm, x, n, room, rng, s->prefix + at, s, &spans);
        if (spans > 0 && consumed >= arm->min_len) {
            birdie_prefix_close(par, s, at + s->nprefix);
            s->consumed = consumed;
            return 0;
        }
    }
    s->nprefix = s->ntargets = 0;
    return -EAGAIN;
}
