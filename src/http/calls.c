/* One-shot HTTP calls with pipelining: every request is written to one
 * keep-alive connection as soon as it is made, and responses are matched to
 * requests in order. Many calls then share a round trip and a write, and
 * calls keep the order they were made in (which the Mesos APIs rely on).
 * (Streams, which hold a connection for good, live in client.c.) */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "http/client.h"

#define LOG_COMPONENT "http"

/* A connection idle this long is closed by us, well before servers (ours
 * close after 300 s) would close it under a request we are writing. */
#define IDLE_CLOSE_SECS 60
/* Limits on what a server may send back. */
#define MAX_HEADER_BYTES (64 * 1024)
#define MAX_BODY_BYTES (256u * 1024 * 1024)

TAILQ_HEAD(call_list, http_call);

struct http_call {
    TAILQ_ENTRY(http_call) link;
    http_reply_fn cb;
    void *arg;
    int cancelled;
    int head;                      /* a HEAD request: the response has no body */
};

enum parse_state { P_STATUS, P_HEADERS, P_BODY, P_CHUNK_SIZE, P_CHUNK_DATA, P_CHUNK_CRLF,
                   P_TRAILERS, P_UNTIL_CLOSE };

struct http_client {
    struct event_base *base;
    char host[256];
    int port;
    double timeout_secs;
    struct bufferevent *bev;       /* NULL while disconnected */
    struct call_list inflight;     /* written, answer pending, in order */
    struct event *idle_timer;
    /* The response being read. */
    enum parse_state state;
    int status;
    struct evkeyvalq headers;
    struct buf body;
    size_t remaining;
    int close_after;               /* the response said Connection: close */
    size_t header_bytes;
    /* Re-entrancy: the owner may free the client from a callback. */
    int depth;
    int freed;
};

const char *http_reply_header(const struct http_reply *r, const char *name)
{
    if (r->headers == NULL)
        return NULL;
    return evhttp_find_header((struct evkeyvalq *)r->headers, name);
}

static void parser_reset(struct http_client *c)
{
    c->state = P_STATUS;
    c->status = 0;
    evhttp_clear_headers(&c->headers);
    TAILQ_INIT(&c->headers);
    buf_reset(&c->body);
    c->remaining = 0;
    c->close_after = 0;
    c->header_bytes = 0;
}

static void release(struct http_client *c)
{
    struct http_call *call;
    while ((call = TAILQ_FIRST(&c->inflight)) != NULL) {
        TAILQ_REMOVE(&c->inflight, call, link);
        free(call);
    }
    if (c->bev != NULL)
        bufferevent_free(c->bev);
    if (c->idle_timer != NULL)
        event_free(c->idle_timer);
    evhttp_clear_headers(&c->headers);
    buf_free(&c->body);
    free(c);
}

static void arm_idle_timer(struct http_client *c)
{
    if (c->bev == NULL)
        return;
    struct timeval tv = {IDLE_CLOSE_SECS, 0};
    evtimer_add(c->idle_timer, &tv);
}

static void set_read_timeout(struct http_client *c)
{
    if (c->bev == NULL)
        return;
    if (!TAILQ_EMPTY(&c->inflight) && c->timeout_secs > 0) {
        struct timeval tv = clock_timeval(c->timeout_secs);
        bufferevent_set_timeouts(c->bev, &tv, NULL);
        evtimer_del(c->idle_timer);
    } else {
        bufferevent_set_timeouts(c->bev, NULL, NULL);
        arm_idle_timer(c);
    }
}

/* Drops the connection and fails every call still waiting on it. */
static void fail_all(struct http_client *c, const char *why)
{
    if (c->bev != NULL) {
        bufferevent_free(c->bev);
        c->bev = NULL;
    }
    evtimer_del(c->idle_timer);
    parser_reset(c);
    struct call_list failed;
    TAILQ_INIT(&failed);
    TAILQ_CONCAT(&failed, &c->inflight, link);
    c->depth++;
    struct http_call *call;
    while ((call = TAILQ_FIRST(&failed)) != NULL) {
        TAILQ_REMOVE(&failed, call, link);
        if (!call->cancelled && !c->freed && call->cb != NULL) {
            struct http_reply reply = {.status = 0, .error = why, .body = "", .len = 0};
            call->cb(&reply, call->arg);
        }
        free(call);
    }
    c->depth--;
}

/* Hands the parsed response to the call at the head of the queue. */
static void complete(struct http_client *c)
{
    struct http_call *call = TAILQ_FIRST(&c->inflight);
    if (call != NULL) {
        TAILQ_REMOVE(&c->inflight, call, link);
        if (!call->cancelled && call->cb != NULL) {
            struct http_reply reply = {
                .status = c->status,
                .body = buf_cstr(&c->body),
                .len = c->body.len,
                .headers = &c->headers,
            };
            c->depth++;
            call->cb(&reply, call->arg);
            c->depth--;
        }
        free(call);
    }
    int close_after = c->close_after;
    parser_reset(c);
    if (close_after && !c->freed)
        fail_all(c, "connection closed by the server");
}

