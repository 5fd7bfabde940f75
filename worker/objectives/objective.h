/* worker/objectives/objective.h: the sample contract (docs/algorithm.md §2.1) and the objective
 * functions that turn a chunk of text into one sample (docs/algorithm.md §2.2-§2.8).
 *
 * A sample is a pair (prefix P, targets T). Packed, it occupies |P| + |T| positions:
 * P, BEGIN, T[0..|T|-2] with labels ignore x |P|, T[0..|T|-1] (packer.h). Every objective but NTP
 * puts its class paradigm token (BIRDIE_PARADIGM0 + class) at the start or at the end of P, each
 * with probability 1/2, when arm->paradigm is set.
 *
 * Each objective reads a chunk x[0..n) with n >= arm->min_len and spends at most `budget`
 * positions. It consumes a leading part x[0..consumed) of the chunk, with
 * arm->min_len <= consumed <= min(n, arm->max_len); text past `consumed` is unused. How each class
 * uses the budget:
 *   ntp          P = {}, T = x                     size L
 *   prefix_lm    P = x[0..s), T = x[s..L)          size L + p, s ~ U[L*f - L*m, L*f + L*m] clamped
 *                                                  to [4, L-4], m = min(f, 1-f)  (v1)
 *   copying      P = x, T = x                      size 2L + p
 *   deshuffling  P = x with floor(L*share) chosen positions permuted, T = x      size 2L + p
 *   infilling    v1 span corruption: P = text with each masked span replaced by a sentinel,
 *                T = span_1 sentinel_1 span_2 sentinel_2 ...   size L + 2*spans + p; the scan stops
 *                consuming where the budget ends
 *   autoencoding v1: P = text with each masked span and the token after it replaced by a sentinel
 *                (pieces shuffled when arm->shuffle), T = x[0..consumed)   size |P| + L
 *   selective_copying  P = [CONTEXT] ctx [COPY] {[START] sd [END] ed}  (append) or the instruction
 *                first (prepend); T = span_1 [SEP] ... span_K [DONE]; the context is cut to fit,
 *                and span/delimiter lengths are narrowed where K of them would not fit (see
 *                selective_copying.c)
 * (p = 1 with a paradigm token, else 0.) Infilling and autoencoding redraw (same chunk, continued
 * stream, at most 100 times) until at least one span is masked and min_len tokens are consumed;
 * selective copying redraws placements and sizes (at most 32 x 10 times) until every delimiter
 * pair is unique. Sentinels: at most BIRDIE_NUM_SENTINELS spans per sample (later positions are
 * kept as text).
 */
#ifndef BIRDIE_OBJECTIVES_OBJECTIVE_H
#define BIRDIE_OBJECTIVES_OBJECTIVE_H

#include <stddef.h>
#include <stdint.h>

#include "worker/objectives/arm.h"
#include "worker/rng.h"

/* One sample and the scratch its objective needs; every buffer holds `cap` tokens, so one sample
 * struct sized by the row length T serves every sample of a row without allocation. */
typedef struct birdie_sample {
    int cap;
    int32_t *prefix, *targets;
    int nprefix, ntargets;
    int consumed; /* chunk tokens used */
    int32_t *work, *work2; /* objective scratch */
} birdie_sample;

int birdie_sample_init(birdie_sample *s, int cap);
void birdie_sample_free(birdie_sample *s);

/* Applies arm to chunk[0..n) within `budget` positions (budget <= s->cap), drawing from rng.
 * Returns 0, or
 *   -EINVAL  n < arm->min_len, budget > s->cap, or a bad argument (message says which),
 *   -ENOSPC  the budget cannot hold a sample of this arm (a caller may draw another arm),
 *   -EAGAIN  no valid sample within the bounded redraws (no span masked, no unique delimiters).
 */
int birdie_objective_apply(const birdie_arm *arm, const int32_t *chunk, int n, int budget, birdie_rng *rng,
                           birdie_sample *s, char *err, size_t errlen);

#endif
