/* Health checks and checks without a cluster: the master's validation of
 * HealthCheck and CheckInfo (Mesos's messages), and single probes on a
 * real loop: a command that outlives its timeout is killed, TCP and HTTP
 * probes against sockets of this process, a refused connection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "executor/probe.h"
#include "master/health_validation.h"

/* ---- validation ---- */

static void health_check_needs_a_type_and_its_fields(void **state)
{
    (void)state;
    struct error err = {0};
    Tepui__HealthCheck hc = TEPUI__HEALTH_CHECK__INIT;
    assert_int_equal(health_validate_health_check(&hc, &err), -EINVAL);
    assert_string_equal(err.msg, "HealthCheck must specify 'type'");
    hc.has_type = 1;
    hc.type = TEPUI__HEALTH_CHECK__TYPE__COMMAND;
    assert_int_equal(health_validate_health_check(&hc, &err), -EINVAL);
    assert_string_equal(err.msg, "Expecting 'command' to be set for COMMAND health check");
    Tepui__CommandInfo cmd = TEPUI__COMMAND_INFO__INIT;
    hc.command = &cmd;
    assert_int_equal(health_validate_health_check(&hc, &err), -EINVAL);
    assert_string_equal(err.msg, "Command health check must contain 'shell command'");
    cmd.has_shell = 1;
    cmd.shell = 0;
    assert_int_equal(health_validate_health_check(&hc, &err), -EINVAL);
    assert_string_equal(err.msg, "Command health check must contain 'executable path'");
    cmd.value = "/bin/true";
    assert_int_equal(health_validate_health_check(&hc, NULL), 0);

    hc.type = TEPUI__HEALTH_CHECK__TYPE__TCP;
    assert_int_equal(health_validate_health_check(&hc, &err), -EINVAL);
    assert_string_equal(err.msg, "Expecting 'tcp' to be set for TCP health check");
    Tepui__HealthCheck__TCPCheckInfo tcp = TEPUI__HEALTH_CHECK__TCPCHECK_INFO__INIT;
    hc.tcp = &tcp;
    assert_int_equal(health_validate_health_check(&hc, &err), -EINVAL);
    assert_string_equal(err.msg, "Expecting 'tcp.port' to be a port in [1, 65535], got 0");
    tcp.port = 65535;
    assert_int_equal(health_validate_health_check(&hc, NULL), 0);
    tcp.port = 65536;
    assert_int_equal(health_validate_health_check(&hc, NULL), -EINVAL);
}

static void health_check_durations_must_be_non_negative_numbers(void **state)
{
    (void)state;
    struct error err = {0};
    Tepui__HealthCheck hc = TEPUI__HEALTH_CHECK__INIT;
    Tepui__HealthCheck__TCPCheckInfo tcp = TEPUI__HEALTH_CHECK__TCPCHECK_INFO__INIT;
    tcp.port = 80;
    hc.has_type = 1;
    hc.type = TEPUI__HEALTH_CHECK__TYPE__TCP;
    hc.tcp = &tcp;
    hc.has_delay_seconds = hc.has_interval_seconds = hc.has_timeout_seconds = 1;
    hc.has_grace_period_seconds = 1;
    hc.delay_seconds = hc.interval_seconds = hc.timeout_seconds = hc.grace_period_seconds = 0;
    assert_int_equal(health_validate_health_check(&hc, NULL), 0);
    hc.grace_period_seconds = -0.1;
    assert_int_equal(health_validate_health_check(&hc, &err), -EINVAL);
    assert_string_equal(err.msg, "Expecting 'grace_period_seconds' to be non-negative");
    hc.grace_period_seconds = 1;
    hc.timeout_seconds = __builtin_nan("");
    assert_int_equal(health_validate_health_check(&hc, &err), -EINVAL);
    assert_string_equal(err.msg, "Expecting 'timeout_seconds' to be non-negative");
}

