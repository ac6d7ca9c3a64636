/* Small protobuf-c helpers: deep copies, freeing, building ID messages.
 * Messages built on the stack with borrowed pointers are only packed and
 * never freed; messages from pb_copy or a decoder are owned and freed with
 * pb_free. */
#ifndef TEPUI_WIRE_PB_H
#define TEPUI_WIRE_PB_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

#include "common/buf.h"

/* A deep copy (pack + unpack); NULL for NULL. */
ProtobufCMessage *pb_copy(const ProtobufCMessage *m);
#define PB_COPY(type, m) ((type *)pb_copy((const ProtobufCMessage *)(m)))
/* Frees an owned message; accepts NULL. */
void pb_free(void *m);
/* Appends the packed bytes of m. */
void pb_pack_buf(const ProtobufCMessage *m, struct buf *out);

#endif