/* The status line and headers; returns 0 when more bytes are needed, 1 when
 * the head is complete, -1 on a malformed response. */
static int parse_line(struct http_client *c, struct evbuffer *in)
{
    size_t n = 0;
    char *line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF);
    if (line == NULL)
        return evbuffer_get_length(in) > MAX_HEADER_BYTES ? -1 : 0;
    c->header_bytes += n + 2;
    int rc = 1;
    if (c->header_bytes > MAX_HEADER_BYTES) {
        rc = -1;
    } else if (c->state == P_STATUS) {
        int major = 0, minor = 0, status = 0;
        if (sscanf(line, "HTTP/%d.%d %d", &major, &minor, &status) != 3 || status < 100 ||
            status > 999)
            rc = -1;
        c->status = status;
        c->state = P_HEADERS;
        /* HTTP/1.0 answers end with the connection. */
        c->close_after = major == 1 && minor == 0;
    } else if (n == 0) {
        if (c->state == P_TRAILERS) {
            c->state = P_STATUS;
            free(line);
            return 2;   /* the chunked body is complete */
        }
        /* The end of the head: what kind of body follows. */
        const char *te = evhttp_find_header(&c->headers, "Transfer-Encoding");
        const char *cl = evhttp_find_header(&c->headers, "Content-Length");
        const char *conn = evhttp_find_header(&c->headers, "Connection");
        if (conn != NULL && strcasecmp(conn, "close") == 0)
            c->close_after = 1;
        struct http_call *call = TAILQ_FIRST(&c->inflight);
        if ((call != NULL && call->head) || c->status == 204 || c->status == 304 ||
            c->status < 200) {
            c->state = P_BODY;
            c->remaining = 0;
        } else if (te != NULL && strcasecmp(te, "chunked") == 0) {
            c->state = P_CHUNK_SIZE;
        } else if (cl != NULL) {
            char *end = NULL;
            unsigned long long len = strtoull(cl, &end, 10);
            if (end == cl || *end != '\0' || len > MAX_BODY_BYTES)
                rc = -1;
            c->state = P_BODY;
            c->remaining = (size_t)len;
        } else {
            c->state = P_UNTIL_CLOSE;
            c->close_after = 1;
        }
    } else if (c->state == P_HEADERS || c->state == P_TRAILERS) {
        char *colon = strchr(line, ':');
        if (colon == NULL) {
            rc = -1;
        } else if (c->state == P_HEADERS) {
            *colon = '\0';
            char *v = colon + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            size_t vl = strlen(v);
            while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
                v[--vl] = '\0';
            evhttp_add_header(&c->headers, line, v);
        }
    }
    free(line);
    return rc;
}

static void on_read(struct bufferevent *bev, void *arg)
{
    struct http_client *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    c->depth++;
    while (!c->freed && c->bev == bev) {
        if (c->state == P_STATUS || c->state == P_HEADERS || c->state == P_TRAILERS) {
            if (c->state == P_STATUS && TAILQ_EMPTY(&c->inflight)) {
                if (evbuffer_get_length(in) > 0) {
                    fail_all(c, "unexpected data from the server");
                }
                break;
            }
            int rc = parse_line(c, in);
            if (rc == 0)
                break;
            if (rc < 0) {
                fail_all(c, "malformed response");
                break;
            }
            if (rc == 2)
                complete(c);
            continue;
        }
        if (c->state == P_BODY) {
            size_t avail = evbuffer_get_length(in);
            size_t take = avail < c->remaining ? avail : c->remaining;
            if (take > 0) {
                buf_reserve(&c->body, take);
                evbuffer_remove(in, c->body.data + c->body.len, take);
                c->body.len += take;
                c->body.data[c->body.len] = '\0';
                c->remaining -= take;
            }
            if (c->remaining > 0)
                break;
            complete(c);
            continue;
        }
        if (c->state == P_CHUNK_SIZE) {
            size_t n = 0;
            char *line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF);
            if (line == NULL)
                break;
            char *end = NULL;
            unsigned long long size = strtoull(line, &end, 16);
            int bad = end == line || (*end != '\0' && *end != ';') ||
                      c->body.len + size > MAX_BODY_BYTES;
            free(line);
            if (bad) {
                fail_all(c, "malformed chunked response");
                break;
            }
            c->remaining = (size_t)size;
            c->state = size == 0 ? P_TRAILERS : P_CHUNK_DATA;
            continue;
        }
        if (c->state == P_CHUNK_DATA) {
            size_t avail = evbuffer_get_length(in);
            size_t take = avail < c->remaining ? avail : c->remaining;
            if (take > 0) {
                buf_reserve(&c->body, take);
                evbuffer_remove(in, c->body.data + c->body.len, take);
                c->body.len += take;
                c->body.data[c->body.len] = '\0';
                c->remaining -= take;
            }
            if (c->remaining > 0)
                break;
            c->state = P_CHUNK_CRLF;
            continue;
        }
        if (c->state == P_CHUNK_CRLF) {
            if (evbuffer_get_length(in) < 2)
                break;
            char crlf[2];
            evbuffer_remove(in, crlf, 2);
            if (crlf[0] != '\r' || crlf[1] != '\n') {
                fail_all(c, "malformed chunked response");
                break;
            }
            c->state = P_CHUNK_SIZE;
            continue;
        }
        /* P_UNTIL_CLOSE: collect until the server closes. */
        size_t avail = evbuffer_get_length(in);
        if (avail > 0 && c->body.len + avail <= MAX_BODY_BYTES) {
            buf_reserve(&c->body, avail);
            evbuffer_remove(in, c->body.data + c->body.len, avail);
            c->body.len += avail;
            c->body.data[c->body.len] = '\0';
        } else if (avail > 0) {
            fail_all(c, "response too large");
        }
        break;
    }
    c->depth--;
    if (c->freed && c->depth == 0) {
        release(c);
        return;
    }
    set_read_timeout(c);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    struct http_client *c = arg;
    (void)bev;
    if (what & BEV_EVENT_CONNECTED)
        return;
    c->depth++;
    if ((what & BEV_EVENT_EOF) && c->state == P_UNTIL_CLOSE) {
        /* This response's body ends with the connection. */
        complete(c);
    }
    const char *why = (what & BEV_EVENT_TIMEOUT) ? "timed out"
                      : (what & BEV_EVENT_EOF)   ? "connection closed"
                                                 : "connection failed";
    if (!c->freed)
        fail_all(c, why);
    c->depth--;
    if (c->freed && c->depth == 0)
        release(c);
}

