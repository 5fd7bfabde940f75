/* rpc_client: the client call sequences of docs/build.md §3 (gRPC C core 1.51): unary = one
 * batch of six ops; stream = the first four ops, then one RECV_MESSAGE per message, then
 * RECV_STATUS_ON_CLIENT. Every batch is plucked on the call's own completion queue. */
#include "daemon/rpc_client.h"

#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/rpc_wire.h"
#include "worker/error.h"

struct birdie_rpc_channel {
    grpc_channel *channel;
    char *auth_value; /* "Bearer <token>" or NULL */
};

struct birdie_rpc_stream {
    grpc_call *call;
    grpc_completion_queue *cq;
    grpc_metadata auth_md;
    grpc_metadata_array initial_md;
    grpc_metadata_array trailing_md;
    int has_auth;
    int ended;
};

int birdie_rpc_channel_open(const char *addr, const char *token, birdie_rpc_channel **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!addr || !*addr)
        return birdie_fail(err, errlen, -22, "empty server address");
    birdie_rpc_channel *ch = calloc(1, sizeof(*ch));
    if (!ch)
        return birdie_fail(err, errlen, -12, "out of memory");
    if (token && *token) {
        size_t n = strlen(token) + sizeof("Bearer ");
        ch->auth_value = malloc(n);
        if (!ch->auth_value) {
            free(ch);
            return birdie_fail(err, errlen, -12, "out of memory");
        }
        snprintf(ch->auth_value, n, "Bearer %s", token);
    }
    grpc_init();
    grpc_channel_credentials *cr = grpc_insecure_credentials_create();
    /* gRPC's default 4 MiB reply limit is below a long run's history (birdiectl plot asks for up
     * to 100,000 rows per table in one GetHistory) */
    grpc_arg max_reply = {
        .type = GRPC_ARG_INTEGER, .key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, .value.integer = 1 << 30};
    grpc_channel_args args = {.num_args = 1, .args = &max_reply};
    ch->channel = grpc_channel_create(addr, cr, &args);
    grpc_channel_credentials_release(cr);
    if (!ch->channel) {
        grpc_shutdown();
        free(ch->auth_value);
        free(ch);
        return birdie_fail(err, errlen, -22, "cannot create a channel to %s", addr);
    }
    *out = ch;
    return 0;
}

void birdie_rpc_channel_close(birdie_rpc_channel *ch)
{
    if (!ch)
        return;
    grpc_channel_destroy(ch->channel);
    free(ch->auth_value);
    free(ch);
    grpc_shutdown();
}

static gpr_timespec deadline_after_ms(int ms)
{
    if (ms <= 0)
        return gpr_inf_future(GPR_CLOCK_REALTIME);
    return gpr_time_add(gpr_now(GPR_CLOCK_REALTIME), gpr_time_from_millis(ms, GPR_TIMESPAN));
}

