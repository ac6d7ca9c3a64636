/* HTTP layer: routing, limits, plain calls, and streams in both directions,
 * including that each side learns when the other goes away. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/buf.h"
#include "http/client.h"
#include "http/server.h"

struct fixture {
    struct event_base *base;
    struct http_server *server;
    int port;
    struct http_stream *stream;
    int stream_closed;
    int replies;
    int last_status;
    struct buf last_body;
    struct buf stream_data;
    int client_closed;
    int client_status;
    struct http_client_stream *cstream;
    struct http_deferred *deferred;
};

static void echo_handler(struct http_request *req, void *arg)
{
    (void)arg;
    if (req->method != EVHTTP_REQ_POST) {
        http_respond_method_not_allowed(req, "POST");
        return;
    }
    http_respond(req, 200, "text/plain", req->body, req->body_len);
}

static void query_handler(struct http_request *req, void *arg)
{
    (void)arg;
    const char *v = http_request_query_param(req, "name");
    http_respond(req, 200, "text/plain", v ? v : "-", v ? strlen(v) : 1);
}

static void prefix_handler(struct http_request *req, void *arg)
{
    (void)arg;
    http_respond(req, 200, "text/plain", req->path, strlen(req->path));
}

static void stream_closed(struct http_stream *st, void *arg)
{
    struct fixture *f = arg;
    (void)st;
    f->stream_closed = 1;
}

static void stream_handler(struct http_request *req, void *arg)
{
    struct fixture *f = arg;
    f->stream = http_stream_start(req, "text/plain", stream_closed, f);
    http_stream_send(f->stream, "hello ", 6);
}

static void defer_handler(struct http_request *req, void *arg)
{
    struct fixture *f = arg;
    f->deferred = http_defer(req);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    f->base = event_base_new();
    struct http_server_options opts = {.max_body_bytes = 1024, .max_header_bytes = 2048};
    f->server = http_server_new(f->base, &opts);
    http_server_route(f->server, "/echo", echo_handler, f);
    http_server_route(f->server, "/query", query_handler, f);
    http_server_route(f->server, "/stream", stream_handler, f);
    http_server_route_prefix(f->server, "/files/", prefix_handler, f);
    http_server_route(f->server, "/later", defer_handler, f);
    assert_int_equal(http_server_bind(f->server, "127.0.0.1", 0, &f->port, NULL), 0);
    assert_true(f->port > 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    if (f->stream)
        http_stream_close(f->stream);
    http_deferred_free(f->deferred);
    http_server_free(f->server);
    event_base_loop(f->base, EVLOOP_NONBLOCK);
    event_base_free(f->base);
    buf_free(&f->last_body);
    buf_free(&f->stream_data);
    free(f);
    return 0;
}

static void on_reply(const struct http_reply *r, void *arg)
{
    struct fixture *f = arg;
    f->replies++;
    f->last_status = r->status;
    buf_reset(&f->last_body);
    buf_append(&f->last_body, r->body, r->len);
}

static void run_until(struct fixture *f, int *flag)
{
    for (int i = 0; i < 2000 && !*flag; i++) {
        struct timeval tv = {0, 5000};
        event_base_loopexit(f->base, &tv);
        event_base_dispatch(f->base);
    }
}

static void call(struct fixture *f, const char *method, const char *path, const char *body)
{
    struct http_client *c = http_client_new(f->base, "127.0.0.1", f->port, 5);
    f->replies = 0;
    assert_non_null(http_client_request(c, method, path, NULL, body, body ? strlen(body) : 0,
                                        on_reply, f));
    run_until(f, &f->replies);
    assert_int_equal(f->replies, 1);
    http_client_free(c);
}

static void post_echoes_body(void **state)
{
    struct fixture *f = *state;
    call(f, "POST", "/echo", "ping");
    assert_int_equal(f->last_status, 200);
    assert_string_equal(buf_cstr(&f->last_body), "ping");
}

static void wrong_method_is_405(void **state)
{
    struct fixture *f = *state;
    call(f, "GET", "/echo", NULL);
    assert_int_equal(f->last_status, 405);
}

static void unknown_path_is_404(void **state)
{
    struct fixture *f = *state;
    call(f, "GET", "/nope", NULL);
    assert_int_equal(f->last_status, 404);
}

static void oversized_body_is_rejected(void **state)
{
    struct fixture *f = *state;
    char *big = malloc(4096);
    memset(big, 'x', 4095);
    big[4095] = '\0';
    call(f, "POST", "/echo", big);
    assert_int_equal(f->last_status, 413);
    free(big);
    /* The server keeps serving afterwards. */
    call(f, "POST", "/echo", "after");
    assert_int_equal(f->last_status, 200);
}

