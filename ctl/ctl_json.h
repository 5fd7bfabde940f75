/* ctl_json: any protobuf-c message -> a jansson object, walking the message descriptor, so every
 * birdiectl reply has a JSON form with the .proto's field names (a stable schema by construction).
 * int64 fields become JSON integers; NaN/Inf doubles become null (JSON has no NaN). */
#ifndef BIRDIE_CTL_JSON_H
#define BIRDIE_CTL_JSON_H

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

/* A new reference, or NULL on out of memory. */
json_t *ctl_message_to_json(const ProtobufCMessage *msg);

/* Prints obj as one compact line on stdout (for streams) or indented; steals the reference. */
void ctl_print_json(json_t *obj, int one_line);

#endif
