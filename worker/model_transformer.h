/* worker/model_transformer.h: the Transformer family of birdie_model (docs/algorithm.md §1.6): the layout,
 * activations and passes that worker/model.c calls when cfg.family is BIRDIE_FAMILY_TRANSFORMER. Internal to the
 * model and its generator (worker/generate_transformer.c).
 *
 * Block l (pre-norm residual): u = RMSNorm(x); [q | k | v] = u @ W_qkv^T (3C, no bias); RoPE on q and k (base
 * BIRDIE_ROPE_BASE, position = place in the row); a = attention(q, k, v) under the packed rows' mask, causal, or
 * with cfg.bidirectional the prefix-LM mask in every layer; x_mid = x + a @ W_o^T; then the gated MLP of Hawk:
 * x_next = x_mid + (gelu(m1) * m2) @ W_mo^T with [m1 | m2] = RMSNorm(x_mid) @ W_mlp^T (M = 8/3 C rounded up to
 * 64). n_heads heads of C / n_heads (even, at most 128) channels. */
#ifndef BIRDIE_MODEL_TRANSFORMER_H
#define BIRDIE_MODEL_TRANSFORMER_H

#include "worker/model.h"

/* RoPE's base ("decay rate"), the paper's 250,000 (docs/algorithm.md §1.6). */
#define BIRDIE_ROPE_BASE 250000.0f

typedef struct birdie_tf_layer_params {
    size_t ln, w_qkv, w_o, ln2, w_mlp, w_mo;
} birdie_tf_layer_params;

typedef struct birdie_tf_layer_acts {
    float *x, *rstd, *u; /* (BT,C), (BT), (BT,C) */
    float *qkv; /* (BT,3C), q and k rotated */
    float *att; /* (BT,C) attention output */
    float *lse; /* (B,H,T) */
    float *x_mid, *rstd2, *u2; /* (BT,C), (BT), (BT,C) */
    float *mlp, *mlp_g; /* (BT,2M), (BT,M) */
} birdie_tf_layer_acts;

typedef struct birdie_tf {
    int M, H, D; /* MLP width, heads, head width */
    birdie_tf_layer_params *layer;
    birdie_tf_layer_acts *acts;
    int32_t *d_pos; /* (BT) each position's place in its row, for RoPE */
    float *dqkv, *datt, *dmlp, *dmlp_g;
} birdie_tf;

/* Checks cfg's heads against its width; 0 or -EINVAL with a message. */
int birdie_tf_check(const birdie_model_config *cfg, char *err, size_t errlen);
void birdie_tf_layout(birdie_model *m);
void birdie_tf_init_params(const birdie_model *m, float *host, uint64_t seed);
int birdie_tf_alloc(birdie_model *m);
void birdie_tf_free(birdie_model *m);
void birdie_tf_forward_layers(birdie_model *m, int B);
int birdie_tf_backward_layers(birdie_model *m, birdie_grads_ready_fn ready, void *ctx);

#endif
