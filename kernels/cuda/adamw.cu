/* kernels/cuda/adamw.cu: the optimizer's device side: the fused AdamW update of one tensor and the
 * sum of squares that the global gradient norm is built from (CPU twin kernels/cpu/adamw.c).
 * Parameters, gradients and both moments are each one contiguous buffer (docs/design.md §3.2), so one call of
 * either op covers every tensor at once (the multi-tensor form), or one decay group at a time.
 *
 * AdamW (decoupled decay, bias-corrected moments), per element with g = grad * grad_scale:
 *   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
 *   param -= lr * ( (m / (1-b1^step)) / (sqrt(v / (1-b2^step)) + eps) + weight_decay * param ).
 * sum_squares accumulates in double with a grid whose size depends only on n, and folds the block
 * partials in a fixed order, so it repeats bit for bit. */
#include <math.h>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/reduce.cuh"

enum { SUM_SQUARES_BLOCK = 256, SUM_SQUARES_MAX_BLOCKS = 1024 };

__global__ void adamw_kernel(float *param, const float *__restrict__ grad, float *m, float *v, size_t n, float lr,
                             float beta1, float beta2, float eps, float weight_decay, float grad_scale,
                             float correction1, float correction2)
{
    GRID_STRIDE_LOOP(i, n)
    {
        float g = grad[i] * grad_scale;
        float mi = beta1 * m[i] + (1.0f - beta1) * g;
        float vi = beta2 * v[i] + (1.0f - beta2) * g * g;
        float m_hat = mi / correction1, v_hat = vi / correction2;
        float p = param[i];
        param[i] = p - lr * (m_hat / (sqrtf(v_hat) + eps) + weight_decay * p);
        m[i] = mi;
        v[i] = vi;
    }
}

extern "C" void cuda_adamw_update(float *param, const float *grad, float *m, float *v, size_t n,
                                  const birdie_adamw_params *p)
{
    if (n == 0)
        return;
    float correction1 = 1.0f - powf(p->beta1, (float)p->step);
    float correction2 = 1.0f - powf(p->beta2, (float)p->step);
    adamw_kernel<<<grid_stride_blocks(n, ELEMENTWISE_BLOCK), ELEMENTWISE_BLOCK>>>(
        param, grad, m, v, n, p->lr, p->beta1, p->beta2, p->eps, p->weight_decay, p->grad_scale, correction1,
        correction2);
    CUDA_CHECK_LAUNCH();
}

__global__ void sum_squares_partial_kernel(double *partial, const float *__restrict__ x, size_t n)
{
    double acc = 0.0;
    GRID_STRIDE_LOOP(i, n)
    {
        double xi = (double)x[i];
        acc += xi * xi;
    }
    acc = block_reduce(acc, SumOp(), 0.0);
    if (threadIdx.x == 0)
        partial[blockIdx.x] = acc;
}

__global__ void sum_partials_kernel(double *out, const double *partial, int count)
{
    double acc = 0.0;
    for (int i = threadIdx.x; i < count; i += blockDim.x)
        acc += partial[i];
    acc = block_reduce(acc, SumOp(), 0.0);
    if (threadIdx.x == 0)
        *out = acc;
}

extern "C" double cuda_sum_squares(const float *x, size_t n)
{
    if (n == 0)
        return 0.0;
    unsigned int blocks = grid_stride_blocks(n, SUM_SQUARES_BLOCK);
    if (blocks > SUM_SQUARES_MAX_BLOCKS)
        blocks = SUM_SQUARES_MAX_BLOCKS;
    double *partial = (double *)cuda_scratch(SCRATCH_REDUCE, (blocks + 1) * sizeof(double));
    sum_squares_partial_kernel<<<blocks, SUM_SQUARES_BLOCK>>>(partial + 1, x, n);
    CUDA_CHECK_LAUNCH();
    sum_partials_kernel<<<1, SUM_SQUARES_BLOCK>>>(partial, partial + 1, (int)blocks);
    CUDA_CHECK_LAUNCH();
    double result = 0.0;
    CUDA_CHECK(cudaMemcpy(&result, partial, sizeof(double), cudaMemcpyDeviceToHost));
    return result;
}
