/* kernels/cuda/adamw.cu: the optimizer's device side: the fused AdamW update of one tensor, the
 * multi-tensor update over the segments of the flat buffers, and the sum of squares that the global
 * gradient norm is built from (CPU twin kernels/cpu/adamw.c). Parameters, gradients and both moments
 * are each one contiguous buffer (docs/design.md §3.2), so one launch covers every tensor at once
 * (adamw_update_segments: 1 launch a step instead of one per tensor, 123 at 125M), with each
 * tensor's weight decay looked up from a table of runs.
 *
 * AdamW (decoupled decay, bias-corrected moments), per element with g = grad * grad_scale:
 *   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
 *   param -= lr * ( (m / (1-b1^step)) / (sqrt(v / (1-b2^step)) + eps) + weight_decay * param ).
 * Both kernels share adamw_element, so per element the two launches compute the same bits.
 * sum_squares accumulates in double with a grid whose size depends only on n, and folds the block
 * partials in a fixed order, so it repeats bit for bit. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/reduce.cuh"

enum { SUM_SQUARES_BLOCK = 256, SUM_SQUARES_MAX_BLOCKS = 1024 };

__device__ __forceinline__ void adamw_element(float *param, const float *__restrict__ grad, float *m, float *v,
                                              size_t i, float lr, float beta1, float beta2, float eps,
                                              float weight_decay, float grad_scale, float correction1,
                                              float correction2)
{
    float g = grad[i] * grad_scale;
    float mi = beta1 * m[i] + (1.0f - beta1) * g;
    float vi = beta2 * v[i] + (1.0f - beta2) * g * g;
    float m_hat = mi / correction1, v_hat = vi / correction2;
    float p = param[i];
    param[i] = p - lr * (m_hat / (sqrtf(v_hat) + eps) + weight_decay * p);
    m[i] = mi;
    v[i] = vi;
}

__global__ void adamw_kernel(float *param, const float *__restrict__ grad, float *m, float *v, size_t n, float lr,
                             float beta1, float beta2, float eps, float weight_decay, float grad_scale,
                             float correction1, float correction2)
{
    GRID_STRIDE_LOOP(i, n)
    adamw_element(param, grad, m, v, i, lr, beta1, beta2, eps, weight_decay, grad_scale, correction1, correction2);
}

/* Run r covers [runs[r].begin, runs[r + 1].begin): adjacent segments with the same decay flag are one
 * run (a handful per layer), a gap between segments is a run with decay RUN_GAP (left alone); the
 * last entry only closes the run before it. */
enum { RUN_GAP = -1 };
struct SegmentRun {
    size_t begin;
    int decay;
};

__global__ void adamw_segments_kernel(float *param, const float *__restrict__ grad, float *m, float *v,
                                      const SegmentRun *__restrict__ runs, int n_runs, float lr, float beta1,
                                      float beta2, float eps, float weight_decay, float grad_scale, float correction1,
                                      float correction2)
{
    const size_t begin = runs[0].begin;
    GRID_STRIDE_LOOP(k, runs[n_runs].begin - begin)
    {
        const size_t i = begin + k;
        int lo = 0, hi = n_runs - 1; /* the last run that begins at or before i */
        while (lo < hi) {
            int mid = (lo + hi + 1) / 2;
            if (runs[mid].begin <= i)
                lo = mid;
            else
                hi = mid - 1;
        }
        const int decay = runs[lo].decay;
        if (decay != RUN_GAP)
            adamw_element(param, grad, m, v, i, lr, beta1, beta2, eps, decay ? weight_decay : 0.0f, grad_scale,
                          correction1, correction2);
    }
}

/* The run table of the last segment list, on the device. A model passes the same list every step, so
 * it is built and uploaded once (a blocking copy at the first step) and the step itself copies nothing. */
static struct {
    birdie_adamw_segment *segs; /* host copy of the list the table was built from */
    int n_segs;
    SegmentRun *runs; /* device */
    int n_runs, capacity;
} run_table;

static void build_run_table(const birdie_adamw_segment *segs, int n_segs)
{
    SegmentRun *host = (SegmentRun *)malloc((2 * (size_t)n_segs + 1) * sizeof *host);
    birdie_adamw_segment *copy = (birdie_adamw_segment *)malloc((size_t)n_segs * sizeof *copy);
    if (!host || !copy) {
        fprintf(stderr, "birdie cuda: adamw_update_segments: out of host memory for %d segments\n", n_segs);
        abort();
    }
    int n = 0;
    size_t end = segs[0].offset;
    for (int i = 0; i < n_segs; i++) {
        const birdie_adamw_segment *sg = &segs[i];
        if (sg->count == 0)
            continue;
        if (sg->offset > end)
            host[n++] = SegmentRun{end, RUN_GAP};
        const int decay = sg->decay ? 1 : 0;
        if (n == 0 || host[n - 1].decay != decay)
            host[n++] = SegmentRun{sg->offset, decay};
        end = sg->offset + sg->count;
    }
    host[n] = SegmentRun{end, RUN_GAP};
    if (n + 1 > run_table.capacity) {
        if (run_table.runs)
            CUDA_CHECK(cudaFree(run_table.runs));
        CUDA_CHECK(cudaMalloc(&run_table.runs, (size_t)(n + 1) * sizeof(SegmentRun)));
        run_table.capacity = n + 1;
    }
    CUDA_CHECK(cudaMemcpy(run_table.runs, host, (size_t)(n + 1) * sizeof(SegmentRun), cudaMemcpyHostToDevice));
    memcpy(copy, segs, (size_t)n_segs * sizeof *copy);
    free(run_table.segs);
    free(host);
    run_table.segs = copy;
    run_table.n_segs = n_segs;
    run_table.n_runs = n;
}

