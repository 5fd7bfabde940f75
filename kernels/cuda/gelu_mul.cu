/* kernels/cuda/gelu_mul.cu: the gated GeLU out = gelu(gate) * val and its backward, with row strides
 * (kernels/ops.h; CPU twin kernels/cpu/gelu_mul.c, the same tanh GeLU as ssm_gates.cu). One thread per element
 * through a grid-stride loop. */
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_ops.h"

#define GM_GELU_SCALE 0.7978845608028654f /* sqrt(2/pi) */

__device__ inline float gm_gelu(float x)
{
    float cube = 0.044715f * x * x * x;
    return 0.5f * x * (1.0f + tanhf(GM_GELU_SCALE * (x + cube)));
}

__device__ inline float gm_gelu_grad(float x)
{
    float cube = 0.044715f * x * x * x;
    float t = tanhf(GM_GELU_SCALE * (x + cube));
    float sech2 = 1.0f - t * t;
    return 0.5f * (1.0f + t) + 0.5f * x * sech2 * GM_GELU_SCALE * (1.0f + 3.0f * 0.044715f * x * x);
}

__global__ void gelu_mul_forward_kernel(float *out, const float *__restrict__ gate, int ld_gate,
                                        const float *__restrict__ val, int ld_val, int N, size_t n_elems)
{
    GRID_STRIDE_LOOP(i, n_elems)
    {
        size_t bt = i / (size_t)N, n = i % (size_t)N;
        out[i] = gm_gelu(gate[bt * ld_gate + n]) * val[bt * ld_val + n];
    }
}

__global__ void gelu_mul_backward_kernel(float *dgate, float *dval, const float *__restrict__ dout,
                                         const float *__restrict__ gate, int ld_gate, const float *__restrict__ val,
                                         int ld_val, int N, size_t n_elems)
{
    GRID_STRIDE_LOOP(i, n_elems)
    {
        size_t bt = i / (size_t)N, n = i % (size_t)N;
        float g = gate[bt * ld_gate + n], x = val[bt * ld_val + n], d = dout[i];
        dval[bt * ld_val + n] = d * gm_gelu(g);
        dgate[bt * ld_gate + n] = d * x * gm_gelu_grad(g);
    }
}

extern "C" void cuda_gelu_mul_forward(float *out, const float *gate, int ld_gate, const float *val, int ld_val, int BT,
                                      int N)
{
    size_t n = BT > 0 && N > 0 ? (size_t)BT * N : 0;
    if (!n)
        return;
    gelu_mul_forward_kernel<<<grid_stride_blocks(n, ELEMENTWISE_BLOCK), ELEMENTWISE_BLOCK>>>(out, gate, ld_gate, val,
                                                                                             ld_val, N, n);
    CUDA_CHECK_LAUNCH();
}

extern "C" void cuda_gelu_mul_backward(float *dgate, float *dval, const float *dout, const float *gate, int ld_gate,
                                       const float *val, int ld_val, int BT, int N)
{
    size_t n = BT > 0 && N > 0 ? (size_t)BT * N : 0;
    if (!n)
        return;
    gelu_mul_backward_kernel<<<grid_stride_blocks(n, ELEMENTWISE_BLOCK), ELEMENTWISE_BLOCK>>>(
        dgate, dval, dout, gate, ld_gate, val, ld_val, N, n);
    CUDA_CHECK_LAUNCH();
}
