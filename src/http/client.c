/* HTTP client streams (a POST whose response is an endless event stream, on
 * a connection of its own) over evhttp, and endpoint parsing. libevent may
 * still touch a request or connection after our callback returns, so a
 * stream the owner closes from inside a callback is only marked dead and
 * released on the next loop turn. One-shot calls are in calls.c. */
#include "http/client.h"

#include <ctype.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "common/clock.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/xalloc.h"

#define LOG_COMPONENT "http"

/* Streams are idle between heartbeats for as long as their protocol allows;
 * liveness is the protocol's business (heartbeats), not the socket's. */
#define STREAM_IO_TIMEOUT_SECS (365 * 24 * 3600)

struct http_client_stream {
    struct event_base *base;
    struct evhttp_connection *conn;
    struct evhttp_request *req;
    struct http_stream_callbacks cbs;
    void *arg;
    int status;
    int closed;                    /* owner closed it or closed() ran */
    struct buf error_body;
    enum evhttp_request_error error;
    int has_error;
};

static void collect_error_body(struct http_client_stream *s, struct evbuffer *in);

/* ---- endpoints ---- */

int http_endpoint_parse(const char *text, int default_port, struct http_endpoint *ep,
                        struct error *err)
{
    memset(ep, 0, sizeof(*ep));
    const char *p = text;
    if (strncmp(p, "http://", 7) == 0)
        p += 7;
    else if (strncmp(p, "https://", 8) == 0)
        return error_set(err, -ENOTSUP, "'%s': https is not supported here", text);
    else if (strncmp(p, "//", 2) == 0)
        p += 2;
    const char *slash = strchr(p, '/');
    size_t hostport_len = slash ? (size_t)(slash - p) : strlen(p);
    if (hostport_len == 0 || hostport_len >= sizeof(ep->host))
        return error_set(err, -EINVAL, "'%s': expected HOST:PORT", text);
    char hostport[256];
    memcpy(hostport, p, hostport_len);
    hostport[hostport_len] = '\0';
    /* Strip "user@" or libprocess "master@" prefixes. */
    char *at = strrchr(hostport, '@');
    char *host = at ? at + 1 : hostport;
    char *colon = strrchr(host, ':');
    ep->port = default_port;
    if (colon != NULL && strchr(host, ']') < colon) {
        *colon = '\0';
        char *end = NULL;
        long port = strtol(colon + 1, &end, 10);
        if (end == colon + 1 || *end != '\0' || port <= 0 || port > 65535)
            return error_set(err, -EINVAL, "'%s': bad port", text);
        ep->port = (int)port;
    }
    if (host[0] == '[') {
        size_t n = strlen(host);
        if (n < 2 || host[n - 1] != ']')
            return error_set(err, -EINVAL, "'%s': bad IPv6 address", text);
        host[n - 1] = '\0';
        host++;
    }
    if (host[0] == '\0' || ep->port <= 0)
        return error_set(err, -EINVAL, "'%s': expected HOST:PORT", text);
    snprintf(ep->host, sizeof(ep->host), "%s", host);
    if (slash != NULL) {
        size_t n = strlen(slash);
        while (n > 0 && slash[n - 1] == '/')
            n--;
        if (n >= sizeof(ep->prefix))
            return error_set(err, -EINVAL, "'%s': path too long", text);
        memcpy(ep->prefix, slash, n);
        ep->prefix[n] = '\0';
    }
    return 0;
}

/* ---- shared helpers ---- */

static void fill_request(struct evhttp_request *req, const char *host, int port,
                         const struct http_header *headers, const void *body, size_t len)
{
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    char hostport[300];
    snprintf(hostport, sizeof(hostport), "%s:%d", host, port);
    evhttp_add_header(out, "Host", hostport);
    for (const struct http_header *h = headers; h != NULL && h->name != NULL; h++)
        evhttp_add_header(out, h->name, h->value);
    if (body != NULL && len > 0)
        evbuffer_add(evhttp_request_get_output_buffer(req), body, len);
}

static const char *request_error_text(enum evhttp_request_error e)
{
    switch (e) {
    case EVREQ_HTTP_TIMEOUT: return "timed out";
    case EVREQ_HTTP_EOF: return "connection closed";
    case EVREQ_HTTP_INVALID_HEADER: return "invalid response header";
    case EVREQ_HTTP_BUFFER_ERROR: return "connection error";
    case EVREQ_HTTP_REQUEST_CANCEL: return "cancelled";
    case EVREQ_HTTP_DATA_TOO_LONG: return "response too large";
    }
    return "connection failed";
}

/* ---- streams ---- */

