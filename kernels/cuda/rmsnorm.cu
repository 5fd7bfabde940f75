/* kernels/cuda/rmsnorm.cu: RMSNorm over the last axis (C), eps = 1e-5 (CPU twin kernels/cpu/rmsnorm.c):
 *   out = inp * rstd * weight,  rstd = 1 / sqrt(mean(inp^2) + eps).
 * One warp per row (BT rows, C channels strided over the 32 lanes). The backward adds into dinp
 * row by row, and into dweight through the deterministic column sum of reduce.cuh (no atomics);
 * it reads dout and inp twice (once per pass), which a GPU session may fuse if it shows in a profile. */
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/reduce.cuh"

#define RMSNORM_EPS 1e-5f

enum { RMSNORM_BLOCK = 256, RMSNORM_ROWS_PER_BLOCK = RMSNORM_BLOCK / 32 };

__global__ void rmsnorm_forward_kernel(float *out, float *rstd, const float *__restrict__ inp,
                                       const float *__restrict__ weight, int BT, int C)
{
    const int lane = threadIdx.x & 31;
    const int row = blockIdx.x * RMSNORM_ROWS_PER_BLOCK + (threadIdx.x >> 5);
    if (row >= BT)
        return; /* a whole warp leaves together: the shuffles below see full warps only */
    const float *x = inp + (size_t)row * C;
    float *y = out + (size_t)row * C;
    float ss = 0.0f;
    for (int c = lane; c < C; c += 32)
        ss += x[c] * x[c];
    ss = warp_reduce(ss, SumOp());
    const float s = 1.0f / sqrtf(ss / (float)C + RMSNORM_EPS);
    for (int c = lane; c < C; c += 32)
        y[c] = x[c] * s * weight[c];
    if (lane == 0)
        rstd[row] = s;
}

/* With n = x * s: dx += s * (w*dy - n * mean(w*dy*n)). */
__global__ void rmsnorm_backward_dinp_kernel(float *dinp, const float *__restrict__ dout, const float *__restrict__ inp,
                                             const float *__restrict__ weight, const float *__restrict__ rstd, int BT,
                                             int C)
{
    const int lane = threadIdx.x & 31;
    const int row = blockIdx.x * RMSNORM_ROWS_PER_BLOCK + (threadIdx.x >> 5);
    if (row >= BT)
        return;
    const float *x = inp + (size_t)row * C, *dy = dout + (size_t)row * C;
    float *dx = dinp + (size_t)row * C;
    const float s = rstd[row];
    float dot = 0.0f;
    for (int c = lane; c < C; c += 32)
        dot += weight[c] * dy[c] * x[c] * s;
    dot = warp_reduce(dot, SumOp()) / (float)C;
    for (int c = lane; c < C; c += 32)
        dx[c] += s * (weight[c] * dy[c] - x[c] * s * dot);
}

/* dweight[c] += sum over rows of dy * x * rstd. */
struct RmsnormWeightGrad {
    const float *dout, *inp, *rstd;
    int C;
    __device__ float operator()(int r, int c) const
    {
        size_t i = (size_t)r * C + c;
        return dout[i] * (inp[i] * rstd[r]);
    }
};

extern "C" void cuda_rmsnorm_forward(float *out, float *rstd, const float *inp, const float *weight, int BT, int C)
{
    if (BT <= 0 || C <= 0)
        return;
    rmsnorm_forward_kernel<<<ceil_div(BT, RMSNORM_ROWS_PER_BLOCK), RMSNORM_BLOCK>>>(out, rstd, inp, weight, BT, C);
    CUDA_CHECK_LAUNCH();
}

extern "C" void cuda_rmsnorm_backward(float *dinp, float *dweight, const float *dout, const float *inp,
                                      const float *weight, const float *rstd, int BT, int C)
{
    if (BT <= 0 || C <= 0)
        return;
    rmsnorm_backward_dinp_kernel<<<ceil_div(BT, RMSNORM_ROWS_PER_BLOCK), RMSNORM_BLOCK>>>(dinp, dout, inp, weight, rstd,
                                                                                          BT, C);
    CUDA_CHECK_LAUNCH();
    RmsnormWeightGrad value = {dout, inp, rstd, C};
    column_sum_accumulate(dweight, value, BT, C);
}
