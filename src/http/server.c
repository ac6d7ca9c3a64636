/* HTTP server over evhttp: one generic callback decodes the request, applies
 * limits and dispatches by path. Streams keep the evhttp request open and
 * write chunks until either side ends them. */
#include "http/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "wire/json.h"

#define LOG_COMPONENT "http"

struct route {
    char *path;
    size_t len;
    int prefix;
    http_handler_fn fn;
    void *arg;
};

struct http_server {
    struct event_base *base;
    struct evhttp *http;
    struct route *routes;
    size_t n_routes;
    /* Out of file descriptors, accept() fails and the pending connection
     * stays, so the listener would wake the loop forever. A descriptor kept
     * in reserve is given up to accept and close what waits; failing that
     * the listener pauses (accept_resume). */
    int reserve_fd;
    struct evconnlistener *listener;
    struct event *accept_resume;
    uint64_t accept_rejected;
    time_t accept_warned;
};

struct http_stream {
    struct evhttp_request *ev;
    struct evhttp_connection *conn;
    http_stream_closed_fn closed_fn;
    void *arg;
    int dead;        /* the peer went away; ev must not be touched */
    char peer[64];
};

static void dispatch(struct evhttp_request *ev, void *arg);

/* The listener's callbacks get evhttp's argument, not ours: bound servers
 * are found by their listener (a daemon binds one or two). */
static struct {
    struct evconnlistener *listener;
    struct http_server *server;
} bound[16];

struct http_server *http_server_new(struct event_base *base, const struct http_server_options *opts)
{
    struct http_server *s = XNEW(struct http_server);
    s->base = base;
    s->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    s->listener = NULL;
    s->accept_resume = NULL;
    s->accept_rejected = 0;
    s->accept_warned = 0;
    s->http = evhttp_new(base);
    if (s->http == NULL) {
        if (s->reserve_fd >= 0)
            close(s->reserve_fd);
        free(s);
        return NULL;
    }
    evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                            EVHTTP_REQ_DELETE | EVHTTP_REQ_HEAD |
                                            EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
    if (opts != NULL) {
        if (opts->max_body_bytes)
            evhttp_set_max_body_size(s->http, (ev_ssize_t)opts->max_body_bytes);
        if (opts->max_header_bytes)
            evhttp_set_max_headers_size(s->http, (ev_ssize_t)opts->max_header_bytes);
        if (opts->idle_timeout_secs)
            evhttp_set_timeout(s->http, opts->idle_timeout_secs);
    }
    /* Responses say what they are; empty ones (204, 202, /health) nothing. */
    evhttp_set_default_content_type(s->http, NULL);
    evhttp_set_gencb(s->http, dispatch, s);
    return s;
}

void http_server_free(struct http_server *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < sizeof(bound) / sizeof(bound[0]); i++)
        if (bound[i].server == s) {
            bound[i].listener = NULL;
            bound[i].server = NULL;
        }
    evhttp_free(s->http);
    if (s->accept_resume != NULL)
        event_free(s->accept_resume);
    if (s->reserve_fd >= 0)
        close(s->reserve_fd);
    for (size_t i = 0; i < s->n_routes; i++)
        free(s->routes[i].path);
    free(s->routes);
    free(s);
}

static void accept_resume_cb(evutil_socket_t fd, short what, void *arg)
{
    struct http_server *s = arg;
    (void)fd;
    (void)what;
    if (s->reserve_fd < 0)
        s->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    evconnlistener_enable(s->listener);
}

