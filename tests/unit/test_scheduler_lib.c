/* libtepui's scheduler API (src/lib/scheduler.c) against a real tepui-master
 * process: subscription in both encodings, heartbeats, reconciliation,
 * failover, teardown, re-subscription after the master restarts. A fake
 * master served from this process covers what a lone master cannot show:
 * redirects, 503 and 4xx answers, missed heartbeats, records split across
 * chunks. The master binary comes from $TEPUI_BUILD_DIR (default "build"). */

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/log.h"
#include "http/server.h"
#include "tepui/scheduler.h"
#include "wire/codec.h"
#include "wire/pb.h"
#include "wire/recordio.h"

/* Heartbeats every 200 ms keep the tests short; missing 5 of them (1 s)
 * is the library's cue that the stream is dead. */
#define HEARTBEAT_MS 200
#define WAIT_SECS 15.0

/* ---- the fake master ---- */

enum fake_mode {
    FAKE_REDIRECT,            /* every request: 307 to the real master */
    FAKE_503_THEN_REDIRECT,   /* first SUBSCRIBE: 503, then 307 */
    FAKE_REJECT,              /* SUBSCRIBE: 400 with a text body */
    FAKE_SILENT,              /* SUBSCRIBED in two chunks, then nothing;
                               * calls are redirected to the real master */
};

#define FAKE_MAX_STREAMS 8

struct fake {
    struct event_base *base;
    struct http_server *server;
    int port;
    int real_port;
    enum fake_mode mode;
    int subscribes;
    int calls;
    char subscribe_framework_id[256];   /* of the latest SUBSCRIBE, "" if none */
    char call_stream_id[256];           /* Mesos-Stream-Id of the latest call */
    struct http_stream *streams[FAKE_MAX_STREAMS];
    int n_streams;
    struct event *rest_timer;           /* sends the second half of SUBSCRIBED */
    struct http_stream *rest_stream;
    struct buf rest;
};

/* ---- fixture ---- */

struct fixture {
    struct event_base *base;
    struct event *tick;
    char dir[64];
    pid_t master;
    int port;
    char addr[64];
    struct fake *fake;
    struct rec *recs[4];        /* freed in teardown, also after a failure */
};

static const char *build_dir(void)
{
    const char *d = getenv("TEPUI_BUILD_DIR");
    return d != NULL && d[0] != '\0' ? d : "build";
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

/* Runs the loop until cond holds or secs pass; the tick wakes the loop so
 * the deadline is checked even when nothing happens. */
static void loop_step(struct fixture *f, double deadline)
{
    double left = deadline - clock_mono();
    if (left > 0.05)
        left = 0.05;
    if (left < 0)
        left = 0;
    struct timeval tv = {0, (suseconds_t)(left * 1e6)};
    event_add(f->tick, &tv);
    event_base_loop(f->base, EVLOOP_ONCE);
}

#define AWAIT(f, cond, secs) \
    do { \
        double deadline_ = clock_mono() + (secs); \
        while (!(cond) && clock_mono() < deadline_) \
            loop_step((f), deadline_); \
    } while (0)

/* Starts tepui-master on port (0: any) and waits for its port file. */
static void master_start(struct fixture *f, int port)
{
    char port_file[128], bin[512], port_arg[64], port_file_arg[160], hb_arg[80];
    snprintf(port_file, sizeof(port_file), "%s/port", f->dir);
    unlink(port_file);
    snprintf(bin, sizeof(bin), "%s/bin/tepui-master", build_dir());
    snprintf(port_arg, sizeof(port_arg), "--port=%d", port);
    snprintf(port_file_arg, sizeof(port_file_arg), "--port_file=%s", port_file);
    snprintf(hb_arg, sizeof(hb_arg), "--framework_heartbeat_interval=%dms", HEARTBEAT_MS);
    const char *level = getenv("TEPUI_TEST_MASTER_LOG");
    char level_arg[64];
    snprintf(level_arg, sizeof(level_arg), "--logging_level=%s", level ? level : "WARNING");
    if (access(bin, X_OK) != 0)
        fail_msg("%s is missing: build it first (make BUILD=%s all)", bin, build_dir());
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* The master must not outlive a test binary that crashes. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        execl(bin, bin, "--ip=127.0.0.1", port_arg, port_file_arg, hb_arg, level_arg, (char *)NULL);
        fprintf(stderr, "cannot run %s: %s\n", bin, strerror(errno));
        _exit(127);
    }
    f->master = pid;
    double deadline = clock_mono() + WAIT_SECS;
    int got = 0;
    while (clock_mono() < deadline) {
        FILE *pf = fopen(port_file, "r");
        if (pf != NULL) {
            got = fscanf(pf, "%d", &f->port) == 1;
            fclose(pf);
            if (got)
                break;
        }
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            f->master = 0;
            fail_msg("%s exited before serving (status %d)", bin, status);
        }
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (!got)
        fail_msg("%s wrote no port file within %gs", bin, WAIT_SECS);
    snprintf(f->addr, sizeof(f->addr), "127.0.0.1:%d", f->port);
}

