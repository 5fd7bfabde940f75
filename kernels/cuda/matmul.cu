/* kernels/cuda/matmul.cu: the linear layer out = inp @ weight^T + bias and its backward, as bf16
 * GEMMs with fp32 accumulation (cublasGemmEx, CUBLAS_COMPUTE_32F; tensor cores), fp32 in and out
 * (CPU twin kernels/cpu/matmul.c; the bf16 contract is docs/design.md §7.3, and the CPU's bf16
 * reference table computes the same values). At the end, the same layer with fp32 GEMMs, for
 * [train] precision = fp32.
 *
 * The interface keeps fp32 (the master weights and activations are fp32): each call rounds its GEMM
 * inputs to bf16 into scratch first. Row-major (R, K) data is column-major (K, R), so every GEMM is
 * written for cuBLAS on the transposed problem; each call below states its row-major meaning.
 * The bias is broadcast into out before the GEMM (beta = 1), as the CPU twin does; the bias gradient
 * is the deterministic column sum of reduce.cuh. A GPU session should compare, at the model's
 * shapes, this against a cublasLt BIAS epilogue and a cached bf16 copy of the weights. */
#include <cuda_bf16.h>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/reduce.cuh"

__global__ void to_bf16_kernel(__nv_bfloat16 *out, const float *__restrict__ in, size_t n)
{
    GRID_STRIDE_LOOP(i, n)
    out[i] = __float2bfloat16_rn(in[i]);
}

__global__ void broadcast_bias_kernel(float *out, const float *__restrict__ bias, size_t n_elems, int OC)
{
    GRID_STRIDE_LOOP(i, n_elems)
    out[i] = bias[i % (size_t)OC];
}

/* Carves bf16 copies of fp32 device tensors out of one scratch buffer. */
struct Bf16Scratch {
    char *next;
};

static __nv_bfloat16 *to_bf16(Bf16Scratch *s, const float *src, size_t n)
{
    __nv_bfloat16 *dst = (__nv_bfloat16 *)s->next;
    s->next += scratch_align(n * sizeof(__nv_bfloat16));
    to_bf16_kernel<<<grid_stride_blocks(n, ELEMENTWISE_BLOCK), ELEMENTWISE_BLOCK>>>(dst, src, n);
    CUDA_CHECK_LAUNCH();
    return dst;
}

static size_t bf16_scratch_bytes(size_t n0, size_t n1, size_t n2)
{
    return scratch_align(n0 * 2) + scratch_align(n1 * 2) + scratch_align(n2 * 2);
}

static Bf16Scratch bf16_scratch(size_t n0, size_t n1, size_t n2)
{
    Bf16Scratch s = {(char *)cuda_scratch(SCRATCH_GEMM, bf16_scratch_bytes(n0, n1, n2))};
    return s;
}

/* reduce.cuh's sizing, out of line so runtime.cu need not include the kernels. */
size_t cuda_column_sum_scratch_bytes(int R, int C)
{
    return column_sum_scratch_bytes(R, C);
}

/* The backward with dinp holds all three copies, so it needs at least what the forward does. */
size_t cuda_matmul_scratch_bytes(int BT, int C, int OC)
{
    if (BT <= 0 || C <= 0 || OC <= 0)
        return 0;
    return bf16_scratch_bytes((size_t)BT * OC, (size_t)BT * C, (size_t)OC * C);
}

