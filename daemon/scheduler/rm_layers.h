/* daemon/scheduler/rm_layers.h: the reward model's own elementwise layers, the ones kernels/ops.h
 * does not have (its rmsnorm puts eps inside the sqrt and has no split; its SSM gates are the LM's
 * Gated SSM, not the reward model's v1 block). Plain C loops with their backward passes; the GEMMs
 * and the scan of the reward model go through kernels/ops.h. Shapes: R rows, C channels, S state.
 */
#ifndef BIRDIE_SCHED_RM_LAYERS_H
#define BIRDIE_SCHED_RM_LAYERS_H

#include <stddef.h>

#define RM_RMSSPLIT_EPS 1e-8f

/* v1 RMSsplit without projection (docs/algorithm.md §3.5): each half h of a row (width C/2, C even) is normalised as
 * x / (||x||_2 * (C/2)^-1/2 + 1e-8) (eps outside the root), multiplied by gamma (C) = [gamma_a | gamma_b],
 * then the whole row by scale (C). rms (R,2) keeps the two root-mean-squares for the backward. */
void rm_rmssplit_forward(float *out, float *rms, const float *inp, const float *gamma, const float *scale, int R,
                         int C);
/* dinp (R,C) += (skipped when NULL), dgamma (C) +=, dscale (C) += from dout (R,C). */
void rm_rmssplit_backward(float *dinp, float *dgamma, float *dscale, const float *dout, const float *inp,
                          const float *gamma, const float *scale, const float *rms, int R, int C);

/* Gates of the v1 GatedSSMBlock. kg (R,S) = W_K u and ugg (R,3S) = W_ugg u = [p | g_in | g_out] are
 * pre-activations. Writes K = sigmoid(kg), sgi = sigmoid(g_in), sgo = sigmoid(g_out) and the scan
 * input pg = p * sgi * (1 - K), all (R,S). */
void rm_in_gates_forward(float *K, float *sgi, float *sgo, float *pg, const float *kg, const float *ugg, int R, int S);
/* From dpg (R,S) and dK_carry (R,S, may be NULL: the gradient reaching K through the scan's forget
 * gate of the next position) writes dkg (R,S) and the p and g_in slots of dugg (R,3S). */
void rm_in_gates_backward(float *dkg, float *dugg, const float *dpg, const float *dK_carry, const float *ugg,
                          const float *K, const float *sgi, int R, int S);

/* z (n) = h * sgo. */
void rm_out_gate_forward(float *z, const float *h, const float *sgo, size_t n);
/* From dz (R,S): dh (R,S) = dz * sgo and the g_out slot of dugg (R,3S). */
void rm_out_gate_backward(float *dh, float *dugg, const float *dz, const float *h, const float *sgo, int R, int S);

#endif
