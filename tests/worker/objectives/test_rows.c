/* tests/worker/objectives/test_rows.c: packed rows against the docs/algorithm.md §1.4 / §2.1 layout and the arms that made
 * them: random samples packed position by position, whole samples decoded back out of built rows
 * (no sample straddles a row or is cut), chunk lengths drawn over the arm's whole [min, max], and
 * the rows' sample shares under a skewed mixture. The §1.4 worked example itself is in
 * test_packer.c, the uniform-mixture shares in test_shares.c. */
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

#include "kernels/ops.h"
#include "tests/worker/objectives/fake_source.h"
#include "worker/objectives/build.h"
#include "worker/objectives/mixture.h"
#include "worker/objectives/packer.h"
#include "worker/vocab.h"

static birdie_source *text;

static int setup(void **state)
{
    (void)state;
    return fake_source_open(&text, 21, 1 << 18, FAKE_WORDS) ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    birdie_source_close(text);
    return 0;
}

/* ---- the packer alone: random samples, every position against the layout ---- */

typedef struct placed {
    int at, np, nt, arm;
    int32_t p[40], t[40];
} placed;

/* What §1.4 / §2.1 say position i of a row holding samples s[0..n) must be. */
static void expect_position(const placed *s, int n, int i, int32_t *in, int32_t *lab, int32_t *seg, uint8_t *pre,
                            uint8_t *rst, int16_t *arm)
{
    for (int k = 0; k < n; k++) {
        int o = i - s[k].at;
        if (o < 0 || o >= s[k].np + s[k].nt)
            continue;
        int in_prefix = o < s[k].np, j = o - s[k].np; /* j: target index labelled here */
        *in = in_prefix ? s[k].p[o] : j == 0 ? BIRDIE_BEGIN : s[k].t[j - 1];
        *lab = in_prefix ? BIRDIE_IGNORE_LABEL : s[k].t[j];
        *seg = k + 1;
        *pre = (uint8_t)in_prefix;
        /* forward reset on the sample's first position; reverse reset on BEGIN and the targets */
        *rst = (uint8_t)((o == 0 ? BIRDIE_RESET_FWD : 0) | (in_prefix ? 0 : BIRDIE_RESET_REV));
        *arm = (int16_t)s[k].arm;
        return;
    }
    *in = BIRDIE_PAD, *lab = BIRDIE_IGNORE_LABEL, *seg = 0, *pre = 0;
    *rst = BIRDIE_RESET_FWD | BIRDIE_RESET_REV, *arm = -1;
}

/* Copies every array of row r into buf (T * 16 bytes). */
static void snapshot(const birdie_rows *rows, int r, unsigned char *buf)
{
    size_t o = (size_t)r * rows->T, T = (size_t)rows->T;
    memcpy(buf, rows->inputs + o, T * 4), buf += T * 4;
    memcpy(buf, rows->labels + o, T * 4), buf += T * 4;
    memcpy(buf, rows->segments + o, T * 4), buf += T * 4;
    memcpy(buf, rows->prefix + o, T), buf += T;
    memcpy(buf, rows->resets + o, T), buf += T;
    memcpy(buf, rows->arms + o, T * 2);
}

