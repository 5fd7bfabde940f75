/* kernels/cpu/crossentropy.c: fused softmax + cross-entropy with an ignore label, forward and
 * backward in one pass (the logits are dead after it, so dlogits may overwrite them). Each exp is
 * taken once: the sum's pass leaves exp(z - max) in dlogits and the gradient's pass scales it. */
#include <math.h>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/parallel.h"

CPU_HOT static void crossentropy_rows(float *losses, float *dlogits, const float *logits, const int32_t *targets,
                                      long bt0, long bt1, int V, float dloss)
{
    for (long bt = bt0; bt < bt1; bt++) {
        const float *z = logits + (size_t)bt * V;
        float *dz = dlogits + (size_t)bt * V;
        int target = targets[bt];
        if (target == BIRDIE_IGNORE_LABEL) {
            losses[bt] = 0.0f;
            for (int v = 0; v < V; v++)
                dz[v] = 0.0f;
            continue;
        }
        float maxz = z[0];
        for (int v = 1; v < V; v++)
            maxz = z[v] > maxz ? z[v] : maxz;
        float zt = z[target]; /* before dz, which may be z, is overwritten */
        float sum = 0.0f;
        for (int v = 0; v < V; v++) {
            float e = expf(z[v] - maxz);
            dz[v] = e;
            sum += e;
        }
        float logsum = logf(sum);
        losses[bt] = logsum + maxz - zt;
        float inv = 1.0f / sum;
        for (int v = 0; v < V; v++)
            dz[v] = dloss * dz[v] * inv;
        dz[target] -= dloss;
    }
}

void cpu_crossentropy_forward_backward(float *losses, float *dlogits, const float *logits, const int32_t *targets,
                                       int BT, int V, float dloss)
{
    CPU_PARALLEL_RANGE(BT, (long)BT * V, lo, hi, crossentropy_rows(losses, dlogits, logits, targets, lo, hi, V, dloss));
}
