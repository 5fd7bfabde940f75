/* kernels/cuda/runtime.cu: the CUDA backend's runtime: memory hooks of the op table (device memory,
 * pinned host memory and the asynchronous upload), the GPU probe, the failure policy of common.cuh,
 * scratch buffers and their reserve, and the cuBLAS handle. No kernels here. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/cuda_ops.h"

void cuda_check_or_die(cudaError_t rc, const char *call, const char *file, int line)
{
    if (rc == cudaSuccess)
        return;
    fprintf(stderr, "birdie cuda: %s:%d: %s failed: %s (%d)\n", file, line, call, cudaGetErrorString(rc), (int)rc);
    abort();
}

void cublas_check_or_die(cublasStatus_t rc, const char *call, const char *file, int line)
{
    if (rc == CUBLAS_STATUS_SUCCESS)
        return;
    fprintf(stderr, "birdie cuda: %s:%d: %s failed: %s (%d)\n", file, line, call, cublasGetStatusString(rc), (int)rc);
    abort();
}

static void set_error(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---- scratch and cuBLAS ------------------------------------------------------------------------ */

static struct {
    void *ptr;
    size_t bytes;
} scratch[SCRATCH_SLOTS];
static long scratch_growths;

void *cuda_scratch(enum cuda_scratch_slot slot, size_t bytes)
{
    if (bytes <= scratch[slot].bytes)
        return scratch[slot].ptr;
    /* cudaFree waits for the whole device, so no kernel still reads the old buffer; that wait is what
     * reserve keeps out of the step. Grow by half again so a slowly growing request does not
     * reallocate every call. */
    size_t grown = bytes + bytes / 2;
    if (scratch[slot].ptr)
        CUDA_CHECK(cudaFree(scratch[slot].ptr));
    scratch[slot].ptr = NULL;
    scratch[slot].bytes = 0;
    CUDA_CHECK(cudaMalloc(&scratch[slot].ptr, grown));
    scratch[slot].bytes = grown;
    scratch_growths++;
    return scratch[slot].ptr;
}

extern "C" long birdie_cuda_scratch_growths(void)
{
    return scratch_growths;
}

static size_t max_size(size_t a, size_t b)
{
    return a > b ? a : b;
}

/* Each slot at least what its users ask for at the largest shapes (common.cuh lists them). A reserve
 * is not a growth: it happens before the step it serves. */
extern "C" int cuda_reserve(const birdie_op_shapes *shapes)
{
    size_t need[SCRATCH_SLOTS] = {0};
    const int rows = shapes->rows;
    need[SCRATCH_REDUCE] =
        max_size(cuda_sum_squares_scratch_bytes(), cuda_column_sum_scratch_bytes(rows, shapes->width));
    need[SCRATCH_SORT] = cuda_embedding_backward_scratch_bytes(rows, shapes->width);
    for (int i = 0; i < shapes->n_matmuls && i < BIRDIE_MAX_RESERVED_MATMULS; i++) {
        const int C = shapes->matmul[i][0], OC = shapes->matmul[i][1];
        need[SCRATCH_GEMM] = max_size(need[SCRATCH_GEMM], cuda_matmul_scratch_bytes(rows, C, OC));
        need[SCRATCH_REDUCE] = max_size(need[SCRATCH_REDUCE], cuda_column_sum_scratch_bytes(rows, OC));
        need[SCRATCH_REDUCE] = max_size(need[SCRATCH_REDUCE], cuda_column_sum_scratch_bytes(rows, C));
    }
    for (int slot = 0; slot < SCRATCH_SLOTS; slot++) {
        if (need[slot] <= scratch[slot].bytes)
            continue;
        void *ptr = NULL;
        if (cudaMalloc(&ptr, need[slot]) != cudaSuccess) {
            (void)cudaGetLastError(); /* reported as -ENOMEM, like alloc's NULL, not at the next launch */
            return -ENOMEM;
        }
        if (scratch[slot].ptr)
            CUDA_CHECK(cudaFree(scratch[slot].ptr));
        scratch[slot].ptr = ptr;
        scratch[slot].bytes = need[slot];
    }
    (void)cuda_cublas(); /* its workspace, too, is allocated before the first step */
    return 0;
}

cublasHandle_t cuda_cublas(void)
{
    static cublasHandle_t handle;
    if (!handle)
        CUBLAS_CHECK(cublasCreate(&handle));
    return handle;
}

/* ---- memory hooks ------------------------------------------------------------------------------ */

extern "C" void *cuda_alloc(size_t bytes)
{
    void *ptr = NULL;
    if (cudaMalloc(&ptr, bytes ? bytes : 1) != cudaSuccess) {
        (void)cudaGetLastError(); /* out of memory is reported by the NULL, not at the next launch */
        return NULL;
    }
    if (cudaMemset(ptr, 0, bytes) != cudaSuccess) {
        (void)cudaGetLastError();
        cudaFree(ptr);
        return NULL;
    }
    return ptr;
}

extern "C" void cuda_free(void *ptr)
{
    if (ptr)
        CUDA_CHECK(cudaFree(ptr));
}

