/* kernels/cuda/ssm_gates.cu: the elementwise gates of the Gated SSM block, fused per position
 * (docs/algorithm.md §1.2; CPU twin kernels/cpu/ssm_gates.c, same formulas):
 *   proj (BT,4N) = [a_i | a_z | a_o | a_f] per position,
 *   x = sigmoid(a_i) * a_z,  f = sigmoid(a_f),  g = gelu_tanh(a_o) * h.
 * One thread per (bt, n) element through a grid-stride loop; each kernel reads its inputs once and
 * writes its outputs once. The scan itself is in scan.cu. */
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_ops.h"

#define GELU_SCALE 0.7978845608028654f /* sqrt(2/pi) */

__device__ inline float sigmoidf_(float x)
{
    return 1.0f / (1.0f + expf(-x));
}

__device__ inline float gelu_tanh(float x)
{
    float cube = 0.044715f * x * x * x;
    return 0.5f * x * (1.0f + tanhf(GELU_SCALE * (x + cube)));
}

__device__ inline float gelu_tanh_grad(float x)
{
    float cube = 0.044715f * x * x * x;
    float t = tanhf(GELU_SCALE * (x + cube));
    float sech2 = 1.0f - t * t;
    return 0.5f * (1.0f + t) + 0.5f * x * sech2 * GELU_SCALE * (1.0f + 3.0f * 0.044715f * x * x);
}

/* Offset of slot `slot` (0 a_i, 1 a_z, 2 a_o, 3 a_f) of element i = bt*N + n in proj (BT,4N). */
__device__ inline size_t proj_index(size_t i, int N, int slot)
{
    size_t bt = i / (size_t)N, n = i % (size_t)N;
    return bt * 4 * (size_t)N + (size_t)slot * N + n;
}

__global__ void ssm_gates_forward_kernel(float *x, float *f, const float *__restrict__ proj, size_t n_elems, int N)
{
    GRID_STRIDE_LOOP(i, n_elems)
    {
        size_t p = proj_index(i, N, 0);
        if (x) /* NULL: the forget gate alone (ops.h) */
            x[i] = sigmoidf_(proj[p]) * proj[p + N];
        f[i] = sigmoidf_(proj[p + 3 * (size_t)N]);
    }
}

__global__ void ssm_gates_backward_kernel(float *dproj, const float *__restrict__ dx, const float *__restrict__ df,
                                          const float *__restrict__ proj, size_t n_elems, int N)
{
    GRID_STRIDE_LOOP(i, n_elems)
    {
        size_t p = proj_index(i, N, 0);
        float si = sigmoidf_(proj[p]), sf = sigmoidf_(proj[p + 3 * (size_t)N]);
        float a_z = proj[p + N];
        dproj[p] = dx[i] * a_z * si * (1.0f - si);
        dproj[p + N] = dx[i] * si;
        dproj[p + 3 * (size_t)N] = df[i] * sf * (1.0f - sf);
    }
}

__global__ void ssm_output_forward_kernel(float *g, const float *__restrict__ proj, const float *__restrict__ h,
                                          size_t n_elems, int N)
{
    GRID_STRIDE_LOOP(i, n_elems)
    g[i] = gelu_tanh(proj[proj_index(i, N, 2)]) * h[i];
}

__global__ void ssm_output_backward_kernel(float *dproj, float *dh, const float *__restrict__ dg,
                                           const float *__restrict__ proj, const float *__restrict__ h, size_t n_elems,
                                           int N)
{
    GRID_STRIDE_LOOP(i, n_elems)
    {
        size_t p = proj_index(i, N, 2);
        float a_o = proj[p];
        dh[i] = dg[i] * gelu_tanh(a_o);
        dproj[p] = dg[i] * h[i] * gelu_tanh_grad(a_o);
    }
}

static size_t elements(int BT, int N)
{
    return BT > 0 && N > 0 ? (size_t)BT * (size_t)N : 0;
}

extern "C" void cuda_ssm_gates_forward(float *x, float *f, const float *proj, int BT, int N)
{
    size_t n = elements(BT, N);
    if (!n)
        return;
    ssm_gates_forward_kernel<<<grid_stride_blocks(n, ELEMENTWISE_BLOCK), ELEMENTWISE_BLOCK>>>(x, f, proj, n, N);
    CUDA_CHECK_LAUNCH();
}

extern "C" void cuda_ssm_gates_backward(float *dproj, const float *dx, const float *df, const float *proj, int BT,
                                        int N)
{
    size_t n = elements(BT, N);
    if (!n)
        return;
    ssm_gates_backward_kernel<<<grid_stride_blocks(n, ELEMENTWISE_BLOCK), ELEMENTWISE_BLOCK>>>(dproj, dx, df, proj, n,
                                                                                               N);
    CUDA_CHECK_LAUNCH();
}

extern "C" void cuda_ssm_output_forward(float *g, const float *proj, const float *h, int BT, int N)
{
    size_t n = elements(BT, N);
    if (!n)
        return;
    ssm_output_forward_kernel<<<grid_stride_blocks(n, ELEMENTWISE_BLOCK), ELEMENTWISE_BLOCK>>>(g, proj, h, n, N);
    CUDA_CHECK_LAUNCH();
}

extern "C" void cuda_ssm_output_backward(float *dproj, float *dh, const float *dg, const float *proj, const float *h,
                                         int BT, int N)
{
    size_t n = elements(BT, N);
    if (!n)
        return;
    ssm_output_backward_kernel<<<grid_stride_blocks(n, ELEMENTWISE_BLOCK), ELEMENTWISE_BLOCK>>>(dproj, dh, dg, proj, h,
                                                                                                n, N);
    CUDA_CHECK_LAUNCH();
}
