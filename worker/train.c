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
#include "worker/error.h"
#include "worker/fault.h"
#include "worker/flight.h"
#include "worker/grad_buckets.h"
#include "worker/model.h"
#include "worker/objectives/build.h"
#include "worker/run_checkpoint.h"
#include "worker/source.h"
#include "worker/step_control.h"

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

double birdie_collective_deadline(double longest_step_s, double factor, double floor_s, double ceiling_s)
{
    if (longest_step_s <= 0)
        return ceiling_s;
    double d = factor * longest_step_s;
    d = d < floor_s ? floor_s : d;
    return d > ceiling_s ? ceiling_s : d; /* a configured deadline below the floor wins */
}

/* Both sources belong to the run from here on: a failure leaves what opened for run_close to close. */
static int open_sources(const birdie_config *cfg, birdie_source **train, birdie_source **val, char *err, size_t errlen)
{
    int rc;
    if (strcmp(cfg->source, "shards") == 0) {
        rc = birdie_source_open_shards(train, cfg->train_files, err, errlen);
        if (rc == 0)
            rc = birdie_source_open_shards(val, cfg->val_files, err, errlen);
        return birdie_error_tag(rc, BIRDIE_EXIT_DATA);
    }
    rc = birdie_source_open_synthetic(train, cfg->seed, BIRDIE_SPLIT_TRAIN, err, errlen);
    if (rc == 0)
        rc = birdie_source_open_synthetic(val, cfg->seed, BIRDIE_SPLIT_VAL, err, errlen);
    return birdie_error_tag(rc, BIRDIE_EXIT_DATA);
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
    const birdie_mixture_source *sched; /* the scheduler in this process; NULL: a fixed mixture or the coordinator's */
    birdie_step_control sc;
    int coordinator_failed; /* a rank saw the coordinator fail the run: the stop ends in exit 7 */
    double *incoming; /* (n_arms) weights of the newest version the control plane delivered */
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

/* NTP validation loss (every run's comparable number, docs/algorithm.md §4.3) and, with arms set, the per-arm sums
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
        return birdie_error_tag(rc, BIRDIE_EXIT_DATA);
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
    if (birdie_fault_fire(BIRDIE_FAULT_HANG_COLLECTIVE, step))
        birdie_fault_hang();
    if ((rc = coll->allreduce_sum_f64(coll, &labels, 1, err, errlen)) < 0)
        return rc;
    birdie_model_zero_grad(model);
    /* sums: the loss, then per class loss and tokens */
    double sums[1 + 2 * BIRDIE_NUM_OBJECTIVE_CLASSES] = {0};
    sums[0] = birdie_model_forward(model, &r->rows, labels > 0 ? (float)(1.0 / labels) : 0.0f);
    if (birdie_fault_fire(BIRDIE_FAULT_NAN_LOSS, step))
        sums[0] = NAN;
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
        return birdie_error_tag(-ERANGE, BIRDIE_EXIT_DIVERGED);
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
    if ((rc = birdie_run_model_shape(cfg, &mc, err, errlen)) < 0)
        return birdie_error_tag(rc, BIRDIE_EXIT_USAGE);
    if ((rc = open_sources(cfg, &r->train_src, &r->val_src, err, errlen)) < 0)
        return rc;
    if ((rc = birdie_curriculum_init(&r->cur, cfg, r->T, err, errlen)) < 0)
        return birdie_error_tag(rc, BIRDIE_EXIT_USAGE);
    if (r->cur.birdie && !r->sched && !(r->ctl && r->ctl->scheduler_remote)) {
        return birdie_fail(err, errlen, birdie_error_tag(-EINVAL, BIRDIE_EXIT_USAGE),
                           "[objectives] mixture = birdie needs a scheduler: one in this process or the coordinator's");
    }
    r->n_arms = r->cur.arms.n;
    birdie_step_control_init(&r->sc, (int64_t)r->cur.version);
    if ((rc = birdie_model_init(&r->model, &mc, ops, cfg->seed, r->B, r->T, err, errlen)) < 0)
        return rc;
    if ((rc = birdie_builder_init(&r->builder, &r->cur.arms, r->train_src, cfg->seed, r->T, err, errlen)) < 0)
        return birdie_error_tag(rc, BIRDIE_EXIT_DATA);
    rank_slice(cfg->eval_rows, r->coll->rank, r->coll->world, &val_first, &val_count);
    r->arm_loss = calloc((size_t)r->n_arms, sizeof *r->arm_loss);
    r->arm_tokens = calloc((size_t)r->n_arms, sizeof *r->arm_tokens);
    r->arm_tok_u = calloc((size_t)r->n_arms, sizeof *r->arm_tok_u);
    r->incoming = calloc((size_t)r->n_arms, sizeof *r->incoming);
    if (!r->arm_loss || !r->arm_tokens || !r->arm_tok_u || !r->incoming ||
        birdie_rows_alloc(&r->rows, r->B, r->T) < 0 ||
        (val_count > 0 && birdie_rows_alloc(&r->val_ntp, val_count, r->T) < 0)) {
        return birdie_fail(err, errlen, -ENOMEM, "out of memory for %d rows of %d positions", r->B, r->T);
    }
    if (val_count > 0 && (rc = birdie_batch_ntp(&r->val_ntp, r->val_src, cfg->seed, 0, (uint64_t)val_first,
                                                BIRDIE_RNG_VALIDATION)) < 0) {
        return birdie_fail(err, errlen, birdie_error_tag(rc, BIRDIE_EXIT_DATA), "validation data: %s", strerror(-rc));
    }
    if ((rc = birdie_build_validation(&r->cur.arms, r->val_src, cfg->seed, cfg->val_rows_per_arm, r->T, &r->val_arms,
                                      NULL, err, errlen)) < 0)
        return birdie_error_tag(rc, BIRDIE_EXIT_DATA);
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

static birdie_run_parts run_parts(run *r)
{
    return (birdie_run_parts){.cfg = r->cfg, .model = &r->model, .cur = &r->cur, .sched = r->sched, .ctl = r->ctl};
}

static int restore(run *r, const birdie_checkpoint *ck, char *err, size_t errlen)
{
    birdie_run_parts parts = run_parts(r);
    int rc = birdie_run_checkpoint_restore(&parts, ck, err, errlen);
    if (rc < 0)
        return birdie_error_tag(rc, BIRDIE_EXIT_DATA);
    birdie_step_control_init(&r->sc, (int64_t)ck->mixture_version);
    log_line(r->log, "resumed from the checkpoint of step %lld (mixture v%llu)\n", (long long)ck->step,
             (unsigned long long)ck->mixture_version);
    return 0;
}

/* Rank 0 writes (the parameters are the same on every rank) and tells the coordinator. */
static int save_checkpoint(run *r, long step, char *err, size_t errlen)
{
    if (r->coll->rank != 0)
        return 0;
    birdie_run_parts parts = run_parts(r);
    birdie_checkpoint_info info;
    int rc = birdie_run_checkpoint_write(&parts, step, &info, err, errlen);
    if (rc < 0)
        return birdie_error_tag(rc, BIRDIE_EXIT_DATA);
    log_line(r->log, "step %5ld | checkpoint written to %s\n", step, info.path);
    if (r->ctl && r->ctl->report_checkpoint)
        rc = r->ctl->report_checkpoint(r->ctl->ctx, step, info.path, info.bytes, info.checksum, err, errlen);
    return birdie_error_tag(rc, BIRDIE_EXIT_COORDINATOR);
}

enum { CONTROL_STOP = 1 };

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

/* The step boundary before `step`: every rank votes in the control all-reduce (the newest mixture
 * version it holds, its pause, stop and checkpoint flags) until step_control says train or stop,
 * waiting between votes as it says. Returns CONTROL_STOP when the run must stop. */
static int control_sync(run *r, long step, char *reason, size_t reason_len, char *err, size_t errlen)
{
    const birdie_control *ctl = r->ctl;
    double give_up = birdie_monotonic_seconds() + (ctl ? ctl->decision_timeout_ms / 1000.0 : 0);
    for (;;) {
        birdie_control_state st = {.version = r->sc.applied_version};
        if (ctl)
            ctl->poll(ctl->ctx, &st, r->incoming);
        int scheduled_stop = r->cfg->stop_after > 0 && step > r->cfg->stop_after;
        int local_stop = st.stop || stop_requested || scheduled_stop;
        int64_t mins[1] = {st.version}, maxs[6] = {st.version,           st.pause,          local_stop,
                                                   checkpoint_requested, st.checkpoint_seq, st.stop && st.failed};
        int rc = r->coll->allreduce_minmax_i64(r->coll, mins, 1, maxs, 6, err, errlen);
        if (rc < 0)
            return rc;
        birdie_step_votes votes = {.min_version = mins[0],
                                   .max_version = maxs[0],
                                   .pause = maxs[1] != 0,
                                   .stop = maxs[2] != 0,
                                   .checkpoint_signal = maxs[3] != 0,
                                   .checkpoint_seq = maxs[4]};
        birdie_step_verdict v = birdie_step_control_vote(&r->sc, step, &votes, ctl != NULL);
        if (v.checkpoint_taken)
            checkpoint_requested = 0;
        r->coordinator_failed |= maxs[5] != 0;
        if (v.stop_seen) {
            if (scheduled_stop)
                snprintf(reason, reason_len, "[run] stop_after = %ld", r->cfg->stop_after);
            else
                snprintf(reason, reason_len, "%s",
                         st.stop          ? st.stop_reason
                         : stop_requested ? "signal"
                         : maxs[5]        ? "another rank heard the coordinator fail the run"
                                          : "another rank was told to stop");
        }
        if (v.apply_version >= 0) {
            memcpy(r->cur.weights, r->incoming, (size_t)r->n_arms * sizeof *r->incoming);
            r->cur.version = (uint64_t)v.apply_version;
            char classes[256];
            birdie_curriculum_format_classes(&r->cur, classes, sizeof classes);
            log_line(r->log, "step %5ld | mixture v%lld applied on every rank: %s\n", step, (long long)v.apply_version,
                     classes);
        }
        switch (v.next) {
        case BIRDIE_STEP_TRAIN: return 0;
        case BIRDIE_STEP_STOP: return CONTROL_STOP;
        case BIRDIE_STEP_WAIT_PAUSE: /* keep the heartbeat going and ask again */
            ctl->wait(ctl->ctx, -1, 1, 1000);
            give_up = birdie_monotonic_seconds() + ctl->decision_timeout_ms / 1000.0;
            break;
        case BIRDIE_STEP_WAIT_VERSION:
            if (birdie_monotonic_seconds() > give_up) {
                snprintf(err, errlen,
                         "step %ld: mixture version %lld did not reach every rank within %d ms "
                         "(ranks hold %lld..%lld)",
                         step, (long long)v.wait_version, ctl->decision_timeout_ms, (long long)mins[0],
                         (long long)maxs[0]);
                return birdie_error_tag(-ETIMEDOUT, BIRDIE_EXIT_COORDINATOR);
            }
            ctl->wait(ctl->ctx, v.wait_version, 0, 200);
            break;
        }
    }
}

/* At most every 50 ms, so a fast small model does not turn into an RPC benchmark. */
static int heartbeat(run *r, long step, double tokens_per_s, double loss, double norm, const double *class_loss,
                     const double *class_tok, int force, char *err, size_t errlen)
{
    double now = birdie_monotonic_seconds();
    if (!r->ctl || (!force && now - r->last_heartbeat < 0.05) || birdie_fault_active(BIRDIE_FAULT_STOP_HEARTBEAT, step))
        return 0;
    r->last_heartbeat = now;
    birdie_step_report rep = {.step = step,
                              .tokens_per_s = tokens_per_s,
                              .loss = loss,
                              .lr = birdie_lr_at(r->cfg, step),
                              .grad_norm = norm,
                              .applied_version = r->sc.applied_version,
                              .applied_step = r->sc.applied_step};
    for (int c = 0; c < BIRDIE_NUM_OBJECTIVE_CLASSES; c++)
        rep.class_loss[c] = class_tok[c] > 0 ? class_loss[c] / class_tok[c] : NAN;
    return birdie_error_tag(r->ctl->heartbeat(r->ctl->ctx, &rep, err, errlen), BIRDIE_EXIT_COORDINATOR);
}

/* Trains `step` and prints its progress line; adds its time and tokens to the report's rate (the
 * first step of a run pays for page faults and caches and is left out). */
static int train_and_log(run *r, long step, long first_step, birdie_train_report *rep, double *timed, char *err,
                         size_t errlen)
{
    const birdie_config *cfg = r->cfg;
    double t0 = birdie_monotonic_seconds(), loss, norm, class_loss[BIRDIE_NUM_OBJECTIVE_CLASSES],
           class_tok[BIRDIE_NUM_OBJECTIVE_CLASSES];
    int rc = train_step(r, step, &loss, &norm, class_loss, class_tok, err, errlen);
    if (rc < 0)
        return rc;
    r->model.ops->synchronize();
    double dt = birdie_monotonic_seconds() - t0, tokens = (double)cfg->batch * r->T;
    if (step > first_step) {
        timed[0] += dt;
        timed[1] += tokens;
    }
    if (rep->train_losses)
        rep->train_losses[step - 1] = loss;
    rep->steps_done = step;
    if (step % cfg->log_every == 0 || step == cfg->steps) {
        char classes[256];
        format_class_losses(class_loss, class_tok, classes, sizeof classes);
        log_line(r->log, "step %5ld/%ld | loss %.4f | %s | lr %.2e | norm %.4f | %.1f ms | %.0f tok/s\n", step,
                 cfg->steps, loss, classes, birdie_lr_at(cfg, step), norm, dt * 1e3, tokens / dt);
    }
    return heartbeat(r, step, tokens / dt, loss, norm, class_loss, class_tok, step == cfg->steps, err, errlen);
}

/* The evaluations after `step`: the validation loss on the eval schedule, and on the scheduler's
 * schedule the per-arm sums it reads, handed to the coordinator (whose decision is then pending) or to
 * the scheduler in this process (whose mixture is then in force). With a coordinator, fixed mixtures
 * report their evaluations too (recorded, no decision). */
static int evaluate_after(run *r, long step, birdie_train_report *rep, char *err, size_t errlen)
{
    const birdie_config *cfg = r->cfg;
    int sched_step = r->cur.birdie && birdie_curriculum_scheduler_step(&r->cur, step);
    int eval_step = (cfg->eval_every && step % cfg->eval_every == 0) || step == cfg->steps;
    int rc;
    if (!sched_step && !eval_step)
        return 0;
    if ((rc = evaluate(r, &rep->last_val_loss, 1, err, errlen)) < 0)
        return rc;
    log_arm_eval(r, step, rep->last_val_loss);
    if (r->ctl && (r->cur.birdie ? sched_step : eval_step)) {
        if ((rc = r->ctl->report_eval(r->ctl->ctx, step, r->arm_loss, r->arm_tokens, err, errlen)) < 0)
            return birdie_error_tag(rc, BIRDIE_EXIT_COORDINATOR);
        if (r->cur.birdie && r->ctl->scheduler_remote && step < cfg->steps)
            birdie_step_control_decision_reported(&r->sc, step, cfg->apply_lag,
                                                  birdie_curriculum_next_scheduler_step(&r->cur, step));
    }
    if (sched_step && r->sched) {
        char note[256];
        if ((rc = r->sched->observe(r->sched->ctx, step, r->arm_loss, r->arm_tokens, r->n_arms, r->cur.weights,
                                    &r->cur.version, note, sizeof note, err, errlen)) < 0)
            return rc;
        char classes[256];
        birdie_curriculum_format_classes(&r->cur, classes, sizeof classes);
        log_line(r->log, "step %5ld | scheduler %s | mixture v%llu: %s\n", step, note,
                 (unsigned long long)r->cur.version, classes);
    }
    return 0;
}

int birdie_train(const birdie_config *cfg, const birdie_ops *ops, birdie_collective *coll, const birdie_control *ctl,
                 const birdie_mixture_source *sched, const birdie_checkpoint *resume, FILE *log,
                 birdie_train_report *rep, char *err, size_t errlen)
{
    run r = {.cfg = cfg, .coll = coll, .log = log, .ctl = ctl, .sched = sched};
    birdie_collective *own = NULL;
    if (!coll && !(r.coll = own = birdie_collective_single())) {
        return birdie_fail(err, errlen, -ENOMEM, "out of memory");
    }
    int rc;
    if (cfg->batch % r.coll->world) {
        rc = birdie_fail(err, errlen, birdie_error_tag(-EINVAL, BIRDIE_EXIT_USAGE),
                         "[train] batch = %d is not divisible by the %d ranks", cfg->batch, r.coll->world);
        goto out;
    }
    if ((rc = run_open(&r, cfg, ops, err, errlen)) < 0 || (resume && (rc = restore(&r, resume, err, errlen)) < 0))
        goto out;
    long first_step = resume ? (long)resume->step + 1 : 1;
    if ((rc = evaluate(&r, &rep->first_val_loss, 1, err, errlen)) < 0)
        goto out;
    rep->last_val_loss = rep->first_val_loss;
    log_arm_eval(&r, first_step - 1, rep->first_val_loss);
    double timed[2] = {0.0, 0.0}; /* seconds and tokens of the timed steps */
    char stop_reason[512] = "";
    rep->steps_done = first_step - 1;
    /* A stopped or stuck peer should end the job in about ten step times, not in the full deadline
     * that start-up (and the first steps, with their page faults) needs. */
    double longest_step = 0.0, step_began = birdie_monotonic_seconds();
    for (long step = first_step; step <= cfg->steps; step++) {
        double now = birdie_monotonic_seconds();
        if (step > first_step + 1 && now - step_began > longest_step)
            longest_step = now - step_began;
        step_began = now;
        r.coll->deadline_s = birdie_collective_deadline(longest_step, cfg->deadline_factor, cfg->collective_floor_s,
                                                        cfg->collective_deadline_s);
        birdie_fault_set_step(step);
        birdie_flight_step(step);
        if (birdie_fault_fire(BIRDIE_FAULT_KILL, step))
            birdie_fault_kill();
        birdie_step_control_begin(&r.sc, step);
        if ((rc = control_sync(&r, step, stop_reason, sizeof stop_reason, err, errlen)) != 0)
            break;
        if (birdie_step_control_settle(&r.sc, step, first_step) &&
            (rc = save_checkpoint(&r, step - 1, err, errlen)) < 0)
            goto out;
        if ((rc = train_and_log(&r, step, first_step, rep, timed, err, errlen)) < 0 ||
            (rc = evaluate_after(&r, step, rep, err, errlen)) < 0)
            goto out;
        if (cfg->ckpt_every && (step % cfg->ckpt_every == 0 || step == cfg->steps) &&
            birdie_step_control_periodic_checkpoint(&r.sc, step, cfg->steps) &&
            (rc = save_checkpoint(&r, step, err, errlen)) < 0)
            goto out;
    }
    if (rc < 0)
        goto out;
    rep->stopped = rc == CONTROL_STOP;
    if (rep->stopped) {
        log_line(log, "step %5ld | stopped: %s\n", rep->steps_done, stop_reason);
        /* a run that checkpoints leaves one at the step it stopped, so --resume auto loses nothing */
        if (birdie_step_control_final_checkpoint(&r.sc, cfg->ckpt_every, rep->steps_done, first_step) &&
            (rc = save_checkpoint(&r, rep->steps_done, err, errlen)) < 0)
            goto out;
        if (r.coordinator_failed) {
            rc = birdie_fail(err, errlen, birdie_error_tag(-EIO, BIRDIE_EXIT_COORDINATOR),
                             "the coordinator failed the run at step %ld: %s", rep->steps_done, stop_reason);
            goto out;
        }
    }
    rep->tokens_per_s = timed[0] > 0 ? timed[1] / timed[0] : 0.0;
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
            rc = birdie_fail(err, errlen, birdie_error_tag(frc, BIRDIE_EXIT_COORDINATOR), "finish: %s", msg);
        }
    }
    run_close(&r);
    if (own)
        own->destroy(own);
    return rc;
}
