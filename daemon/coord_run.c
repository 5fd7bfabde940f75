/* coord_run: the run as the coordinator sees it: state transitions, the current mixture and how a
 * new one is committed (operator or scheduler, same path: store first, then memory, then streams),
 * and evaluation rounds (completion, deadline, decisions coming back from the decide thread). */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon/coordinator_internal.h"
#include "daemon/mixture.h"
#include "worker/clock.h"
#include "worker/error.h"

/* From a warm-up decision (milliseconds) through one with the reward model (0.3-0.5 s on 2 cores) up to
 * a slow, large reward model. */
const double coord_decide_bucket_le[COORD_DECIDE_BUCKETS] = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

int coord_arm_index(const coordinator *co, const char *name)
{
    for (int i = 0; i < co->n_arms; i++)
        if (strcmp(co->arm_names[i], name) == 0)
            return i;
    return -1;
}

void coord_set_error(coordinator *co, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(co->last_error, sizeof(co->last_error), fmt, ap);
    va_end(ap);
    time_t now = (time_t)(coord_now_unix_ms() / 1000);
    struct tm utc;
    char when[32] = "";
    if (gmtime_r(&now, &utc))
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &utc);
    fprintf(stderr, "%s birdied coordinator: step %" PRId64 ": %s\n", when, co->step, co->last_error);
}

void coord_store_failed(coordinator *co, const char *what, const char *err)
{
    char reason[COORD_MSG_MAX], ignored[COORD_MSG_MAX];
    co->store_failed = 1;
    snprintf(reason, sizeof reason, "store_write_failed: recording %s: %s", what, err);
    if (!coord_run_ended(co->state))
        coord_set_state(co, RUN_FAILED, reason, 1, ignored, sizeof ignored);
    coord_set_error(co, "%s; the run fails rather than lose rows", reason); /* last: what GetStatus shows */
}

static void emit_state_event(coordinator *co, const char *detail)
{
    Birdie__V1__Event ev = BIRDIE__V1__EVENT__INIT;
    ev.kind = "state";
    ev.step = co->step;
    ev.state = (char *)coord_run_state_name(co->state);
    ev.detail = (char *)(detail ? detail : "");
    ev.unix_ms = coord_now_unix_ms();
    coord_broadcast_event(co, &ev);
}

int coord_set_state(coordinator *co, run_state s, const char *reason, int force, char *msg, size_t msglen)
{
    int ended = coord_run_ended(s);
    int rc =
        store_set_state(co->store, coord_run_state_name(s), reason, ended, co->step, coord_now_unix_ms(), msg, msglen);
    if (rc) {
        coord_set_error(co, "recording run state %s: %s", coord_run_state_name(s), msg);
        if (!ended) {
            coord_store_failed(co, "the run state", msg);
            return rc;
        }
        if (!force)
            return rc;
    }
    if (s == RUN_RUNNING && co->state != RUN_RUNNING) /* started or resumed: steps are due from now */
        coord_health_progress(co, birdie_monotonic_ms(), 0);
    co->state = s;
    atomic_store(&co->state_snapshot, s);
    if (s == RUN_STOPPING || ended)
        snprintf(co->stop_reason, sizeof(co->stop_reason), "%s", reason ? reason : "");
    coord_mark_directives_dirty(co);
    emit_state_event(co, reason);
    return rc;
}

/* Makes `weights` the current mixture (already recorded in the store) and tells everyone. */
static void install_mixture(coordinator *co, int64_t version, const double *weights, const char *source, int64_t step,
                            int64_t created_ms)
{
    co->version = version;
    memcpy(co->weights, weights, (size_t)co->n_arms * sizeof(double));
    snprintf(co->source, sizeof(co->source), "%s", source);
    co->mixture_step = step;
    co->mixture_created_ms = created_ms;
    coord_mark_directives_dirty(co);
    /* The Event's Mixture is built by hand here to avoid an arena for one message. */
    Birdie__V1__ArmWeight *aw = calloc((size_t)co->n_arms, sizeof(*aw));
    Birdie__V1__ArmWeight **awp = calloc((size_t)co->n_arms, sizeof(*awp));
    if (!aw || !awp) {
        free(aw);
        free(awp);
        coord_set_error(co, "out of memory announcing mixture version %" PRId64, version);
        return;
    }
    Birdie__V1__Mixture m = BIRDIE__V1__MIXTURE__INIT;
    for (int i = 0; i < co->n_arms; i++) {
        birdie__v1__arm_weight__init(&aw[i]);
        aw[i].arm = co->arm_names[i];
        aw[i].weight = weights[i];
        awp[i] = &aw[i];
    }
    m.version = version;
    m.weights = awp;
    m.n_weights = (size_t)co->n_arms;
    m.source = co->source;
    m.step = step;
    m.created_unix_ms = created_ms;
    Birdie__V1__Event ev = BIRDIE__V1__EVENT__INIT;
    ev.kind = "mixture";
    ev.step = step;
    ev.mixture = &m;
    ev.unix_ms = coord_now_unix_ms();
    coord_broadcast_event(co, &ev);
    free(aw);
    free(awp);
}

