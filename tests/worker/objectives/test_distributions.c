/* tests/worker/objectives/test_distributions.c: the objectives' random draws against the arm's declared
 * parameters and docs/algorithm.md (§2.2-§2.8, the §2.10 grid), over many fixed seeds.
 *
 * The chunk is BASE, BASE + 1, ...: every token distinct and outside the special ids, so a sample
 * can be decoded exactly (which chunk position every prefix and target token came from). Each test
 * decodes samples, derives what the objective drew (split points, shuffled positions, span starts
 * and lengths, delimiter and span lengths, placements) and compares statistics with values taken
 * from docs/algorithm.md and a standard normal table, never from the code under test. Every band
 * is stated where it is used; all are about 6 standard deviations (fixed seeds: deterministic), and
 * the plausible bugs they guard against (wrong rate, span off by one, shuffle share ignored, split
 * off by one, ...) miss them by many more.
 *
 * It does not test structure already pinned elsewhere (test_objectives.c: re-assembly on real text,
 * paradigm placement, budgets; test_build.c: rows). */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "worker/objectives/objective.h"
#include "worker/vocab.h"

#define CAP 4096
#define BASE 1000 /* chunk position i holds token BASE + i */
#define MAXW 64 /* largest span width these tests use, plus the law's tail */

static birdie_arm_set arms;
static birdie_sample sample;
static int32_t chunk[CAP];

