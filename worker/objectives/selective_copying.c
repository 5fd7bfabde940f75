/* worker/objectives/selective_copying.c: selective copying (docs/algorithm.md §2.8, v1 with unique delimiters).
 *
 * The context is the chunk, cut so that K smallest super-spans still fit the budget (at least
 * min_len, else -ENOSPC). A super-span is (start delimiter, span, end delimiter); for each of the K
 * the three lengths are drawn uniformly in the arm's ranges, except that the upper ends are lowered
 * proportionally when K widest super-spans would not fit the context (c / K) or the budget left
 * after it: the default grid's ranges (span 12-48, delimiters 3-24, §2.10) make four of them wider than a 96-192
 * context on average, and v1's rejection of such draws would almost never succeed there.
 * Placement: the super-spans are laid out in a random order with gaps drawn as sorted uniform
 * points of the free space (never overlapping), then accepted if every delimiter pair is unique:
 * the start delimiter occurs exactly once in the context, and the first occurrence of the end
 * delimiter after it is right after the span, so "copy what lies between START and END" has one
 * answer. Up to 32 placements per size draw and 10 size draws, else -EAGAIN.
 *   prepend (query-context): P = [COPY] {[START] sd_k [END] ed_k} [CONTEXT] ctx
 *   append  (context-query): P = [CONTEXT] ctx [COPY] {[START] sd_k [END] ed_k}
 *   T = span_1 [SEP] span_2 ... span_K [DONE], in draw order (not context order). */
#include <errno.h>
#include <string.h>

#include "worker/objectives/objective_impl.h"
#include "worker/vocab.h"

#define MAX_SPANS 8
#define MAX_DRAWS 10
#define MAX_PLACEMENTS 32

typedef struct super_span {
    int start, sd, sp, ed; /* start position in the context and the three lengths */
} super_span;

static int occurs_at(const int32_t *ctx, int c, int at, const int32_t *pat, int len)
{
    return at + len <= c && !memcmp(ctx + at, pat, (size_t)len * sizeof *pat);
}

static int delimiters_unique(const int32_t *ctx, int c, const super_span *ss)
{
    const int32_t *sd = ctx + ss->start;
    for (int i = 0; i + ss->sd <= c; i++)
        if (i != ss->start && ctx[i] == sd[0] && occurs_at(ctx, c, i, sd, ss->sd))
            return 0;
    int span_at = ss->start + ss->sd, end_at = span_at + ss->sp;
    const int32_t *ed = ctx + end_at;
    for (int i = span_at; i < end_at; i++)
        if (ctx[i] == ed[0] && occurs_at(ctx, c, i, ed, ss->ed))
            return 0;
    return 1;
}

static int width(const super_span *s)
{
    return s->sd + s->sp + s->ed;
}

/* Uniform in [lo, lo + floor((hi - lo) * f)]. */
static int draw_scaled(birdie_rng *rng, int lo, int hi, double f)
{
    return (int)birdie_rng_range(rng, lo, lo + (int)((hi - lo) * f));
}

/* Lays the K super-spans out in the context in a random order with random gaps. */
static void place(super_span *ss, int K, int c, birdie_rng *rng)
{
    int order[MAX_SPANS], gap[MAX_SPANS], used = 0;
    for (int k = 0; k < K; k++) {
        used += width(&ss[k]);
        order[k] = k;
    }
    for (int k = K - 1; k > 0; k--) {
        int j = (int)birdie_rng_below(rng, (uint64_t)k + 1), t = order[k];
        order[k] = order[j];
        order[j] = t;
    }
    for (int k = 0; k < K; k++) { /* sorted points in [0, slack]: the free space before each */
        int g = (int)birdie_rng_below(rng, (uint64_t)(c - used) + 1), i = k;
        while (i > 0 && gap[i - 1] > g) {
            gap[i] = gap[i - 1];
            i--;
        }
        gap[i] = g;
    }
    int at = 0;
    for (int k = 0; k < K; k++) {
        super_span *s = &ss[order[k]];
        s->start = at + gap[k] - (k ? gap[k - 1] : 0);
        at = s->start + width(s);
    }
}

static int put(int32_t *dst, int at, const int32_t *src, int len)
{
    memcpy(dst + at, src, (size_t)len * sizeof *src);
    return at + len;
}

static int put_instruction(int32_t *p, int at, const int32_t *ctx, const super_span *ss, int K)
{
    p[at++] = BIRDIE_COPY;
    for (int k = 0; k < K; k++) {
        p[at++] = BIRDIE_START;
        at = put(p, at, ctx + ss[k].start, ss[k].sd);
        p[at++] = BIRDIE_END;
        at = put(p, at, ctx + ss[k].start + ss[k].sd + ss[k].sp, ss[k].ed);
    }
    return at;
}

static int put_context(int32_t *p, int at, const int32_t *ctx, int c)
{
    p[at++] = BIRDIE_CONTEXT;
    return put(p, at, ctx, c);
}

static void write_sample(const birdie_arm *arm, const int32_t *x, int c, const super_span *ss, birdie_paradigm par,
                         birdie_sample *s)
{
    const int K = arm->spans;
    int at = birdie_prefix_open(par, s);
    if (arm->layout_append)
        at = put_instruction(s->prefix, put_context(s->prefix, at, x, c), x, ss, K);
    else
        at = put_context(s->prefix, put_instruction(s->prefix, at, x, ss, K), x, c);
    birdie_prefix_close(par, s, at);
    int nt = 0;
    for (int k = 0; k < K; k++) {
        nt = put(s->targets, nt, x + ss[k].start + ss[k].sd, ss[k].sp);
        s->targets[nt++] = k + 1 < K ? BIRDIE_SEP : BIRDIE_DONE;
    }
    s->ntargets = nt;
    s->consumed = c;
}

int birdie_selective_copying_apply(const birdie_arm *arm, const int32_t *x, int n, int budget, birdie_rng *rng,
                                   birdie_paradigm par, birdie_sample *s)
{
    const int K = arm->spans;
    /* size = c + fixed + sum of widths, fixed = [CONTEXT] [COPY] + per span [START] [END] [SEP|DONE] */
    const int fixed = 2 + birdie_paradigm_size(par) + 3 * K;
    const int wmin = 2 * arm->delim_min + arm->span_min, wmax = 2 * arm->delim_max + arm->span_max;
    int c = budget - fixed - K * wmin < n ? budget - fixed - K * wmin : n;
    if (c < arm->min_len)
        return -ENOSPC;
    int cap = c / K < (budget - fixed - c) / K ? c / K : (budget - fixed - c) / K;
    if (cap > wmax)
        cap = wmax;
    double f = wmax > wmin ? (double)(cap - wmin) / (wmax - wmin) : 0.0;
    super_span ss[MAX_SPANS];
    for (int d = 0; d < MAX_DRAWS; d++) {
        for (int k = 0; k < K; k++) {
            ss[k].sp = draw_scaled(rng, arm->span_min, arm->span_max, f);
            ss[k].sd = draw_scaled(rng, arm->delim_min, arm->delim_max, f);
            ss[k].ed = draw_scaled(rng, arm->delim_min, arm->delim_max, f);
        }
        for (int p = 0; p < MAX_PLACEMENTS; p++) {
            place(ss, K, c, rng);
            int ok = 1;
            for (int k = 0; k < K && ok; k++)
                ok = delimiters_unique(x, c, &ss[k]);
            if (ok) {
                write_sample(arm, x, c, ss, par, s);
                return 0;
            }
        }
    }
    s->nprefix = s->ntargets = 0;
    return -EAGAIN;
}
