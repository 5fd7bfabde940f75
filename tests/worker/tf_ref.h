/* tests/worker/tf_ref.h: an independent double-precision reference of the Transformer language model, written
 * from docs/algorithm.md §1.6 (attention allowed(q,k) = same segment and (k <= q, or with the prefix-LM mask
 * both in the prefix), RoPE with base 250,000 on pairs (j, j + d/2) at the position's place in its row) and the
 * layout of worker/model_transformer.h. The mask is taken from the rows' segment ids and prefix flags, not from
 * the reset bits the kernels read. Forward and loss only; gradients by finite differences of it. */
#ifndef BIRDIE_TESTS_TF_REF_H
#define BIRDIE_TESTS_TF_REF_H

#include <stddef.h>

#include "worker/model.h"
#include "worker/rows.h"

typedef struct tf_ref_layer {
    size_t ln, w_qkv, w_o, ln2, w_mlp, w_mo;
} tf_ref_layer;

typedef struct tf_ref {
    int V, C, M, H, L, prefix_lm;
    size_t wte, ln_f, head;
    tf_ref_layer *layer;
} tf_ref;

int tf_ref_init(tf_ref *r, const birdie_model *m, char *err, size_t errlen);
void tf_ref_free(tf_ref *r);
/* Forward over rows with parameters p (birdie's layout, in double): per-position losses when losses is not
 * NULL; returns their sum. */
double tf_ref_forward(const tf_ref *r, const double *p, const birdie_rows *rows, double *losses);

#endif
