/* kernels/cpu/rope.c: rotary position embedding (docs/algorithm.md §1.6) on the query and key slots of a
 * projection, in place, and its inverse (the backward). Angles are computed in double per (position, pair), so
 * long rows lose no accuracy to an fp32 angle. Rows are spread over cores. */
#include <math.h>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/parallel.h"

static void rope_rows(float *x, int ld, const int32_t *pos, int n_heads, int head_dim, float base, int sign, long r0,
                      long r1)
{
    int half = head_dim / 2;
    for (long r = r0; r < r1; r++) {
        float *row = x + (size_t)r * ld;
        for (int j = 0; j < half; j++) {
            double angle = (double)sign * pos[r] * pow((double)base, -2.0 * j / head_dim);
            float c = (float)cos(angle), s = (float)sin(angle);
            for (int h = 0; h < n_heads; h++) {
                float *a = row + (size_t)h * head_dim + j, *b = a + half;
                float x0 = *a, x1 = *b;
                *a = x0 * c - x1 * s;
                *b = x0 * s + x1 * c;
            }
        }
    }
}

void cpu_rope_forward(float *x, int ld, const int32_t *pos, int rows, int n_heads, int head_dim, float base, int sign)
{
    CPU_PARALLEL_RANGE(rows, (long)rows * n_heads * head_dim * 4, lo, hi,
                       rope_rows(x, ld, pos, n_heads, head_dim, base, sign, lo, hi));
}