/* Column-major Cm (m, n) = beta * Cm + op(A) (m, k) @ op(B) (k, n); A, B bf16, Cm fp32. */
static void gemm_bf16(cublasOperation_t op_a, cublasOperation_t op_b, int m, int n, int k, const __nv_bfloat16 *A,
                      int lda, const __nv_bfloat16 *B, int ldb, float beta, float *Cm, int ldc)
{
    const float alpha = 1.0f;
    CUBLAS_CHECK(cublasGemmEx(cuda_cublas(), op_a, op_b, m, n, k, &alpha, A, CUDA_R_16BF, lda, B, CUDA_R_16BF, ldb,
                              &beta, Cm, CUDA_R_32F, ldc, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

extern "C" void cuda_matmul_forward(float *out, const float *inp, const float *weight, const float *bias, int BT, int C,
                                    int OC)
{
    if (BT <= 0 || OC <= 0)
        return;
    if (C <= 0 && !bias) { /* an empty sum: cuBLAS rejects k = 0 with these leading dimensions */
        CUDA_CHECK(cudaMemset(out, 0, (size_t)BT * OC * sizeof(float)));
        return;
    }
    float beta = 0.0f;
    if (bias) {
        size_t n = (size_t)BT * OC;
        broadcast_bias_kernel<<<grid_stride_blocks(n, ELEMENTWISE_BLOCK), ELEMENTWISE_BLOCK>>>(out, bias, n, OC);
        CUDA_CHECK_LAUNCH();
        beta = 1.0f;
    }
    if (C <= 0)
        return;
    Bf16Scratch s = bf16_scratch((size_t)BT * C, (size_t)OC * C, 0);
    const __nv_bfloat16 *inp16 = to_bf16(&s, inp, (size_t)BT * C);
    const __nv_bfloat16 *weight16 = to_bf16(&s, weight, (size_t)OC * C);
    /* row-major out (BT,OC) = inp (BT,C) @ weight (OC,C)^T  <=>  col-major out^T (OC,BT) = W (OC,C) @ inp^T (C,BT),
     * where weight's storage read column-major is W^T (C,OC) (so op T) and inp's is inp^T (C,BT) (op N). */
    gemm_bf16(CUBLAS_OP_T, CUBLAS_OP_N, OC, BT, C, weight16, C, inp16, C, beta, out, OC);
}

struct BiasGrad {
    const float *dout;
    int OC;
    __device__ float operator()(int r, int c) const
    {
        return dout[(size_t)r * OC + c];
    }
};

extern "C" void cuda_matmul_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                                     const float *weight, int BT, int C, int OC)
{
    if (BT <= 0 || OC <= 0)
        return;
    if (dbias) {
        BiasGrad value = {dout, OC};
        column_sum_accumulate(dbias, value, BT, OC);
    }
    if (C <= 0)
        return;
    Bf16Scratch s = bf16_scratch((size_t)BT * OC, (size_t)BT * C, dinp ? (size_t)OC * C : 0);
    const __nv_bfloat16 *dout16 = to_bf16(&s, dout, (size_t)BT * OC);
    const __nv_bfloat16 *inp16 = to_bf16(&s, inp, (size_t)BT * C);
    if (dinp) {
        const __nv_bfloat16 *weight16 = to_bf16(&s, weight, (size_t)OC * C);
        /* row-major dinp (BT,C) = dout (BT,OC) @ weight (OC,C)  <=>  col-major dinp^T (C,BT) =
         * weight^T (C,OC) @ dout^T (OC,BT); both storages read column-major are exactly those (op N). */
        gemm_bf16(CUBLAS_OP_N, CUBLAS_OP_N, C, BT, OC, weight16, C, dout16, OC, 0.0f, dinp, C);
    }
    /* row-major dweight (OC,C) += dout^T (OC,BT) @ inp (BT,C)  <=>  col-major dweight^T (C,OC) +=
     * inp^T (C,BT) @ dout (BT,OC); inp's storage is inp^T (op N), dout's is dout^T (OC,BT) (op T). */
    gemm_bf16(CUBLAS_OP_N, CUBLAS_OP_T, C, OC, BT, inp16, C, dout16, OC, 1.0f, dweight, C);
}

/* ---- [train] precision = fp32: the same GEMMs on the fp32 tensors themselves, fp32 compute ----------
 * CUBLAS_COMPUTE_32F with the default math mode keeps TF32 out (it would round the inputs to 10-bit
 * mantissas); the layouts are those of the bf16 calls above. */

static void gemm_fp32(cublasOperation_t op_a, cublasOperation_t op_b, int m, int n, int k, const float *A, int lda,
                      const float *B, int ldb, float beta, float *Cm, int ldc)
{
    const float alpha = 1.0f;
    CUBLAS_CHECK(cublasGemmEx(cuda_cublas(), op_a, op_b, m, n, k, &alpha, A, CUDA_R_32F, lda, B, CUDA_R_32F, ldb, &beta,
                              Cm, CUDA_R_32F, ldc, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

extern "C" void cuda_matmul_forward_fp32(float *out, const float *inp, const float *weight, const float *bias, int BT,
                                         int C, int OC)
{
    if (BT <= 0 || OC <= 0)
        return;
    if (C <= 0 && !bias) {
        CUDA_CHECK(cudaMemset(out, 0, (size_t)BT * OC * sizeof(float)));
        return;
    }
    float beta = 0.0f;
    if (bias) {
        size_t n = (size_t)BT * OC;
        broadcast_bias_kernel<<<grid_stride_blocks(n, ELEMENTWISE_BLOCK), ELEMENTWISE_BLOCK>>>(out, bias, n, OC);
        CUDA_CHECK_LAUNCH();
        beta = 1.0f;
    }
    if (C <= 0)
        return;
    gemm_fp32(CUBLAS_OP_T, CUBLAS_OP_N, OC, BT, C, weight, C, inp, C, beta, out, OC);
}

extern "C" void cuda_matmul_backward_fp32(float *dinp, float *dweight, float *dbias, const float *dout,
                                          const float *inp, const float *weight, int BT, int C, int OC)
{
    if (BT <= 0 || OC <= 0)
        return;
    if (dbias) {
        BiasGrad value = {dout, OC};
        column_sum_accumulate(dbias, value, BT, OC);
    }
    if (C <= 0)
        return;
    if (dinp)
        gemm_fp32(CUBLAS_OP_N, CUBLAS_OP_N, C, BT, OC, weight, C, dout, OC, 0.0f, dinp, C);
    gemm_fp32(CUBLAS_OP_N, CUBLAS_OP_T, C, OC, BT, inp, C, dout, OC, 1.0f, dweight, C);
}
