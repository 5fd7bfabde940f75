/* worker/model_op.h: how the model files call an op of the backend table: directly, or, with m->profile set,
 * synchronised and timed under the op's name (birdie_model_profile_add in model.c); and how they lay out their
 * parameters. Internal to worker/model*.c. */
#ifndef BIRDIE_MODEL_OP_H
#define BIRDIE_MODEL_OP_H

#include "worker/clock.h"
#include "worker/model.h"

void birdie_model_profile_add(birdie_model *m, const char *op, double t0);

/* Appends a tensor of count parameters to the model's layout, named "l<layer>.<what>" (layer >= 0) or
 * "<what>", with AdamW weight decay when decay is set; returns its offset. Every family's layout uses it. */
size_t birdie_model_add_tensor(birdie_model *m, int layer, const char *what, size_t count, int decay);

#define OP(m, name, ...)                                  \
    do {                                                  \
        double op_t0_ = 0;                                \
        if ((m)->profile) {                               \
            (m)->ops->synchronize();                      \
            op_t0_ = birdie_monotonic_seconds();          \
        }                                                 \
        (m)->ops->name(__VA_ARGS__);                      \
        if ((m)->profile)                                 \
            birdie_model_profile_add((m), #name, op_t0_); \
    } while (0)

#endif