static void http_health_check_scheme_and_path_are_checked(void **state)
{
    (void)state;
    struct error err = {0};
    Tepui__HealthCheck hc = TEPUI__HEALTH_CHECK__INIT;
    Tepui__HealthCheck__HTTPCheckInfo http = TEPUI__HEALTH_CHECK__HTTPCHECK_INFO__INIT;
    hc.has_type = 1;
    hc.type = TEPUI__HEALTH_CHECK__TYPE__HTTP;
    assert_int_equal(health_validate_health_check(&hc, &err), -EINVAL);
    assert_string_equal(err.msg, "Expecting 'http' to be set for HTTP health check");
    hc.http = &http;
    http.port = 8080;
    http.scheme = "gopher";
    assert_int_equal(health_validate_health_check(&hc, &err), -EINVAL);
    assert_string_equal(err.msg, "Unsupported HTTP health check scheme: 'gopher'");
    http.scheme = "https";
    http.path = "status";
    assert_int_equal(health_validate_health_check(&hc, &err), -EINVAL);
    assert_string_equal(err.msg, "The path 'status' of HTTP health check must start with '/'");
    http.path = "/a b";
    assert_int_equal(health_validate_health_check(&hc, NULL), -EINVAL);
    http.path = "/status?full=1";
    assert_int_equal(health_validate_health_check(&hc, NULL), 0);
}

static void task_errors_name_which_check_is_invalid(void **state)
{
    (void)state;
    struct error err = {0};
    Tepui__TaskInfo task = TEPUI__TASK_INFO__INIT;
    Tepui__CheckInfo check = TEPUI__CHECK_INFO__INIT;
    assert_int_equal(health_validate_task(&task, NULL), 0);
    task.check = &check;
    assert_int_equal(health_validate_task(&task, &err), -EINVAL);
    assert_string_equal(err.msg, "Task uses invalid check: CheckInfo must specify 'type'");
    check.has_type = 1;
    check.type = TEPUI__CHECK_INFO__TYPE__COMMAND;
    Tepui__CheckInfo__Command command = TEPUI__CHECK_INFO__COMMAND__INIT;
    check.command = &command;
    assert_int_equal(health_validate_task(&task, &err), -EINVAL);
    assert_string_equal(err.msg,
                        "Task uses invalid check: Expecting 'command' to be set for COMMAND check");
    Tepui__CommandInfo cmd = TEPUI__COMMAND_INFO__INIT;
    cmd.value = "true";
    command.command = &cmd;
    assert_int_equal(health_validate_task(&task, NULL), 0);
    Tepui__HealthCheck hc = TEPUI__HEALTH_CHECK__INIT;
    task.health_check = &hc;
    assert_int_equal(health_validate_task(&task, &err), -EINVAL);
    assert_string_equal(err.msg, "Task uses invalid health check: HealthCheck must specify 'type'");
}

/* ---- probes on a loop ---- */

struct outcome {
    int calls;
    struct probe_result r;
    struct event_base *base;
};

static void done(const struct probe_result *r, void *arg)
{
    struct outcome *o = arg;
    o->calls++;
    o->r = *r;
    event_base_loopbreak(o->base);
}

static int listener(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(fd, 8), 0);
    socklen_t len = sizeof(a);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static void command_outliving_its_timeout_is_killed(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    Tepui__TaskID tid = TEPUI__TASK_ID__INIT;
    Tepui__TaskInfo task = TEPUI__TASK_INFO__INIT;
    Tepui__CommandInfo cmd = TEPUI__COMMAND_INFO__INIT;
    char *env[] = {"PATH=/usr/bin:/bin", NULL};
    tid.value = "t";
    task.task_id = &tid;
    cmd.value = "exec sleep 30";
    struct task_process_spec ts = {.task = &task, .base_env = env, .framework_id = "f",
                                   .executor_id = "e"};
    struct probe_spec spec = {.type = PROBE_COMMAND, .command = &cmd, .task = &ts, .timeout = 0.2};
    struct outcome o = {.base = base};
    struct probe *p = probe_start(base, &spec, done, &o, NULL);
    assert_non_null(p);
    event_base_dispatch(base);
    assert_int_equal(o.calls, 1);
    assert_false(o.r.answered);
    assert_string_equal(o.r.message, "timed out after 0.2s");
    /* Nobody else reaps here: the command must be dead by SIGKILL. */
    int status = 0;
    pid_t pid = waitpid(-1, &status, 0);
    assert_true(pid > 0);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);
    /* Handing its exit back after the timeout changes nothing. */
    assert_int_equal(probe_child_exited(p, pid, status), 1);
    assert_int_equal(o.calls, 1);
    probe_free(p);
    event_base_free(base);
}

