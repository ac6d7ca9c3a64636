/* Decoding the body of an API call. */
#include "http/api.h"

#include <stddef.h>

#include "common/error.h"

ProtobufCMessage *http_api_decode(struct http_request *req, const ProtobufCMessageDescriptor *desc,
                                  int protobuf_only, enum wire_format *format)
{
    struct error err = {0};
    if (req->method != EVHTTP_REQ_POST) {
        http_respond_method_not_allowed(req, "POST");
        return NULL;
    }
    const char *ct = http_request_header(req, "Content-Type");
    if (ct == NULL) {
        http_respond_error(req, 400, "Expecting 'Content-Type' to be present");
        return NULL;
    }
    enum wire_format in = wire_format_from_content_type(ct);
    if (in == 0 || (protobuf_only && in != WIRE_PROTOBUF)) {
        if (protobuf_only)
            http_respond_error(req, 415, "Expecting 'Content-Type' of %s", WIRE_MEDIA_PROTOBUF);
        else
            http_respond_error(req, 415, "Expecting 'Content-Type' of %s or %s", WIRE_MEDIA_JSON,
                               WIRE_MEDIA_PROTOBUF);
        return NULL;
    }
    ProtobufCMessage *msg = wire_decode(desc, in, req->body, req->body_len, &err);
    if (msg == NULL) {
        http_respond_error(req, 400, "Failed to convert %s into Call protobuf: %s",
                           in == WIRE_JSON ? "JSON" : "body", err.msg);
        return NULL;
    }
    if (format != NULL)
        *format = in;
    return msg;
}
