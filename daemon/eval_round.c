/* eval_round: see eval_round.h. */
#include "daemon/eval_round.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker/error.h"

int eval_round_init(eval_round *r, int world_size, int n_arms)
{
    memset(r, 0, sizeof(*r));
    if (world_size <= 0 || n_arms <= 0)
        return -EINVAL;
    r->world_size = world_size;
    r->n_arms = n_arms;
    r->last_closed_step = -1;
    r->reported = calloc((size_t)world_size, 1);
    r->loss_sum = calloc((size_t)n_arms, sizeof(double));
    r->tokens = calloc((size_t)n_arms, sizeof(double));
    if (!r->reported || !r->loss_sum || !r->tokens) {
        eval_round_free(r);
        return -ENOMEM;
    }
    return 0;
}

void eval_round_free(eval_round *r)
{
    free(r->reported);
    free(r->loss_sum);
    free(r->tokens);
    r->reported = NULL;
    r->loss_sum = r->tokens = NULL;
}

int eval_round_add(eval_round *r, int rank, int64_t step, const double *loss_sum, const double *tokens, int64_t now_ms,
                   int deadline_ms, char *err, size_t errlen)
{
    if (rank < 0 || rank >= r->world_size)
        return birdie_fail(err, errlen, -EINVAL, "rank %d is outside 0..%d", rank, r->world_size - 1);
    if (step < 0)
        return birdie_fail(err, errlen, -EINVAL, "step %" PRId64 " is negative", step);
    for (int a = 0; a < r->n_arms; a++) {
        if (!isfinite(loss_sum[a]) || loss_sum[a] < 0 || !isfinite(tokens[a]) || tokens[a] < 0)
            return birdie_fail(err, errlen, -EINVAL,
                               "arm %d: loss_sum %g and tokens %g must be finite and non-negative", a, loss_sum[a],
                               tokens[a]);
    }
    if (step <= r->last_closed_step) {
        if (step == r->last_closed_step)
            return EVAL_ALREADY_CLOSED;
        return birdie_fail(err, errlen, -EBUSY, "step %" PRId64 " is older than the last evaluated step %" PRId64, step,
                           r->last_closed_step);
    }
    if (r->open && step != r->step)
        return birdie_fail(err, errlen, -EBUSY,
                           "the evaluation round of step %" PRId64 " is still open; step %" PRId64
                           " cannot start before it completes",
                           r->step, step);
    if (!r->open) {
        r->open = 1;
        r->step = step;
        r->deadline_ms = now_ms + deadline_ms;
        r->n_reported = 0;
        memset(r->reported, 0, (size_t)r->world_size);
        memset(r->loss_sum, 0, (size_t)r->n_arms * sizeof(double));
        memset(r->tokens, 0, (size_t)r->n_arms * sizeof(double));
    }
    if (r->reported[rank])
        return EVAL_DUPLICATE;
    r->reported[rank] = 1;
    r->n_reported++;
    for (int a = 0; a < r->n_arms; a++) {
        r->loss_sum[a] += loss_sum[a];
        r->tokens[a] += tokens[a];
    }
    return EVAL_ADDED;
}

int eval_round_complete(const eval_round *r)
{
    return r->open && r->n_reported == r->world_size;
}

int eval_round_expired(const eval_round *r, int64_t now_ms)
{
    return r->open && r->n_reported < r->world_size && now_ms >= r->deadline_ms;
}

void eval_round_missing(const eval_round *r, char *out, size_t outlen)
{
    size_t used = 0;
    if (outlen)
        out[0] = 0;
    for (int i = 0; i < r->world_size && used < outlen; i++) {
        if (r->open && r->reported[i])
            continue;
        int n = snprintf(out + used, outlen - used, "%s%d", used ? "," : "", i);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

void eval_round_close(eval_round *r)
{
    if (!r->open)
        return;
    r->open = 0;
    r->last_closed_step = r->step;
}
