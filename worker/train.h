/* worker/train.h: the training loop of one process: data, model, AdamW with warm-up + cosine, grad
 * clipping, progress lines and validation loss. It does not parse flags (daemon/birdied.c) and does not
 * talk to a coordinator itself: mixtures come through the interfaces of worker/control.h and
 * worker/mixture_source.h, implemented above it. */
#ifndef BIRDIE_TRAIN_H
#define BIRDIE_TRAIN_H

#include <stddef.h>
#include <stdio.h>

#include "kernels/ops.h"
#include "worker/checkpoint.h"
#include "worker/collective.h"
#include "worker/config.h"
#include "worker/control.h"
#include "worker/mixture_source.h"
#include "worker/run_checkpoint.h" /* birdie_train_config_hash */

typedef struct birdie_train_report {
    long steps_done;
    double first_val_loss; /* before the first step */
    double last_val_loss;
    double tokens_per_s; /* mean over the steps after the first */
    double fill_rate; /* share of non-padding positions in the packed training rows */
    uint64_t mixture_version; /* the version of the mixture in force at the end */
    int stopped; /* the control plane stopped the run before cfg->steps */
    double *train_losses; /* optional, caller-owned, cfg->steps entries: the loss of every step */
    float *final_params; /* optional, caller-owned, n_params entries: the parameters at the end */
    size_t n_params;
} birdie_train_report;

/* Learning rate at step (1-based) of `steps`: linear warm-up then cosine to min_lr_frac * lr. */
double birdie_lr_at(const birdie_config *cfg, long step);

/* The factor the summed (global) gradient is multiplied by before AdamW: clip / norm when the norm
 * is above clip > 0, so the clipped gradient's norm is exactly clip; else 1 (clip 0 = off). */
double birdie_grad_clip_scale(double norm, double clip);

/* The deadline of a rank's collectives once steps are timed: factor times the longest step seen
 * (with its evaluation and checkpoint), at least floor_s and at most ceiling_s ([run] collective_floor_s
 * and collective_deadline_s; the ceiling wins when it is the lower); ceiling_s while no step is timed
 * (longest_step_s <= 0). */
double birdie_collective_deadline(double longest_step_s, double factor, double floor_s, double ceiling_s);

/* Trains as cfg says on the given backend, as rank coll->rank of coll->world data-parallel ranks
 * (coll NULL = a world of one), printing progress lines to log (may be NULL; pass it on rank 0
 * only). Rank r builds rows [r*b, (r+1)*b) of each global batch of cfg->batch = world*b rows and
 * the gradients are summed over ranks as the gradient of the global mean loss, so parameters stay
 * identical on every rank. resume (may be NULL) is a checkpoint to continue from: the run goes on
 * at resume->step + 1 and, on the CPU backend, reproduces the uninterrupted run bit for bit (with a
 * coordinator too: its scheduler's state is in the checkpoint). ctl (may be NULL) is the control
 * plane: mixtures, pause and stop from the coordinator, heartbeats and evaluation reports to it.
 * sched (may be NULL) is the scheduler in this process: a run with mixture = birdie needs it, or a
 * coordinator that schedules (ctl->scheduler_remote).
 * Returns 0 (also when stopped: see rep->stopped) or a negative errno with err naming the cause
 * (bad data, non-finite loss, a collective that timed out, ...). */
int birdie_train(const birdie_config *cfg, const birdie_ops *ops, birdie_collective *coll, const birdie_control *ctl,
                 const birdie_mixture_source *sched, const birdie_checkpoint *resume, FILE *log,
                 birdie_train_report *rep, char *err, size_t errlen);

/* Async-signal-safe: ask every rank to checkpoint (after the current step) or to stop at the next
 * step boundary (with a checkpoint when the run writes them). The control all-reduce spreads the
 * request, so it may reach any one rank. */
void birdie_train_request_checkpoint(void);
void birdie_train_request_stop(void);

#endif
