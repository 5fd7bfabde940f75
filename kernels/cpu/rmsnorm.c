/* kernels/cpu/rmsnorm.c: RMSNorm forward and backward over the last axis (C), eps = 1e-5.
 * out = inp * rstd * weight with rstd = 1 / sqrt(mean(inp^2) + eps). */
#include <math.h>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/parallel.h"

#define RMSNORM_EPS 1e-5f

CPU_HOT static void rmsnorm_forward_rows(float *out, float *rstd, const float *inp, const float *weight, long bt0,
                                         long bt1, int C)
{
    for (long bt = bt0; bt < bt1; bt++) {
        const float *x = inp + (size_t)bt * C;
        float *y = out + (size_t)bt * C;
        float ss = 0.0f;
        for (int c = 0; c < C; c++)
            ss += x[c] * x[c];
        float s = 1.0f / sqrtf(ss / (float)C + RMSNORM_EPS);
        for (int c = 0; c < C; c++)
            y[c] = x[c] * s * weight[c];
        rstd[bt] = s;
    }
}

void cpu_rmsnorm_forward(float *out, float *rstd, const float *inp, const float *weight, int BT, int C)
{
    CPU_PARALLEL_RANGE(BT, (long)BT * C, lo, hi, rmsnorm_forward_rows(out, rstd, inp, weight, lo, hi, C));
}

/* With n = x * s: dx = s * (w*dy - n * mean(w*dy*n)); dweight += dy * n. Serial: dweight sums over
 * rows, and a fixed summation order keeps runs bit-identical. */
void cpu_rmsnorm_backward(float *dinp, float *dweight, const float *dout, const float *inp, const float *weight,
                          const float *rstd, int BT, int C)
{
    for (int bt = 0; bt < BT; bt++) {
        const float *x = inp + (size_t)bt * C;
        const float *dy = dout + (size_t)bt * C;
        float *dx = dinp + (size_t)bt * C;
        float s = rstd[bt];
        float dot = 0.0f;
        for (int c = 0; c < C; c++)
            dot += weight[c] * dy[c] * x[c] * s;
        dot /= (float)C;
        for (int c = 0; c < C; c++) {
            float n = x[c] * s;
            dweight[c] += dy[c] * n;
            dx[c] += s * (weight[c] * dy[c] - n * dot);
        }
    }
}
