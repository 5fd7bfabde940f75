/* worker/train.c: the single-process training loop (train.h). */
#include "worker/train.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "worker/batch.h"
#include "worker/model.h"
#include "worker/source.h"

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double birdie_lr_at(const birdie_config *cfg, long step)
{
    long warmup = (long)ceil(cfg->warmup_frac * (double)cfg->steps);
    double peak = cfg->lr, floor_lr = cfg->min_lr_frac * cfg->lr;
    if (step <= warmup)
        return peak * (double)step / (double)warmup;
    if (cfg->steps <= warmup)
        return peak;
    double progress = (double)(step - warmup) / (double)(cfg->steps - warmup);
    return floor_lr + 0.5 * (peak - floor_lr) * (1.0 + cos(M_PI * progress));
}

/* Effective shapes: the size's defaults with the config's overrides. */
static int model_shape(const birdie_config *cfg, birdie_model_config *mc, int *T, char *err, size_t errlen)
{
    if (birdie_model_config_by_name(cfg->size, mc) < 0) {
        snprintf(err, errlen, "[model] size = '%s': unknown", cfg->size);
        return -EINVAL;
    }
    if (cfg->d_model)
        mc->d_model = cfg->d_model;
    if (cfg->d_state)
        mc->d_state = cfg->d_state;
    if (cfg->n_layers)
        mc->n_layers = cfg->n_layers;
    mc->bidirectional = cfg->bidirectional;
    *T = cfg->seq_len ? cfg->seq_len : (!strcmp(cfg->size, "XS") ? 64 : !strcmp(cfg->size, "S") ? 512 : 2048);
    return 0;
}

static int open_sources(const birdie_config *cfg, birdie_source **train, birdie_source **val, char *err, size_t errlen)
{
    int rc;
    if (strcmp(cfg->source, "shards") == 0) {
        rc = birdie_source_open_shards(train, cfg->train_files, err, errlen);
        if (rc == 0 && (rc = birdie_source_open_shards(val, cfg->val_files, err, errlen)) < 0)
            birdie_source_close(*train);
        return rc;
    }
    rc = birdie_source_open_synthetic(train, cfg->seed, BIRDIE_SPLIT_TRAIN, err, errlen);
    if (rc == 0 && (rc = birdie_source_open_synthetic(val, cfg->seed, BIRDIE_SPLIT_VAL, err, errlen)) < 0)
        birdie_source_close(*train);
    return rc;
}

/* Mean loss per label over the fixed validation rows (this rank's slice), evaluated B rows at a
 * time and summed over ranks. */
static int validation_loss(birdie_model *m, const birdie_rows *val, birdie_collective *coll, double *out,
                           char *err, size_t errlen)
{
    double sums[2] = {0.0, 0.0}; /* loss, labels */
    for (int r0 = 0; r0 < val->B; r0 += m->B) {
        size_t off = (size_t)r0 * val->T;
        birdie_rows chunk = *val;
        chunk.B = val->B - r0 < m->B ? val->B - r0 : m->B;
        chunk.inputs += off, chunk.labels += off, chunk.segments += off;
        chunk.prefix += off, chunk.resets += off, chunk.arms += off;
        sums[0] += birdie_model_forward(m, &chunk, 0.0f);
        sums[1] += (double)birdie_rows_label_count(&chunk);
    }
    int rc = coll->allreduce_sum_f64(coll, sums, 2, err, errlen);
    *out = sums[1] > 0 ? sums[0] / sums[1] : NAN;
    return rc;
}

