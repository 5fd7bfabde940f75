/* coordinator: configuration, start/stop and the completion-queue loop of the coordinator thread
 * (docs/build.md §3: CQ next with a tick as the only timer; shutdown_and_notify + cancel_all_calls
 * on stop). RPC handling lives in coord_calls.c / coord_handlers.c, run logic in coord_run.c. */
#include <errno.h>
#include <math.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon/coord_metrics.h"
#include "daemon/coordinator_internal.h"
#include "daemon/metrics_http.h"
#include "daemon/mixture.h"
#include "worker/clock.h"
#include "daemon/thread_cpu.h"
#include "worker/error.h"

int64_t coord_now_unix_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *coord_run_state_name(run_state s)
{
    static const char *const names[] = {"starting", "running", "paused", "stopping", "finished", "failed", "stopped"};
    return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "unknown";
}

static int has_text(const char *s)
{
    return s && *s;
}

static int validate_config(const coordinator_config *cfg, char *err, size_t errlen)
{
    if (!has_text(cfg->bind_addr))
        return birdie_fail(err, errlen, -EINVAL, "bind address is empty");
    if (!has_text(cfg->db_path))
        return birdie_fail(err, errlen, -EINVAL, "database path is empty");
    if (!has_text(cfg->run_name))
        return birdie_fail(err, errlen, -EINVAL, "run name is empty");
    if (!has_text(cfg->token) && cfg->auth_all)
        return birdie_fail(err, errlen, -EINVAL,
                           "no token given but auth_all is on; give a token or turn auth_all off");
    if (has_text(cfg->token)) {
        for (const char *p = cfg->token; *p; p++)
            if (*p < 0x21 || *p > 0x7e)
                return birdie_fail(err, errlen, -EINVAL, "the token has a character outside printable ASCII");
    }
    if (cfg->world_size <= 0 || cfg->world_size > 65536)
        return birdie_fail(err, errlen, -EINVAL, "world size %d is outside 1..65536", cfg->world_size);
    if (cfg->n_arms <= 0 || !cfg->arm_names || !cfg->arm_classes)
        return birdie_fail(err, errlen, -EINVAL, "the run needs at least one arm with a name and a class");
    if (cfg->eval_deadline_ms <= 0)
        return birdie_fail(err, errlen, -EINVAL, "eval deadline %d ms must be positive", cfg->eval_deadline_ms);
    if (cfg->initial_version < 0 || cfg->initial_step < 0)
        return birdie_fail(err, errlen, -EINVAL, "initial version and step must be non-negative");
    if (!cfg->decide)
        return birdie_fail(err, errlen, -EINVAL, "no decide callback");
    for (int i = 0; i < cfg->n_arms; i++) {
        if (!has_text(cfg->arm_names[i]) || !has_text(cfg->arm_classes[i]))
            return birdie_fail(err, errlen, -EINVAL, "arm %d has an empty name or class", i);
        for (int j = 0; j < i; j++)
            if (strcmp(cfg->arm_names[i], cfg->arm_names[j]) == 0)
                return birdie_fail(err, errlen, -EINVAL, "arm name '%s' is used twice", cfg->arm_names[i]);
    }
    return 0;
}

static char **dup_strings(const char *const *src, int n)
{
    char **out = calloc((size_t)n, sizeof(char *));
    for (int i = 0; out && i < n; i++) {
        out[i] = strdup(src[i]);
        if (!out[i]) {
            for (int j = 0; j < i; j++)
                free(out[j]);
            free(out);
            return NULL;
        }
    }
    return out;
}

static void free_strings(char **s, int n)
{
    for (int i = 0; s && i < n; i++)
        free(s[i]);
    free(s);
}

static void coordinator_free(coordinator *co)
{
    decide_worker_stop(co->decider);
    birdie_store_close(co->store);
    eval_round_free(&co->round);
    free(co->bind_addr);
    free(co->token);
    free(co->db_path);
    free(co->run_name);
    free_strings(co->arm_names, co->n_arms);
    free_strings(co->arm_classes, co->n_arms);
    free(co->ranks);
    free(co->weights);
    free(co->last_loss_sum);
    free(co->last_tokens);
    free(co->class_names);
    free(co->arm_class);
    free(co->train_class_loss);
    free(co->last_rewards);
    free(co->rpc_count);
    pthread_mutex_destroy(&co->lock);
    free(co);
}

