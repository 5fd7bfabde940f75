/* kernels/cpu/matmul.c: the linear layer (out = inp @ weight^T + bias) and its backward.
 * The GEMMs go to OpenBLAS cblas_sgemm when the build found it (BIRDIE_HAVE_OPENBLAS); otherwise to a
 * cache-blocked C loop that is correct everywhere but about 10x slower. Bias and its gradient are
 * O(BT*OC) loops beside the GEMMs, spread over cores (rows for the bias, columns for its gradient, so
 * each column is still summed by one thread in row order: the same bits for any thread count); they
 * matter once the GEMMs are bf16 (matmul_bf16.c calls these too). The residual add is here as well. */
#include <string.h>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/parallel.h"

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

static void broadcast_rows(float *out, const float *bias, long r0, long r1, int OC)
{
    for (long r = r0; r < r1; r++)
        memcpy(out + (size_t)r * OC, bias, (size_t)OC * sizeof(float));
}

CPU_HOT static void bias_grad_columns(float *dbias, const float *dout, int BT, int OC, long o0, long o1)
{
    for (int bt = 0; bt < BT; bt++) {
        const float *d = dout + (size_t)bt * OC;
        for (long o = o0; o < o1; o++)
            dbias[o] += d[o];
    }
}

void cpu_bias_broadcast(float *out, const float *bias, int BT, int OC)
{
    CPU_PARALLEL_RANGE(BT, (long)BT * OC, lo, hi, broadcast_rows(out, bias, lo, hi, OC));
}

void cpu_bias_backward(float *dbias, const float *dout, int BT, int OC)
{
    CPU_PARALLEL_RANGE(OC, (long)BT * OC, lo, hi, bias_grad_columns(dbias, dout, BT, OC, lo, hi));
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

CPU_HOT static void add_range(float *out, const float *a, const float *b, long i0, long i1)
{
    for (long i = i0; i < i1; i++)
        out[i] = a[i] + b[i];
}

void cpu_residual_forward(float *out, const float *a, const float *b, size_t n)
{
    CPU_PARALLEL_RANGE(n, n, lo, hi, add_range(out, a, b, lo, hi));
}
