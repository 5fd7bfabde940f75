/* worker/objectives/objective.c: the sample buffers and the dispatch from an arm to its class's
 * objective, with the checks and the paradigm placement every class shares. The objectives
 * themselves live in one file per class. */
#include "worker/objectives/objective.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker/objectives/objective_impl.h"
#include "worker/vocab.h"
#include "worker/error.h"

int birdie_sample_init(birdie_sample *s, int cap)
{
    memset(s, 0, sizeof *s);
    if (cap <= 0)
        return -EINVAL;
    size_t bytes = (size_t)cap * sizeof(int32_t);
    s->prefix = malloc(bytes);
    s->targets = malloc(bytes);
    s->work = malloc(bytes);
    s->work2 = malloc(bytes);
    if (!s->prefix || !s->targets || !s->work || !s->work2) {
        birdie_sample_free(s);
        return -ENOMEM;
    }
    s->cap = cap;
    return 0;
}

void birdie_sample_free(birdie_sample *s)
{
    free(s->prefix);
    free(s->targets);
    free(s->work);
    free(s->work2);
    memset(s, 0, sizeof *s);
}

typedef int (*objective_fn)(const birdie_arm *, const int32_t *, int, int, birdie_rng *, birdie_paradigm,
                            birdie_sample *);

static const objective_fn objectives[BIRDIE_NUM_OBJECTIVE_CLASSES] = {
    [BIRDIE_OBJ_NTP] = birdie_ntp_apply,
    [BIRDIE_OBJ_PREFIX_LM] = birdie_prefix_lm_apply,
    [BIRDIE_OBJ_COPYING] = birdie_copying_apply,
    [BIRDIE_OBJ_DESHUFFLING] = birdie_deshuffling_apply,
    [BIRDIE_OBJ_INFILLING] = birdie_infilling_apply,
    [BIRDIE_OBJ_AUTOENCODING] = birdie_autoencoding_apply,
    [BIRDIE_OBJ_SELECTIVE_COPYING] = birdie_selective_copying_apply,
};

int birdie_objective_apply(const birdie_arm *arm, const int32_t *chunk, int n, int budget, birdie_rng *rng,
                           birdie_sample *s, char *err, size_t errlen)
{
    if (!arm || !chunk || !rng || !s || (unsigned)arm->cls >= BIRDIE_NUM_OBJECTIVE_CLASSES) {
        return birdie_fail(err, errlen, -EINVAL, "objective: missing arm, chunk, rng or sample, or unknown class");
    }
    if (n < arm->min_len) {
        return birdie_fail(err, errlen, -EINVAL, "arm '%s': chunk of %d tokens is below its minimum length %d",
                           arm->name, n, arm->min_len);
    }
    if (budget > s->cap || budget < 0) {
        return birdie_fail(err, errlen, -EINVAL, "arm '%s': budget %d outside the sample buffers' [0, %d]", arm->name,
                           budget, s->cap);
    }
    if (n > arm->max_len)
        n = arm->max_len;
    if (budget < birdie_arm_min_size(arm)) {
        return birdie_fail(err, errlen, -ENOSPC, "arm '%s': needs at least %d positions, %d left", arm->name,
                           birdie_arm_min_size(arm), budget);
    }
    birdie_paradigm par = {0, 0};
    if (arm->paradigm && arm->cls != BIRDIE_OBJ_NTP) {
        par.id = BIRDIE_PARADIGM0 + (int32_t)arm->cls;
        par.first = (int)(birdie_rng_u64(rng) >> 63);
    }
    s->nprefix = s->ntargets = s->consumed = 0;
    int rc = objectives[arm->cls](arm, chunk, n, budget, rng, par, s);
    if (rc == -ENOSPC)
        snprintf(err, errlen, "arm '%s': no sample of at least %d tokens fits in %d positions", arm->name, arm->min_len,
                 budget);
    else if (rc == -EAGAIN)
        snprintf(err, errlen, "arm '%s': no valid sample from this chunk of %d tokens within the redraw limit",
                 arm->name, n);
    else if (rc)
        snprintf(err, errlen, "arm '%s': objective failed (%d)", arm->name, rc);
    return rc;
}
