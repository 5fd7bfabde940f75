/* kernels/cuda/reduce.cuh: warp and block reductions, and the deterministic column sum
 * out[c] += sum_r value(r, c) used by the RMSNorm weight gradient and the bias gradient.
 *
 * No float atomics: every sum is taken in a fixed order that depends only on the shape, so a CUDA
 * run repeats bit for bit (llm.c's determinism). Blocks are 1-D with a multiple of 32 threads unless
 * a kernel says otherwise. */
#ifndef BIRDIE_CUDA_REDUCE_CUH
#define BIRDIE_CUDA_REDUCE_CUH

#include "kernels/cuda/common.cuh"

struct SumOp {
    template <typename T> __device__ T operator()(T a, T b) const
    {
        return a + b;
    }
};
struct MaxOp {
    __device__ float operator()(float a, float b) const
    {
        return fmaxf(a, b);
    }
};

template <typename T, typename Op> __device__ inline T warp_reduce(T v, Op op)
{
    for (int offset = 16; offset > 0; offset >>= 1)
        v = op(v, __shfl_xor_sync(0xffffffffu, v, offset));
    return v;
}

/* Every thread of the block gets the result. The leading barrier lets a kernel call this twice in a
 * row: the second call's writes to `partial` wait until the first call's reads are done. */
template <typename T, typename Op> __device__ inline T block_reduce(T v, Op op, T identity)
{
    __shared__ T partial[32];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
    v = warp_reduce(v, op);
    __syncthreads();
    if (lane == 0)
        partial[warp] = v;
    __syncthreads();
    return warp_reduce(lane < warps ? partial[lane] : identity, op);
}

/* Column sums in two launches. Pass 1: block (32, COLSUM_ROWS) covers 32 columns of one chunk of
 * rows; its threads stride over the chunk's rows (coalesced: a warp reads 32 neighbouring columns
 * of a row), then fold their COLSUM_ROWS partials through shared memory into partial[chunk][c].
 * Pass 2 adds the chunks in order into out. */
enum { COLSUM_ROWS = 8, COLSUM_MAX_CHUNKS = 256, COLSUM_MIN_ROWS_PER_CHUNK = 64 };

template <typename Value>
__global__ void column_partial_kernel(float *partial, Value value, int R, int C, int rows_per_chunk)
{
    __shared__ float fold[COLSUM_ROWS][33]; /* 33: no bank conflicts on the column read below */
    const int c = blockIdx.x * 32 + threadIdx.x;
    const int chunk = blockIdx.y;
    const int r_end = min(R, (chunk + 1) * rows_per_chunk);
    float acc = 0.0f;
    if (c < C)
        for (int r = chunk * rows_per_chunk + threadIdx.y; r < r_end; r += COLSUM_ROWS)
            acc += value(r, c);
    fold[threadIdx.y][threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.y == 0 && c < C) {
        float sum = 0.0f;
        for (int k = 0; k < COLSUM_ROWS; k++)
            sum += fold[k][threadIdx.x];
        partial[(size_t)chunk * C + c] = sum;
    }
}

/* static: each .cu that sums columns gets its own copy (no relocatable device code needed). */
static __global__ void column_finish_kernel(float *out, const float *partial, int chunks, int C)
{
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C)
        return;
    float sum = 0.0f;
    for (int k = 0; k < chunks; k++)
        sum += partial[(size_t)k * C + c];
    out[c] += sum;
}

/* Chunks of rows of a column sum over R rows (at most COLSUM_MAX_CHUNKS); rows_per_chunk may be NULL. */
static inline int column_sum_chunks(int R, int *rows_per_chunk)
{
    int chunks = ceil_div(R, COLSUM_MIN_ROWS_PER_CHUNK);
    if (chunks > COLSUM_MAX_CHUNKS)
        chunks = COLSUM_MAX_CHUNKS;
    const int per_chunk = ceil_div(R, chunks);
    if (rows_per_chunk)
        *rows_per_chunk = per_chunk;
    return ceil_div(R, per_chunk);
}

/* Scratch (SCRATCH_REDUCE) of a column sum of R rows and C columns. */
static inline size_t column_sum_scratch_bytes(int R, int C)
{
    return R <= 0 || C <= 0 ? 0 : (size_t)column_sum_chunks(R, NULL) * C * sizeof(float);
}

/* out (C) += sum over r in [0, R) of value(r, c); value is a device functor (int r, int c) -> float. */
template <typename Value> void column_sum_accumulate(float *out, Value value, int R, int C)
{
    if (R <= 0 || C <= 0)
        return;
    int rows_per_chunk = 0;
    const int chunks = column_sum_chunks(R, &rows_per_chunk);
    float *partial = (float *)cuda_scratch(SCRATCH_REDUCE, column_sum_scratch_bytes(R, C));
    dim3 block(32, COLSUM_ROWS), grid((unsigned)ceil_div(C, 32), (unsigned)chunks);
    column_partial_kernel<<<grid, block>>>(partial, value, R, C, rows_per_chunk);
    CUDA_CHECK_LAUNCH();
    column_finish_kernel<<<ceil_div(C, ELEMENTWISE_BLOCK), ELEMENTWISE_BLOCK>>>(out, partial, chunks, C);
    CUDA_CHECK_LAUNCH();
}

#endif
