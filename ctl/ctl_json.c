/* ctl_json: see ctl_json.h. Only the field types birdie.v1 uses are converted; any other type
 * (none today) is emitted as null rather than guessed. */
#include "ctl/ctl_json.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *string_value(const char *s)
{
    /* Strings come from the server or a database and may not be UTF-8; never drop the field. */
    json_t *v = json_string(s ? s : "");
    return v ? v : json_string("<invalid utf-8>");
}

static json_t *scalar_to_json(const ProtobufCFieldDescriptor *f, const void *p)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32: return json_integer(*(const int32_t *)p);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32: return json_integer(*(const uint32_t *)p);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64: return json_integer(*(const int64_t *)p);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: {
        /* JSON integers are signed 64-bit here; a larger value keeps its magnitude as a real. */
        uint64_t u = *(const uint64_t *)p;
        return u <= (uint64_t)INT64_MAX ? json_integer((json_int_t)u) : json_real((double)u);
    }
    case PROTOBUF_C_TYPE_DOUBLE: {
        double d = *(const double *)p;
        return isfinite(d) ? json_real(d) : json_null();
    }
    case PROTOBUF_C_TYPE_FLOAT: {
        float d = *(const float *)p;
        return isfinite(d) ? json_real(d) : json_null();
    }
    case PROTOBUF_C_TYPE_BOOL: return json_boolean(*(const protobuf_c_boolean *)p);
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumValue *ev =
            protobuf_c_enum_descriptor_get_value((const ProtobufCEnumDescriptor *)f->descriptor, *(const int *)p);
        return ev ? json_string(ev->name) : json_integer(*(const int *)p);
    }
    case PROTOBUF_C_TYPE_STRING: return string_value(*(char *const *)p);
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *m = *(const ProtobufCMessage *const *)p;
        return m ? ctl_message_to_json(m) : json_null();
    }
    default: return json_null();
    }
}

static size_t element_size(const ProtobufCFieldDescriptor *f)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE: return 8;
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_MESSAGE: return sizeof(void *);
    case PROTOBUF_C_TYPE_BOOL: return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_ENUM: return sizeof(int);
    default: return 4;
    }
}

json_t *ctl_message_to_json(const ProtobufCMessage *msg)
{
    json_t *obj = json_object();
    if (!obj)
        return NULL;
    const ProtobufCMessageDescriptor *d = msg->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const char *base = (const char *)msg;
        json_t *v;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(base + f->quantifier_offset);
            const char *items = *(const char *const *)(base + f->offset);
            v = json_array();
            for (size_t k = 0; v && k < n; k++)
                json_array_append_new(v, scalar_to_json(f, items + k * element_size(f)));
        } else {
            v = scalar_to_json(f, base + f->offset);
        }
        if (v)
            json_object_set_new(obj, f->name, v);
    }
    return obj;
}

void ctl_print_json(json_t *obj, int one_line)
{
    if (!obj) {
        printf("null\n");
        return;
    }
    char *s =
        json_dumps(obj, (one_line ? JSON_COMPACT : JSON_INDENT(2)) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    if (s)
        printf("%s\n", s);
    free(s);
    json_decref(obj);
    fflush(stdout);
}
