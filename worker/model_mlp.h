/* worker/model_mlp.h: the gated MLP half of a Hawk or Transformer block (docs/algorithm.md §1.5, §1.6):
 * u2 = RMSNorm(x_mid); [m1 | m2] = u2 @ W_mlp^T (2M); x_next = x_mid + (gelu(m1) * m2) @ W_mo^T.
 * One implementation for both families; their files call it after their own mixing branch (the
 * recurrence or attention). Internal to worker/model*.c. */
#ifndef BIRDIE_MODEL_MLP_H
#define BIRDIE_MODEL_MLP_H

#include <stddef.h>

#include "worker/model.h"

/* One layer's MLP: its activations (backend memory) and its parameters' offsets. */
typedef struct birdie_mlp_layer {
    float *x_mid; /* (BT,C) the block's input to the MLP half */
    float *rstd2, *u2; /* (BT), (BT,C) */
    float *mlp; /* (BT,2M) [m1 | m2] */
    float *mlp_g; /* (BT,M) gelu(m1) * m2 */
    size_t ln2, w_mlp, w_mo;
} birdie_mlp_layer;

/* x_next (BT,C) from x_mid for the model's current rows; m->du is its scratch. */
void birdie_mlp_forward(birdie_model *m, const birdie_mlp_layer *l, float *x_next, int M);
/* With m->dresidual = dL/dx_next on entry: accumulates the MLP's parameter gradients and leaves
 * dL/dx_mid in m->dresidual. dmlp_g (BT,M) and dmlp (BT,2M) are scratch. */
void birdie_mlp_backward(birdie_model *m, const birdie_mlp_layer *l, float *dmlp_g, float *dmlp, int M);

#endif
