/* tests/worker/objectives/test_objectives.c: the invariants of docs/algorithm.md §5 for every objective, checked over the
 * default grid and extra arms, many seeds, chunk lengths (at and below the minimum) and budgets:
 *   copying T = chunk; deshuffling P is a permutation of T moving only the chosen positions;
 *   infilling P + T re-assemble the chunk (and v1's gap rule holds); autoencoding T = chunk and P
 *   without sentinels is a subsequence of it, with at least one token dropped per span (pieces put
 *   back in order when shuffled); selective-copying targets lie in the context between their
 *   delimiters, which are unique; plus the paradigm token, sizes and consumed lengths. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/worker/objectives/fake_source.h"
#include "worker/objectives/objective.h"
#include "worker/vocab.h"

#define CAP 2048
#define FAIL(...) (snprintf(why, whylen, __VA_ARGS__), -1)

static int is_sentinel(int32_t t)
{
    return t >= BIRDIE_SENTINEL0 && t < BIRDIE_SENTINEL0 + BIRDIE_NUM_SENTINELS;
}

static int is_text(int32_t t)
{
    return t >= 0 && t <= BIRDIE_EOS;
}

static int same(const int32_t *a, const int32_t *b, int n)
{
    return n == 0 || !memcmp(a, b, (size_t)n * sizeof *a);
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static int check_deshuffling(const birdie_arm *arm, const int32_t *x, int c, const int32_t *b, int nb, char *why,
                             size_t whylen)
{
    if (nb != c)
        return FAIL("prefix has %d tokens for a chunk of %d", nb, c);
    int moved = 0;
    for (int i = 0; i < c; i++)
        moved += b[i] != x[i];
    if (moved > (int)(c * arm->share))
        return FAIL("%d positions moved, at most %d chosen", moved, (int)(c * arm->share));
    int32_t *s1 = malloc((size_t)c * sizeof *s1), *s2 = malloc((size_t)c * sizeof *s2);
    memcpy(s1, x, (size_t)c * sizeof *s1);
    memcpy(s2, b, (size_t)c * sizeof *s2);
    qsort(s1, (size_t)c, sizeof *s1, cmp_i32);
    qsort(s2, (size_t)c, sizeof *s2, cmp_i32);
    int perm = same(s1, s2, c);
    free(s1);
    free(s2);
    return perm ? 0 : FAIL("prefix is not a permutation of the chunk");
}

static int check_infilling(const birdie_arm *arm, const int32_t *x, int c, const int32_t *b, int nb, const int32_t *t,
                           int nt, char *why, size_t whylen)
{
    int xi = 0, ti = 0, spans = 0, kept_since = -1, last_span = 0;
    for (int i = 0; i < nb; i++) {
        if (!is_sentinel(b[i])) {
            if (xi >= c || b[i] != x[xi])
                return FAIL("kept token %d of the prefix does not match chunk position %d", i, xi);
            xi++;
            if (kept_since >= 0)
                kept_since++;
            continue;
        }
        if (!arm->random_sentinels && b[i] != BIRDIE_SENTINEL0 + spans)
            return FAIL("span %d has sentinel %d, expected %d", spans, b[i], BIRDIE_SENTINEL0 + spans);
        if (kept_since >= 0 && kept_since < last_span / 3 + 2)
            return FAIL("only %d kept tokens after a span of %d (v1 gap rule)", kept_since, last_span);
        int len = 0;
        while (ti < nt && !is_sentinel(t[ti])) {
            if (xi >= c || t[ti] != x[xi])
                return FAIL("target token %d does not match chunk position %d", ti, xi);
            ti++, xi++, len++;
        }
        if (ti >= nt || t[ti] != b[i] || len == 0)
            return FAIL("span %d: targets do not end with its sentinel or are empty", spans);
        ti++;
        spans++;
        kept_since = 0;
        last_span = len;
    }
    if (spans == 0)
        return FAIL("no span masked");
    if (ti != nt || xi != c)
        return FAIL("re-assembly used %d of %d targets and %d of %d chunk tokens", ti, nt, xi, c);
    return 0;
}

/* Unshuffled autoencoding prefix body: kept tokens continue the chunk, and each sentinel stands for
 * at least one masked token plus the dropped one. Runs after a sentinel are matched earliest-first. */
