/* coord_handlers: one function per RPC method of birdie.v1.Coordinator, birdie.v1.Control and
 * grpc.health.v1.Health (the checkpoint methods are in coord_checkpoint.c), plus the method table.
 * Handlers validate everything before they change anything, so a rejected request leaves no trace
 * in memory or in the store. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/coordinator_internal.h"
#include "daemon/mixture.h"
#include "daemon/msg_arena.h"
#include "daemon/rpc_wire.h"
#include "grpc/health/v1/health.pb-c.h"
#include "worker/error.h"

/* ---- message builders ------------------------------------------------------------------------ */

static Birdie__V1__Mixture *build_mixture(msg_arena *a, const coordinator *co, int64_t version, const double *weights,
                                          const char *source, int64_t step, int64_t created_ms)
{
    Birdie__V1__Mixture *m = msg_arena_alloc(a, sizeof(*m));
    Birdie__V1__ArmWeight **ws = msg_arena_alloc(a, (size_t)co->n_arms * sizeof(*ws));
    if (!m || !ws)
        return NULL;
    birdie__v1__mixture__init(m);
    m->version = version;
    m->source = msg_arena_strdup(a, source);
    m->step = step;
    m->created_unix_ms = created_ms;
    m->n_weights = (size_t)co->n_arms;
    m->weights = ws;
    for (int i = 0; i < co->n_arms; i++) {
        ws[i] = msg_arena_alloc(a, sizeof(*ws[i]));
        if (!ws[i])
            return NULL;
        birdie__v1__arm_weight__init(ws[i]);
        ws[i]->arm = co->arm_names[i];
        ws[i]->weight = weights[i];
    }
    return msg_arena_failed(a) ? NULL : m;
}

static Birdie__V1__Mixture *build_current_mixture(msg_arena *a, const coordinator *co)
{
    return build_mixture(a, co, co->version, co->weights, co->source, co->mixture_step, co->mixture_created_ms);
}

static Birdie__V1__EvalSummary *build_eval_summary(msg_arena *a, const coordinator *co, int64_t step,
                                                   const double *loss_sum, const double *tokens)
{
    Birdie__V1__EvalSummary *e = msg_arena_alloc(a, sizeof(*e));
    if (!e)
        return NULL;
    birdie__v1__eval_summary__init(e);
    e->step = step;
    if (step < 0)
        return e;
    e->evals = msg_arena_alloc(a, (size_t)co->n_arms * sizeof(*e->evals));
    if (!e->evals)
        return NULL;
    e->n_evals = (size_t)co->n_arms;
    for (int i = 0; i < co->n_arms; i++) {
        Birdie__V1__ArmEval *ae = msg_arena_alloc(a, sizeof(*ae));
        if (!ae)
            return NULL;
        birdie__v1__arm_eval__init(ae);
        ae->arm = co->arm_names[i];
        ae->loss_sum = loss_sum[i];
        ae->tokens = tokens[i];
        e->evals[i] = ae;
    }
    return e;
}

