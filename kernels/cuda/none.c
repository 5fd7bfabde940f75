/* kernels/cuda/none.c: the CUDA backend of a build without CUDA (-Dcuda=disabled, or no nvcc): there
 * is no op table, and every function of cuda_backend.h reports that the build has none, so callers
 * need no #ifdef and "--backend auto" falls back to the CPU with the reason. */
#include <errno.h>
#include <stdio.h>

#include "kernels/cuda/cuda_backend.h"

#define NO_CUDA "this build has no CUDA backend (configured with -Dcuda=disabled or without nvcc)"

static int no_cuda(char *err, size_t errlen)
{
    if (err && errlen)
        snprintf(err, errlen, "%s", NO_CUDA);
    return -ENODEV;
}

const birdie_ops *birdie_ops_cuda_table(void)
{
    return NULL;
}

const birdie_ops *birdie_ops_cuda_fp32_table(void)
{
    return NULL;
}

int birdie_cuda_probe(char *err, size_t errlen)
{
    return no_cuda(err, errlen);
}

int birdie_cuda_use_device(int local_rank, char *err, size_t errlen)
{
    return no_cuda(err, errlen);
}

int birdie_cuda_describe(char *out, size_t outlen, char *err, size_t errlen)
{
    return no_cuda(err, errlen);
}

birdie_cuda_timer *birdie_cuda_timer_create(char *err, size_t errlen)
{
    no_cuda(err, errlen);
    return NULL;
}

/* A timer cannot exist in this build, so these receive NULL only. */
void birdie_cuda_timer_start(birdie_cuda_timer *timer) {}

double birdie_cuda_timer_stop_ms(birdie_cuda_timer *timer)
{
    return -1.0;
}

void birdie_cuda_timer_destroy(birdie_cuda_timer *timer) {}

int birdie_cuda_measure_copy_bandwidth(double *bytes_per_s, size_t bytes, int repeats, char *err, size_t errlen)
{
    return no_cuda(err, errlen);
}

int birdie_cuda_measure_gemm_rate(double *flops_per_s, int n, int repeats, char *err, size_t errlen)
{
    return no_cuda(err, errlen);
}

long birdie_cuda_scratch_growths(void)
{
    return 0;
}
