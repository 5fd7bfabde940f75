/* worker/finetune.c: the fine-tuning loop and its learning-speed curve (finetune.h).
 *
 * Generation for the curve runs on a second model of the same shape whose rows fit the longest
 * prompt of the phonebook set: the training model's rows (seq_len) need not hold a K=4 prompt, and a
 * separate model keeps the training activations out of it. Its parameters are copied from the
 * training model before each point. */
#include "worker/finetune.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "worker/clock.h"
#include "worker/error.h"
#include "worker/eval/model_eval.h"
#include "worker/generate.h"
#include "worker/train.h" /* birdie_grad_clip_scale */

/* Rows the curve's generator runs at once; results do not depend on it (generate.h). */
enum { CURVE_GEN_ROWS = 16 };

int birdie_finetune_curve_entries(const birdie_finetune_options *o)
{
    return o->data.entries_max > BIRDIE_FINETUNE_CURVE_K ? o->data.entries_max : BIRDIE_FINETUNE_CURVE_K;
}

int birdie_finetune_check(const birdie_finetune_options *o, char *err, size_t errlen)
{
    if (o->steps < 1)
        return birdie_fail(err, errlen, -EINVAL, "--steps %ld: need at least 1", o->steps);
    if (o->batch < 1 || o->seq_len < 8)
        return birdie_fail(err, errlen, -EINVAL, "--batch %d, --seq-len %d: need batch >= 1 and seq-len >= 8", o->batch,
                           o->seq_len);
    if (!(o->lr > 0) || !isfinite(o->lr))
        return birdie_fail(err, errlen, -EINVAL, "--lr %g: need a positive number", o->lr);
    if (!(o->weight_decay >= 0) || !(o->grad_clip >= 0))
        return birdie_fail(err, errlen, -EINVAL, "[train] weight_decay %g and grad_clip %g must be >= 0",
                           o->weight_decay, o->grad_clip);
    if (o->curve_every < 1 || o->curve_items < 1)
        return birdie_fail(err, errlen, -EINVAL, "--curve-every %ld, --curve-items %d: need at least 1 each",
                           o->curve_every, o->curve_items);
    return birdie_finetune_data_check(&o->data, o->seq_len, err, errlen);
}

typedef struct ft {
    const birdie_finetune_options *o;
    birdie_model *m;
    birdie_rows rows, heldout;
    birdie_phonebook_set set;
    birdie_model gm; /* the curve's generation model */
    birdie_generator g;
    float *host; /* (n_params) staging of the parameter copy */
} ft;

static void ft_close(ft *f)
{
    birdie_rows_free(&f->rows);
    birdie_rows_free(&f->heldout);
    birdie_phonebook_set_free(&f->set);
    if (f->g.m)
        birdie_generator_free(&f->g);
    if (f->gm.ops)
        birdie_model_free(&f->gm);
    free(f->host);
}

static int ft_open(ft *f, birdie_model *m, const birdie_finetune_options *o, char *err, size_t errlen)
{
    memset(f, 0, sizeof *f);
    f->o = o;
    f->m = m;
    int rc = birdie_finetune_check(o, err, errlen);
    if (rc < 0)
        return rc;
    if (m->B < o->batch || m->T != o->seq_len)
        return birdie_fail(err, errlen, -EINVAL, "fine-tune: the model holds %d rows of %d; the options need %d of %d",
                           m->B, m->T, o->batch, o->seq_len);
    size_t bytes = m->n_params * sizeof(float);
    if (!(f->host = calloc(m->n_params, sizeof *f->host)) || birdie_rows_alloc(&f->rows, o->batch, o->seq_len) < 0)
        return birdie_fail(err, errlen, -ENOMEM, "fine-tune: out of memory for %d rows of %d positions", o->batch,
                           o->seq_len);
    if ((rc = birdie_finetune_heldout_rows(&o->data, o->curve_items, o->seq_len, &f->heldout, err, errlen)) < 0 ||
        (rc = birdie_phonebook_set_make(&f->set, o->data.seed, BIRDIE_FINETUNE_CURVE_K, o->curve_items,
                                        birdie_finetune_curve_entries(o), err, errlen)) < 0)
        return rc;
    int gen_rows = o->curve_items < CURVE_GEN_ROWS ? o->curve_items : CURVE_GEN_ROWS;
    int gen_T = birdie_phonebook_set_longest_prompt(&f->set) + 1;
    if ((rc = birdie_model_init(&f->gm, &m->cfg, m->ops, 0, gen_rows, gen_T, err, errlen)) < 0 ||
        (rc = birdie_generator_init(&f->g, &f->gm, err, errlen)) < 0)
        return rc;
    /* fresh AdamW moments (finetune.h says why); f->host is still all zeros */
    m->ops->upload(m->m, f->host, bytes);
    m->ops->upload(m->v, f->host, bytes);
    return 0;
}