static void accept_error_cb(struct evconnlistener *l, void *arg)
{
    struct http_server *s = NULL;
    int e = EVUTIL_SOCKET_ERROR();
    (void)arg;
    for (size_t i = 0; i < sizeof(bound) / sizeof(bound[0]) && s == NULL; i++)
        if (bound[i].listener == l)
            s = bound[i].server;
    if (s == NULL)
        return;
    if (e != EMFILE && e != ENFILE && e != ENOBUFS && e != ENOMEM) {
        log_warn("accept: %s", strerror(e));
        return;
    }
    evutil_socket_t lfd = evconnlistener_get_fd(l);
    int rejected = 0;
    if (s->reserve_fd >= 0) {
        close(s->reserve_fd);
        s->reserve_fd = -1;
        /* Closed at once, the clients see their connection end and retry. */
        for (int fd; rejected < 256 && (fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0;
             rejected++)
            close(fd);
        s->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    }
    s->accept_rejected += (uint64_t)rejected;
    if (rejected == 0 || s->reserve_fd < 0) {
        /* Nothing could be done now: wait for descriptors to come free. */
        struct timeval tv = {0, 100 * 1000};
        s->listener = l;
        evconnlistener_disable(l);
        event_add(s->accept_resume, &tv);
    }
    if (time(NULL) == s->accept_warned)
        return;
    s->accept_warned = time(NULL);
    log_warn("out of file descriptors (%s): %d connections refused, %llu in all", strerror(e),
             rejected, (unsigned long long)s->accept_rejected);
}

int http_server_bind(struct http_server *s, const char *ip, int port, int *bound_port,
                     struct error *err)
{
    struct evhttp_bound_socket *h = evhttp_bind_socket_with_handle(s->http, ip, (ev_uint16_t)port);
    if (h == NULL)
        return error_set(err, -EADDRINUSE, "cannot listen on %s:%d: %s", ip, port,
                         strerror(errno));
    /* libevent listens with a backlog of 128: thousands of agents
     * reconnecting at once would see SYNs dropped and retry only after a
     * second. The kernel caps this at net.core.somaxconn. */
    listen(evhttp_bound_socket_get_fd(h), 4096);
    s->listener = evhttp_bound_socket_get_listener(h);
    if (s->accept_resume == NULL)
        s->accept_resume = evtimer_new(s->base, accept_resume_cb, s);
    for (size_t i = 0; i < sizeof(bound) / sizeof(bound[0]); i++) {
        if (bound[i].listener == NULL) {
            bound[i].listener = s->listener;
            bound[i].server = s;
            evconnlistener_set_error_cb(s->listener, accept_error_cb);
            break;
        }
    }
    if (bound_port != NULL) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        evutil_socket_t fd = evhttp_bound_socket_get_fd(h);
        if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
            return error_set(err, -errno, "getsockname: %s", strerror(errno));
        if (ss.ss_family == AF_INET)
            *bound_port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        else
            *bound_port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
    return 0;
}

static void add_route(struct http_server *s, const char *path, int prefix, http_handler_fn fn,
                      void *arg)
{
    s->routes = xrealloc(s->routes, (s->n_routes + 1) * sizeof(*s->routes));
    s->routes[s->n_routes++] = (struct route){xstrdup(path), strlen(path), prefix, fn, arg};
}

void http_server_route(struct http_server *s, const char *path, http_handler_fn fn, void *arg)
{
    add_route(s, path, 0, fn, arg);
}

void http_server_route_prefix(struct http_server *s, const char *prefix, http_handler_fn fn,
                              void *arg)
{
    add_route(s, prefix, 1, fn, arg);
}

static const struct route *find_route(const struct http_server *s, const char *path)
{
    const struct route *best = NULL;
    for (size_t i = 0; i < s->n_routes; i++) {
        const struct route *r = &s->routes[i];
        if (!r->prefix) {
            if (strcmp(r->path, path) == 0)
                return r;
        } else if (strncmp(r->path, path, r->len) == 0 && (best == NULL || r->len > best->len)) {
            best = r;
        }
    }
    return best;
}

const char *http_method_name(enum evhttp_cmd_type m)
{
    switch (m) {
    case EVHTTP_REQ_GET: return "GET";
    case EVHTTP_REQ_POST: return "POST";
    case EVHTTP_REQ_HEAD: return "HEAD";
    case EVHTTP_REQ_PUT: return "PUT";
    case EVHTTP_REQ_DELETE: return "DELETE";
    case EVHTTP_REQ_OPTIONS: return "OPTIONS";
    case EVHTTP_REQ_TRACE: return "TRACE";
    case EVHTTP_REQ_CONNECT: return "CONNECT";
    case EVHTTP_REQ_PATCH: return "PATCH";
    }
    return "?";
}

static void format_peer(struct evhttp_connection *conn, char *out, size_t n)
{
    char *addr = NULL;
    ev_uint16_t port = 0;
    evhttp_connection_get_peer(conn, &addr, &port);
    snprintf(out, n, "%s:%u", addr ? addr : "?", (unsigned)port);
}

static void dispatch(struct evhttp_request *ev, void *arg)
{
    struct http_server *s = arg;
    struct http_request req = {0};
    char *path = NULL;
    struct evhttp_uri *uri = NULL;

    req.ev = ev;
    req.server = s;
    req.method = evhttp_request_get_command(ev);
    format_peer(evhttp_request_get_connection(ev), req.peer, sizeof(req.peer));

    const char *raw = evhttp_request_get_uri(ev);
    if (raw == NULL) {
        /* libevent's error path for a broken connection: nothing to route. */
        evhttp_send_error(ev, 400, NULL);
        return;
    }
    uri = evhttp_uri_parse_with_flags(raw, EVHTTP_URI_NONCONFORMANT);
    const char *raw_path = uri ? evhttp_uri_get_path(uri) : NULL;
    if (raw_path == NULL || raw_path[0] == '\0')
        raw_path = "/";
    size_t path_len = 0;
    path = evhttp_uridecode(raw_path, 0, &path_len);
    /* A path whose decoding holds a NUL byte would route as a shorter one. */
    if (uri == NULL || path == NULL || strlen(path) != path_len) {
        http_respond_error(&req, 400, "Malformed request URI");
        goto out;
    }
    req.path = path;
    req.query = evhttp_uri_get_query(uri);

    struct evbuffer *in = evhttp_request_get_input_buffer(ev);
    size_t len = evbuffer_get_length(in);
    /* One contiguous, NUL-terminated copy so decoders can parse in place. */
    evbuffer_add(in, "", 1);
    req.body = (const char *)evbuffer_pullup(in, -1);
    req.body_len = len;

    const struct route *r = find_route(s, path);
    if (r == NULL) {
        http_respond_empty(&req, 404);
        goto out;
    }
    r->fn(&req, r->arg);

out:
    if (req.params_parsed_)
        evhttp_clear_headers(&req.params_);
    free(path);
    if (uri)
        evhttp_uri_free(uri);
}

const char *http_request_header(const struct http_request *req, const char *name)
{
    return evhttp_find_header(evhttp_request_get_input_headers(req->ev), name);
}

const char *http_request_query_param(struct http_request *req, const char *name)
{
    if (req->query == NULL)
        return NULL;
    if (!req->params_parsed_) {
        TAILQ_INIT(&req->params_);
        req->params_parsed_ = 1;
        if (evhttp_parse_query_str(req->query, &req->params_) != 0)
            return NULL;
    }
    return evhttp_find_header(&req->params_, name);
}

void http_response_header(struct http_request *req, const char *name, const char *value)
{
    evhttp_add_header(evhttp_request_get_output_headers(req->ev), name, value);
}

static const char *reason_phrase(int code)
{
    switch (code) {
    case 200: return "OK";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 307: return "Temporary Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 409: return "Conflict";
    case 413: return "Request Entity Too Large";
    case 415: return "Unsupported Media Type";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    }
    return "";
}

void http_respond(struct http_request *req, int code, const char *content_type, const void *body,
                  size_t len)
{
    struct evbuffer *out = evbuffer_new();
    if (len > 0)
        evbuffer_add(out, body, len);
    if (content_type != NULL)
        http_response_header(req, "Content-Type", content_type);
    evhttp_send_reply(req->ev, code, reason_phrase(code), out);
    evbuffer_free(out);
}

void http_respond_buf(struct http_request *req, int code, const char *content_type,
                      const struct buf *body)
{
    http_respond(req, code, content_type, buf_cstr(body), body->len);
}

void http_respond_error(struct http_request *req, int code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof(msg))
        n = sizeof(msg) - 1;
    log_debug("%s %s from %s: %d %s", http_method_name(req->method), req->path ? req->path : "?",
              req->peer, code, msg);
    http_respond(req, code, "text/plain; charset=utf-8", msg, (size_t)n);
}

