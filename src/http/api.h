/* The preamble every call API (scheduler, executor, the internal agent API)
 * shares: POST only, a Content-Type naming one of the encodings, a body that
 * decodes into the API's Call, answered with Mesos's status codes. */
#ifndef TEPUI_HTTP_API_H
#define TEPUI_HTTP_API_H

#include <protobuf-c/protobuf-c.h>

#include "http/server.h"
#include "wire/codec.h"

/* Decodes the request's body as a desc message. On any failure it answers
 * (405, 400 without a Content-Type, 415 for another media type or, with
 * protobuf_only, anything but protobuf, 400 for a body that does not
 * decode, naming the field) and returns NULL. *format gets the body's
 * encoding. The message is freed with pb_free. */
ProtobufCMessage *http_api_decode(struct http_request *req, const ProtobufCMessageDescriptor *desc,
                                  int protobuf_only, enum wire_format *format);

#endif
