/* tests/worker/hawk_ref.h: an independent double-precision reference of the Hawk language model, written from
 * docs/algorithm.md (§1.5 the block: conv of width 4, RG-LRU with a = sigmoid(lambda)^(8 r) and the
 * sqrt(1 - a^2) input scale, gated MLP; §1.3 the bidirectional split and reset bits) and the layout contract of
 * worker/model_hawk.h, for the Hawk tests to hold birdie's model against.
 *
 * It reads only the tensor table of a birdie_model (names, offsets, counts); every number is computed here in
 * double with plain loops and libm. A forward pass and a loss only: gradients are checked by finite differences
 * of it. Not fast, not meant for anything but tests. */
#ifndef BIRDIE_TESTS_HAWK_REF_H
#define BIRDIE_TESTS_HAWK_REF_H

#include <stddef.h>

#include "worker/model.h"
#include "worker/rows.h"

typedef struct hawk_ref_layer {
    size_t ln, w_in, conv_w, conv_b, w_rg, b_rg, lambda, w_out, ln2, w_mlp, w_mo;
} hawk_ref_layer;

typedef struct hawk_ref {
    int V, C, N, M, L, bidirectional;
    size_t n_params, wte, ln_f, head;
    hawk_ref_layer *layer;
} hawk_ref;

/* Finds every tensor by name and checks its count against the shapes (M = 8/3 C rounded up to a multiple of
 * 64). 0, or -1 with a message. */
int hawk_ref_init(hawk_ref *r, const birdie_model *m, char *err, size_t errlen);
void hawk_ref_free(hawk_ref *r);

/* Forward over rows with parameters p (n_params doubles, birdie's layout): per-position losses (B*T) when
 * losses is not NULL, every layer's scan state h (L, B*T, N) when h_trace is not NULL; returns the loss sum. */
double hawk_ref_forward(const hawk_ref *r, const double *p, const birdie_rows *rows, double *losses, double *h_trace);

#endif
