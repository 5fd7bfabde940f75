/* daemon/scheduler/rm_fit.c: the reward model's fit loop (see rm_fit.h). One AdamW call covers the
 * whole parameter buffer, so weight decay applies to every parameter, as torch.optim.AdamW over
 * model.parameters() does in the authors' code. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/scheduler/cyclic_lr.h"
#include "daemon/scheduler/rm_fit.h"
#include "daemon/scheduler/sched_rng.h"
#include "kernels/ops.h"

#define CLIP_EPS 1e-6 /* torch.nn.utils.clip_grad_norm_: max_norm / (norm + 1e-6) */

static void add_noise(float *dst, const float *src, size_t n, double noise, birdie_rng *rng)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = (float)(src[i] * (1.0 + noise * (2.0 * birdie_rng_uniform(rng) - 1.0)));
}

int rm_fit(reward_model *rm, const float *X, const float *Y, int T, int iters, const birdie_rm_optim *o, double noise,
           uint64_t seed, uint64_t *iter_counter, rm_fit_stats *stats, char *err, size_t errlen)
{
    size_t nx = (size_t)T * 2 * rm->N, ny = (size_t)T * rm->N;
    float *Xn = malloc(nx * sizeof(float)), *Yn = malloc(ny * sizeof(float));
    int rc = 0;
    if (!Xn || !Yn) {
        snprintf(err, errlen, "reward model fit: out of memory for %d history rows", T);
        rc = -ENOMEM;
        goto out;
    }
    stats->mse_first = stats->mse_last = NAN;
    for (int it = 0; it < iters; it++) {
        uint64_t global = *iter_counter;
        birdie_rng rng = sched_rng(seed, global, SCHED_RNG_NOISE, 0);
        add_noise(Xn, X, nx, noise, &rng);
        add_noise(Yn, Y, ny, noise, &rng);
        memset(rm->grads, 0, rm->n_params * sizeof(float));
        double mse = rm_sequence(rm, Xn, Yn, T, NULL, 1);
        if (mse < 0.0) {
            snprintf(err, errlen, "reward model fit: out of memory for %d history rows", T);
            rc = -ENOMEM;
            goto out;
        }
        double norm = sqrt(birdie_ops_cpu.sum_squares(rm->grads, rm->n_params));
        if (!isfinite(mse) || !isfinite(norm)) {
            snprintf(err, errlen, "reward model fit diverged at iteration %llu: mse %g, gradient norm %g",
                     (unsigned long long)global, mse, norm);
            rc = -ERANGE;
            goto out;
        }
        if (it == 0)
            stats->mse_first = mse;
        stats->mse_last = mse;
        double lr, beta1;
        sched_cyclic_lr(o, global, &lr, &beta1);
        double clip_coef = o->clip / (norm + CLIP_EPS);
        rm->adam_step++;
        birdie_adamw_params p = {
            .lr = (float)lr,
            .beta1 = (float)beta1,
            .beta2 = (float)o->beta2,
            .eps = (float)o->eps,
            .weight_decay = (float)o->weight_decay,
            .grad_scale = clip_coef < 1.0 ? (float)clip_coef : 1.0f,
            .step = (int)rm->adam_step,
        };
        birdie_ops_cpu.adamw_update(rm->params, rm->grads, rm->adam_m, rm->adam_v, rm->n_params, &p);
        *iter_counter = global + 1;
    }
out:
    free(Xn);
    free(Yn);
    return rc;
}
