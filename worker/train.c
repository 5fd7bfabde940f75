/* worker/train.c: the single-process training loop (train.h). */
#include "worker/train.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "worker/batch.h"
#include "worker/checkpoint.h"
#include "worker/clock.h"
#include "worker/control.h"
#include "worker/curriculum.h"
#include "worker/grad_buckets.h"
#include "worker/model.h"
#include "worker/objectives/build.h"
#include "worker/source.h"

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

double birdie_grad_clip_scale(double norm, double clip)
{
    return clip > 0 && norm > clip ? clip / norm : 1.0;
}

/* Effective shapes: the size's defaults with the config's overrides. */
static int model_shape(const birdie_config *cfg, birdie_model_config *mc, char *err, size_t errlen)
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

static birdie_rows rows_view(const birdie_rows *all, int first, int count)
{
    size_t off = (size_t)first * all->T;
    birdie_rows v = *all;
    v.B = count;
    v.inputs += off, v.labels += off, v.segments += off;
    v.prefix += off, v.resets += off, v.arms += off;
    return v;
}

/* Everything one training process holds. */
typedef struct run {
    const birdie_config *cfg;
    birdie_collective *coll;
    FILE *log;
    int T, B, n_arms;
    birdie_model model;
    birdie_curriculum cur;
    birdie_builder builder;
    birdie_source *train_src, *val_src;
    birdie_rows rows; /* this rank's rows of a step */
    birdie_rows val_ntp; /* this rank's slice of the NTP validation rows */
    birdie_rows val_arms; /* all per-arm validation rows; this rank evaluates [arm_first, +arm_count) */
    int arm_first, arm_count;
    double *arm_loss, *arm_tokens; /* (n_arms) scratch of the per-arm evaluation */
    uint64_t *arm_tok_u;
    birdie_pack_stats pack;
    const birdie_control *ctl; /* NULL: no control plane */
    int64_t applied_version, applied_step;
    double *incoming; /* (n_arms) weights of the newest version the control plane delivered */
    int64_t checkpoint_seq; /* operator checkpoint requests already served */
    double last_heartbeat;
    double share_error_logged; /* the packer's last share error that was reported (see train_step) */
} run;

/* Forward over rows in chunks of the model's batch; adds loss and label sums, and per-arm sums
 * when arm_loss is given. */
