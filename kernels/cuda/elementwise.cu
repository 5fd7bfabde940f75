/* kernels/cuda/elementwise.cu: the residual add, out (n) = a + b. The gate and activation kernels of
 * the SSM block are in ssm_gates.cu. */
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_ops.h"

__global__ void residual_forward_kernel(float *out, const float *a, const float *b, size_t n)
{
    GRID_STRIDE_LOOP(i, n)
    out[i] = a[i] + b[i];
}

extern "C" void cuda_residual_forward(float *out, const float *a, const float *b, size_t n)
{
    if (n == 0)
        return;
    residual_forward_kernel<<<grid_stride_blocks(n, ELEMENTWISE_BLOCK), ELEMENTWISE_BLOCK>>>(out, a, b, n);
    CUDA_CHECK_LAUNCH();
}