/* The objective classes of the arms, in order of first appearance. */
static int index_classes(coordinator *co)
{
    co->class_names = calloc((size_t)co->n_arms, sizeof(*co->class_names));
    co->arm_class = calloc((size_t)co->n_arms, sizeof(*co->arm_class));
    co->train_class_loss = calloc((size_t)co->n_arms, sizeof(double));
    co->last_rewards = calloc((size_t)co->n_arms, sizeof(double));
    if (!co->class_names || !co->arm_class || !co->train_class_loss || !co->last_rewards)
        return -ENOMEM;
    for (int i = 0; i < co->n_arms; i++) {
        int c = 0;
        while (c < co->n_classes && strcmp(co->class_names[c], co->arm_classes[i]) != 0)
            c++;
        if (c == co->n_classes)
            co->class_names[co->n_classes++] = co->arm_classes[i];
        co->arm_class[i] = c;
        co->train_class_loss[i] = NAN;
        co->last_rewards[i] = NAN;
    }
    return 0;
}

/* Copies the config and sets up the in-memory run (no store, no gRPC yet). */
static int coordinator_alloc(const coordinator_config *cfg, coordinator **out, char *err, size_t errlen)
{
    coordinator *co = calloc(1, sizeof(*co));
    if (!co)
        return birdie_fail(err, errlen, -ENOMEM, "out of memory");
    pthread_mutex_init(&co->lock, NULL);
    co->last_loss = NAN;
    co->health_last = -1;
    co->n_arms = cfg->n_arms;
    co->world_size = cfg->world_size;
    co->auth_all = cfg->auth_all;
    co->eval_deadline_ms = cfg->eval_deadline_ms;
    co->stall_after_ms = cfg->stall_after_ms > 0 ? cfg->stall_after_ms : 10000;
    co->bind_addr = strdup(cfg->bind_addr);
    co->token = strdup(cfg->token ? cfg->token : "");
    co->db_path = strdup(cfg->db_path);
    co->run_name = strdup(cfg->run_name);
    co->arm_names = dup_strings(cfg->arm_names, cfg->n_arms);
    co->arm_classes = dup_strings(cfg->arm_classes, cfg->n_arms);
    co->ranks = calloc((size_t)cfg->world_size, sizeof(rank_info));
    co->weights = calloc((size_t)cfg->n_arms, sizeof(double));
    co->last_loss_sum = calloc((size_t)cfg->n_arms, sizeof(double));
    co->last_tokens = calloc((size_t)cfg->n_arms, sizeof(double));
    co->rpc_count = calloc((size_t)coord_method_count() + 1, sizeof(*co->rpc_count));
    int rc = eval_round_init(&co->round, cfg->world_size, cfg->n_arms);
    if (rc == 0 && co->arm_classes)
        rc = index_classes(co);
    if (rc || !co->rpc_count || !co->bind_addr || !co->token || !co->db_path || !co->run_name || !co->arm_names ||
        !co->arm_classes || !co->ranks || !co->weights || !co->last_loss_sum || !co->last_tokens) {
        coordinator_free(co);
        return birdie_fail(err, errlen, -ENOMEM, "out of memory");
    }
    if (cfg->initial_weights) {
        memcpy(co->weights, cfg->initial_weights, (size_t)cfg->n_arms * sizeof(double));
        char why[256];
        rc = mixture_normalise(co->n_arms, (const char *const *)co->arm_names, co->weights, why, sizeof(why));
        if (rc) {
            coordinator_free(co);
            return birdie_fail(err, errlen, rc, "initial mixture: %s", why);
        }
    } else {
        mixture_uniform_by_class(co->n_arms, (const char *const *)co->arm_classes, co->weights);
    }
    co->version = cfg->initial_version;
    snprintf(co->source, sizeof(co->source), "config");
    co->mixture_step = cfg->initial_step;
    co->mixture_created_ms = coord_now_unix_ms();
    co->step = cfg->initial_step;
    co->last_recorded_step = cfg->initial_step - 1;
    co->last_applied_marked = cfg->initial_version - 1;
    co->last_eval_step = -1;
    co->state = RUN_STARTING;
    atomic_store(&co->state_snapshot, RUN_STARTING);
    for (int r = 0; r < co->world_size; r++)
        co->ranks[r].applied_version = -1;
    *out = co;
    return 0;
}

/* Opens the store, records the run, the new incarnation and its config mixture; loads the run's
 * newest checkpoint (a resumed run shows the one it may have resumed from). */
