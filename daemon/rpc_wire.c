/* rpc_wire: byte-buffer packing per docs/build.md §3 (slice_malloc + raw buffer; reader_readall
 * to join slices before unpacking). */
#include "daemon/rpc_wire.h"

#include <grpc/byte_buffer_reader.h>
#include <grpc/slice.h>
#include <string.h>

grpc_byte_buffer *wire_pack(const ProtobufCMessage *msg)
{
    size_t n = protobuf_c_message_get_packed_size(msg);
    grpc_slice s = grpc_slice_malloc(n);
    protobuf_c_message_pack(msg, GRPC_SLICE_START_PTR(s));
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    return bb;
}

ProtobufCMessage *wire_unpack(const ProtobufCMessageDescriptor *desc, grpc_byte_buffer *bb)
{
    if (!bb)
        return NULL;
    grpc_byte_buffer_reader reader;
    if (!grpc_byte_buffer_reader_init(&reader, bb))
        return NULL;
    grpc_slice all = grpc_byte_buffer_reader_readall(&reader);
    grpc_byte_buffer_reader_destroy(&reader);
    ProtobufCMessage *msg = protobuf_c_message_unpack(desc, NULL, GRPC_SLICE_LENGTH(all), GRPC_SLICE_START_PTR(all));
    grpc_slice_unref(all);
    return msg;
}

const char *birdie_wire_status_name(grpc_status_code code)
{
    static const char *const names[] = {
        "OK",        "CANCELLED",      "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
        "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
        "ABORTED",   "OUT_OF_RANGE",   "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
        "DATA_LOSS", "UNAUTHENTICATED"};
    if ((int)code < 0 || (size_t)code >= sizeof(names) / sizeof(names[0]))
        return "UNKNOWN_STATUS";
    return names[code];
}

static int constant_time_equal(const unsigned char *a, size_t alen, const unsigned char *b, size_t blen)
{
    /* Length differences still leak, but not where the first differing byte is. */
    unsigned char diff = (unsigned char)(alen != blen);
    for (size_t i = 0; i < blen; i++)
        diff |= (unsigned char)(a[i % (alen ? alen : 1)] ^ b[i]);
    return alen != 0 && diff == 0;
}

int wire_bearer_matches(const grpc_metadata_array *md, const char *token)
{
    static const char prefix[] = "Bearer ";
    size_t token_len = token ? strlen(token) : 0;
    if (token_len == 0)
        return 0;
    for (size_t i = 0; i < md->count; i++) {
        if (grpc_slice_str_cmp(md->metadata[i].key, "authorization") != 0)
            continue;
        const unsigned char *v = GRPC_SLICE_START_PTR(md->metadata[i].value);
        size_t vlen = GRPC_SLICE_LENGTH(md->metadata[i].value);
        if (vlen < sizeof(prefix) - 1 || memcmp(v, prefix, sizeof(prefix) - 1) != 0)
            return 0;
        return constant_time_equal(v + sizeof(prefix) - 1, vlen - (sizeof(prefix) - 1), (const unsigned char *)token,
                                   token_len);
    }
    return 0;
}
