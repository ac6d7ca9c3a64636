/* The command executor's life: one task, one child process, its health
 * check and check (checker.c). Messages and the kill escalation follow
 * Mesos's src/launcher/executor.cpp; what it does not do (containers,
 * rootfs) is logged. */
#include "executor/command_executor.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/task_state.h"
#include "common/xalloc.h"
#include "executor/checker.h"
#include "executor/command.h"
#include "executor/task_process.h"
#include "wire/pb.h"

#define LOG_COMPONENT "command-executor"

/* How long to wait for the agent to acknowledge the terminal update before
 * exiting anyway: the agent already has it once the UPDATE call got through. */
#define TERMINAL_ACK_TIMEOUT_SECS 5.0

extern char **environ;

struct command_executor {
    struct event_base *base;
    struct tepui_executor *lib;
    const struct tepui_executor_options *opts;   /* the library's copy */
    int switch_user;
    Tepui__FrameworkInfo *framework;             /* owned, from SUBSCRIBED */
    Tepui__TaskInfo *task;                       /* owned, from LAUNCH */

    struct task_process *proc;    /* the task's process, once started */
    struct checker *checker;      /* its health check and check, if any */
    int launched;                 /* the process was started */
    int terminated;               /* the task is over (reaped or never started) */
    int terminal_sent;
    int gave_up;                  /* the library lost the agent for good */
    int signalled;                /* SIGTERM/SIGINT: stop without waiting long */

    struct event *ack_timer;          /* after the terminal update */
    struct event *sigchld, *sigterm, *sigint;

    int done;
    int exit_code;
};

static const char *task_id_of(const struct command_executor *ce)
{
    return ce->task != NULL ? ce->task->task_id->value : "-";
}

#define CE_LOG(level, ce, fmt, ...) \
    log_##level("framework %s executor %s task %s: " fmt, (ce)->opts->framework_id, \
                (ce)->opts->executor_id, task_id_of(ce), ##__VA_ARGS__)

static void timer_arm(struct event *ev, double secs)
{
    struct timeval tv = clock_timeval(secs);
    evtimer_add(ev, &tv);
}

static void finish(struct command_executor *ce, int code)
{
    if (ce->done)
        return;
    ce->done = 1;
    ce->exit_code = code;
    event_base_loopbreak(ce->base);
}

static void send_status(struct command_executor *ce, const char *task_id, Tepui__TaskState state,
                        int has_reason, Tepui__TaskStatus__Reason reason, const char *message)
{
    Tepui__TaskStatus st = TEPUI__TASK_STATUS__INIT;
    Tepui__TaskID tid = TEPUI__TASK_ID__INIT;
    struct error err = {0};
    tid.value = (char *)task_id;
    st.task_id = &tid;
    st.state = state;
    st.message = (char *)message;
    st.has_reason = has_reason;
    st.reason = reason;
    if (ce->task != NULL && strcmp(task_id, task_id_of(ce)) == 0)
        checker_fill_status(ce->checker, &st, command_is_check_update(state, has_reason, reason));
    if (tepui_executor_update(ce->lib, &st, &err) != 0)
        log_warn("framework %s executor %s task %s: cannot send %s: %s", ce->opts->framework_id,
                 ce->opts->executor_id, task_id, task_state_name(state), err.msg);
}

static void send_terminal(struct command_executor *ce, Tepui__TaskState state, int has_reason,
                          Tepui__TaskStatus__Reason reason, const char *message)
{
    ce->terminated = 1;
    ce->terminal_sent = 1;
    send_status(ce, task_id_of(ce), state, has_reason, reason, message);
    timer_arm(ce->ack_timer, TERMINAL_ACK_TIMEOUT_SECS);
}

/* ---- the process ---- */

/* Starts the task's process. Returns 0, or a negative code with err saying
 * why the task cannot run (it then fails). */
static struct task_process_spec process_spec(const struct command_executor *ce)
{
    const char *sandbox = ce->opts->sandbox ? ce->opts->sandbox : ce->opts->directory;
    struct task_process_spec spec = {
        .task = ce->task,
        .framework = ce->framework,
        .base_env = environ,
        .sandbox = sandbox,
        .switch_user = ce->switch_user,
        .framework_id = ce->opts->framework_id,
        .executor_id = ce->opts->executor_id,
    };
    return spec;
}

static int launch_process(struct command_executor *ce, struct error *err)
{
    struct task_process_spec spec = process_spec(ce);
    ce->proc = task_process_start(ce->base, &spec, err);
    return ce->proc != NULL ? 0 : -EINVAL;
}

static void kill_task(struct command_executor *ce, double grace, int send_killing);

/* ---- health checks and checks ---- */

static void checker_update_cb(void *arg, Tepui__TaskStatus__Reason reason, const char *message)
{
    struct command_executor *ce = arg;
    if (ce->terminated || ce->gave_up)
        return;
    send_status(ce, task_id_of(ce), TEPUI__TASK_STATE__TASK_RUNNING, 1, reason, message);
}

