/* kernels/cpu/memory.c: the CPU backend's memory hooks (host memory, 64-byte aligned for SIMD). Its
 * "device" is the host: an asynchronous upload is a copy, and there is no working memory to reserve. */
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/cpu_ops.h"

void *cpu_alloc(size_t bytes)
{
    size_t rounded = (bytes + 63) / 64 * 64;
    void *p = aligned_alloc(64, rounded ? rounded : 64);
    if (p)
        memset(p, 0, rounded ? rounded : 64);
    return p;
}

void cpu_free(void *ptr)
{
    free(ptr);
}

void cpu_zero(void *ptr, size_t bytes)
{
    memset(ptr, 0, bytes);
}

void cpu_copy(void *dst, const void *src, size_t bytes)
{
    if (bytes)
        memcpy(dst, src, bytes);
}

void cpu_synchronize(void) {}

int cpu_reserve(const birdie_op_shapes *shapes)
{
    (void)shapes;
    return 0;
}