/* Mean loss per labelled (answer) position of the held-out rows, in chunks of the model's rows. */
static double answer_loss(ft *f)
{
    const birdie_rows *all = &f->heldout;
    double loss = 0, labels = 0;
    for (int r0 = 0; r0 < all->B; r0 += f->m->B) {
        birdie_rows v = *all;
        size_t off = (size_t)r0 * (size_t)all->T;
        v.B = all->B - r0 < f->m->B ? all->B - r0 : f->m->B;
        v.inputs += off, v.labels += off, v.segments += off;
        v.prefix += off, v.resets += off, v.arms += off;
        loss += birdie_model_forward(f->m, &v, 0.0f);
        labels += (double)birdie_rows_label_count(&v);
    }
    return labels > 0 ? loss / labels : NAN;
}

static int measure(ft *f, birdie_finetune_point *p, char *err, size_t errlen)
{
    p->answer_loss = answer_loss(f);
    f->m->ops->download(f->host, f->m->params, f->m->n_params * sizeof(float));
    f->gm.ops->upload(f->gm.params, f->host, f->gm.n_params * sizeof(float));
    birdie_phonebook_tally tally = {0};
    int rc = birdie_eval_phonebook(&f->g, &f->set, &tally, NULL, NULL, err, errlen);
    if (rc < 0)
        return rc;
    p->k = f->set.k;
    p->items = f->set.n_items;
    p->digit_accuracy = birdie_phonebook_tally_digit_accuracy(&tally);
    p->exact_rate = birdie_phonebook_tally_exact_rate(&tally);
    return 0;
}

/* One optimizer step at `step` (1-based): the step's rows, the mean answer-token loss, its gradient,
 * clipping and a constant-rate AdamW update. */
static int train_step(ft *f, long step, double *loss, char *err, size_t errlen)
{
    const birdie_finetune_options *o = f->o;
    birdie_model *m = f->m;
    int rc = birdie_finetune_pack_step(&o->data, (uint64_t)step, &f->rows, NULL, err, errlen);
    if (rc < 0)
        return rc;
    double labels = (double)birdie_rows_label_count(&f->rows);
    birdie_model_zero_grad(m);
    double sum = birdie_model_forward(m, &f->rows, labels > 0 ? (float)(1.0 / labels) : 0.0f);
    birdie_model_backward(m);
    *loss = labels > 0 ? sum / labels : 0.0;
    double norm = birdie_model_grad_norm(m);
    if (!isfinite(*loss) || !isfinite(norm))
        return birdie_fail(err, errlen, birdie_error_tag(-ERANGE, BIRDIE_EXIT_DIVERGED),
                           "fine-tune step %ld: non-finite %s (loss %g, grad norm %g); stopping", step,
                           isfinite(*loss) ? "gradient" : "loss", *loss, norm);
    birdie_model_adamw(m, (float)o->lr, (float)o->weight_decay, (float)birdie_grad_clip_scale(norm, o->grad_clip),
                       (int)step);
    return 0;
}

int birdie_finetune_run(birdie_model *m, const birdie_finetune_options *o, birdie_finetune_point_fn point, void *ctx,
                        char *err, size_t errlen)
{
    ft f;
    int rc = ft_open(&f, m, o, err, errlen);
    double train_seconds = 0, loss_sum = 0;
    long since = 0;
    for (long step = 0; rc == 0 && step <= o->steps; step++) {
        if (step > 0) {
            double t0 = birdie_monotonic_seconds(), loss;
            if ((rc = train_step(&f, step, &loss, err, errlen)) < 0)
                break;
            train_seconds += birdie_monotonic_seconds() - t0;
            loss_sum += loss;
            since++;
        }
        if (step % o->curve_every != 0 && step != o->steps)
            continue;
        birdie_finetune_point p = {.step = step, .train_loss = since ? loss_sum / (double)since : NAN};
        if ((rc = measure(&f, &p, err, errlen)) < 0)
            break;
        p.seconds = train_seconds;
        loss_sum = 0, since = 0;
        if (point)
            rc = point(ctx, &p, err, errlen);
    }
    ft_close(&f);
    return rc;
}
