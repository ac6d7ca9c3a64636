/* Scheduling and interpreting a task's health check and check (see
 * checker.h); each attempt is a probe (probe.c). Mesos's counterparts are
 * src/checks/health_checker.cpp and checker.cpp. */
#include "executor/checker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "executor/probe.h"
#include "wire/pb.h"

#define LOG_COMPONENT "checker"

/* Mesos's defaults (mesos.proto), for fields a decoder left unset. */
#define DEFAULT_DELAY_SECS 15.0
#define DEFAULT_INTERVAL_SECS 10.0
#define DEFAULT_TIMEOUT_SECS 20.0
#define DEFAULT_GRACE_SECS 10.0
#define DEFAULT_CONSECUTIVE_FAILURES 3

/* One schedule of attempts: the health check or the check. */
struct check_run {
    struct checker *c;
    int enabled;
    int health;                     /* 1: HealthCheck, 0: CheckInfo */
    const char *type_name;          /* COMMAND, HTTP, TCP */
    struct probe_spec spec;         /* pointers into the checker's copies */
    double delay, interval, grace;
    uint32_t consecutive_failures;
    struct event *timer;            /* the next attempt */
    struct probe *probe;            /* the attempt under way */

    /* Health check: Mesos's `initializing` (no success yet) and the run of
     * failures. */
    int initializing;
    uint32_t failures;

    /* Check: the last result reported. */
    int reported;
    int last_answered;
    int last_value;
};

struct checker {
    struct checker_callbacks cbs;
    void *arg;
    int stopped;
    double started;                 /* monotonic seconds */
    char *log_prefix;

    /* Copies of what the task runs with, for command attempts. */
    Tepui__TaskInfo *task;
    Tepui__FrameworkInfo *framework;
    char *sandbox, *framework_id, *executor_id;
    struct task_process_spec tspec;

    struct check_run health, check;

    /* What status updates carry. */
    int has_healthy, healthy;
    char *kill_message;
    Tepui__CheckStatusInfo empty, latest;
    Tepui__CheckStatusInfo__Command empty_command, latest_command;
    Tepui__CheckStatusInfo__Http empty_http, latest_http;
    Tepui__CheckStatusInfo__Tcp empty_tcp, latest_tcp;
};

#define CK_LOG(level, c, fmt, ...) log_##level("%s: " fmt, (c)->log_prefix, ##__VA_ARGS__)

static double opt_secs(int has, double value, double def)
{
    double v = has ? value : def;
    return v > 0 ? v : 0;
}

static void run_arm(struct check_run *r, double secs)
{
    struct timeval tv = clock_timeval(secs);
    evtimer_add(r->timer, &tv);
}

/* ---- the health check ---- */

static int health_succeeded(const struct check_run *r, const struct probe_result *res)
{
    if (!res->answered)
        return 0;
    switch (r->spec.type) {
    case PROBE_COMMAND:
        return res->exit_code == 0;
    case PROBE_HTTP:
        /* Built-in executors take 200-399 and ignore `statuses`, as Mesos's. */
        return res->http_status >= 200 && res->http_status < 400;
    case PROBE_TCP:
        return res->tcp_connected;
    }
    return 0;
}

static void health_result(struct check_run *r, const struct probe_result *res)
{
    struct checker *c = r->c;
    if (health_succeeded(r, res)) {
        /* The first success, and the first after failures, are news. */
        int news = r->initializing || r->failures > 0;
        r->initializing = 0;
        r->failures = 0;
        if (news) {
            CK_LOG(info, c, "%s health check succeeded; the task is healthy", r->type_name);
            c->has_healthy = 1;
            c->healthy = 1;
            c->cbs.update(c->arg, TEPUI__TASK_STATUS__REASON__REASON_TASK_HEALTH_CHECK_STATUS_UPDATED,
                          NULL);
        }
        return;
    }
    if (r->initializing && r->grace > 0 && clock_mono() - c->started <= r->grace) {
        CK_LOG(info, c, "ignoring a failure of the %s health check (%s): still in its grace period",
               r->type_name, res->message);
        return;
    }
    r->failures++;
    char *why = xasprintf("%s health check failed %u time%s consecutively: %s", r->type_name,
                          (unsigned)r->failures, r->failures == 1 ? "" : "s", res->message);
    CK_LOG(warn, c, "%s", why);
    int kill = r->failures >= r->consecutive_failures;
    c->has_healthy = 1;
    c->healthy = 0;
    /* Every failure is reported, as by Mesos's built-in executors. */
    c->cbs.update(c->arg, TEPUI__TASK_STATUS__REASON__REASON_TASK_HEALTH_CHECK_STATUS_UPDATED, why);
    if (kill && !c->stopped) {
        c->kill_message = xasprintf("Task was killed after its %s", why);
        checker_stop(c);
        c->cbs.kill(c->arg, c->kill_message);
    }
    free(why);
}