static void master_kill(struct fixture *f)
{
    if (f->master <= 0)
        return;
    kill(f->master, SIGKILL);
    waitpid(f->master, NULL, 0);
    f->master = 0;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    f->base = event_base_new();
    f->tick = evtimer_new(f->base, tick_cb, f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/tepui-schedlib-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    *state = f;
    master_start(f, 0);
    return 0;
}

static void fake_free(struct fake *k);
static void rec_free(struct rec *r);

static int teardown(void **state)
{
    struct fixture *f = *state;
    /* Schedulers first: none of their callbacks may reach a test's frame. */
    for (int i = 0; i < 4; i++)
        rec_free(f->recs[i]);
    master_kill(f);
    fake_free(f->fake);
    /* Connections closed by the library and the fake go on the next turns. */
    for (int i = 0; i < 3; i++)
        event_base_loop(f->base, EVLOOP_NONBLOCK);
    event_free(f->tick);
    event_base_free(f->base);
    char path[128];
    snprintf(path, sizeof(path), "%s/port", f->dir);
    unlink(path);
    rmdir(f->dir);
    free(f);
    return 0;
}

/* ---- a recording scheduler ---- */

struct rec {
    struct fixture *f;
    struct tepui_scheduler *s;
    char order[64];          /* c=connected s=subscribed e=error d=disconnected */
    int connected, subscribed, heartbeats, errors, disconnected, updates, others;
    double heartbeat_interval;
    double heartbeat_at[64];
    char framework_id[256];
    struct buf last_error;
    struct buf last_why;
    Tepui__TaskStatus *update;   /* latest */
    int free_in_subscribed;
    int free_in_disconnected;
};

static void note(struct rec *r, char c)
{
    size_t n = strlen(r->order);
    if (n + 1 < sizeof(r->order))
        r->order[n] = c;
}

static void on_connected(struct tepui_scheduler *s, void *arg)
{
    struct rec *r = arg;
    assert_ptr_equal(s, r->s);
    r->connected++;
    note(r, 'c');
}

static void on_subscribed(struct tepui_scheduler *s, const Tepui__Scheduler__Event__Subscribed *e,
                          void *arg)
{
    struct rec *r = arg;
    r->subscribed++;
    note(r, 's');
    snprintf(r->framework_id, sizeof(r->framework_id), "%s", e->framework_id->value);
    r->heartbeat_interval = e->heartbeat_interval_seconds;
    if (r->free_in_subscribed) {
        tepui_scheduler_free(s);
        r->s = NULL;
    }
}

static void on_heartbeat(struct tepui_scheduler *s, void *arg)
{
    struct rec *r = arg;
    (void)s;
    if (r->heartbeats < 64)
        r->heartbeat_at[r->heartbeats] = clock_mono();
    r->heartbeats++;
}

static void on_update(struct tepui_scheduler *s, const Tepui__Scheduler__Event__Update *e, void *arg)
{
    struct rec *r = arg;
    (void)s;
    r->updates++;
    pb_free(r->update);
    r->update = PB_COPY(Tepui__TaskStatus, e->status);
}

static void on_offers(struct tepui_scheduler *s, const Tepui__Scheduler__Event__Offers *e, void *arg)
{
    (void)s;
    (void)e;
    ((struct rec *)arg)->others++;
}

static void on_error(struct tepui_scheduler *s, const char *message, void *arg)
{
    struct rec *r = arg;
    (void)s;
    r->errors++;
    note(r, 'e');
    buf_reset(&r->last_error);
    buf_append_str(&r->last_error, message);
}

static void on_disconnected(struct tepui_scheduler *s, const char *why, void *arg)
{
    struct rec *r = arg;
    (void)s;
    r->disconnected++;
    note(r, 'd');
    buf_reset(&r->last_why);
    buf_append_str(&r->last_why, why);
    if (r->free_in_disconnected) {
        tepui_scheduler_free(s);
        r->s = NULL;
    }
}

static const struct tepui_scheduler_callbacks rec_callbacks = {
    .connected = on_connected,
    .subscribed = on_subscribed,
    .offers = on_offers,
    .update = on_update,
    .error = on_error,
    .heartbeat = on_heartbeat,
    .disconnected = on_disconnected,
};

struct sched_opts {
    const char *master;          /* NULL: the fixture's master */
    enum tepui_format format;
    int auto_reconnect;
    const char *framework_id;    /* re-subscribe this one */
    const char *role;
};

static struct rec *rec_start(struct fixture *f, const struct sched_opts *o)
{
    struct rec *r = calloc(1, sizeof(*r));
    r->f = f;
    int slot = 0;
    while (slot < 4 && f->recs[slot] != NULL)
        slot++;
    assert_true(slot < 4);
    f->recs[slot] = r;
    Tepui__FrameworkInfo info = TEPUI__FRAMEWORK_INFO__INIT;
    Tepui__FrameworkID fid = TEPUI__FRAMEWORK_ID__INIT;
    info.user = "tester";
    info.name = "scheduler-lib-test";
    /* Kept across a dropped stream, so it can be re-subscribed. */
    info.has_failover_timeout = 1;
    info.failover_timeout = 60;
    if (o->framework_id != NULL) {
        fid.value = (char *)o->framework_id;
        info.id = &fid;
    }
    if (o->role != NULL)
        info.role = (char *)o->role;
    struct tepui_scheduler_options opts = {
        .master = o->master != NULL ? o->master : f->addr,
        .format = o->format,
        .auto_reconnect = o->auto_reconnect,
        .call_timeout_secs = 5,
        .backoff_min_secs = 0.05,
        .backoff_max_secs = 0.4,
    };
    r->s = tepui_scheduler_new(f->base, &info, &opts, &rec_callbacks, r);
    assert_non_null(r->s);
    assert_int_equal(tepui_scheduler_start(r->s), 0);
    return r;
}

static void rec_free(struct rec *r)
{
    if (r == NULL)
        return;
    for (int i = 0; i < 4; i++)
        if (r->f->recs[i] == r)
            r->f->recs[i] = NULL;
    tepui_scheduler_free(r->s);
    pb_free(r->update);
    buf_free(&r->last_error);
    buf_free(&r->last_why);
    free(r);
}

struct done {
    int n;
    int status;
    struct buf body;
    struct rec *free_rec;   /* frees this one's scheduler when called */
};

static void on_done(struct tepui_scheduler *s, const struct tepui_call_result *res, void *arg)
{
    struct done *d = arg;
    (void)s;
    d->n++;
    d->status = res->status;
    buf_reset(&d->body);
    buf_append_str(&d->body, res->status == 0 ? res->error : res->body);
    if (d->free_rec != NULL) {
        assert_ptr_equal(s, d->free_rec->s);
        tepui_scheduler_free(s);
        d->free_rec->s = NULL;
    }
}

/* ---- the fake master's handlers ---- */

static void fake_stream_closed(struct http_stream *st, void *arg)
{
    (void)st;
    (void)arg;
}

static void fake_send_rest(evutil_socket_t fd, short what, void *arg)
{
    struct fake *k = arg;
    (void)fd;
    (void)what;
    if (k->rest_stream != NULL)
        http_stream_send(k->rest_stream, k->rest.data, k->rest.len);
    buf_reset(&k->rest);
}

static void fake_redirect(struct fake *k, struct http_request *req)
{
    char loc[128];
    snprintf(loc, sizeof(loc), "//127.0.0.1:%d/master/api/v1/scheduler", k->real_port);
    http_response_header(req, "Location", loc);
    http_respond_empty(req, 307);
}

/* Answers SUBSCRIBE with SUBSCRIBED, split so that neither chunk holds a
 * whole record, and then stays silent: no heartbeats. */
static void fake_subscribed(struct fake *k, struct http_request *req, enum wire_format fmt)
{
    if (k->n_streams == FAKE_MAX_STREAMS) {
        http_respond_error(req, 500, "fake: too many streams");
        return;
    }
    char sid[64];
    snprintf(sid, sizeof(sid), "fake-stream-%d", k->subscribes);
    http_response_header(req, "Mesos-Stream-Id", sid);
    struct http_stream *st = http_stream_start(req, wire_format_media_type(fmt), fake_stream_closed, k);
    k->streams[k->n_streams++] = st;

    Tepui__Scheduler__Event ev = TEPUI__SCHEDULER__EVENT__INIT;
    Tepui__Scheduler__Event__Subscribed sub = TEPUI__SCHEDULER__EVENT__SUBSCRIBED__INIT;
    Tepui__FrameworkID fid = TEPUI__FRAMEWORK_ID__INIT;
    fid.value = "fake-framework";
    sub.framework_id = &fid;
    sub.has_heartbeat_interval_seconds = 1;
    sub.heartbeat_interval_seconds = 0.1;
    ev.has_type = 1;
    ev.type = TEPUI__SCHEDULER__EVENT__TYPE__SUBSCRIBED;
    ev.subscribed = &sub;
    struct buf body = BUF_INIT, frame = BUF_INIT;
    wire_encode(&ev.base, fmt, &body);
    recordio_write(&frame, body.data, body.len);
    size_t half = frame.len / 2;
    http_stream_send(st, frame.data, half);
    buf_reset(&k->rest);
    buf_append(&k->rest, frame.data + half, frame.len - half);
    k->rest_stream = st;
    struct timeval tv = {0, 30 * 1000};
    event_add(k->rest_timer, &tv);
    buf_free(&body);
    buf_free(&frame);
}

static void fake_handler(struct http_request *req, void *arg)
{
    struct fake *k = arg;
    const char *ct = http_request_header(req, "Content-Type");
    enum wire_format in = ct != NULL ? wire_format_from_content_type(ct) : 0;
    struct error err = {0};
    Tepui__Scheduler__Call *call =
        in ? (Tepui__Scheduler__Call *)wire_decode(&tepui__scheduler__call__descriptor, in,
                                                   req->body, req->body_len, &err)
           : NULL;
    if (call == NULL) {
        http_respond_error(req, 400, "fake: cannot decode the call: %s", err.msg);
        return;
    }
    int subscribe = call->type == TEPUI__SCHEDULER__CALL__TYPE__SUBSCRIBE;
    if (subscribe) {
        k->subscribes++;
        const Tepui__FrameworkInfo *fi = call->subscribe->framework_info;
        snprintf(k->subscribe_framework_id, sizeof(k->subscribe_framework_id), "%s",
                 fi->id != NULL ? fi->id->value : "");
        /* Re-subscription names the framework in the call too. */
        if (fi->id != NULL)
            assert_true(call->framework_id != NULL &&
                        strcmp(call->framework_id->value, fi->id->value) == 0);
        assert_null(http_request_header(req, "Mesos-Stream-Id"));
    } else {
        k->calls++;
        const char *sid = http_request_header(req, "Mesos-Stream-Id");
        snprintf(k->call_stream_id, sizeof(k->call_stream_id), "%s", sid ? sid : "");
    }
    switch (k->mode) {
    case FAKE_REDIRECT:
        fake_redirect(k, req);
        break;
    case FAKE_503_THEN_REDIRECT:
        if (subscribe && k->subscribes == 1)
            http_respond_error(req, 503, "No leader elected");
        else
            fake_redirect(k, req);
        break;
    case FAKE_REJECT:
        http_respond_error(req, 400, "fake: this framework is not welcome");
        break;
    case FAKE_SILENT:
        if (subscribe)
            fake_subscribed(k, req, wire_format_from_accept(http_request_header(req, "Accept")));
        else
            fake_redirect(k, req);
        break;
    }
    pb_free(call);
}

static struct fake *fake_start(struct fixture *f, enum fake_mode mode)
{
    struct fake *k = calloc(1, sizeof(*k));
    struct http_server_options o = {.max_body_bytes = 1 << 20, .max_header_bytes = 64 << 10,
                                    .idle_timeout_secs = 60};
    k->base = f->base;
    k->mode = mode;
    k->real_port = f->port;
    k->server = http_server_new(f->base, &o);
    struct error err = {0};
    assert_int_equal(http_server_bind(k->server, "127.0.0.1", 0, &k->port, &err), 0);
    http_server_route(k->server, "/api/v1/scheduler", fake_handler, k);
    k->rest_timer = evtimer_new(f->base, fake_send_rest, k);
    f->fake = k;
    return k;
}

static void fake_free(struct fake *k)
{
    if (k == NULL)
        return;
    for (int i = 0; i < k->n_streams; i++)
        http_stream_close(k->streams[i]);
    event_free(k->rest_timer);
    buf_free(&k->rest);
    http_server_free(k->server);
    free(k);
}

static void fake_addr(const struct fake *k, char *out, size_t n)
{
    snprintf(out, n, "http://127.0.0.1:%d", k->port);
}

/* ---- tests: subscription ---- */

static void subscribe_in(void **state, enum tepui_format format)
{
    struct fixture *f = *state;
    struct rec *r = rec_start(f, &(struct sched_opts){.format = format});
    assert_null(tepui_scheduler_framework_id(r->s));
    AWAIT(f, r->subscribed > 0, WAIT_SECS);
    assert_int_equal(r->subscribed, 1);
    assert_string_equal(r->order, "cs");
    assert_true(strlen(r->framework_id) > 0);
    assert_string_equal(tepui_scheduler_framework_id(r->s), r->framework_id);
    assert_non_null(tepui_scheduler_stream_id(r->s));
    assert_true(tepui_scheduler_is_subscribed(r->s));
    assert_string_equal(tepui_scheduler_leader(r->s), f->addr);
    assert_int_equal(tepui_scheduler_start(r->s), -EALREADY);
    rec_free(r);
}

static void subscribes_with_protobuf_and_gets_a_framework_id(void **state)
{
    subscribe_in(state, TEPUI_FORMAT_PROTOBUF);
}

static void subscribes_with_json_and_gets_a_framework_id(void **state)
{
    subscribe_in(state, TEPUI_FORMAT_JSON);
}

static void heartbeats_arrive_at_the_configured_interval(void **state)
{
    struct fixture *f = *state;
    struct rec *r = rec_start(f, &(struct sched_opts){0});
    AWAIT(f, r->heartbeats >= 4, WAIT_SECS);
    assert_true(r->heartbeats >= 4);
    assert_true(r->heartbeat_interval > 0.19 && r->heartbeat_interval < 0.21);
    for (int i = 1; i < 4; i++) {
        double gap = r->heartbeat_at[i] - r->heartbeat_at[i - 1];
        /* Generous bounds: sanitizer builds on a loaded machine. */
        if (gap < 0.1 || gap > 0.6)
            fail_msg("heartbeat %d came %.3fs after the previous one (interval 0.2s)", i, gap);
    }
    assert_int_equal(r->disconnected, 0);
    rec_free(r);
}

/* ---- tests: calls ---- */

static void reconcile_unknown_in(void **state, enum tepui_format format)
{
    struct fixture *f = *state;
    struct done d = {0};
    struct rec *r = rec_start(f, &(struct sched_opts){.format = format});
    AWAIT(f, r->subscribed > 0, WAIT_SECS);
    const char *tasks[] = {"no-such-task"};
    assert_int_equal(tepui_scheduler_reconcile(r->s, tasks, NULL, 1, on_done, &d), 0);
    AWAIT(f, d.n > 0 && r->updates > 0, WAIT_SECS);
    assert_int_equal(d.n, 1);
    assert_int_equal(d.status, 202);
    assert_int_equal(r->updates, 1);
    assert_string_equal(r->update->task_id->value, "no-such-task");
    assert_int_equal(r->update->state, TEPUI__TASK_STATE__TASK_LOST);
    assert_true(r->update->has_reason);
    assert_int_equal(r->update->reason, TEPUI__TASK_STATUS__REASON__REASON_RECONCILIATION);
    /* Master-generated: nothing to acknowledge. */
    assert_false(r->update->has_uuid);
    buf_free(&d.body);
    rec_free(r);
}

static void reconcile_of_unknown_task_gives_task_lost_protobuf(void **state)
{
    reconcile_unknown_in(state, TEPUI_FORMAT_PROTOBUF);
}

static void reconcile_of_unknown_task_gives_task_lost_json(void **state)
{
    reconcile_unknown_in(state, TEPUI_FORMAT_JSON);
}

static void kill_of_unknown_task_gives_task_lost(void **state)
{
    struct fixture *f = *state;
    struct done d = {0};
    struct rec *r = rec_start(f, &(struct sched_opts){0});
    AWAIT(f, r->subscribed > 0, WAIT_SECS);
    assert_int_equal(tepui_scheduler_kill(r->s, "ghost", NULL, NULL, on_done, &d), 0);
    AWAIT(f, d.n > 0 && r->updates > 0, WAIT_SECS);
    assert_int_equal(d.status, 202);
    assert_string_equal(r->update->task_id->value, "ghost");
    assert_int_equal(r->update->state, TEPUI__TASK_STATE__TASK_LOST);
    buf_free(&d.body);
    rec_free(r);
}

static void rejected_call_reports_status_and_body(void **state)
{
    struct fixture *f = *state;
    struct done d = {0};
    struct rec *r = rec_start(f, &(struct sched_opts){.format = TEPUI_FORMAT_JSON});
    /* Not subscribed yet: dropped, as Mesos's library drops it. */
    assert_int_equal(tepui_scheduler_revive(r->s, NULL, 0, on_done, &d), -ENOTCONN);
    AWAIT(f, r->subscribed > 0, WAIT_SECS);
    const uint8_t short_uuid[3] = {1, 2, 3};
    assert_int_equal(tepui_scheduler_acknowledge(r->s, "agent-1", "task-1", short_uuid, 3, on_done, &d), 0);
    AWAIT(f, d.n > 0, WAIT_SECS);
    assert_int_equal(d.n, 1);
    assert_int_equal(d.status, 400);
    assert_non_null(strstr(buf_cstr(&d.body), "uuid"));
    /* SUBSCRIBE is not a call; a call lacking required fields is refused. */
    Tepui__Scheduler__Call sub = TEPUI__SCHEDULER__CALL__INIT;
    sub.has_type = 1;
    sub.type = TEPUI__SCHEDULER__CALL__TYPE__SUBSCRIBE;
    assert_int_equal(tepui_scheduler_call(r->s, &sub, on_done, &d), -EINVAL);
    Tepui__Scheduler__Call kill = TEPUI__SCHEDULER__CALL__INIT;
    Tepui__Scheduler__Call__Kill k = TEPUI__SCHEDULER__CALL__KILL__INIT;
    kill.has_type = 1;
    kill.type = TEPUI__SCHEDULER__CALL__TYPE__KILL;
    kill.kill = &k;   /* no task_id */
    assert_int_equal(tepui_scheduler_call(r->s, &kill, on_done, &d), -EINVAL);
    assert_null(kill.framework_id);
    /* The generic call: REVIVE, framework id added by the library. */
    Tepui__Scheduler__Call revive = TEPUI__SCHEDULER__CALL__INIT;
    revive.has_type = 1;
    revive.type = TEPUI__SCHEDULER__CALL__TYPE__REVIVE;
    assert_int_equal(tepui_scheduler_call(r->s, &revive, on_done, &d), 0);
    assert_null(revive.framework_id);
    AWAIT(f, d.n > 1, WAIT_SECS);
    assert_int_equal(d.status, 202);
    assert_int_equal(r->disconnected, 0);
    buf_free(&d.body);
    rec_free(r);
}

static void every_call_helper_is_accepted(void **state)
{
    struct fixture *f = *state;
    struct done d = {0};
    struct rec *r = rec_start(f, &(struct sched_opts){0});
    AWAIT(f, r->subscribed > 0, WAIT_SECS);
    Tepui__OfferID oid = TEPUI__OFFER_ID__INIT;
    oid.value = "no-such-offer";
    Tepui__OfferID *oids[] = {&oid};
    Tepui__Filters filters = TEPUI__FILTERS__INIT;
    filters.has_refuse_seconds = 1;
    filters.refuse_seconds = 1;
    Tepui__TaskInfo *task = tepui_task_command_new("t1", "task one", "agent-x", "true", 0.1, 32, NULL);
    assert_non_null(task);
    Tepui__Offer__Operation *launch = tepui_operation_launch_new(&task, 1);
    assert_non_null(launch);
    assert_int_equal(launch->launch->n_task_infos, 1);
    assert_int_equal(launch->launch->task_infos[0]->n_resources, 2);
    const char *roles[] = {"*"};
    int expected = 0;
#define SEND(call) \
    do { \
        assert_int_equal((call), 0); \
        expected++; \
    } while (0)
    SEND(tepui_scheduler_decline(r->s, oids, 1, &filters, on_done, &d));
    SEND(tepui_scheduler_suppress(r->s, roles, 1, on_done, &d));
    SEND(tepui_scheduler_revive(r->s, NULL, 0, on_done, &d));
    SEND(tepui_scheduler_reconcile(r->s, NULL, NULL, 0, on_done, &d));
    SEND(tepui_scheduler_request(r->s, NULL, 0, on_done, &d));
    SEND(tepui_scheduler_message(r->s, "agent-x", "exec-x", "hi", 2, on_done, &d));
    SEND(tepui_scheduler_shutdown(r->s, "exec-x", "agent-x", on_done, &d));
    AWAIT(f, d.n == expected, WAIT_SECS);
    assert_int_equal(d.n, expected);
    assert_int_equal(d.status, 202);
    /* Every call so far was 202; the accept of an unknown offer too (its
     * tasks are answered on the stream). */
    SEND(tepui_scheduler_accept(r->s, oids, 1, &launch, 1, &filters, on_done, &d));
    AWAIT(f, d.n == expected, WAIT_SECS);
    assert_int_equal(d.status, 202);
    /* UPDATE_FRAMEWORK answers 200. */
    Tepui__FrameworkInfo info = TEPUI__FRAMEWORK_INFO__INIT;
    info.user = "tester";
    info.name = "renamed";
    info.has_failover_timeout = 1;
    info.failover_timeout = 60;
    SEND(tepui_scheduler_update_framework(r->s, &info, NULL, 0, on_done, &d));
#undef SEND
    AWAIT(f, d.n == expected, WAIT_SECS);
    assert_int_equal(d.status, 200);
    tepui_message_free(launch);
    tepui_message_free(task);
    buf_free(&d.body);
    rec_free(r);
}

/* ---- tests: failover, teardown, errors ---- */

static void second_subscriber_with_the_same_id_fails_over_the_first(void **state)
{
    struct fixture *f = *state;
    struct rec *a = rec_start(f, &(struct sched_opts){.auto_reconnect = 1});
    AWAIT(f, a->subscribed > 0, WAIT_SECS);
    struct rec *b = rec_start(f, &(struct sched_opts){.framework_id = a->framework_id,
                                                      .format = TEPUI_FORMAT_JSON});
    AWAIT(f, b->subscribed > 0 && a->disconnected > 0, WAIT_SECS);
    assert_string_equal(b->framework_id, a->framework_id);
    assert_int_equal(a->errors, 1);
    assert_string_equal(buf_cstr(&a->last_error), "Framework failed over");
    assert_string_equal(a->order, "csed");
    /* Another instance holds the framework now: the first one stays off
     * (while b sees heartbeats) and its calls are dropped. */
    AWAIT(f, b->heartbeats >= 5, WAIT_SECS);
    assert_int_equal(a->subscribed, 1);
    assert_false(tepui_scheduler_is_subscribed(a->s));
    assert_int_equal(tepui_scheduler_revive(a->s, NULL, 0, NULL, NULL), -ENOTCONN);
    assert_int_equal(b->disconnected, 0);
    rec_free(a);
    rec_free(b);
}

static void teardown_ends_the_stream_without_resubscribing(void **state)
{
    struct fixture *f = *state;
    struct done d = {0};
    struct rec *r = rec_start(f, &(struct sched_opts){.auto_reconnect = 1});
    AWAIT(f, r->subscribed > 0, WAIT_SECS);
    char old_id[256];
    snprintf(old_id, sizeof(old_id), "%s", r->framework_id);
    assert_int_equal(tepui_scheduler_teardown(r->s, on_done, &d), 0);
    AWAIT(f, d.n > 0 && r->disconnected > 0, WAIT_SECS);
    assert_int_equal(d.status, 202);
    assert_string_equal(buf_cstr(&r->last_why), "framework torn down");
    assert_null(tepui_scheduler_framework_id(r->s));
    /* No retry is pending: start is free to register a new framework. */
    assert_int_equal(tepui_scheduler_start(r->s), 0);
    AWAIT(f, r->subscribed > 1, WAIT_SECS);
    assert_int_equal(r->subscribed, 2);
    assert_string_not_equal(r->framework_id, old_id);
    buf_free(&d.body);
    rec_free(r);
}

static void invalid_subscription_gets_an_error_event_and_no_retry(void **state)
{
    struct fixture *f = *state;
    struct rec *r = rec_start(f, &(struct sched_opts){.auto_reconnect = 1, .role = "bad role"});
    AWAIT(f, r->disconnected > 0, WAIT_SECS);
    assert_int_equal(r->errors, 1);
    assert_non_null(strstr(buf_cstr(&r->last_error), "bad role"));
    assert_int_equal(r->subscribed, 0);
    /* No retry pending. */
    assert_int_equal(tepui_scheduler_start(r->s), 0);
    tepui_scheduler_stop(r->s);
    rec_free(r);
}

/* ---- tests: losing the master ---- */

static void master_restart_triggers_disconnected_and_resubscription(void **state)
{
    struct fixture *f = *state;
    struct rec *r =
        rec_start(f, &(struct sched_opts){.auto_reconnect = 1, .format = TEPUI_FORMAT_JSON});
    AWAIT(f, r->subscribed > 0, WAIT_SECS);
    char id[256];
    snprintf(id, sizeof(id), "%s", r->framework_id);
    master_kill(f);
    AWAIT(f, r->disconnected > 0, WAIT_SECS);
    assert_int_equal(r->disconnected, 1);
    assert_false(tepui_scheduler_is_subscribed(r->s));
    /* Attempts fail while no master listens, quietly. */
    double until = clock_mono() + 0.5;
    AWAIT(f, clock_mono() >= until, 1.0);
    assert_int_equal(r->disconnected, 1);
    master_start(f, f->port);
    AWAIT(f, r->subscribed > 1, WAIT_SECS);
    assert_int_equal(r->subscribed, 2);
    /* The new master adopts the framework id we bring. */
    assert_string_equal(r->framework_id, id);
    assert_string_equal(r->order, "csdcs");
    /* And calls work on the new subscription. */
    struct done d = {0};
    const char *tasks[] = {"after-restart"};
    assert_int_equal(tepui_scheduler_reconcile(r->s, tasks, NULL, 1, on_done, &d), 0);
    AWAIT(f, r->updates > 0 && d.n > 0, WAIT_SECS);
    assert_int_equal(d.status, 202);
    assert_string_equal(r->update->task_id->value, "after-restart");
    buf_free(&d.body);
    rec_free(r);
}

/* ---- tests: redirects and odd masters ---- */

static void subscribe_follows_a_redirect_to_the_leader(void **state)
{
    struct fixture *f = *state;
    struct fake *k = fake_start(f, FAKE_REDIRECT);
    char addr[64];
    fake_addr(k, addr, sizeof(addr));
    struct rec *r = rec_start(f, &(struct sched_opts){.master = addr});
    AWAIT(f, r->subscribed > 0, WAIT_SECS);
    assert_int_equal(k->subscribes, 1);
    assert_string_equal(tepui_scheduler_leader(r->s), f->addr);
    /* Calls go to the leader, not through the redirecting master. */
    struct done d = {0};
    const char *tasks[] = {"x"};
    assert_int_equal(tepui_scheduler_reconcile(r->s, tasks, NULL, 1, on_done, &d), 0);
    AWAIT(f, r->updates > 0 && d.n > 0, WAIT_SECS);
    assert_int_equal(d.status, 202);
    assert_int_equal(k->calls, 0);
    buf_free(&d.body);
    rec_free(r);
}

static void subscribe_retries_after_503_no_leader(void **state)
{
    struct fixture *f = *state;
    struct fake *k = fake_start(f, FAKE_503_THEN_REDIRECT);
    char addr[64];
    fake_addr(k, addr, sizeof(addr));
    struct rec *r = rec_start(f, &(struct sched_opts){.master = addr, .auto_reconnect = 1});
    AWAIT(f, r->subscribed > 0, WAIT_SECS);
    assert_int_equal(k->subscribes, 2);
    /* A failed attempt on the way is not a disconnection. */
    assert_int_equal(r->disconnected, 0);
    assert_string_equal(r->order, "cs");
    rec_free(r);
}

static void subscribe_rejected_with_4xx_reports_the_body(void **state)
{
    struct fixture *f = *state;
    struct fake *k = fake_start(f, FAKE_REJECT);
    char addr[64];
    fake_addr(k, addr, sizeof(addr));
    struct rec *r = rec_start(f, &(struct sched_opts){.master = addr, .auto_reconnect = 1});
    AWAIT(f, r->disconnected > 0, WAIT_SECS);
    assert_int_equal(r->errors, 1);
    assert_non_null(strstr(buf_cstr(&r->last_error), "400"));
    assert_non_null(strstr(buf_cstr(&r->last_error), "this framework is not welcome"));
    assert_non_null(strstr(buf_cstr(&r->last_why), "this framework is not welcome"));
    assert_string_equal(r->order, "ed");
    assert_int_equal(k->subscribes, 1);
    assert_int_equal(tepui_scheduler_start(r->s), 0);   /* nothing was pending */
    AWAIT(f, r->disconnected > 1, WAIT_SECS);
    assert_int_equal(k->subscribes, 2);
    rec_free(r);
}

static void missed_heartbeats_resubscribe_with_the_framework_id(void **state)
{
    struct fixture *f = *state;
    struct fake *k = fake_start(f, FAKE_SILENT);
    char addr[64];
    fake_addr(k, addr, sizeof(addr));
    struct rec *r = rec_start(f, &(struct sched_opts){.master = addr, .auto_reconnect = 1,
                                          .format = TEPUI_FORMAT_JSON});
    /* SUBSCRIBED arrives in two halves. */
    AWAIT(f, r->subscribed > 0, WAIT_SECS);
    assert_string_equal(r->framework_id, "fake-framework");
    assert_string_equal(k->subscribe_framework_id, "");
    assert_string_equal(tepui_scheduler_stream_id(r->s), "fake-stream-1");
    /* 5 intervals of 0.1 s without an event: the stream is given up. */
    AWAIT(f, r->disconnected > 0, WAIT_SECS);
    assert_non_null(strstr(buf_cstr(&r->last_why), "heartbeat"));
    AWAIT(f, r->subscribed > 1, WAIT_SECS);
    assert_int_equal(k->subscribes, 2);
    assert_string_equal(k->subscribe_framework_id, "fake-framework");
    assert_string_equal(tepui_scheduler_stream_id(r->s), "fake-stream-2");
    rec_free(r);
}

static void call_follows_a_redirect(void **state)
{
    struct fixture *f = *state;
    struct fake *k = fake_start(f, FAKE_SILENT);
    char addr[64];
    fake_addr(k, addr, sizeof(addr));
    struct done d = {0};
    struct rec *r = rec_start(f, &(struct sched_opts){.master = addr});
    AWAIT(f, r->subscribed > 0, WAIT_SECS);
    assert_int_equal(tepui_scheduler_revive(r->s, NULL, 0, on_done, &d), 0);
    AWAIT(f, d.n > 0, WAIT_SECS);
    assert_int_equal(k->calls, 1);
    assert_string_equal(k->call_stream_id, "fake-stream-1");
    /* The real master was asked next: it knows no "fake-framework". */
    assert_int_equal(d.status, 400);
    assert_string_equal(buf_cstr(&d.body), "Framework cannot be found");
    buf_free(&d.body);
    rec_free(r);
}

/* ---- tests: lifetime ---- */

static void freeing_inside_a_callback_stops_all_callbacks(void **state)
{
    struct fixture *f = *state;
    struct rec *clock = rec_start(f, &(struct sched_opts){0});
    struct rec *a = rec_start(f, &(struct sched_opts){0});
    a->free_in_subscribed = 1;
    AWAIT(f, a->subscribed > 0, WAIT_SECS);
    assert_null(a->s);
    /* Heartbeats keep coming to the other scheduler, none to the freed one. */
    AWAIT(f, clock->heartbeats >= 3, WAIT_SECS);
    assert_true(clock->heartbeats >= 3);
    assert_int_equal(a->heartbeats, 0);
    assert_int_equal(a->disconnected, 0);
    assert_string_equal(a->order, "cs");
    rec_free(a);
    rec_free(clock);
}

static void free_with_calls_in_flight_runs_no_done_callback(void **state)
{
    struct fixture *f = *state;
    struct done d = {0};
    struct rec *clock = rec_start(f, &(struct sched_opts){0});
    struct rec *a = rec_start(f, &(struct sched_opts){0});
    AWAIT(f, a->subscribed > 0 && clock->subscribed > 0, WAIT_SECS);
    const char *tasks[] = {"t"};
    for (int i = 0; i < 5; i++)
        assert_int_equal(tepui_scheduler_reconcile(a->s, tasks, NULL, 1, on_done, &d), 0);
    /* The updates the master sends for them must not reach a either. */
    tepui_scheduler_free(a->s);
    a->s = NULL;
    AWAIT(f, clock->heartbeats >= 3, WAIT_SECS);
    assert_int_equal(d.n, 0);
    assert_int_equal(a->updates, 0);
    rec_free(a);
    rec_free(clock);
}

static void freeing_inside_a_done_callback_drops_the_other_calls(void **state)
{
    struct fixture *f = *state;
    struct rec *clock = rec_start(f, &(struct sched_opts){0});
    struct rec *a = rec_start(f, &(struct sched_opts){0});
    struct done first = {0}, rest = {0};
    AWAIT(f, a->subscribed > 0 && clock->subscribed > 0, WAIT_SECS);
    first.free_rec = a;
    const char *tasks[] = {"t"};
    assert_int_equal(tepui_scheduler_reconcile(a->s, tasks, NULL, 1, on_done, &first), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(tepui_scheduler_reconcile(a->s, tasks, NULL, 1, on_done, &rest), 0);
    AWAIT(f, first.n > 0, WAIT_SECS);
    assert_null(a->s);
    AWAIT(f, clock->heartbeats >= 3, WAIT_SECS);
    assert_int_equal(first.n, 1);
    assert_int_equal(rest.n, 0);
    buf_free(&first.body);
    rec_free(a);
    rec_free(clock);
}

static void freeing_inside_disconnected_is_safe(void **state)
{
    struct fixture *f = *state;
    struct fake *k = fake_start(f, FAKE_REJECT);
    char addr[64];
    fake_addr(k, addr, sizeof(addr));
    struct rec *r = rec_start(f, &(struct sched_opts){.master = addr, .auto_reconnect = 1});
    r->free_in_disconnected = 1;
    AWAIT(f, r->disconnected > 0, WAIT_SECS);
    assert_null(r->s);
    assert_string_equal(r->order, "ed");
    rec_free(r);
}

static void stop_and_start_resubscribes_the_same_framework(void **state)
{
    struct fixture *f = *state;
    struct rec *r = rec_start(f, &(struct sched_opts){.format = TEPUI_FORMAT_JSON});
    AWAIT(f, r->subscribed > 0, WAIT_SECS);
    char id[256];
    snprintf(id, sizeof(id), "%s", r->framework_id);
    tepui_scheduler_stop(r->s);
    assert_false(tepui_scheduler_is_subscribed(r->s));
    assert_int_equal(tepui_scheduler_start(r->s), 0);
    AWAIT(f, r->subscribed > 1, WAIT_SECS);
    assert_string_equal(r->framework_id, id);
    assert_int_equal(r->disconnected, 0);   /* stop reports nothing */
    rec_free(r);
}

static void new_refuses_incomplete_arguments(void **state)
{
    struct fixture *f = *state;
    Tepui__FrameworkInfo info = TEPUI__FRAMEWORK_INFO__INIT;
    struct tepui_scheduler_options opts = {.master = f->addr};
    log_set_level(LOG_LEVEL_ERROR + 1);
    assert_null(tepui_scheduler_new(f->base, &info, &opts, NULL, NULL));   /* no user, name */
    info.user = "u";
    info.name = "n";
    opts.master = "127.0.0.1:notaport";
    assert_null(tepui_scheduler_new(f->base, &info, &opts, NULL, NULL));
    opts.master = NULL;
    assert_null(tepui_scheduler_new(f->base, &info, &opts, NULL, NULL));
    log_set_level(LOG_LEVEL_WARN);
    assert_null(tepui_task_command_new(NULL, "n", "a", "true", 1, 1, NULL));
    tepui_scheduler_free(NULL);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    if (getenv("TEPUI_TEST_LOG") == NULL)
        log_set_level(LOG_LEVEL_WARN);
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(subscribes_with_protobuf_and_gets_a_framework_id),
        T(subscribes_with_json_and_gets_a_framework_id),
        T(heartbeats_arrive_at_the_configured_interval),
        T(reconcile_of_unknown_task_gives_task_lost_protobuf),
        T(reconcile_of_unknown_task_gives_task_lost_json),
        T(kill_of_unknown_task_gives_task_lost),
        T(rejected_call_reports_status_and_body),
        T(every_call_helper_is_accepted),
        T(second_subscriber_with_the_same_id_fails_over_the_first),
        T(teardown_ends_the_stream_without_resubscribing),
        T(invalid_subscription_gets_an_error_event_and_no_retry),
        T(master_restart_triggers_disconnected_and_resubscription),
        T(subscribe_follows_a_redirect_to_the_leader),
        T(subscribe_retries_after_503_no_leader),
        T(subscribe_rejected_with_4xx_reports_the_body),
        T(missed_heartbeats_resubscribe_with_the_framework_id),
        T(call_follows_a_redirect),
        T(freeing_inside_a_callback_stops_all_callbacks),
        T(free_with_calls_in_flight_runs_no_done_callback),
        T(freeing_inside_a_done_callback_drops_the_other_calls),
        T(freeing_inside_disconnected_is_safe),
        T(stop_and_start_resubscribes_the_same_framework),
        T(new_refuses_incomplete_arguments),
    };
#undef T
    /* TEPUI_TEST_FILTER=name runs the tests matching a pattern. */
    if (getenv("TEPUI_TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("TEPUI_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
