/* coord_health: what grpc.health.v1 answers for the coordinator (docs/design.md §9.2), and the
 * pushes of its Watch streams. SERVING means the run is making progress: it is running, every rank's
 * heartbeat is fresh (no rank flagged stalled), and a step finished within the progress deadline,
 * COORD_HEALTH_STEP_FACTOR recent step times and never less than stall_after_ms. A paused run is
 * SERVING: the operator asked for it, the process is sound, and a probe that restarted it would
 * undo the pause; its progress clock restarts on resume. Starting, stopping, every ended state and a
 * coordinator shutting down are NOT_SERVING. It does not judge anything the Check and Watch handlers
 * do not ask for (the stall flags themselves are coord_run.c's). */
#include <stdio.h>
#include <string.h>

#include "daemon/coordinator_internal.h"
#include "daemon/rpc_wire.h"
#include "grpc/health/v1/health.pb-c.h"

static int not_serving(char *why, size_t whylen, const char *fmt, const char *arg)
{
    if (why)
        snprintf(why, whylen, fmt, arg);
    return 0;
}

int coord_health_service_known(const char *service)
{
    return !service[0] || strcmp(service, "birdie.v1.Coordinator") == 0 || strcmp(service, "birdie.v1.Control") == 0;
}

int coord_health_serving(const coordinator *co, int64_t now_ms, char *why, size_t whylen)
{
    if (co->shutting_down || co->draining)
        return not_serving(why, whylen, "%s", "the coordinator is shutting down");
    if (co->state == RUN_PAUSED) {
        if (why)
            snprintf(why, whylen, "paused by an operator");
        return 1;
    }
    if (co->state != RUN_RUNNING)
        return not_serving(why, whylen, "the run is %s", coord_run_state_name(co->state));
    for (int r = 0; r < co->world_size; r++)
        if (co->ranks[r].stalled) {
            if (why)
                snprintf(why, whylen, "rank %d is stalled (its heartbeat is late)", r);
            return 0;
        }
    double limit = co->stall_after_ms, steps = COORD_HEALTH_STEP_FACTOR * co->step_ms;
    if (steps > limit)
        limit = steps;
    if ((double)(now_ms - co->progress_ms) > limit) {
        if (why)
            snprintf(why, whylen, "no step finished for %.1f s (deadline %.1f s)",
                     (double)(now_ms - co->progress_ms) / 1000.0, limit / 1000.0);
        return 0;
    }
    if (why)
        snprintf(why, whylen, "steps complete");
    return 1;
}

void coord_health_progress(coordinator *co, int64_t now_ms, int64_t steps_advanced)
{
    if (steps_advanced > 0 && co->progress_was_step) {
        double per_step = (double)(now_ms - co->progress_ms) / (double)steps_advanced;
        co->step_ms = co->step_ms > 0 ? 0.8 * co->step_ms + 0.2 * per_step : per_step;
    }
    co->progress_ms = now_ms;
    co->progress_was_step = steps_advanced > 0;
}

grpc_byte_buffer *coord_pack_health(int status)
{
    Grpc__Health__V1__HealthCheckResponse r = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
    r.status = (Grpc__Health__V1__HealthCheckResponse__ServingStatus)status;
    return wire_pack(&r.base);
}

void coord_health_update(coordinator *co)
{
    int status = coord_health_serving(co, birdie_monotonic_ms(), NULL, 0)
                     ? GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
                     : GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING;
    if (status == co->health_last)
        return;
    co->health_last = status;
    for (server_call *c = co->streams; c; c = c->next)
        if (c->stream == STREAM_HEALTH && c->health_known)
            coord_health_stream_set(c, status);
}
