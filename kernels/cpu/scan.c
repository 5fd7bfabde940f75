/* kernels/cpu/scan.c: the gated linear scan h_t = f_t * h_{t-1} + x_t over (B,T,N), fp32 state.
 * Channels [0, n_fwd) run left to right and are reset (f := 0) where the position has
 * BIRDIE_RESET_FWD; channels [n_fwd, N) run right to left and are reset where it has
 * BIRDIE_RESET_REV (algorithm reference §1.4). The innermost loop runs over contiguous channels so
 * it vectorises; time is the sequential axis. */
#include <stdbool.h>

#include "kernels/cpu/cpu_ops.h"

static inline bool fwd_reset(const uint8_t *resets_b, int t)
{
    return t == 0 || (resets_b[t] & BIRDIE_RESET_FWD);
}

static inline bool rev_reset(const uint8_t *resets_b, int t, int T)
{
    return t == T - 1 || (resets_b[t] & BIRDIE_RESET_REV);
}

void cpu_scan_forward(float *h, const float *x, const float *f, const uint8_t *resets,
                      int B, int T, int N, int n_fwd)
{
    for (int b = 0; b < B; b++) {
        const uint8_t *rb = resets + (size_t)b * T;
        size_t base = (size_t)b * T * N;
        for (int t = 0; t < T; t++) {
            size_t row = base + (size_t)t * N;
            if (fwd_reset(rb, t)) {
                for (int n = 0; n < n_fwd; n++)
                    h[row + n] = x[row + n];
            } else {
                for (int n = 0; n < n_fwd; n++)
                    h[row + n] = f[row + n] * h[row - N + n] + x[row + n];
            }
        }
        for (int t = T - 1; t >= 0 && n_fwd < N; t--) {
            size_t row = base + (size_t)t * N;
            if (rev_reset(rb, t, T)) {
                for (int n = n_fwd; n < N; n++)
                    h[row + n] = x[row + n];
            } else {
                for (int n = n_fwd; n < N; n++)
                    h[row + n] = f[row + n] * h[row + N + n] + x[row + n];
            }
        }
    }
}

/* dH_t (the total gradient reaching h_t) is accumulated in dx against the scan direction:
 * forward channels: dH_t = dh_t + f_{t+1} dH_{t+1} unless t+1 was reset; df_t = dH_t h_{t-1} unless
 * t was reset (a forced zero gate has no gradient). Reverse channels mirror it. */
void cpu_scan_backward(float *dx, float *df, const float *dh, const float *h, const float *f,
                       const uint8_t *resets, int B, int T, int N, int n_fwd)
{
    for (int b = 0; b < B; b++) {
        const uint8_t *rb = resets + (size_t)b * T;
        size_t base = (size_t)b * T * N;
        for (int t = T - 1; t >= 0; t--) {
            size_t row = base + (size_t)t * N;
            if (t + 1 < T && !fwd_reset(rb, t + 1)) {
                for (int n = 0; n < n_fwd; n++)
                    dx[row + n] = dh[row + n] + f[row + N + n] * dx[row + N + n];
            } else {
                for (int n = 0; n < n_fwd; n++)
                    dx[row + n] = dh[row + n];
            }
            if (fwd_reset(rb, t)) {
                for (int n = 0; n < n_fwd; n++)
                    df[row + n] = 0.0f;
            } else {
                for (int n = 0; n < n_fwd; n++)
                    df[row + n] = dx[row + n] * h[row - N + n];
            }
        }
        for (int t = 0; t < T && n_fwd < N; t++) {
            size_t row = base + (size_t)t * N;
            if (t > 0 && !rev_reset(rb, t - 1, T)) {
                for (int n = n_fwd; n < N; n++)
                    dx[row + n] = dh[row + n] + f[row - N + n] * dx[row - N + n];
            } else {
                for (int n = n_fwd; n < N; n++)
                    dx[row + n] = dh[row + n];
            }
            if (rev_reset(rb, t, T)) {
                for (int n = n_fwd; n < N; n++)
                    df[row + n] = 0.0f;
            } else {
                for (int n = n_fwd; n < N; n++)
                    df[row + n] = dx[row + n] * h[row + N + n];
            }
        }
    }
}