/* Field by field: the struct's padding bytes may differ between two copies of the same list. */
static bool same_segments(const birdie_adamw_segment *segs, int n_segs)
{
    if (n_segs != run_table.n_segs)
        return false;
    for (int i = 0; i < n_segs; i++) {
        const birdie_adamw_segment *a = &segs[i], *b = &run_table.segs[i];
        if (a->offset != b->offset || a->count != b->count || (a->decay != 0) != (b->decay != 0))
            return false;
    }
    return true;
}

extern "C" void cuda_adamw_update_segments(float *param, const float *grad, float *m, float *v,
                                           const birdie_adamw_segment *segs, int n_segs, const birdie_adamw_params *p)
{
    if (n_segs <= 0)
        return;
    if (!same_segments(segs, n_segs))
        build_run_table(segs, n_segs);
    if (run_table.n_runs == 0)
        return; /* every segment is empty */
    size_t n = 0;
    for (int i = 0; i < n_segs; i++)
        n += segs[i].count;
    float correction1 = 1.0f - powf(p->beta1, (float)p->step);
    float correction2 = 1.0f - powf(p->beta2, (float)p->step);
    adamw_segments_kernel<<<grid_stride_blocks(n, ELEMENTWISE_BLOCK), ELEMENTWISE_BLOCK>>>(
        param, grad, m, v, run_table.runs, run_table.n_runs, p->lr, p->beta1, p->beta2, p->eps, p->weight_decay,
        p->grad_scale, correction1, correction2);
    CUDA_CHECK_LAUNCH();
}

extern "C" void cuda_adamw_update(float *param, const float *grad, float *m, float *v, size_t n,
                                  const birdie_adamw_params *p)
{
    if (n == 0)
        return;
    float correction1 = 1.0f - powf(p->beta1, (float)p->step);
    float correction2 = 1.0f - powf(p->beta2, (float)p->step);
    adamw_kernel<<<grid_stride_blocks(n, ELEMENTWISE_BLOCK), ELEMENTWISE_BLOCK>>>(
        param, grad, m, v, n, p->lr, p->beta1, p->beta2, p->eps, p->weight_decay, p->grad_scale, correction1,
        correction2);
    CUDA_CHECK_LAUNCH();
}

__global__ void sum_squares_partial_kernel(double *partial, const float *__restrict__ x, size_t n)
{
    double acc = 0.0;
    GRID_STRIDE_LOOP(i, n)
    {
        double xi = (double)x[i];
        acc += xi * xi;
    }
    acc = block_reduce(acc, SumOp(), 0.0);
    if (threadIdx.x == 0)
        partial[blockIdx.x] = acc;
}

__global__ void sum_partials_kernel(double *out, const double *partial, int count)
{
    double acc = 0.0;
    for (int i = threadIdx.x; i < count; i += blockDim.x)
        acc += partial[i];
    acc = block_reduce(acc, SumOp(), 0.0);
    if (threadIdx.x == 0)
        *out = acc;
}

size_t cuda_sum_squares_scratch_bytes(void)
{
    return (SUM_SQUARES_MAX_BLOCKS + 1) * sizeof(double);
}

extern "C" double cuda_sum_squares(const float *x, size_t n)
{
    if (n == 0)
        return 0.0;
    unsigned int blocks = grid_stride_blocks(n, SUM_SQUARES_BLOCK);
    if (blocks > SUM_SQUARES_MAX_BLOCKS)
        blocks = SUM_SQUARES_MAX_BLOCKS;
    /* the most it asks for, whatever n: one size, so that a reserve covers every call */
    double *partial = (double *)cuda_scratch(SCRATCH_REDUCE, cuda_sum_squares_scratch_bytes());
    sum_squares_partial_kernel<<<blocks, SUM_SQUARES_BLOCK>>>(partial + 1, x, n);
    CUDA_CHECK_LAUNCH();
    sum_partials_kernel<<<1, SUM_SQUARES_BLOCK>>>(partial, partial + 1, (int)blocks);
    CUDA_CHECK_LAUNCH();
    double result = 0.0;
    CUDA_CHECK(cudaMemcpy(&result, partial, sizeof(double), cudaMemcpyDeviceToHost));
    return result;
}