static void checker_kill_cb(void *arg, const char *message)
{
    struct command_executor *ce = arg;
    CE_LOG(warn, ce, "%s; killing the task", message);
    kill_task(ce, command_kill_grace_period(NULL, ce->task->kill_policy), 1);
}

static void start_checker(struct command_executor *ce)
{
    static const struct checker_callbacks cbs = {
        .update = checker_update_cb,
        .kill = checker_kill_cb,
    };
    struct task_process_spec spec = process_spec(ce);
    ce->checker = checker_new(ce->base, &spec, &cbs, ce);
}

static void kill_task(struct command_executor *ce, double grace, int send_killing)
{
    if (ce->terminated || ce->proc == NULL)
        return;
    /* No more results once the task is going (Mesos pauses its checkers). */
    checker_stop(ce->checker);
    /* A kill under way (ours, or at max_completion_time) is only ever
     * hastened; TASK_KILLING goes out once. */
    if (!task_process_killing(ce->proc) && send_killing && !ce->gave_up &&
        command_framework_has_capability(ce->framework,
                                         TEPUI__FRAMEWORK_INFO__CAPABILITY__TYPE__TASK_KILLING_STATE))
        send_status(ce, task_id_of(ce), TEPUI__TASK_STATE__TASK_KILLING, 0, 0, NULL);
    task_process_kill(ce->proc, grace);
}

/* ---- the end of the task ---- */

static void task_reaped(struct command_executor *ce, int wait_status)
{
    Tepui__TaskState state;
    int has_reason;
    Tepui__TaskStatus__Reason reason;
    char *message = NULL;
    ce->terminated = 1;
    checker_stop(ce->checker);
    task_process_reaped(ce->proc, wait_status, &state, &has_reason, &reason, &message);
    const char *unhealthy = checker_kill_message(ce->checker);
    if (unhealthy != NULL) {
        char *m = xasprintf("%s (%s)", unhealthy, message);
        free(message);
        message = m;
    }
    if (ce->gave_up)
        finish(ce, 1);
    else
        send_terminal(ce, state, has_reason, reason, message);
    free(message);
}

static void sigchld_cb(evutil_socket_t fd, short what, void *arg)
{
    struct command_executor *ce = arg;
    int status;
    pid_t pid;
    (void)fd;
    (void)what;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        if (checker_child_exited(ce->checker, pid, status))
            continue;
        if (ce->launched && !ce->terminated && pid == task_process_pid(ce->proc))
            task_reaped(ce, status);
    }
}

static void ack_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    struct command_executor *ce = arg;
    (void)fd;
    (void)what;
    if (!tepui_executor_is_subscribed(ce->lib) && !ce->gave_up && !ce->signalled) {
        /* Re-subscribing: the update goes out again with the SUBSCRIBE, and
         * the library gives up (disconnected) if the agent stays away. */
        timer_arm(ce->ack_timer, TERMINAL_ACK_TIMEOUT_SECS);
        return;
    }
    CE_LOG(warn, ce, "did not receive an acknowledgement of the terminal status update within %gs; "
           "exiting", TERMINAL_ACK_TIMEOUT_SECS);
    finish(ce, 0);
}

/* ---- events ---- */

static void on_subscribed(struct tepui_executor *lib, const Tepui__Executor__Event__Subscribed *s,
                          void *arg)
{
    struct command_executor *ce = arg;
    (void)lib;
    pb_free(ce->framework);
    ce->framework = PB_COPY(Tepui__FrameworkInfo, s->framework_info);
    CE_LOG(info, ce, "subscribed on agent %s", s->agent_info->hostname);
}

static void on_launch(struct tepui_executor *lib, const Tepui__TaskInfo *task, void *arg)
{
    struct command_executor *ce = arg;
    struct error err = {0};
    (void)lib;
    if (ce->task != NULL) {
        send_status(ce, task->task_id->value, TEPUI__TASK_STATE__TASK_FAILED, 0, 0,
                    "Attempted to run multiple tasks using a \"command\" executor");
        return;
    }
    ce->task = PB_COPY(Tepui__TaskInfo, task);
    /* Before the first update: every update of a task with a check carries
     * the check's type (Mesos's rule); attempts begin on the loop, after
     * TASK_RUNNING. */
    start_checker(ce);
    send_status(ce, task_id_of(ce), TEPUI__TASK_STATE__TASK_STARTING, 0, 0, NULL);
    if (task->container != NULL)
        CE_LOG(warn, ce, "container images are not supported yet; running the command on the host");

    if (launch_process(ce, &err) != 0) {
        CE_LOG(error, ce, "%s", err.msg);
        checker_stop(ce->checker);
        send_terminal(ce, TEPUI__TASK_STATE__TASK_FAILED, 0, 0, err.msg);
        return;
    }
    ce->launched = 1;
    send_status(ce, task_id_of(ce), TEPUI__TASK_STATE__TASK_RUNNING, 0, 0, NULL);
}

static void shutdown_executor(struct command_executor *ce)
{
    if (ce->launched && !ce->terminated) {
        kill_task(ce, command_shutdown_grace_period(ce->opts->shutdown_grace_period), 1);
        return;
    }
    /* Else wait for the acknowledgement of the terminal update, unless a
     * signal asks us to be gone. */
    if (!ce->terminal_sent || ce->signalled)
        finish(ce, 0);
}

