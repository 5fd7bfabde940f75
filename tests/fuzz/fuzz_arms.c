/* tests/fuzz/fuzz_arms.c: the [objectives] arms and mixture strings (worker/curriculum.c, which
 * splits the arm specs at ';' and hands them to worker/objectives/arm.c and mixture.c) on arbitrary
 * text: the first line is `arms`, the rest `mixture`, both cut to the config's field sizes as
 * worker/config.c would refuse longer ones.
 *
 * Beyond "no crash, no leak, no undefined behaviour", what arm.h and mixture.h promise of a set
 * that parsed: every arm fits a row of the run's length, parsing an arm's canonical spec
 * (birdie_arm_describe) gives the same arm, and the mixture's weights are finite, non-negative and
 * sum to 1. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fuzz_util.h"
#include "worker/curriculum.h"

#define ROW_T 2048 /* [train] seq_len of the S model: a row length arms must fit */

static void fail(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_arms: %s: %s\n", what, detail);
    abort();
}

static void copy_field(char *dst, size_t cap, const uint8_t *src, size_t n)
{
    n = n < cap - 1 ? n : cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static birdie_config cfg; /* 10 KiB: not on the stack */
    birdie_config_defaults(&cfg);
    const uint8_t *nl = memchr(data, '\n', size);
    size_t arms_len = nl ? (size_t)(nl - data) : size;
    copy_field(cfg.arms, sizeof cfg.arms, data, arms_len);
    if (nl)
        copy_field(cfg.mixture, sizeof cfg.mixture, nl + 1, size - arms_len - 1);

    birdie_curriculum cur;
    char err[1024];
    if (birdie_curriculum_init(&cur, &cfg, ROW_T, err, sizeof err) != 0)
        return 0;
    double total = 0;
    for (int a = 0; a < cur.arms.n; a++) {
        const birdie_arm *arm = &cur.arms.arms[a];
        char spec[1024], again[1024];
        if (birdie_arm_min_size(arm) > ROW_T)
            fail("an accepted arm does not fit the row", arm->name);
        int n = birdie_arm_describe(arm, spec, sizeof spec);
        if (n <= 0 || (size_t)n >= sizeof spec)
            fail("birdie_arm_describe did not fit 1 KiB", arm->name);
        birdie_arm back;
        if (birdie_arm_parse(&back, spec, err, sizeof err) != 0)
            fail("the canonical spec of an accepted arm does not parse", err);
        birdie_arm_describe(&back, again, sizeof again);
        if (strcmp(spec, again) != 0 || back.min_len != arm->min_len || back.max_len != arm->max_len ||
            back.mask_prob != arm->mask_prob || back.span_lo != arm->span_lo)
            fail("the canonical spec gives another arm", spec);
        double w = cur.weights[a];
        if (!isfinite(w) || w < 0)
            fail("a mixture weight is negative or not finite", arm->name);
        total += w;
    }
    if (fabs(total - 1.0) > 1e-9) {
        char msg[64];
        snprintf(msg, sizeof msg, "sum %.17g", total);
        fail("the mixture does not sum to 1", msg);
    }
    birdie_curriculum_free(&cur);
    return 0;
}
