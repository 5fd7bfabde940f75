/* kernels/cpu/adamw.c: AdamW (decoupled weight decay) on one tensor or on the segments of a flat buffer,
 * and the gradient sum of squares used for global-norm clipping. Sums are accumulated in double in a
 * fixed order (deterministic). */
#include <math.h>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/parallel.h"

/* Scalars are copied out of p and the buffers are restrict: with p read through a pointer that
 * might alias param, GCC keeps the loop scalar. */
CPU_HOT static void adamw_range(float *restrict param, const float *restrict grad, float *restrict m, float *restrict v,
                                long i0, long i1, float lr, float beta1, float beta2, float eps, float wd,
                                float grad_scale, float bc1, float bc2)
{
    for (long i = i0; i < i1; i++) {
        float g = grad[i] * grad_scale;
        m[i] = beta1 * m[i] + (1.0f - beta1) * g;
        v[i] = beta2 * v[i] + (1.0f - beta2) * g * g;
        float mhat = m[i] / bc1, vhat = v[i] / bc2;
        param[i] -= lr * (mhat / (sqrtf(vhat) + eps) + wd * param[i]);
    }
}

void cpu_adamw_update(float *param, const float *grad, float *m, float *v, size_t n, const birdie_adamw_params *p)
{
    float bc1 = 1.0f - powf(p->beta1, (float)p->step);
    float bc2 = 1.0f - powf(p->beta2, (float)p->step);
    CPU_PARALLEL_RANGE(n, n, lo, hi,
                       adamw_range(param, grad, m, v, lo, hi, p->lr, p->beta1, p->beta2, p->eps, p->weight_decay,
                                   p->grad_scale, bc1, bc2));
}

/* The reference of the CUDA multi-tensor launch: each segment exactly as adamw_update on its own, so
 * that a model stepping by segments trains bit for bit as one stepping tensor by tensor. */
void cpu_adamw_update_segments(float *param, const float *grad, float *m, float *v, const birdie_adamw_segment *segs,
                               int n_segs, const birdie_adamw_params *p)
{
    for (int s = 0; s < n_segs; s++) {
        birdie_adamw_params ps = *p;
        ps.weight_decay = segs[s].decay ? p->weight_decay : 0.0f;
        size_t o = segs[s].offset;
        cpu_adamw_update(param + o, grad + o, m + o, v + o, segs[s].count, &ps);
    }
}

double cpu_sum_squares(const float *x, size_t n)
{
    /* Four partial sums keep the loop vectorisable while the order stays fixed. */
    double s[4] = {0, 0, 0, 0};
    size_t i = 0;
    for (; i + 4 <= n; i += 4)
        for (int k = 0; k < 4; k++)
            s[k] += (double)x[i + k] * (double)x[i + k];
    for (; i < n; i++)
        s[0] += (double)x[i] * (double)x[i];
    return (s[0] + s[1]) + (s[2] + s[3]);
}
