/* kernels/cpu/bf16.c: fp32 <-> bf16 conversion for the CPU twin's mixed-precision GEMMs
 * (matmul_bf16.c). bf16 is the upper half of an fp32: 8 exponent bits, 8 significant bits. Rounding
 * is to nearest, ties to even, as on the GPU (__float2bfloat16_rn) and in oneDNN's reorders, so one
 * fp32 tensor gives the same bf16 bits on every backend. A NaN stays a (quiet) NaN; a finite value
 * past the largest bf16 rounds to infinity. Nothing here knows about GEMMs or caches. */
#include <string.h>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/parallel.h"

static inline __attribute__((always_inline)) uint32_t round_bits(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) /* NaN: truncating could make it an infinity */
        return (u | 0x00400000u) & 0xffff0000u;
    /* adding half an ulp of bf16, less one when the kept part is even, carries exactly when the
     * dropped half is above one half, or equal to it with an odd kept part */
    u += 0x7fffu + ((u >> 16) & 1u);
    return u & 0xffff0000u;
}

uint16_t cpu_bf16_from_float(float x)
{
    return (uint16_t)(round_bits(x) >> 16);
}

float cpu_bf16_to_float(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

CPU_HOT static void round_range(uint16_t *dst, const float *src, long lo, long hi)
{
    for (long i = lo; i < hi; i++)
        dst[i] = (uint16_t)(round_bits(src[i]) >> 16);
}

CPU_HOT static void round_range_f32(float *dst, const float *src, long lo, long hi)
{
    for (long i = lo; i < hi; i++) {
        uint32_t u = round_bits(src[i]);
        memcpy(&dst[i], &u, sizeof u);
    }
}

void cpu_bf16_round(uint16_t *dst, const float *src, size_t n)
{
    CPU_PARALLEL_RANGE(n, n, lo, hi, round_range(dst, src, lo, hi));
}

void cpu_bf16_round_f32(float *dst, const float *src, size_t n)
{
    CPU_PARALLEL_RANGE(n, n, lo, hi, round_range_f32(dst, src, lo, hi));
}
