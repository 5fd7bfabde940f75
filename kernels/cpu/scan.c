/* kernels/cpu/scan.c: the gated linear scan h_t = f_t * h_{t-1} + x_t over (B,T,N), fp32 state.
 * Channels [0, n_fwd) run left to right and are reset (f := 0) where the position has
 * BIRDIE_RESET_FWD; channels [n_fwd, N) run right to left and are reset where it has
 * BIRDIE_RESET_REV (docs/algorithm.md §1.3). Time is the sequential axis; the work is cut into
 * (row, block of channels) items spread over cores, and the innermost loop runs over contiguous
 * channels so it vectorises. */
#include <stdbool.h>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/parallel.h"

enum { SCAN_BLOCK = 64 }; /* channels per work item: one or two cache lines per time step */

static inline bool fwd_reset(const uint8_t *resets_b, int t)
{
    return t == 0 || (resets_b[t] & BIRDIE_RESET_FWD);
}

static inline bool rev_reset(const uint8_t *resets_b, int t, int T)
{
    return t == T - 1 || (resets_b[t] & BIRDIE_RESET_REV);
}

/* One row b, channels [c0, c1) of one direction. */
static void scan_forward_channels(float *h, const float *x, const float *f, const uint8_t *rb, int T, int N, int c0,
                                  int c1, bool reverse)
{
    for (int i = 0; i < T; i++) {
        int t = reverse ? T - 1 - i : i;
        size_t row = (size_t)t * N;
        bool reset = reverse ? rev_reset(rb, t, T) : fwd_reset(rb, t);
        if (reset) {
            for (int n = c0; n < c1; n++)
                h[row + n] = x[row + n];
        } else {
            const float *prev = h + (reverse ? row + N : row - N);
            for (int n = c0; n < c1; n++)
                h[row + n] = f[row + n] * prev[n] + x[row + n];
        }
    }
}

/* dH_t (the total gradient reaching h_t) is accumulated in dx against the scan direction:
 * forward channels: dH_t = dh_t + f_{t+1} dH_{t+1} unless t+1 was reset; df_t = dH_t h_{t-1} unless
 * t was reset (a forced zero gate has no gradient). Reverse channels mirror it. */
static void scan_backward_channels(float *dx, float *df, const float *dh, const float *h, const float *f,
                                   const uint8_t *rb, int T, int N, int c0, int c1, bool reverse)
{
    for (int i = 0; i < T; i++) {
        int t = reverse ? i : T - 1 - i; /* against the scan direction */
        int later = reverse ? t - 1 : t + 1; /* the position whose state h_t fed */
        int earlier = reverse ? t + 1 : t - 1;
        size_t row = (size_t)t * N;
        bool later_exists = reverse ? t > 0 : t + 1 < T;
        bool later_reset = later_exists && (reverse ? rev_reset(rb, later, T) : fwd_reset(rb, later));
        if (later_exists && !later_reset) {
            const float *f_later = f + (size_t)later * N, *dx_later = dx + (size_t)later * N;
            for (int n = c0; n < c1; n++)
                dx[row + n] = dh[row + n] + f_later[n] * dx_later[n];
        } else {
            for (int n = c0; n < c1; n++)
                dx[row + n] = dh[row + n];
        }
        if (reverse ? rev_reset(rb, t, T) : fwd_reset(rb, t)) {
            for (int n = c0; n < c1; n++)
                df[row + n] = 0.0f;
        } else {
            const float *h_earlier = h + (size_t)earlier * N;
            for (int n = c0; n < c1; n++)
                df[row + n] = dx[row + n] * h_earlier[n];
        }
    }
}

/* Work item k of a (B, ceil(N/SCAN_BLOCK)) grid: its row, its channels [c0, c1), and where they
 * split into forward [c0, split) and reverse [split, c1) channels. */
typedef struct scan_item {
    int b, c0, c1, split;
} scan_item;

static scan_item item_of(long k, int N, int n_fwd)
{
    int blocks = (N + SCAN_BLOCK - 1) / SCAN_BLOCK;
    scan_item it = {(int)(k / blocks), (int)(k % blocks) * SCAN_BLOCK, 0, 0};
    it.c1 = it.c0 + SCAN_BLOCK < N ? it.c0 + SCAN_BLOCK : N;
    it.split = n_fwd < it.c0 ? it.c0 : (n_fwd > it.c1 ? it.c1 : n_fwd);
    return it;
}

CPU_HOT static void scan_forward_items(float *h, const float *x, const float *f, const uint8_t *resets, int T, int N,
                                       int n_fwd, long k0, long k1)
{
    for (long k = k0; k < k1; k++) {
        scan_item it = item_of(k, N, n_fwd);
        size_t base = (size_t)it.b * T * N;
        const uint8_t *rb = resets + (size_t)it.b * T;
        int split = it.split;
        if (it.c0 < split)
            scan_forward_channels(h + base, x + base, f + base, rb, T, N, it.c0, split, false);
        if (split < it.c1)
            scan_forward_channels(h + base, x + base, f + base, rb, T, N, split, it.c1, true);
    }
}

CPU_HOT static void scan_backward_items(float *dx, float *df, const float *dh, const float *h, const float *f,
                                        const uint8_t *resets, int T, int N, int n_fwd, long k0, long k1)
{
    for (long k = k0; k < k1; k++) {
        scan_item it = item_of(k, N, n_fwd);
        size_t base = (size_t)it.b * T * N;
        const uint8_t *rb = resets + (size_t)it.b * T;
        int split = it.split;
        if (it.c0 < split)
            scan_backward_channels(dx + base, df + base, dh + base, h + base, f + base, rb, T, N, it.c0, split, false);
        if (split < it.c1)
            scan_backward_channels(dx + base, df + base, dh + base, h + base, f + base, rb, T, N, split, it.c1, true);
    }
}

void cpu_scan_forward(float *h, const float *x, const float *f, const uint8_t *resets, int B, int T, int N, int n_fwd)
{
    long items = (long)B * ((N + SCAN_BLOCK - 1) / SCAN_BLOCK);
    CPU_PARALLEL_RANGE(items, (long)B * T * N, lo, hi, scan_forward_items(h, x, f, resets, T, N, n_fwd, lo, hi));
}

void cpu_scan_backward(float *dx, float *df, const float *dh, const float *h, const float *f, const uint8_t *resets,
                       int B, int T, int N, int n_fwd)
{
    long items = (long)B * ((N + SCAN_BLOCK - 1) / SCAN_BLOCK);
    CPU_PARALLEL_RANGE(items, (long)B * T * N, lo, hi,
                       scan_backward_items(dx, df, dh, h, f, resets, T, N, n_fwd, lo, hi));
}