static int ae_in_order(const birdie_arm *arm, const int32_t *x, int c, const int32_t *b, int nb, char *why,
                       size_t whylen)
{
    int xi = 0, spans = 0, after_sentinel = 0;
    for (int i = 0; i < nb; i++) {
        if (is_sentinel(b[i])) {
            if (!arm->random_sentinels && b[i] != BIRDIE_SENTINEL0 + spans)
                return FAIL("span %d has sentinel %d", spans, b[i]);
            spans++;
            xi += 2;
            after_sentinel = 1;
            continue;
        }
        if (after_sentinel) {
            int run = 0;
            while (i + run < nb && !is_sentinel(b[i + run]))
                run++;
            while (xi + run <= c && !same(x + xi, b + i, run))
                xi++;
            if (xi + run > c)
                return FAIL("kept run at prefix position %d is not in the chunk after the span", i);
            after_sentinel = 0;
        }
        if (xi >= c || b[i] != x[xi])
            return FAIL("kept token %d does not continue the chunk at %d", i, xi);
        xi++;
    }
    return spans ? 0 : FAIL("no span masked");
}

/* Shuffled pieces with sequential sentinels: the pieces ordered by sentinel id are the scan order.
 * The text before the first sentinel (piece 0) is either still in front or, moved behind some
 * sentinel piece, merged with that piece's tail (v1 cuts only before sentinels); every such split
 * that starts the chunk is tried. */
static int ae_unshuffled(const birdie_arm *arm, const int32_t *x, int c, const int32_t *b, int nb, char *why,
                         size_t whylen)
{
    int at[BIRDIE_NUM_SENTINELS], len[BIRDIE_NUM_SENTINELS], pieces = 0, lead = 0;
    while (lead < nb && !is_sentinel(b[lead]))
        lead++;
    for (int s = 0; s < BIRDIE_NUM_SENTINELS; s++)
        for (int i = lead; i < nb; i++)
            if (b[i] == BIRDIE_SENTINEL0 + s) {
                int e = i + 1;
                while (e < nb && !is_sentinel(b[e]))
                    e++;
                at[pieces] = i;
                len[pieces++] = e - i;
            }
    int32_t *ordered = malloc((size_t)(nb + 1) * sizeof *ordered);
    int ok = 0;
    for (int j = -1; j < pieces && !ok; j++) { /* j: the piece holding piece 0 as its tail */
        for (int tail = j < 0 ? 0 : 1; tail < (j < 0 ? 1 : len[j]) && !ok; tail++) {
            int o = 0;
            if (j >= 0)
                o = (int)(memcpy(ordered, b + at[j] + len[j] - tail, (size_t)tail * 4), tail);
            else
                o = (int)(memcpy(ordered, b, (size_t)lead * 4), lead);
            if (!same(ordered, x, o < c ? o : c))
                continue;
            for (int k = 0; k < pieces; k++) {
                int l = k == j ? len[k] - tail : len[k];
                memcpy(ordered + o, b + at[k], (size_t)l * 4);
                o += l;
            }
            ok = ae_in_order(arm, x, c, ordered, o, why, whylen) == 0;
        }
    }
    free(ordered);
    return ok ? 0 : FAIL("no order of the shuffled pieces re-assembles the chunk (%d pieces)", pieces);
}

static int check_autoencoding(const birdie_arm *arm, const int32_t *x, int c, const int32_t *b, int nb,
                              const int32_t *t, int nt, char *why, size_t whylen)
{
    if (nt != c || !same(t, x, c))
        return FAIL("targets are not the consumed chunk");
    if (!arm->shuffle)
        return ae_in_order(arm, x, c, b, nb, why, whylen);
    if (!arm->random_sentinels)
        return ae_unshuffled(arm, x, c, b, nb, why, whylen);
    int spans = 0; /* random ids, shuffled: no order to recover; kept tokens must come from the chunk */
    for (int i = 0; i < nb; i++)
        spans += is_sentinel(b[i]);
    return spans ? 0 : FAIL("no span masked");
}

static int count_occurrences(const int32_t *ctx, int c, const int32_t *pat, int len, int from, int *first)
{
    int hits = 0;
    *first = -1;
    for (int i = from; i + len <= c; i++)
        if (same(ctx + i, pat, len)) {
            if (*first < 0)
                *first = i;
            hits++;
        }
    return hits;
}

