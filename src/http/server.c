/* HTTP server over evhttp: one generic callback decodes the request, applies
 * limits and dispatches by path. Streams keep the evhttp request open and
 * write chunks until either side ends them. */
#include "http/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http_struct.h>
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
#include <uthash.h>

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
    /* Pipelined answers (see "answers to pipelined requests" below). */
    struct conn_state *conns;            /* by connection */
    TAILQ_HEAD(, conn_state) answered;   /* answered in this loop turn */
    TAILQ_HEAD(, conn_state) held;       /* completed early, bytes maybe unsent */
    struct event *flush;                 /* runs answered_flush */
    struct event *release;               /* runs held_release, next loop turn */
};

struct conn_state {
    struct evhttp_connection *conn;      /* key */
    struct http_server *s;
    struct evhttp_request *answer;       /* answered, not yet completed */
    int in_answered, in_held;
    TAILQ_ENTRY(conn_state) answered_link;
    TAILQ_ENTRY(conn_state) held_link;
    struct event *drain;                 /* writes held bytes nobody else writes */
    struct http_deferred *deferred;      /* requests to be answered later */
    UT_hash_handle hh;
};

struct http_deferred {
    struct http_request req;             /* req.ev NULL once the client is gone */
    struct conn_state *c;
    struct http_deferred *next;          /* in c->deferred */
};

struct http_stream {
    struct evhttp_request *ev;
    struct evhttp_connection *conn;
    http_stream_closed_fn closed_fn;
    void *arg;
    int dead;        /* the peer went away; ev must not be touched */
    int chunked;     /* the response body is in HTTP/1.1 chunks */
    char peer[64];
};