static int open_store(coordinator *co, char *err, size_t errlen)
{
    int rc = birdie_store_open(co->db_path, 0, &co->store, err, errlen);
    if (rc)
        return rc;
    rc = store_begin_run(co->store, co->run_name, co->world_size, co->n_arms, (const char *const *)co->arm_names,
                         (const char *const *)co->arm_classes, coord_now_unix_ms(), &co->run_id, &co->incarnation, err,
                         errlen);
    if (rc)
        return rc;
    /* Only version 0 comes from the configuration. A resumed run restores its checkpoint's mixture:
     * record it with the source it first had in this run (scheduler or operator), and say so. */
    char source[16] = "config", reason[160] = "";
    if (co->version > 0) {
        int64_t first = 0;
        int found = store_mixture_origin(co->store, co->version, source, sizeof source, &first, err, errlen);
        if (found < 0)
            return found;
        if (found)
            snprintf(reason, sizeof reason,
                     "restored from the checkpoint of step %" PRId64 " (first issued in incarnation %" PRId64 ")",
                     co->mixture_step, first);
        else
            snprintf(reason, sizeof reason,
                     "restored from the checkpoint of step %" PRId64
                     "; this store has no earlier record of version %" PRId64,
                     co->mixture_step, co->version);
    }
    snprintf(co->source, sizeof co->source, "%s", source);
    store_mixture m = {.version = co->version,
                       .step = co->mixture_step,
                       .created_unix_ms = co->mixture_created_ms,
                       .source = source,
                       .reason = reason[0] ? reason : NULL,
                       .weights = co->weights};
    rc = store_commit_mixture(co->store, &m, NULL, err, errlen);
    if (rc == 0)
        rc = store_set_state(co->store, "starting", NULL, 0, co->step, coord_now_unix_ms(), err, errlen);
    if (rc == 0)
        rc = coord_load_last_checkpoint(co, err, errlen);
    if (rc == 0)
        rc = store_decision_counts(co->store, &co->decisions_explore, &co->decisions_exploit, &co->decisions_operator,
                                   err, errlen);
    return rc;
}

static int bind_server(coordinator *co, char *err, size_t errlen)
{
    grpc_arg arg = {.type = GRPC_ARG_INTEGER, .key = (char *)GRPC_ARG_ALLOW_REUSEPORT, .value.integer = 0};
    grpc_channel_args args = {.num_args = 1, .args = &arg};
    co->cq = grpc_completion_queue_create_for_next(NULL);
    co->server = grpc_server_create(&args, NULL);
    grpc_server_register_completion_queue(co->server, co->cq, NULL);
    grpc_server_credentials *cr = grpc_insecure_server_credentials_create();
    co->port = grpc_server_add_http2_port(co->server, co->bind_addr, cr);
    grpc_server_credentials_release(cr);
    if (co->port == 0)
        return birdie_fail(err, errlen, -EADDRINUSE, "cannot listen on %s (address in use, or not a valid host:port)",
                           co->bind_addr);
    grpc_server_start(co->server);
    return 0;
}

/* Tears down a server whose loop never ran (start failed after creating it). A server with no
 * listener may be destroyed at once; a started one must be shut down first. */
