/* kernels/cpu/cpu_ops.h: the CPU twin's functions, one per entry of the birdie_ops table.
 * Declared here so tests and the table (table.c) can name them; shapes are documented in kernels/ops.h. */
#ifndef BIRDIE_CPU_OPS_H
#define BIRDIE_CPU_OPS_H

#include "kernels/ops.h"

void *cpu_alloc(size_t bytes);
void cpu_free(void *ptr);
void cpu_zero(void *ptr, size_t bytes);
void cpu_copy(void *dst, const void *src, size_t bytes);
void cpu_synchronize(void);
int cpu_reserve(const birdie_op_shapes *shapes);

void cpu_embedding_forward(float *out, const int32_t *tokens, const float *wte, int BT, int C);
void cpu_embedding_backward(float *dwte, const float *dout, const int32_t *tokens, int BT, int C);
void cpu_rmsnorm_forward(float *out, float *rstd, const float *inp, const float *weight, int BT, int C);
void cpu_rmsnorm_backward(float *dinp, float *dweight, const float *dout, const float *inp, const float *weight,
                          const float *rstd, int BT, int C);
void cpu_matmul_forward(float *out, const float *inp, const float *weight, const float *bias, int BT, int C, int OC);
void cpu_matmul_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                         const float *weight, int BT, int C, int OC);
void cpu_residual_forward(float *out, const float *a, const float *b, size_t n);
void cpu_ssm_gates_forward(float *x, float *f, const float *proj, int BT, int N);
void cpu_ssm_gates_backward(float *dproj, const float *dx, const float *df, const float *proj, int BT, int N);
void cpu_ssm_output_forward(float *g, const float *proj, const float *h, int BT, int N);
void cpu_ssm_output_backward(float *dproj, float *dh, const float *dg, const float *proj, const float *h, int BT,
                             int N);
void cpu_scan_forward(float *h, const float *x, const float *f, const uint8_t *resets, int B, int T, int N, int n_fwd);
void cpu_scan_backward(float *dx, float *df, const float *dh, const float *h, const float *f, const uint8_t *resets,
                       int B, int T, int N, int n_fwd);
void cpu_crossentropy_forward_backward(float *losses, float *dlogits, const float *logits, const int32_t *targets,
                                       int BT, int V, float dloss);
double cpu_sum_squares(const float *x, size_t n);
void cpu_adamw_update(float *param, const float *grad, float *m, float *v, size_t n, const birdie_adamw_params *p);
void cpu_adamw_update_segments(float *param, const float *grad, float *m, float *v, const birdie_adamw_segment *segs,
                               int n_segs, const birdie_adamw_params *p);

/* bf16 conversion (bf16.c): round to nearest, ties to even; NaN stays NaN. cpu_bf16_round_f32 writes the
 * rounded values as fp32 (the upper 16 bits of each result are the bf16, the lower are zero). */
uint16_t cpu_bf16_from_float(float x);
float cpu_bf16_to_float(uint16_t h);
void cpu_bf16_round(uint16_t *dst, const float *src, size_t n);
void cpu_bf16_round_f32(float *dst, const float *src, size_t n);

/* The bias parts of the linear layer (matmul.c), shared by both precisions: out (BT,OC) = bias in every
 * row; dbias (OC) += column sums of dout (BT,OC) in row order. */
void cpu_bias_broadcast(float *out, const float *bias, int BT, int OC);
void cpu_bias_backward(float *dbias, const float *dout, int BT, int OC);

/* Threads of the CPU GEMMs (OpenBLAS); ranks sharing a machine split its cores. */
void birdie_cpu_set_threads(int n);

/* Scalar activations shared by the gate ops and their tests. */
float cpu_sigmoid(float x);
float cpu_gelu(float x);
float cpu_gelu_grad(float x);

#endif
