/* tests/worker/model_ref.h: an independent double-precision reference of the Gated SSM language model, written
 * from docs/algorithm.md (§1.0 conventions, §1.2 block, §1.3 bidirectional split and reset bits) and
 * the contract of worker/model.h, for the tests to hold birdie's model against.
 *
 * It reads only the tensor table of a birdie_model (names, offsets, counts) to know where each weight
 * lives in the parameter buffer; every number is computed here, in double, with plain loops and libm.
 * It is a forward pass and a loss only: gradients are checked by finite differences of it. It is not
 * fast and not meant for anything but tests.
 */
#ifndef BIRDIE_TESTS_MODEL_REF_H
#define BIRDIE_TESTS_MODEL_REF_H

#include <stddef.h>

#include "worker/model.h"
#include "worker/rows.h"

typedef struct model_ref_layer {
    size_t ln, w_izo, w_f, b_in, w_out, b_out; /* offsets of the layer's tensors */
} model_ref_layer;

typedef struct model_ref {
    int V, C, N, L, bidirectional;
    size_t n_params;
    size_t wte, ln_f, head;
    model_ref_layer *layer;
} model_ref;

/* Finds every tensor by its name in m's table and checks its element count against the shapes of the
 * specification. Returns 0, or -1 with a message in err. */
int model_ref_init(model_ref *r, const birdie_model *m, char *err, size_t errlen);
void model_ref_free(model_ref *r);

/* Channels [0, n_fwd) of layer l's scan run left to right, [n_fwd, N) right to left (§1.3: even layers
 * of a bidirectional model split the state in two equal halves). */
int model_ref_n_fwd(const model_ref *r, int l);

/* Forward over rows with the parameters p (n_params doubles, birdie's layout). Writes the per-position
 * losses (B*T, 0 where unlabelled) when losses is not NULL and every layer's scan state h (L, B*T, N)
 * when h_trace is not NULL. Returns the sum of the losses. */
double model_ref_forward(const model_ref *r, const double *p, const birdie_rows *rows, double *losses, double *h_trace);

#endif
