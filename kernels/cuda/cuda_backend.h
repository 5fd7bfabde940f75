/* kernels/cuda/cuda_backend.h: the CUDA backend's public C interface beyond the op table: is a GPU
 * usable, which backend to run (--backend cuda|cpu|auto), and the timing and ceiling measurements the
 * benchmark reports against. Plain C: including it needs no CUDA header.
 *
 * Every function here also exists in a build without CUDA (kernels/cuda/none.c), where it reports
 * that the build has no CUDA backend; callers need no #ifdef. The op table itself is
 * birdie_ops_cuda_table() in kernels/ops.h. Return values: 0 or a negative errno, with a message in
 * err (which may be NULL).
 */
#ifndef BIRDIE_CUDA_BACKEND_H
#define BIRDIE_CUDA_BACKEND_H

#include <stddef.h>

#include "kernels/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 0 when a GPU is visible and a context can be created on it; -ENODEV otherwise, with the CUDA
 * call and its error string in err, e.g. "cudaGetDeviceCount: CUDA driver version is insufficient
 * for CUDA runtime version (35)". Checks the return code, not only the device count. */
int birdie_cuda_probe(char *err, size_t errlen);

/* Makes GPU local_rank % (visible devices) this process's device. Call it before anything else
 * touches CUDA: the first call creates a context on the current device, and with several ranks per
 * node every rank would otherwise put one on GPU 0. -ENODEV when no GPU is usable. */
int birdie_cuda_use_device(int local_rank, char *err, size_t errlen);

/* One line naming the current device ("NVIDIA H100 80GB HBM3, cc 9.0, 132 SMs, 79.1 GiB"). */
int birdie_cuda_describe(char *out, size_t outlen, char *err, size_t errlen);

/* Resolves --backend: request is "cuda", "cpu", "auto" or NULL (= auto). On success *chosen is
 * cpu_ops or the CUDA table and note says what was picked and why ("auto" with no GPU says so).
 * "cuda" with no usable GPU is -ENODEV; an unknown name is -EINVAL. cpu_ops is passed in (normally
 * &birdie_ops_cpu) so this file does not depend on the CPU library's link order. */
int birdie_backend_choose(const char *request, const birdie_ops *cpu_ops, const birdie_ops **chosen, char *note,
                          size_t notelen, char *err, size_t errlen);

/* GPU event timer on the default stream: start, run work, stop returns the milliseconds between
 * the two events (it waits for the stop event), or a negative value on a CUDA error. */
typedef struct birdie_cuda_timer birdie_cuda_timer;
birdie_cuda_timer *birdie_cuda_timer_create(char *err, size_t errlen);
void birdie_cuda_timer_start(birdie_cuda_timer *timer);
double birdie_cuda_timer_stop_ms(birdie_cuda_timer *timer);
void birdie_cuda_timer_destroy(birdie_cuda_timer *timer);

/* Measured device-to-device copy bandwidth in bytes/s, read + write counted (2 * bytes per copy),
 * from `repeats` cudaMemcpy of a `bytes` buffer after one warm-up copy. The scan is judged
 * against this. bytes of 0 means 1 GiB; repeats of 0 means 20. */
int birdie_cuda_measure_copy_bandwidth(double *bytes_per_s, size_t bytes, int repeats, char *err, size_t errlen);

/* Measured dense bf16 GEMM rate in FLOP/s (2*n^3 per GEMM) of an n x n x n cublasGemmEx with bf16
 * inputs and output, fp32 accumulation: the ceiling for MFU. n of 0 means 8192; repeats of 0, 10. */
int birdie_cuda_measure_gemm_rate(double *flops_per_s, int n, int repeats, char *err, size_t errlen);

/* How many times an op had to grow the backend's scratch memory beyond its reserve (ops.h's reserve
 * hook); each growth waits for the whole device. A model's steps after its init should add none.
 * Always 0 in a build without CUDA. */
long birdie_cuda_scratch_growths(void);

#ifdef __cplusplus
}
#endif

#endif
