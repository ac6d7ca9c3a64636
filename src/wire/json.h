/* The generic JSON codec: converts any protobuf-c message to and from JSON
 * following Apache Mesos's mapping of protobuf (proto field names, enums by
 * value name, bytes as standard base64, 64-bit integers as plain numbers,
 * unset fields with an explicit default emitted with that default).
 * It is driven only by protobuf-c descriptors; it knows no message types. */
#ifndef TEPUI_WIRE_JSON_H
#define TEPUI_WIRE_JSON_H

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

#include "common/buf.h"
#include "common/error.h"

/* Appends the JSON text of msg to out. Never fails for a valid message. */
void wire_json_encode(const ProtobufCMessage *msg, struct buf *out);

/* The same as a jansson value (new reference), for endpoints that compose
 * their answer from several messages. */
json_t *wire_json_from_message(const ProtobufCMessage *msg);

/* Parses JSON text into a new message of type desc. On failure returns NULL
 * and fills err with a message naming the offending field path, e.g.
 * "field 'subscribe.framework_info.name': expected a string". Missing
 * required fields are an error ("Missing required fields: framework_info.user").
 * The message is freed with protobuf_c_message_free_unpacked(msg, NULL). */
ProtobufCMessage *wire_json_decode(const ProtobufCMessageDescriptor *desc,
                                   const char *data, size_t len, struct error *err);

/* The same from an already parsed jansson value. */
ProtobufCMessage *wire_json_to_message(const ProtobufCMessageDescriptor *desc,
                                       const json_t *value, struct error *err);

#endif
