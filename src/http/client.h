/* The HTTP client the daemons, libtepui and the CLI speak to each other
 * with: one-shot calls over a keep-alive connection, and long-lived streamed
 * responses (event streams) on a connection of their own. Runs on the
 * caller's libevent loop; callbacks never run after the owner cancels. */
#ifndef TEPUI_HTTP_CLIENT_H
#define TEPUI_HTTP_CLIENT_H

#include <event2/event.h>
#include <event2/keyvalq_struct.h>
#include <stddef.h>

#include "common/error.h"

struct http_reply {
    int status;                  /* 0 when there is no response */
    const char *error;           /* why there is no response (status 0) */
    const char *body;            /* NUL-terminated */
    size_t len;
    const struct evkeyvalq *headers;
};

const char *http_reply_header(const struct http_reply *r, const char *name);

/* A header to send: arrays of these end with {NULL, NULL}. */
struct http_header {
    const char *name;
    const char *value;
};

/* An endpoint: host, port and a path prefix, parsed from "host:port",
 * "http://host:port/prefix" or "//host:port/prefix" (a Location header). */
struct http_endpoint {
    char host[256];
    int port;
    char prefix[256];
};
int http_endpoint_parse(const char *text, int default_port, struct http_endpoint *ep,
                        struct error *err);

/* ---- calls ---- */
struct http_client;
struct http_call;

typedef void (*http_reply_fn)(const struct http_reply *reply, void *arg);

struct http_client *http_client_new(struct event_base *base, const char *host, int port,
                                    double timeout_secs);
/* Cancels every call in flight (their callbacks do not run). */
void http_client_free(struct http_client *c);
const char *http_client_host(const struct http_client *c);
int http_client_port(const struct http_client *c);

/* Sends a request; cb runs exactly once unless the call is cancelled, or
 * never when NULL (fire and forget). method is "GET", "POST", ... */
struct http_call *http_client_request(struct http_client *c, const char *method, const char *path,
                                      const struct http_header *headers, const void *body,
                                      size_t len, http_reply_fn cb, void *arg);
void http_call_cancel(struct http_call *call);

/* ---- streams ---- */
struct http_client_stream;

struct http_stream_callbacks {
    /* The status line and headers arrived; for a non-200 status the body is
     * collected and handed to closed() instead of data(). */
    void (*opened)(struct http_client_stream *s, int status, const struct evkeyvalq *headers,
                   void *arg);
    void (*data)(struct http_client_stream *s, const char *data, size_t len, void *arg);
    /* The stream ended: status 0 with error set when the connection failed,
     * otherwise the status and any (error) body. Runs at most once and not
     * after http_client_stream_close. */
    void (*closed)(struct http_client_stream *s, int status, const char *error, const char *body,
                   void *arg);
};

/* POSTs body on a dedicated connection and delivers the response body as it
 * streams in. */
struct http_client_stream *http_client_stream_open(struct event_base *base, const char *host,
                                                   int port, const char *path,
                                                   const struct http_header *headers,
                                                   const void *body, size_t len,
                                                   const struct http_stream_callbacks *cbs,
                                                   void *arg);
void http_client_stream_close(struct http_client_stream *s);

#endif
