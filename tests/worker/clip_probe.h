/* tests/worker/clip_probe.h: reads back, from the parameters before and after ONE AdamW step, the
 * norm of the gradient that step applied (after clipping). AdamW is nearly scale-invariant, so a
 * clipped gradient barely moves the parameters differently from an unclipped one; but in its first
 * step (bias-corrected m = g, v = g^2) every parameter moves by lr * |g| / (|g| + eps) exactly, so when
 * the gradient's entries are comparable to eps the move gives |g| back: |g| = eps * u / (1 - u) with
 * u = |move| / lr. The tests using it pick lr = 1 (constant: no warm-up, min_lr_frac = 1), no weight
 * decay, and a clip near eps * sqrt(n_params) so u stays away from 1 where this loses precision.
 * Shared by tests/worker/test_train.c (one process) and tests/worker/parallel/test_eval_ranks.c (two ranks). */
#ifndef BIRDIE_TEST_CLIP_PROBE_H
#define BIRDIE_TEST_CLIP_PROBE_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker/config.h"
#include "worker/model.h"

/* birdie_model_adamw's eps */
#define CLIP_PROBE_EPS 1e-8

/* Turns cfg into a one-step probe run with gradient clip `clip`. */
static void clip_probe_config(birdie_config *cfg, double clip)
{
    cfg->steps = 1;
    cfg->lr = 1.0;
    cfg->warmup_frac = 0;
    cfg->min_lr_frac = 1.0;
    cfg->weight_decay = 0;
    cfg->grad_clip = clip;
}

/* The parameters a run of cfg starts from (malloc'd, *n of them); NULL on failure. */
static float *clip_probe_initial_params(const birdie_config *cfg, size_t *n)
{
    birdie_model_config mc;
    birdie_model m;
    char err[256];
    if (birdie_model_config_by_name(cfg->size, &mc) < 0)
        return NULL;
    mc.bidirectional = cfg->bidirectional;
    if (birdie_model_init(&m, &mc, &birdie_ops_cpu, cfg->seed, 1, cfg->seq_len, err, sizeof err) < 0) {
        fprintf(stderr, "model: %s\n", err);
        return NULL;
    }
    float *p = malloc(m.n_params * sizeof *p);
    if (p)
        memcpy(p, m.params, m.n_params * sizeof *p);
    *n = m.n_params;
    birdie_model_free(&m);
    return p;
}

/* The norm of the gradient the step applied; *max_u gets the largest |move| / lr (precision: keep it
 * below ~0.99). */
static double clip_probe_applied_norm(const float *p0, const float *p1, size_t n, double lr, double *max_u)
{
    double sq = 0;
    *max_u = 0;
    for (size_t i = 0; i < n; i++) {
        double u = fabs((double)p1[i] - (double)p0[i]) / lr;
        *max_u = u > *max_u ? u : *max_u;
        double g = u < 1 ? CLIP_PROBE_EPS * u / (1 - u) : INFINITY;
        sq += g * g;
    }
    return sqrt(sq);
}

#endif