void http_respond_file(struct http_request *req, const char *content_type, int fd, size_t size)
{
    struct evbuffer *out = evbuffer_new();
    if (size > 0)
        evbuffer_add_file(out, fd, 0, (ev_off_t)size);
    else
        close(fd);
    if (content_type != NULL)
        http_response_header(req, "Content-Type", content_type);
    evhttp_send_reply(req->ev, 200, "OK", out);
    evbuffer_free(out);
}

void http_respond_json(struct http_request *req, int code, json_t *value)
{
    struct buf out = BUF_INIT;
    wire_json_dump(value, &out);
    http_respond_buf(req, code, "application/json", &out);
    buf_free(&out);
    json_decref(value);
}

int http_require_get(struct http_request *req)
{
    if (req->method == EVHTTP_REQ_GET || req->method == EVHTTP_REQ_HEAD)
        return 1;
    http_respond_method_not_allowed(req, "GET");
    return 0;
}

void http_respond_empty(struct http_request *req, int code)
{
    http_respond(req, code, NULL, NULL, 0);
}

void http_respond_method_not_allowed(struct http_request *req, const char *allow)
{
    http_response_header(req, "Allow", allow);
    http_respond_error(req, 405, "Expecting one of { '%s' }, but received '%s'", allow,
                       http_method_name(req->method));
}

