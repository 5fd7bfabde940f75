/* worker/objectives/grid.c: the default arm grid, docs/algorithm.md §2.10 (v1's grid with lengths
 * scaled by 1/4 and span/delimiter widths by ~3 for byte-level text).
 *
 *   ntp               1   len 32-512
 *   prefix_lm         1   len 32-512, split 0.75
 *   copying           2   len 32-64, 128-256
 *   deshuffling       4   len 32-64, 128-256 x share 0.5, 1
 *   infilling        13   len 32-64, 64-128, 128-256 x rate .05/.15/.5 x width 8/24, after v1's
 *                         filter: m* = floor(w / rate / 2) replaces the lower bound, and a config is
 *                         dropped when max < m* or max - m* < (max - min) / 4
 *   autoencoding     24   len 48-96, 96-192, 192-384 x rate .15/.5 x width 8/24 x shuffle off/on
 *   selective_copying 16  context 96-192, 192-384 x spans 1-4 x layout prepend/append,
 *                         span 12-48, delimiters 3-24 (unique delimiters: objective.h)
 *
 * 61 arms in 7 classes. Each arm is built from its spec string, so the grid goes through the same
 * parser and validation as a config. It does not define mixtures (mixture.c).
 */
#include <stdio.h>

#include "worker/objectives/arm.h"

static int add_spec(birdie_arm_set *set, const char *spec, char *err, size_t errlen)
{
    birdie_arm arm;
    int rc = birdie_arm_parse(&arm, spec, err, errlen);
    return rc ? rc : birdie_arm_set_add(set, &arm, err, errlen);
}

static const int short_lens[2][2] = {{32, 64}, {128, 256}};
static const int infill_lens[3][2] = {{32, 64}, {64, 128}, {128, 256}};
static const int ae_lens[3][2] = {{48, 96}, {96, 192}, {192, 384}};
static const int widths[2] = {8, 24};

static int add_infilling(birdie_arm_set *set, char *spec, size_t len, char *err, size_t errlen)
{
    static const double rates[3] = {0.05, 0.15, 0.5};
    for (int r = 0; r < 3; r++)
        for (int w = 0; w < 2; w++)
            for (int l = 0; l < 3; l++) {
                int lo = infill_lens[l][0], hi = infill_lens[l][1];
                int m = (int)(widths[w] / rates[r] / 2.0 + 1e-9); /* 8 / .05 / 2 is 80, not 79.99 */
                if (hi < m || hi - m < (hi - lo) / 4)
                    continue;
                snprintf(spec, len, "infilling len=%d-%d rate=%g width=%d", m, hi, rates[r], widths[w]);
                int rc = add_spec(set, spec, err, errlen);
                if (rc)
                    return rc;
            }
    return 0;
}

int birdie_arm_set_add_default(birdie_arm_set *set, char *err, size_t errlen)
{
    char spec[256];
    int rc = add_spec(set, "ntp len=32-512", err, errlen);
    if (!rc)
        rc = add_spec(set, "prefix_lm len=32-512 split=0.75", err, errlen);
    for (int l = 0; l < 2 && !rc; l++) {
        snprintf(spec, sizeof spec, "copying len=%d-%d", short_lens[l][0], short_lens[l][1]);
        rc = add_spec(set, spec, err, errlen);
    }
    for (int l = 0; l < 2 && !rc; l++)
        for (int s = 0; s < 2 && !rc; s++) {
            snprintf(spec, sizeof spec, "deshuffling len=%d-%d share=%s", short_lens[l][0], short_lens[l][1],
                     s ? "1" : "0.5");
            rc = add_spec(set, spec, err, errlen);
        }
    if (!rc)
        rc = add_infilling(set, spec, sizeof spec, err, errlen);
    static const double ae_rates[2] = {0.15, 0.5};
    for (int l = 0; l < 3 && !rc; l++)
        for (int r = 0; r < 2 && !rc; r++)
            for (int w = 0; w < 2 && !rc; w++)
                for (int s = 0; s < 2 && !rc; s++) {
                    snprintf(spec, sizeof spec, "autoencoding len=%d-%d rate=%g width=%d shuffle=%s", ae_lens[l][0],
                             ae_lens[l][1], ae_rates[r], widths[w], s ? "on" : "off");
                    rc = add_spec(set, spec, err, errlen);
                }
    static const int ctx[2][2] = {{96, 192}, {192, 384}};
    for (int c = 0; c < 2 && !rc; c++)
        for (int k = 1; k <= 4 && !rc; k++)
            for (int a = 0; a < 2 && !rc; a++) {
                snprintf(spec, sizeof spec, "selective_copying len=%d-%d spans=%d layout=%s span=12-48 delim=3-24",
                         ctx[c][0], ctx[c][1], k, a ? "append" : "prepend");
                rc = add_spec(set, spec, err, errlen);
            }
    return rc;
}
