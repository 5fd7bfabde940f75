/* kernels/cpu/gelu_mul.c: the gated GeLU out = gelu(gate) * val and its backward, with row strides so that
 * both operands can be slots of one wider projection: Hawk's output gate (gelu(W_gate u) * h) and the gated
 * MLP (gelu(u W_1) * (u W_2)), docs/algorithm.md §1.5. The GeLU is the tanh approximation of the Gated SSM's
 * output gate (cpu_gelu in ssm_gates.c), so the families share one activation. Positions are spread over
 * cores. */
#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/parallel.h"

CPU_HOT static void gelu_mul_rows(float *out, const float *gate, int ld_gate, const float *val, int ld_val, int N,
                                  long bt0, long bt1)
{
    for (long bt = bt0; bt < bt1; bt++) {
        const float *g = gate + (size_t)bt * ld_gate, *x = val + (size_t)bt * ld_val;
        float *o = out + (size_t)bt * N;
        for (int n = 0; n < N; n++)
            o[n] = cpu_gelu(g[n]) * x[n];
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
        const float *g = gate + (size_t)bt * ld_gate, *x = val + (size_t)bt * ld_val, *d = dout + (size_t)bt * N;
        float *dg = dgate + (size_t)bt * ld_gate, *dx = dval + (size_t)bt * ld_val;
        for (int n = 0; n < N; n++) {
            float gn = g[n], xn = x[n];
            dx[n] = d[n] * cpu_gelu(gn);
            dg[n] = d[n] * xn * cpu_gelu_grad(gn);
        }
    }
}

void cpu_gelu_mul_backward(float *dgate, float *dval, const float *dout, const float *gate, int ld_gate,
                           const float *val, int ld_val, int BT, int N)
{
    CPU_PARALLEL_RANGE(BT, (long)BT * N * 4, lo, hi,
                       gelu_mul_backward_rows(dgate, dval, dout, gate, ld_gate, val, ld_val, N, lo, hi));
}
