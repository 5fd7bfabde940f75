/* kernels/cuda/common.cuh: what every .cu of the CUDA backend shares: the failure policy for CUDA
 * and cuBLAS calls, launch sizing, the per-purpose scratch buffers and the cuBLAS handle.
 * Kernels and op launchers live in their op's .cu file; reductions are in reduce.cuh.
 *
 * Failure policy: an op of the table returns void (kernels/ops.h), so a failed launch or a failed
 * cuBLAS call cannot be handed back; continuing would train on undefined tensors. Such a failure
 * prints the call, file, line and CUDA error string and aborts (llm.c's cudaCheck). Bad input never
 * reaches this path: the model validates shapes and data before any op runs. Only alloc reports
 * failure by returning NULL, as ops.h asks.
 *
 * Threading: ops run on the legacy default stream from one host thread per process (the trainer's);
 * the scratch buffers and the cuBLAS handle are process-wide and not locked. */
#ifndef BIRDIE_CUDA_COMMON_CUH
#define BIRDIE_CUDA_COMMON_CUH

#include <stddef.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>

#define CUDA_CHECK(call) cuda_check_or_die((call), #call, __FILE__, __LINE__)
#define CUBLAS_CHECK(call) cublas_check_or_die((call), #call, __FILE__, __LINE__)
/* After every kernel launch: a bad launch configuration is reported here, not at the next sync. */
#define CUDA_CHECK_LAUNCH() CUDA_CHECK(cudaGetLastError())

void cuda_check_or_die(cudaError_t rc, const char *call, const char *file, int line);
void cublas_check_or_die(cublasStatus_t rc, const char *call, const char *file, int line);

/* Threads per block of the elementwise kernels; a multiple of 32 (reduce.cuh relies on it). */
enum { ELEMENTWISE_BLOCK = 256 };

/* Blocks for a grid-stride loop over n items: enough to fill the GPU, capped so the grid size never
 * overflows; the kernels loop over the rest with a size_t index. */
static inline unsigned int grid_stride_blocks(size_t n, int block)
{
    const size_t cap = 65536;
    size_t blocks = (n + (size_t)block - 1) / (size_t)block;
    if (blocks < 1)
        blocks = 1;
    return (unsigned int)(blocks < cap ? blocks : cap);
}

static inline int ceil_div(int a, int b)
{
    return (a + b - 1) / b;
}

/* Grid-stride loop over [0, n) with a size_t index (BT*C may exceed 2^31). */
#define GRID_STRIDE_LOOP(i, n) \
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (size_t)(n); i += (size_t)gridDim.x * blockDim.x)

/* Scratch device memory, one grow-only buffer per purpose so that an op using two of them (matmul
 * backward: bf16 copies and the bias-gradient partial sums) never hands out overlapping memory.
 * The op table's reserve hook (runtime.cu) sizes every slot once, at model init, from the model's
 * largest shapes, so no op allocates during a step. A request beyond the reserve still works: the slot
 * grows by freeing and re-allocating, which is only safe because cudaFree waits for the whole device
 * (kernels still reading the old buffer have finished) and stalls the step; each such growth is
 * counted (birdie_cuda_scratch_growths) so a test can assert that a step had none. The returned
 * pointer is valid until the next call for the same slot. */
enum cuda_scratch_slot { SCRATCH_GEMM, SCRATCH_REDUCE, SCRATCH_SORT, SCRATCH_SLOTS };
void *cuda_scratch(enum cuda_scratch_slot slot, size_t bytes);

/* What each user of scratch asks for at a shape: reserve adds these up per slot. */
size_t cuda_matmul_scratch_bytes(int BT, int C, int OC); /* SCRATCH_GEMM, forward or backward */
size_t cuda_embedding_backward_scratch_bytes(int BT, int C); /* SCRATCH_SORT */
size_t cuda_sum_squares_scratch_bytes(void); /* SCRATCH_REDUCE, any n */
size_t cuda_column_sum_scratch_bytes(int R, int C); /* SCRATCH_REDUCE: bias and RMSNorm weight gradients */

/* Rounds a byte count up so that regions carved out of one scratch buffer stay 256-byte aligned. */
static inline size_t scratch_align(size_t bytes)
{
    return (bytes + 255) / 256 * 256;
}

/* The process's cuBLAS handle, created on first use, bound to the default stream. */
cublasHandle_t cuda_cublas(void);

#endif
