/* worker/grad_buckets.h: the data-parallel gradient all-reduce in buckets that overlap the backward
 * pass (PyTorch DDP's idea, on the model's fixed layout). The model reports gradient ranges as they
 * become final (birdie_model_backward_notify); adjacent ranges gather into a bucket until it holds
 * bucket_floats, and the bucket's sum starts on the collective at once (grad_begin) while the pass
 * computes the layers below. The boundaries depend only on the layout and the bucket size, so every
 * rank begins the same buckets in the same order. This file does not sum anything itself. */
#ifndef BIRDIE_GRAD_BUCKETS_H
#define BIRDIE_GRAD_BUCKETS_H

#include <stddef.h>

#include "worker/collective.h"

typedef struct birdie_grad_buckets {
    birdie_collective *coll;
    float *grads; /* the model's gradient buffer (backend memory) */
    size_t bucket_floats; /* 0: one bucket, begun when the pass ends */
    size_t lo, hi; /* [lo, hi): ready, not begun yet */
    int begun; /* buckets begun this step */
    char *err;
    size_t errlen;
} birdie_grad_buckets;

/* Sets b up for one backward pass over a buffer of n_params floats; errors go to err. */
void birdie_grad_buckets_start(birdie_grad_buckets *b, birdie_collective *coll, float *grads, size_t n_params,
                               size_t bucket_floats, char *err, size_t errlen);
/* The birdie_grads_ready_fn of the pass (ctx is the birdie_grad_buckets): -EINVAL when a range is not
 * adjacent below the previous one, else what grad_begin returns. The range that reaches offset 0
 * begins whatever is left. */
int birdie_grad_buckets_ready(void *ctx, size_t offset, size_t count);
/* Waits until every bucket of the pass is summed (grad_wait); -EINVAL if the pass did not cover the buffer. */
int birdie_grad_buckets_wait(birdie_grad_buckets *b);

/* Floats per bucket for a size in MiB (the train.bucket_mb key); 0 MiB gives 0 (one bucket). */
size_t birdie_grad_bucket_floats(double mib);

#endif