static int check_selective_copying(const birdie_arm *arm, const int32_t *x, int c, const int32_t *b, int nb,
                                   const int32_t *t, int nt, char *why, size_t whylen)
{
    int K = arm->spans, ctx_at, instr_at;
    if (arm->layout_append) {
        ctx_at = 1;
        instr_at = 1 + c;
        if (b[0] != BIRDIE_CONTEXT)
            return FAIL("append layout does not open with [CONTEXT]");
    } else {
        instr_at = 0;
        ctx_at = nb - c;
        if (b[ctx_at - 1] != BIRDIE_CONTEXT)
            return FAIL("prepend layout: no [CONTEXT] before the context");
    }
    if (!same(b + ctx_at, x, c))
        return FAIL("context is not the chunk");
    if (b[instr_at] != BIRDIE_COPY)
        return FAIL("instruction does not open with [COPY]");
    int i = instr_at + 1, ti = 0;
    int starts[8], ends[8];
    for (int k = 0; k < K; k++) {
        if (b[i++] != BIRDIE_START)
            return FAIL("span %d: no [START]", k);
        int sd = i;
        while (i < nb && is_text(b[i]))
            i++;
        int sdl = i - sd;
        if (b[i++] != BIRDIE_END)
            return FAIL("span %d: no [END]", k);
        int ed = i;
        while (i < nb && is_text(b[i]) && (arm->layout_append || i < ctx_at - 1))
            i++;
        int edl = i - ed;
        int sp = ti;
        while (ti < nt && is_text(t[ti]))
            ti++;
        int spl = ti - sp;
        int32_t marker = t[ti++];
        if (marker != (k + 1 < K ? BIRDIE_SEP : BIRDIE_DONE))
            return FAIL("span %d: target ends with %d", k, marker);
        if (sdl < arm->delim_min || sdl > arm->delim_max || edl < arm->delim_min || edl > arm->delim_max ||
            spl < arm->span_min || spl > arm->span_max)
            return FAIL("span %d: lengths %d/%d/%d out of the arm's ranges", k, sdl, spl, edl);
        int first;
        if (count_occurrences(x, c, b + sd, sdl, 0, &first) != 1)
            return FAIL("span %d: start delimiter is not unique in the context", k);
        int span_at = first + sdl;
        if (span_at + spl + edl > c || !same(x + span_at, t + sp, spl))
            return FAIL("span %d: target is not what follows its start delimiter", k);
        int end_first;
        count_occurrences(x, c, b + ed, edl, span_at, &end_first);
        if (end_first != span_at + spl)
            return FAIL("span %d: first end delimiter after the start is at %d, not %d", k, end_first, span_at + spl);
        starts[k] = first;
        ends[k] = span_at + spl + edl;
        for (int j = 0; j < k; j++)
            if (starts[k] < ends[j] && starts[j] < ends[k])
                return FAIL("spans %d and %d overlap", j, k);
    }
    if (ti != nt || (arm->layout_append ? i != nb : i != ctx_at - 1))
        return FAIL("extra tokens after the %d spans", K);
    return 0;
}

