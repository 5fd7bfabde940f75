/* worker/objectives/objective_impl.h: what the per-class objective files share (internal header;
 * callers use objective.h). Holds the class entry points and the paradigm-token placement. */
#ifndef BIRDIE_OBJECTIVES_OBJECTIVE_IMPL_H
#define BIRDIE_OBJECTIVES_OBJECTIVE_IMPL_H

#include "worker/objectives/objective.h"

/* Each class function gets n >= arm->min_len, budget <= s->cap, and a placement already drawn:
 * par > 0 is the paradigm id and par_first says whether it opens or closes P (par 0: none).
 * Same return codes as birdie_objective_apply; messages are written by the dispatcher for
 * -ENOSPC and -EAGAIN. */
typedef struct birdie_paradigm {
    int32_t id; /* 0: no paradigm token */
    int first; /* 1: at P[0], else appended after the body */
} birdie_paradigm;

int birdie_ntp_apply(const birdie_arm *arm, const int32_t *x, int n, int budget, birdie_rng *rng, birdie_paradigm par,
                     birdie_sample *s);
int birdie_prefix_lm_apply(const birdie_arm *arm, const int32_t *x, int n, int budget, birdie_rng *rng,
                           birdie_paradigm par, birdie_sample *s);
int birdie_copying_apply(const birdie_arm *arm, const int32_t *x, int n, int budget, birdie_rng *rng,
                         birdie_paradigm par, birdie_sample *s);
int birdie_deshuffling_apply(const birdie_arm *arm, const int32_t *x, int n, int budget, birdie_rng *rng,
                             birdie_paradigm par, birdie_sample *s);
int birdie_infilling_apply(const birdie_arm *arm, const int32_t *x, int n, int budget, birdie_rng *rng,
                           birdie_paradigm par, birdie_sample *s);
int birdie_autoencoding_apply(const birdie_arm *arm, const int32_t *x, int n, int budget, birdie_rng *rng,
                              birdie_paradigm par, birdie_sample *s);
int birdie_selective_copying_apply(const birdie_arm *arm, const int32_t *x, int n, int budget, birdie_rng *rng,
                                   birdie_paradigm par, birdie_sample *s);

/* Number of prefix slots the paradigm takes (0 or 1). */
static inline int birdie_paradigm_size(birdie_paradigm par)
{
    return par.id ? 1 : 0;
}

/* Where the body of P starts: after a leading paradigm token, which this writes. */
static inline int birdie_prefix_open(birdie_paradigm par, birdie_sample *s)
{
    if (par.id && par.first) {
        s->prefix[0] = par.id;
        return 1;
    }
    return 0;
}

/* Sets nprefix from the body's end, appending a trailing paradigm token if that is its place. */
static inline void birdie_prefix_close(birdie_paradigm par, birdie_sample *s, int body_end)
{
    if (par.id && !par.first)
        s->prefix[body_end++] = par.id;
    s->nprefix = body_end;
}

/* The span machinery of infilling and autoencoding (span.c): v1's scan, one position at a time. */
typedef struct birdie_span_scan {
    int spans; /* spans masked so far */
    int next_free; /* first position where a new span may start (v1 minimum gap) */
} birdie_span_scan;

/* Whether a span starts at pos; if so, *len gets its length and the gap rule is advanced. */
int birdie_span_starts(const birdie_arm *arm, birdie_span_scan *scan, int pos, birdie_rng *rng, int *len);
/* Sentinel id of the k-th span of a sample. */
int32_t birdie_span_sentinel(const birdie_arm *arm, int k, birdie_rng *rng);

#endif
