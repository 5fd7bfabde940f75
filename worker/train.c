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

/* Mean loss per label over the fixed validation rows, evaluated B rows at a time. */
static double validation_loss(birdie_model *m, const birdie_rows *val)
{
    double sum = 0.0;
    long labels = 0;
    for (int r0 = 0; r0 < val->B; r0 += m->B) {
        size_t off = (size_t)r0 * val->T;
        birdie_rows chunk = *val;
        chunk.B = val->B - r0 < m->B ? val->B - r0 : m->B;
        chunk.inputs += off, chunk.labels += off, chunk.segments += off;
        chunk.prefix += off, chunk.resets += off, chunk.arms += off;
        sum += birdie_model_forward(m, &chunk, 0.0f);
        labels += birdie_rows_label_count(&chunk);
    }
    return labels ? sum / (double)labels : NAN;
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

int birdie_train(const birdie_config *cfg, const birdie_ops *ops, FILE *log, birdie_train_report *rep,
                 char *err, size_t errlen)
{
    birdie_model_config mc;
    int T, rc;
    if ((rc = model_shape(cfg, &mc, &T, err, errlen)) < 0)
        return rc;
    birdie_source *train_src = NULL, *val_src = NULL;
    if ((rc = open_sources(cfg, &train_src, &val_src, err, errlen)) < 0)
        return rc;

    birdie_model model;
    birdie_rows rows = {0}, val = {0};
    if ((rc = birdie_model_init(&model, &mc, ops, cfg->seed, cfg->batch, T, err, errlen)) < 0)
        goto out_sources;
    if ((rc = birdie_rows_alloc(&rows, cfg->batch, T)) < 0 || (rc = birdie_rows_alloc(&val, cfg->eval_rows, T)) < 0) {
        snprintf(err, errlen, "out of memory for %d rows of %d positions", cfg->batch, T);
        goto out_model;
    }
    if ((rc = birdie_batch_ntp(&val, val_src, cfg->seed, 0, 0, BIRDIE_RNG_VALIDATION)) < 0) {
        snprintf(err, errlen, "validation data: %s", strerror(-rc));
        goto out_model;
    }
    log_line(log, "model %s%s | D=%d N=%d L=%d V=%d | %zu parameters | backend %s\n", cfg->size,
             mc.bidirectional ? " bidirectional" : " causal", mc.d_model, mc.d_state, mc.n_layers, mc.vocab,
             model.n_params, ops->name);
    log_line(log, "train %ld steps x %d rows x %d positions | lr %.2e | data %s\n", cfg->steps, cfg->batch, T,
             cfg->lr, cfg->source);

    rep->first_val_loss = validation_loss(&model, &val);
    rep->last_val_loss = rep->first_val_loss;
    log_line(log, "step %5d/%ld | val loss %.4f\n", 0, cfg->steps, rep->first_val_loss);
    double timed_seconds = 0.0, timed_tokens = 0.0;
    for (long step = 1; step <= cfg->steps; step++) {
        double t0 = seconds_now();
        if ((rc = birdie_batch_ntp(&rows, train_src, cfg->seed, step, 0, BIRDIE_RNG_DATA)) < 0) {
            snprintf(err, errlen, "training data at step %ld: %s", step, strerror(-rc));
            goto out_model;
        }
        long labels = birdie_rows_label_count(&rows);
        birdie_model_zero_grad(&model);
        double loss = birdie_model_forward(&model, &rows, labels ? 1.0f / (float)labels : 0.0f);
        loss = labels ? loss / (double)labels : 0.0;
        birdie_model_backward(&model);
        double norm = birdie_model_grad_norm(&model);
        if (!isfinite(loss) || !isfinite(norm)) {
            snprintf(err, errlen, "step %ld: non-finite %s (loss %g, grad norm %g); stopping", step,
                     isfinite(loss) ? "gradient" : "loss", loss, norm);
            rc = -ERANGE;
            goto out_model;
        }
        double scale = cfg->grad_clip > 0 && norm > cfg->grad_clip ? cfg->grad_clip / norm : 1.0;
        double lr = birdie_lr_at(cfg, step);
        birdie_model_adamw(&model, (float)lr, (float)cfg->weight_decay, (float)scale, (int)step);
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
                     cfg->steps, loss, lr, norm, dt * 1e3, tokens / dt);
        if ((cfg->eval_every && step % cfg->eval_every == 0) || step == cfg->steps) {
            rep->last_val_loss = validation_loss(&model, &val);
            log_line(log, "step %5ld/%ld | val loss %.4f\n", step, cfg->steps, rep->last_val_loss);
        }
    }
    rep->tokens_per_s = timed_seconds > 0 ? timed_tokens / timed_seconds : 0.0;
    rc = 0;
out_model:
    birdie_rows_free(&rows);
    birdie_rows_free(&val);
    birdie_model_free(&model);
out_sources:
    birdie_source_close(train_src);
    birdie_source_close(val_src);
    return rc;
}