/* Checks one sample of arm made from x[0..n) within budget. */
static int check_sample(const birdie_arm *arm, const int32_t *x, int n, int budget, const birdie_sample *s, char *why,
                        size_t whylen)
{
    int c = s->consumed, hi = n < arm->max_len ? n : arm->max_len;
    if (s->nprefix + s->ntargets > budget)
        return FAIL("sample of %d positions over the budget %d", s->nprefix + s->ntargets, budget);
    if (c < arm->min_len || c > hi || s->ntargets < 1)
        return FAIL("consumed %d outside [%d, %d] or no targets", c, arm->min_len, hi);
    const int32_t *b = s->prefix;
    int nb = s->nprefix;
    const int32_t par = BIRDIE_PARADIGM0 + (int32_t)arm->cls;
    if (arm->paradigm) {
        if (nb > 0 && b[0] == par)
            b++, nb--;
        else if (nb > 0 && b[nb - 1] == par)
            nb--;
        else
            return FAIL("no paradigm token at either end of the prefix");
    }
    for (int i = 0; i < nb; i++)
        if (b[i] >= BIRDIE_PARADIGM0 && b[i] < BIRDIE_PARADIGM0 + BIRDIE_NUM_PARADIGMS)
            return FAIL("a paradigm token inside the prefix body at %d", i);
    const int32_t *t = s->targets;
    int nt = s->ntargets;
    switch (arm->cls) {
    case BIRDIE_OBJ_NTP: return nb == 0 && nt == c && same(t, x, c) ? 0 : FAIL("ntp: P must be empty and T the chunk");
    case BIRDIE_OBJ_PREFIX_LM:
        if (nb < 4 || nt < 4 || nb + nt != c || !same(b, x, nb) || !same(t, x + nb, nt))
            return FAIL("prefix_lm: P + T is not the chunk split with 4 on each side");
        return 0;
    case BIRDIE_OBJ_COPYING:
        return nb == c && nt == c && same(b, x, c) && same(t, x, c) ? 0 : FAIL("copying: P and T must be the chunk");
    case BIRDIE_OBJ_DESHUFFLING:
        if (nt != c || !same(t, x, c))
            return FAIL("deshuffling: T is not the chunk");
        return check_deshuffling(arm, x, c, b, nb, why, whylen);
    case BIRDIE_OBJ_INFILLING: return check_infilling(arm, x, c, b, nb, t, nt, why, whylen);
    case BIRDIE_OBJ_AUTOENCODING: return check_autoencoding(arm, x, c, b, nb, t, nt, why, whylen);
    case BIRDIE_OBJ_SELECTIVE_COPYING: return check_selective_copying(arm, x, c, b, nb, t, nt, why, whylen);
    default: return FAIL("unknown class");
    }
}

static birdie_arm_set arms;
static birdie_source *text;
static birdie_sample sample;
static int32_t chunk[CAP];