static void test_random_packing_layout(void **state)
{
    (void)state;
    enum { T = 96, ROWS = 3 };
    birdie_rows rows;
    assert_int_equal(birdie_rows_alloc(&rows, ROWS, T), 0);
    birdie_rng rng = birdie_rng_stream(5, 0, 0, BIRDIE_RNG_TEST);
    size_t bytes = (size_t)T * (4 + 4 + 4 + 1 + 1 + 2);
    unsigned char *before = malloc(bytes), *after = malloc(bytes);
    for (int trial = 0; trial < 300; trial++) {
        int r = trial % ROWS, n = 0, refused = 0;
        placed s[64];
        birdie_row_cursor cur;
        birdie_row_begin(&rows, r, &cur);
        while (refused < 4 && n < 64) {
            placed *x = &s[n];
            /* empty prefixes (NTP), one-token targets and exact fills all come up */
            x->np = birdie_rng_below(&rng, 3) == 0 ? 0 : (int)birdie_rng_range(&rng, 1, 30);
            x->nt = (int)birdie_rng_range(&rng, 1, birdie_rng_below(&rng, 2) ? 3 : 30);
            x->arm = (int)birdie_rng_below(&rng, 70);
            x->at = cur.used;
            for (int i = 0; i < x->np; i++)
                x->p[i] = (int32_t)birdie_rng_range(&rng, 1, 383);
            for (int i = 0; i < x->nt; i++)
                x->t[i] = (int32_t)birdie_rng_range(&rng, 1, 383);
            snapshot(&rows, r, before);
            int rc = birdie_row_add(&rows, &cur, x->np ? x->p : NULL, x->np, x->t, x->nt, x->arm);
            if (x->at + x->np + x->nt > T) { /* never straddles: refused, the row untouched */
                assert_int_equal(rc, -ENOSPC);
                snapshot(&rows, r, after);
                assert_memory_equal(before, after, bytes);
                assert_int_equal(cur.used, x->at);
                refused++;
                continue;
            }
            assert_int_equal(rc, 0);
            assert_int_equal(cur.used, x->at + x->np + x->nt); /* a sample takes |P| + |T| positions */
            n++;
        }
        for (int i = 0; i < T; i++) {
            int32_t in, lab, seg;
            uint8_t pre, rst;
            int16_t arm;
            expect_position(s, n, i, &in, &lab, &seg, &pre, &rst, &arm);
            size_t o = (size_t)r * T + (size_t)i;
            if (rows.inputs[o] != in || rows.labels[o] != lab || rows.segments[o] != seg || rows.prefix[o] != pre ||
                rows.resets[o] != rst || rows.arms[o] != arm)
                fail_msg("trial %d position %d: got in %d lab %d seg %d pre %d rst %d arm %d, want %d %d %d %d %d %d",
                         trial, i, rows.inputs[o], rows.labels[o], rows.segments[o], rows.prefix[o], rows.resets[o],
                         rows.arms[o], in, lab, seg, pre, rst, arm);
        }
    }
    free(before);
    free(after);
    birdie_rows_free(&rows);
}

/* ---- built rows: every segment is one whole sample of its arm ---- */

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static int is_sentinel(int32_t t)
{
    return t >= BIRDIE_SENTINEL0 && t < BIRDIE_SENTINEL0 + BIRDIE_NUM_SENTINELS;
}

static int count_of(const int32_t *a, int n, int32_t v)
{
    int c = 0;
    for (int i = 0; i < n; i++)
        c += a[i] == v;
    return c;
}

/* Decodes segment [start, end) of row r: P = inputs on prefix positions, T = the labels after; checks
 * the sample is complete for its arm's class and its chunk length is within [min_len, max_len]. */
static void check_whole_sample(const birdie_arm_set *set, const birdie_rows *rows, int r, int start, int end)
{
    size_t o = (size_t)r * rows->T;
    const birdie_arm *arm = &set->arms[rows->arms[o + start]];
    int begin = start;
    while (begin < end && rows->prefix[o + begin])
        begin++;
    const int32_t *b = rows->inputs + o + start, *t = rows->labels + o + begin;
    int nb = begin - start, nt = end - begin, len = -1;
    assert_true(nt >= 1);
    if (arm->paradigm) { /* one class paradigm token, at one end of P */
        const int32_t par = BIRDIE_PARADIGM0 + (int32_t)arm->cls;
        assert_true(nb > 0 && (b[0] == par || b[nb - 1] == par));
        b += b[0] == par;
        nb--;
    }
    switch (arm->cls) {
    case BIRDIE_OBJ_NTP:
        assert_int_equal(nb, 0);
        len = nt;
        break;
    case BIRDIE_OBJ_PREFIX_LM:
        assert_true(nb >= 4 && nt >= 4);
        len = nb + nt;
        break;
    case BIRDIE_OBJ_COPYING:
        assert_int_equal(nb, nt);
        assert_memory_equal(b, t, (size_t)nt * 4);
        len = nt;
        break;
    case BIRDIE_OBJ_DESHUFFLING: {
        assert_int_equal(nb, nt);
        int32_t *x = malloc((size_t)nt * 8);
        memcpy(x, b, (size_t)nt * 4);
        memcpy(x + nt, t, (size_t)nt * 4);
        qsort(x, (size_t)nt, 4, cmp_i32);
        qsort(x + nt, (size_t)nt, 4, cmp_i32);
        int same = !memcmp(x, x + nt, (size_t)nt * 4);
        free(x);
        assert_true(same);
        len = nt;
        break;
    }
    case BIRDIE_OBJ_INFILLING: {
        int spans = 0;
        for (int i = 0; i < nb; i++)
            if (is_sentinel(b[i])) {
                spans++;
                assert_int_equal(count_of(t, nt, b[i]), 1);
            }
        assert_true(spans >= 1 && is_sentinel(t[nt - 1]));
        len = (nb - spans) + (nt - spans); /* kept + masked */
        break;
    }
    case BIRDIE_OBJ_AUTOENCODING: {
        int spans = 0;
        for (int i = 0; i < nb; i++)
            spans += is_sentinel(b[i]);
        assert_true(spans >= 1);
        len = nt;
        break;
    }
    case BIRDIE_OBJ_SELECTIVE_COPYING: {
        assert_int_equal(t[nt - 1], BIRDIE_DONE);
        assert_int_equal(count_of(t, nt, BIRDIE_SEP), arm->spans - 1);
        assert_int_equal(count_of(b, nb, BIRDIE_START), arm->spans);
        int ctx = 0;
        while (b[ctx] != BIRDIE_CONTEXT)
            ctx++;
        int ctx_end = ctx + 1;
        while (ctx_end < nb && b[ctx_end] != BIRDIE_COPY)
            ctx_end++;
        len = ctx_end - ctx - 1;
        break;
    }
    default: fail();
    }
    if (len < arm->min_len || len > arm->max_len)
        fail_msg("row %d: sample of arm %s has chunk length %d outside [%d, %d]", r, arm->name, len, arm->min_len,
                 arm->max_len);
}

