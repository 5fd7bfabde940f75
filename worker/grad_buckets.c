/* worker/grad_buckets.c: gathers the gradient ranges of the backward pass into all-reduce buckets
 * (grad_buckets.h). */
#include <errno.h>
#include <stdio.h>

#include "worker/grad_buckets.h"

void birdie_grad_buckets_start(birdie_grad_buckets *b, birdie_collective *coll, float *grads, size_t n_params,
                               size_t bucket_floats, char *err, size_t errlen)
{
    *b = (birdie_grad_buckets){.coll = coll,
                               .grads = grads,
                               .bucket_floats = bucket_floats,
                               .lo = n_params,
                               .hi = n_params,
                               .err = err,
                               .errlen = errlen};
}

static int begin_pending(birdie_grad_buckets *b)
{
    int rc = b->coll->grad_begin(b->coll, b->grads + b->lo, b->hi - b->lo, b->err, b->errlen);
    if (rc < 0)
        return rc;
    b->hi = b->lo;
    b->begun++;
    return 0;
}

int birdie_grad_buckets_ready(void *ctx, size_t offset, size_t count)
{
    birdie_grad_buckets *b = ctx;
    if (offset + count != b->lo) {
        snprintf(b->err, b->errlen, "gradient range [%zu, %zu) is not adjacent below the ready range [%zu, %zu)",
                 offset, offset + count, b->lo, b->hi);
        return -EINVAL;
    }
    b->lo = offset;
    int full = b->bucket_floats > 0 && b->hi - b->lo >= b->bucket_floats;
    return (full || b->lo == 0) && b->hi > b->lo ? begin_pending(b) : 0;
}

int birdie_grad_buckets_wait(birdie_grad_buckets *b)
{
    if (b->lo != 0 || b->hi != 0) {
        snprintf(b->err, b->errlen, "the backward pass left gradients [%zu, %zu) out of the all-reduce", b->lo, b->hi);
        return -EINVAL;
    }
    return b->coll->grad_wait(b->coll, b->err, b->errlen);
}

size_t birdie_grad_bucket_floats(double mib)
{
    return (size_t)(mib * 1048576.0 / sizeof(float));
}