static void drain_and_destroy_cq(grpc_completion_queue *cq)
{
    grpc_completion_queue_shutdown(cq);
    while (grpc_completion_queue_pluck(cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
           GRPC_QUEUE_SHUTDOWN) {
    }
    grpc_completion_queue_destroy(cq);
}

static void status_set(birdie_rpc_status *st, grpc_status_code code, grpc_slice details, const char *error_string)
{
    st->code = code;
    size_t n = GRPC_SLICE_LENGTH(details);
    if (n > 0) {
        if (n >= sizeof(st->message))
            n = sizeof(st->message) - 1;
        memcpy(st->message, GRPC_SLICE_START_PTR(details), n);
        st->message[n] = 0;
    } else {
        snprintf(st->message, sizeof(st->message), "%s", error_string ? error_string : "");
    }
}

static void set_auth(birdie_rpc_channel *ch, grpc_metadata *md)
{
    memset(md, 0, sizeof(*md));
    md->key = grpc_slice_from_static_string("authorization");
    md->value = grpc_slice_from_static_string(ch->auth_value);
}

/* One unary call with an already-built request buffer (owned by the caller). */
static int unary_call(birdie_rpc_channel *ch, const char *method, grpc_byte_buffer *req_bb,
                      const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp, int deadline_ms,
                      birdie_rpc_status *st)
{
    *resp = NULL;
    grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
    grpc_call *call =
        grpc_channel_create_call(ch->channel, NULL, GRPC_PROPAGATE_DEFAULTS, cq, grpc_slice_from_static_string(method),
                                 NULL, deadline_after_ms(deadline_ms), NULL);
    grpc_metadata auth;
    grpc_metadata_array initial_md, trailing_md;
    grpc_metadata_array_init(&initial_md);
    grpc_metadata_array_init(&trailing_md);
    grpc_byte_buffer *resp_bb = NULL;
    grpc_status_code code = GRPC_STATUS_UNKNOWN;
    grpc_slice details = grpc_empty_slice();
    const char *error_string = NULL;

    grpc_op ops[6];
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    if (ch->auth_value) {
        set_auth(ch, &auth);
        ops[0].data.send_initial_metadata.count = 1;
        ops[0].data.send_initial_metadata.metadata = &auth;
    }
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = req_bb;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &initial_md;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &resp_bb;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &trailing_md;
    ops[5].data.recv_status_on_client.status = &code;
    ops[5].data.recv_status_on_client.status_details = &details;
    ops[5].data.recv_status_on_client.error_string = &error_string;

    int rc = -1;
    if (grpc_call_start_batch(call, ops, 6, ops, NULL) != GRPC_CALL_OK) {
        st->code = GRPC_STATUS_INTERNAL;
        snprintf(st->message, sizeof(st->message), "cannot start the call %s", method);
    } else {
        grpc_completion_queue_pluck(cq, ops, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        status_set(st, code, details, error_string);
        if (code == GRPC_STATUS_OK) {
            *resp = wire_unpack(resp_desc, resp_bb);
            if (*resp) {
                rc = 0;
            } else {
                st->code = GRPC_STATUS_INTERNAL;
                snprintf(st->message, sizeof(st->message), "the server's reply to %s is not a valid %s", method,
                         resp_desc->name);
            }
        }
    }
    if (resp_bb)
        grpc_byte_buffer_destroy(resp_bb);
    grpc_slice_unref(details);
    gpr_free((void *)error_string);
    grpc_metadata_array_destroy(&initial_md);
    grpc_metadata_array_destroy(&trailing_md);
    grpc_call_unref(call);
    drain_and_destroy_cq(cq);
    return rc;
}

int birdie_rpc_unary(birdie_rpc_channel *ch, const char *method, const ProtobufCMessage *req,
                     const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp, int deadline_ms,
                     birdie_rpc_status *st)
{
    grpc_byte_buffer *bb = wire_pack(req);
    int rc = unary_call(ch, method, bb, resp_desc, resp, deadline_ms, st);
    grpc_byte_buffer_destroy(bb);
    return rc;
}

int birdie_rpc_unary_raw(birdie_rpc_channel *ch, const char *method, const uint8_t *bytes, size_t n,
                         const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp, int deadline_ms,
                         birdie_rpc_status *st)
{
    grpc_slice s = grpc_slice_from_copied_buffer((const char *)bytes, n);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    int rc = unary_call(ch, method, bb, resp_desc, resp, deadline_ms, st);
    grpc_byte_buffer_destroy(bb);
    return rc;
}

int birdie_rpc_stream_open(birdie_rpc_channel *ch, const char *method, const ProtobufCMessage *req, int deadline_ms,
                           birdie_rpc_stream **out, birdie_rpc_status *st)
{
    *out = NULL;
    birdie_rpc_stream *s = calloc(1, sizeof(*s));
    if (!s) {
        st->code = GRPC_STATUS_RESOURCE_EXHAUSTED;
        snprintf(st->message, sizeof(st->message), "out of memory");
        return -1;
    }
    s->cq = grpc_completion_queue_create_for_pluck(NULL);
    s->call =
        grpc_channel_create_call(ch->channel, NULL, GRPC_PROPAGATE_DEFAULTS, s->cq,
                                 grpc_slice_from_static_string(method), NULL, deadline_after_ms(deadline_ms), NULL);
    grpc_metadata_array_init(&s->initial_md);
    grpc_metadata_array_init(&s->trailing_md);
    grpc_byte_buffer *req_bb = wire_pack(req);
    grpc_op ops[4];
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    if (ch->auth_value) {
        set_auth(ch, &s->auth_md);
        ops[0].data.send_initial_metadata.count = 1;
        ops[0].data.send_initial_metadata.metadata = &s->auth_md;
    }
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = req_bb;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &s->initial_md;
    int ok = grpc_call_start_batch(s->call, ops, 4, ops, NULL) == GRPC_CALL_OK;
    if (ok)
        grpc_completion_queue_pluck(s->cq, ops, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    grpc_byte_buffer_destroy(req_bb);
    if (!ok) {
        st->code = GRPC_STATUS_INTERNAL;
        snprintf(st->message, sizeof(st->message), "cannot start the stream %s", method);
        birdie_rpc_stream_close(s);
        return -1;
    }
    /* A failed first batch (e.g. server gone) shows up as the final status on the first next(). */
    *out = s;
    return 0;
}

static void stream_finish(birdie_rpc_stream *s, birdie_rpc_status *st)
{
    grpc_status_code code = GRPC_STATUS_UNKNOWN;
    grpc_slice details = grpc_empty_slice();
    const char *error_string = NULL;
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    op.data.recv_status_on_client.trailing_metadata = &s->trailing_md;
    op.data.recv_status_on_client.status = &code;
    op.data.recv_status_on_client.status_details = &details;
    op.data.recv_status_on_client.error_string = &error_string;
    if (grpc_call_start_batch(s->call, &op, 1, &op, NULL) == GRPC_CALL_OK) {
        grpc_completion_queue_pluck(s->cq, &op, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        status_set(st, code, details, error_string);
    } else {
        st->code = GRPC_STATUS_INTERNAL;
        snprintf(st->message, sizeof(st->message), "cannot read the stream's status");
    }
    grpc_slice_unref(details);
    gpr_free((void *)error_string);
    s->ended = 1;
}

int birdie_rpc_stream_next(birdie_rpc_stream *s, const ProtobufCMessageDescriptor *desc, ProtobufCMessage **msg,
                           birdie_rpc_status *st)
{
    *msg = NULL;
    if (s->ended) {
        st->code = GRPC_STATUS_CANCELLED;
        snprintf(st->message, sizeof(st->message), "stream already ended");
        return 0;
    }
    grpc_byte_buffer *bb = NULL;
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &bb;
    if (grpc_call_start_batch(s->call, &op, 1, &op, NULL) == GRPC_CALL_OK)
        grpc_completion_queue_pluck(s->cq, &op, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    if (!bb) {
        stream_finish(s, st);
        return 0;
    }
    *msg = wire_unpack(desc, bb);
    grpc_byte_buffer_destroy(bb);
    if (!*msg) {
        grpc_call_cancel(s->call, NULL);
        stream_finish(s, st);
        st->code = GRPC_STATUS_INTERNAL;
        snprintf(st->message, sizeof(st->message), "a stream message is not a valid %s", desc->name);
        return -1;
    }
    return 1;
}

void birdie_rpc_stream_cancel(birdie_rpc_stream *s)
{
    grpc_call_cancel(s->call, NULL);
}

void birdie_rpc_stream_close(birdie_rpc_stream *s)
{
    if (!s)
        return;
    if (!s->ended) {
        birdie_rpc_status ignored;
        grpc_call_cancel(s->call, NULL);
        stream_finish(s, &ignored);
    }
    grpc_metadata_array_destroy(&s->initial_md);
    grpc_metadata_array_destroy(&s->trailing_md);
    grpc_call_unref(s->call);
    drain_and_destroy_cq(s->cq);
    free(s);
}