static int setup(void **state)
{
    (void)state;
    char err[256];
    const char *specs[] = {
        "default",
        "infill len=1-40 rate=1 width=1 sentinels=random name=infill_dense",
        "infill len=300-600 rate=0.5 width=2 name=infill_many_spans",
        "ae len=20-300 rate=0.5 width=3 shuffle=on name=ae_shuf_seq",
        "ae len=20-300 rate=0.5 width=3 shuffle=on sentinels=random name=ae_shuf_rnd",
        "copy len=1-9 paradigm=off name=copy_tiny",
        "deshuffle len=2-50 share=0.3 name=desh_30",
        "plm len=8-20 split=0.5 name=plm_short",
        "selcopy len=100-300 spans=8 span=1-4 delim=3-6 layout=append name=selcopy_many",
    };
    if (birdie_arm_set_from_specs(&arms, specs, sizeof specs / sizeof *specs, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    if (fake_source_open(&text, 11, 1 << 16, FAKE_WORDS) || birdie_sample_init(&sample, CAP))
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    birdie_arm_set_free(&arms);
    birdie_source_close(text);
    birdie_sample_free(&sample);
    return 0;
}

/* One case: chunk length n and budget drawn per seed; returns the objective's rc. Fails the test
 * on a broken invariant or an unexpected rc. */
static int run_case(const birdie_arm *arm, uint64_t seed, int n, int budget)
{
    birdie_rng data = birdie_rng_stream(seed, 1, (uint64_t)(arm - arms.arms), BIRDIE_RNG_DATA);
    assert_int_equal(birdie_source_window(text, &data, chunk, n), 0);
    birdie_rng rng = birdie_rng_stream(seed, 2, (uint64_t)(arm - arms.arms), BIRDIE_RNG_OBJECTIVE);
    char err[256] = "", why[256] = "";
    int rc = birdie_objective_apply(arm, chunk, n, budget, &rng, &sample, err, sizeof err);
    if (rc == 0 && check_sample(arm, chunk, n, budget, &sample, why, sizeof why)) {
        print_error("arm %s seed %llu n %d budget %d: %s\n", arm->name, (unsigned long long)seed, n, budget, why);
        fail();
    }
    if (rc && (rc != -EAGAIN && rc != -ENOSPC)) {
        print_error("arm %s seed %llu n %d budget %d: rc %d (%s)\n", arm->name, (unsigned long long)seed, n, budget, rc,
                    err);
        fail();
    }
    if (rc && !strstr(err, arm->name)) {
        print_error("arm %s: message does not name the arm: %s\n", arm->name, err);
        fail();
    }
    return rc;
}

/* With a roomy budget every arm succeeds (almost always: infilling may find no span in 100 tries,
 * selective copying no unique delimiters), at its minimum, maximum and random lengths. */
static void test_invariants_roomy_budget(void **state)
{
    (void)state;
    for (int a = 0; a < arms.n; a++) {
        const birdie_arm *arm = &arms.arms[a];
        int fails = 0, cases = 0;
        for (uint64_t seed = 0; seed < 150; seed++) {
            birdie_rng pick = birdie_rng_stream(seed, 3, (uint64_t)a, BIRDIE_RNG_TEST);
            int n = seed == 0   ? arm->min_len
                    : seed == 1 ? arm->max_len
                                : (int)birdie_rng_range(&pick, arm->min_len, arm->max_len);
            if (n > CAP)
                n = CAP;
            int budget = birdie_arm_min_size(arm) + 2 * n + 600;
            if (budget > CAP)
                budget = CAP;
            fails += run_case(arm, seed, n, budget) != 0;
            cases++;
        }
        if (fails * 20 > cases) {
            print_error("arm %s: %d of %d samples failed with a roomy budget\n", arm->name, fails, cases);
            fail();
        }
    }
}

/* Budgets from the arm's minimum upwards: never over budget, never a crash, and the fixed-size
 * classes never refuse a budget >= birdie_arm_min_size. */
static void test_invariants_tight_budgets(void **state)
{
    (void)state;
    for (int a = 0; a < arms.n; a++) {
        const birdie_arm *arm = &arms.arms[a];
        int need = birdie_arm_min_size(arm);
        for (uint64_t seed = 0; seed < 100; seed++) {
            birdie_rng pick = birdie_rng_stream(seed, 4, (uint64_t)a, BIRDIE_RNG_TEST);
            int n = (int)birdie_rng_range(&pick, arm->min_len, arm->max_len < CAP ? arm->max_len : CAP);
            int budget = need + (int)birdie_rng_below(&pick, (uint64_t)(2 * n + 1));
            if (budget > CAP)
                budget = CAP;
            int rc = run_case(arm, seed, n, budget);
            if (arm->cls <= BIRDIE_OBJ_DESHUFFLING)
                assert_int_equal(rc, 0);
        }
    }
}

static void test_below_minimum_is_a_clear_error(void **state)
{
    (void)state;
    for (int a = 0; a < arms.n; a++) {
        const birdie_arm *arm = &arms.arms[a];
        char err[256] = "";
        birdie_rng rng = birdie_rng_stream(1, 0, 0, BIRDIE_RNG_TEST);
        for (int n = arm->min_len - 1; n >= 0 && n >= arm->min_len - 3; n--) {
            assert_int_equal(birdie_objective_apply(arm, chunk, n, CAP, &rng, &sample, err, sizeof err), -EINVAL);
            assert_non_null(strstr(err, arm->name));
            assert_non_null(strstr(err, "below its minimum"));
        }
        int need = birdie_arm_min_size(arm);
        assert_int_equal(birdie_objective_apply(arm, chunk, arm->min_len, need - 1, &rng, &sample, err, sizeof err),
                         -ENOSPC);
        assert_non_null(strstr(err, arm->name));
        assert_int_equal(birdie_objective_apply(arm, chunk, arm->min_len, CAP + 1, &rng, &sample, err, sizeof err),
                         -EINVAL);
    }
}

static void test_paradigm_placement(void **state)
{
    (void)state;
    const birdie_arm *arm = &arms.arms[birdie_arm_set_find(&arms, "copy.l32-64")];
    int first = 0, last = 0;
    for (uint64_t seed = 0; seed < 400; seed++) {
        assert_int_equal(run_case(arm, seed, 40, 200), 0);
        first += sample.prefix[0] == BIRDIE_PARADIGM0 + BIRDIE_OBJ_COPYING;
        last += sample.prefix[sample.nprefix - 1] == BIRDIE_PARADIGM0 + BIRDIE_OBJ_COPYING;
    }
    assert_int_equal(first + last, 400);
    assert_true(first > 150 && last > 150);
    const birdie_arm *off = &arms.arms[birdie_arm_set_find(&arms, "copy_tiny")];
    assert_int_equal(run_case(off, 5, 9, 40), 0);
    assert_int_equal(sample.nprefix, 9);
}

/* Shuffling really moves tokens, and autoencoding really shuffles pieces (both are checked for
 * what they may do above; here that they do it). */
static void test_shuffles_happen(void **state)
{
    (void)state;
    const birdie_arm *desh = &arms.arms[birdie_arm_set_find(&arms, "deshuffle.l128-256.p100")];
    const birdie_arm *ae = &arms.arms[birdie_arm_set_find(&arms, "ae_shuf_seq")];
    int moved = 0, reordered = 0;
    for (uint64_t seed = 0; seed < 20; seed++) {
        assert_int_equal(run_case(desh, seed, 200, 600), 0);
        for (int i = 0; i < 200; i++)
            moved += sample.prefix[i + (sample.prefix[0] >= BIRDIE_PARADIGM0)] != chunk[i];
        if (run_case(ae, seed, 200, 600) == 0) {
            int32_t prev = -1;
            for (int i = 0; i < sample.nprefix; i++)
                if (sample.prefix[i] >= BIRDIE_SENTINEL0) {
                    reordered += sample.prefix[i] < prev;
                    prev = sample.prefix[i];
                }
        }
    }
    assert_true(moved > 20 * 150);
    assert_true(reordered > 10);
}

static void test_determinism(void **state)
{
    (void)state;
    birdie_sample other;
    assert_int_equal(birdie_sample_init(&other, CAP), 0);
    for (int a = 0; a < arms.n; a++) {
        const birdie_arm *arm = &arms.arms[a];
        int n = arm->max_len < 300 ? arm->max_len : 300;
        if (n < arm->min_len)
            n = arm->min_len;
        char err[256];
        birdie_rng r1 = birdie_rng_stream(9, 9, (uint64_t)a, BIRDIE_RNG_OBJECTIVE), r2 = r1;
        birdie_rng d = birdie_rng_stream(9, 9, (uint64_t)a, BIRDIE_RNG_DATA);
        assert_int_equal(birdie_source_window(text, &d, chunk, n), 0);
        int rc1 = birdie_objective_apply(arm, chunk, n, CAP, &r1, &sample, err, sizeof err);
        int rc2 = birdie_objective_apply(arm, chunk, n, CAP, &r2, &other, err, sizeof err);
        assert_int_equal(rc1, rc2);
        assert_int_equal(sample.nprefix, other.nprefix);
        assert_int_equal(sample.ntargets, other.ntargets);
        assert_memory_equal(sample.prefix, other.prefix, (size_t)sample.nprefix * sizeof(int32_t));
        assert_memory_equal(sample.targets, other.targets, (size_t)sample.ntargets * sizeof(int32_t));
    }
    birdie_sample_free(&other);
}

/* Text with no unique delimiter (one repeated letter) and no room: selective copying gives up with
 * a clear error instead of looping or crashing. */
static void test_selective_copying_gives_up(void **state)
{
    (void)state;
    birdie_source *flat;
    assert_int_equal(fake_source_open(&flat, 1, 4096, FAKE_CONSTANT), 0);
    const birdie_arm *arm = &arms.arms[birdie_arm_set_find(&arms, "selcopy.l96-192.k2.pre")];
    birdie_rng d = birdie_rng_stream(1, 0, 0, BIRDIE_RNG_DATA), r = birdie_rng_stream(1, 0, 0, BIRDIE_RNG_TEST);
    assert_int_equal(birdie_source_window(flat, &d, chunk, 150), 0);
    char err[256] = "";
    assert_int_equal(birdie_objective_apply(arm, chunk, 150, CAP, &r, &sample, err, sizeof err), -EAGAIN);
    assert_non_null(strstr(err, arm->name));
    birdie_source_close(flat);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_invariants_roomy_budget),
        cmocka_unit_test(test_invariants_tight_budgets),
        cmocka_unit_test(test_below_minimum_is_a_clear_error),
        cmocka_unit_test(test_paradigm_placement),
        cmocka_unit_test(test_shuffles_happen),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_selective_copying_gives_up),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
