/* coord_calls: the life of one server call on the coordinator's completion queue
 * (docs/build.md §3): REQUESTED -> (auth, method) -> READING -> unary reply or STREAMING ->
 * FINISHING -> released when no batch is in flight. Streams keep a RECV_CLOSE_ON_SERVER batch open
 * to learn when the client goes away, and send one message at a time. */
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/coordinator_internal.h"
#include "daemon/rpc_wire.h"
#include "grpc/health/v1/health.pb-c.h"
#include "worker/clock.h"
#include "worker/fault.h"

/* One answered call in the per-method, per-code counter (metrics). */
static void count_call(server_call *c, grpc_status_code code)
{
    if (c->counted)
        return;
    c->counted = 1;
    int row = c->method ? coord_method_index(c->method) : coord_method_count();
    if ((unsigned)code >= COORD_GRPC_CODES)
        code = GRPC_STATUS_UNKNOWN;
    c->co->rpc_count[row][code]++;
}

static void call_release(server_call *c)
{
    coordinator *co = c->co;
    if (c->stream != STREAM_NONE) {
        count_call(c, GRPC_STATUS_CANCELLED); /* the client left before the stream ended */
        if (c->prev)
            c->prev->next = c->next;
        else if (co->streams == c)
            co->streams = c->next;
        if (c->next)
            c->next->prev = c->prev;
    }
    for (int i = 0; c->events && i < c->ev_count; i++)
        grpc_byte_buffer_destroy(c->events[(c->ev_head + i) % COORD_EVENT_QUEUE_MAX]);
    free(c->events);
    if (c->recv_bb)
        grpc_byte_buffer_destroy(c->recv_bb);
    if (c->send_bb)
        grpc_byte_buffer_destroy(c->send_bb);
    if (c->has_status_details)
        grpc_slice_unref(c->status_details);
    grpc_call_details_destroy(&c->details);
    grpc_metadata_array_destroy(&c->request_md);
    if (c->call)
        grpc_call_unref(c->call);
    free(c);
    co->live_calls--;
}

static void release_if_idle(server_call *c)
{
    if (c->pending == 0)
        call_release(c);
}

/* Starts a batch; on failure the call is treated as gone. */
static int start_batch(server_call *c, grpc_op *ops, size_t n, call_tag *tag)
{
    if (grpc_call_start_batch(c->call, ops, n, tag, NULL) != GRPC_CALL_OK) {
        c->gone = 1;
        return -1;
    }
    c->pending++;
    return 0;
}

void coord_request_call(coordinator *co)
{
    server_call *c = calloc(1, sizeof(*c));
    if (!c)
        return; /* fewer armed slots; the others keep serving */
    c->co = co;
    c->main_tag.call = c;
    c->close_tag.call = c;
    c->close_tag.is_close = 1;
    c->phase = PHASE_REQUESTED;
    grpc_call_details_init(&c->details);
    grpc_metadata_array_init(&c->request_md);
    co->live_calls++;
    if (grpc_server_request_call(co->server, &c->call, &c->details, &c->request_md, co->cq, co->cq, &c->main_tag) !=
        GRPC_CALL_OK) {
        call_release(c);
        return;
    }
    c->pending = 1;
}

static void set_status_details(server_call *c, const char *msg)
{
    if (c->has_status_details)
        grpc_slice_unref(c->status_details);
    c->status_details = grpc_slice_from_copied_string(msg ? msg : "");
    c->has_status_details = 1;
}

/* Sends the final status of a call (optionally with a reply message and initial metadata). */
static void finish_call(server_call *c, grpc_status_code code, const char *msg, grpc_byte_buffer *reply,
                        int with_initial_md, int with_recv_close)
{
    grpc_op ops[4];
    size_t n = 0;
    memset(ops, 0, sizeof(ops));
    set_status_details(c, msg);
    count_call(c, code);
    if (with_initial_md)
        ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    if (reply) {
        c->send_bb = reply;
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n++].data.send_message.send_message = reply;
    }
    ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n].data.send_status_from_server.status = code;
    ops[n++].data.send_status_from_server.status_details = &c->status_details;
    if (with_recv_close) {
        ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
        ops[n++].data.recv_close_on_server.cancelled = &c->cancelled;
    }
    c->phase = PHASE_FINISHING;
    start_batch(c, ops, n, &c->main_tag);
}

static int authorised(const coordinator *co, const server_call *c)
{
    switch (c->method->auth) {
    case AUTH_NONE: return 1;
    case AUTH_READ:
        if (!co->auth_all)
            return 1;
        /* fall through */
    case AUTH_MUTATION: return wire_bearer_matches(&c->request_md, co->token);
    }
    return 0;
}

