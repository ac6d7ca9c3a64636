/* The HTTP server every daemon serves its APIs with: routing by path,
 * size limits on requests, helpers for plain and error responses, and
 * long-lived streamed (chunked) responses for the event-stream APIs.
 * Built on libevent's evhttp; all of it runs on the daemon's one loop. */
#ifndef TEPUI_HTTP_SERVER_H
#define TEPUI_HTTP_SERVER_H

#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <stddef.h>

#include "common/buf.h"
#include "common/error.h"

struct http_server;
struct http_stream;

/* A request as handlers see it; valid until the handler responds (or, for a
 * stream, until http_stream_start). */
struct http_request {
    struct evhttp_request *ev;
    struct http_server *server;
    enum evhttp_cmd_type method;
    const char *path;          /* decoded path without the query */
    const char *query;         /* raw query string or NULL */
    const char *body;          /* request body (NUL-terminated copy) */
    size_t body_len;
    char peer[64];             /* "ip:port" of the client */
    struct evkeyvalq params_;  /* parsed query, private to server.c */
    int params_parsed_;
};

typedef void (*http_handler_fn)(struct http_request *req, void *arg);

struct http_server_options {
    size_t max_body_bytes;     /* larger bodies are answered 413 */
    size_t max_header_bytes;   /* larger header blocks are answered 431/400 */
    int idle_timeout_secs;     /* idle keep-alive connections are closed */
};

struct http_server *http_server_new(struct event_base *base, const struct http_server_options *opts);
void http_server_free(struct http_server *s);

/* Binds ip:port (port 0 picks a free one) and reports the bound port. */
int http_server_bind(struct http_server *s, const char *ip, int port, int *bound_port,
                     struct error *err);

/* Routes an exact path to fn. */
void http_server_route(struct http_server *s, const char *path, http_handler_fn fn, void *arg);
/* Routes every path that starts with prefix (e.g. "/files/") to fn; exact
 * routes win over prefixes, longer prefixes over shorter. */
void http_server_route_prefix(struct http_server *s, const char *prefix, http_handler_fn fn,
                              void *arg);

/* ---- requests ---- */
const char *http_request_header(const struct http_request *req, const char *name);
/* Looks up a query parameter (decoded); returns a pointer valid for the
 * request's lifetime or NULL. */
const char *http_request_query_param(struct http_request *req, const char *name);
const char *http_method_name(enum evhttp_cmd_type m);

/* ---- responses (each ends the request) ---- */
void http_respond(struct http_request *req, int code, const char *content_type, const void *body,
                  size_t len);
void http_respond_buf(struct http_request *req, int code, const char *content_type,
                      const struct buf *body);
/* A plain-text error body, as Mesos answers API errors. */
void http_respond_error(struct http_request *req, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void http_respond_empty(struct http_request *req, int code);
/* A JSON body (printed by the codec's printer, which keeps doubles exact);
 * takes the reference to value. */
void http_respond_json(struct http_request *req, int code, json_t *value);
/* For read-only endpoints: 1 for GET and HEAD, else answers 405 and returns 0. */
int http_require_get(struct http_request *req);
/* 200 with the first size bytes of an open file as the body; takes fd. */
void http_respond_file(struct http_request *req, const char *content_type, int fd, size_t size);
/* 405 with an Allow header. */
void http_respond_method_not_allowed(struct http_request *req, const char *allow);
/* Adds a header to the response that is about to be sent. */
void http_response_header(struct http_request *req, const char *name, const char *value);

/* ---- streams ---- */
/* A request answered after its handler returned (e.g. once a write it made
 * is durable). http_defer keeps what answering needs; the answer functions
 * free the handle, and answer nothing when the client went away meanwhile
 * (evhttp freed the request with its connection). */
struct http_deferred;
struct http_deferred *http_defer(struct http_request *req);
void http_deferred_respond_empty(struct http_deferred *d, int code);
void http_deferred_respond_error(struct http_deferred *d, int code, const char *msg);
/* Frees the handle without answering (the server is going away). */
void http_deferred_free(struct http_deferred *d);

typedef void (*http_stream_closed_fn)(struct http_stream *st, void *arg);

/* Answers 200 with a chunked body and returns the stream; the request is
 * then owned by the stream. closed_fn runs once when the peer goes away (not
 * when the owner calls http_stream_close). */
struct http_stream *http_stream_start(struct http_request *req, const char *content_type,
                                      http_stream_closed_fn closed_fn, void *arg);
/* Queues bytes; returns -EPIPE once the peer is gone. */
int http_stream_send(struct http_stream *st, const void *data, size_t len);
/* Bytes queued but not yet written to the socket (back-pressure signal). */
size_t http_stream_pending(const struct http_stream *st);
/* Ends the stream (terminating chunk, connection closed) and frees it. */
void http_stream_close(struct http_stream *st);
const char *http_stream_peer(const struct http_stream *st);

#endif