/* Packs msg, or reports INTERNAL when building it ran out of memory. */
static grpc_status_code pack_reply(msg_arena *a, const ProtobufCMessage *m, grpc_byte_buffer **reply, char *msg,
                                   size_t msglen)
{
    grpc_status_code code = GRPC_STATUS_OK;
    if (msg_arena_failed(a) || !m)
        code = birdie_fail(msg, msglen, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory building the reply");
    else
        *reply = wire_pack(m);
    msg_arena_free(a);
    return code;
}

grpc_byte_buffer *coord_pack_directive(coordinator *co)
{
    msg_arena a;
    msg_arena_init(&a);
    Birdie__V1__WorkerDirective d = BIRDIE__V1__WORKER_DIRECTIVE__INIT;
    d.mixture = build_current_mixture(&a, co);
    d.pause = co->state == RUN_PAUSED;
    d.stop = co->state == RUN_STOPPING || coord_run_ended(co->state);
    d.failed = co->state == RUN_FAILED;
    d.stop_reason = co->stop_reason;
    d.checkpoint_seq = co->checkpoint_seq;
    grpc_byte_buffer *bb = d.mixture ? wire_pack(&d.base) : NULL;
    msg_arena_free(&a);
    return bb;
}

grpc_byte_buffer *coord_pack_snapshot_event(coordinator *co)
{
    msg_arena a;
    msg_arena_init(&a);
    Birdie__V1__Event ev = BIRDIE__V1__EVENT__INIT;
    ev.kind = "state";
    ev.step = co->step;
    ev.state = (char *)coord_run_state_name(co->state);
    ev.detail = "current state";
    ev.unix_ms = coord_now_unix_ms();
    ev.mixture = build_current_mixture(&a, co);
    grpc_byte_buffer *bb = ev.mixture ? wire_pack(&ev.base) : NULL;
    msg_arena_free(&a);
    return bb;
}

/* ---- shared checks ----------------------------------------------------------------------------- */

static grpc_status_code check_rank(const coordinator *co, int32_t rank, char *msg, size_t msglen)
{
    if (rank < 0 || rank >= co->world_size)
        return birdie_fail(msg, msglen, GRPC_STATUS_INVALID_ARGUMENT, "rank %d is outside 0..%d", rank,
                           co->world_size - 1);
    return GRPC_STATUS_OK;
}

static grpc_status_code check_registered(const coordinator *co, int32_t rank, char *msg, size_t msglen)
{
    grpc_status_code code = check_rank(co, rank, msg, msglen);
    if (code == GRPC_STATUS_OK && !co->ranks[rank].registered)
        code = birdie_fail(msg, msglen, GRPC_STATUS_FAILED_PRECONDITION, "rank %d has not registered", rank);
    return code;
}

static int run_over(const coordinator *co)
{
    return coord_run_ended(co->state);
}

grpc_status_code coord_check_active(const coordinator *co, const char *what, char *msg, size_t msglen)
{
    if (co->state == RUN_RUNNING || co->state == RUN_PAUSED)
        return GRPC_STATUS_OK;
    return birdie_fail(msg, msglen, GRPC_STATUS_FAILED_PRECONDITION, "%s: the run is %s%s", what,
                       coord_run_state_name(co->state),
                       co->state == RUN_STARTING ? " (not every rank has registered yet)" : "");
}

/* ---- Coordinator ------------------------------------------------------------------------------- */

static grpc_status_code handle_register(coordinator *co, const ProtobufCMessage *m, grpc_byte_buffer **reply, char *msg,
                                        size_t msglen)
{
    const Birdie__V1__RegisterRequest *req = (const void *)m;
    grpc_status_code code = check_rank(co, req->rank, msg, msglen);
    if (code)
        return code;
    if (req->world_size != co->world_size)
        return birdie_fail(msg, msglen, GRPC_STATUS_FAILED_PRECONDITION,
                           "rank %d runs with world size %d but this run has %d", req->rank, req->world_size,
                           co->world_size);
    if (run_over(co))
        return birdie_fail(msg, msglen, GRPC_STATUS_FAILED_PRECONDITION, "the run is %s",
                           coord_run_state_name(co->state));
    msg_arena a;
    msg_arena_init(&a);
    Birdie__V1__RegisterResponse r = BIRDIE__V1__REGISTER_RESPONSE__INIT;
    r.run_name = co->run_name;
    r.run_id = co->run_id;
    r.incarnation = co->incarnation;
    r.n_arms = (size_t)co->n_arms;
    r.arms = co->arm_names;
    r.mixture = build_current_mixture(&a, co);
    if (!r.mixture)
        return pack_reply(&a, NULL, reply, msg, msglen);
    rank_info *ri = &co->ranks[req->rank];
    ri->registered = 1;
    snprintf(ri->host, sizeof ri->host, "%s", req->hostname ? req->hostname : "");
    ri->pid = req->pid;
    int all = 1;
    for (int i = 0; i < co->world_size; i++)
        all &= co->ranks[i].registered;
    char ignored[COORD_MSG_MAX]; /* a store failure is kept in last_error; the state changes regardless */
    if (all && co->state == RUN_STARTING)
        coord_set_state(co, RUN_RUNNING, "every rank registered", 1, ignored, sizeof(ignored));
    return pack_reply(&a, &r.base, reply, msg, msglen);
}

/* Maps the request's per-arm entries onto arm order; every arm exactly once. */
static grpc_status_code evals_by_arm(const coordinator *co, const Birdie__V1__ReportEvalRequest *req, double *loss_sum,
                                     double *tokens, char *msg, size_t msglen)
{
    if (req->n_evals != (size_t)co->n_arms)
        return birdie_fail(msg, msglen, GRPC_STATUS_INVALID_ARGUMENT, "the report has %zu arms; the run has %d",
                           req->n_evals, co->n_arms);
    for (int i = 0; i < co->n_arms; i++)
        loss_sum[i] = -1;
    for (size_t k = 0; k < req->n_evals; k++) {
        const Birdie__V1__ArmEval *e = req->evals[k];
        int i = coord_arm_index(co, e->arm);
        if (i < 0)
            return birdie_fail(msg, msglen, GRPC_STATUS_INVALID_ARGUMENT, "unknown arm '%s' in evals[%zu]", e->arm, k);
        if (loss_sum[i] != -1)
            return birdie_fail(msg, msglen, GRPC_STATUS_INVALID_ARGUMENT, "arm '%s' is reported twice", e->arm);
        if (!isfinite(e->loss_sum) || e->loss_sum < 0 || !isfinite(e->tokens) || e->tokens < 0)
            return birdie_fail(msg, msglen, GRPC_STATUS_INVALID_ARGUMENT,
                               "arm '%s': loss_sum %g and tokens %g must be finite and non-negative", e->arm,
                               e->loss_sum, e->tokens);
        loss_sum[i] = e->loss_sum;
        tokens[i] = e->tokens;
    }
    return GRPC_STATUS_OK;
}

static grpc_status_code handle_report_eval(coordinator *co, const ProtobufCMessage *m, grpc_byte_buffer **reply,
                                           char *msg, size_t msglen)
{
    const Birdie__V1__ReportEvalRequest *req = (const void *)m;
    grpc_status_code code = check_registered(co, req->rank, msg, msglen);
    if (code)
        return code;
    if (co->state == RUN_STARTING || run_over(co))
        return birdie_fail(msg, msglen, GRPC_STATUS_FAILED_PRECONDITION, "cannot take evaluations: the run is %s",
                           coord_run_state_name(co->state));
    double *loss_sum = calloc((size_t)co->n_arms, sizeof(double));
    double *tokens = calloc((size_t)co->n_arms, sizeof(double));
    if (!loss_sum || !tokens) {
        free(loss_sum);
        free(tokens);
        return birdie_fail(msg, msglen, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    }
    code = evals_by_arm(co, req, loss_sum, tokens, msg, msglen);
    int added = 0;
    if (code == GRPC_STATUS_OK) {
        added = eval_round_add(&co->round, req->rank, req->step, loss_sum, tokens, birdie_monotonic_ms(),
                               co->eval_deadline_ms, msg, msglen);
        if (added == -EINVAL)
            code = GRPC_STATUS_INVALID_ARGUMENT;
        else if (added < 0)
            code = GRPC_STATUS_FAILED_PRECONDITION;
    }
    free(loss_sum);
    free(tokens);
    if (code)
        return code;
    if (co->state == RUN_RUNNING) /* an evaluation is work too: its ranks are not stuck */
        coord_health_progress(co, birdie_monotonic_ms(), 0);
    Birdie__V1__ReportEvalResponse r = BIRDIE__V1__REPORT_EVAL_RESPONSE__INIT;
    r.world_size = co->world_size;
    if (added == EVAL_ALREADY_CLOSED) {
        r.reports_received = co->world_size;
        r.round_complete = 1;
    } else {
        r.reports_received = co->round.n_reported;
        r.round_complete = eval_round_complete(&co->round);
        if (r.round_complete)
            coord_round_completed(co);
    }
    *reply = wire_pack(&r.base);
    return GRPC_STATUS_OK;
}

static int finite_or_nan(double v)
{
    return isfinite(v) || isnan(v);
}

static grpc_status_code handle_heartbeat(coordinator *co, const ProtobufCMessage *m, grpc_byte_buffer **reply,
                                         char *msg, size_t msglen)
{
    const Birdie__V1__HeartbeatRequest *req = (const void *)m;
    grpc_status_code code = check_registered(co, req->rank, msg, msglen);
    if (code)
        return code;
    if (req->step < 0)
        return birdie_fail(msg, msglen, GRPC_STATUS_INVALID_ARGUMENT, "step %" PRId64 " is negative", req->step);
    if (!isfinite(req->tokens_per_s) || req->tokens_per_s < 0)
        return birdie_fail(msg, msglen, GRPC_STATUS_INVALID_ARGUMENT, "tokens_per_s %g must be finite and non-negative",
                           req->tokens_per_s);
    if (req->applied_version < 0 || req->applied_version > co->version)
        return birdie_fail(msg, msglen, GRPC_STATUS_INVALID_ARGUMENT,
                           "applied_version %" PRId64 " is not a version this run has issued (0..%" PRId64 ")",
                           req->applied_version, co->version);
    if (req->applied_step < 0 || req->applied_step > req->step)
        return birdie_fail(msg, msglen, GRPC_STATUS_INVALID_ARGUMENT,
                           "applied_step %" PRId64 " must be within 0..step (%" PRId64 ")", req->applied_step,
                           req->step);
    if (!finite_or_nan(req->loss) || !finite_or_nan(req->lr) || !finite_or_nan(req->grad_norm))
        return birdie_fail(msg, msglen, GRPC_STATUS_INVALID_ARGUMENT,
                           "loss, lr and grad_norm must be finite (or NaN when unknown)");
    for (size_t k = 0; k < req->n_class_losses; k++) {
        const Birdie__V1__ClassLoss *cl = req->class_losses[k];
        int c = 0;
        while (c < co->n_classes && strcmp(co->class_names[c], cl->objective_class) != 0)
            c++;
        if (c == co->n_classes)
            return birdie_fail(msg, msglen, GRPC_STATUS_INVALID_ARGUMENT,
                               "class_losses[%zu]: '%s' is not a class of this run's arms", k, cl->objective_class);
        if (!isfinite(cl->loss) || cl->loss < 0)
            return birdie_fail(msg, msglen, GRPC_STATUS_INVALID_ARGUMENT,
                               "class_losses[%zu] (%s): loss %g must be finite and non-negative", k,
                               cl->objective_class, cl->loss);
    }
    rank_info *ri = &co->ranks[req->rank];
    int64_t now_ms = birdie_monotonic_ms();
    if (req->step > ri->step && ri->step_changed_ms) {
        /* heartbeats follow steps: their spacing is the step time the stall threshold scales with */
        double per_step = (double)(now_ms - ri->step_changed_ms) / (double)(req->step - ri->step);
        ri->step_ms = ri->step_ms > 0 ? 0.8 * ri->step_ms + 0.2 * per_step : per_step;
    }
    if (req->step > ri->step || !ri->step_changed_ms)
        ri->step_changed_ms = now_ms;
    if (ri->stalled) {
        ri->stalled = 0;
        coord_set_error(co, "rank %d (host %s, pid %" PRId64 ") sends heartbeats again (step %" PRId64 ")", req->rank,
                        ri->host, ri->pid, req->step);
    }
    ri->step = req->step;
    ri->applied_version = req->applied_version;
    ri->applied_step = req->applied_step;
    ri->tokens_per_s = req->tokens_per_s;
    ri->last_heartbeat_ms = now_ms;
    if (req->step > co->step) {
        coord_health_progress(co, now_ms, req->step - co->step);
        co->step = req->step;
    }
    char err[COORD_MSG_MAX];
    if (req->rank == 0 && req->step > co->last_recorded_step && !co->store_failed) {
        co->last_recorded_step = req->step;
        co->last_loss = req->loss;
        for (int c = 0; c < co->n_classes; c++)
            co->train_class_loss[c] = NAN;
        for (size_t k = 0; k < req->n_class_losses; k++)
            for (int c = 0; c < co->n_classes; c++)
                if (strcmp(co->class_names[c], req->class_losses[k]->objective_class) == 0)
                    co->train_class_loss[c] = req->class_losses[k]->loss;
        if (store_record_step(co->store, req->step, coord_now_unix_ms(), req->loss, req->lr, req->grad_norm,
                              req->tokens_per_s, req->applied_version, err, sizeof(err)))
            coord_store_failed(co, "a step", err);
        Birdie__V1__Event ev = BIRDIE__V1__EVENT__INIT;
        ev.kind = "step";
        ev.step = req->step;
        ev.tokens_per_s = req->tokens_per_s;
        ev.loss = req->loss;
        ev.unix_ms = coord_now_unix_ms();
        coord_broadcast_event(co, &ev);
    }
    if (req->applied_version > co->last_applied_marked && !co->store_failed) {
        co->last_applied_marked = req->applied_version;
        if (store_mark_applied(co->store, req->applied_version, req->applied_step, err, sizeof(err)))
            coord_store_failed(co, "where a mixture applied", err);
    }
    Birdie__V1__HeartbeatResponse r = BIRDIE__V1__HEARTBEAT_RESPONSE__INIT;
    *reply = wire_pack(&r.base);
    return GRPC_STATUS_OK;
}

static grpc_status_code handle_finish(coordinator *co, const ProtobufCMessage *m, grpc_byte_buffer **reply, char *msg,
                                      size_t msglen)
{
    const Birdie__V1__FinishRequest *req = (const void *)m;
    grpc_status_code code = check_registered(co, req->rank, msg, msglen);
    if (code)
        return code;
    if (!run_over(co)) {
        co->ranks[req->rank].finished = 1;
        char reason[COORD_MSG_MAX];
        snprintf(reason, sizeof(reason), "rank %d %s at step %" PRId64 "%s%s", req->rank,
                 req->failed ? "failed" : "finished", req->step, req->reason[0] ? ": " : "", req->reason);
        int all = 1;
        for (int i = 0; i < co->world_size; i++)
            all &= co->ranks[i].finished;
        char ignored[COORD_MSG_MAX];
        if (req->failed) {
            coord_set_error(co, "%s", reason);
            coord_set_state(co, RUN_FAILED, reason, 1, ignored, sizeof(ignored));
        } else if (all && co->state == RUN_STOPPING) {
            /* an operator's stop ended it: say so, with the operator's reason, not "finished" */
            char why[COORD_MSG_MAX];
            snprintf(why, sizeof why, "%s", co->stop_reason);
            coord_set_state(co, RUN_STOPPED, why, 1, ignored, sizeof(ignored));
        } else if (all) {
            coord_set_state(co, RUN_FINISHED, reason, 1, ignored, sizeof(ignored));
        }
    }
    Birdie__V1__FinishResponse r = BIRDIE__V1__FINISH_RESPONSE__INIT;
    *reply = wire_pack(&r.base);
    return GRPC_STATUS_OK;
}

/* ---- Control ----------------------------------------------------------------------------------- */

static grpc_status_code handle_get_status(coordinator *co, const ProtobufCMessage *m, grpc_byte_buffer **reply,
                                          char *msg, size_t msglen)
{
    msg_arena a;
    msg_arena_init(&a);
    Birdie__V1__GetStatusResponse r = BIRDIE__V1__GET_STATUS_RESPONSE__INIT;
    r.run_name = co->run_name;
    r.run_id = co->run_id;
    r.incarnation = co->incarnation;
    r.state = (char *)coord_run_state_name(co->state);
    r.step = co->step;
    r.world_size = co->world_size;
    r.last_error = co->last_error;
    r.checkpoint_seq = co->checkpoint_seq;
    Birdie__V1__CheckpointRecord last_checkpoint;
    coord_last_checkpoint_record(co, &last_checkpoint);
    r.last_checkpoint = &last_checkpoint;
    r.mixture = build_current_mixture(&a, co);
    r.last_eval = build_eval_summary(&a, co, co->last_eval_step, co->last_loss_sum, co->last_tokens);
    r.ranks = msg_arena_alloc(&a, (size_t)co->world_size * sizeof(*r.ranks));
    int64_t now = birdie_monotonic_ms();
    for (int i = 0; r.ranks && i < co->world_size; i++) {
        Birdie__V1__RankStatus *rs = msg_arena_alloc(&a, sizeof(*rs));
        if (!rs)
            break;
        const rank_info *ri = &co->ranks[i];
        birdie__v1__rank_status__init(rs);
        rs->rank = i;
        rs->registered = ri->registered;
        rs->step = ri->step;
        rs->applied_version = ri->applied_version;
        rs->applied_step = ri->applied_step;
        rs->tokens_per_s = ri->tokens_per_s;
        rs->heartbeat_age_s = ri->last_heartbeat_ms ? (double)(now - ri->last_heartbeat_ms) / 1000.0 : -1.0;
        rs->stalled = ri->stalled;
        rs->hostname = (char *)ri->host;
        rs->pid = ri->pid;
        r.tokens_per_s += ri->tokens_per_s;
        r.ranks[i] = rs;
        r.n_ranks = (size_t)i + 1;
    }
    /* the arm classes, so that a client can sum the mixture per class (birdiectl status) */
    r.arms = msg_arena_alloc(&a, (size_t)co->n_arms * sizeof(*r.arms));
    for (int i = 0; r.arms && i < co->n_arms; i++) {
        Birdie__V1__ArmInfo *ai = msg_arena_alloc(&a, sizeof(*ai));
        if (!ai)
            break;
        birdie__v1__arm_info__init(ai);
        ai->name = co->arm_names[i];
        ai->objective_class = co->arm_classes[i];
        r.arms[i] = ai;
        r.n_arms = (size_t)i + 1;
    }
    return pack_reply(&a, &r.base, reply, msg, msglen);
}

static grpc_status_code reply_set_mixture(coordinator *co, int64_t version, const double *weights, const char *source,
                                          int64_t step, int64_t created, int64_t prev_version,
                                          const double *prev_weights, const char *prev_source, int64_t prev_step,
                                          int64_t prev_created, int replayed, grpc_byte_buffer **reply, char *msg,
                                          size_t msglen)
{
    msg_arena a;
    msg_arena_init(&a);
    Birdie__V1__SetMixtureResponse r = BIRDIE__V1__SET_MIXTURE_RESPONSE__INIT;
    r.mixture = build_mixture(&a, co, version, weights, source, step, created);
    if (prev_weights)
        r.previous = build_mixture(&a, co, prev_version, prev_weights, prev_source, prev_step, prev_created);
    r.replayed = replayed;
    return pack_reply(&a, &r.base, reply, msg, msglen);
}

/* A request id seen before: answer with the mixture it produced (and the one before it). */
static grpc_status_code replay_request(coordinator *co, const char *request_id, int *found, grpc_byte_buffer **reply,
                                       char *msg, size_t msglen)
{
    double *w = calloc((size_t)co->n_arms, sizeof(double));
    double *pw = calloc((size_t)co->n_arms, sizeof(double));
    store_mixture_row row, prev;
    memset(&prev, 0, sizeof(prev));
    char err[COORD_MSG_MAX];
    grpc_status_code code = GRPC_STATUS_OK;
    *found = 0;
    if (!w || !pw)
        code = birdie_fail(msg, msglen, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    int rc = code ? 0 : store_find_request(co->store, request_id, &row, w, err, sizeof(err));
    int have_prev = 0;
    if (rc == 1 && row.version > 0)
        have_prev = store_load_mixture(co->store, row.incarnation, row.version - 1, &prev, pw, err, sizeof(err)) == 1;
    if (rc < 0)
        code = birdie_fail(msg, msglen, GRPC_STATUS_INTERNAL, "looking up request_id: %s", err);
    if (rc == 1) {
        *found = 1;
        code = reply_set_mixture(co, row.version, w, row.source, row.step, row.created_unix_ms, prev.version,
                                 have_prev ? pw : NULL, prev.source, prev.step, prev.created_unix_ms, 1, reply, msg,
                                 msglen);
    }
    free(w);
    free(pw);
    return code;
}

static grpc_status_code handle_set_mixture(coordinator *co, const ProtobufCMessage *m, grpc_byte_buffer **reply,
                                           char *msg, size_t msglen)
{
    const Birdie__V1__SetMixtureRequest *req = (const void *)m;
    if (strlen(req->request_id) > 128)
        return birdie_fail(msg, msglen, GRPC_STATUS_INVALID_ARGUMENT, "request_id is longer than 128 bytes");
    if (strlen(req->reason) > 1024)
        return birdie_fail(msg, msglen, GRPC_STATUS_INVALID_ARGUMENT, "reason is longer than 1024 bytes");
    if (req->request_id[0]) {
        int found = 0;
        grpc_status_code code = replay_request(co, req->request_id, &found, reply, msg, msglen);
        if (code || found)
            return code;
    }
    const char **names = calloc(req->n_weights + 1, sizeof(char *));
    double *given = calloc(req->n_weights + 1, sizeof(double));
    double *w = calloc((size_t)co->n_arms, sizeof(double));
    double *prev = malloc((size_t)co->n_arms * sizeof(double));
    grpc_status_code code = GRPC_STATUS_OK;
    if (!names || !given || !w || !prev)
        code = birdie_fail(msg, msglen, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    for (size_t k = 0; code == GRPC_STATUS_OK && k < req->n_weights; k++) {
        names[k] = req->weights[k]->arm;
        given[k] = req->weights[k]->weight;
    }
    if (code == GRPC_STATUS_OK && mixture_from_named(co->n_arms, (const char *const *)co->arm_names, req->n_weights,
                                                     names, given, w, msg, msglen))
        code = GRPC_STATUS_INVALID_ARGUMENT;
    if (code == GRPC_STATUS_OK)
        code = coord_check_active(co, "cannot set the mixture", msg, msglen);
    if (code == GRPC_STATUS_OK && req->expected_version && req->expected_version->version != co->version)
        code = birdie_fail(msg, msglen, GRPC_STATUS_ABORTED,
                           "expected mixture version %" PRId64 " but the current version is %" PRId64
                           "; re-read the status and retry",
                           req->expected_version->version, co->version);
    if (code == GRPC_STATUS_OK) {
        int64_t prev_version = co->version, prev_step = co->mixture_step, prev_created = co->mixture_created_ms;
        char prev_source[16];
        snprintf(prev_source, sizeof(prev_source), "%s", co->source);
        memcpy(prev, co->weights, (size_t)co->n_arms * sizeof(double));
        if (coord_commit_operator_mixture(co, w, req->request_id, req->reason, msg, msglen))
            code = GRPC_STATUS_INTERNAL;
        else
            code = reply_set_mixture(co, co->version, co->weights, co->source, co->mixture_step, co->mixture_created_ms,
                                     prev_version, prev, prev_source, prev_step, prev_created, 0, reply, msg, msglen);
    }
    free(names);
    free(given);
    free(w);
    free(prev);
    return code;
}

static grpc_status_code handle_get_history(coordinator *co, const ProtobufCMessage *m, grpc_byte_buffer **reply,
                                           char *msg, size_t msglen)
{
    const Birdie__V1__GetHistoryRequest *req = (const void *)m;
    if (req->limit < 0 || req->limit > 100000)
        return birdie_fail(msg, msglen, GRPC_STATUS_INVALID_ARGUMENT, "limit %d is outside 0..100000", req->limit);
    Birdie__V1__GetHistoryResponse *h = NULL;
    char err[COORD_MSG_MAX];
    if (birdie_store_history(co->store, req->since_step, req->limit, &h, err, sizeof(err)))
        return birdie_fail(msg, msglen, GRPC_STATUS_INTERNAL, "reading history: %s", err);
    *reply = wire_pack(&h->base);
    birdie_store_history_free(h);
    return GRPC_STATUS_OK;
}

static grpc_status_code control_reply(coordinator *co, grpc_byte_buffer **reply)
{
    Birdie__V1__ControlResponse r = BIRDIE__V1__CONTROL_RESPONSE__INIT;
    r.state = (char *)coord_run_state_name(co->state);
    *reply = wire_pack(&r.base);
    return GRPC_STATUS_OK;
}

static grpc_status_code change_state(coordinator *co, const ProtobufCMessage *m, run_state to, const char *verb,
                                     grpc_byte_buffer **reply, char *msg, size_t msglen)
{
    const Birdie__V1__ControlRequest *req = (const void *)m;
    if (strlen(req->reason) > 1024)
        return birdie_fail(msg, msglen, GRPC_STATUS_INVALID_ARGUMENT, "reason is longer than 1024 bytes");
    int allowed =
        co->state == RUN_RUNNING || co->state == RUN_PAUSED || (to == RUN_STOPPING && co->state == RUN_STOPPING);
    if (!allowed)
        return coord_check_active(co, verb, msg, msglen);
    if (co->state != to) {
        char reason[COORD_MSG_MAX + 32];
        snprintf(reason, sizeof(reason), "operator %s%s%.400s", verb, req->reason[0] ? ": " : "", req->reason);
        if (coord_set_state(co, to, reason, 0, msg, msglen))
            return GRPC_STATUS_INTERNAL;
    }
    return control_reply(co, reply);
}

static grpc_status_code handle_pause(coordinator *co, const ProtobufCMessage *m, grpc_byte_buffer **reply, char *msg,
                                     size_t msglen)
{
    return change_state(co, m, RUN_PAUSED, "pause", reply, msg, msglen);
}

static grpc_status_code handle_resume(coordinator *co, const ProtobufCMessage *m, grpc_byte_buffer **reply, char *msg,
                                      size_t msglen)
{
    return change_state(co, m, RUN_RUNNING, "resume", reply, msg, msglen);
}

static grpc_status_code handle_stop(coordinator *co, const ProtobufCMessage *m, grpc_byte_buffer **reply, char *msg,
                                    size_t msglen)
{
    return change_state(co, m, RUN_STOPPING, "stop", reply, msg, msglen);
}

/* ---- Health -------------------------------------------------------------------------------------- */

static grpc_status_code handle_health_check(coordinator *co, const ProtobufCMessage *m, grpc_byte_buffer **reply,
                                            char *msg, size_t msglen)
{
    const Grpc__Health__V1__HealthCheckRequest *req = (const void *)m;
    if (!coord_health_service_known(req->service))
        return birdie_fail(msg, msglen, GRPC_STATUS_NOT_FOUND, "unknown service '%s'", req->service);
    *reply = coord_pack_health(coord_health_serving(co, birdie_monotonic_ms(), NULL, 0)
                                   ? GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
                                   : GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING);
    return GRPC_STATUS_OK;
}

/* ---- method table -------------------------------------------------------------------------------- */

static const method_entry methods[] = {
    {"/birdie.v1.Coordinator/Register", &birdie__v1__register_request__descriptor, AUTH_READ, handle_register,
     STREAM_NONE},
    {"/birdie.v1.Coordinator/ReportEval", &birdie__v1__report_eval_request__descriptor, AUTH_READ, handle_report_eval,
     STREAM_NONE},
    {"/birdie.v1.Coordinator/Heartbeat", &birdie__v1__heartbeat_request__descriptor, AUTH_READ, handle_heartbeat,
     STREAM_NONE},
    {"/birdie.v1.Coordinator/WatchMixture", &birdie__v1__watch_mixture_request__descriptor, AUTH_READ, NULL,
     STREAM_DIRECTIVE},
    {"/birdie.v1.Coordinator/Finish", &birdie__v1__finish_request__descriptor, AUTH_READ, handle_finish, STREAM_NONE},
    {"/birdie.v1.Coordinator/ReportCheckpoint", &birdie__v1__report_checkpoint_request__descriptor, AUTH_READ,
     coord_handle_report_checkpoint, STREAM_NONE},
    {"/birdie.v1.Control/GetStatus", &birdie__v1__get_status_request__descriptor, AUTH_READ, handle_get_status,
     STREAM_NONE},
    {"/birdie.v1.Control/SetMixture", &birdie__v1__set_mixture_request__descriptor, AUTH_MUTATION, handle_set_mixture,
     STREAM_NONE},
    {"/birdie.v1.Control/Watch", &birdie__v1__watch_request__descriptor, AUTH_READ, NULL, STREAM_EVENTS},
    {"/birdie.v1.Control/GetHistory", &birdie__v1__get_history_request__descriptor, AUTH_READ, handle_get_history,
     STREAM_NONE},
    {"/birdie.v1.Control/Pause", &birdie__v1__control_request__descriptor, AUTH_MUTATION, handle_pause, STREAM_NONE},
    {"/birdie.v1.Control/Resume", &birdie__v1__control_request__descriptor, AUTH_MUTATION, handle_resume, STREAM_NONE},
    {"/birdie.v1.Control/Stop", &birdie__v1__control_request__descriptor, AUTH_MUTATION, handle_stop, STREAM_NONE},
    {"/birdie.v1.Control/Checkpoint", &birdie__v1__checkpoint_request__descriptor, AUTH_MUTATION,
     coord_handle_checkpoint, STREAM_NONE},
    {"/grpc.health.v1.Health/Check", &grpc__health__v1__health_check_request__descriptor, AUTH_NONE,
     handle_health_check, STREAM_NONE},
    {"/grpc.health.v1.Health/Watch", &grpc__health__v1__health_check_request__descriptor, AUTH_NONE, NULL,
     STREAM_HEALTH},
};

int coord_method_count(void)
{
    return (int)(sizeof(methods) / sizeof(methods[0]));
}

int coord_method_index(const method_entry *m)
{
    return (int)(m - methods);
}

const char *coord_method_path(int index)
{
    return index >= 0 && index < coord_method_count() ? methods[index].path : "unknown";
}

const method_entry *coord_find_method(grpc_slice path)
{
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
        if (grpc_slice_str_cmp(path, methods[i].path) == 0)
            return &methods[i];
    return NULL;
}

const method_entry *coord_methods(size_t *n)
{
    *n = sizeof(methods) / sizeof(methods[0]);
    return methods;
}