static int forward_sums(run *r, const birdie_rows *rows, double *sums, double *arm_loss, uint64_t *arm_tok, char *err,
                        size_t errlen)
{
    for (int r0 = 0; r0 < rows->B; r0 += r->model.B) {
        birdie_rows chunk = rows_view(rows, r0, rows->B - r0 < r->model.B ? rows->B - r0 : r->model.B);
        sums[0] += birdie_model_forward(&r->model, &chunk, 0.0f);
        sums[1] += (double)birdie_rows_label_count(&chunk);
        if (arm_loss) {
            int rc = birdie_loss_by_arm(&chunk, r->model.losses_host, r->n_arms, arm_loss, arm_tok, err, errlen);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

/* NTP validation loss (every run's comparable number, §7.6) and, with arms set, the per-arm sums
 * the scheduler reads; all summed over ranks. */
static int evaluate(run *r, double *ntp_loss, int arms, char *err, size_t errlen)
{
    double sums[2] = {0, 0};
    int rc = forward_sums(r, &r->val_ntp, sums, NULL, NULL, err, errlen);
    if (rc == 0)
        rc = r->coll->allreduce_sum_f64(r->coll, sums, 2, err, errlen);
    if (rc < 0)
        return rc;
    *ntp_loss = sums[1] > 0 ? sums[0] / sums[1] : NAN;
    if (!arms)
        return 0;
    double ignored[2] = {0, 0};
    memset(r->arm_loss, 0, (size_t)r->n_arms * sizeof *r->arm_loss);
    memset(r->arm_tok_u, 0, (size_t)r->n_arms * sizeof *r->arm_tok_u);
    birdie_rows mine = rows_view(&r->val_arms, r->arm_first, r->arm_count);
    if ((rc = forward_sums(r, &mine, ignored, r->arm_loss, r->arm_tok_u, err, errlen)) < 0)
        return rc;
    for (int a = 0; a < r->n_arms; a++)
        r->arm_tokens[a] = (double)r->arm_tok_u[a];
    if ((rc = r->coll->allreduce_sum_f64(r->coll, r->arm_loss, (size_t)r->n_arms, err, errlen)) < 0)
        return rc;
    return r->coll->allreduce_sum_f64(r->coll, r->arm_tokens, (size_t)r->n_arms, err, errlen);
}

/* "ntp 2.31 infill 1.87 ..." from per-class loss and token sums. */
static void format_class_losses(const double *loss, const double *tokens, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int c = 0; c < BIRDIE_NUM_OBJECTIVE_CLASSES && used < len; c++)
        if (tokens[c] > 0)
            used += (size_t)snprintf(buf + used, len - used, "%s%s %.3f", used ? " " : "",
                                     birdie_objective_class_short((birdie_objective_class)c), loss[c] / tokens[c]);
}

static void log_arm_eval(run *r, long step, double ntp_loss)
{
    double loss[BIRDIE_NUM_OBJECTIVE_CLASSES] = {0}, tok[BIRDIE_NUM_OBJECTIVE_CLASSES] = {0};
    for (int a = 0; a < r->n_arms; a++) {
        loss[r->cur.arms.arms[a].cls] += r->arm_loss[a];
        tok[r->cur.arms.arms[a].cls] += r->arm_tokens[a];
    }
    char classes[256];
    format_class_losses(loss, tok, classes, sizeof classes);
    log_line(r->log, "step %5ld/%ld | val loss %.4f | by class %s\n", step, r->cfg->steps, ntp_loss, classes);
}

/* One optimizer step: this rank's rows, global label count, forward/backward, gradient sum over ranks,
 * clipping and AdamW. Returns the global mean loss, the gradient norm and per-class loss sums. */
static int train_step(run *r, long step, double *loss, double *norm, double *class_loss, double *class_tok, char *err,
                      size_t errlen)
{
    birdie_model *model = &r->model;
    birdie_collective *coll = r->coll;
    int rc = birdie_build_rows(&r->builder, r->cur.weights, (uint64_t)step, &r->rows, 0, r->B,
                               (uint64_t)coll->rank * (uint64_t)r->B, &r->pack, err, errlen);
    if (rc < 0)
        return rc;
    /* An arm that rarely gets a sample into rows of T (its samples need most of a row) cannot reach
     * its weight whatever the draw weights: say so once per mixture rather than train on quietly. */
    if (r->builder.share_error > 0.05 && r->builder.share_error != r->share_error_logged) {
        r->share_error_logged = r->builder.share_error;
        log_line(r->log,
                 "step %5ld | warning: rows of %d can hold this mixture's shares only within %.0f%%: some "
                 "arm's samples rarely fit (see birdie-bench --packer)\n",
                 step, r->T, 100.0 * r->builder.share_error);
    }
    double labels = (double)birdie_rows_label_count(&r->rows);
    if ((rc = coll->allreduce_sum_f64(coll, &labels, 1, err, errlen)) < 0)
        return rc;
    birdie_model_zero_grad(model);
    /* sums: the loss, then per class loss and tokens */
    double sums[1 + 2 * BIRDIE_NUM_OBJECTIVE_CLASSES] = {0};
    sums[0] = birdie_model_forward(model, &r->rows, labels > 0 ? (float)(1.0 / labels) : 0.0f);
    /* with more than one rank the gradient sums start bucket by bucket during the backward pass */
    birdie_grad_buckets buckets;
    if (coll->world > 1) {
        birdie_grad_buckets_start(&buckets, coll, model->grads, model->n_params,
                                  birdie_grad_bucket_floats(r->cfg->bucket_mb), err, errlen);
        if ((rc = birdie_model_backward_notify(model, birdie_grad_buckets_ready, &buckets)) < 0)
            return rc;
    } else {
        birdie_model_backward(model);
    }
    memset(r->arm_loss, 0, (size_t)r->n_arms * sizeof *r->arm_loss);
    memset(r->arm_tok_u, 0, (size_t)r->n_arms * sizeof *r->arm_tok_u);
    if ((rc = birdie_loss_by_arm(&r->rows, model->losses_host, r->n_arms, r->arm_loss, r->arm_tok_u, err, errlen)) < 0)
        return rc;
    for (int a = 0; a < r->n_arms; a++) {
        int c = r->cur.arms.arms[a].cls;
        sums[1 + c] += r->arm_loss[a];
        sums[1 + BIRDIE_NUM_OBJECTIVE_CLASSES + c] += (double)r->arm_tok_u[a];
    }
    if ((rc = coll->allreduce_sum_f64(coll, sums, sizeof sums / sizeof sums[0], err, errlen)) < 0)
        return rc;
    memcpy(class_loss, sums + 1, BIRDIE_NUM_OBJECTIVE_CLASSES * sizeof *class_loss);
    memcpy(class_tok, sums + 1 + BIRDIE_NUM_OBJECTIVE_CLASSES, BIRDIE_NUM_OBJECTIVE_CLASSES * sizeof *class_tok);
    if (coll->world > 1 && (rc = birdie_grad_buckets_wait(&buckets)) < 0)
        return rc;
    *loss = labels > 0 ? sums[0] / labels : 0.0;
    *norm = birdie_model_grad_norm(model);
    if (!isfinite(*loss) || !isfinite(*norm)) {
        snprintf(err, errlen, "step %ld: non-finite %s (loss %g, grad norm %g); stopping", step,
                 isfinite(*loss) ? "gradient" : "loss", *loss, *norm);
        return -ERANGE;
    }
    const birdie_config *cfg = r->cfg;
    double scale = birdie_grad_clip_scale(*norm, cfg->grad_clip);
    birdie_model_adamw(model, (float)birdie_lr_at(cfg, step), (float)cfg->weight_decay, (float)scale, (int)step);
    return 0;
}

static int run_open(run *r, const birdie_config *cfg, const birdie_ops *ops, char *err, size_t errlen)
{
    birdie_model_config mc;
    int rc, val_first, val_count;
    r->T = cfg->seq_len;
    r->B = cfg->batch / r->coll->world;
    if ((rc = model_shape(cfg, &mc, err, errlen)) < 0 ||
        (rc = open_sources(cfg, &r->train_src, &r->val_src, err, errlen)) < 0)
        return rc;
    if ((rc = birdie_curriculum_init(&r->cur, cfg, r->T, r->ctl && r->ctl->scheduler_remote, err, errlen)) < 0)
        return rc;
    r->n_arms = r->cur.arms.n;
    r->applied_version = (int64_t)r->cur.version;
    if ((rc = birdie_model_init(&r->model, &mc, ops, cfg->seed, r->B, r->T, err, errlen)) < 0)
        return rc;
    if ((rc = birdie_builder_init(&r->builder, &r->cur.arms, r->train_src, cfg->seed, r->T, err, errlen)) < 0)
        return rc;
    rank_slice(cfg->eval_rows, r->coll->rank, r->coll->world, &val_first, &val_count);
    r->arm_loss = calloc((size_t)r->n_arms, sizeof *r->arm_loss);
    r->arm_tokens = calloc((size_t)r->n_arms, sizeof *r->arm_tokens);
    r->arm_tok_u = calloc((size_t)r->n_arms, sizeof *r->arm_tok_u);
    r->incoming = calloc((size_t)r->n_arms, sizeof *r->incoming);
    if (!r->arm_loss || !r->arm_tokens || !r->arm_tok_u || !r->incoming ||
        birdie_rows_alloc(&r->rows, r->B, r->T) < 0 ||
        (val_count > 0 && birdie_rows_alloc(&r->val_ntp, val_count, r->T) < 0)) {
        snprintf(err, errlen, "out of memory for %d rows of %d positions", r->B, r->T);
        return -ENOMEM;
    }
    if (val_count > 0 && (rc = birdie_batch_ntp(&r->val_ntp, r->val_src, cfg->seed, 0, (uint64_t)val_first,
                                                BIRDIE_RNG_VALIDATION)) < 0) {
        snprintf(err, errlen, "validation data: %s", strerror(-rc));
        return rc;
    }
    if ((rc = birdie_build_validation(&r->cur.arms, r->val_src, cfg->seed, cfg->val_rows_per_arm, r->T, &r->val_arms,
                                      NULL, err, errlen)) < 0)
        return rc;
    rank_slice(r->val_arms.B, r->coll->rank, r->coll->world, &r->arm_first, &r->arm_count);
    log_line(r->log, "model %s%s | D=%d N=%d L=%d V=%d | %zu parameters | backend %s | %d rank%s\n", cfg->size,
             mc.bidirectional ? " bidirectional" : " causal", mc.d_model, mc.d_state, mc.n_layers, mc.vocab,
             r->model.n_params, ops->name, r->coll->world, r->coll->world > 1 ? "s" : "");
    char classes[256];
    birdie_curriculum_format_classes(&r->cur, classes, sizeof classes);
    log_line(r->log, "train %ld steps x %d rows x %d positions | lr %.2e | data %s | %d arms | mixture %s: %s\n",
             cfg->steps, cfg->batch, r->T, cfg->lr, cfg->source, r->n_arms, cfg->mixture, classes);
    return 0;
}

static void run_close(run *r)
{
    birdie_rows_free(&r->rows);
    birdie_rows_free(&r->val_ntp);
    birdie_rows_free(&r->val_arms);
    free(r->arm_loss);
    free(r->arm_tokens);
    free(r->arm_tok_u);
    free(r->incoming);
    if (r->builder.chunk)
        birdie_builder_free(&r->builder);
    if (r->model.ops)
        birdie_model_free(&r->model);
    birdie_curriculum_free(&r->cur);
    birdie_source_close(r->train_src);
    birdie_source_close(r->val_src);
}

uint64_t birdie_train_config_hash(const birdie_config *cfg)
{
    birdie_model_config mc;
    char err[128];
    memset(&mc, 0, sizeof mc);
    model_shape(cfg, &mc, err, sizeof err);
    int64_t numbers[] = {mc.vocab,     mc.d_model, mc.d_state,         mc.n_layers,  mc.bidirectional,
                         cfg->seq_len, cfg->batch, (int64_t)cfg->seed, cfg->paradigm};
    uint64_t h = birdie_fnv1a(BIRDIE_FNV_OFFSET, numbers, sizeof numbers);
    h = birdie_fnv1a(h, cfg->arms, strlen(cfg->arms));
    return birdie_fnv1a(h, cfg->mixture, strlen(cfg->mixture));
}

/* Continues from a checkpoint: parameters, moments, mixture and (when local) the scheduler. */
static int restore(run *r, const birdie_checkpoint *ck, char *err, size_t errlen)
{
    if (ck->config_hash != birdie_train_config_hash(r->cfg) || ck->n_params != r->model.n_params ||
        ck->n_arms != r->n_arms) {
        snprintf(err, errlen,
                 "checkpoint of step %lld was written with a different configuration (model shape, rows, "
                 "batch, seed, arms or mixture); it cannot continue this run",
                 (long long)ck->step);
        return -EINVAL;
    }
    size_t bytes = ck->n_params * sizeof(float);
    r->model.ops->upload(r->model.params, ck->params, bytes);
    r->model.ops->upload(r->model.m, ck->m, bytes);
    r->model.ops->upload(r->model.v, ck->v, bytes);
    memcpy(r->cur.weights, ck->weights, (size_t)r->n_arms * sizeof *r->cur.weights);
    r->cur.version = ck->mixture_version;
    r->applied_version = (int64_t)ck->mixture_version;
    if (r->cur.sched) {
        birdie_sched *loaded;
        int rc =
            ck->sched_state ? birdie_sched_load(ck->sched_state, ck->sched_len, NULL, &loaded, err, errlen) : -EINVAL;
        if (rc < 0) {
            if (!ck->sched_state)
                snprintf(err, errlen, "checkpoint of step %lld holds no scheduler state", (long long)ck->step);
            return rc;
        }
        birdie_sched_free(r->cur.sched);
        r->cur.sched = loaded;
    }
    log_line(r->log, "resumed from the checkpoint of step %lld (mixture v%llu)\n", (long long)ck->step,
             (unsigned long long)ck->mixture_version);
    return 0;
}

/* The scheduler's state for a checkpoint: the local one, or the coordinator's (rank 0 hosts it). */
static int save_scheduler_state(run *r, birdie_checkpoint *ck, char *err, size_t errlen)
{
    if (r->cur.sched)
        return birdie_sched_save(r->cur.sched, &ck->sched_state, &ck->sched_len, err, errlen);
    if (r->ctl && r->ctl->save_scheduler)
        return r->ctl->save_scheduler(r->ctl->ctx, &ck->sched_state, &ck->sched_len, err, errlen);
    return 0;
}

/* Rank 0 writes: the parameters are the same on every rank. */
static int save_checkpoint(run *r, long step, char *err, size_t errlen)
{
    if (r->coll->rank != 0)
        return 0;
    size_t n = r->model.n_params, bytes = n * sizeof(float);
    birdie_checkpoint ck = {.step = step,
                            .n_params = n,
                            .n_arms = r->n_arms,
                            .mixture_version = r->cur.version,
                            .weights = r->cur.weights,
                            .config_hash = birdie_train_config_hash(r->cfg)};
    ck.params = malloc(bytes);
    ck.m = malloc(bytes);
    ck.v = malloc(bytes);
    int rc = -ENOMEM;
    if (ck.params && ck.m && ck.v && (rc = save_scheduler_state(r, &ck, err, errlen)) == 0) {
        r->model.ops->download(ck.params, r->model.params, bytes);
        r->model.ops->download(ck.m, r->model.m, bytes);
        r->model.ops->download(ck.v, r->model.v, bytes);
        birdie_checkpoint_info info;
        rc = birdie_checkpoint_write(r->cfg->ckpt_dir, &ck, r->cfg->ckpt_keep, &info, err, errlen);
        if (rc == 0)
            log_line(r->log, "step %5ld | checkpoint written to %s\n", step, info.path);
        if (rc == 0 && r->ctl && r->ctl->report_checkpoint)
            rc = r->ctl->report_checkpoint(r->ctl->ctx, step, info.path, info.bytes, info.checksum, err, errlen);
    } else if (rc == -ENOMEM) {
        snprintf(err, errlen, "checkpoint: out of memory for %zu parameters", n);
    }
    free(ck.params);
    free(ck.m);
    free(ck.v);
    free(ck.sched_state);
    return rc;
}

enum { CONTROL_STOP = 1 };

/* The per-step control all-reduce (DESIGN.md data flow 5): every rank contributes the newest mixture
 * version it holds and its pause and stop flags; MIN of the versions and MAX of the flags decide for
 * all ranks at once, so they switch mixture, pause or stop at the same step. A new mixture is taken
 * only once every rank holds it (min == max). With wanted >= 0 (after an evaluation whose decision
 * the coordinator makes) the loop waits until every rank holds at least that version, so the
 * decision applies at a fixed step; with hold (a decision is pending and its step has not come,
 * [scheduler] apply_lag) no new mixture is taken at all, however early it arrived, for the same
 * reason. Returns CONTROL_STOP when the run must stop. */
/* Requests from signal handlers (birdied: SIGUSR1 checkpoint, SIGTERM/SIGINT stop); any rank may get
 * them, the control all-reduce makes every rank act on them at the same step. */
static volatile sig_atomic_t checkpoint_requested, stop_requested;

void birdie_train_request_checkpoint(void)
{
    checkpoint_requested = 1;
}
void birdie_train_request_stop(void)
{
    stop_requested = 1;
}

static int control_sync(run *r, long step, int64_t wanted, int hold, int *checkpoint, char *reason, size_t reason_len,
                        char *err, size_t errlen)
{
    const birdie_control *ctl = r->ctl;
    double give_up = birdie_monotonic_seconds() + (ctl ? ctl->decision_timeout_ms / 1000.0 : 0);
    int stopping = 0; /* stopping once the decision due now is applied */
    for (;;) {
        birdie_control_state st = {.version = r->applied_version};
        if (ctl)
            ctl->poll(ctl->ctx, &st, r->incoming);
        int scheduled_stop = r->cfg->stop_after > 0 && step > r->cfg->stop_after;
        int local_stop = st.stop || stop_requested || scheduled_stop;
        /* an operator's request counts once: every rank adopts the highest sequence number seen */
        int64_t mins[1] = {st.version},
                maxs[5] = {st.version, st.pause, local_stop, checkpoint_requested, st.checkpoint_seq};
        int rc = r->coll->allreduce_minmax_i64(r->coll, mins, 1, maxs, 5, err, errlen);
        if (rc < 0)
            return rc;
        if (maxs[3] || maxs[4] > r->checkpoint_seq) {
            *checkpoint = 1;
            checkpoint_requested = 0;
            r->checkpoint_seq = maxs[4];
        }
        if (maxs[2] && !stopping) {
            if (scheduled_stop)
                snprintf(reason, reason_len, "[run] stop_after = %ld", r->cfg->stop_after);
            else
                snprintf(reason, reason_len, "%s",
                         st.stop          ? st.stop_reason
                         : stop_requested ? "signal"
                                          : "another rank was told to stop");
            /* A decision due at this step is taken first, so the final checkpoint holds it (as the run
             * would have from this step on) and a resume continues exactly. One still on its way
             * (apply_lag) moves the stop to its step: training goes on for at most apply_lag steps. */
            if (!ctl || wanted < 0)
                return CONTROL_STOP;
            stopping = !hold;
        }
        if (!ctl)
            return 0;
        if (hold && (!maxs[1] || maxs[2])) /* a decision is on its way: no mixture changes until its step */
            return 0;
        if (maxs[1] && !maxs[2]) { /* paused: keep the heartbeat going and ask again */
            ctl->wait(ctl->ctx, -1, 1, 1000);
            give_up = birdie_monotonic_seconds() + ctl->decision_timeout_ms / 1000.0;
            continue;
        }
        int waiting = (wanted >= 0 && mins[0] < wanted) || mins[0] != maxs[0];
        if (waiting) {
            if (birdie_monotonic_seconds() > give_up) {
                snprintf(err, errlen,
                         "step %ld: mixture version %lld did not reach every rank within %d ms "
                         "(ranks hold %lld..%lld)",
                         step, (long long)(wanted > maxs[0] ? wanted : maxs[0]), ctl->decision_timeout_ms,
                         (long long)mins[0], (long long)maxs[0]);
                return -ETIMEDOUT;
            }
            ctl->wait(ctl->ctx, wanted > maxs[0] ? wanted : maxs[0], 0, 200);
            continue;
        }
        if (mins[0] > r->applied_version) {
            memcpy(r->cur.weights, r->incoming, (size_t)r->n_arms * sizeof *r->incoming);
            r->cur.version = (uint64_t)mins[0];
            r->applied_version = mins[0];
            r->applied_step = step;
            char classes[256];
            birdie_curriculum_format_classes(&r->cur, classes, sizeof classes);
            log_line(r->log, "step %5ld | mixture v%lld applied on every rank: %s\n", step, (long long)mins[0],
                     classes);
        }
        return stopping ? CONTROL_STOP : 0;
    }
}

/* At most every 50 ms, so a fast small model does not turn into an RPC benchmark. */
static int heartbeat(run *r, long step, double tokens_per_s, double loss, double norm, int force, char *err,
                     size_t errlen)
{
    double now = birdie_monotonic_seconds();
    if (!r->ctl || (!force && now - r->last_heartbeat < 0.05))
        return 0;
    r->last_heartbeat = now;
    birdie_step_report rep = {.step = step,
                              .tokens_per_s = tokens_per_s,
                              .loss = loss,
                              .lr = birdie_lr_at(r->cfg, step),
                              .grad_norm = norm,
                              .applied_version = r->applied_version,
                              .applied_step = r->applied_step};
    return r->ctl->heartbeat(r->ctl->ctx, &rep, err, errlen);
}

int birdie_train(const birdie_config *cfg, const birdie_ops *ops, birdie_collective *coll, const birdie_control *ctl,
                 const birdie_checkpoint *resume, FILE *log, birdie_train_report *rep, char *err, size_t errlen)
{
    run r = {.cfg = cfg, .coll = coll, .log = log, .ctl = ctl};
    birdie_collective *own = NULL;
    if (!coll && !(r.coll = own = birdie_collective_single())) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    int rc;
    if (cfg->batch % r.coll->world) {
        snprintf(err, errlen, "[train] batch = %d is not divisible by the %d ranks", cfg->batch, r.coll->world);
        rc = -EINVAL;
        goto out;
    }
    if ((rc = run_open(&r, cfg, ops, err, errlen)) < 0 || (resume && (rc = restore(&r, resume, err, errlen)) < 0))
        goto out;
    long first_step = resume ? (long)resume->step + 1 : 1;
    if ((rc = evaluate(&r, &rep->first_val_loss, 1, err, errlen)) < 0)
        goto out;
    rep->last_val_loss = rep->first_val_loss;
    log_arm_eval(&r, first_step - 1, rep->first_val_loss);
    double timed_seconds = 0.0, timed_tokens = 0.0;
    int64_t wanted = -1; /* the version the coordinator's pending decision will carry */
    long wanted_at = 0; /* and the step it applies from */
    char stop_reason[512] = "";
    rep->steps_done = first_step - 1;
    int checkpoint_now = 0;
    for (long step = first_step; step <= cfg->steps; step++) {
        /* a checkpoint asked for now describes the state after the previous step; while a decision
         * is pending it waits for the step the decision applies from (so the checkpoint holds it) */
        int holding = wanted >= 0 && step < wanted_at;
        if ((rc = control_sync(&r, step, wanted, holding, &checkpoint_now, stop_reason, sizeof stop_reason, err,
                               errlen)) != 0)
            break;
        if (!holding) {
            if (checkpoint_now && step > first_step && (rc = save_checkpoint(&r, step - 1, err, errlen)) < 0)
                goto out;
            checkpoint_now = 0;
            wanted = -1;
        }
        double t0 = birdie_monotonic_seconds(), loss, norm, class_loss[BIRDIE_NUM_OBJECTIVE_CLASSES],
               class_tok[BIRDIE_NUM_OBJECTIVE_CLASSES];
        if ((rc = train_step(&r, step, &loss, &norm, class_loss, class_tok, err, errlen)) < 0)
            goto out;
        ops->synchronize();
        double dt = birdie_monotonic_seconds() - t0, tokens = (double)cfg->batch * r.T;
        if (step > first_step) { /* the first step pays for page faults and caches */
            timed_seconds += dt;
            timed_tokens += tokens;
        }
        if (rep->train_losses)
            rep->train_losses[step - 1] = loss;
        rep->steps_done = step;
        if (step % cfg->log_every == 0 || step == cfg->steps) {
            char classes[256];
            format_class_losses(class_loss, class_tok, classes, sizeof classes);
            log_line(log, "step %5ld/%ld | loss %.4f | %s | lr %.2e | norm %.4f | %.1f ms | %.0f tok/s\n", step,
                     cfg->steps, loss, classes, birdie_lr_at(cfg, step), norm, dt * 1e3, tokens / dt);
        }
        if ((rc = heartbeat(&r, step, tokens / dt, loss, norm, step == cfg->steps, err, errlen)) < 0)
            goto out;
        int sched_step = r.cur.birdie && birdie_curriculum_scheduler_step(&r.cur, step);
        int eval_step = (cfg->eval_every && step % cfg->eval_every == 0) || step == cfg->steps;
        if (sched_step || eval_step) {
            if ((rc = evaluate(&r, &rep->last_val_loss, 1, err, errlen)) < 0)
                goto out;
            log_arm_eval(&r, step, rep->last_val_loss);
        }
        /* The scheduler sees the evaluations of its schedule; with a coordinator, fixed mixtures report
         * their evaluations too (recorded, no decision). */
        int report = r.ctl && (r.cur.birdie ? sched_step : eval_step);
        if (report) {
            if ((rc = r.ctl->report_eval(r.ctl->ctx, step, r.arm_loss, r.arm_tokens, err, errlen)) < 0)
                goto out;
            if (r.cur.birdie && r.ctl->scheduler_remote && step < cfg->steps) {
                /* one decision pending at a time: it applies at the latest from the next evaluation */
                int64_t next_eval = birdie_curriculum_next_scheduler_step(&r.cur, step);
                wanted = r.applied_version + 1;
                wanted_at = step + 1 + cfg->apply_lag < next_eval ? step + 1 + cfg->apply_lag : (long)next_eval;
            }
        }
        if (sched_step && r.cur.sched &&
            (rc = birdie_curriculum_observe(&r.cur, step, r.arm_loss, r.arm_tokens, log, err, errlen)) < 0)
            goto out;
        /* While a coordinator's decision is pending, the checkpoint waits for the control all-reduce
         * of the step the decision applies from (it is then written with that decision applied and in
         * the scheduler's state), so a resume continues exactly as the run would have. */
        if (cfg->ckpt_every && (step % cfg->ckpt_every == 0 || step == cfg->steps)) {
            if (wanted >= 0 && step < cfg->steps)
                checkpoint_now = 1;
            else if ((rc = save_checkpoint(&r, step, err, errlen)) < 0)
                goto out;
        }
    }
    if (rc < 0)
        goto out;
    rep->stopped = rc == CONTROL_STOP;
    if (rep->stopped) {
        log_line(log, "step %5ld | stopped: %s\n", rep->steps_done, stop_reason);
        /* a run that checkpoints leaves one at the step it stopped, so --resume auto loses nothing */
        if ((cfg->ckpt_every || checkpoint_now) && rep->steps_done >= first_step &&
            (rc = save_checkpoint(&r, rep->steps_done, err, errlen)) < 0)
            goto out;
    }
    rep->tokens_per_s = timed_seconds > 0 ? timed_tokens / timed_seconds : 0.0;
    rep->fill_rate = birdie_pack_fill_rate(&r.pack);
    rep->mixture_version = r.cur.version;
    if (rep->final_params && rep->n_params == r.model.n_params)
        ops->download(rep->final_params, r.model.params, r.model.n_params * sizeof(float));
    log_line(log, "packing fill rate %.3f over %llu rows (%llu samples)\n", rep->fill_rate,
             (unsigned long long)r.pack.rows, (unsigned long long)r.pack.samples);
    rc = 0;
out:
    if (r.ctl) {
        char msg[256];
        int frc = r.ctl->finish(r.ctl->ctx, rep->steps_done, rc < 0, rc < 0 ? err : "", msg, sizeof msg);
        if (frc < 0 && rc == 0) {
            snprintf(err, errlen, "finish: %s", msg);
            rc = frc;
        }
    }
    run_close(&r);
    if (own)
        own->destroy(own);
    return rc;
}
