/* kernels/cpu/conv1d.c: Hawk's depthwise temporal conv of width BIRDIE_CONV_WIDTH (docs/algorithm.md §1.5)
 * and its backward. Forward-direction channels read the current and the previous positions of their sample,
 * reverse-direction channels the current and the following ones (the mirror image, for the reverse half of a
 * bidirectional layer); a tap never crosses a reset bit of its direction (kernels/ops.h). The recurrence itself
 * is the gated scan (scan.c). Positions are spread over cores for the forward and the input gradient; the
 * weight and bias gradients are summed per channel block over every position in one fixed order, so results
 * do not depend on the thread count. */
#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/parallel.h"

enum { CONV_BLOCK = 64 }; /* channels per item of the weight-gradient sums */

/* Taps that position t of a row may use, looking back (forward channels): tap k reads t-k and needs no
 * BIRDIE_RESET_FWD in (t-k, t]. */
static int taps_back(const uint8_t *rb, int t)
{
    int k = 1;
    while (k < BIRDIE_CONV_WIDTH && t - k >= 0 && !(rb[t - k + 1] & BIRDIE_RESET_FWD))
        k++;
    return k;
}

/* Looking ahead (reverse channels): tap k reads t+k and needs no BIRDIE_RESET_REV in [t, t+k). */
static int taps_ahead(const uint8_t *rb, int t, int T)
{
    int k = 1;
    while (k < BIRDIE_CONV_WIDTH && t + k < T && !(rb[t + k - 1] & BIRDIE_RESET_REV))
        k++;
    return k;
}

CPU_HOT static void conv_forward_rows(float *out, const float *inp, int ld_in, const float *w, const float *b,
                                      const uint8_t *resets, int T, int N, int n_fwd, long bt0, long bt1)
{
    for (long bt = bt0; bt < bt1; bt++) {
        int t = (int)(bt % T);
        const uint8_t *rb = resets + (bt - t);
        int kb = taps_back(rb, t), ka = taps_ahead(rb, t, T);
        float *o = out + (size_t)bt * N;
        for (int n = 0; n < N; n++)
            o[n] = b[n];
        for (int k = 0; k < kb; k++) {
            const float *x = inp + (size_t)(bt - k) * ld_in, *wk = w + (size_t)k * N;
            for (int n = 0; n < n_fwd; n++)
                o[n] += wk[n] * x[n];
        }
        for (int k = 0; k < ka; k++) {
            const float *x = inp + (size_t)(bt + k) * ld_in, *wk = w + (size_t)k * N;
            for (int n = n_fwd; n < N; n++)
                o[n] += wk[n] * x[n];
        }
    }
}

void cpu_conv1d_forward(float *out, const float *inp, int ld_in, const float *w, const float *b, const uint8_t *resets,
                        int B, int T, int N, int n_fwd)
{
    long BT = (long)B * T;
    CPU_PARALLEL_RANGE(BT, BT * N * BIRDIE_CONV_WIDTH, lo, hi,
                       conv_forward_rows(out, inp, ld_in, w, b, resets, T, N, n_fwd, lo, hi));
}

/* dinp_s gathers dout_t * w_k from every t whose tap k reads s: t = s + k (forward channels) or t = s - k
 * (reverse channels), when that tap is in use at t. */
CPU_HOT static void conv_dinp_rows(float *dinp, int ld_in, const float *dout, const float *w, const uint8_t *resets,
                                   int T, int N, int n_fwd, long bs0, long bs1)
{
    for (long bs = bs0; bs < bs1; bs++) {
        int s = (int)(bs % T);
        const uint8_t *rb = resets + (bs - s);
        float *d = dinp + (size_t)bs * ld_in;
        for (int n = 0; n < N; n++)
            d[n] = 0.0f;
        for (int k = 0; k < BIRDIE_CONV_WIDTH; k++) {
            const float *wk = w + (size_t)k * N;
            if (s + k < T && taps_back(rb, s + k) > k) {
                const float *g = dout + (size_t)(bs + k) * N;
                for (int n = 0; n < n_fwd; n++)
                    d[n] += wk[n] * g[n];
            }
            if (s - k >= 0 && taps_ahead(rb, s - k, T) > k) {
                const float *g = dout + (size_t)(bs - k) * N;
                for (int n = n_fwd; n < N; n++)
                    d[n] += wk[n] * g[n];
            }
        }
    }
}

/* dw_k and db of the channels of blocks [k0, k1), summed over rows and positions in order. */
CPU_HOT static void conv_dweight_blocks(float *dw, float *db, const float *dout, const float *inp, int ld_in,
                                        const uint8_t *resets, int B, int T, int N, int n_fwd, long k0, long k1)
{
    for (long blk = k0; blk < k1; blk++) {
        int c0 = (int)blk * CONV_BLOCK, c1 = c0 + CONV_BLOCK < N ? c0 + CONV_BLOCK : N;
        int split = n_fwd < c0 ? c0 : (n_fwd > c1 ? c1 : n_fwd);
        for (long bt = 0; bt < (long)B * T; bt++) {
            int t = (int)(bt % T);
            const uint8_t *rb = resets + (bt - t);
            const float *g = dout + (size_t)bt * N;
            for (int n = c0; n < c1; n++)
                db[n] += g[n];
            int kb = taps_back(rb, t), ka = taps_ahead(rb, t, T);
            for (int k = 0; k < kb; k++) {
                const float *x = inp + (size_t)(bt - k) * ld_in;
                float *dwk = dw + (size_t)k * N;
                for (int n = c0; n < split; n++)
                    dwk[n] += g[n] * x[n];
            }
            for (int k = 0; k < ka; k++) {
                const float *x = inp + (size_t)(bt + k) * ld_in;
                float *dwk = dw + (size_t)k * N;
                for (int n = split; n < c1; n++)
                    dwk[n] += g[n] * x[n];
            }
        }
    }
}

void cpu_conv1d_backward(float *dinp, int ld_in, float *dw, float *db, const float *dout, const float *inp,
                         const float *w, const uint8_t *resets, int B, int T, int N, int n_fwd)
{
    long BT = (long)B * T, blocks = (N + CONV_BLOCK - 1) / CONV_BLOCK;
    CPU_PARALLEL_RANGE(BT, BT * N * BIRDIE_CONV_WIDTH, lo, hi,
                       conv_dinp_rows(dinp, ld_in, dout, w, resets, T, N, n_fwd, lo, hi));
    CPU_PARALLEL_RANGE(blocks, BT * N * BIRDIE_CONV_WIDTH, lo, hi,
                       conv_dweight_blocks(dw, db, dout, inp, ld_in, resets, B, T, N, n_fwd, lo, hi));
}
