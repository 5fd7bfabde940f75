/* kernels/cpu/matmul.c: the linear layer (out = inp @ weight^T + bias) and its backward.
 * The GEMMs go to OpenBLAS cblas_sgemm when the build found it (BIRDIE_HAVE_OPENBLAS); otherwise to a
 * cache-blocked C loop that is correct everywhere but about 10x slower. Bias and its gradient are
 * plain O(BT*OC) loops, shared with the bf16 layer (matmul_bf16.c). Spread over two threads they
 * measured slower, not faster, on a shared 2-core machine (a parallel region waits for its slowest
 * thread), and a single thread streams them near memory speed; so they stay serial, as does the
 * residual add. */
#include <string.h>

#include "kernels/cpu/cpu_ops.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#ifdef BIRDIE_HAVE_OPENBLAS
#include <cblas.h>
#endif

enum { GEMM_N = 0, GEMM_T = 1 };

#ifndef BIRDIE_HAVE_OPENBLAS
/* Row-major C(M,N) = beta*C + A'(M,K) @ B'(N... ) with A' = A or A^T and B' = B or B^T; alpha = 1. */
static void gemm_fallback(int trans_a, int trans_b, int M, int N, int K, const float *A, int lda, const float *B,
                          int ldb, float beta, float *Cm, int ldc)
{
    if (beta == 0.0f)
        for (int i = 0; i < M; i++)
            memset(Cm + (size_t)i * ldc, 0, (size_t)N * sizeof(float));
    enum { BLOCK = 64 };
    for (int i0 = 0; i0 < M; i0 += BLOCK)
        for (int k0 = 0; k0 < K; k0 += BLOCK)
            for (int i = i0; i < i0 + BLOCK && i < M; i++) {
                float *c = Cm + (size_t)i * ldc;
                for (int k = k0; k < k0 + BLOCK && k < K; k++) {
                    float a = trans_a ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                    if (trans_b) {
                        for (int j = 0; j < N; j++)
                            c[j] += a * B[(size_t)j * ldb + k];
                    } else {
                        const float *b = B + (size_t)k * ldb;
                        for (int j = 0; j < N; j++)
                            c[j] += a * b[j];
                    }
                }
            }
}
#endif

static void gemm(int trans_a, int trans_b, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                 float beta, float *Cm, int ldc)
{
#ifdef BIRDIE_HAVE_OPENBLAS
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, M, N, K, 1.0f,
                A, lda, B, ldb, beta, Cm, ldc);
#else
    gemm_fallback(trans_a, trans_b, M, N, K, A, lda, B, ldb, beta, Cm, ldc);
#endif
}

void cpu_bias_broadcast(float *out, const float *bias, int BT, int OC)
{
    for (int bt = 0; bt < BT; bt++)
        memcpy(out + (size_t)bt * OC, bias, (size_t)OC * sizeof(float));
}

void cpu_bias_backward(float *dbias, const float *dout, int BT, int OC)
{
    for (int bt = 0; bt < BT; bt++) {
        const float *d = dout + (size_t)bt * OC;
        for (int o = 0; o < OC; o++)
            dbias[o] += d[o];
    }
}

void cpu_matmul_forward(float *out, const float *inp, const float *weight, const float *bias, int BT, int C, int OC)
{
    float beta = 0.0f;
    if (bias) {
        cpu_bias_broadcast(out, bias, BT, OC);
        beta = 1.0f;
    }
    /* out (BT,OC) = inp (BT,C) @ weight (OC,C)^T */
    gemm(GEMM_N, GEMM_T, BT, OC, C, inp, C, weight, C, beta, out, OC);
}

void cpu_matmul_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                         const float *weight, int BT, int C, int OC)
{
    if (dinp) /* dinp (BT,C) = dout (BT,OC) @ weight (OC,C) */
        gemm(GEMM_N, GEMM_N, BT, C, OC, dout, OC, weight, C, 0.0f, dinp, C);
    /* dweight (OC,C) += dout^T (OC,BT) @ inp (BT,C) */
    gemm(GEMM_T, GEMM_N, OC, C, BT, dout, OC, inp, C, 1.0f, dweight, C);
    if (dbias)
        cpu_bias_backward(dbias, dout, BT, OC);
}

void birdie_cpu_set_threads(int n)
{
#ifdef BIRDIE_HAVE_OPENBLAS
    openblas_set_num_threads(n > 0 ? n : 1);
#endif
#ifdef _OPENMP
    omp_set_num_threads(n > 0 ? n : 1);
#endif
}

void cpu_residual_forward(float *out, const float *a, const float *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = a[i] + b[i];
}