static void dispatch(struct evhttp_request *ev, void *arg);
static void answered_flush(evutil_socket_t fd, short what, void *arg);
static void held_release(evutil_socket_t fd, short what, void *arg);
static void conn_state_free(struct conn_state *c);
static void held_drain(evutil_socket_t fd, short what, void *arg);

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
    s->conns = NULL;
    TAILQ_INIT(&s->answered);
    TAILQ_INIT(&s->held);
    s->flush = event_new(base, -1, 0, answered_flush, s);
    s->release = evtimer_new(base, held_release, s);
    s->http = evhttp_new(base);
    if (s->http == NULL) {
        if (s->reserve_fd >= 0)
            close(s->reserve_fd);
        event_free(s->flush);
        event_free(s->release);
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
    /* Frees the connections, whose close callbacks free their states. */
    evhttp_free(s->http);
    while (s->conns != NULL)
        conn_state_free(s->conns);
    event_free(s->flush);
    event_free(s->release);
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
    /* "%s:%u" by hand: this runs for every request, and printf showed up
     * in the master's profile. */
    char digits[8];
    size_t nd = 0;
    unsigned v = port;
    do {
        digits[sizeof(digits) - 1 - nd++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    const char *a = addr ? addr : "?";
    size_t na = strnlen(a, n);
    if (na + 1 + nd + 1 > n) {
        snprintf(out, n, "%s:%u", a, (unsigned)port);
        return;
    }
    memcpy(out, a, na);
    out[na] = ':';
    memcpy(out + na + 1, digits + sizeof(digits) - nd, nd);
    out[na + 1 + nd] = '\0';
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

/* ---- answers to pipelined requests ----
 * evhttp reads a connection's next request only once the answer to the
 * previous one has left the socket, so a client that pipelines calls (the
 * agents' status updates, a scheduler's acknowledgements) got one write and
 * one loop turn per call: the largest share of the master's time under
 * load. An answer from http_respond on a keep-alive connection whose next
 * request has already arrived is therefore completed at once (evhttp moves
 * on to that request in the same turn) while its bytes stay at the front of
 * the connection's output; later answers queue behind them, and the last
 * one is written by libevent as usual, all in one write. Answers keep their
 * order because there is only that one buffer. Should no later answer come
 * (the next request is still incomplete), held_release writes the bytes on
 * the next loop turn. */

static void conn_state_free(struct conn_state *c)
{
    struct http_server *s = c->s;
    /* evhttp frees the requests with their connection. */
    for (struct http_deferred *d = c->deferred; d != NULL; d = d->next) {
        d->req.ev = NULL;
        d->c = NULL;
    }
    if (c->in_answered)
        TAILQ_REMOVE(&s->answered, c, answered_link);
    if (c->in_held)
        TAILQ_REMOVE(&s->held, c, held_link);
    if (c->drain != NULL)
        event_free(c->drain);
    HASH_DEL(s->conns, c);
    free(c);
}

static void conn_closed(struct evhttp_connection *conn, void *arg)
{
    (void)conn;
    conn_state_free(arg);
}

static void answer_completed(struct evhttp_request *ev, void *arg)
{
    struct conn_state *c = arg;
    if (c->answer == ev)
        c->answer = NULL;
}

/* Whether evhttp keeps the connection after this answer (HTTP/1.1, no
 * "Connection: close" either way): completing early a request after which
 * the connection closes would drop the bytes still held. */
static int answer_keeps_connection(struct evhttp_request *ev)
{
    if (evhttp_request_get_connection(ev) == NULL || ev->major != 1 || ev->minor < 1 ||
        (ev->flags & EVHTTP_PROXY_REQUEST))
        return 0;
    const char *in = evhttp_find_header(evhttp_request_get_input_headers(ev), "Connection");
    const char *out = evhttp_find_header(evhttp_request_get_output_headers(ev), "Connection");
    return (in == NULL || strcasecmp(in, "close") != 0) &&
           (out == NULL || strcasecmp(out, "close") != 0);
}

static struct conn_state *conn_state_get(struct http_server *s, struct evhttp_connection *conn)
{
    struct conn_state *c;
    HASH_FIND_PTR(s->conns, &conn, c);
    if (c == NULL) {
        c = XNEW(struct conn_state);
        c->conn = conn;
        c->s = s;
        evhttp_connection_set_closecb(conn, conn_closed, c);
        HASH_ADD_PTR(s->conns, conn, c);
    }
    return c;
}

static void answer_note(struct http_server *s, struct evhttp_request *ev)
{
    struct conn_state *c = conn_state_get(s, evhttp_request_get_connection(ev));
    c->answer = ev;
    evhttp_request_set_on_complete_cb(ev, answer_completed, c);
    if (!c->in_answered) {
        TAILQ_INSERT_TAIL(&s->answered, c, answered_link);
        c->in_answered = 1;
    }
    event_active(s->flush, EV_TIMEOUT, 0);
}

/* Runs after the handlers of this loop turn (never within one: the request
 * being answered must outlive its handler). */
static void answered_flush(evutil_socket_t fd, short what, void *arg)
{
    struct http_server *s = arg;
    struct conn_state *c;
    (void)fd;
    (void)what;
    while ((c = TAILQ_FIRST(&s->answered)) != NULL) {
        TAILQ_REMOVE(&s->answered, c, answered_link);
        c->in_answered = 0;
        struct bufferevent *bev = evhttp_connection_get_bufferevent(c->conn);
        /* Already written and completed, or nothing waits behind it. */
        if (c->answer == NULL || bev == NULL ||
            evbuffer_get_length(bufferevent_get_output(bev)) == 0 ||
            evbuffer_get_length(bufferevent_get_input(bev)) == 0)
            continue;
        bufferevent_data_cb writecb = NULL;
        void *cbarg = NULL;
        bufferevent_getcb(bev, NULL, &writecb, NULL, &cbarg);
        if (writecb == NULL)
            continue;
        if (!c->in_held) {
            TAILQ_INSERT_TAIL(&s->held, c, held_link);
            c->in_held = 1;
        }
        if (!evtimer_pending(s->release, NULL)) {
            struct timeval now = {0, 0};
            evtimer_add(s->release, &now);
        }
        c->answer = NULL;
        /* What libevent calls once the answer is written: evhttp frees the
         * request and starts on the next (and may free the connection, and
         * with it c). */
        writecb(bev, cbarg);
    }
}

static void held_write(struct conn_state *c)
{
    struct bufferevent *bev = evhttp_connection_get_bufferevent(c->conn);
    if (bev == NULL)
        return;
    struct evbuffer *out = bufferevent_get_output(bev);
    /* Empty, or a later answer has armed libevent's write of all of it. */
    if (evbuffer_get_length(out) == 0 || (bufferevent_get_enabled(bev) & EV_WRITE))
        return;
    evutil_socket_t fd = bufferevent_getfd(bev);
    if (evbuffer_write(out, fd) < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
        errno != EINTR)
        return; /* the peer is gone: reading the connection tells evhttp */
    if (evbuffer_get_length(out) == 0)
        return;
    if (c->drain == NULL)
        c->drain = event_new(c->s->base, fd, EV_WRITE, held_drain, c);
    event_add(c->drain, NULL);
}

static void held_drain(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    held_write(arg);
}

static void held_release(evutil_socket_t fd, short what, void *arg)
{
    struct http_server *s = arg;
    struct conn_state *c;
    (void)fd;
    (void)what;
    while ((c = TAILQ_FIRST(&s->held)) != NULL) {
        TAILQ_REMOVE(&s->held, c, held_link);
        c->in_held = 0;
        held_write(c);
    }
}

void http_respond(struct http_request *req, int code, const char *content_type, const void *body,
                  size_t len)
{
    int keep = answer_keeps_connection(req->ev);
    /* Straight into the request's own output buffer: no evbuffer to
     * allocate and move per response. */
    if (len > 0)
        evbuffer_add(evhttp_request_get_output_buffer(req->ev), body, len);
    if (content_type != NULL)
        http_response_header(req, "Content-Type", content_type);
    struct evhttp_request *ev = req->ev;
    evhttp_send_reply(ev, code, reason_phrase(code), NULL);
    if (keep)
        answer_note(req->server, ev);
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
    /* The stream takes the connection's close callback; answers held for
     * earlier requests go out ahead of its header all the same. */
    struct conn_state *c;
    HASH_FIND_PTR(req->server->conns, &st->conn, c);
    if (c != NULL)
        conn_state_free(c);
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
    /* libevent chose chunks (HTTP/1.1 peer, a body allowed) or a body that
     * ends with the connection; http_stream_send needs to know which. */
    const char *te = evhttp_find_header(evhttp_request_get_output_headers(req->ev),
                                        "Transfer-Encoding");
    st->chunked = te != NULL && strcmp(te, "chunked") == 0;
    return st;
}

int http_stream_send(struct http_stream *st, const void *data, size_t len)
{
    if (st->dead)
        return -EPIPE;
    if (len == 0)
        return 0;
    struct bufferevent *bev = evhttp_connection_get_bufferevent(st->conn);
    if (!st->chunked || bev == NULL) {
        struct evbuffer *b = evbuffer_new();
        evbuffer_add(b, data, len);
        evhttp_send_reply_chunk(st->ev, b);
        evbuffer_free(b);
        return 0;
    }
    /* The same bytes evhttp_send_reply_chunk writes, straight into the
     * connection's output: an event is sent per task state change, and a
     * temporary evbuffer and a printf per event were a visible share of the
     * master's time. Write readiness was armed by http_stream_start, so
     * everything queued in one loop turn leaves in one writev. */
    static const char hex[] = "0123456789abcdef";
    char head[2 * sizeof(size_t) + 2];
    size_t n = sizeof(head) - 2;
    for (size_t v = len; v != 0; v >>= 4)
        head[--n] = hex[v & 0xf];
    struct evbuffer *out = bufferevent_get_output(bev);
    memcpy(head + sizeof(head) - 2, "\r\n", 2);
    evbuffer_add(out, head + n, sizeof(head) - n);
    evbuffer_add(out, data, len);
    evbuffer_add(out, "\r\n", 2);
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

/* ---- answers given later ---- */

struct http_deferred *http_defer(struct http_request *req)
{
    struct http_deferred *d = XNEW(struct http_deferred);
    d->req.ev = req->ev;
    d->req.server = req->server;
    d->req.method = req->method;
    memcpy(d->req.peer, req->peer, sizeof(d->req.peer));
    struct evhttp_connection *conn = evhttp_request_get_connection(req->ev);
    if (conn == NULL) {
        d->req.ev = NULL;
        return d;
    }
    d->c = conn_state_get(req->server, conn);
    d->next = d->c->deferred;
    d->c->deferred = d;
    return d;
}

void http_deferred_free(struct http_deferred *d)
{
    if (d == NULL)
        return;
    if (d->c != NULL) {
        struct http_deferred **p = &d->c->deferred;
        while (*p != d)
            p = &(*p)->next;
        *p = d->next;
    }
    free(d);
}

void http_deferred_respond_empty(struct http_deferred *d, int code)
{
    if (d->req.ev != NULL)
        http_respond_empty(&d->req, code);
    http_deferred_free(d);
}

void http_deferred_respond_error(struct http_deferred *d, int code, const char *msg)
{
    if (d->req.ev != NULL)
        http_respond_error(&d->req, code, "%s", msg);
    http_deferred_free(d);
}