static void destroy_idle_server(coordinator *co, int started)
{
    if (co->server && started) {
        int notify_tag = 0;
        grpc_server_shutdown_and_notify(co->server, co->cq, &notify_tag);
        while (grpc_completion_queue_next(co->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).tag != &notify_tag) {
        }
    }
    if (co->server)
        grpc_server_destroy(co->server);
    if (!co->cq)
        return;
    grpc_completion_queue_shutdown(co->cq);
    while (grpc_completion_queue_next(co->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type != GRPC_QUEUE_SHUTDOWN) {
    }
    grpc_completion_queue_destroy(co->cq);
}

static void *coordinator_main(void *arg)
{
    coordinator *co = arg;
    birdie_thread_name("birdie-coord");
    int shutdown_tag = 0;
    for (int i = 0; i < COORD_OUTSTANDING_REQUESTS; i++)
        coord_request_call(co);
    while (!(co->shutdown_done && co->live_calls == 0)) {
        gpr_timespec deadline =
            gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(COORD_TICK_MS, GPR_TIMESPAN));
        grpc_event ev = grpc_completion_queue_next(co->cq, deadline, NULL);
        pthread_mutex_lock(&co->lock);
        if (ev.type == GRPC_OP_COMPLETE) {
            if (ev.tag == &shutdown_tag)
                co->shutdown_done = 1;
            else
                coord_on_event(co, ev.tag, ev.success);
        }
        if (!co->shutting_down) {
            coord_tick(co);
            if (atomic_load(&co->stop_requested) && !co->draining) {
                /* A finished run's watchers get its last events and an OK status, not a cancellation
                 * they would retry; a run stopped before its end is cut off (UNAVAILABLE) at once. */
                co->draining = 1;
                co->drain_until_ms = birdie_monotonic_ms() + COORD_DRAIN_MS;
                if (co->state == RUN_FINISHED || co->state == RUN_STOPPED)
                    coord_end_event_streams(co, GRPC_STATUS_OK,
                                            co->state == RUN_FINISHED ? "the run finished" : "the run was stopped");
            }
            if (co->draining &&
                (!coord_event_streams_open(co) || (co->state != RUN_FINISHED && co->state != RUN_STOPPED) ||
                 birdie_monotonic_ms() > co->drain_until_ms)) {
                co->shutting_down = 1;
                grpc_server_shutdown_and_notify(co->server, co->cq, &shutdown_tag);
                grpc_server_cancel_all_calls(co->server);
            }
        }
        coord_health_update(co);
        pthread_mutex_unlock(&co->lock);
    }
    grpc_server_destroy(co->server);
    grpc_completion_queue_shutdown(co->cq);
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(co->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
    }
    grpc_completion_queue_destroy(co->cq);
    return NULL;
}

int coord_open(const coordinator_config *cfg, coordinator **out, char *err, size_t errlen)
{
    *out = NULL;
    int rc = validate_config(cfg, err, errlen);
    if (rc)
        return rc;
    coordinator *co = NULL;
    rc = coordinator_alloc(cfg, &co, err, errlen);
    if (rc)
        return rc;
    rc = open_store(co, err, errlen);
    if (rc == 0) {
        rc = decide_worker_start(cfg->decide, cfg->decide_ctx, co->n_arms, &co->decider);
        if (rc)
            snprintf(err, errlen, "cannot start the decide thread");
    }
    if (rc) {
        coordinator_free(co);
        return rc;
    }
    *out = co;
    return 0;
}

void coord_close(coordinator *co)
{
    /* A run that did not finish by itself ends here; record how its incarnation ended. */
    char ignored[COORD_MSG_MAX];
    run_state s = co->state;
    if (!coord_run_ended(s))
        store_set_state(co->store, coord_run_state_name(s), "coordinator stopped", 1, co->step, coord_now_unix_ms(),
                        ignored, sizeof(ignored));
    coordinator_free(co);
}

int coordinator_start(const coordinator_config *cfg, coordinator **out, char *err, size_t errlen)
{
    *out = NULL;
    coordinator *co = NULL;
    int rc = coord_open(cfg, &co, err, errlen);
    if (rc)
        return rc;
    grpc_init();
    rc = bind_server(co, err, errlen);
    if (rc == 0 && has_text(cfg->metrics_addr))
        rc = birdie_metrics_http_start(cfg->metrics_addr, coord_metrics_render, co, &co->metrics_http, err, errlen);
    if (rc == 0 && pthread_create(&co->thread, NULL, coordinator_main, co) != 0) {
        snprintf(err, errlen, "cannot start the coordinator thread");
        rc = -EAGAIN;
    }
    if (rc) {
        birdie_metrics_http_stop(co->metrics_http);
        destroy_idle_server(co, co->port != 0);
        grpc_shutdown();
        /* The incarnation was opened: close it so it does not look like a crash. */
        char ignored[64];
        store_set_state(co->store, "failed", err, 1, co->step, coord_now_unix_ms(), ignored, sizeof(ignored));
        coordinator_free(co);
        return rc;
    }
    *out = co;
    return 0;
}

int coordinator_port(const coordinator *co)
{
    return co->port;
}

int coordinator_metrics_port(const coordinator *co)
{
    return birdie_metrics_http_port(co->metrics_http);
}

void coordinator_state(coordinator *co, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s", coord_run_state_name((run_state)atomic_load(&co->state_snapshot)));
}

void coordinator_stop(coordinator *co)
{
    if (!co)
        return;
    atomic_store(&co->stop_requested, 1);
    pthread_join(co->thread, NULL);
    birdie_metrics_http_stop(co->metrics_http); /* scrapes see the run's last state until here */
    grpc_shutdown();
    coord_close(co);
}
