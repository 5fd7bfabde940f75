/* kernels/cuda/rope.cu: rotary position embedding in place and its inverse (kernels/ops.h; CPU twin
 * kernels/cpu/rope.c, same pairs and the angle in double). One thread per (row, pair, head). */
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_ops.h"

__global__ void rope_kernel(float *x, int ld, const int32_t *__restrict__ pos, int n_heads, int head_dim, float base,
                            int sign, size_t n_elems)
{
    GRID_STRIDE_LOOP(i, n_elems)
    {
        int half = head_dim / 2;
        size_t r = i / ((size_t)half * n_heads);
        int rest = (int)(i % ((size_t)half * n_heads)), j = rest / n_heads, h = rest % n_heads;
        double angle = (double)sign * pos[r] * pow((double)base, -2.0 * j / head_dim);
        float c = (float)cos(angle), s = (float)sin(angle);
        float *a = x + r * ld + (size_t)h * head_dim + j, *b = a + half;
        float x0 = *a, x1 = *b;
        *a = x0 * c - x1 * s;
        *b = x0 * s + x1 * c;
    }
}

extern "C" void cuda_rope_forward(float *x, int ld, const int32_t *pos, int rows, int n_heads, int head_dim, float base,
                                  int sign)
{
    size_t n = rows > 0 && n_heads > 0 && head_dim > 1 ? (size_t)rows * n_heads * (head_dim / 2) : 0;
    if (!n)
        return;
    rope_kernel<<<grid_stride_blocks(n, ELEMENTWISE_BLOCK), ELEMENTWISE_BLOCK>>>(x, ld, pos, n_heads, head_dim, base,
                                                                                 sign, n);
    CUDA_CHECK_LAUNCH();
}
