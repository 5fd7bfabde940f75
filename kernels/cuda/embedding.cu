/* kernels/cuda/embedding.cu: token embedding lookup and its backward (CPU twin kernels/cpu/embedding.c).
 *
 * The backward is deterministic, without float atomics: the (token, position) pairs are sorted by
 * token with a stable radix sort (CUB), so each token's rows form one segment in position order; the
 * block at a segment's first entry sums that segment's rows of dout, column per thread, and adds
 * the sum into dwte once. A GPU session should time it at B*T = 16K rows: a very frequent token
 * (a space byte) makes one long serial segment. Token ids must be in [0, V): the model checks the
 * data; this op does not bound-check (the CPU twin does not either). */
#include <cub/device/device_radix_sort.cuh>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_ops.h"

enum { EMBEDDING_BACKWARD_BLOCK = 128 };

__global__ void embedding_forward_kernel(float *out, const int32_t *__restrict__ tokens, const float *__restrict__ wte,
                                         size_t n_elems, int C)
{
    GRID_STRIDE_LOOP(i, n_elems)
    {
        size_t bt = i / (size_t)C, c = i % (size_t)C;
        out[i] = wte[(size_t)tokens[bt] * C + c];
    }
}

__global__ void iota_kernel(int32_t *out, int n)
{
    GRID_STRIDE_LOOP(i, n)
    out[i] = (int32_t)i;
}

/* grid (BT, ceil(C / block)): blockIdx.x is a position in the sorted order; only a segment's first
 * position does work. Within the segment rows are added in increasing bt (the sort is stable). */
__global__ void embedding_segment_sum_kernel(float *dwte, const float *__restrict__ dout,
                                             const int32_t *__restrict__ sorted_tokens,
                                             const int32_t *__restrict__ sorted_rows, int BT, int C)
{
    const int first = blockIdx.x;
    const int c = blockIdx.y * blockDim.x + threadIdx.x;
    const int32_t token = sorted_tokens[first];
    if (c >= C || (first > 0 && sorted_tokens[first - 1] == token))
        return;
    float sum = 0.0f;
    for (int k = first; k < BT && sorted_tokens[k] == token; k++)
        sum += dout[(size_t)sorted_rows[k] * C + c];
    dwte[(size_t)token * C + c] += sum;
}

size_t cuda_embedding_backward_scratch_bytes(int BT, int C)
{
    if (BT <= 0 || C <= 0)
        return 0;
    size_t temp_bytes = 0;
    CUDA_CHECK(cub::DeviceRadixSort::SortPairs(NULL, temp_bytes, (const int32_t *)NULL, (int32_t *)NULL,
                                               (const int32_t *)NULL, (int32_t *)NULL, BT));
    return 3 * scratch_align((size_t)BT * sizeof(int32_t)) + temp_bytes;
}

extern "C" void cuda_embedding_forward(float *out, const int32_t *tokens, const float *wte, int BT, int C)
{
    if (BT <= 0 || C <= 0)
        return;
    size_t n = (size_t)BT * C;
    embedding_forward_kernel<<<grid_stride_blocks(n, ELEMENTWISE_BLOCK), ELEMENTWISE_BLOCK>>>(out, tokens, wte, n, C);
    CUDA_CHECK_LAUNCH();
}

extern "C" void cuda_embedding_backward(float *dwte, const float *dout, const int32_t *tokens, int BT, int C)
{
    if (BT <= 0 || C <= 0)
        return;
    /* Scratch layout: rows (BT) | sorted tokens (BT) | sorted rows (BT) | CUB temporary storage. */
    size_t list_bytes = scratch_align((size_t)BT * sizeof(int32_t));
    size_t temp_bytes = 0;
    CUDA_CHECK(cub::DeviceRadixSort::SortPairs(NULL, temp_bytes, (const int32_t *)NULL, (int32_t *)NULL,
                                               (const int32_t *)NULL, (int32_t *)NULL, BT));
    char *base = (char *)cuda_scratch(SCRATCH_SORT, cuda_embedding_backward_scratch_bytes(BT, C));
    int32_t *rows = (int32_t *)base;
    int32_t *sorted_tokens = (int32_t *)(base + list_bytes);
    int32_t *sorted_rows = (int32_t *)(base + 2 * list_bytes);
    void *temp = base + 3 * list_bytes;

    iota_kernel<<<grid_stride_blocks((size_t)BT, ELEMENTWISE_BLOCK), ELEMENTWISE_BLOCK>>>(rows, BT);
    CUDA_CHECK_LAUNCH();
    CUDA_CHECK(cub::DeviceRadixSort::SortPairs(temp, temp_bytes, tokens, sorted_tokens, rows, sorted_rows, BT));
    dim3 grid((unsigned)BT, (unsigned)ceil_div(C, EMBEDDING_BACKWARD_BLOCK));
    embedding_segment_sum_kernel<<<grid, EMBEDDING_BACKWARD_BLOCK>>>(dwte, dout, sorted_tokens, sorted_rows, BT, C);
    CUDA_CHECK_LAUNCH();
}
