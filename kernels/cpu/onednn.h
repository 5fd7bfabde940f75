/* kernels/cpu/onednn.h: bf16 GEMMs with fp32 accumulation through oneDNN's matmul primitive, for the
 * CPU twin's mixed-precision linear layer (matmul_bf16.c). Built only with oneDNN (BIRDIE_HAVE_DNNL).
 * Shapes follow kernels/ops.h: inp (BT,C), weight (OC,C), out (BT,OC), all row-major; the bf16
 * operands are raw bf16 bits (bf16.c). Not thread-safe: one caller at a time, as for every op. */
#ifndef BIRDIE_CPU_ONEDNN_H
#define BIRDIE_CPU_ONEDNN_H

#include <stddef.h>
#include <stdint.h>

/* 1 when oneDNN can create a bf16 matmul on this CPU, else 0 with the reason in why. native: the CPU
 * has bf16 matrix instructions (AVX512-BF16 or AMX) rather than an emulation of them. isa names the
 * oneDNN version, the ISA it dispatches to and the matmul implementation it picked. */
int cpu_onednn_bf16_probe(int *native, char *isa, size_t isalen, char *why, size_t whylen);

/* out (BT,OC) = inp (BT,C) @ weight (OC,C)^T + bias (OC, fp32, may be NULL). */
void cpu_onednn_forward(float *out, const uint16_t *inp, const uint16_t *weight, const float *bias, int BT, int C,
                        int OC);
/* dinp (BT,C) = dout (BT,OC) @ weight (OC,C). */
void cpu_onednn_backward_data(float *dinp, const uint16_t *dout, const uint16_t *weight, int BT, int C, int OC);
/* dweight (OC,C) += dout^T (OC,BT) @ inp (BT,C). */
void cpu_onednn_backward_weight(float *dweight, const uint16_t *dout, const uint16_t *inp, int BT, int C, int OC);

#endif
