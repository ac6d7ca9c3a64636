/* HTTP client over evhttp connections. libevent may still touch a request or
 * connection after our callback returns, so objects the owner frees from
 * inside a callback are only marked dead and released on the next loop turn. */
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

TAILQ_HEAD(call_list, http_call);

struct http_call {
    TAILQ_ENTRY(http_call) link;
    struct call_list *list;         /* the client's calls, or a grave's */
    struct http_client *client;     /* NULL once the client is freed */
    struct evhttp_request *req;   /* NULL once libevent has finished with it */
    http_reply_fn cb;
    void *arg;
    int cancelled;
    enum evhttp_request_error error;
    int has_error;
};

struct http_client {
    struct event_base *base;
    struct evhttp_connection *conn;
    char host[256];
    int port;
    double timeout_secs;
    struct call_list calls;
};

/* A freed client's connection and the calls still in flight on it: kept
 * until the next loop turn, when the connection is freed (which drops its
 * requests without callbacks) and then the calls. Until then libevent may
 * still run a call's callback, which must find its record. */
struct grave {
    struct evhttp_connection *conn;
    struct call_list calls;
};

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

static enum evhttp_cmd_type parse_method(const char *m)
{
    if (strcmp(m, "GET") == 0) return EVHTTP_REQ_GET;
    if (strcmp(m, "PUT") == 0) return EVHTTP_REQ_PUT;
    if (strcmp(m, "DELETE") == 0) return EVHTTP_REQ_DELETE;
    if (strcmp(m, "HEAD") == 0) return EVHTTP_REQ_HEAD;
    return EVHTTP_REQ_POST;
}

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

const char *http_reply_header(const struct http_reply *r, const char *name)
{
    if (r->headers == NULL)
        return NULL;
    return evhttp_find_header((struct evkeyvalq *)r->headers, name);
}

/* ---- calls ---- */

static struct evhttp_connection *client_connection(struct http_client *c)
{
    if (c->conn == NULL) {
        c->conn = evhttp_connection_base_new(c->base, NULL, c->host, (ev_uint16_t)c->port);
        if (c->conn != NULL && c->timeout_secs > 0) {
            struct timeval tv = clock_timeval(c->timeout_secs);
            evhttp_connection_set_timeout_tv(c->conn, &tv);
        }
    }
    return c->conn;
}

struct http_client *http_client_new(struct event_base *base, const char *host, int port,
                                    double timeout_secs)
{
    struct http_client *c = XNEW(struct http_client);
    c->base = base;
    snprintf(c->host, sizeof(c->host), "%s", host);
    c->port = port;
    c->timeout_secs = timeout_secs;
    TAILQ_INIT(&c->calls);
    return c;
}

const char *http_client_host(const struct http_client *c) { return c->host; }
int http_client_port(const struct http_client *c) { return c->port; }

static void call_release(struct http_call *call)
{
    TAILQ_REMOVE(call->list, call, link);
    free(call);
}

static void grave_release(evutil_socket_t fd, short what, void *arg)
{
    struct grave *g = arg;
    (void)fd;
    (void)what;
    if (g->conn != NULL)
        evhttp_connection_free(g->conn);
    struct http_call *call;
    while ((call = TAILQ_FIRST(&g->calls)) != NULL)
        call_release(call);
    free(g);
}

void http_client_free(struct http_client *c)
{
    if (c == NULL)
        return;
    struct grave *g = XNEW(struct grave);
    g->conn = c->conn;
    TAILQ_INIT(&g->calls);
    struct http_call *call;
    while ((call = TAILQ_FIRST(&c->calls)) != NULL) {
        TAILQ_REMOVE(&c->calls, call, link);
        call->cancelled = 1;
        call->client = NULL;
        call->list = &g->calls;
        TAILQ_INSERT_TAIL(&g->calls, call, link);
    }
    struct timeval zero = {0, 0};
    if (event_base_once(c->base, -1, EV_TIMEOUT, grave_release, g, &zero) != 0)
        grave_release(-1, 0, g);
    free(c);
}

static void call_error(enum evhttp_request_error e, void *arg)
{
    struct http_call *call = arg;
    call->error = e;
    call->has_error = 1;
}

static void call_done(struct evhttp_request *req, void *arg)
{
    struct http_call *call = arg;
    struct http_reply reply = {0};
    struct buf body = BUF_INIT;
    call->req = NULL;
    if (call->cancelled) {
        /* A freed client's grave releases its calls itself. */
        if (call->client != NULL)
            call_release(call);
        return;
    }
    if (req != NULL && evhttp_request_get_response_code(req) > 0) {
        reply.status = evhttp_request_get_response_code(req);
        struct evbuffer *in = evhttp_request_get_input_buffer(req);
        size_t n = evbuffer_get_length(in);
        buf_reserve(&body, n);
        evbuffer_remove(in, body.data, n);
        body.len = n;
        body.data[n] = '\0';
        reply.body = body.data;
        reply.len = n;
        reply.headers = evhttp_request_get_input_headers(req);
    } else {
        reply.status = 0;
        reply.error = call->has_error ? request_error_text(call->error) : "connection failed";
        reply.body = "";
    }
    http_reply_fn cb = call->cb;
    void *cb_arg = call->arg;
    call_release(call);
    cb(&reply, cb_arg);
    buf_free(&body);
}

struct http_call *http_client_request(struct http_client *c, const char *method, const char *path,
                                      const struct http_header *headers, const void *body,
                                      size_t len, http_reply_fn cb, void *arg)
{
    struct http_call *call = XNEW(struct http_call);
    call->client = c;
    call->list = &c->calls;
    call->cb = cb;
    call->arg = arg;
    TAILQ_INSERT_TAIL(&c->calls, call, link);

    struct evhttp_connection *conn = client_connection(c);
    struct evhttp_request *req = conn ? evhttp_request_new(call_done, call) : NULL;
    if (req == NULL) {
        call_release(call);
        return NULL;
    }
    evhttp_request_set_error_cb(req, call_error);
    fill_request(req, c->host, c->port, headers, body, len);
    call->req = req;
    if (evhttp_make_request(conn, req, parse_method(method), path) != 0) {
        /* libevent has freed req. */
        call_release(call);
        return NULL;
    }
    return call;
}

void http_call_cancel(struct http_call *call)
{
    if (call == NULL)
        return;
    /* The request stays with libevent until its callback runs; we only stop
     * the callback from reaching the owner. */
    call->cancelled = 1;
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
    struct evbuffer_iovec vec[8];
    int n = evbuffer_peek(in, -1, NULL, vec, 8);
    if (n > 8) {
        evbuffer_pullup(in, -1);
        n = evbuffer_peek(in, -1, NULL, vec, 1);
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
