/* rpc_client: blocking gRPC client calls (unary and server-streaming) over one insecure channel,
 * with a deadline on every call and the bearer token attached as `authorization` metadata.
 * Used by the worker client and birdiectl. Every call uses its own pluck completion queue, so one
 * channel may be used from several threads at once. grpc_init/grpc_shutdown are paired inside
 * birdie_rpc_channel_open/close. */
#ifndef BIRDIE_DAEMON_RPC_CLIENT_H
#define BIRDIE_DAEMON_RPC_CLIENT_H

#include <grpc/grpc.h>
#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

typedef struct birdie_rpc_channel birdie_rpc_channel;
typedef struct birdie_rpc_stream birdie_rpc_stream;

/* What a call ended with: the gRPC status code and the server's (or the transport's) message. */
typedef struct birdie_rpc_status {
    grpc_status_code code;
    char message[512];
} birdie_rpc_status;

/* addr: "host:port" or "unix:/path". token: NULL or "" sends no authorization header. */
int birdie_rpc_channel_open(const char *addr, const char *token, birdie_rpc_channel **out, char *err, size_t errlen);
void birdie_rpc_channel_close(birdie_rpc_channel *ch);

/* One unary call. On OK returns 0 and *resp (free with protobuf_c_message_free_unpacked); otherwise
 * returns -1 with st->code != OK (an unparsable reply is reported as INTERNAL). */
int birdie_rpc_unary(birdie_rpc_channel *ch, const char *method, const ProtobufCMessage *req,
                     const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp, int deadline_ms,
                     birdie_rpc_status *st);

/* Like birdie_rpc_unary but sends `n` raw bytes as the request (tests send malformed messages with it). */
int birdie_rpc_unary_raw(birdie_rpc_channel *ch, const char *method, const uint8_t *bytes, size_t n,
                         const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp, int deadline_ms,
                         birdie_rpc_status *st);

/* Starts a server-streaming call. deadline_ms <= 0 means no deadline (long-lived watch streams).
 * Returns 0, or -1 with st filled when the call could not even be started. */
int birdie_rpc_stream_open(birdie_rpc_channel *ch, const char *method, const ProtobufCMessage *req, int deadline_ms,
                           birdie_rpc_stream **out, birdie_rpc_status *st);
/* Blocks for the next message: 1 with *msg, 0 when the stream ended (st holds its final status,
 * OK for a clean end), -1 when a reply could not be parsed (st = INTERNAL; the call is cancelled). */
int birdie_rpc_stream_next(birdie_rpc_stream *s, const ProtobufCMessageDescriptor *desc, ProtobufCMessage **msg,
                           birdie_rpc_status *st);
/* Thread-safe: makes a blocked birdie_rpc_stream_next return (status CANCELLED). */
void birdie_rpc_stream_cancel(birdie_rpc_stream *s);
void birdie_rpc_stream_close(birdie_rpc_stream *s);

#endif