/* Calls fn on every segment of rows [0, B). */
static void for_segments(const birdie_rows *rows, void (*fn)(void *, int r, int start, int end), void *ctx)
{
    for (int r = 0; r < rows->B; r++) {
        size_t o = (size_t)r * rows->T;
        int t = 0;
        while (t < rows->T && rows->segments[o + t] != 0) {
            int start = t;
            while (t < rows->T && rows->segments[o + t] == rows->segments[o + start])
                t++;
            fn(ctx, r, start, t);
        }
    }
}

typedef struct whole_ctx {
    const birdie_arm_set *set;
    const birdie_rows *rows;
    int samples;
} whole_ctx;

static void whole_fn(void *p, int r, int start, int end)
{
    whole_ctx *c = p;
    check_whole_sample(c->set, c->rows, r, start, end);
    c->samples++;
}

static void test_built_rows_hold_whole_samples(void **state)
{
    (void)state;
    enum { T = 512, B = 48 };
    birdie_arm_set set;
    double w[BIRDIE_MAX_ARMS];
    char err[256] = "";
    birdie_arm_set_init(&set);
    assert_int_equal(birdie_arm_set_add_default(&set, err, sizeof err), 0);
    assert_int_equal(birdie_mixture_parse(&set, "uniform", w, err, sizeof err), 0);
    birdie_builder b;
    birdie_rows rows;
    assert_int_equal(birdie_builder_init(&b, &set, text, 31, T, err, sizeof err), 0);
    assert_int_equal(birdie_rows_alloc(&rows, B, T), 0);
    whole_ctx c = {&set, &rows, 0};
    for (uint64_t step = 0; step < 4; step++) {
        if (birdie_build_rows(&b, w, step, &rows, 0, B, step * B, NULL, err, sizeof err))
            fail_msg("%s", err);
        for_segments(&rows, whole_fn, &c);
    }
    assert_true(c.samples > 4 * B);
    birdie_rows_free(&rows);
    birdie_builder_free(&b);
    birdie_arm_set_free(&set);
}

/* ---- chunk lengths: uniform over [min_len, max_len] (§2.1) where the row has room ---- */

typedef struct length_ctx {
    const birdie_rows *rows;
    int count[4][128];
} length_ctx;

static void first_length_fn(void *p, int r, int start, int end)
{
    length_ctx *c = p;
    if (start != 0) /* only the first sample of a row has the whole row: never cut to fit */
        return;
    size_t o = (size_t)r * c->rows->T;
    int a = c->rows->arms[o], nt = 0;
    for (int i = start; i < end; i++)
        nt += c->rows->labels[o + i] != BIRDIE_IGNORE_LABEL;
    assert_true(nt < 128);
    c->count[a][nt]++; /* these classes have |T| = the chunk length */
}

