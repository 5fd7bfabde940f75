/* rpc_client: blocking gRPC client calls (unary and server-streaming) over one insecure channel,
 * with a deadline on every call and the bearer token attached as `authorization` metadata.
 * Used by the worker client and birdiectl. Every call uses its own pluck completion queue, so one
 * channel may be used from several threads at once. grpc_init/grpc_shutdown are paired inside
 * rpc_channel_open/close. */
#ifndef BIRDIE_DAEMON_RPC_CLIENT_H
#define BIRDIE_DAEMON_RPC_CLIENT_H

#include <grpc/grpc.h>
#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

typedef struct rpc_channel rpc_channel;
typedef struct rpc_stream rpc_stream;

/* What a call ended with: the gRPC status code and the server's (or the transport's) message. */
typedef struct rpc_status {
    grpc_status_code code;
    char message[512];
} rpc_status;

/* addr: "host:port" or "unix:/path". token: NULL or "" sends no authorization header. */
int rpc_channel_open(const char *addr, const char *token, rpc_channel **out, char *err, size_t errlen);
void rpc_channel_close(rpc_channel *ch);

/* One unary call. On OK returns 0 and *resp (free with protobuf_c_message_free_unpacked); otherwise
 * returns -1 with st->code != OK (an unparsable reply is reported as INTERNAL). */
int rpc_unary(rpc_channel *ch, const char *method, const ProtobufCMessage *req,
              const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp, int deadline_ms, rpc_status *st);

/* Like rpc_unary but sends `n` raw bytes as the request (tests send malformed messages with it). */
int rpc_unary_raw(rpc_channel *ch, const char *method, const uint8_t *bytes, size_t n,
                  const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp, int deadline_ms,
                  rpc_status *st);

/* Starts a server-streaming call. deadline_ms <= 0 means no deadline (long-lived watch streams).
 * Returns 0, or -1 with st filled when the call could not even be started. */
int rpc_stream_open(rpc_channel *ch, const char *method, const ProtobufCMessage *req, int deadline_ms, rpc_stream **out,
                    rpc_status *st);
/* Blocks for the next message: 1 with *msg, 0 when the stream ended (st holds its final status,
 * OK for a clean end), -1 when a reply could not be parsed (st = INTERNAL; the call is cancelled). */
int rpc_stream_next(rpc_stream *s, const ProtobufCMessageDescriptor *desc, ProtobufCMessage **msg, rpc_status *st);
/* Thread-safe: makes a blocked rpc_stream_next return (status CANCELLED). */
void rpc_stream_cancel(rpc_stream *s);
void rpc_stream_close(rpc_stream *s);

#endif
