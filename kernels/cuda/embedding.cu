/* kernels/cuda/embedding.cu: token embedding lookup and its backward (CPU twin kernels/cpu/embedding.c).
 *
 * The backward is deterministic, without float atomics, and its depth grows with the number of rows,
 * not with the largest number of rows of one token (on byte text the space alone has thousands per
 * step). The (token, position) pairs are sorted by token with a stable radix sort (CUB), so each
 * token's rows form one segment in position order. The sorted order is cut into chunks of
 * EMBEDDING_CHUNK_ROWS; pass 1 (a block per chunk and column block) sums each run of one token inside
 * a chunk, column per thread: a run that is a whole segment goes straight into dwte (only this block
 * holds that token), a run at the chunk's start or end that continues over the border is left as the
 * chunk's head or tail partial. Pass 2 gives each segment that crosses chunks to the chunk where it
 * starts, which adds its tail (or head) and the following chunks' heads in chunk order. Every sum is
 * in an order fixed by the tokens, so runs repeat bit for bit; the rows of one token take
 * CHUNK + count / CHUNK serial additions. Token ids must be in [0, V): the model checks the data; this
 * op does not bound-check (the CPU twin does not either). */
#include <cub/device/device_radix_sort.cuh>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_ops.h"

enum { EMBEDDING_BACKWARD_BLOCK = 128, EMBEDDING_CHUNK_ROWS = 64 };

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

/* Pass 1, grid (chunks, ceil(C / block)). Runs are taken in sorted order; within a run rows are added
 * in increasing bt (the sort is stable). */
__global__ void embedding_chunk_sum_kernel(float *dwte, float *head, float *tail, const float *__restrict__ dout,
                                           const int32_t *__restrict__ sorted_tokens,
                                           const int32_t *__restrict__ sorted_rows, int BT, int C)
{
    const int chunk = blockIdx.x;
    const int c = blockIdx.y * blockDim.x + threadIdx.x;
    if (c >= C)
        return;
    const int s = chunk * EMBEDDING_CHUNK_ROWS, e = min(BT, s + EMBEDDING_CHUNK_ROWS);
    for (int a = s; a < e;) {
        const int32_t token = sorted_tokens[a];
        float sum = 0.0f;
        int b = a;
        for (; b < e && sorted_tokens[b] == token; b++)
            sum += dout[(size_t)sorted_rows[b] * C + c];
        const bool starts = a == 0 || sorted_tokens[a - 1] != token;
        const bool ends = b == BT || sorted_tokens[b] != token;
        if (starts && ends)
            dwte[(size_t)token * C + c] += sum;
        else if (a == s) /* continues from the chunk before, or into the next when it is the whole chunk */
            head[(size_t)chunk * C + c] = sum;
        else /* starts here and continues into the next chunk */
            tail[(size_t)chunk * C + c] = sum;
        a = b;
    }
}

/* Pass 2, grid (chunks, ceil(C / block)): the chunk where a chunk-crossing segment starts finishes it. */
__global__ void embedding_chunk_join_kernel(float *dwte, const float *__restrict__ head, const float *__restrict__ tail,
                                            const int32_t *__restrict__ sorted_tokens, int BT, int C)
{
    const int chunk = blockIdx.x;
    const int c = blockIdx.y * blockDim.x + threadIdx.x;
    const int s = chunk * EMBEDDING_CHUNK_ROWS, e = min(BT, s + EMBEDDING_CHUNK_ROWS);
    const int32_t token = sorted_tokens[e - 1];
    if (c >= C || e == BT || sorted_tokens[e] != token)
        return; /* the chunk's last run ends its segment: pass 1 or an earlier chunk took it */
    int a = e - 1;
    while (a > s && sorted_tokens[a - 1] == token)
        a--;
    if (a == s && s > 0 && sorted_tokens[s - 1] == token)
        return; /* the segment started in an earlier chunk, which finishes it */
    float sum = a == s ? head[(size_t)chunk * C + c] : tail[(size_t)chunk * C + c];
    for (int k = chunk + 1;; k++) {
        const int ks = k * EMBEDDING_CHUNK_ROWS, ke = min(BT, ks + EMBEDDING_CHUNK_ROWS);
        sum += head[(size_t)k * C + c];
        if (sorted_tokens[ke - 1] != token || ke == BT || sorted_tokens[ke] != token)
            break; /* the segment ends inside chunk k or at its end */
    }
    dwte[(size_t)token * C + c] += sum;
}

/* Scratch layout: rows (BT) | sorted tokens (BT) | sorted rows (BT) | head, tail (chunks x C each) | CUB
 * temporary storage. */
static size_t sort_temp_bytes(int BT)
{
    size_t temp_bytes = 0;
    CUDA_CHECK(cub::DeviceRadixSort::SortPairs(NULL, temp_bytes, (const int32_t *)NULL, (int32_t *)NULL,
                                               (const int32_t *)NULL, (int32_t *)NULL, BT));
    return temp_bytes;
}

size_t cuda_embedding_backward_scratch_bytes(int BT, int C)
{
    if (BT <= 0 || C <= 0)
        return 0;
    size_t chunks = (size_t)ceil_div(BT, EMBEDDING_CHUNK_ROWS);
    return 3 * scratch_align((size_t)BT * sizeof(int32_t)) + 2 * scratch_align(chunks * C * sizeof(float)) +
           sort_temp_bytes(BT);
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
    const int chunks = ceil_div(BT, EMBEDDING_CHUNK_ROWS);
    size_t list_bytes = scratch_align((size_t)BT * sizeof(int32_t));
    size_t partial_bytes = scratch_align((size_t)chunks * C * sizeof(float));
    size_t temp_bytes = sort_temp_bytes(BT);
    char *base = (char *)cuda_scratch(SCRATCH_SORT, cuda_embedding_backward_scratch_bytes(BT, C));
    int32_t *rows = (int32_t *)base;
    int32_t *sorted_tokens = (int32_t *)(base + list_bytes);
    int32_t *sorted_rows = (int32_t *)(base + 2 * list_bytes);
    float *head = (float *)(base + 3 * list_bytes);
    float *tail = (float *)(base + 3 * list_bytes + partial_bytes);
    void *temp = base + 3 * list_bytes + 2 * partial_bytes;

    iota_kernel<<<grid_stride_blocks((size_t)BT, ELEMENTWISE_BLOCK), ELEMENTWISE_BLOCK>>>(rows, BT);
    CUDA_CHECK_LAUNCH();
    CUDA_CHECK(cub::DeviceRadixSort::SortPairs(temp, temp_bytes, tokens, sorted_tokens, rows, sorted_rows, BT));
    dim3 grid((unsigned)chunks, (unsigned)ceil_div(C, EMBEDDING_BACKWARD_BLOCK));
    embedding_chunk_sum_kernel<<<grid, EMBEDDING_BACKWARD_BLOCK>>>(dwte, head, tail, dout, sorted_tokens, sorted_rows,
                                                                   BT, C);
    CUDA_CHECK_LAUNCH();
    embedding_chunk_join_kernel<<<grid, EMBEDDING_BACKWARD_BLOCK>>>(dwte, head, tail, sorted_tokens, BT, C);
    CUDA_CHECK_LAUNCH();
}