static void test_chunk_lengths_cover_the_range(void **state)
{
    (void)state;
    enum { T = 1024, B = 64 };
    const char *specs[] = {"ntp len=20-60", "copy len=32-64", "deshuffle len=40-80 share=0.5",
                           "ae len=48-96 rate=0.15 width=8"};
    birdie_arm_set set;
    char err[256] = "";
    assert_int_equal(birdie_arm_set_from_specs(&set, specs, 4, err, sizeof err), 0);
    const double w[4] = {0.25, 0.25, 0.25, 0.25};
    birdie_builder b;
    birdie_rows rows;
    assert_int_equal(birdie_builder_init(&b, &set, text, 41, T, err, sizeof err), 0);
    assert_int_equal(birdie_rows_alloc(&rows, B, T), 0);
    length_ctx *c = calloc(1, sizeof *c);
    c->rows = &rows;
    for (uint64_t step = 0; step < 40; step++) {
        if (birdie_build_rows(&b, w, step, &rows, 0, B, step * B, NULL, err, sizeof err))
            fail_msg("%s", err);
        for_segments(&rows, first_length_fn, c);
    }
    for (int a = 0; a < 4; a++) {
        const birdie_arm *arm = &set.arms[a];
        double n = 0, sum = 0;
        int lo = 1 << 30, hi = -1;
        for (int l = 0; l < 128; l++)
            if (c->count[a][l]) {
                n += c->count[a][l], sum += (double)l * c->count[a][l];
                lo = l < lo ? l : lo;
                hi = l > hi ? l : hi;
            }
        /* about 640 first samples per arm over at most 49 values: every value, the ends included,
         * comes up (a missed end has chance under (48/49)^640 < 2e-6); the mean of a uniform over
         * [min, max] is (min + max) / 2 with sd ((max - min + 1)^2 - 1) / 12 per draw, band 6 sd / sqrt(n) */
        int m = arm->max_len - arm->min_len + 1;
        double sd = sqrt((m * (double)m - 1) / 12);
        print_message("# %-24s %4.0f first samples: lengths %d..%d, mean %.2f\n", arm->name, n, lo, hi, sum / n);
        assert_true(n > 400);
        assert_int_equal(lo, arm->min_len);
        assert_int_equal(hi, arm->max_len);
        if (fabs(sum / n - (arm->min_len + arm->max_len) / 2.0) > 6 * sd / sqrt(n))
            fail_msg("arm %s: mean chunk length %.2f, uniform gives %.1f", arm->name, sum / n,
                     (arm->min_len + arm->max_len) / 2.0);
    }
    free(c);
    birdie_rows_free(&rows);
    birdie_builder_free(&b);
    birdie_arm_set_free(&set);
}

/* ---- a skewed mixture: the rows' sample shares meet the weights ---- */

static void test_skewed_mixture_sample_shares(void **state)
{
    (void)state;
    enum { T = 512, B = 64, STEPS = 150 };
    birdie_arm_set set;
    double w[BIRDIE_MAX_ARMS], count[BIRDIE_MAX_ARMS] = {0};
    char err[256] = "";
    birdie_arm_set_init(&set);
    assert_int_equal(birdie_arm_set_add_default(&set, err, sizeof err), 0);
    /* long and short arms of several classes, weights from 0.4 down to 0.05 */
    const char *mix = "ntp.l32-512=0.4, copy.l128-256=0.15, ae.l192-384.r50.w24.shuf=0.1, "
                      "selcopy.l192-384.k4.app=0.1, infill.l80-256.r5.w8=0.1, deshuffle.l32-64.p50=0.1, "
                      "plm.l32-512.s75=0.05";
    assert_int_equal(birdie_mixture_parse(&set, mix, w, err, sizeof err), 0);
    birdie_builder b;
    birdie_rows rows;
    assert_int_equal(birdie_builder_init(&b, &set, text, 51, T, err, sizeof err), 0);
    assert_int_equal(birdie_rows_alloc(&rows, B, T), 0);
    double total = 0;
    for (uint64_t step = 0; step < STEPS; step++) {
        if (birdie_build_rows(&b, w, step, &rows, 0, B, step * B, NULL, err, sizeof err))
            fail_msg("%s", err);
        for (int i = 0; i < B * T; i++)
            if (rows.arms[i] >= 0 && (i % T == 0 || rows.segments[i] != rows.segments[i - 1])) {
                count[rows.arms[i]]++;
                total++;
            }
    }
    /* Bound: the share of an arm of weight p among N samples has sampling sd sqrt(p (1 - p) / N) (rows
     * are independent; samples within a row are not, so the sd is taken 2x); on top, the share model
     * is measured with 32 draws per space and leaves a few percent (test_shares.c): band
     * 0.06 p + 12 sd. Drawing straight from the mixture (no share correction) misses it. */
    for (int a = 0; a < set.n; a++) {
        double share = count[a] / total, p = w[a];
        if (p == 0.0) {
            assert_true(count[a] == 0);
            continue;
        }
        print_message("# %-26s weight %.2f share %.4f (x %.3f)\n", set.arms[a].name, p, share, share / p);
        double band = 0.06 * p + 12 * sqrt(p * (1 - p) / total);
        if (fabs(share - p) > band)
            fail_msg("arm %s: share %.4f of %.0f samples, weight %.2f (band %.4f)", set.arms[a].name, share, total, p,
                     band);
    }
    birdie_rows_free(&rows);
    birdie_builder_free(&b);
    birdie_arm_set_free(&set);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_packing_layout),
        cmocka_unit_test(test_built_rows_hold_whole_samples),
        cmocka_unit_test(test_chunk_lengths_cover_the_range),
        cmocka_unit_test(test_skewed_mixture_sample_shares),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
