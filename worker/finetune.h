/* worker/finetune.h: the fine-tuning loop of `birdied finetune` (docs/finetune.md): a pre-trained
 * model trained further on phonebook items (finetune_data.h) with the same budget for every model,
 * through the training core's own pieces (birdie_model_forward/backward, birdie_grad_clip_scale,
 * birdie_model_adamw), and the learning-speed curve measured along the way.
 *
 * The optimiser: AdamW with the pre-training's betas, [train] weight_decay and grad_clip, a constant
 * learning rate (no warm-up, no decay, as the paper's fine-tuning) and fresh moments: the checkpoint's
 * moments describe the pre-training mixture's gradients, and restarting them from zero (bias
 * correction from step 1) makes every model start its fine-tune from the same optimiser state,
 * whatever its pre-training's length. The loss is the mean over the answer tokens of a step.
 *
 * The curve: a point at step 0 (before any update), every curve_every steps and at the last step,
 * holding the mean training loss of the steps since the previous point (NaN at step 0), the answer
 * loss (mean loss per answer token, teacher-forced) on the held-out fine-tune items, and greedy K=4
 * digit accuracy and exact rate on the phonebook set (seed, K = 4, curve_items,
 * birdie_finetune_curve_entries) through birdie_eval_phonebook. Everything but `seconds` is a pure
 * function of the model and the options: the same run gives the same curve and parameters bit for
 * bit (CPU backend). Not here: loading or writing checkpoints, printing (finetune_main.h). */
#ifndef BIRDIE_FINETUNE_H
#define BIRDIE_FINETUNE_H

#include <stddef.h>
#include <stdint.h>

#include "worker/finetune_data.h"
#include "worker/model.h"

enum { BIRDIE_FINETUNE_CURVE_K = 4 };

typedef struct birdie_finetune_options {
    birdie_finetune_data data; /* seed, book sizes and K of the training items */
    long steps; /* optimizer steps, >= 1 */
    int batch, seq_len; /* rows per step and positions per row: the budget is steps x batch x seq_len */
    double lr, weight_decay, grad_clip; /* constant learning rate; [train] weight_decay, grad_clip */
    long curve_every; /* >= 1 */
    int curve_items; /* items of the K=4 set and of the held-out answer-loss set */
} birdie_finetune_options;

typedef struct birdie_finetune_point {
    long step;
    double train_loss; /* mean step loss since the previous point; NaN at step 0 */
    double answer_loss; /* held-out, per answer token */
    int k, items; /* of the phonebook set */
    double digit_accuracy, exact_rate;
    double seconds; /* training time so far (rows, forward, backward, update), curve evaluations excluded */
} birdie_finetune_point;

/* Called with each point as it is measured; a negative return stops the run and is returned. */
typedef int (*birdie_finetune_point_fn)(void *ctx, const birdie_finetune_point *p, char *err, size_t errlen);

/* Checks the options (flags named in the message). 0 or -EINVAL. */
int birdie_finetune_check(const birdie_finetune_options *o, char *err, size_t errlen);

/* Book size of the curve's phonebook set: max(entries_max, K = 4). */
int birdie_finetune_curve_entries(const birdie_finetune_options *o);

/* Fine-tunes m in place (m->B >= o->batch, m->T == o->seq_len; its AdamW moments are reset) and
 * calls point for every curve point. Errors: data or memory (untagged), a non-finite loss or
 * gradient (tagged BIRDIE_EXIT_DIVERGED), or what point returned. */
int birdie_finetune_run(birdie_model *m, const birdie_finetune_options *o, birdie_finetune_point_fn point, void *ctx,
                        char *err, size_t errlen);

#endif
