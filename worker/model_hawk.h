/* worker/model_hawk.h: the Hawk family of birdie_model (docs/algorithm.md §1.5, §1.4): the parameter layout,
 * activations and passes that worker/model.c calls when cfg.family is BIRDIE_FAMILY_HAWK. Internal to the
 * model and its generator (worker/generate_hawk.c); everything else uses worker/model.h.
 *
 * Block l (pre-norm residual, Griffin layout):
 *   u = RMSNorm(x); proj = u @ W_in^T = [gate | v0] (2N, no bias);
 *   v = conv(v0) (depthwise, width 4, + bias; the reverse half of a bidirectional layer reads ahead);
 *   gates = v @ W_rg^T + b_rg = [a_r | a_i] (2N, dense N x N gates);
 *   (x, a) = rglru(gates, v, lambda); h = scan(x, a); y = (gelu(gate) * h) @ W_out^T (no bias);
 *   x_mid = x + y;  u2 = RMSNorm(x_mid); m = u2 @ W_mlp^T = [m1 | m2] (2M); x_next = x_mid + (gelu(m1) * m2) @ W_mo^T.
 * M = 8/3 C rounded up to a multiple of 64. Bidirectional layers (even l when cfg.bidirectional) run the upper
 * N/2 channels of the conv and the scan right to left. */
#ifndef BIRDIE_MODEL_HAWK_H
#define BIRDIE_MODEL_HAWK_H

#include "worker/model.h"

typedef struct birdie_hawk_layer_params {
    size_t ln, w_in, conv_w, conv_b, w_rg, b_rg, lambda, w_out, ln2, w_mlp, w_mo; /* offsets */
} birdie_hawk_layer_params;

typedef struct birdie_hawk_layer_acts {
    float *x; /* (BT,C) block input */
    float *rstd, *u; /* (BT), (BT,C) */
    float *proj; /* (BT,2N) [gate | v0] */
    float *conv; /* (BT,N) v */
    float *gates; /* (BT,2N) [a_r | a_i] */
    float *h; /* (BT,N) scan state */
    float *gh; /* (BT,N) gelu(gate) * h */
    float *x_mid; /* (BT,C) after the recurrent branch */
    float *rstd2, *u2; /* (BT), (BT,C) */
    float *mlp; /* (BT,2M) [m1 | m2] */
    float *mlp_g; /* (BT,M) gelu(m1) * m2 */
} birdie_hawk_layer_acts;

typedef struct birdie_hawk {
    int M; /* MLP hidden width */
    birdie_hawk_layer_params *layer;
    birdie_hawk_layer_acts *acts;
    /* backward and recomputation buffers, shared by the layers */
    float *sx, *sa; /* (BT,N) scan input and gate */
    float *dproj, *dgates; /* (BT,2N) */
    float *dconv, *dtmp, *dh, *dgh, *dsx, *dsa; /* (BT,N) */
    float *dmlp; /* (BT,2M) */
    float *dmlp_g; /* (BT,M) */
} birdie_hawk;

/* The MLP width of a Hawk model of residual width C. */
int birdie_hawk_mlp_width(int C);
/* Channels of layer l that run left to right. */
int birdie_hawk_n_fwd(const birdie_model *m, int l);

/* Called by birdie_model_init for a Hawk config: lays out and initialises the parameters into host (NULL: only
 * the layout, m->n_params), allocates the activations. 0 or -ENOMEM. */
void birdie_hawk_layout(birdie_model *m);
void birdie_hawk_init_params(const birdie_model *m, float *host, uint64_t seed);
int birdie_hawk_alloc(birdie_model *m);
void birdie_hawk_free(birdie_model *m);
/* The layers of a forward: from m->hawk->acts[0].x (the embedding) to m->x_final. */
void birdie_hawk_forward_layers(birdie_model *m, int B);
/* The layers of a backward: dresidual holds dL/dx_final on entry and dL/d(embedding) on return; ready is
 * called per layer as in birdie_model_backward_notify. */
int birdie_hawk_backward_layers(birdie_model *m, birdie_grads_ready_fn ready, void *ctx);

#endif