/* ---- the check ---- */

static int check_value(const struct check_run *r, const struct probe_result *res)
{
    switch (r->spec.type) {
    case PROBE_COMMAND:
        return res->exit_code;
    case PROBE_HTTP:
        return res->http_status;
    case PROBE_TCP:
        return res->tcp_connected;
    }
    return 0;
}

static void check_result(struct check_run *r, const struct probe_result *res)
{
    struct checker *c = r->c;
    int value = res->answered ? check_value(r, res) : 0;
    if (r->reported && r->last_answered == res->answered && r->last_value == value)
        return;
    r->reported = 1;
    r->last_answered = res->answered;
    r->last_value = value;
    /* An attempt that got no answer leaves the type's result empty: the
     * status is unknown (Mesos's rule). */
    c->latest_command.has_exit_code = res->answered && r->spec.type == PROBE_COMMAND;
    c->latest_command.exit_code = value;
    c->latest_http.has_status_code = res->answered && r->spec.type == PROBE_HTTP;
    c->latest_http.status_code = (uint32_t)value;
    c->latest_tcp.has_succeeded = res->answered && r->spec.type == PROBE_TCP;
    c->latest_tcp.succeeded = value != 0;
    CK_LOG(info, c, "%s check status changed: %s", r->type_name, res->message);
    c->cbs.update(c->arg, TEPUI__TASK_STATUS__REASON__REASON_TASK_CHECK_STATUS_UPDATED,
                  res->answered ? NULL : res->message);
}

/* ---- attempts ---- */

static void attempt_done(const struct probe_result *res, void *arg)
{
    struct check_run *r = arg;
    struct checker *c = r->c;
    probe_free(r->probe);
    r->probe = NULL;
    if (c->stopped)
        return;
    if (r->health)
        health_result(r, res);
    else
        check_result(r, res);
    if (!c->stopped)
        run_arm(r, r->interval);
}

static void attempt_cb(evutil_socket_t fd, short what, void *arg)
{
    struct check_run *r = arg;
    struct error err = {0};
    (void)fd;
    (void)what;
    if (r->c->stopped || r->probe != NULL)
        return;
    r->probe = probe_start(event_get_base(r->timer), &r->spec, attempt_done, r, &err);
    if (r->probe == NULL) {
        struct probe_result res = {0};
        snprintf(res.message, sizeof(res.message), "%s", err.msg);
        attempt_done(&res, r);
    }
}

/* ---- setting up ---- */

static void run_init(struct checker *c, struct check_run *r, struct event_base *base, int health,
                     const char *type_name)
{
    r->c = c;
    r->enabled = 1;
    r->health = health;
    r->type_name = type_name;
    r->initializing = 1;
    r->spec.task = &c->tspec;
    r->timer = evtimer_new(base, attempt_cb, r);
}

