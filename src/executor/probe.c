/* One attempt of a check (see probe.h). Mesos runs curl and its
 * mesos-tcp-connect helper for HTTP and TCP checks; here they are sockets
 * on the loop, so an attempt costs no process. The target is the loopback
 * address, as in Mesos: the executor shares the task's network. */
#include "executor/probe.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "common/clock.h"
#include "common/xalloc.h"

/* A status line longer than this is not HTTP. */
#define MAX_STATUS_LINE 8192

struct probe {
    enum probe_type type;
    probe_done_fn done;
    void *arg;
    double timeout;
    pid_t pid;                     /* PROBE_COMMAND, until reaped */
    struct bufferevent *bev;       /* PROBE_HTTP, PROBE_TCP */
    char *request;                 /* PROBE_HTTP */
    struct event *timer;           /* the timeout, or the delivery of an early result */
    int has_result;                /* result is final, waiting for delivery */
    struct probe_result result;
};

static void set_message(struct probe_result *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void set_message(struct probe_result *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->message, sizeof(r->message), fmt, ap);
    va_end(ap);
}

static void release_socket(struct probe *p)
{
    if (p->bev != NULL) {
        bufferevent_free(p->bev);
        p->bev = NULL;
    }
}

/* Hands the result over; p may be gone afterwards. */
static void deliver(struct probe *p)
{
    evtimer_del(p->timer);
    release_socket(p);
    p->has_result = 1;
    struct probe_result r = p->result;
    p->done(&r, p->arg);
}

/* A result known before the loop runs again goes out from the loop, so
 * that done never runs inside probe_start. */
static void deliver_later(struct probe *p)
{
    p->has_result = 1;
    struct timeval now = {0, 0};
    evtimer_add(p->timer, &now);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct probe *p = arg;
    (void)fd;
    (void)what;
    if (!p->has_result) {
        p->result.answered = 0;
        set_message(&p->result, "timed out after %gs", p->timeout);
        if (p->pid > 0) {
            /* Reaped later by the executor's SIGCHLD handler, which
             * ignores processes it does not know. */
            killpg(p->pid, SIGKILL);
            kill(p->pid, SIGKILL);
        }
    }
    deliver(p);
}

/* ---- commands ---- */

int probe_child_exited(struct probe *p, pid_t pid, int wait_status)
{
    if (p == NULL || p->type != PROBE_COMMAND || p->pid <= 0 || pid != p->pid)
        return 0;
    p->pid = -1;
    /* Whatever it left behind in its group goes with it. */
    killpg(pid, SIGKILL);
    if (p->has_result)
        return 1;   /* timed out already */
    p->result.answered = 1;
    if (WIFEXITED(wait_status)) {
        p->result.exit_code = WEXITSTATUS(wait_status);
        set_message(&p->result, "command exited with status %d", p->result.exit_code);
    } else {
        p->result.exit_code = -1;
        set_message(&p->result, "command terminated with signal %s",
                    strsignal(WTERMSIG(wait_status)));
    }
    deliver(p);
    return 1;
}

/* ---- sockets ---- */

static void http_read_cb(struct bufferevent *bev, void *arg)
{
    struct probe *p = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t n = 0;
    char *line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF);
    if (line == NULL) {
        if (evbuffer_get_length(in) <= MAX_STATUS_LINE)
            return;   /* more to come */
        p->result.answered = 0;
        set_message(&p->result, "no HTTP status line in the first %d bytes", MAX_STATUS_LINE);
        deliver(p);
        return;
    }
    int major = 0, minor = 0, status = 0;
    if (sscanf(line, "HTTP/%d.%d %3d", &major, &minor, &status) == 3 && status >= 100 &&
        status <= 999) {
        p->result.answered = 1;
        p->result.http_status = status;
        set_message(&p->result, "HTTP status %d", status);
    } else {
        p->result.answered = 0;
        set_message(&p->result, "malformed HTTP status line '%.64s'", line);
    }
    free(line);
    deliver(p);
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct probe *p = arg;
    if (what & BEV_EVENT_CONNECTED) {
        if (p->type == PROBE_TCP) {
            p->result.answered = 1;
            p->result.tcp_connected = 1;
            set_message(&p->result, "connected");
            deliver(p);
            return;
        }
        bufferevent_write(bev, p->request, strlen(p->request));
        bufferevent_enable(bev, EV_READ);
        return;
    }
    int e = EVUTIL_SOCKET_ERROR();
    if (p->type == PROBE_TCP) {
        /* A refused connection is the check's answer: not listening. */
        p->result.answered = 1;
        p->result.tcp_connected = 0;
        set_message(&p->result, "connection failed: %s",
                    (what & BEV_EVENT_ERROR) && e != 0 ? strerror(e) : "closed");
    } else {
        p->result.answered = 0;
        if (what & BEV_EVENT_EOF)
            set_message(&p->result, "connection closed before an HTTP status line");
        else
            set_message(&p->result, "connection failed: %s", e != 0 ? strerror(e) : "error");
    }
    deliver(p);
}