static void log_line(FILE *log, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void log_line(FILE *log, const char *fmt, ...)
{
    if (!log)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(log, fmt, ap);
    va_end(ap);
    fflush(log);
}

/* The slice [first, first+count) of n rows that rank r of w owns: contiguous, sizes differing by at most one. */
static void rank_slice(int n, int r, int w, int *first, int *count)
{
    *first = (int)((long)n * r / w);
    *count = (int)((long)n * (r + 1) / w) - *first;
}

/* One optimizer step: this rank's rows, global label count, forward/backward, gradient sum over ranks,
 * clipping and AdamW. Returns the global mean loss in *loss and the gradient norm in *norm. */
static int train_step(const birdie_config *cfg, birdie_model *model, birdie_rows *rows, birdie_collective *coll,
                      long step, double *loss, double *norm, char *err, size_t errlen)
{
    int rc;
    double counts[2] = {(double)birdie_rows_label_count(rows), 0.0};
    if ((rc = coll->allreduce_sum_f64(coll, counts, 1, err, errlen)) < 0)
        return rc;
    birdie_model_zero_grad(model);
    double sums[2] = {birdie_model_forward(model, rows, counts[0] > 0 ? (float)(1.0 / counts[0]) : 0.0f), 0.0};
    birdie_model_backward(model);
    if ((rc = coll->allreduce_sum_f64(coll, sums, 1, err, errlen)) < 0)
        return rc;
    if (coll->world > 1) {
        model->ops->synchronize();
        if ((rc = coll->allreduce_sum_f32(coll, model->grads, model->n_params, err, errlen)) < 0)
            return rc;
    }
    *loss = counts[0] > 0 ? sums[0] / counts[0] : 0.0;
    *norm = birdie_model_grad_norm(model);
    if (!isfinite(*loss) || !isfinite(*norm)) {
        snprintf(err, errlen, "step %ld: non-finite %s (loss %g, grad norm %g); stopping", step,
                 isfinite(*loss) ? "gradient" : "loss", *loss, *norm);
        return -ERANGE;
    }
    double scale = cfg->grad_clip > 0 && *norm > cfg->grad_clip ? cfg->grad_clip / *norm : 1.0;
    birdie_model_adamw(model, (float)birdie_lr_at(cfg, step), (float)cfg->weight_decay, (float)scale, (int)step);
    return 0;
}

int birdie_train(const birdie_config *cfg, const birdie_ops *ops, birdie_collective *coll, FILE *log,
                 birdie_train_report *rep, char *err, size_t errlen)
{
    birdie_model_config mc;
    int T, rc;
    birdie_collective *own = NULL;
    if (!coll && !(coll = own = birdie_collective_single())) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    if (cfg->batch % coll->world) {
        snprintf(err, errlen, "[train] batch = %d is not divisible by the %d ranks", cfg->batch, coll->world);
        rc = -EINVAL;
        goto out_coll;
    }
    if ((rc = model_shape(cfg, &mc, &T, err, errlen)) < 0)
        goto out_coll;
    birdie_source *train_src = NULL, *val_src = NULL;
    if ((rc = open_sources(cfg, &train_src, &val_src, err, errlen)) < 0)
        goto out_coll;

    int B = cfg->batch / coll->world, val_first, val_count;
    rank_slice(cfg->eval_rows, coll->rank, coll->world, &val_first, &val_count);
    birdie_model model;
    birdie_rows rows = {0}, val = {0};
    if ((rc = birdie_model_init(&model, &mc, ops, cfg->seed, B, T, err, errlen)) < 0)
        goto out_sources;
    if ((rc = birdie_rows_alloc(&rows, B, T)) < 0 ||
        (val_count > 0 && (rc = birdie_rows_alloc(&val, val_count, T)) < 0)) {
        snprintf(err, errlen, "out of memory for %d rows of %d positions", B, T);
        goto out_model;
    }
    if (val_count > 0 && (rc = birdie_batch_ntp(&val, val_src, cfg->seed, 0, (uint64_t)val_first,
                                                BIRDIE_RNG_VALIDATION)) < 0) {
        snprintf(err, errlen, "validation data: %s", strerror(-rc));
        goto out_model;
    }
    log_line(log, "model %s%s | D=%d N=%d L=%d V=%d | %zu parameters | backend %s | %d rank%s\n", cfg->size,
             mc.bidirectional ? " bidirectional" : " causal", mc.d_model, mc.d_state, mc.n_layers, mc.vocab,
             model.n_params, ops->name, coll->world, coll->world > 1 ? "s" : "");
    log_line(log, "train %ld steps x %d rows x %d positions | lr %.2e | data %s\n", cfg->steps, cfg->batch, T,
             cfg->lr, cfg->source);

    if ((rc = validation_loss(&model, &val, coll, &rep->first_val_loss, err, errlen)) < 0)
        goto out_model;
    rep->last_val_loss = rep->first_val_loss;
    log_line(log, "step %5d/%ld | val loss %.4f\n", 0, cfg->steps, rep->first_val_loss);
    double timed_seconds = 0.0, timed_tokens = 0.0;
    uint64_t row0 = (uint64_t)coll->rank * (uint64_t)B;
    for (long step = 1; step <= cfg->steps; step++) {
        double t0 = seconds_now(), loss, norm;
        if ((rc = birdie_batch_ntp(&rows, train_src, cfg->seed, step, row0, BIRDIE_RNG_DATA)) < 0) {
            snprintf(err, errlen, "training data at step %ld: %s", step, strerror(-rc));
            goto out_model;
        }
        if ((rc = train_step(cfg, &model, &rows, coll, step, &loss, &norm, err, errlen)) < 0)
            goto out_model;
        ops->synchronize();
        double dt = seconds_now() - t0;
        double tokens = (double)cfg->batch * T;
        if (step > 1) { /* the first step pays for page faults and caches */
            timed_seconds += dt;
            timed_tokens += tokens;
        }
        if (rep->train_losses)
            rep->train_losses[step - 1] = loss;
        rep->steps_done = step;
        if (step % cfg->log_every == 0 || step == cfg->steps)
            log_line(log, "step %5ld/%ld | loss %.4f | lr %.2e | norm %.4f | %.1f ms | %.0f tok/s\n", step,
                     cfg->steps, loss, birdie_lr_at(cfg, step), norm, dt * 1e3, tokens / dt);
        if ((cfg->eval_every && step % cfg->eval_every == 0) || step == cfg->steps) {
            if ((rc = validation_loss(&model, &val, coll, &rep->last_val_loss, err, errlen)) < 0)
                goto out_model;
            log_line(log, "step %5ld/%ld | val loss %.4f\n", step, cfg->steps, rep->last_val_loss);
        }
    }
    rep->tokens_per_s = timed_seconds > 0 ? timed_tokens / timed_seconds : 0.0;
    if (rep->final_params && rep->n_params == model.n_params)
        ops->download(rep->final_params, model.params, model.n_params * sizeof(float));
    rc = 0;
out_model:
    birdie_rows_free(&rows);
    birdie_rows_free(&val);
    birdie_model_free(&model);
out_sources:
    birdie_source_close(train_src);
    birdie_source_close(val_src);
out_coll:
    if (own)
        own->destroy(own);
    return rc;
}