/* ---- streams ---- */

static void stream_conn_closed(struct evhttp_connection *conn, void *arg)
{
    struct http_stream *st = arg;
    (void)conn;
    if (st->dead)
        return;
    st->dead = 1;
    /* On EOF or timeout libevent detaches a request whose reply is still in
     * progress and leaves it to us; otherwise it frees it with the
     * connection. */
    if (st->ev != NULL && evhttp_request_get_connection(st->ev) == NULL)
        evhttp_request_free(st->ev);
    st->ev = NULL;
    st->conn = NULL;
    if (st->closed_fn != NULL)
        st->closed_fn(st, st->arg);
}

struct http_stream *http_stream_start(struct http_request *req, const char *content_type,
                                      http_stream_closed_fn closed_fn, void *arg)
{
    struct http_stream *st = XNEW(struct http_stream);
    st->ev = req->ev;
    st->conn = evhttp_request_get_connection(req->ev);
    st->closed_fn = closed_fn;
    st->arg = arg;
    snprintf(st->peer, sizeof(st->peer), "%s", req->peer);
    if (content_type != NULL)
        http_response_header(req, "Content-Type", content_type);
    /* The stream holds the connection until either side closes it. */
    http_response_header(req, "Connection", "close");
    evhttp_connection_set_closecb(st->conn, stream_conn_closed, st);
    /* Liveness of a stream is the protocol's business (heartbeats); the
     * socket must not time out between events. */
    struct timeval tv = {365 * 24 * 3600, 0};
    evhttp_connection_set_timeout_tv(st->conn, &tv);
    evhttp_send_reply_start(req->ev, 200, "OK");
    return st;
}

int http_stream_send(struct http_stream *st, const void *data, size_t len)
{
    if (st->dead)
        return -EPIPE;
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, data, len);
    evhttp_send_reply_chunk(st->ev, b);
    evbuffer_free(b);
    return 0;
}

size_t http_stream_pending(const struct http_stream *st)
{
    if (st->dead)
        return 0;
    struct bufferevent *bev = evhttp_connection_get_bufferevent(st->conn);
    return bev ? evbuffer_get_length(bufferevent_get_output(bev)) : 0;
}

void http_stream_close(struct http_stream *st)
{
    if (st == NULL)
        return;
    if (!st->dead) {
        evhttp_connection_set_closecb(st->conn, NULL, NULL);
        evhttp_send_reply_end(st->ev);
    }
    free(st);
}

const char *http_stream_peer(const struct http_stream *st) { return st->peer; }
