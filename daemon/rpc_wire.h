/* rpc_wire: the glue between protobuf-c messages and gRPC C core byte buffers, shared by the
 * coordinator server, the worker client and birdiectl; plus status-code names and the bearer-token
 * check. It does no I/O and keeps no state. */
#ifndef BIRDIE_DAEMON_RPC_WIRE_H
#define BIRDIE_DAEMON_RPC_WIRE_H

#include <grpc/grpc.h>
#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

/* A new byte buffer holding the packed message (caller destroys it), or NULL on out of memory. */
grpc_byte_buffer *wire_pack(const ProtobufCMessage *msg);

/* Unpacks a received byte buffer (which stays owned by the caller). NULL when the bytes are not a
 * valid `desc` message. Free the result with protobuf_c_message_free_unpacked(msg, NULL). */
ProtobufCMessage *wire_unpack(const ProtobufCMessageDescriptor *desc, grpc_byte_buffer *bb);

/* "INVALID_ARGUMENT" etc.; "UNKNOWN_STATUS" for a code outside the gRPC table. */
const char *birdie_wire_status_name(grpc_status_code code);

/* 1 when the call metadata holds `authorization: Bearer <token>` with exactly this token (compared
 * in constant time over the token's length); 0 otherwise, and always 0 for an empty token. */
int wire_bearer_matches(const grpc_metadata_array *md, const char *token);

#endif