int coord_commit_operator_mixture(coordinator *co, const double *weights, const char *request_id, const char *reason,
                                  char *msg, size_t msglen)
{
    int64_t now = coord_now_unix_ms();
    int64_t version = co->version + 1;
    store_mixture m = {.version = version,
                       .step = co->step,
                       .created_unix_ms = now,
                       .source = "operator",
                       .request_id = request_id,
                       .reason = reason,
                       .weights = weights};
    store_decision d = {.step = co->step,
                        .mixture_version = version,
                        .source = "operator",
                        .explore = 0,
                        .predicted_reward = NAN,
                        .observed_reward = NAN,
                        .fit_error = NAN,
                        .record = reason,
                        .unix_ms = now};
    char err[COORD_MSG_MAX];
    int rc = store_commit_mixture(co->store, &m, &d, err, sizeof(err));
    if (rc)
        return birdie_fail(msg, msglen, rc, "recording the mixture failed, nothing changed: %s", err);
    co->decisions_operator++;
    install_mixture(co, version, weights, "operator", co->step, now);
    return 0;
}

static void emit_eval_event(coordinator *co, int64_t step)
{
    Birdie__V1__ArmEval *ae = calloc((size_t)co->n_arms, sizeof(*ae));
    Birdie__V1__ArmEval **aep = calloc((size_t)co->n_arms, sizeof(*aep));
    if (!ae || !aep) {
        free(ae);
        free(aep);
        return;
    }
    for (int i = 0; i < co->n_arms; i++) {
        birdie__v1__arm_eval__init(&ae[i]);
        ae[i].arm = co->arm_names[i];
        ae[i].loss_sum = co->last_loss_sum[i];
        ae[i].tokens = co->last_tokens[i];
        aep[i] = &ae[i];
    }
    Birdie__V1__EvalSummary es = BIRDIE__V1__EVAL_SUMMARY__INIT;
    es.step = step;
    es.evals = aep;
    es.n_evals = (size_t)co->n_arms;
    Birdie__V1__Event ev = BIRDIE__V1__EVENT__INIT;
    ev.kind = "eval";
    ev.step = step;
    ev.eval = &es;
    ev.unix_ms = coord_now_unix_ms();
    coord_broadcast_event(co, &ev);
    free(ae);
    free(aep);
}

void coord_round_completed(coordinator *co)
{
    eval_round *r = &co->round;
    co->last_eval_step = r->step;
    memcpy(co->last_loss_sum, r->loss_sum, (size_t)co->n_arms * sizeof(double));
    memcpy(co->last_tokens, r->tokens, (size_t)co->n_arms * sizeof(double));
    if (decide_worker_submit(co->decider, r->step, r->loss_sum, r->tokens, co->weights))
        coord_set_error(co, "out of memory queueing the decision of step %" PRId64, r->step);
    emit_eval_event(co, r->step);
    eval_round_close(r);
}

