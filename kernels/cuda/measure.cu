/* kernels/cuda/measure.cu: GPU timing and the two measured ceilings the benchmark reports against
 * (docs/design.md §7.1: measured once, on the machine at hand): device-to-device copy bandwidth
 * for memory-bound kernels (the scan) and the dense bf16 GEMM rate for MFU. These return errors
 * instead of aborting: a benchmark on a broken device should say so and go on. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include <cuda_bf16.h>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_backend.h"

struct birdie_cuda_timer {
    cudaEvent_t start, stop;
};

static int report(cudaError_t rc, const char *call, char *err, size_t errlen)
{
    if (rc == cudaSuccess)
        return 0;
    (void)cudaGetLastError();
    if (err && errlen)
        snprintf(err, errlen, "%s: %s (%d)", call, cudaGetErrorString(rc), (int)rc);
    return rc == cudaErrorMemoryAllocation ? -ENOMEM : -EIO;
}

#define TRY(call)                                \
    do {                                         \
        rc = report((call), #call, err, errlen); \
        if (rc < 0)                              \
            goto done;                           \
    } while (0)

extern "C" birdie_cuda_timer *birdie_cuda_timer_create(char *err, size_t errlen)
{
    int rc = birdie_cuda_probe(err, errlen);
    if (rc < 0)
        return NULL;
    birdie_cuda_timer *timer = (birdie_cuda_timer *)calloc(1, sizeof *timer);
    if (!timer) {
        if (err && errlen)
            snprintf(err, errlen, "out of host memory for a timer");
        return NULL;
    }
    TRY(cudaEventCreate(&timer->start));
    TRY(cudaEventCreate(&timer->stop));
    return timer;
done:
    birdie_cuda_timer_destroy(timer);
    return NULL;
}

extern "C" void birdie_cuda_timer_start(birdie_cuda_timer *timer)
{
    if (timer)
        (void)cudaEventRecord(timer->start, 0);
}

extern "C" double birdie_cuda_timer_stop_ms(birdie_cuda_timer *timer)
{
    float ms = 0.0f;
    if (!timer || cudaEventRecord(timer->stop, 0) != cudaSuccess || cudaEventSynchronize(timer->stop) != cudaSuccess ||
        cudaEventElapsedTime(&ms, timer->start, timer->stop) != cudaSuccess) {
        (void)cudaGetLastError();
        return -1.0;
    }
    return (double)ms;
}

extern "C" void birdie_cuda_timer_destroy(birdie_cuda_timer *timer)
{
    if (!timer)
        return;
    if (timer->start)
        cudaEventDestroy(timer->start);
    if (timer->stop)
        cudaEventDestroy(timer->stop);
    free(timer);
}

extern "C" int birdie_cuda_measure_copy_bandwidth(double *bytes_per_s, size_t bytes, int repeats, char *err,
                                                  size_t errlen)
{
    bytes = bytes ? bytes : (size_t)1 << 30;
    repeats = repeats > 0 ? repeats : 20;
    void *src = NULL, *dst = NULL;
    birdie_cuda_timer *timer = birdie_cuda_timer_create(err, errlen);
    int rc = timer ? 0 : -ENODEV;
    if (!timer)
        goto done;
    TRY(cudaMalloc(&src, bytes));
    TRY(cudaMalloc(&dst, bytes));
    TRY(cudaMemset(src, 1, bytes));
    TRY(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice)); /* warm-up */
    birdie_cuda_timer_start(timer);
    for (int i = 0; i < repeats; i++)
        TRY(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, 0));
    {
        double ms = birdie_cuda_timer_stop_ms(timer);
        if (ms <= 0.0) {
            rc = report(cudaErrorUnknown, "timing the copies", err, errlen);
            goto done;
        }
        *bytes_per_s = 2.0 * (double)bytes * repeats / (ms * 1e-3);
    }
done:
    cudaFree(src);
    cudaFree(dst);
    birdie_cuda_timer_destroy(timer);
    return rc;
}

/* Values in [-1, 1) from a hash of the index: zeros would understate the tensor cores' power draw. */
__global__ void fill_bf16_kernel(__nv_bfloat16 *out, size_t n, unsigned int salt)
{
    GRID_STRIDE_LOOP(i, n)
    {
        unsigned int z = (unsigned int)i * 2654435761u ^ salt;
        z ^= z >> 15;
        z *= 2246822519u;
        z ^= z >> 13;
        out[i] = __float2bfloat16((float)(z >> 8) * (2.0f / 16777216.0f) - 1.0f);
    }
}

extern "C" int birdie_cuda_measure_gemm_rate(double *flops_per_s, int n, int repeats, char *err, size_t errlen)
{
    n = n > 0 ? n : 8192;
    repeats = repeats > 0 ? repeats : 10;
    const size_t elems = (size_t)n * n;
    const float alpha = 1.0f, beta = 0.0f;
    __nv_bfloat16 *a = NULL, *b = NULL, *c = NULL;
    cublasHandle_t handle = NULL;
    cublasStatus_t status = CUBLAS_STATUS_SUCCESS;
    birdie_cuda_timer *timer = birdie_cuda_timer_create(err, errlen);
    int rc = timer ? 0 : -ENODEV;
    if (!timer)
        goto done;
    TRY(cudaMalloc(&a, elems * sizeof(__nv_bfloat16)));
    TRY(cudaMalloc(&b, elems * sizeof(__nv_bfloat16)));
    TRY(cudaMalloc(&c, elems * sizeof(__nv_bfloat16)));
    fill_bf16_kernel<<<grid_stride_blocks(elems, ELEMENTWISE_BLOCK), ELEMENTWISE_BLOCK>>>(a, elems, 1u);
    fill_bf16_kernel<<<grid_stride_blocks(elems, ELEMENTWISE_BLOCK), ELEMENTWISE_BLOCK>>>(b, elems, 2u);
    TRY(cudaGetLastError());
    status = cublasCreate(&handle);
    for (int i = 0; i <= repeats && status == CUBLAS_STATUS_SUCCESS; i++) {
        if (i == 1) /* the first GEMM warms up (heuristics, clocks) and is not timed */
            birdie_cuda_timer_start(timer);
        status = cublasGemmEx(handle, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &alpha, a, CUDA_R_16BF, n, b, CUDA_R_16BF, n,
                              &beta, c, CUDA_R_16BF, n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    }
    if (status != CUBLAS_STATUS_SUCCESS) {
        if (err && errlen)
            snprintf(err, errlen, "cublasGemmEx (%d x %d bf16): %s", n, n, cublasGetStatusString(status));
        rc = -EIO;
        goto done;
    }
    {
        double ms = birdie_cuda_timer_stop_ms(timer);
        if (ms <= 0.0) {
            rc = report(cudaErrorUnknown, "timing the GEMMs", err, errlen);
            goto done;
        }
        *flops_per_s = 2.0 * (double)n * n * n * repeats / (ms * 1e-3);
    }
done:
    if (handle)
        cublasDestroy(handle);
    cudaFree(a);
    cudaFree(b);
    cudaFree(c);
    birdie_cuda_timer_destroy(timer);
    return rc;
}
