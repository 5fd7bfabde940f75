/* kernels/cuda/crossentropy.cu: fused softmax cross-entropy forward + backward with the ignore label
 * (CPU twin kernels/cpu/crossentropy.c). One block per row of logits (BT rows, V columns):
 *   losses[bt] = logsumexp(logits[bt]) - logits[bt][target],
 *   dlogits[bt] = dloss * (softmax(logits[bt]) - onehot(target)),
 * and a zero loss and a zero gradient row where target == BIRDIE_IGNORE_LABEL. The probabilities
 * never touch memory. dlogits may alias logits: every read of a row (the target logit included)
 * happens before the block's last barrier, and each thread then rewrites only the columns it read.
 * A target outside [0, V) that is not the ignore label gives a NaN loss and a NaN gradient row, so
 * the trainer's non-finite-loss check names it instead of reading out of bounds. */
#include <math.h>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/reduce.cuh"

enum { CROSSENTROPY_BLOCK = 256 };

/* No __restrict__ on logits and dlogits: they may be the same buffer. */
__global__ void crossentropy_kernel(float *losses, float *dlogits, const float *logits,
                                    const int32_t *__restrict__ targets, int V, float dloss)
{
    const size_t row = blockIdx.x;
    const float *lg = logits + row * V;
    float *dl = dlogits + row * V;
    const int target = targets[row];
    if (target == BIRDIE_IGNORE_LABEL) {
        for (int v = threadIdx.x; v < V; v += blockDim.x)
            dl[v] = 0.0f;
        if (threadIdx.x == 0)
            losses[row] = 0.0f;
        return;
    }
    const bool valid = target >= 0 && target < V;
    const float target_logit = valid ? lg[target] : NAN;

    float m = -INFINITY;
    for (int v = threadIdx.x; v < V; v += blockDim.x)
        m = fmaxf(m, lg[v]);
    m = block_reduce(m, MaxOp(), -INFINITY);
    float sum = 0.0f;
    for (int v = threadIdx.x; v < V; v += blockDim.x)
        sum += expf(lg[v] - m);
    sum = block_reduce(sum, SumOp(), 0.0f);

    if (threadIdx.x == 0)
        losses[row] = logf(sum) + m - target_logit;
    const float scale = valid ? dloss / sum : NAN;
    for (int v = threadIdx.x; v < V; v += blockDim.x) {
        float p_scaled = expf(lg[v] - m) * scale;
        dl[v] = v == target ? p_scaled - dloss : p_scaled;
    }
}

extern "C" void cuda_crossentropy_forward_backward(float *losses, float *dlogits, const float *logits,
                                                   const int32_t *targets, int BT, int V, float dloss)
{
    if (BT <= 0 || V <= 0)
        return;
    crossentropy_kernel<<<(unsigned)BT, CROSSENTROPY_BLOCK>>>(losses, dlogits, logits, targets, V, dloss);
    CUDA_CHECK_LAUNCH();
}