static void on_requested(coordinator *co, server_call *c, int success)
{
    if (!success) { /* server shutting down */
        call_release(c);
        return;
    }
    if (!co->shutting_down)
        coord_request_call(co);
    c->method = coord_find_method(c->details.method);
    if (!c->method) {
        char *path = grpc_slice_to_c_string(c->details.method);
        char msg[COORD_MSG_MAX];
        snprintf(msg, sizeof(msg), "unknown method %s", path);
        gpr_free(path);
        finish_call(c, GRPC_STATUS_UNIMPLEMENTED, msg, NULL, 1, 1);
    } else if (!authorised(co, c)) {
        finish_call(c, GRPC_STATUS_UNAUTHENTICATED,
                    co->token[0] ? "missing or wrong bearer token (authorization: Bearer <token>)"
                                 : "this coordinator has no token configured, so Control mutations are disabled",
                    NULL, 1, 1);
    } else {
        grpc_op ops[2];
        memset(ops, 0, sizeof(ops));
        ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
        ops[1].op = GRPC_OP_RECV_MESSAGE;
        ops[1].data.recv_message.recv_message = &c->recv_bb;
        c->phase = PHASE_READING;
        start_batch(c, ops, 2, &c->main_tag);
    }
    release_if_idle(c);
}

static void coord_stream_pump(server_call *c);