extern "C" void cuda_zero(void *ptr, size_t bytes)
{
    if (bytes)
        CUDA_CHECK(cudaMemset(ptr, 0, bytes));
}

extern "C" void cuda_upload(void *dst, const void *host_src, size_t bytes)
{
    if (bytes)
        CUDA_CHECK(cudaMemcpy(dst, host_src, bytes, cudaMemcpyHostToDevice));
}

extern "C" void cuda_download(void *host_dst, const void *src, size_t bytes)
{
    if (bytes)
        CUDA_CHECK(cudaMemcpy(host_dst, src, bytes, cudaMemcpyDeviceToHost));
}

extern "C" void cuda_synchronize(void)
{
    CUDA_CHECK(cudaDeviceSynchronize());
}

/* Pinned (page-locked) memory: a copy from it is a DMA the host does not wait for, where a copy from
 * pageable memory is staged through a driver buffer and blocks. */
extern "C" void *cuda_host_alloc(size_t bytes)
{
    void *ptr = NULL;
    if (cudaMallocHost(&ptr, bytes ? bytes : 1) != cudaSuccess) {
        (void)cudaGetLastError();
        return NULL;
    }
    memset(ptr, 0, bytes ? bytes : 1);
    return ptr;
}

extern "C" void cuda_host_free(void *ptr)
{
    if (ptr)
        CUDA_CHECK(cudaFreeHost(ptr));
}

/* Recorded after each asynchronous upload: upload_wait waits for that copy (and what was queued
 * before it), not for the kernels queued after it, so the host can refill its buffer while they run. */
static cudaEvent_t upload_done;

extern "C" void cuda_upload_async(void *dst, const void *host_src, size_t bytes)
{
    if (!bytes)
        return;
    if (!upload_done)
        CUDA_CHECK(cudaEventCreateWithFlags(&upload_done, cudaEventDisableTiming));
    /* the legacy default stream, like every op: the kernels queued after it see the data */
    CUDA_CHECK(cudaMemcpyAsync(dst, host_src, bytes, cudaMemcpyHostToDevice, 0));
    CUDA_CHECK(cudaEventRecord(upload_done, 0));
}

extern "C" void cuda_upload_wait(void)
{
    if (upload_done)
        CUDA_CHECK(cudaEventSynchronize(upload_done));
}

/* ---- probe ------------------------------------------------------------------------------------- */

extern "C" int birdie_cuda_use_device(int local_rank, char *err, size_t errlen)
{
    int count = 0;
    cudaError_t rc = cudaGetDeviceCount(&count);
    if (rc != cudaSuccess || count <= 0) {
        set_error(err, errlen, "cudaGetDeviceCount: %s", rc != cudaSuccess ? cudaGetErrorString(rc) : "no device");
        return -ENODEV;
    }
    int device = (local_rank < 0 ? 0 : local_rank) % count;
    if ((rc = cudaSetDevice(device)) != cudaSuccess) {
        set_error(err, errlen, "cudaSetDevice(%d): %s (%d)", device, cudaGetErrorString(rc), (int)rc);
        return -ENODEV;
    }
    return 0;
}

extern "C" int birdie_cuda_probe(char *err, size_t errlen)
{
    int count = 0;
    cudaError_t rc = cudaGetDeviceCount(&count);
    if (rc != cudaSuccess) {
        /* With no driver this is 35 (insufficient driver) and count is left untouched. */
        (void)cudaGetLastError();
        set_error(err, errlen, "cudaGetDeviceCount: %s (%d)", cudaGetErrorString(rc), (int)rc);
        return -ENODEV;
    }
    if (count < 1) {
        set_error(err, errlen, "cudaGetDeviceCount: no CUDA device is visible (count %d)", count);
        return -ENODEV;
    }
    rc = cudaFree(NULL); /* creates the context: a device that is visible but unusable fails here */
    if (rc != cudaSuccess) {
        (void)cudaGetLastError();
        set_error(err, errlen, "cudaFree(NULL) (context creation): %s (%d)", cudaGetErrorString(rc), (int)rc);
        return -ENODEV;
    }
    return 0;
}

extern "C" int birdie_cuda_describe(char *out, size_t outlen, char *err, size_t errlen)
{
    int rc = birdie_cuda_probe(err, errlen);
    if (rc < 0)
        return rc;
    int device = 0;
    cudaDeviceProp prop;
    cudaError_t crc = cudaGetDevice(&device);
    if (crc == cudaSuccess)
        crc = cudaGetDeviceProperties(&prop, device);
    if (crc != cudaSuccess) {
        (void)cudaGetLastError();
        set_error(err, errlen, "cudaGetDeviceProperties: %s (%d)", cudaGetErrorString(crc), (int)crc);
        return -EIO;
    }
    if (out && outlen)
        snprintf(out, outlen, "%s, cc %d.%d, %d SMs, %.1f GiB", prop.name, prop.major, prop.minor,
                 prop.multiProcessorCount, (double)prop.totalGlobalMem / (1024.0 * 1024.0 * 1024.0));
    return 0;
}