static int health_init(struct checker *c, struct event_base *base, const Tepui__HealthCheck *hc)
{
    struct check_run *r = &c->health;
    if (!hc->has_type)
        return -1;
    switch (hc->type) {
    case TEPUI__HEALTH_CHECK__TYPE__COMMAND:
        if (hc->command == NULL)
            return -1;
        run_init(c, r, base, 1, "COMMAND");
        r->spec.type = PROBE_COMMAND;
        r->spec.command = hc->command;
        break;
    case TEPUI__HEALTH_CHECK__TYPE__HTTP:
        if (hc->http == NULL)
            return -1;
        run_init(c, r, base, 1, "HTTP");
        r->spec.type = PROBE_HTTP;
        r->spec.port = (uint16_t)hc->http->port;
        r->spec.path = hc->http->path;
        r->spec.https = hc->http->scheme != NULL && strcmp(hc->http->scheme, "https") == 0;
        r->spec.ipv6 = hc->http->has_protocol &&
                       hc->http->protocol == TEPUI__NETWORK_INFO__PROTOCOL__IPv6;
        break;
    case TEPUI__HEALTH_CHECK__TYPE__TCP:
        if (hc->tcp == NULL)
            return -1;
        run_init(c, r, base, 1, "TCP");
        r->spec.type = PROBE_TCP;
        r->spec.port = (uint16_t)hc->tcp->port;
        r->spec.ipv6 = hc->tcp->has_protocol &&
                       hc->tcp->protocol == TEPUI__NETWORK_INFO__PROTOCOL__IPv6;
        break;
    default:
        return -1;
    }
    r->delay = opt_secs(hc->has_delay_seconds, hc->delay_seconds, DEFAULT_DELAY_SECS);
    r->interval = opt_secs(hc->has_interval_seconds, hc->interval_seconds, DEFAULT_INTERVAL_SECS);
    r->spec.timeout = opt_secs(hc->has_timeout_seconds, hc->timeout_seconds, DEFAULT_TIMEOUT_SECS);
    r->grace = opt_secs(hc->has_grace_period_seconds, hc->grace_period_seconds, DEFAULT_GRACE_SECS);
    r->consecutive_failures = hc->has_consecutive_failures ? hc->consecutive_failures
                                                           : DEFAULT_CONSECUTIVE_FAILURES;
    return 0;
}

static int check_init(struct checker *c, struct event_base *base, const Tepui__CheckInfo *ci)
{
    struct check_run *r = &c->check;
    if (!ci->has_type)
        return -1;
    switch (ci->type) {
    case TEPUI__CHECK_INFO__TYPE__COMMAND:
        if (ci->command == NULL || ci->command->command == NULL)
            return -1;
        run_init(c, r, base, 0, "COMMAND");
        r->spec.type = PROBE_COMMAND;
        r->spec.command = ci->command->command;
        c->empty.command = &c->empty_command;
        c->latest.command = &c->latest_command;
        break;
    case TEPUI__CHECK_INFO__TYPE__HTTP:
        if (ci->http == NULL)
            return -1;
        run_init(c, r, base, 0, "HTTP");
        r->spec.type = PROBE_HTTP;
        r->spec.port = (uint16_t)ci->http->port;
        r->spec.path = ci->http->path;
        c->empty.http = &c->empty_http;
        c->latest.http = &c->latest_http;
        break;
    case TEPUI__CHECK_INFO__TYPE__TCP:
        if (ci->tcp == NULL)
            return -1;
        run_init(c, r, base, 0, "TCP");
        r->spec.type = PROBE_TCP;
        r->spec.port = (uint16_t)ci->tcp->port;
        c->empty.tcp = &c->empty_tcp;
        c->latest.tcp = &c->latest_tcp;
        break;
    default:
        return -1;
    }
    c->empty.has_type = c->latest.has_type = 1;
    c->empty.type = c->latest.type = ci->type;
    r->delay = opt_secs(ci->has_delay_seconds, ci->delay_seconds, DEFAULT_DELAY_SECS);
    r->interval = opt_secs(ci->has_interval_seconds, ci->interval_seconds, DEFAULT_INTERVAL_SECS);
    r->spec.timeout = opt_secs(ci->has_timeout_seconds, ci->timeout_seconds, DEFAULT_TIMEOUT_SECS);
    return 0;
}

