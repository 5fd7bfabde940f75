/* kernels/cuda/cuda_ops.h: the CUDA backend's functions, one per entry of the birdie_ops table
 * (table.c). Shapes and = / += conventions are those of kernels/ops.h; every pointer is device
 * memory. Defined in the .cu files with C linkage; declared here so table.c (C) can name them. */
#ifndef BIRDIE_CUDA_OPS_H
#define BIRDIE_CUDA_OPS_H

#include "kernels/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

void *cuda_alloc(size_t bytes);
void cuda_free(void *ptr);
void cuda_zero(void *ptr, size_t bytes);
void cuda_upload(void *dst, const void *host_src, size_t bytes);
void cuda_download(void *host_dst, const void *src, size_t bytes);
void cuda_synchronize(void);
void *cuda_host_alloc(size_t bytes);
void cuda_host_free(void *ptr);
void cuda_upload_async(void *dst, const void *host_src, size_t bytes);
void cuda_upload_wait(void);
int cuda_reserve(const birdie_op_shapes *shapes);

void cuda_embedding_forward(float *out, const int32_t *tokens, const float *wte, int BT, int C);
void cuda_embedding_backward(float *dwte, const float *dout, const int32_t *tokens, int BT, int C);
void cuda_rmsnorm_forward(float *out, float *rstd, const float *inp, const float *weight, int BT, int C);
void cuda_rmsnorm_backward(float *dinp, float *dweight, const float *dout, const float *inp, const float *weight,
                           const float *rstd, int BT, int C);
void cuda_matmul_forward(float *out, const float *inp, const float *weight, const float *bias, int BT, int C, int OC);
void cuda_matmul_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                          const float *weight, int BT, int C, int OC);
/* The same with fp32 operands and fp32 compute (precision = fp32). */
void cuda_matmul_forward_fp32(float *out, const float *inp, const float *weight, const float *bias, int BT, int C,
                              int OC);
void cuda_matmul_backward_fp32(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                               const float *weight, int BT, int C, int OC);
void cuda_residual_forward(float *out, const float *a, const float *b, size_t n);
void cuda_ssm_gates_forward(float *x, float *f, const float *proj, int BT, int N);
void cuda_ssm_gates_backward(float *dproj, const float *dx, const float *df, const float *proj, int BT, int N);
void cuda_ssm_output_forward(float *g, const float *proj, const float *h, int BT, int N);
void cuda_ssm_output_backward(float *dproj, float *dh, const float *dg, const float *proj, const float *h, int BT,
                              int N);
void cuda_scan_forward(float *h, const float *x, const float *f, const uint8_t *resets, int B, int T, int N, int n_fwd);
void cuda_scan_backward(float *dx, float *df, const float *dh, const float *h, const float *f, const uint8_t *resets,
                        int B, int T, int N, int n_fwd);
void cuda_crossentropy_forward_backward(float *losses, float *dlogits, const float *logits, const int32_t *targets,
                                        int BT, int V, float dloss);
double cuda_sum_squares(const float *x, size_t n);
void cuda_adamw_update(float *param, const float *grad, float *m, float *v, size_t n, const birdie_adamw_params *p);
void cuda_adamw_update_segments(float *param, const float *grad, float *m, float *v, const birdie_adamw_segment *segs,
                                int n_segs, const birdie_adamw_params *p);

#ifdef __cplusplus
}
#endif

#endif