static int setup(void **state)
{
    (void)state;
    char err[256];
    const char *specs[] = {
        "default",
        "plm len=8-1000 split=0.75 paradigm=off name=plm75",
        "plm len=8-1000 split=0.5 paradigm=off name=plm50",
        "plm len=8-1000 split=0.3 paradigm=off name=plm30",
        "selcopy len=400-400 spans=1 span=12-48 delim=3-24 name=sc_k1",
        "selcopy len=400-400 spans=2 span=12-48 delim=3-24 layout=append name=sc_k2",
        "infill len=1000-1000 rate=0.5 width=3 name=infill_w3",
        "ae len=1000-1000 rate=0.5 width=3 name=ae_w3",
    };
    if (birdie_arm_set_from_specs(&arms, specs, sizeof specs / sizeof *specs, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    for (int i = 0; i < CAP; i++)
        chunk[i] = BASE + i;
    return birdie_sample_init(&sample, CAP);
}

static int teardown(void **state)
{
    (void)state;
    birdie_arm_set_free(&arms);
    birdie_sample_free(&sample);
    return 0;
}

static const birdie_arm *arm_named(const char *name)
{
    int i = birdie_arm_set_find(&arms, name);
    if (i < 0)
        fail_msg("no arm '%s'", name);
    return &arms.arms[i];
}

/* One sample of arm from chunk[0..n) within budget, seed-th fixed stream; fails the test unless 0. */
static void make(const birdie_arm *arm, int n, int budget, uint64_t seed)
{
    char err[256] = "";
    birdie_rng rng = birdie_rng_stream(seed, 17, (uint64_t)(arm - arms.arms), BIRDIE_RNG_TEST);
    int rc = birdie_objective_apply(arm, chunk, n, budget, &rng, &sample, err, sizeof err);
    if (rc)
        fail_msg("arm %s seed %llu: rc %d (%s)", arm->name, (unsigned long long)seed, rc, err);
}

/* The prefix body: P without the paradigm token (which is at one end, §2.1). */
static int body(const birdie_arm *arm, const int32_t **b)
{
    *b = sample.prefix;
    int nb = sample.nprefix;
    if (!arm->paradigm)
        return nb;
    const int32_t par = BIRDIE_PARADIGM0 + (int32_t)arm->cls;
    if (nb > 0 && sample.prefix[0] == par)
        return (*b)++, nb - 1;
    assert_true(nb > 0 && sample.prefix[nb - 1] == par);
    return nb - 1;
}

static int is_sentinel(int32_t t)
{
    return t >= BIRDIE_SENTINEL0 && t < BIRDIE_SENTINEL0 + BIRDIE_NUM_SENTINELS;
}

/* |observed - expected| within band, else a message with both. */
static void near(const char *what, const char *arm, double observed, double expected, double band)
{
    if (!(fabs(observed - expected) <= band))
        fail_msg("arm %s: %s is %.6g, expected %.6g +- %.3g", arm, what, observed, expected, band);
}

/* ---- NTP and copying: the whole chunk, cut only by the budget (objective.h sizes) ---- */

static void test_ntp_and_copying_take_what_fits(void **state)
{
    (void)state;
    const birdie_arm *ntp = arm_named("ntp.l32-512"), *copy = arm_named("copy.l32-64");
    for (int budget = 32; budget <= 80; budget++) {
        make(ntp, 60, budget, (uint64_t)budget);
        int want = budget < 60 ? budget : 60; /* size L: P = {}, T = x[0..L) */
        assert_int_equal(sample.nprefix, 0);
        assert_int_equal(sample.ntargets, want);
        assert_memory_equal(sample.targets, chunk, (size_t)want * 4);
    }
    for (int budget = 65; budget <= 140; budget++) {
        make(copy, 64, budget, (uint64_t)budget);
        int want = (budget - 1) / 2 < 64 ? (budget - 1) / 2 : 64; /* size 2L + 1 (paradigm on) */
        const int32_t *b;
        assert_int_equal(body(copy, &b), want);
        assert_int_equal(sample.ntargets, want);
        assert_memory_equal(b, chunk, (size_t)want * 4);
        assert_memory_equal(sample.targets, chunk, (size_t)want * 4);
    }
}

/* ---- prefix LM (§2.3, v1): s ~ U[L*f - L*m, L*f + L*m], m = min(f, 1-f), floored, clamped to
 * [4, L-4]; P = x[0..s), T = x[s..L) ---- */

/* Split histogram of n draws at chunk length L; the expected law is uniform over [lo, hi] with the
 * clamped mass piled on the ends: p_lo at lo, p_hi at hi, p_mid elsewhere (values worked out from
 * the reference's formula by hand, in the callers). Per bin, n draws, chance p: the count is within
 * 6 * sqrt(n p (1 - p)) of n p; a split one off moves a whole bin of mass past an end. */
static void check_split_law(const char *name, int L, int n, int lo, int hi, double p_lo, double p_mid, double p_hi)
{
    const birdie_arm *arm = arm_named(name);
    int *count = calloc((size_t)L + 1, sizeof *count);
    for (int i = 0; i < n; i++) {
        make(arm, L, L + 1, (uint64_t)i);
        const int32_t *b;
        int s = body(arm, &b);
        assert_true(s >= 0 && s <= L);
        assert_int_equal(sample.ntargets, L - s);
        assert_memory_equal(b, chunk, (size_t)s * 4);
        assert_memory_equal(sample.targets, chunk + s, (size_t)(L - s) * 4);
        count[s]++;
    }
    for (int s = 0; s <= L; s++) {
        double p = s < lo || s > hi ? 0.0 : s == lo ? p_lo : s == hi ? p_hi : p_mid;
        char what[64];
        snprintf(what, sizeof what, "count of split %d (L %d)", s, L);
        near(what, name, count[s], n * p, 6 * sqrt(n * p * (1 - p)));
    }
    free(count);
}

static void test_prefix_lm_split(void **state)
{
    (void)state;
    /* f = .75, L = 200: floor(U[100, 200)) = 100..199 with 1/100 each; 197..199 clamp to 196 */
    check_split_law("plm75", 200, 20000, 100, 196, 0.01, 0.01, 0.04);
    /* f = .5, L = 100: m = .5, floor(U[0, 100)); 0..4 clamp to 4, 96..99 to 96 */
    check_split_law("plm50", 100, 20000, 4, 96, 0.05, 0.01, 0.04);
    /* f = .3, L = 200: m = .3 (not .7), floor(U[0, 120)); 0..4 clamp to 4; 119 is the top */
    check_split_law("plm30", 200, 24000, 4, 119, 5.0 / 120, 1.0 / 120, 1.0 / 120);
    /* the grid arm (paradigm on), L = 512: split over [256, 508], 4/256 piled on 508 */
    check_split_law("plm.l32-512.s75", 512, 25600, 256, 508, 1.0 / 256, 1.0 / 256, 4.0 / 256);
}

/* ---- deshuffling (§2.5, token level with the share wired): k = floor(L * share) positions
 * chosen uniformly, their tokens permuted uniformly; P = shuffled, T = x ---- */

static void test_deshuffling_share(void **state)
{
    (void)state;
    const char *names[] = {"deshuffle.l32-64.p50", "deshuffle.l32-64.p100", "deshuffle.l128-256.p50",
                           "deshuffle.l128-256.p100"};
    const int n = 3000;
    for (size_t a = 0; a < sizeof names / sizeof *names; a++) {
        const birdie_arm *arm = arm_named(names[a]);
        const int L = arm->max_len, k = (int)(L * arm->share);
        int *moved_at = calloc((size_t)L, sizeof *moved_at);
        char *seen = malloc((size_t)L);
        double moved_sum = 0;
        for (int i = 0; i < n; i++) {
            make(arm, L, 2 * L + 1, (uint64_t)i);
            const int32_t *b;
            assert_int_equal(body(arm, &b), L);
            assert_int_equal(sample.ntargets, L);
            assert_memory_equal(sample.targets, chunk, (size_t)L * 4); /* T is the original */
            memset(seen, 0, (size_t)L);
            int moved = 0;
            for (int p = 0; p < L; p++) {
                int from = b[p] - BASE;
                assert_true(from >= 0 && from < L && !seen[from]); /* a permutation of x */
                seen[from] = 1;
                if (from != p) {
                    moved++;
                    moved_at[p]++;
                }
            }
            assert_true(moved <= k); /* only the k chosen positions can change */
            moved_sum += moved;
        }
        /* moved = k - (fixed points of a uniform permutation of k): mean k - 1, sd 1, so the mean of
         * n draws is within 6 / sqrt(n) of k - 1. Share ignored (k = L), halved, or a cyclic
         * (Sattolo) shuffle (moved = k) miss by 1 or more. */
        near("mean moved positions", arm->name, moved_sum / n, k - 1, 6 / sqrt(n));
        /* each position is chosen with chance k / L and then moves with chance 1 - 1/k: per position
         * p = (k - 1) / L, band 6 * sqrt(p (1 - p) / n); choosing only the first k positions leaves
         * the rest at 0 */
        double p = (double)(k - 1) / L;
        for (int q = 0; q < L; q++)
            near("share of draws moving a position", arm->name, (double)moved_at[q] / n, p, 6 * sqrt(p * (1 - p) / n));
        free(moved_at);
        free(seen);
    }
}

/* ---- span corruption law (§2.6): l = max(1, trunc(Normal(w, 1))), masked with chance
 * min(1, rho / l) at every eligible position; eligible = past last_end + floor(last_l / 3) + 1 ---- */

/* P(floor(Z) = j) for a standard normal Z, j = 0..4 (a normal table; by symmetry the same for
 * floor(Z) = -1 - j). */
static const double normal_bin[5] = {0.3413447, 0.1359051, 0.0214002, 0.0013182, 0.0000314};

/* The law of the reference: the chance q that an eligible position starts a span, and the mean and
 * second moment of the length of a started span. l = max(1, w + floor(Z)). */
static void span_law(double rho, int w, double *q, double *mean, double *second)
{
    double p_l[MAXW + 8] = {0};
    for (int j = -5; j <= 4; j++) {
        int l = w + j < 1 ? 1 : w + j;
        p_l[l] += normal_bin[j >= 0 ? j : -1 - j];
    }
    double m0 = 0, m1 = 0, m2 = 0;
    for (int l = 1; l < MAXW + 8; l++) {
        double p = p_l[l] * (rho / l < 1 ? rho / l : 1);
        m0 += p, m1 += p * l, m2 += p * l * l;
    }
    *q = m0, *mean = m1 / m0, *second = m2 / m0;
}

typedef struct span_tally {
    double eligible, starts; /* eligible positions and span starts counted (see counted) */
    double eligible_lim, masked; /* the same positions below the limit, and the tokens of their spans */
    double len_sum, len_sq, lens; /* complete spans */
    int len_min, len_max;
    int samples;
} span_tally;

/* What one sample's scan drew. Positions are counted only after the sample's first span (the
 * objective redraws scans without a span, so the part before it is conditioned; the rest is not)
 * and before the 64th span (no sentinel left); masked tokens only below limit (a span starting
 * there is never cut by the chunk end). */
typedef struct scan_walk {
    int spans, next_free, limit;
} scan_walk;

static int counted(const scan_walk *s)
{
    return s->spans >= 1 && s->spans < BIRDIE_NUM_SENTINELS;
}

static void tally_kept(span_tally *t, const scan_walk *s, int pos)
{
    if (pos >= s->next_free && counted(s)) {
        t->eligible++;
        t->eligible_lim += pos < s->limit;
    }
}

/* A span of len tokens at pos; complete: its drawn length is known (not cut by the chunk end). */
static void tally_span(span_tally *t, scan_walk *s, int pos, int len, int complete)
{
    if (pos < s->next_free)
        fail_msg("span at %d starts before the first eligible position %d (gap rule)", pos, s->next_free);
    if (counted(s)) {
        t->eligible++;
        t->starts++;
        if (pos < s->limit) {
            t->eligible_lim++;
            t->masked += len;
        }
    }
    if (complete) {
        t->len_sum += len, t->len_sq += (double)len * len, t->lens++;
        t->len_min = len < t->len_min ? len : t->len_min;
        t->len_max = len > t->len_max ? len : t->len_max;
    }
    s->next_free = pos + len + len / 3 + 2; /* eligible again past end + floor(len / 3) + 1 */
    s->spans++;
}

/* Checks the tally of an arm against the reference law. Bands (6 sd):
 *   start chance: N eligible positions, chance q: 6 * sqrt(q (1 - q) / N)
 *   masked tokens per eligible position (= rho by the law: sum_l p(l) min(1, rho/l) l = rho):
 *     per position variance q E[l^2] - rho^2, band 6 * sqrt(that / N)
 *   mean span length: S spans, variance E[l^2] - E[l]^2 (at least 0.25): 6 * sqrt(var / S)
 *   lengths within w +- 6 (the law's chance outside is under 1e-8 per span). */
static void check_tally(const birdie_arm *arm, const span_tally *t)
{
    double q, mean, second;
    span_law(arm->rate, arm->width, &q, &mean, &second);
    double var = second - mean * mean < 0.25 ? 0.25 : second - mean * mean;
    double per_pos_var = q * second - arm->rate * arm->rate;
    print_message("# %-26s %5d samples: start %.4f (law %.4f), masked/pos %.4f (rho %.3g), span %.3f (law %.3f)"
                  " over %.0f spans, %d..%d\n",
                  arm->name, t->samples, t->starts / t->eligible, q, t->masked / t->eligible_lim, arm->rate,
                  t->len_sum / t->lens, mean, t->lens, t->len_min, t->len_max);
    assert_true(t->eligible > 2000 && t->lens > 200);
    near("chance that an eligible position starts a span", arm->name, t->starts / t->eligible, q,
         6 * sqrt(q * (1 - q) / t->eligible));
    if (t->eligible_lim > 5000) /* short chunks with wide spans have few positions below the limit */
        near("masked tokens per eligible position", arm->name, t->masked / t->eligible_lim, arm->rate,
             6 * sqrt(per_pos_var / t->eligible_lim));
    near("mean span length", arm->name, t->len_sum / t->lens, mean, 6 * sqrt(var / t->lens));
    int lo = arm->width - 6 < 1 ? 1 : arm->width - 6;
    if (t->len_min < lo || t->len_max > arm->width + 6)
        fail_msg("arm %s: span lengths %d..%d outside %d..%d", arm->name, t->len_min, t->len_max, lo, arm->width + 6);
}

/* Decodes one infilling sample of chunk[0..n): P = kept tokens and one sentinel per span,
 * T = span_1 sentinel_1 span_2 sentinel_2 ... (sentinels 0, 1, 2, ... in order), and tallies it. */
static void walk_infilling(const birdie_arm *arm, int n, span_tally *t)
{
    const int32_t *b;
    int nb = body(arm, &b), pos = 0, ti = 0;
    scan_walk s = {0, 0, n - arm->width - 9};
    for (int i = 0; i < nb; i++) {
        if (!is_sentinel(b[i])) {
            if (b[i] != BASE + pos)
                fail_msg("arm %s: prefix token %d is chunk position %d, expected %d", arm->name, i, b[i] - BASE, pos);
            tally_kept(t, &s, pos++);
            continue;
        }
        assert_int_equal(b[i], BIRDIE_SENTINEL0 + s.spans); /* sequential sentinels */
        int len = 0;
        while (ti + len < sample.ntargets && sample.targets[ti + len] == BASE + pos + len)
            len++;
        if (len == 0 || ti + len >= sample.ntargets || sample.targets[ti + len] != b[i])
            fail_msg("arm %s: span %d of the targets is not the masked text followed by its sentinel", arm->name,
                     s.spans);
        tally_span(t, &s, pos, len, pos + len < n);
        pos += len;
        ti += len + 1;
    }
    assert_int_equal(ti, sample.ntargets);
    assert_int_equal(pos, n);
    assert_int_equal(sample.consumed, n);
    t->samples++;
}

static void test_infilling_rates_and_spans(void **state)
{
    (void)state;
    for (int a = 0; a < arms.n; a++) {
        const birdie_arm *arm = &arms.arms[a];
        if (arm->cls != BIRDIE_OBJ_INFILLING)
            continue;
        span_tally t = {.len_min = 1 << 30};
        const int L = arm->max_len;
        for (uint64_t seed = 0; t.eligible < 60000 || t.lens < 1500; seed++) {
            make(arm, L, CAP, seed);
            walk_infilling(arm, L, &t);
            assert_true(seed < 20000);
        }
        check_tally(arm, &t);
    }
}

/* ---- autoencoding (§2.7, v1): the same scan, but a span and the token after it are dropped and
 * only the sentinel stays in P; T = x; with shuffle the pieces of P (cut before each sentinel)
 * come in uniformly random order ---- */

/* Puts the pieces of a shuffled body back in scan order: a piece opens with sentinel k (sequential
 * ids) or, for the text before the first sentinel, with chunk position 0 (wherever it landed,
 * possibly glued behind another piece). Returns the pieces; *first is 1 when the output opens with
 * the scan's first piece, *sorted when the sentinel pieces kept their order. */
static int unshuffle(const int32_t *b, int nb, int32_t *out, int *first, int *sorted)
{
    int start[2 * BIRDIE_NUM_SENTINELS + 2], key[2 * BIRDIE_NUM_SENTINELS + 2], pieces = 0;
    for (int i = 0; i < nb; i++)
        if (i == 0 || is_sentinel(b[i]) || b[i] == BASE) {
            start[pieces] = i;
            key[pieces++] = is_sentinel(b[i]) ? b[i] - BIRDIE_SENTINEL0 + 1 : b[i] == BASE ? 0 : -1;
        }
    assert_true(pieces > 0 && key[0] >= 0); /* the body opens a piece */
    int min_key = key[0], last = -1;
    *sorted = 1;
    for (int p = 0; p < pieces; p++) {
        min_key = key[p] < min_key ? key[p] : min_key;
        if (key[p] > 0) {
            *sorted &= key[p] > last;
            last = key[p];
        }
    }
    *first = key[0] == min_key;
    int o = 0;
    for (int want = 0; want <= BIRDIE_NUM_SENTINELS; want++)
        for (int p = 0; p < pieces; p++)
            if (key[p] == want) {
                int end = p + 1 < pieces ? start[p + 1] : nb;
                memcpy(out + o, b + start[p], (size_t)(end - start[p]) * 4);
                o += end - start[p];
            }
    assert_int_equal(o, nb);
    return pieces;
}

/* Decodes one autoencoding body (in scan order) of chunk[0..n) and tallies it: a sentinel at scan
 * position s stands for span length l and the dropped token, so the next kept token is at
 * s + l + 1. */
static void walk_autoencoding(const birdie_arm *arm, const int32_t *b, int nb, int n, span_tally *t)
{
    int pos = 0, pending = -1;
    scan_walk s = {0, 0, n - arm->width - 10};
    for (int i = 0; i < nb; i++) {
        if (is_sentinel(b[i])) {
            if (pending >= 0)
                fail_msg("arm %s: two sentinels in a row (the gap rule keeps a token between)", arm->name);
            assert_int_equal(b[i], BIRDIE_SENTINEL0 + s.spans); /* sequential sentinels */
            pending = pos;
            continue;
        }
        int at = b[i] - BASE;
        if (pending >= 0) {
            int len = at - pending - 1; /* the span and the token after it were dropped */
            if (len < 1)
                fail_msg("arm %s: span at %d dropped %d tokens, at least 2 expected", arm->name, pending, len + 1);
            tally_span(t, &s, pending, len, 1);
            pending = -1;
            pos = at;
        }
        if (at != pos)
            fail_msg("arm %s: prefix token %d is chunk position %d, expected %d", arm->name, i, at, pos);
        tally_kept(t, &s, pos++);
    }
    if (pending >= 0) { /* the last span ran into the chunk end: its length is unknown */
        if (counted(&s) && pending < s.limit)
            fail_msg("arm %s: a span at %d reaches the chunk end %d", arm->name, pending, n);
        tally_span(t, &s, pending, n - pending, 0);
        pos = n;
    }
    assert_true(pos <= n);
    t->samples++;
}

static void test_autoencoding_rates_spans_and_shuffle(void **state)
{
    (void)state;
    int32_t *ordered = malloc(CAP * sizeof *ordered);
    for (int a = 0; a < arms.n; a++) {
        const birdie_arm *arm = &arms.arms[a];
        if (arm->cls != BIRDIE_OBJ_AUTOENCODING)
            continue;
        span_tally t = {.len_min = 1 << 30};
        const int L = arm->max_len;
        /* for the shuffle: firsts counts outputs opening with the scan's first piece (chance 1/m for
         * m pieces), in_order those whose sentinel pieces kept their order (chance 1/spans!) */
        double firsts = 0, first_expect = 0, first_var = 0, in_order = 0, order_expect = 0, order_var = 0;
        for (uint64_t seed = 0; t.eligible < 60000 || t.lens < 1500 || seed < 600; seed++) {
            make(arm, L, CAP, seed);
            assert_int_equal(sample.consumed, L);
            assert_int_equal(sample.ntargets, L);
            assert_memory_equal(sample.targets, chunk, (size_t)L * 4); /* T is the whole chunk */
            const int32_t *b;
            int nb = body(arm, &b), first, sorted, spans = 0;
            for (int i = 0; i < nb; i++)
                spans += is_sentinel(b[i]);
            int m = unshuffle(b, nb, ordered, &first, &sorted);
            if (!arm->shuffle) { /* unshuffled: the body is already in scan order */
                assert_true(first && sorted);
                assert_memory_equal(ordered, b, (size_t)nb * 4);
            }
            double pf = 1.0 / m, po = 1.0;
            for (int k = 2; k <= spans; k++)
                po /= k;
            firsts += first, first_expect += pf, first_var += pf * (1 - pf);
            in_order += sorted, order_expect += po, order_var += po * (1 - po);
            walk_autoencoding(arm, ordered, nb, L, &t);
            assert_true(seed < 20000);
        }
        check_tally(arm, &t);
        if (arm->shuffle) {
            /* sums of independent indicators: within 6 * sqrt(sum p (1 - p)) of sum p; no shuffle
             * gives every sample 1, a shuffle that never leaves a piece in place gives firsts 0 */
            print_message("# %-26s first piece first %.0f (uniform %.1f), sentinels in order %.0f (uniform %.1f)\n",
                          arm->name, firsts, first_expect, in_order, order_expect);
            near("outputs opening with the first piece", arm->name, firsts, first_expect, 6 * sqrt(first_var));
            near("outputs with sentinel pieces in order", arm->name, in_order, order_expect, 6 * sqrt(order_var));
        }
    }
    free(ordered);
}

/* ---- selective copying (§2.8, v1 with the §2.10 ranges): per span, start delimiter, span and end
 * delimiter lengths uniform in the arm's ranges (independent draws), super-spans placed uniformly
 * and disjoint; P = instruction + context (prepend) or context + instruction (append);
 * T = span_1 [SEP] ... span_K [DONE] ---- */

/* Reads a run of chunk tokens at b[*i]: returns its first chunk position (or -1 for an empty run) and
 * its length in *len, and checks the run is consecutive chunk text. */
static int chunk_run(const int32_t *b, int nb, int *i, int *len)
{
    int at = *i < nb && b[*i] >= BASE ? b[*i] - BASE : -1;
    *len = 0;
    while (*i < nb && b[*i] >= BASE) {
        assert_int_equal(b[*i], BASE + at + *len);
        (*i)++, (*len)++;
    }
    return at;
}

typedef struct selcopy_tally {
    int span_count[64], delim_count[32];
    double n, same_len, pos_sum, pos_n, ordered, pairs;
} selcopy_tally;

static void walk_selective_copying(const birdie_arm *arm, int n, selcopy_tally *t)
{
    const int K = arm->spans;
    const int32_t *b;
    int nb = body(arm, &b), i, ctx_at;
    assert_int_equal(sample.consumed, n);
    if (arm->layout_append) {
        assert_int_equal(b[0], BIRDIE_CONTEXT);
        ctx_at = 1;
        i = 1 + n;
    } else {
        assert_int_equal(b[nb - n - 1], BIRDIE_CONTEXT);
        ctx_at = nb - n;
        i = 0;
    }
    assert_memory_equal(b + ctx_at, chunk, (size_t)n * 4); /* the context is the chunk */
    assert_int_equal(b[i++], BIRDIE_COPY);
    int ti = 0, start[8], end[8];
    for (int k = 0; k < K; k++) {
        int sdl, spl, edl;
        assert_int_equal(b[i++], BIRDIE_START);
        int sd = chunk_run(b, nb, &i, &sdl);
        assert_int_equal(b[i++], BIRDIE_END);
        int ed = chunk_run(b, nb, &i, &edl);
        int sp = chunk_run(sample.targets, sample.ntargets, &ti, &spl);
        assert_int_equal(sample.targets[ti++], k + 1 < K ? BIRDIE_SEP : BIRDIE_DONE);
        /* what the target must be: exactly the text between the two delimiters */
        if (sd < 0 || sp != sd + sdl || ed != sp + spl)
            fail_msg("arm %s span %d: start delimiter at %d (+%d), span at %d (+%d), end delimiter at %d", arm->name, k,
                     sd, sdl, sp, spl, ed);
        if (sdl < arm->delim_min || sdl > arm->delim_max || edl < arm->delim_min || edl > arm->delim_max ||
            spl < arm->span_min || spl > arm->span_max)
            fail_msg("arm %s span %d: lengths %d/%d/%d outside the arm's ranges", arm->name, k, sdl, spl, edl);
        start[k] = sd, end[k] = ed + edl;
        assert_true(end[k] <= n);
        for (int j = 0; j < k; j++)
            assert_true(end[j] <= start[k] || end[k] <= start[j]); /* disjoint super-spans */
        t->span_count[spl]++;
        t->delim_count[sdl]++;
        t->delim_count[edl]++;
        t->same_len += sdl == edl;
        t->n++;
        if (K == 1) { /* uniform placement over [0, n - width] */
            t->pos_sum += (double)sd / (n - (end[0] - start[0]));
            t->pos_n++;
        }
    }
    assert_int_equal(ti, sample.ntargets);
    assert_int_equal(i, arm->layout_append ? nb : ctx_at - 1);
    if (K == 2) { /* targets come in draw order, which is independent of context order */
        t->ordered += start[0] < start[1];
        t->pairs++;
    }
}

static void test_selective_copying_draws(void **state)
{
    (void)state;
    const char *names[] = {"sc_k1", "sc_k2"};
    for (size_t a = 0; a < 2; a++) {
        const birdie_arm *arm = arm_named(names[a]);
        selcopy_tally t = {0};
        for (uint64_t seed = 0; seed < 3000; seed++) {
            make(arm, 400, CAP, seed);
            walk_selective_copying(arm, 400, &t);
        }
        /* Lengths uniform: span over 12..48 (37 values), delimiters over 3..24 (22 values); with N
         * draws each value's count is within 6 * sqrt(N p (1 - p)) of N p, p = 1/37 resp. 1/22 (a
         * range one short or one long leaves an end empty or a value outside). */
        for (int l = 0; l < 64; l++) {
            double p = l >= 12 && l <= 48 ? 1.0 / 37 : 0.0;
            near("count of a span length", arm->name, t.span_count[l], t.n * p, 6 * sqrt(t.n * p * (1 - p)));
        }
        for (int l = 0; l < 32; l++) {
            double p = l >= 3 && l <= 24 ? 1.0 / 22 : 0.0, N = 2 * t.n;
            near("count of a delimiter length", arm->name, t.delim_count[l], N * p, 6 * sqrt(N * p * (1 - p)));
        }
        /* start and end delimiter drawn independently: equal with chance 1/22 */
        near("share of equal delimiter lengths", arm->name, t.same_len / t.n, 1.0 / 22,
             6 * sqrt((1.0 / 22) * (21.0 / 22) / t.n));
        if (t.pos_n > 0) /* start / (n - width) uniform on [0, 1]: mean 1/2, sd sqrt(1/12) */
            near("mean relative placement", arm->name, t.pos_sum / t.pos_n, 0.5, 6 * sqrt(1.0 / 12 / t.pos_n));
        if (t.pairs > 0)
            near("share of pairs in context order", arm->name, t.ordered / t.pairs, 0.5, 6 * sqrt(0.25 / t.pairs));
    }
}

/* The grid's selective-copying arms in rows of 512: every span decodes exactly (what the prompt
 * holds and what the target is), K spans, lengths within the arm's ranges (narrowed, never widened). */
static void test_selective_copying_grid_layouts(void **state)
{
    (void)state;
    for (int a = 0; a < arms.n; a++) {
        const birdie_arm *arm = &arms.arms[a];
        if (arm->cls != BIRDIE_OBJ_SELECTIVE_COPYING || arm->max_len > 384)
            continue;
        selcopy_tally t = {0};
        for (uint64_t seed = 0; seed < 60; seed++) {
            int n = arm->min_len + (int)(seed * (uint64_t)(arm->max_len - arm->min_len) / 59);
            char err[256];
            birdie_rng rng = birdie_rng_stream(seed, 18, (uint64_t)a, BIRDIE_RNG_TEST);
            int rc = birdie_objective_apply(arm, chunk, n, 512, &rng, &sample, err, sizeof err);
            if (rc == -ENOSPC)
                continue; /* a long context does not fit 512 with its instruction */
            assert_int_equal(rc, 0);
            walk_selective_copying(arm, sample.consumed, &t);
        }
        assert_true(t.n > 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ntp_and_copying_take_what_fits),
        cmocka_unit_test(test_prefix_lm_split),
        cmocka_unit_test(test_deshuffling_share),
        cmocka_unit_test(test_infilling_rates_and_spans),
        cmocka_unit_test(test_autoencoding_rates_spans_and_shuffle),
        cmocka_unit_test(test_selective_copying_draws),
        cmocka_unit_test(test_selective_copying_grid_layouts),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