struct checker *checker_new(struct event_base *base, const struct task_process_spec *spec,
                            const struct checker_callbacks *cbs, void *arg)
{
    const Tepui__TaskInfo *task = spec->task;
    if (task->health_check == NULL && task->check == NULL)
        return NULL;
    struct checker *c = XNEW(struct checker);
    Tepui__CheckStatusInfo status_init = TEPUI__CHECK_STATUS_INFO__INIT;
    Tepui__CheckStatusInfo__Command command_init = TEPUI__CHECK_STATUS_INFO__COMMAND__INIT;
    Tepui__CheckStatusInfo__Http http_init = TEPUI__CHECK_STATUS_INFO__HTTP__INIT;
    Tepui__CheckStatusInfo__Tcp tcp_init = TEPUI__CHECK_STATUS_INFO__TCP__INIT;
    c->empty = c->latest = status_init;
    c->empty_command = c->latest_command = command_init;
    c->empty_http = c->latest_http = http_init;
    c->empty_tcp = c->latest_tcp = tcp_init;
    c->cbs = *cbs;
    c->arg = arg;
    c->started = clock_mono();
    c->log_prefix = xasprintf("framework %s executor %s task %s", spec->framework_id,
                              spec->executor_id, task->task_id->value);
    c->task = PB_COPY(Tepui__TaskInfo, task);
    c->framework = spec->framework != NULL ? PB_COPY(Tepui__FrameworkInfo, spec->framework) : NULL;
    c->sandbox = spec->sandbox != NULL ? xstrdup(spec->sandbox) : NULL;
    c->framework_id = xstrdup(spec->framework_id);
    c->executor_id = xstrdup(spec->executor_id);
    c->tspec = (struct task_process_spec){
        .task = c->task,
        .framework = c->framework,
        .base_env = spec->base_env,
        .sandbox = c->sandbox,
        .own_sandbox = spec->own_sandbox,
        .switch_user = spec->switch_user,
        .framework_id = c->framework_id,
        .executor_id = c->executor_id,
    };
    if (c->task->health_check != NULL && health_init(c, base, c->task->health_check) != 0)
        CK_LOG(warn, c, "ignoring an unusable health check");
    if (c->task->check != NULL && check_init(c, base, c->task->check) != 0)
        CK_LOG(warn, c, "ignoring an unusable check");
    if (c->health.enabled) {
        CK_LOG(info, c, "%s health check in %gs, every %gs, timeout %gs, grace period %gs, "
               "killing after %u consecutive failures", c->health.type_name, c->health.delay,
               c->health.interval, c->health.spec.timeout, c->health.grace,
               (unsigned)c->health.consecutive_failures);
        run_arm(&c->health, c->health.delay);
    }
    if (c->check.enabled) {
        CK_LOG(info, c, "%s check in %gs, every %gs, timeout %gs", c->check.type_name,
               c->check.delay, c->check.interval, c->check.spec.timeout);
        run_arm(&c->check, c->check.delay);
    }
    return c;
}

/* ---- status updates ---- */

void checker_fill_status(const struct checker *c, Tepui__TaskStatus *st, int latest)
{
    if (c == NULL)
        return;
    if (c->check.enabled)
        st->check_status = (Tepui__CheckStatusInfo *)(latest && c->check.reported ? &c->latest
                                                                                 : &c->empty);
    if (latest && c->has_healthy) {
        st->has_healthy = 1;
        st->healthy = c->healthy;
    } else if (!latest && c->kill_message != NULL) {
        /* Mesos marks the end of a task its health check killed. */
        st->has_healthy = 1;
        st->healthy = 0;
    }
}

int checker_child_exited(struct checker *c, pid_t pid, int wait_status)
{
    if (c == NULL)
        return 0;
    return probe_child_exited(c->health.probe, pid, wait_status) ||
           probe_child_exited(c->check.probe, pid, wait_status);
}

static void run_stop(struct check_run *r)
{
    if (r->timer != NULL)
        evtimer_del(r->timer);
    probe_free(r->probe);
    r->probe = NULL;
}

void checker_stop(struct checker *c)
{
    if (c == NULL || c->stopped)
        return;
    c->stopped = 1;
    run_stop(&c->health);
    run_stop(&c->check);
}

const char *checker_kill_message(const struct checker *c)
{
    return c != NULL ? c->kill_message : NULL;
}

void checker_free(struct checker *c)
{
    if (c == NULL)
        return;
    checker_stop(c);
    if (c->health.timer != NULL)
        event_free(c->health.timer);
    if (c->check.timer != NULL)
        event_free(c->check.timer);
    pb_free(c->task);
    pb_free(c->framework);
    free(c->sandbox);
    free(c->framework_id);
    free(c->executor_id);
    free(c->kill_message);
    free(c->log_prefix);
    free(c);
}