static void start_stream(coordinator *co, server_call *c, const ProtobufCMessage *req)
{
    c->stream = c->method->stream;
    if (c->stream == STREAM_HEALTH) {
        const Grpc__Health__V1__HealthCheckRequest *h = (const void *)req;
        c->health_known = coord_health_service_known(h->service);
        c->health_sent = -1;
        c->health_want = !c->health_known ? GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN
                         : coord_health_serving(co, birdie_monotonic_ms(), NULL, 0)
                             ? GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
                             : GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING;
    }
    c->phase = PHASE_STREAMING;
    if (c->stream == STREAM_EVENTS) {
        c->events = calloc(COORD_EVENT_QUEUE_MAX, sizeof(grpc_byte_buffer *));
        if (!c->events) {
            c->stream = STREAM_NONE;
            finish_call(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory", NULL, 0, 1);
            return;
        }
    }
    c->next = co->streams;
    if (co->streams)
        co->streams->prev = c;
    co->streams = c;
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    op.data.recv_close_on_server.cancelled = &c->cancelled;
    if (start_batch(c, &op, 1, &c->close_tag) == 0) {
        c->directive_dirty = c->stream == STREAM_DIRECTIVE;
        if (c->stream == STREAM_EVENTS) {
            c->events[0] = coord_pack_snapshot_event(co);
            c->ev_count = c->events[0] != NULL;
        }
        coord_stream_pump(c);
    }
}

static void on_read(coordinator *co, server_call *c, int success)
{
    if (!success)
        return;
    ProtobufCMessage *req = wire_unpack(c->method->request, c->recv_bb);
    if (c->recv_bb)
        grpc_byte_buffer_destroy(c->recv_bb);
    c->recv_bb = NULL;
    if (!req) {
        char msg[COORD_MSG_MAX];
        snprintf(msg, sizeof(msg), "the request is not a valid %s message", c->method->request->name);
        finish_call(c, GRPC_STATUS_INVALID_ARGUMENT, msg, NULL, 0, 1);
        return;
    }
    if (c->method->unary) {
        char msg[COORD_MSG_MAX] = "";
        grpc_byte_buffer *reply = NULL;
        grpc_status_code code = c->method->unary(co, req, &reply, msg, sizeof(msg));
        if (code != GRPC_STATUS_OK && reply) {
            grpc_byte_buffer_destroy(reply);
            reply = NULL;
        }
        finish_call(c, code, msg, reply, 0, 1);
    } else {
        if (c->method->stream == STREAM_DIRECTIVE)
            c->rank = ((const Birdie__V1__WatchMixtureRequest *)req)->rank;
        start_stream(co, c, req);
    }
    protobuf_c_message_free_unpacked(req, NULL);
}

static void coord_stream_pump(server_call *c)
{
    if (c->phase != PHASE_STREAMING || c->send_in_flight || c->gone)
        return;
    int flushing = c->ending && c->drain && c->ev_count > 0 && !c->co->shutting_down;
    if ((c->ending || c->co->shutting_down) && !flushing) {
        finish_call(c, c->ending ? c->end_code : GRPC_STATUS_UNAVAILABLE,
                    c->ending ? c->end_msg : "coordinator shutting down", NULL, 0, 0);
        return;
    }
    grpc_byte_buffer *bb = NULL;
    if (c->stream == STREAM_DIRECTIVE && c->directive_dirty) {
        c->directive_dirty = 0;
        c->pushed_ms = birdie_monotonic_ms();
        if (birdie_fault_fire_for_rank(BIRDIE_FAULT_DROP_PUSH, -1, c->rank))
            return;
        bb = coord_pack_directive(c->co);
    } else if (c->stream == STREAM_HEALTH && c->health_want != c->health_sent) {
        bb = coord_pack_health(c->health_want);
        c->health_sent = c->health_want;
    } else if (c->stream == STREAM_EVENTS && c->ev_count > 0) {
        bb = c->events[c->ev_head];
        c->ev_head = (c->ev_head + 1) % COORD_EVENT_QUEUE_MAX;
        c->ev_count--;
    }
    if (!bb)
        return;
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_SEND_MESSAGE;
    op.data.send_message.send_message = bb;
    c->send_bb = bb;
    c->send_in_flight = 1;
    if (start_batch(c, &op, 1, &c->main_tag) != 0)
        c->send_in_flight = 0;
}

static void coord_stream_end(server_call *c, grpc_status_code code, const char *msg)
{
    if (c->ending)
        return;
    c->ending = 1;
    c->end_code = code;
    snprintf(c->end_msg, sizeof(c->end_msg), "%s", msg);
    coord_stream_pump(c);
}

void coord_end_event_streams(coordinator *co, grpc_status_code code, const char *msg)
{
    for (server_call *c = co->streams; c; c = c->next) {
        if (c->stream != STREAM_EVENTS || c->gone || c->ending)
            continue;
        c->drain = 1;
        coord_stream_end(c, code, msg);
    }
}

int coord_event_streams_open(const coordinator *co)
{
    int n = 0;
    for (const server_call *c = co->streams; c; c = c->next)
        n += c->stream == STREAM_EVENTS && !c->gone;
    return n;
}

void coord_health_stream_set(server_call *c, int status)
{
    c->health_want = status;
    coord_stream_pump(c);
}

void coord_mark_directives_dirty(coordinator *co)
{
    for (server_call *c = co->streams; c; c = c->next) {
        if (c->stream != STREAM_DIRECTIVE)
            continue;
        c->directive_dirty = 1;
        coord_stream_pump(c);
    }
}

void coord_repush_directives(coordinator *co)
{
    int64_t now = birdie_monotonic_ms();
    for (server_call *c = co->streams; c; c = c->next) {
        if (c->stream != STREAM_DIRECTIVE || c->rank < 0 || c->rank >= co->world_size || now - c->pushed_ms < 1000)
            continue;
        const rank_info *ri = &co->ranks[c->rank];
        if (ri->registered && !ri->finished && ri->applied_version < co->version) {
            c->directive_dirty = 1;
            coord_stream_pump(c);
        }
    }
}

void coord_broadcast_event(coordinator *co, const Birdie__V1__Event *ev)
{
    grpc_byte_buffer *bb = NULL;
    for (server_call *c = co->streams; c; c = c->next) {
        if (c->stream != STREAM_EVENTS || c->ending || c->gone)
            continue;
        if (!bb)
            bb = wire_pack(&ev->base);
        if (c->ev_count == COORD_EVENT_QUEUE_MAX) {
            coord_stream_end(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "the watcher fell too far behind the event stream");
            continue;
        }
        c->events[(c->ev_head + c->ev_count) % COORD_EVENT_QUEUE_MAX] = grpc_byte_buffer_copy(bb);
        c->ev_count++;
        coord_stream_pump(c);
    }
    if (bb)
        grpc_byte_buffer_destroy(bb);
}

void coord_on_event(coordinator *co, call_tag *tag, int success)
{
    server_call *c = tag->call;
    c->pending--;
    if (tag->is_close) {
        c->gone = 1; /* the call is over (cancelled, or its status went out) */
    } else if (c->phase == PHASE_REQUESTED) {
        on_requested(co, c, success);
        return;
    } else if (c->phase == PHASE_READING) {
        if (success)
            on_read(co, c, success);
    } else if (c->phase == PHASE_STREAMING) {
        c->send_in_flight = 0;
        if (c->send_bb)
            grpc_byte_buffer_destroy(c->send_bb);
        c->send_bb = NULL;
        if (!success)
            c->gone = 1;
        else
            coord_stream_pump(c);
    }
    /* PHASE_FINISHING: the status batch is done; nothing more to send. */
    release_if_idle(c);
}