/* A decision came back: validate it, commit evals + rewards + decision + mixture at once, install. */
static void apply_decision(coordinator *co, decide_result *res)
{
    char why[COORD_MSG_MAX] = "";
    int64_t now = coord_now_unix_ms();
    int ok = res->rc == 0;
    if (!ok)
        snprintf(why, sizeof(why), "decide callback failed at step %" PRId64 ": %.400s", res->step, res->err);
    if (ok && res->new_mixture) {
        char bad[COORD_MSG_MAX - 64];
        if (mixture_normalise(co->n_arms, (const char *const *)co->arm_names, res->new_weights, bad, sizeof(bad))) {
            snprintf(why, sizeof(why), "scheduler mixture of step %" PRId64 " rejected: %s", res->step, bad);
            ok = 0;
        }
    }
    int64_t version = co->version + (ok && res->new_mixture);
    store_mixture m = {.version = version,
                       .step = res->step,
                       .created_unix_ms = now,
                       .source = "scheduler",
                       .weights = res->new_weights};
    store_decision d = {.step = res->step,
                        .mixture_version = version,
                        .source = "scheduler",
                        .explore = res->explore,
                        .predicted_reward = res->predicted_reward,
                        .observed_reward = res->observed_reward,
                        .fit_error = res->fit_error,
                        .record = res->record,
                        .unix_ms = now,
                        .detail = &res->detail};
    char err[COORD_MSG_MAX];
    int rc = store_commit_eval(co->store, res->step, res->loss_sum, res->tokens, ok ? res->rewards : NULL,
                               ok && res->new_mixture ? &m : NULL, ok ? &d : NULL, ok ? NULL : "decide_failed",
                               ok ? NULL : why, now, err, sizeof(err));
    if (rc) {
        char what[64];
        snprintf(what, sizeof what, "the evaluation of step %" PRId64, res->step);
        coord_store_failed(co, what, err);
        return;
    }
    if (!ok) {
        coord_set_error(co, "%s", why);
        return;
    }
    *(res->explore ? &co->decisions_explore : &co->decisions_exploit) += 1;
    memcpy(co->last_rewards, res->rewards, (size_t)co->n_arms * sizeof(double));
    if (res->new_mixture)
        install_mixture(co, version, res->new_weights, "scheduler", res->step, now);
}

static void check_round_deadline(coordinator *co)
{
    if (!eval_round_expired(&co->round, birdie_monotonic_ms()))
        return;
    char missing[256], reason[COORD_MSG_MAX], ignored[COORD_MSG_MAX];
    eval_round_missing(&co->round, missing, sizeof(missing));
    snprintf(reason, sizeof(reason),
             "eval_deadline_exceeded: evaluation of step %" PRId64
             " got %d of %d reports within %d ms; missing ranks %s",
             co->round.step, co->round.n_reported, co->world_size, co->eval_deadline_ms, missing);
    store_record_event(co->store, co->round.step, coord_now_unix_ms(), "eval_deadline_exceeded", reason, ignored,
                       sizeof(ignored));
    eval_round_close(&co->round);
    coord_set_error(co, "%s", reason);
    if (!coord_run_ended(co->state))
        coord_set_state(co, RUN_FAILED, reason, 1, ignored, sizeof(ignored));
}

/* Flags a rank whose heartbeats stopped, once per episode, long before a collective's deadline ends
 * the job: the operator learns which process to look at while it can still be saved. Paused runs
 * and finished ranks send no step heartbeats and are not judged. */
static void check_stalled_ranks(coordinator *co)
{
    if (co->state != RUN_RUNNING)
        return;
    int64_t now = birdie_monotonic_ms();
    for (int r = 0; r < co->world_size; r++) {
        rank_info *ri = &co->ranks[r];
        if (!ri->registered || ri->finished || ri->stalled || !ri->last_heartbeat_ms)
            continue;
        double limit = co->stall_after_ms, five_steps = 5.0 * ri->step_ms;
        if (five_steps > limit)
            limit = five_steps;
        int64_t age = now - ri->last_heartbeat_ms;
        if ((double)age > limit) {
            ri->stalled = 1;
            coord_set_error(co,
                            "rank %d (host %s, pid %" PRId64 ") has sent no heartbeat for %.1f s (last at step %" PRId64
                            ", %.2f s per step): stopped or stuck; the job ends if it is still silent when [run] "
                            "collective_deadline_s runs out",
                            r, ri->host, ri->pid, (double)age / 1000.0, ri->step, ri->step_ms / 1000.0);
        }
    }
}

void coord_tick(coordinator *co)
{
    check_round_deadline(co);
    check_stalled_ranks(co);
    coord_repush_directives(co);
    decide_result *res;
    while ((res = decide_worker_poll(co->decider)) != NULL) {
        int b = 0;
        while (b < COORD_DECIDE_BUCKETS && res->seconds > coord_decide_bucket_le[b])
            b++;
        co->decide_bucket[b]++;
        co->decide_seconds += res->seconds;
        apply_decision(co, res);
        decide_result_free(res);
    }
}
