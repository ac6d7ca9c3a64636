/* Content negotiation and the choice between the two encodings of the
 * public APIs: application/json and application/x-protobuf. */
#ifndef TEPUI_WIRE_CODEC_H
#define TEPUI_WIRE_CODEC_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

#include "common/buf.h"
#include "common/error.h"

enum wire_format { WIRE_JSON = 1, WIRE_PROTOBUF = 2 };

#define WIRE_MEDIA_JSON "application/json"
#define WIRE_MEDIA_PROTOBUF "application/x-protobuf"
#define WIRE_MEDIA_RECORDIO "application/recordio"

/* Maps a Content-Type header value (parameters such as "; charset=utf-8"
 * ignored) to a format; returns 0 for an unsupported type. */
enum wire_format wire_format_from_content_type(const char *content_type);

/* Picks the response format from an Accept header. NULL, empty, or the
 * any-type range (star slash star) gives JSON, as Mesos does. Media ranges
 * (also application/star) and q-values are honoured: the most specific
 * range decides each type's q, and q=0 means "not acceptable". The higher q
 * wins; on a tie, a type named outright beats one matched by a wildcard,
 * then the type whose range is listed first, then JSON. Returns 0 when
 * neither JSON nor protobuf is acceptable (-> 406). */
enum wire_format wire_format_from_accept(const char *accept);

const char *wire_format_media_type(enum wire_format f);

/* Decodes a body in the given format; NULL with err filled on failure
 * (including missing required fields for protobuf, except required fields
 * that declare a default, which protobuf-c does not check). Messages may
 * nest WIRE_JSON_MAX_DEPTH levels in either format. A protobuf body is
 * made what C++ proto2 (so Mesos) would see: an enum value the schema lacks
 * leaves an optional field unset, is dropped from a repeated field (and its
 * entry from a map), and fails the decode for a required field; of map
 * entries with the same key, the last stays. */
ProtobufCMessage *wire_decode(const ProtobufCMessageDescriptor *desc, enum wire_format f,
                              const void *data, size_t len, struct error *err);

/* Appends the encoding of msg to out. */
void wire_encode(const ProtobufCMessage *msg, enum wire_format f, struct buf *out);

#endif