static int start_socket(struct event_base *base, struct probe *p, const struct probe_spec *spec,
                        struct error *err)
{
    struct sockaddr_storage ss;
    socklen_t len;
    memset(&ss, 0, sizeof(ss));
    if (spec->ipv6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(spec->port);
        a->sin6_addr = in6addr_loopback;
        len = sizeof(*a);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = htons(spec->port);
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        len = sizeof(*a);
    }
    p->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (p->bev == NULL)
        return error_set(err, -ENOMEM, "cannot create a socket");
    bufferevent_setcb(p->bev, p->type == PROBE_HTTP ? http_read_cb : NULL, NULL, event_cb, p);
    if (p->type == PROBE_HTTP)
        p->request = xasprintf("GET %s HTTP/1.1\r\nHost: %s%s%s:%u\r\nUser-Agent: tepui-check\r\n"
                               "Accept: */*\r\nConnection: close\r\n\r\n",
                               spec->path != NULL && spec->path[0] != '\0' ? spec->path : "/",
                               spec->ipv6 ? "[" : "", spec->ipv6 ? "::1" : "127.0.0.1",
                               spec->ipv6 ? "]" : "", (unsigned)spec->port);
    if (bufferevent_socket_connect(p->bev, (struct sockaddr *)&ss, (int)len) != 0) {
        int e = EVUTIL_SOCKET_ERROR();
        release_socket(p);
        p->result.answered = p->type == PROBE_TCP;
        set_message(&p->result, "connection failed: %s", e != 0 ? strerror(e) : "error");
        deliver_later(p);
    }
    return 0;
}

/* ---- the handle ---- */

struct probe *probe_start(struct event_base *base, const struct probe_spec *spec,
                          probe_done_fn done, void *arg, struct error *err)
{
    struct probe *p = XNEW(struct probe);
    p->type = spec->type;
    p->done = done;
    p->arg = arg;
    p->timeout = spec->timeout;
    p->pid = -1;
    p->timer = evtimer_new(base, timer_cb, p);
    int rc = 0;
    if (spec->type == PROBE_HTTP && spec->https) {
        p->result.answered = 0;
        set_message(&p->result, "HTTPS checks are not supported; use scheme 'http'");
        deliver_later(p);
    } else if (spec->type == PROBE_COMMAND) {
        pid_t pid = task_process_spawn_helper(spec->task, spec->command, err);
        if (pid < 0)
            rc = -EINVAL;
        p->pid = pid;
    } else {
        rc = start_socket(base, p, spec, err);
    }
    if (rc != 0) {
        probe_free(p);
        return NULL;
    }
    if (!p->has_result) {
        struct timeval tv = clock_timeval(spec->timeout > 0 ? spec->timeout : 0);
        evtimer_add(p->timer, &tv);
    }
    return p;
}

void probe_free(struct probe *p)
{
    if (p == NULL)
        return;
    if (p->pid > 0) {
        killpg(p->pid, SIGKILL);
        kill(p->pid, SIGKILL);
    }
    release_socket(p);
    if (p->timer != NULL)
        event_free(p->timer);
    free(p->request);
    free(p);
}