static void on_kill(struct tepui_executor *lib, const Tepui__TaskID *task_id,
                    const Tepui__KillPolicy *policy, void *arg)
{
    struct command_executor *ce = arg;
    (void)lib;
    if (ce->task == NULL) {
        /* Mesos's command executor terminates here too (MESOS-8297): the
         * agent is confused about what it has launched. */
        log_error("framework %s executor %s: kill for task %s before any task was launched; exiting",
                  ce->opts->framework_id, ce->opts->executor_id, task_id->value);
        finish(ce, 1);
        return;
    }
    if (strcmp(task_id->value, task_id_of(ce)) != 0) {
        CE_LOG(warn, ce, "ignoring kill for unknown task %s", task_id->value);
        return;
    }
    double grace = command_kill_grace_period(policy, ce->task->kill_policy);
    CE_LOG(info, ce, "received kill with a grace period of %gs", grace);
    kill_task(ce, grace, 1);
}

static void on_acknowledged(struct tepui_executor *lib, const Tepui__TaskID *task_id,
                            const uint8_t *uuid, size_t uuid_len, const Tepui__TaskStatus *status,
                            void *arg)
{
    struct command_executor *ce = arg;
    (void)lib;
    (void)uuid;
    (void)uuid_len;
    if (status != NULL && ce->terminal_sent && task_state_is_terminal(status->state) &&
        strcmp(task_id->value, task_id_of(ce)) == 0) {
        CE_LOG(info, ce, "terminal status update acknowledged; exiting");
        finish(ce, 0);
    }
}

static void on_launch_group(struct tepui_executor *lib, const Tepui__TaskGroupInfo *group, void *arg)
{
    struct command_executor *ce = arg;
    (void)lib;
    (void)group;
    /* Only the default executor runs task groups; the agent should never
     * send one here. */
    CE_LOG(error, ce, "LAUNCH_GROUP event is not supported; shutting down");
    shutdown_executor(ce);
}

static void on_shutdown(struct tepui_executor *lib, void *arg)
{
    (void)lib;
    shutdown_executor(arg);
}

static void on_message(struct tepui_executor *lib, const uint8_t *data, size_t len, void *arg)
{
    (void)lib;
    (void)data;
    CE_LOG(debug, (struct command_executor *)arg, "ignoring a framework message of %zu bytes", len);
}

static void on_disconnected(struct tepui_executor *lib, const char *reason, void *arg)
{
    struct command_executor *ce = arg;
    (void)lib;
    ce->gave_up = 1;
    if (ce->launched && !ce->terminated) {
        CE_LOG(error, ce, "lost the agent (%s); killing the task", reason);
        kill_task(ce, command_shutdown_grace_period(ce->opts->shutdown_grace_period), 0);
        return;   /* exits once the task is reaped */
    }
    CE_LOG(error, ce, "lost the agent (%s); exiting", reason);
    finish(ce, 1);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct command_executor *ce = arg;
    (void)what;
    CE_LOG(info, ce, "received signal %d; shutting down", (int)sig);
    ce->signalled = 1;
    shutdown_executor(ce);
}

/* ---- the handle ---- */

struct command_executor *command_executor_new(struct event_base *base,
                                              const struct tepui_executor_options *opts,
                                              int switch_user, struct error *err)
{
    static const struct tepui_executor_callbacks cbs = {
        .subscribed = on_subscribed,
        .launch = on_launch,
        .launch_group = on_launch_group,
        .kill = on_kill,
        .acknowledged = on_acknowledged,
        .message = on_message,
        .shutdown = on_shutdown,
        .disconnected = on_disconnected,
    };
    struct command_executor *ce = XNEW(struct command_executor);
    ce->base = base;
    ce->switch_user = switch_user;
    ce->lib = tepui_executor_new(base, opts, &cbs, ce, err);
    if (ce->lib == NULL) {
        free(ce);
        return NULL;
    }
    ce->opts = tepui_executor_get_options(ce->lib);
    ce->ack_timer = evtimer_new(base, ack_timeout_cb, ce);
    ce->sigchld = evsignal_new(base, SIGCHLD, sigchld_cb, ce);
    ce->sigterm = evsignal_new(base, SIGTERM, on_signal, ce);
    ce->sigint = evsignal_new(base, SIGINT, on_signal, ce);
    event_add(ce->sigchld, NULL);
    event_add(ce->sigterm, NULL);
    event_add(ce->sigint, NULL);
    return ce;
}

void command_executor_free(struct command_executor *ce)
{
    if (ce == NULL)
        return;
    checker_free(ce->checker);
    task_process_free(ce->proc);
    tepui_executor_free(ce->lib);
    event_free(ce->ack_timer);
    event_free(ce->sigchld);
    event_free(ce->sigterm);
    event_free(ce->sigint);
    pb_free(ce->framework);
    pb_free(ce->task);
    free(ce);
}

int command_executor_exit_code(const struct command_executor *ce) { return ce->exit_code; }