static void query_and_prefix_routes(void **state)
{
    struct fixture *f = *state;
    call(f, "GET", "/query?name=a%20b", NULL);
    assert_string_equal(buf_cstr(&f->last_body), "a b");
    call(f, "GET", "/files/read", NULL);
    assert_string_equal(buf_cstr(&f->last_body), "/files/read");
    call(f, "GET", "/files%00/x", NULL);
    assert_int_equal(f->last_status, 400);
}

struct ordered {
    struct fixture *f;
    int expected;       /* the index the next reply must carry */
    int out_of_order;
    int done;
    int failed;
    struct http_client *free_me;
};

static void on_ordered(const struct http_reply *r, void *arg)
{
    struct ordered *o = arg;
    if (r->status != 200) {
        o->failed++;
    } else {
        int got = atoi(r->body);
        if (got != o->expected)
            o->out_of_order++;
        o->expected++;
    }
    o->done++;
    if (o->free_me != NULL) {
        http_client_free(o->free_me);
        o->free_me = NULL;
    }
}

static void pipelined_calls_complete_in_order(void **state)
{
    struct fixture *f = *state;
    struct http_client *c = http_client_new(f->base, "127.0.0.1", f->port, 5);
    struct ordered o = {.f = f};
    for (int i = 0; i < 1000; i++) {
        char body[16];
        snprintf(body, sizeof(body), "%d", i);
        assert_non_null(http_client_request(c, "POST", "/echo", NULL, body, strlen(body),
                                            on_ordered, &o));
    }
    for (int i = 0; i < 4000 && o.done < 1000; i++) {
        struct timeval tv = {0, 5000};
        event_base_loopexit(f->base, &tv);
        event_base_dispatch(f->base);
    }
    assert_int_equal(o.done, 1000);
    assert_int_equal(o.failed, 0);
    assert_int_equal(o.out_of_order, 0);
    http_client_free(c);
}

/* ---- a raw HTTP/1.1 client, to pipeline exactly what a test needs ---- */

static int raw_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

/* Sends all of data, running the server's loop whenever the socket is full. */
static void raw_send(struct fixture *f, int fd, const char *data, size_t len)
{
    for (int i = 0; i < 20000 && len > 0; i++) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n > 0) {
            data += n;
            len -= (size_t)n;
        }
        event_base_loop(f->base, EVLOOP_NONBLOCK);
    }
    assert_int_equal(len, 0);
}

/* Reads until want bytes have come (or a deadline), running the loop. */
static void raw_read(struct fixture *f, int fd, struct buf *got, size_t want)
{
    char chunk[65536];
    for (int i = 0; i < 20000 && got->len < want; i++) {
        event_base_loop(f->base, EVLOOP_NONBLOCK);
        ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
        if (n > 0)
            buf_append(got, chunk, (size_t)n);
        else
            usleep(200);
    }
}

