/* kernels/cpu/ssm_gates.c: the elementwise gates of the Gated SSM block (docs/algorithm.md §1.2).
 * proj (BT,4N) holds [a_i | a_z | a_o | a_f] per position:
 *   x = sigmoid(a_i) * a_z   (scan input),   f = sigmoid(a_f)   (forget gate),
 *   g = gelu(a_o) * h        (gated scan output, fed to W_out).
 * The scan itself is in scan.c. Rows are spread over cores (parallel.h). */
/* The clamps inside fast_expf are float selects that GCC only turns into vector min/max when it may
 * ignore signed zeros and NaN ordering; a NaN input still yields a non-finite or clamped output and
 * the training loop's non-finite loss check (worker/train.c) still stops the run. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("finite-math-only", "no-signed-zeros")
#endif

#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/fastmath.h"
#include "kernels/cpu/parallel.h"

#define GELU_SCALE 0.7978845608028654f /* sqrt(2/pi) */

static inline __attribute__((always_inline)) float gelu(float x)
{
    float cube = 0.044715f * x * x * x;
    return 0.5f * x * (1.0f + fast_tanhf(GELU_SCALE * (x + cube)));
}

static inline __attribute__((always_inline)) float gelu_grad(float x)
{
    float cube = 0.044715f * x * x * x;
    float t = fast_tanhf(GELU_SCALE * (x + cube));
    float sech2 = 1.0f - t * t;
    return 0.5f * (1.0f + t) + 0.5f * x * sech2 * GELU_SCALE * (1.0f + 3.0f * 0.044715f * x * x);
}

float cpu_sigmoid(float x)
{
    return fast_sigmoidf(x);
}
float cpu_gelu(float x)
{
    return gelu(x);
}
float cpu_gelu_grad(float x)
{
    return gelu_grad(x);
}

CPU_HOT static void gates_forward_rows(float *x, float *f, const float *proj, long bt0, long bt1, int N)
{
    for (long bt = bt0; bt < bt1; bt++) {
        const float *a_i = proj + (size_t)bt * 4 * N, *a_z = a_i + N, *a_f = a_i + 3 * N;
        float *fr = f + (size_t)bt * N;
        if (!x) { /* the forget gate alone: the backward's recomputation */
            for (int n = 0; n < N; n++)
                fr[n] = fast_sigmoidf(a_f[n]);
            continue;
        }
        float *xr = x + (size_t)bt * N;
        for (int n = 0; n < N; n++) {
            xr[n] = fast_sigmoidf(a_i[n]) * a_z[n];
            fr[n] = fast_sigmoidf(a_f[n]);
        }
    }
}

void cpu_ssm_gates_forward(float *x, float *f, const float *proj, int BT, int N)
{
    CPU_PARALLEL_RANGE(BT, (long)BT * N, lo, hi, gates_forward_rows(x, f, proj, lo, hi, N));
}

/* One position's gradients; restrict parameters (the gradient slots never overlap the inputs) are
 * what lets GCC vectorise the five-input, three-output loop. */
static inline __attribute__((always_inline)) void gates_backward_row(
    float *restrict d_i, float *restrict d_z, float *restrict d_f, const float *restrict a_i, const float *restrict a_z,
    const float *restrict a_f, const float *restrict dxr, const float *restrict dfr, int N)
{
    for (int n = 0; n < N; n++) {
        float si = fast_sigmoidf(a_i[n]), sf = fast_sigmoidf(a_f[n]);
        d_i[n] = dxr[n] * a_z[n] * si * (1.0f - si);
        d_z[n] = dxr[n] * si;
        d_f[n] = dfr[n] * sf * (1.0f - sf);
    }
}

CPU_HOT static void gates_backward_rows(float *dproj, const float *dx, const float *df, const float *proj, long bt0,
                                        long bt1, int N)
{
    for (long bt = bt0; bt < bt1; bt++) {
        const float *a = proj + (size_t)bt * 4 * N;
        float *d = dproj + (size_t)bt * 4 * N;
        gates_backward_row(d, d + N, d + 3 * N, a, a + N, a + 3 * N, dx + (size_t)bt * N, df + (size_t)bt * N, N);
    }
}

void cpu_ssm_gates_backward(float *dproj, const float *dx, const float *df, const float *proj, int BT, int N)
{
    CPU_PARALLEL_RANGE(BT, (long)BT * N, lo, hi, gates_backward_rows(dproj, dx, df, proj, lo, hi, N));
}

CPU_HOT static void output_forward_rows(float *g, const float *proj, const float *h, long bt0, long bt1, int N)
{
    for (long bt = bt0; bt < bt1; bt++) {
        const float *a_o = proj + (size_t)bt * 4 * N + 2 * N;
        const float *hr = h + (size_t)bt * N;
        float *gr = g + (size_t)bt * N;
        for (int n = 0; n < N; n++)
            gr[n] = gelu(a_o[n]) * hr[n];
    }
}

void cpu_ssm_output_forward(float *g, const float *proj, const float *h, int BT, int N)
{
    CPU_PARALLEL_RANGE(BT, (long)BT * N, lo, hi, output_forward_rows(g, proj, h, lo, hi, N));
}

CPU_HOT static void output_backward_rows(float *dproj, float *dh, const float *dg, const float *proj, const float *h,
                                         long bt0, long bt1, int N)
{
    for (long bt = bt0; bt < bt1; bt++) {
        const float *a_o = proj + (size_t)bt * 4 * N + 2 * N;
        float *d_o = dproj + (size_t)bt * 4 * N + 2 * N;
        const float *hr = h + (size_t)bt * N, *dgr = dg + (size_t)bt * N;
        float *dhr = dh + (size_t)bt * N;
        for (int n = 0; n < N; n++) {
            dhr[n] = dgr[n] * gelu(a_o[n]);
            d_o[n] = dgr[n] * hr[n] * gelu_grad(a_o[n]);
        }
    }
}

void cpu_ssm_output_backward(float *dproj, float *dh, const float *dg, const float *proj, const float *h, int BT, int N)
{
    CPU_PARALLEL_RANGE(BT, (long)BT * N, lo, hi, output_backward_rows(dproj, dh, dg, proj, h, lo, hi, N));
}
