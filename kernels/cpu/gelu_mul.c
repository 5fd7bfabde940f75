/* kernels/cpu/gelu_mul.c: the gated GeLU out = gelu(gate) * val and its backward, with row strides so that
 * both operands can be slots of one wider projection: Hawk's output gate (gelu(W_gate u) * h) and the gated
 * MLP (gelu(u W_1) * (u W_2)), docs/algorithm.md §1.5. The GeLU is the tanh approximation of the Gated SSM's
 * output gate (cpu_gelu in ssm_gates.c, same formula and the same fast tanh), inlined here so the loops
 * vectorise. Positions are spread over cores. */
/* As in ssm_gates.c: the clamps of fast_expf vectorise only when GCC may ignore signed zeros and NaN order. */
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
    return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * GELU_SCALE * (1.0f + 3.0f * 0.044715f * x * x);
}

CPU_HOT static void gelu_mul_rows(float *out, const float *gate, int ld_gate, const float *val, int ld_val, int N,
                                  long bt0, long bt1)
{
    for (long bt = bt0; bt < bt1; bt++) {
        const float *restrict g = gate + (size_t)bt * ld_gate, *restrict x = val + (size_t)bt * ld_val;
        float *restrict o = out + (size_t)bt * N;
        for (int n = 0; n < N; n++)
            o[n] = gelu(g[n]) * x[n];
    }
}

void cpu_gelu_mul_forward(float *out, const float *gate, int ld_gate, const float *val, int ld_val, int BT, int N)
{
    CPU_PARALLEL_RANGE(BT, (long)BT * N * 4, lo, hi, gelu_mul_rows(out, gate, ld_gate, val, ld_val, N, lo, hi));
}

CPU_HOT static void gelu_mul_backward_rows(float *dgate, float *dval, const float *dout, const float *gate, int ld_gate,
                                           const float *val, int ld_val, int N, long bt0, long bt1)
{
    for (long bt = bt0; bt < bt1; bt++) {
        const float *restrict g = gate + (size_t)bt * ld_gate, *restrict x = val + (size_t)bt * ld_val;
        const float *restrict d = dout + (size_t)bt * N;
        float *restrict dg = dgate + (size_t)bt * ld_gate, *restrict dx = dval + (size_t)bt * ld_val;
        for (int n = 0; n < N; n++) {
            float gn = g[n], xn = x[n];
            dx[n] = d[n] * gelu(gn);
            dg[n] = d[n] * xn * gelu_grad(gn);
        }
    }
}

void cpu_gelu_mul_backward(float *dgate, float *dval, const float *dout, const float *gate, int ld_gate,
                           const float *val, int ld_val, int BT, int N)
{
    CPU_PARALLEL_RANGE(BT, (long)BT * N * 4, lo, hi,
                       gelu_mul_backward_rows(dgate, dval, dout, gate, ld_gate, val, ld_val, N, lo, hi));
}