static void append_echo_request(struct buf *b, const char *body, size_t len)
{
    buf_printf(b, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n\r\n", len);
    buf_append(b, body, len);
}

/* Takes the next response off got (from *pos): its status and body. */
static int next_response(const struct buf *got, size_t *pos, int *status, const char **body,
                         size_t *len)
{
    const char *p = buf_cstr(got) + *pos;
    const char *end = strstr(p, "\r\n\r\n");
    const char *cl = strstr(p, "Content-Length: ");
    if (end == NULL || cl == NULL || cl > end || sscanf(p, "HTTP/1.1 %d", status) != 1)
        return 0;
    *len = (size_t)atol(cl + 16);
    *body = end + 4;
    *pos = (size_t)(end + 4 - got->data) + *len;
    return *pos <= got->len;
}

/* An answer is held back while the next request of its connection is being
 * read, so that answers share a write; when that request is still
 * incomplete, the held answer must go out anyway (the client may be waiting
 * for it before it sends the rest). */
static void answer_goes_out_while_the_next_request_is_incomplete(void **state)
{
    struct fixture *f = *state;
    int fd = raw_connect(f->port);
    struct buf req = BUF_INIT, got = BUF_INIT;
    append_echo_request(&req, "first", 5);
    buf_append_str(&req, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\n\r\nsec");
    raw_send(f, fd, req.data, req.len);
    size_t pos = 0, len = 0;
    int status = 0;
    const char *body = NULL;
    for (int i = 0; i < 50 && !next_response(&got, &pos, &status, &body, &len); i++) {
        pos = 0;
        raw_read(f, fd, &got, got.len + 1);
    }
    assert_int_equal(status, 200);
    assert_int_equal(len, 5);
    assert_memory_equal(body, "first", 5);
    raw_send(f, fd, "ond", 3);
    size_t second = pos;
    for (int i = 0; i < 50 && !next_response(&got, &pos, &status, &body, &len); i++) {
        pos = second;
        raw_read(f, fd, &got, got.len + 1);
    }
    assert_int_equal(status, 200);
    assert_int_equal(len, 6);
    assert_memory_equal(body, "second", 6);
    close(fd);
    buf_free(&req);
    buf_free(&got);
}

/* Thousands of pipelined calls whose answers outgrow the socket buffers
 * while the client reads nothing: every answer arrives, whole and in order. */
static void pipelined_answers_beyond_the_socket_buffer_arrive_in_order(void **state)
{
    struct fixture *f = *state;
    enum { N = 6000, BODY = 1000 };
    int fd = raw_connect(f->port);
    struct buf req = BUF_INIT, got = BUF_INIT;
    char body[BODY];
    memset(body, '.', sizeof(body));
    for (int i = 0; i < N; i++) {
        snprintf(body, sizeof(body), "%06d", i);
        body[6] = '.';
        append_echo_request(&req, body, sizeof(body));
    }
    raw_send(f, fd, req.data, req.len);
    size_t pos = 0;
    int n = 0;
    for (int round = 0; round < 200 && n < N; round++) {
        raw_read(f, fd, &got, got.len + 65536);
        int status = 0;
        const char *b = NULL;
        size_t len = 0, at = pos;
        while (n < N && next_response(&got, &at, &status, &b, &len)) {
            char want[16];
            snprintf(want, sizeof(want), "%06d", n);
            assert_int_equal(status, 200);
            assert_int_equal(len, BODY);
            assert_memory_equal(b, want, 6);
            pos = at;
            n++;
        }
    }
    assert_int_equal(n, N);
    close(fd);
    buf_free(&req);
    buf_free(&got);
}

/* An answer given after the handler returned reaches the client, and the
 * connection goes on serving. */
static void deferred_answer_arrives_when_given(void **state)
{
    struct fixture *f = *state;
    struct http_client *c = http_client_new(f->base, "127.0.0.1", f->port, 5);
    f->replies = 0;
    assert_non_null(http_client_request(c, "POST", "/later", NULL, "x", 1, on_reply, f));
    for (int i = 0; i < 200 && f->deferred == NULL; i++)
        event_base_loop(f->base, EVLOOP_NONBLOCK);
    assert_non_null(f->deferred);
    for (int i = 0; i < 20; i++)
        event_base_loop(f->base, EVLOOP_NONBLOCK);
    assert_int_equal(f->replies, 0);
    http_deferred_respond_empty(f->deferred, 202);
    f->deferred = NULL;
    run_until(f, &f->replies);
    assert_int_equal(f->last_status, 202);
    f->replies = 0;
    assert_non_null(http_client_request(c, "POST", "/echo", NULL, "again", 5, on_reply, f));
    run_until(f, &f->replies);
    assert_int_equal(f->last_status, 200);
    http_client_free(c);
}

/* A client that leaves before its deferred answer: answering it then does
 * no harm (evhttp notices the close when the answer fails to go out, or
 * frees the request with its connection first, which the handle tracks;
 * ASan would see a freed request touched). */
static void deferred_answer_to_a_client_gone_is_dropped(void **state)
{
    struct fixture *f = *state;
    int fd = raw_connect(f->port);
    static const char req[] = "POST /later HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n\r\nx";
    raw_send(f, fd, req, sizeof(req) - 1);
    for (int i = 0; i < 2000 && f->deferred == NULL; i++) {
        event_base_loop(f->base, EVLOOP_NONBLOCK);
        usleep(100);
    }
    assert_non_null(f->deferred);
    close(fd);
    for (int i = 0; i < 200; i++) {
        event_base_loop(f->base, EVLOOP_NONBLOCK);
        usleep(200);
    }
    http_deferred_respond_error(f->deferred, 500, "too late");
    f->deferred = NULL;
    event_base_loop(f->base, EVLOOP_NONBLOCK);
}

static void calls_to_a_closed_port_all_fail(void **state)
{
    struct fixture *f = *state;
    struct http_client *c = http_client_new(f->base, "127.0.0.1", 1, 5);
    struct ordered o = {.f = f};
    for (int i = 0; i < 3; i++)
        http_client_request(c, "GET", "/x", NULL, NULL, 0, on_ordered, &o);
    for (int i = 0; i < 400 && o.done < 3; i++) {
        struct timeval tv = {0, 5000};
        event_base_loopexit(f->base, &tv);
        event_base_dispatch(f->base);
    }
    assert_int_equal(o.done, 3);
    assert_int_equal(o.failed, 3);
    http_client_free(c);
}

static void client_freed_inside_a_callback_calls_nothing_more(void **state)
{
    struct fixture *f = *state;
    struct http_client *c = http_client_new(f->base, "127.0.0.1", f->port, 5);
    struct ordered o = {.f = f, .free_me = c};
    for (int i = 0; i < 10; i++)
        http_client_request(c, "POST", "/echo", NULL, "0", 1, on_ordered, &o);
    for (int i = 0; i < 100; i++) {
        struct timeval tv = {0, 5000};
        event_base_loopexit(f->base, &tv);
        event_base_dispatch(f->base);
    }
    assert_int_equal(o.done, 1);
}

static void c_opened(struct http_client_stream *s, int status, const struct evkeyvalq *h, void *arg)
{
    struct fixture *f = arg;
    (void)s;
    (void)h;
    f->client_status = status;
}

static void c_data(struct http_client_stream *s, const char *data, size_t len, void *arg)
{
    struct fixture *f = arg;
    (void)s;
    buf_append(&f->stream_data, data, len);
}

static void c_closed(struct http_client_stream *s, int status, const char *error, const char *body,
                     void *arg)
{
    struct fixture *f = arg;
    (void)s;
    (void)status;
    (void)error;
    (void)body;
    f->client_closed = 1;
}

static const struct http_stream_callbacks stream_cbs = {c_opened, c_data, c_closed};

static void stream_delivers_chunks_and_server_sees_client_leave(void **state)
{
    struct fixture *f = *state;
    f->cstream = http_client_stream_open(f->base, "127.0.0.1", f->port, "/stream", NULL, "x", 1,
                                         &stream_cbs, f);
    assert_non_null(f->cstream);
    int got = 0;
    for (int i = 0; i < 400 && !got; i++) {
        struct timeval tv = {0, 5000};
        event_base_loopexit(f->base, &tv);
        event_base_dispatch(f->base);
        got = f->stream_data.len >= 6;
    }
    assert_int_equal(f->client_status, 200);
    http_stream_send(f->stream, "world", 5);
    got = 0;
    for (int i = 0; i < 400 && !got; i++) {
        struct timeval tv = {0, 5000};
        event_base_loopexit(f->base, &tv);
        event_base_dispatch(f->base);
        got = f->stream_data.len >= 11;
    }
    assert_string_equal(buf_cstr(&f->stream_data), "hello world");
    http_client_stream_close(f->cstream);
    run_until(f, &f->stream_closed);
    assert_true(f->stream_closed);
    assert_int_equal(http_stream_send(f->stream, "x", 1), -EPIPE);
}

/* An event of a megabyte arrives whole: evbuffer_peek(-1) counted only
 * the vectors it was given, and the rest of a chunk spread over more
 * was dropped (a scheduler offered a thousand agents hung). */
static void a_large_chunk_reaches_the_client_whole(void **state)
{
    struct fixture *f = *state;
    f->cstream = http_client_stream_open(f->base, "127.0.0.1", f->port, "/stream", NULL, "x", 1,
                                         &stream_cbs, f);
    int got = 0;
    for (int i = 0; i < 400 && !got; i++) {
        struct timeval tv = {0, 5000};
        event_base_loopexit(f->base, &tv);
        event_base_dispatch(f->base);
        got = f->stream_data.len >= 6;
    }
    size_t big = 1 << 20;
    char *data = malloc(big);
    for (size_t i = 0; i < big; i++)
        data[i] = (char)('a' + i % 26);
    http_stream_send(f->stream, data, big);
    got = 0;
    for (int i = 0; i < 2000 && !got; i++) {
        struct timeval tv = {0, 5000};
        event_base_loopexit(f->base, &tv);
        event_base_dispatch(f->base);
        got = f->stream_data.len >= 6 + big;
    }
    assert_int_equal(f->stream_data.len, 6 + big);
    assert_memory_equal(f->stream_data.data + 6, data, big);
    free(data);
    http_client_stream_close(f->cstream);
}

static void client_sees_server_end_stream(void **state)
{
    struct fixture *f = *state;
    f->cstream = http_client_stream_open(f->base, "127.0.0.1", f->port, "/stream", NULL, "x", 1,
                                         &stream_cbs, f);
    int got = 0;
    for (int i = 0; i < 400 && !got; i++) {
        struct timeval tv = {0, 5000};
        event_base_loopexit(f->base, &tv);
        event_base_dispatch(f->base);
        got = f->stream != NULL;
    }
    http_stream_close(f->stream);
    f->stream = NULL;
    run_until(f, &f->client_closed);
    assert_true(f->client_closed);
    http_client_stream_close(f->cstream);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(post_echoes_body, setup, teardown),
        cmocka_unit_test_setup_teardown(wrong_method_is_405, setup, teardown),
        cmocka_unit_test_setup_teardown(unknown_path_is_404, setup, teardown),
        cmocka_unit_test_setup_teardown(oversized_body_is_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(query_and_prefix_routes, setup, teardown),
        cmocka_unit_test_setup_teardown(pipelined_calls_complete_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(answer_goes_out_while_the_next_request_is_incomplete,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(pipelined_answers_beyond_the_socket_buffer_arrive_in_order,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(deferred_answer_arrives_when_given, setup, teardown),
        cmocka_unit_test_setup_teardown(deferred_answer_to_a_client_gone_is_dropped, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(calls_to_a_closed_port_all_fail, setup, teardown),
        cmocka_unit_test_setup_teardown(client_freed_inside_a_callback_calls_nothing_more, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(stream_delivers_chunks_and_server_sees_client_leave, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(client_sees_server_end_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(a_large_chunk_reaches_the_client_whole, setup, teardown),
    };
    if (getenv("TEST_FILTER"))
        cmocka_set_test_filter(getenv("TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
