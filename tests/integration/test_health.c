/* Health checks, checks and kill policies in the built-in executors, with
 * real processes: COMMAND, HTTP and TCP health checks (HTTP and TCP against
 * servers this test runs on loopback ports) report healthy tasks and kill
 * unhealthy ones with Mesos's final state, healthy flag and a message
 * naming the failure; the grace period hides early failures; checks report
 * their status as it changes and never kill; kill grace periods (the
 * task's, a KILL's override) end tasks that ignore SIGTERM; task groups
 * health check each task; the master refuses malformed checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/xalloc.h"
#include "harness.h"
#include "wire/pb.h"

#define EV(t) TEPUI__SCHEDULER__EVENT__TYPE__##t
#define ST(s) TEPUI__TASK_STATE__TASK_##s
#define REASON(r) TEPUI__TASK_STATUS__REASON__REASON_##r

/* Generous: only a broken build waits this long. */
#define WAIT 30.0

#define RESOURCES "[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":0.1}}," \
                  "{\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":{\"value\":32}}]"
#define KILLING_CAPABLE "\"capabilities\":[{\"type\":\"TASK_KILLING_STATE\"}]"

struct fixture {
    struct h_cluster c;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    h_cluster_init(&f->c);
    h_start_master(&f->c, NULL);
    h_start_agent(&f->c, "cpus:8;mem:8192;disk:4096;ports:[31000-31099]", NULL);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    h_cluster_destroy(&f->c);
    free(f);
    return 0;
}

/* ---- a server on a loopback port, run by a thread of the test ---- */

struct server {
    int fd;
    int port;
    int http;                 /* answer requests with `status`; else accept and close */
    atomic_int status;
    atomic_int stop;
    atomic_int served;        /* connections accepted */
    pthread_t thread;
};

static void *server_main(void *arg)
{
    struct server *sv = arg;
    while (!atomic_load(&sv->stop)) {
        struct pollfd pfd = {.fd = sv->fd, .events = POLLIN};
        if (poll(&pfd, 1, 50) <= 0)
            continue;
        int c = accept(sv->fd, NULL, NULL);
        if (c < 0)
            continue;
        atomic_fetch_add(&sv->served, 1);
        if (sv->http) {
            char req[2048];
            size_t got = 0;
            /* Read the request head (a check sends no body). */
            while (got < sizeof(req) - 1) {
                struct pollfd cp = {.fd = c, .events = POLLIN};
                if (poll(&cp, 1, 1000) <= 0)
                    break;
                ssize_t n = read(c, req + got, sizeof(req) - 1 - got);
                if (n <= 0)
                    break;
                got += (size_t)n;
                req[got] = '\0';
                if (strstr(req, "\r\n\r\n") != NULL)
                    break;
            }
            char resp[128];
            int n = snprintf(resp, sizeof(resp),
                             "HTTP/1.1 %d Status\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                             atomic_load(&sv->status));
            ssize_t w = write(c, resp, (size_t)n);
            (void)w;
        }
        close(c);
    }
    return NULL;
}

static void server_start(struct server *sv, int http, int status)
{
    memset(sv, 0, sizeof(*sv));
    sv->http = http;
    atomic_store(&sv->status, status);
    sv->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(sv->fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(sv->fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(sv->fd, 64), 0);
    socklen_t len = sizeof(a);
    assert_int_equal(getsockname(sv->fd, (struct sockaddr *)&a, &len), 0);
    sv->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&sv->thread, NULL, server_main, sv), 0);
}

static void server_stop(struct server *sv)
{
    atomic_store(&sv->stop, 1);
    pthread_join(sv->thread, NULL);
    close(sv->fd);
}

static int server_was_contacted(void *arg)
{
    struct server *sv = arg;
    return atomic_load(&sv->served) >= 1;
}

/* A loopback port that nothing listens on (bound, then released). */
static int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t len = sizeof(a);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* ---- the scheduler's side ---- */

static void subscribe(struct fixture *f, struct h_sched *s, const char *extra)
{
    assert_int_equal(h_sched_subscribe(s, f->c.master.port, WIRE_JSON,
                                       h_framework_json("health", extra)),
                     200);
}

static Tepui__Offer *next_offer(struct h_sched *s)
{
    Tepui__Scheduler__Event *ev = h_sched_next(s, EV(OFFERS), WAIT);
    assert_non_null(ev);
    Tepui__Offer *o = PB_COPY(Tepui__Offer, ev->offers->offers[0]);
    pb_free(ev);
    return o;
}

/* A command task's TaskInfo in JSON, with extra fields (a health_check,
 * a check, a kill_policy), or NULL. command is a shell command, or a whole
 * CommandInfo in JSON when it starts with '{'. */
static char *task_json(const Tepui__Offer *o, const char *id, const char *command,
                       const char *extra)
{
    char *cmd = command[0] == '{' ? xstrdup(command) : xasprintf("{\"value\":\"%s\"}", command);
    char *t = xasprintf("{\"name\":\"%s\",\"task_id\":{\"value\":\"%s\"},\"agent_id\":{\"value\":"
                        "\"%s\"},\"resources\":" RESOURCES ",\"command\":%s%s%s}",
                        id, id, o->agent_id->value, cmd, extra ? "," : "", extra ? extra : "");
    free(cmd);
    return t;
}

/* Launches the TaskInfos (JSON, comma-separated) on the offer. */
static void launch(struct h_sched *s, const Tepui__Offer *o, const char *tasks)
{
    char *call = xasprintf("{\"type\":\"ACCEPT\",\"accept\":{\"offer_ids\":[{\"value\":\"%s\"}],"
                           "\"operations\":[{\"type\":\"LAUNCH\",\"launch\":{\"task_infos\":[%s]}}],"
                           "\"filters\":{\"refuse_seconds\":0}}}",
                           o->id->value, tasks);
    assert_int_equal(h_sched_call(s, call, NULL), 202);
    free(call);
}

/* Launches one command task with extra TaskInfo fields on the next offer. */
static void launch_one(struct h_sched *s, const char *id, const char *command, const char *extra)
{
    Tepui__Offer *o = next_offer(s);
    char *t = task_json(o, id, command, extra);
    launch(s, o, t);
    free(t);
    pb_free(o);
}

/* The next update of task_id (acknowledged); NULL on timeout. */
static Tepui__TaskStatus *next_update(struct h_sched *s, const char *task_id)
{
    double deadline = clock_mono() + WAIT;
    while (clock_mono() < deadline) {
        Tepui__Scheduler__Event *ev = h_sched_next(s, EV(UPDATE), deadline - clock_mono());
        if (ev == NULL)
            return NULL;
        Tepui__TaskStatus *st = ev->update->status;
        if (st->has_uuid)
            assert_int_equal(h_sched_ack(s, st), 202);
        if (strcmp(st->task_id->value, task_id) == 0) {
            Tepui__TaskStatus *copy = PB_COPY(Tepui__TaskStatus, st);
            pb_free(ev);
            return copy;
        }
        pb_free(ev);
    }
    return NULL;
}

/* The next health update of task_id, skipping state updates; asserts it
 * comes before the task ends. */
static Tepui__TaskStatus *next_health_update(struct h_sched *s, const char *task_id)
{
    for (;;) {
        Tepui__TaskStatus *st = next_update(s, task_id);
        assert_non_null(st);
        if (st->has_reason && st->reason == REASON(TASK_HEALTH_CHECK_STATUS_UPDATED)) {
            assert_int_equal(st->state, ST(RUNNING));
            assert_true(st->has_healthy);
            return st;
        }
        if (st->state != ST(STARTING) && st->state != ST(RUNNING))
            fail_msg("task %s ended in state %d (%s) before a health update", task_id,
                     st->state, st->message ? st->message : "");
        pb_free(st);
    }
}

/* Waits for the terminal update of task_id, counting the health updates
 * (healthy, unhealthy) and TASK_KILLING seen on the way. */
struct ending {
    int healthy, unhealthy, killing;
};

static Tepui__TaskStatus *wait_end(struct h_sched *s, const char *task_id, struct ending *e)
{
    for (;;) {
        Tepui__TaskStatus *st = next_update(s, task_id);
        if (st == NULL)
            return NULL;
        if (st->has_reason && st->reason == REASON(TASK_HEALTH_CHECK_STATUS_UPDATED) && e) {
            if (st->healthy)
                e->healthy++;
            else
                e->unhealthy++;
        }
        if (st->state == ST(KILLING) && e != NULL)
            e->killing++;
        if (st->state != ST(STARTING) && st->state != ST(RUNNING) && st->state != ST(KILLING))
            return st;
        pb_free(st);
    }
}

static void kill_task(struct h_sched *s, const char *task_id, const char *agent_id,
                      double grace)
{
    char *call;
    if (grace >= 0)
        call = xasprintf("{\"type\":\"KILL\",\"kill\":{\"task_id\":{\"value\":\"%s\"},"
                         "\"agent_id\":{\"value\":\"%s\"},\"kill_policy\":{\"grace_period\":"
                         "{\"nanoseconds\":%lld}}}}",
                         task_id, agent_id, (long long)(grace * 1e9));
    else
        call = xasprintf("{\"type\":\"KILL\",\"kill\":{\"task_id\":{\"value\":\"%s\"},"
                         "\"agent_id\":{\"value\":\"%s\"}}}",
                         task_id, agent_id);
    assert_int_equal(h_sched_call(s, call, NULL), 202);
    free(call);
}

/* Kills a task that is running and waits for its end. */
static void kill_and_wait(struct h_sched *s, const Tepui__TaskStatus *running)
{
    kill_task(s, running->task_id->value, running->agent_id->value, 0);
    Tepui__TaskStatus *end = wait_end(s, running->task_id->value, NULL);
    assert_non_null(end);
    assert_int_equal(end->state, ST(KILLED));
    pb_free(end);
}

/* ---- health checks ---- */

static void command_health_check_reports_a_healthy_task(void **state)
{
    struct fixture *f = *state;
    struct h_sched s;
    subscribe(f, &s, NULL);
    /* The check runs in the task's sandbox with its environment. */
    launch_one(&s, "cmd",
               "{\"value\":\"touch marker; sleep 60\",\"environment\":{\"variables\":"
               "[{\"name\":\"HC_WANT\",\"value\":\"marker\"}]}}",
               "\"health_check\":{\"type\":\"COMMAND\",\"command\":{\"value\":"
               "\"test -f \\\"$MESOS_SANDBOX/$HC_WANT\\\"\"},\"delay_seconds\":0,"
               "\"interval_seconds\":0.2,\"grace_period_seconds\":30}");
    Tepui__TaskStatus *st = next_health_update(&s, "cmd");
    assert_true(st->healthy);
    /* One healthy report, not one per attempt: the next update is the kill. */
    kill_and_wait(&s, st);
    pb_free(st);
    h_sched_close(&s);
}

static void failing_command_health_check_kills_the_task(void **state)
{
    struct fixture *f = *state;
    struct h_sched s;
    subscribe(f, &s, KILLING_CAPABLE);
    launch_one(&s, "sick", "sleep 60",
               "\"health_check\":{\"type\":\"COMMAND\",\"command\":{\"value\":\"exit 3\"},"
               "\"delay_seconds\":0,\"interval_seconds\":0.2,\"grace_period_seconds\":0,"
               "\"consecutive_failures\":2}");
    struct ending e = {0};
    Tepui__TaskStatus *end = wait_end(&s, "sick", &e);
    assert_non_null(end);
    /* Mesos's end of a task its health check killed. */
    assert_int_equal(end->state, ST(KILLED));
    assert_true(end->has_healthy);
    assert_false(end->healthy);
    assert_non_null(strstr(end->message, "COMMAND health check failed 2 times consecutively"));
    assert_non_null(strstr(end->message, "exited with status 3"));
    /* Every failure was reported, then TASK_KILLING. */
    assert_int_equal(e.unhealthy, 2);
    assert_int_equal(e.healthy, 0);
    assert_int_equal(e.killing, 1);
    pb_free(end);
    h_sched_close(&s);
}

static void http_health_check_follows_the_server(void **state)
{
    struct fixture *f = *state;
    struct server sv;
    server_start(&sv, 1, 200);
    struct h_sched s;
    subscribe(f, &s, NULL);
    char *extra = xasprintf("\"health_check\":{\"type\":\"HTTP\",\"http\":{\"port\":%d,"
                            "\"path\":\"/health\"},\"delay_seconds\":0,\"interval_seconds\":0.2,"
                            "\"grace_period_seconds\":0,\"consecutive_failures\":2}",
                            sv.port);
    launch_one(&s, "web", "sleep 60", extra);
    free(extra);
    Tepui__TaskStatus *st = next_health_update(&s, "web");
    assert_true(st->healthy);
    pb_free(st);
    /* A 3xx is healthy too; a 5xx is not. */
    atomic_store(&sv.status, 503);
    struct ending e = {0};
    Tepui__TaskStatus *end = wait_end(&s, "web", &e);
    assert_non_null(end);
    assert_int_equal(end->state, ST(KILLED));
    assert_false(end->healthy);
    assert_non_null(strstr(end->message, "HTTP health check failed 2 times consecutively"));
    assert_non_null(strstr(end->message, "503"));
    assert_int_equal(e.unhealthy, 2);
    pb_free(end);
    h_sched_close(&s);
    server_stop(&sv);
}

static void http_health_check_takes_redirects_as_healthy(void **state)
{
    struct fixture *f = *state;
    struct server sv;
    server_start(&sv, 1, 302);
    struct h_sched s;
    subscribe(f, &s, NULL);
    char *extra = xasprintf("\"health_check\":{\"type\":\"HTTP\",\"http\":{\"port\":%d},"
                            "\"delay_seconds\":0,\"interval_seconds\":0.2}",
                            sv.port);
    launch_one(&s, "redirect", "sleep 60", extra);
    free(extra);
    Tepui__TaskStatus *st = next_health_update(&s, "redirect");
    assert_true(st->healthy);
    kill_and_wait(&s, st);
    pb_free(st);
    h_sched_close(&s);
    server_stop(&sv);
}

static void tcp_health_check_reports_a_listening_port_healthy(void **state)
{
    struct fixture *f = *state;
    struct server sv;
    server_start(&sv, 0, 0);
    struct h_sched s;
    subscribe(f, &s, NULL);
    char *extra = xasprintf("\"health_check\":{\"type\":\"TCP\",\"tcp\":{\"port\":%d},"
                            "\"delay_seconds\":0,\"interval_seconds\":0.2}",
                            sv.port);
    launch_one(&s, "tcp", "sleep 60", extra);
    free(extra);
    Tepui__TaskStatus *st = next_health_update(&s, "tcp");
    assert_true(st->healthy);
    /* The connection reached this server (its thread may accept it later
     * than the kernel completed it). */
    assert_true(h_wait_until(server_was_contacted, &sv, WAIT));
    kill_and_wait(&s, st);
    pb_free(st);
    h_sched_close(&s);
    server_stop(&sv);
}

static void port_that_never_opens_kills_the_task_after_the_grace_period(void **state)
{
    struct fixture *f = *state;
    struct h_sched s;
    subscribe(f, &s, NULL);
    char *extra = xasprintf("\"health_check\":{\"type\":\"TCP\",\"tcp\":{\"port\":%d},"
                            "\"delay_seconds\":0,\"interval_seconds\":0.2,"
                            "\"grace_period_seconds\":1,\"consecutive_failures\":3}",
                            closed_port());
    launch_one(&s, "closed", "sleep 60", extra);
    free(extra);
    struct ending e = {0};
    Tepui__TaskStatus *end = wait_end(&s, "closed", &e);
    assert_non_null(end);
    assert_int_equal(end->state, ST(KILLED));
    assert_false(end->healthy);
    assert_non_null(strstr(end->message, "TCP health check failed 3 times consecutively"));
    assert_int_equal(e.unhealthy, 3);
    assert_int_equal(e.healthy, 0);
    pb_free(end);
    h_sched_close(&s);
}

struct sandbox_file {
    const struct fixture *f;
    const char *framework_id, *executor_id, *name;
    int min_lines;
};

/* Whether a file of the executor's sandbox has at least min_lines lines. */
static int sandbox_file_lines(void *arg)
{
    struct sandbox_file *sf = arg;
    char *dir = h_agent_sandbox(&sf->f->c, 0, sf->framework_id, sf->executor_id);
    if (dir == NULL)
        return 0;
    char *path = xasprintf("%s/%s", dir, sf->name);
    free(dir);
    FILE *fp = fopen(path, "r");
    free(path);
    if (fp == NULL)
        return 0;
    int lines = 0, ch;
    while ((ch = fgetc(fp)) != EOF)
        lines += ch == '\n';
    fclose(fp);
    return lines >= sf->min_lines;
}

static void touch_in_sandbox(const struct fixture *f, const char *framework_id,
                             const char *executor_id, const char *name)
{
    char *dir = h_agent_sandbox(&f->c, 0, framework_id, executor_id);
    assert_non_null(dir);
    char *path = xasprintf("%s/%s", dir, name);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fclose(fp);
    free(path);
    free(dir);
}

/* The check counts its attempts in the sandbox and passes once `ready`
 * exists, which the test creates after several failed attempts: within the
 * grace period they are not reported, so the first health update is the
 * healthy one; without a grace period the first is unhealthy. */
static void failures_within_the_grace_period_are_ignored(void **state)
{
    struct fixture *f = *state;
    struct h_sched s;
    subscribe(f, &s, NULL);
    const char *grace[] = {"slow", "60", "eager", "0"};
    for (int i = 0; i < 2; i++) {
        const char *id = grace[2 * i];
        char *extra = xasprintf("\"health_check\":{\"type\":\"COMMAND\",\"command\":{\"value\":"
                                "\"echo x >> attempts; test -f ready\"},\"delay_seconds\":0,"
                                "\"interval_seconds\":0.2,\"grace_period_seconds\":%s,"
                                "\"consecutive_failures\":100}",
                                grace[2 * i + 1]);
        launch_one(&s, id, "sleep 60", extra);
        free(extra);
        Tepui__TaskStatus *running = h_sched_wait_state(&s, id, ST(RUNNING), WAIT);
        assert_non_null(running);
        struct sandbox_file sf = {f, s.framework_id, id, "attempts", 3};
        assert_true(h_wait_until(sandbox_file_lines, &sf, WAIT));
        touch_in_sandbox(f, s.framework_id, id, "ready");
        Tepui__TaskStatus *st = next_health_update(&s, id);
        if (i == 0)
            assert_true(st->healthy);
        else
            assert_false(st->healthy);
        pb_free(st);
        kill_and_wait(&s, running);
        pb_free(running);
    }
    h_sched_close(&s);
}

/* ---- checks ---- */

static void command_check_reports_exit_code_changes_and_never_kills(void **state)
{
    struct fixture *f = *state;
    struct h_sched s;
    subscribe(f, &s, NULL);
    launch_one(&s, "chk", "sleep 60",
               "\"check\":{\"type\":\"COMMAND\",\"command\":{\"command\":{\"value\":"
               "\"test -f ok || exit 7\"}},\"delay_seconds\":0,\"interval_seconds\":0.2}");
    /* Every update of a task with a check carries its type. */
    Tepui__TaskStatus *st = h_sched_wait_state(&s, "chk", ST(RUNNING), WAIT);
    assert_non_null(st);
    assert_non_null(st->check_status);
    assert_int_equal(st->check_status->type, TEPUI__CHECK_INFO__TYPE__COMMAND);
    Tepui__TaskStatus *running = st;
    int seen_7 = 0;
    for (;;) {
        st = next_update(&s, "chk");
        assert_non_null(st);
        assert_int_equal(st->state, ST(RUNNING));
        assert_true(st->has_reason);
        assert_int_equal(st->reason, REASON(TASK_CHECK_STATUS_UPDATED));
        assert_non_null(st->check_status);
        assert_non_null(st->check_status->command);
        assert_true(st->check_status->command->has_exit_code);
        int code = st->check_status->command->exit_code;
        pb_free(st);
        if (code == 7) {
            /* Failing for a while kills nothing; the update is not repeated. */
            assert_false(seen_7);
            seen_7 = 1;
            touch_in_sandbox(f, s.framework_id, "chk", "ok");
            continue;
        }
        assert_true(seen_7);
        assert_int_equal(code, 0);
        break;
    }
    kill_and_wait(&s, running);
    pb_free(running);
    h_sched_close(&s);
}

static void http_and_tcp_checks_report_status_changes(void **state)
{
    struct fixture *f = *state;
    struct server web, tcp;
    server_start(&web, 1, 500);
    server_start(&tcp, 0, 0);
    struct h_sched s;
    subscribe(f, &s, NULL);
    Tepui__Offer *o = next_offer(&s);
    char *chk_http = xasprintf("\"check\":{\"type\":\"HTTP\",\"http\":{\"port\":%d,\"path\":"
                               "\"/ready\"},\"delay_seconds\":0,\"interval_seconds\":0.2}",
                               web.port);
    char *chk_tcp = xasprintf("\"check\":{\"type\":\"TCP\",\"tcp\":{\"port\":%d},"
                              "\"delay_seconds\":0,\"interval_seconds\":0.2}",
                              tcp.port);
    char *t1 = task_json(o, "h", "sleep 60", chk_http);
    char *t2 = task_json(o, "t", "sleep 60", chk_tcp);
    char *both = xasprintf("%s,%s", t1, t2);
    launch(&s, o, both);
    free(both);
    free(t1);
    free(t2);
    free(chk_http);
    free(chk_tcp);
    pb_free(o);

    Tepui__TaskStatus *h_running = NULL, *t_running = NULL;
    int http_codes[2] = {0, 0}, n_http = 0;
    int tcp_results[2] = {-1, -1}, n_tcp = 0;
    double deadline = clock_mono() + WAIT;
    while ((n_http < 2 || n_tcp < 2) && clock_mono() < deadline) {
        Tepui__Scheduler__Event *ev = h_sched_next(&s, EV(UPDATE), deadline - clock_mono());
        assert_non_null(ev);
        Tepui__TaskStatus *st = ev->update->status;
        assert_int_equal(h_sched_ack(&s, st), 202);
        int is_h = strcmp(st->task_id->value, "h") == 0;
        if (st->state == ST(RUNNING) && !st->has_reason) {
            if (is_h)
                h_running = PB_COPY(Tepui__TaskStatus, st);
            else
                t_running = PB_COPY(Tepui__TaskStatus, st);
        }
        if (st->has_reason && st->reason == REASON(TASK_CHECK_STATUS_UPDATED)) {
            assert_int_equal(st->state, ST(RUNNING));
            if (is_h) {
                assert_non_null(st->check_status->http);
                assert_true(st->check_status->http->has_status_code);
                assert_true(n_http < 2);
                http_codes[n_http++] = (int)st->check_status->http->status_code;
                atomic_store(&web.status, 200);
            } else {
                assert_non_null(st->check_status->tcp);
                assert_true(st->check_status->tcp->has_succeeded);
                assert_true(n_tcp < 2);
                tcp_results[n_tcp++] = st->check_status->tcp->succeeded;
                if (n_tcp == 1)
                    server_stop(&tcp);   /* the port closes */
            }
        }
        assert_true(st->state == ST(STARTING) || st->state == ST(RUNNING));
        pb_free(ev);
    }
    assert_int_equal(http_codes[0], 500);
    assert_int_equal(http_codes[1], 200);
    assert_int_equal(tcp_results[0], 1);
    assert_int_equal(tcp_results[1], 0);
    assert_non_null(h_running);
    assert_non_null(t_running);
    kill_and_wait(&s, h_running);
    kill_and_wait(&s, t_running);
    pb_free(h_running);
    pb_free(t_running);
    h_sched_close(&s);
    server_stop(&web);
}

/* ---- kill policies ---- */

/* The shell and its sleep both ignore SIGTERM. */
#define STUBBORN "trap '' TERM; echo started > started; sleep 60"

static int task_started(void *arg)
{
    return sandbox_file_lines(arg);
}

static void task_ignoring_sigterm_is_killed_after_its_grace_period(void **state)
{
    struct fixture *f = *state;
    struct h_sched s;
    subscribe(f, &s, KILLING_CAPABLE);
    launch_one(&s, "stubborn", STUBBORN,
               "\"kill_policy\":{\"grace_period\":{\"nanoseconds\":300000000}}");
    Tepui__TaskStatus *running = h_sched_wait_state(&s, "stubborn", ST(RUNNING), WAIT);
    assert_non_null(running);
    struct sandbox_file sf = {f, s.framework_id, "stubborn", "started", 1};
    assert_true(h_wait_until(task_started, &sf, WAIT));
    kill_task(&s, "stubborn", running->agent_id->value, -1);
    struct ending e = {0};
    Tepui__TaskStatus *end = wait_end(&s, "stubborn", &e);
    assert_non_null(end);
    assert_int_equal(end->state, ST(KILLED));
    assert_int_equal(e.killing, 1);
    assert_string_equal(end->message, "Command terminated with signal Killed");
    pb_free(end);
    pb_free(running);
    h_sched_close(&s);
}

static void well_behaved_task_ends_on_sigterm_within_its_grace_period(void **state)
{
    struct fixture *f = *state;
    struct h_sched s;
    subscribe(f, &s, NULL);
    /* A grace period longer than the test's wait: only SIGTERM can end it. */
    launch_one(&s, "polite", "sleep 60",
               "\"kill_policy\":{\"grace_period\":{\"nanoseconds\":600000000000}}");
    Tepui__TaskStatus *running = h_sched_wait_state(&s, "polite", ST(RUNNING), WAIT);
    assert_non_null(running);
    kill_task(&s, "polite", running->agent_id->value, -1);
    struct ending e = {0};
    Tepui__TaskStatus *end = wait_end(&s, "polite", &e);
    assert_non_null(end);
    assert_int_equal(end->state, ST(KILLED));
    assert_int_equal(e.killing, 0);   /* not TASK_KILLING_STATE capable */
    assert_string_equal(end->message, "Command terminated with signal Terminated");
    pb_free(end);
    pb_free(running);
    h_sched_close(&s);
}

static void kill_call_overrides_the_task_grace_period(void **state)
{
    struct fixture *f = *state;
    struct h_sched s;
    subscribe(f, &s, NULL);
    /* The task's own grace period is longer than the test waits. */
    launch_one(&s, "override", STUBBORN,
               "\"kill_policy\":{\"grace_period\":{\"nanoseconds\":600000000000}}");
    Tepui__TaskStatus *running = h_sched_wait_state(&s, "override", ST(RUNNING), WAIT);
    assert_non_null(running);
    struct sandbox_file sf = {f, s.framework_id, "override", "started", 1};
    assert_true(h_wait_until(task_started, &sf, WAIT));
    kill_task(&s, "override", running->agent_id->value, 0.3);
    Tepui__TaskStatus *end = wait_end(&s, "override", NULL);
    assert_non_null(end);
    assert_int_equal(end->state, ST(KILLED));
    assert_string_equal(end->message, "Command terminated with signal Killed");
    pb_free(end);
    pb_free(running);
    h_sched_close(&s);
}

/* ---- task groups ---- */

static void default_executor_health_checks_each_task_of_a_group(void **state)
{
    struct fixture *f = *state;
    struct h_sched s;
    subscribe(f, &s, NULL);
    Tepui__Offer *o = next_offer(&s);
    /* One healthy task and one whose check fails: the failing one is killed
     * for it, and takes its group along. */
    char *call = xasprintf(
        "{\"type\":\"ACCEPT\",\"accept\":{\"offer_ids\":[{\"value\":\"%s\"}],"
        "\"operations\":[{\"type\":\"LAUNCH_GROUP\",\"launch_group\":{"
        "\"executor\":{\"type\":\"DEFAULT\",\"executor_id\":{\"value\":\"pod\"},\"resources\":"
        RESOURCES "},\"task_group\":{\"tasks\":["
        "{\"name\":\"good\",\"task_id\":{\"value\":\"good\"},\"agent_id\":{\"value\":\"%s\"},"
        "\"resources\":" RESOURCES ",\"command\":{\"value\":\"touch here; sleep 60\"},"
        "\"health_check\":{\"type\":\"COMMAND\",\"command\":{\"value\":\"test -f here\"},"
        "\"delay_seconds\":0,\"interval_seconds\":0.2,\"grace_period_seconds\":30}},"
        "{\"name\":\"bad\",\"task_id\":{\"value\":\"bad\"},\"agent_id\":{\"value\":\"%s\"},"
        "\"resources\":" RESOURCES ",\"command\":{\"value\":\"sleep 60\"},"
        "\"health_check\":{\"type\":\"COMMAND\",\"command\":{\"value\":\"test -f never\"},"
        "\"delay_seconds\":0.5,\"interval_seconds\":0.2,\"grace_period_seconds\":0,"
        "\"consecutive_failures\":1}}]}}}],\"filters\":{\"refuse_seconds\":0}}}",
        o->id->value, o->agent_id->value, o->agent_id->value);
    assert_int_equal(h_sched_call(&s, call, NULL), 202);
    free(call);
    pb_free(o);

    int good_healthy = 0, bad_unhealthy = 0;
    Tepui__TaskStatus *good_end = NULL, *bad_end = NULL;
    double deadline = clock_mono() + WAIT;
    while ((good_end == NULL || bad_end == NULL) && clock_mono() < deadline) {
        Tepui__Scheduler__Event *ev = h_sched_next(&s, EV(UPDATE), deadline - clock_mono());
        assert_non_null(ev);
        Tepui__TaskStatus *st = ev->update->status;
        assert_int_equal(h_sched_ack(&s, st), 202);
        int good = strcmp(st->task_id->value, "good") == 0;
        if (st->has_reason && st->reason == REASON(TASK_HEALTH_CHECK_STATUS_UPDATED)) {
            if (good && st->healthy)
                good_healthy++;
            if (!good && !st->healthy)
                bad_unhealthy++;
        }
        if (st->state == ST(KILLED) || st->state == ST(FAILED) || st->state == ST(FINISHED)) {
            if (good)
                good_end = PB_COPY(Tepui__TaskStatus, st);
            else
                bad_end = PB_COPY(Tepui__TaskStatus, st);
        }
        pb_free(ev);
    }
    assert_non_null(good_end);
    assert_non_null(bad_end);
    assert_int_equal(bad_unhealthy, 1);
    assert_int_equal(bad_end->state, ST(KILLED));
    assert_true(bad_end->has_healthy);
    assert_false(bad_end->healthy);
    assert_non_null(strstr(bad_end->message, "COMMAND health check failed 1 time"));
    assert_int_equal(good_end->state, ST(KILLED));
    assert_false(good_end->has_healthy && !good_end->healthy);
    (void)good_healthy;   /* it may be killed before its first result */
    pb_free(good_end);
    pb_free(bad_end);
    h_sched_close(&s);
}

/* ---- validation ---- */

static void malformed_health_checks_and_checks_end_in_task_error(void **state)
{
    struct fixture *f = *state;
    struct h_sched s;
    subscribe(f, &s, NULL);
    static const struct {
        const char *id, *extra, *message;
    } cases[] = {
        {"no-type", "\"health_check\":{\"command\":{\"value\":\"true\"}}",
         "Task uses invalid health check: HealthCheck must specify 'type'"},
        {"no-command", "\"health_check\":{\"type\":\"COMMAND\"}",
         "Task uses invalid health check: Expecting 'command' to be set for COMMAND health check"},
        {"no-http", "\"health_check\":{\"type\":\"HTTP\"}",
         "Task uses invalid health check: Expecting 'http' to be set for HTTP health check"},
        {"bad-scheme", "\"health_check\":{\"type\":\"HTTP\",\"http\":{\"port\":80,"
                       "\"scheme\":\"ftp\"}}",
         "Task uses invalid health check: Unsupported HTTP health check scheme: 'ftp'"},
        {"bad-path", "\"health_check\":{\"type\":\"HTTP\",\"http\":{\"port\":80,"
                     "\"path\":\"health\"}}",
         "Task uses invalid health check: The path 'health' of HTTP health check must start "
         "with '/'"},
        {"big-port", "\"health_check\":{\"type\":\"TCP\",\"tcp\":{\"port\":70000}}",
         "Task uses invalid health check: Expecting 'tcp.port' to be a port in [1, 65535], "
         "got 70000"},
        {"negative", "\"health_check\":{\"type\":\"TCP\",\"tcp\":{\"port\":80},"
                     "\"interval_seconds\":-1}",
         "Task uses invalid health check: Expecting 'interval_seconds' to be non-negative"},
        {"no-tcp", "\"check\":{\"type\":\"TCP\"}",
         "Task uses invalid check: Expecting 'tcp' to be set for TCP check"},
        {"check-type", "\"check\":{\"type\":\"UNKNOWN\"}",
         "Task uses invalid check: 'UNKNOWN' is not a valid check type"},
        {"check-timeout", "\"check\":{\"type\":\"HTTP\",\"http\":{\"port\":8080},"
                          "\"timeout_seconds\":-0.5}",
         "Task uses invalid check: Expecting 'timeout_seconds' to be non-negative"},
    };
    size_t n = sizeof(cases) / sizeof(cases[0]);
    Tepui__Offer *o = next_offer(&s);
    struct buf tasks = BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        char *t = task_json(o, cases[i].id, "sleep 60", cases[i].extra);
        buf_printf(&tasks, "%s%s", i ? "," : "", t);
        free(t);
    }
    launch(&s, o, buf_cstr(&tasks));
    buf_free(&tasks);
    pb_free(o);
    for (size_t i = 0; i < n; i++) {
        Tepui__TaskStatus *st = next_update(&s, cases[i].id);
        assert_non_null(st);
        assert_int_equal(st->state, ST(ERROR));
        assert_string_equal(st->message, cases[i].message);
        pb_free(st);
    }
    h_sched_close(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(command_health_check_reports_a_healthy_task, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(failing_command_health_check_kills_the_task, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(http_health_check_follows_the_server, setup, teardown),
        cmocka_unit_test_setup_teardown(http_health_check_takes_redirects_as_healthy, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(tcp_health_check_reports_a_listening_port_healthy, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            port_that_never_opens_kills_the_task_after_the_grace_period, setup, teardown),
        cmocka_unit_test_setup_teardown(failures_within_the_grace_period_are_ignored, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(command_check_reports_exit_code_changes_and_never_kills,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(http_and_tcp_checks_report_status_changes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(task_ignoring_sigterm_is_killed_after_its_grace_period,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(well_behaved_task_ends_on_sigterm_within_its_grace_period,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(kill_call_overrides_the_task_grace_period, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(default_executor_health_checks_each_task_of_a_group,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(malformed_health_checks_and_checks_end_in_task_error,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