static int stream_header_cb(struct evhttp_request *req, void *arg)
{
    struct http_client_stream *s = arg;
    if (s->closed)
        return -1;
    s->status = evhttp_request_get_response_code(req);
    if (s->cbs.opened != NULL)
        s->cbs.opened(s, s->status, evhttp_request_get_input_headers(req), s->arg);
    return s->closed ? -1 : 0;
}

static void stream_chunk_cb(struct evhttp_request *req, void *arg)
{
    struct http_client_stream *s = arg;
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    if (s->closed) {
        evbuffer_drain(in, evbuffer_get_length(in));
        return;
    }
    if (s->status != 200) {
        collect_error_body(s, in);
        return;
    }
    /* The length must be given: with -1, evbuffer_peek stops counting at
     * the vectors it was handed, and a chunk spread over more (a few tens
     * of kilobytes) would lose its tail to the drain below. */
    ev_ssize_t len = (ev_ssize_t)evbuffer_get_length(in);
    struct evbuffer_iovec vec[8];
    int n = evbuffer_peek(in, len, NULL, vec, 8);
    if (n > 8) {
        evbuffer_pullup(in, -1);
        n = evbuffer_peek(in, len, NULL, vec, 1);
    }
    for (int i = 0; i < n && !s->closed; i++)
        s->cbs.data(s, vec[i].iov_base, vec[i].iov_len, s->arg);
    evbuffer_drain(in, evbuffer_get_length(in));
}

static void stream_error_cb(enum evhttp_request_error e, void *arg)
{
    struct http_client_stream *s = arg;
    s->error = e;
    s->has_error = 1;
}

static void stream_release(evutil_socket_t fd, short what, void *arg)
{
    struct http_client_stream *s = arg;
    (void)fd;
    (void)what;
    /* Frees a request still in flight without running its callbacks. */
    if (s->conn != NULL)
        evhttp_connection_free(s->conn);
    buf_free(&s->error_body);
    free(s);
}

static void collect_error_body(struct http_client_stream *s, struct evbuffer *in)
{
    size_t n = evbuffer_get_length(in);
    if (n > 0 && s->error_body.len + n <= 64 * 1024) {
        buf_reserve(&s->error_body, n);
        evbuffer_remove(in, s->error_body.data + s->error_body.len, n);
        s->error_body.len += n;
        s->error_body.data[s->error_body.len] = '\0';
    }
    evbuffer_drain(in, evbuffer_get_length(in));
}

static void stream_done_cb(struct evhttp_request *req, void *arg)
{
    struct http_client_stream *s = arg;
    s->req = NULL;
    if (s->closed)
        return;
    s->closed = 1;
    int status = req ? evhttp_request_get_response_code(req) : 0;
    const char *error = NULL;
    if (status == 0)
        error = s->has_error ? request_error_text(s->error) : "connection failed";
    else if (status == 200)
        error = "stream ended";
    else
        collect_error_body(s, evhttp_request_get_input_buffer(req));
    /* The owner learns of the end and then calls http_client_stream_close. */
    if (s->cbs.closed != NULL)
        s->cbs.closed(s, status, error, buf_cstr(&s->error_body), s->arg);
}

struct http_client_stream *http_client_stream_open(struct event_base *base, const char *host,
                                                   int port, const char *path,
                                                   const struct http_header *headers,
                                                   const void *body, size_t len,
                                                   const struct http_stream_callbacks *cbs,
                                                   void *arg)
{
    struct http_client_stream *s = XNEW(struct http_client_stream);
    s->base = base;
    s->cbs = *cbs;
    s->arg = arg;
    s->conn = evhttp_connection_base_new(base, NULL, host, (ev_uint16_t)port);
    if (s->conn == NULL) {
        free(s);
        return NULL;
    }
    struct timeval tv = {STREAM_IO_TIMEOUT_SECS, 0};
    evhttp_connection_set_timeout_tv(s->conn, &tv);
    s->req = evhttp_request_new(stream_done_cb, s);
    evhttp_request_set_header_cb(s->req, stream_header_cb);
    evhttp_request_set_chunked_cb(s->req, stream_chunk_cb);
    evhttp_request_set_error_cb(s->req, stream_error_cb);
    fill_request(s->req, host, port, headers, body, len);
    if (evhttp_make_request(s->conn, s->req, EVHTTP_REQ_POST, path) != 0) {
        evhttp_connection_free(s->conn);
        free(s);
        return NULL;
    }
    return s;
}

void http_client_stream_close(struct http_client_stream *s)
{
    if (s == NULL)
        return;
    /* We may be inside one of the request's callbacks, after which libevent
     * still uses request and connection: release both on the next turn and
     * ignore whatever arrives meanwhile. */
    s->closed = 1;
    struct timeval zero = {0, 0};
    if (event_base_once(s->base, -1, EV_TIMEOUT, stream_release, s, &zero) != 0)
        stream_release(-1, 0, s);
}
