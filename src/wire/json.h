/* The generic JSON codec: converts any protobuf-c message to and from JSON
 * following Apache Mesos's mapping of protobuf (proto field names, enums by
 * value name, bytes as standard base64, 64-bit integers as plain numbers,
 * unset fields with an explicit default emitted with that default).
 * It is driven only by protobuf-c descriptors; it knows no message types. */
#ifndef TEPUI_WIRE_JSON_H
#define TEPUI_WIRE_JSON_H

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"
#include "common/error.h"

/* Deepest nesting of messages accepted from the wire (JSON and protobuf):
 * hostile input must not be able to exhaust the stack. */
#define WIRE_JSON_MAX_DEPTH 64

/* Appends the JSON text of msg to out. Never fails for a valid message. */
void wire_json_encode(const ProtobufCMessage *msg, struct buf *out);

/* The same as a jansson value (new reference), for endpoints that compose
 * their answer from several messages. jansson cannot hold everything the
 * text form can, so two values differ from wire_json_encode: uint64 values
 * above INT64_MAX become strings of digits, and non-finite doubles become
 * the strings "Infinity", "-Infinity" and "NaN" (both forms are accepted
 * back by the decoder). Floats are stored as the double nearest their
 * shortest decimal form, so 0.1f comes out as 0.1. */
json_t *wire_json_from_message(const ProtobufCMessage *msg);

/* Appends the JSON text of a jansson value (no cycles) to out, formatted as
 * wire_json_encode formats messages: compact, doubles in shortest form with
 * a decimal point (2.0), invalid UTF-8 replaced by U+FFFD. Use it instead
 * of json_dumps, which prints 0.1 as 0.10000000000000001. */
void wire_json_dump(const json_t *value, struct buf *out);

/* Parses JSON text into a new message of type desc. On failure returns NULL
 * and fills err with a message naming the offending field path, e.g.
 * "field 'subscribe.framework_info.name': expected a string, got a number".
 * Missing required fields are an error ("Missing required fields:
 * framework_info.user, tasks[0].name"). The top-level value must be an
 * object; messages may nest WIRE_JSON_MAX_DEPTH levels deep.
 * Accepted beyond the JSON types that match a field: numbers inside strings
 * ("42", "1.5"), "true"/"false" strings for bools, "Infinity", "-Infinity"
 * and "NaN" strings (and the bare tokens wire_json_encode writes) for
 * floating-point fields, integral reals (3.0, 1e3) for integer fields, and a
 * single value for a repeated field. Map fields are JSON objects keyed by
 * the key's text. Unknown keys and null are ignored; an
 * unknown enum name is dropped unless the field is required (proto2, as
 * Mesos does, repeated fields included).
 * The message is freed with protobuf_c_message_free_unpacked(msg, NULL). */
ProtobufCMessage *wire_json_decode(const ProtobufCMessageDescriptor *desc,
                                   const char *data, size_t len, struct error *err);

/* Whether f, a field of parent, is a map<K, V> field: protobuf-c sees it as
 * a repeated message of a nested FooEntry type with fields key and value,
 * and Mesos's JSON makes it an object ({"cpus": {"value": 2.0}}). */
bool wire_field_is_map(const ProtobufCMessageDescriptor *parent, const ProtobufCFieldDescriptor *f);

/* The same from an already parsed jansson value. */
ProtobufCMessage *wire_json_to_message(const ProtobufCMessageDescriptor *desc,
                                       const json_t *value, struct error *err);

#endif
