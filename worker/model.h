/* worker/model.h: the language models of birdie (docs/algorithm.md §1.1-§1.3), one model for every
 * backend. cfg.family picks the block: the Gated SSM (below, the default), Hawk (worker/model_hawk.h) or the
 * Transformer (worker/model_transformer.h), whose layers model.c hands over to model_hawk.c and
 * model_transformer.c; embedding, final norm, head, loss and AdamW are shared.
 *
 * Block l: u = RMSNorm(x); proj = u @ W_in^T + b_in = [a_i | a_z | a_o | a_f] (4N);
 * h = scan(sigmoid(a_i) * a_z, sigmoid(a_f)); y = (gelu(a_o) * h) @ W_out^T + b_out; x += y.
 * Bidirectional layers (even l when cfg.bidirectional) scan their upper N/2 channels right to left.
 * Then a final RMSNorm and an untied head to the vocabulary.
 *
 * Parameters, gradients and both AdamW moments each live in one contiguous buffer of the backend;
 * a tensor is a view (offset, count), and AdamW runs over all of them in one op call. Activations, and
 * the backend's working memory (ops.h's reserve), are allocated once for (B, T); a step's rows go to
 * the backend in one asynchronous copy. The model does not build batches or run the optimiser
 * schedule: that is worker/train.c.
 */
#ifndef BIRDIE_MODEL_H
#define BIRDIE_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/ops.h"
#include "worker/rows.h"

/* Model families (docs/algorithm.md §1.1); the values are stored in checkpoints, never renumber them. */
enum birdie_model_family { BIRDIE_FAMILY_GATED_SSM = 0, BIRDIE_FAMILY_HAWK = 1, BIRDIE_FAMILY_TRANSFORMER = 2 };

typedef struct birdie_model_config {
    int vocab; /* V */
    int d_model; /* C */
    int d_state; /* N, even */
    int n_layers; /* L */
    int bidirectional; /* even layers split their channels in a forward and a reverse half */
    int family; /* enum birdie_model_family; 0 (the Gated SSM) in a zeroed config */
    int n_heads; /* the Transformer's attention heads (d_state is not used by it) */
} birdie_model_config;

/* Fills cfg's family and shape (vocab, widths, layers, heads) from a size name (XS, S, 125M, 350M) of a family;
 * leaves bidirectional alone. 0 or -EINVAL. by_name is the Gated SSM's. */
int birdie_model_config_of_family(const char *name, int family, birdie_model_config *cfg);
int birdie_model_config_by_name(const char *name, birdie_model_config *cfg);
/* The family of a name (gated_ssm, hawk, transformer), or -EINVAL; and the name of a family ("?" if none). */
int birdie_model_family_parse(const char *name);
const char *birdie_model_family_name(int family);

typedef struct birdie_tensor {
    char name[32];
    size_t offset, count;
    int decay; /* AdamW weight decay applies (not to W_f, biases, norms) */
} birdie_tensor;

typedef struct birdie_layer_params {
    size_t ln, w_in, b_in, w_out, b_out; /* offsets into the parameter buffer */
} birdie_layer_params;

typedef struct birdie_layer_acts {
    float *x; /* (BT,C) residual input of the block */
    float *rstd; /* (BT) */
    float *u; /* (BT,C) normalised input */
    float *proj; /* (BT,4N) gate pre-activations */
    float *h; /* (BT,N) scan state */
    float *g; /* (BT,N) gated scan output */
} birdie_layer_acts;

typedef struct birdie_profile_entry {
    const char *op;
    double seconds;
    long calls;
} birdie_profile_entry;

typedef struct birdie_model {
    birdie_model_config cfg;
    const birdie_ops *ops;
    int B, T; /* capacity of the activation buffers */

    birdie_tensor *tensors;
    int n_tensors;
    size_t n_params;
    float *params, *grads, *m, *v; /* backend memory, n_params each */
    size_t wte, ln_f, head; /* offsets */
    birdie_layer_params *layer;

    /* activations (backend memory) */
    birdie_layer_acts *acts;
    float *x_final, *rstd_final, *u_final, *logits, *dlogits, *losses;
    float *scratch_x, *scratch_f, *dresidual, *du, *dproj, *dg, *dh, *dscan_x, *dscan_f;
    /* The rows a forward reads, in one backend buffer (d_batch: inputs | labels | resets at fixed
     * offsets) filled from one pinned host buffer (batch_host, same layout) by one asynchronous copy. */
    void *d_batch, *batch_host;
    size_t batch_labels_at, batch_resets_at; /* byte offsets in both */
    int32_t *d_inputs, *d_labels; /* views into d_batch */
    uint8_t *d_resets;
    int cur_B; /* rows of the last forward */

    struct birdie_hawk *hawk; /* the Hawk family's layers (worker/model_hawk.h); NULL for the others */
    struct birdie_tf *tf; /* the Transformer's layers (worker/model_transformer.h); NULL for the others */

    birdie_adamw_segment *adamw_segs; /* one per tensor (its decay flag), for the one-launch AdamW */

    float *losses_host; /* (B*T) per-position loss of the last forward, host memory */

    /* per-op timing, off unless profile is set (synchronises after every op) */
    int profile;
    birdie_profile_entry prof[24];
    int n_prof;
} birdie_model;

/* Allocates parameters and activations for batches of up to B rows of T positions and initialises
 * the parameters from (seed, BIRDIE_RNG_INIT). Returns 0 or a negative errno with a message. */
int birdie_model_init(birdie_model *m, const birdie_model_config *cfg, const birdie_ops *ops, uint64_t seed, int B,
                      int T, char *err, size_t errlen);
void birdie_model_free(birdie_model *m);

/* Forward over rows (rows->B <= m->B, rows->T == m->T): logits, per-position losses (copied to
 * losses_host) and, scaled by dloss, the logits' gradient kept for birdie_model_backward. Returns
 * the sum of the losses (double, in a fixed order). */
double birdie_model_forward(birdie_model *m, const birdie_rows *rows, float dloss);
/* Backward of the last forward; accumulates (+=) into m->grads. */
void birdie_model_backward(birdie_model *m);
/* The same, calling ready(ctx, offset, count) as soon as the kernels that write the gradients of
 * params [offset, offset + count) are queued (the gradient all-reduce starts there while the pass
 * goes on). The ranges arrive in descending offset order, adjacent, and cover the whole buffer: head
 * and ln_f, then each layer from the last, then wte. A negative return from ready stops the pass and
 * is returned. */
typedef int (*birdie_grads_ready_fn)(void *ctx, size_t offset, size_t count);
int birdie_model_backward_notify(birdie_model *m, birdie_grads_ready_fn ready, void *ctx);
void birdie_model_zero_grad(birdie_model *m);
/* The model's output logits of the last forward for one position (host copy into out[V]). */
void birdie_model_logits(const birdie_model *m, int b, int t, float *out);

double birdie_model_grad_norm(const birdie_model *m);
/* AdamW over every tensor with its decay flag; grad_scale multiplies the gradients first. */
void birdie_model_adamw(birdie_model *m, float lr, float weight_decay, float grad_scale, int step);

/* Number of tokens with a label in rows (host). */
long birdie_rows_label_count(const birdie_rows *rows);

#endif
