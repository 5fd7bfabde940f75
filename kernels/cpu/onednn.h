/* kernels/cpu/onednn.h: bf16 GEMMs with fp32 accumulation through oneDNN's matmul primitive, for the
 * CPU twin's mixed-precision linear layer (matmul_bf16.c). Built only with oneDNN (BIRDIE_HAVE_DNNL).
 * Shapes follow kernels/ops.h: inp (BT,C), weight (OC,C), out (BT,OC), all row-major; the operands
 * are raw bf16 bits (bf16.c), or with f32 set fp32 values: the same descriptors, strides and post-ops
 * with only the operands' type changed, which every x86-64 CPU runs, so the layouts are checked where
 * bf16 is not (tests/kernels/cpu/test_matmul_bf16.c). Not thread-safe: one caller at a time. */
#ifndef BIRDIE_CPU_ONEDNN_H
#define BIRDIE_CPU_ONEDNN_H

#include <stddef.h>
#include <stdint.h>

/* 1 when oneDNN can create a bf16 matmul on this CPU, else 0 with the reason in why. native: the CPU
 * has bf16 matrix instructions (AVX512-BF16 or AMX) rather than an emulation of them. isa names the
 * oneDNN version, the ISA it dispatches to and the matmul implementation it picked. */
int cpu_onednn_bf16_probe(int *native, char *isa, size_t isalen, char *why, size_t whylen);

/* out (BT,OC) = inp (BT,C) @ weight (OC,C)^T + bias (OC, fp32, may be NULL). */
void cpu_onednn_forward(float *out, const void *inp, const void *weight, const float *bias, int BT, int C, int OC,
                        int f32);
/* dinp (BT,C) = dout (BT,OC) @ weight (OC,C). */
void cpu_onednn_backward_data(float *dinp, const void *dout, const void *weight, int BT, int C, int OC, int f32);
/* dweight (OC,C) += dout^T (OC,BT) @ inp (BT,C). */
void cpu_onednn_backward_weight(float *dweight, const void *dout, const void *inp, int BT, int C, int OC, int f32);

#endif