static void tcp_probe_tells_listening_from_refused(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    int port;
    int fd = listener(&port);
    struct probe_spec spec = {.type = PROBE_TCP, .port = (uint16_t)port, .timeout = 5};
    struct outcome o = {.base = base};
    struct probe *p = probe_start(base, &spec, done, &o, NULL);
    event_base_dispatch(base);
    probe_free(p);
    assert_int_equal(o.calls, 1);
    assert_true(o.r.answered);
    assert_true(o.r.tcp_connected);
    close(fd);
    /* The port is closed now: an answer, not an error. */
    o.calls = 0;
    p = probe_start(base, &spec, done, &o, NULL);
    event_base_dispatch(base);
    probe_free(p);
    assert_int_equal(o.calls, 1);
    assert_true(o.r.answered);
    assert_false(o.r.tcp_connected);
    event_base_free(base);
}

/* Serves one canned HTTP answer to the first connection, once its
 * request has arrived (all on the probe's loop: nothing may block). */
struct canned {
    const char *answer;
    struct event_base *base;
    struct event *conn;
};

static void answer_cb(evutil_socket_t c, short what, void *arg)
{
    struct canned *k = arg;
    (void)what;
    char req[1024];
    ssize_t n = read(c, req, sizeof(req));
    (void)n;
    ssize_t w = write(c, k->answer, strlen(k->answer));
    (void)w;
    event_free(k->conn);
    k->conn = NULL;
    close(c);
}

static void serve_cb(evutil_socket_t fd, short what, void *arg)
{
    struct canned *k = arg;
    (void)what;
    int c = accept(fd, NULL, NULL);
    if (c < 0)
        return;
    k->conn = event_new(k->base, c, EV_READ, answer_cb, k);
    event_add(k->conn, NULL);
}

static void http_probe_reads_the_status_line(void **state)
{
    (void)state;
    static const char *answers[] = {"HTTP/1.1 204 No Content\r\n\r\n", "HTTP/1.0 503 Busy\r\n\r\n",
                                    "SSH-2.0-OpenSSH\r\n"};
    static const int statuses[] = {204, 503, 0};
    for (int i = 0; i < 3; i++) {
        struct event_base *base = event_base_new();
        int port;
        int fd = listener(&port);
        struct canned k = {.answer = answers[i], .base = base};
        struct event *srv = event_new(base, fd, EV_READ, serve_cb, &k);
        event_add(srv, NULL);
        struct probe_spec spec = {.type = PROBE_HTTP, .port = (uint16_t)port, .path = "/health",
                                  .timeout = 5};
        struct outcome o = {.base = base};
        struct probe *p = probe_start(base, &spec, done, &o, NULL);
        event_base_dispatch(base);
        assert_int_equal(o.calls, 1);
        assert_int_equal(o.r.answered, statuses[i] != 0);
        assert_int_equal(o.r.http_status, statuses[i]);
        probe_free(p);
        if (k.conn != NULL)
            event_free(k.conn);
        event_free(srv);
        close(fd);
        event_base_free(base);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(health_check_needs_a_type_and_its_fields),
        cmocka_unit_test(health_check_durations_must_be_non_negative_numbers),
        cmocka_unit_test(http_health_check_scheme_and_path_are_checked),
        cmocka_unit_test(task_errors_name_which_check_is_invalid),
        cmocka_unit_test(command_outliving_its_timeout_is_killed),
        cmocka_unit_test(tcp_probe_tells_listening_from_refused),
        cmocka_unit_test(http_probe_reads_the_status_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