static void on_idle(evutil_socket_t fd, short what, void *arg)
{
    struct http_client *c = arg;
    (void)fd;
    (void)what;
    if (c->bev != NULL && TAILQ_EMPTY(&c->inflight)) {
        bufferevent_free(c->bev);
        c->bev = NULL;
        parser_reset(c);
    }
}

static int ensure_connection(struct http_client *c)
{
    if (c->bev != NULL)
        return 0;
    c->bev = bufferevent_socket_new(c->base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (c->bev == NULL)
        return -ENOMEM;
    bufferevent_setcb(c->bev, on_read, NULL, on_event, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    parser_reset(c);
    if (bufferevent_socket_connect_hostname(c->bev, NULL, AF_UNSPEC, c->host, c->port) != 0) {
        bufferevent_free(c->bev);
        c->bev = NULL;
        return -ECONNREFUSED;
    }
    return 0;
}

struct http_client *http_client_new(struct event_base *base, const char *host, int port,
                                    double timeout_secs)
{
    struct http_client *c = XNEW(struct http_client);
    c->base = base;
    snprintf(c->host, sizeof(c->host), "%s", host);
    c->port = port;
    c->timeout_secs = timeout_secs;
    TAILQ_INIT(&c->inflight);
    TAILQ_INIT(&c->headers);
    c->idle_timer = evtimer_new(base, on_idle, c);
    return c;
}

const char *http_client_host(const struct http_client *c) { return c->host; }
int http_client_port(const struct http_client *c) { return c->port; }

void http_client_free(struct http_client *c)
{
    if (c == NULL)
        return;
    struct http_call *call;
    TAILQ_FOREACH(call, &c->inflight, link)
        call->cancelled = 1;
    c->freed = 1;
    if (c->depth == 0)
        release(c);
}

struct http_call *http_client_request(struct http_client *c, const char *method, const char *path,
                                      const struct http_header *headers, const void *body,
                                      size_t len, http_reply_fn cb, void *arg)
{
    if (c->freed)
        return NULL;
    struct http_call *call = XNEW(struct http_call);
    call->cb = cb;
    call->arg = arg;
    call->head = strcmp(method, "HEAD") == 0;
    if (ensure_connection(c) != 0) {
        free(call);
        return NULL;
    }
    struct evbuffer *out = bufferevent_get_output(c->bev);
    evbuffer_add_printf(out, "%s %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Length: %zu\r\n", method,
                        path, c->host, c->port, len);
    for (const struct http_header *h = headers; h != NULL && h->name != NULL; h++)
        evbuffer_add_printf(out, "%s: %s\r\n", h->name, h->value);
    evbuffer_add(out, "\r\n", 2);
    if (len > 0)
        evbuffer_add(out, body, len);
    TAILQ_INSERT_TAIL(&c->inflight, call, link);
    set_read_timeout(c);
    return call;
}

void http_call_cancel(struct http_call *call)
{
    if (call != NULL)
        call->cancelled = 1;
}
