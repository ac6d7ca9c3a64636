/* The default executor's life: task groups, each task a child process with
 * a sandbox of its own and its own health check and check; the rule that
 * one task failing or being killed kills its group; kills, shutdowns and
 * the executor's end. Processes, kill escalation and the words of terminal
 * updates are task_process.c's, checks checker.c's, both shared with the
 * command executor. */
#include "executor/default_executor.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uthash.h>

#include "common/clock.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/task_state.h"
#include "common/xalloc.h"
#include "executor/checker.h"
#include "executor/command.h"
#include "executor/task_process.h"
#include "wire/pb.h"

#define LOG_COMPONENT "default-executor"

/* How long to wait for the agent to acknowledge the last updates before
 * exiting anyway: the agent has them once their UPDATE calls got through. */
#define TERMINAL_ACK_TIMEOUT_SECS 5.0

extern char **environ;

struct task_group;
struct default_executor;

struct group_task {
    char *id;
    struct default_executor *de;
    Tepui__TaskInfo *info;          /* owned, from LAUNCH_GROUP */
    struct task_group *group;
    char *sandbox;                  /* <executor sandbox>/tasks/<task id> */
    struct task_process *proc;      /* NULL when it could not start */
    struct checker *checker;        /* its health check and check, if any */
    int terminal;                   /* its terminal update is sent */
    UT_hash_handle hh;              /* default_executor.tasks, by id */
};

/* One LAUNCH_GROUP. */
struct task_group {
    struct group_task **tasks;
    size_t n_tasks;
    int killing;                    /* its tasks are being killed */
    struct task_group *next;
};

struct default_executor {
    struct event_base *base;
    struct tepui_executor *lib;
    const struct tepui_executor_options *opts;   /* the library's copy */
    int switch_user;
    char *sandbox;                  /* the executor's own */
    Tepui__FrameworkInfo *framework;             /* owned, from SUBSCRIBED */

    struct group_task *tasks;       /* every task it was given */
    struct task_group *groups;
    size_t n_active;                /* tasks without a terminal update yet */
    int shutting_down;
    int gave_up;                    /* the library lost the agent for good */
    int signalled;                  /* SIGTERM/SIGINT: stop without waiting long */

    struct event *ack_timer;        /* once every task is over */
    struct event *sigchld, *sigterm, *sigint;

    int done;
    int exit_code;
};

#define DE_LOG(level, de, fmt, ...) \
    log_##level("framework %s executor %s: " fmt, (de)->opts->framework_id, \
                (de)->opts->executor_id, ##__VA_ARGS__)
#define DT_LOG(level, de, t, fmt, ...) \
    log_##level("framework %s executor %s task %s: " fmt, (de)->opts->framework_id, \
                (de)->opts->executor_id, (t)->id, ##__VA_ARGS__)

static void timer_arm(struct event *ev, double secs)
{
    struct timeval tv = clock_timeval(secs);
    evtimer_add(ev, &tv);
}

static void finish(struct default_executor *de, int code)
{
    if (de->done)
        return;
    de->done = 1;
    de->exit_code = code;
    event_base_loopbreak(de->base);
}

static void send_status(struct default_executor *de, const char *task_id, Tepui__TaskState state,
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
    struct group_task *t = NULL;
    HASH_FIND_STR(de->tasks, task_id, t);
    if (t != NULL)
        checker_fill_status(t->checker, &st, command_is_check_update(state, has_reason, reason));
    if (tepui_executor_update(de->lib, &st, &err) != 0)
        log_warn("framework %s executor %s task %s: cannot send %s: %s", de->opts->framework_id,
                 de->opts->executor_id, task_id, task_state_name(state), err.msg);
}

/* The executor ends once no task runs and the agent has every update (as
 * Mesos's default executor does, even if another group might follow). */
static void check_done(struct default_executor *de)
{
    if (de->done || de->n_active > 0)
        return;
    if (de->gave_up) {
        finish(de, 1);
        return;
    }
    if (de->tasks == NULL && !de->shutting_down)
        return;   /* subscribed, waiting for a first group */
    if (tepui_executor_unacknowledged_updates(de->lib) == 0) {
        DE_LOG(info, de, "every task is over and acknowledged; exiting");
        finish(de, 0);
        return;
    }
    if (!evtimer_pending(de->ack_timer, NULL))
        timer_arm(de->ack_timer, TERMINAL_ACK_TIMEOUT_SECS);
}

static void ack_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    struct default_executor *de = arg;
    (void)fd;
    (void)what;
    if (de->n_active > 0)
        return;   /* another group came meanwhile */
    if (!tepui_executor_is_subscribed(de->lib) && !de->gave_up && !de->signalled) {
        /* Re-subscribing: the updates go out again with the SUBSCRIBE, and
         * the library gives up (disconnected) if the agent stays away. */
        timer_arm(de->ack_timer, TERMINAL_ACK_TIMEOUT_SECS);
        return;
    }
    DE_LOG(warn, de, "did not receive acknowledgements of the last status updates within %gs; "
           "exiting", TERMINAL_ACK_TIMEOUT_SECS);
    finish(de, 0);
}

/* ---- killing ---- */

static void kill_task(struct default_executor *de, struct group_task *t, double grace,
                      int send_killing)
{
    if (t->terminal || t->proc == NULL)
        return;
    /* No more results once the task is going (Mesos pauses its checkers). */
    checker_stop(t->checker);
    /* A kill under way is only ever hastened; TASK_KILLING goes out once. */
    if (!task_process_killing(t->proc) && send_killing && !de->gave_up &&
        command_framework_has_capability(de->framework,
                                         TEPUI__FRAMEWORK_INFO__CAPABILITY__TYPE__TASK_KILLING_STATE))
        send_status(de, t->id, TEPUI__TASK_STATE__TASK_KILLING, 0, 0, NULL);
    task_process_kill(t->proc, grace);
}

/* Kills every live task of the group, each with the kill policy given (a
 * KILL event's), else its own. */
static void kill_group(struct default_executor *de, struct task_group *g,
                       const Tepui__KillPolicy *policy)
{
    g->killing = 1;
    for (size_t i = 0; i < g->n_tasks; i++) {
        struct group_task *t = g->tasks[i];
        kill_task(de, t, command_kill_grace_period(policy, t->info->kill_policy), 1);
    }
}

/* ---- the end of a task ---- */

static void task_ended(struct default_executor *de, struct group_task *t, Tepui__TaskState state,
                       int has_reason, Tepui__TaskStatus__Reason reason, const char *message)
{
    t->terminal = 1;
    de->n_active--;
    checker_stop(t->checker);
    if (!de->gave_up)
        send_status(de, t->id, state, has_reason, reason, message);
    /* Mesos's restart policy for a task group: one task failing or killed
     * kills the rest; one that finishes leaves them be. */
    if (!de->shutting_down && !t->group->killing &&
        (state == TEPUI__TASK_STATE__TASK_FAILED || state == TEPUI__TASK_STATE__TASK_KILLED)) {
        DT_LOG(info, de, t, "ended in %s; killing the rest of its task group",
               task_state_name(state));
        kill_group(de, t->group, NULL);
    }
    check_done(de);
}

static void task_reaped(struct default_executor *de, struct group_task *t, int wait_status)
{
    Tepui__TaskState state;
    int has_reason;
    Tepui__TaskStatus__Reason reason;
    char *message = NULL;
    checker_stop(t->checker);
    task_process_reaped(t->proc, wait_status, &state, &has_reason, &reason, &message);
    const char *unhealthy = checker_kill_message(t->checker);
    if (unhealthy != NULL) {
        char *m = xasprintf("%s (%s)", unhealthy, message);
        free(message);
        message = m;
    }
    task_ended(de, t, state, has_reason, reason, message);
    free(message);
}

static void sigchld_cb(evutil_socket_t fd, short what, void *arg)
{
    struct default_executor *de = arg;
    int status;
    pid_t pid;
    (void)fd;
    (void)what;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        struct group_task *t, *tmp;
        int was_check = 0;
        HASH_ITER(hh, de->tasks, t, tmp) {
            if ((was_check = checker_child_exited(t->checker, pid, status)) != 0)
                break;
        }
        if (was_check)
            continue;
        HASH_ITER(hh, de->tasks, t, tmp) {
            if (t->proc != NULL && !t->terminal && task_process_pid(t->proc) == pid) {
                task_reaped(de, t, status);
                break;
            }
        }
    }
}

/* ---- launching ---- */

static struct task_process_spec process_spec(const struct default_executor *de,
                                             const struct group_task *t)
{
    struct task_process_spec spec = {
        .task = t->info,
        .framework = de->framework,
        .base_env = environ,
        .sandbox = t->sandbox,
        .own_sandbox = 1,
        .switch_user = de->switch_user,
        .framework_id = de->opts->framework_id,
        .executor_id = de->opts->executor_id,
    };
    return spec;
}

/* Starts the task's process in its own sandbox. Returns 0, or a negative
 * code with err saying why it cannot run. */
static int start_task(struct default_executor *de, struct group_task *t, struct error *err)
{
    int rc = fs_mkdirs(t->sandbox);
    if (rc != 0)
        return error_set(err, rc, "Failed to create the sandbox '%s' of task '%s': %s", t->sandbox,
                         t->id, strerror(-rc));
    char *out = xasprintf("%s/stdout", t->sandbox);
    char *errp = xasprintf("%s/stderr", t->sandbox);
    struct task_process_spec spec = process_spec(de, t);
    spec.stdout_path = out;
    spec.stderr_path = errp;
    t->proc = task_process_start(de->base, &spec, err);
    free(out);
    free(errp);
    return t->proc != NULL ? 0 : -EINVAL;
}

/* ---- health checks and checks ---- */

static void checker_update_cb(void *arg, Tepui__TaskStatus__Reason reason, const char *message)
{
    struct group_task *t = arg;
    if (t->terminal || t->de->gave_up)
        return;
    send_status(t->de, t->id, TEPUI__TASK_STATE__TASK_RUNNING, 1, reason, message);
}

static void checker_kill_cb(void *arg, const char *message)
{
    struct group_task *t = arg;
    DT_LOG(warn, t->de, t, "%s; killing the task", message);
    kill_task(t->de, t, command_kill_grace_period(NULL, t->info->kill_policy), 1);
}

static void start_checker(struct default_executor *de, struct group_task *t)
{
    static const struct checker_callbacks cbs = {
        .update = checker_update_cb,
        .kill = checker_kill_cb,
    };
    struct task_process_spec spec = process_spec(de, t);
    t->checker = checker_new(de->base, &spec, &cbs, t);
}

static struct group_task *task_new(struct default_executor *de, struct task_group *g,
                                   const Tepui__TaskInfo *info)
{
    struct group_task *t = XNEW(struct group_task);
    t->id = xstrdup(info->task_id->value);
    t->de = de;
    t->info = PB_COPY(Tepui__TaskInfo, info);
    t->group = g;
    t->sandbox = xasprintf("%s/tasks/%s", de->sandbox, t->id);
    HASH_ADD_KEYPTR(hh, de->tasks, t->id, strlen(t->id), t);
    g->tasks[g->n_tasks++] = t;
    de->n_active++;
    return t;
}

static void on_launch_group(struct tepui_executor *lib, const Tepui__TaskGroupInfo *group, void *arg)
{
    struct default_executor *de = arg;
    (void)lib;
    if (de->shutting_down) {
        DE_LOG(warn, de, "ignoring a task group: the executor is shutting down");
        return;
    }
    struct task_group *g = XNEW(struct task_group);
    g->tasks = xcalloc(group->n_tasks ? group->n_tasks : 1, sizeof(*g->tasks));
    g->next = de->groups;
    de->groups = g;
    evtimer_del(de->ack_timer);

    /* Every task is STARTING before any runs, then every one that started
     * is RUNNING, then those that could not start fail (and take the group
     * with them): the order of Mesos's default executor. */
    for (size_t i = 0; i < group->n_tasks; i++) {
        const Tepui__TaskInfo *info = group->tasks[i];
        struct group_task *dup = NULL;
        HASH_FIND_STR(de->tasks, info->task_id->value, dup);
        if (dup != NULL) {
            /* The master refuses duplicate ids; this executor cannot have
             * two tasks of one id either. */
            DE_LOG(error, de, "ignoring task %s of a task group: a task of that id was launched "
                   "before", info->task_id->value);
            continue;
        }
        struct group_task *t = task_new(de, g, info);
        /* Before the first update, which carries the check's type; attempts
         * begin on the loop, after TASK_RUNNING. */
        start_checker(de, t);
        send_status(de, t->id, TEPUI__TASK_STATE__TASK_STARTING, 0, 0, NULL);
        if (info->container != NULL)
            DT_LOG(warn, de, t, "container images are not supported yet; running the command on the host");
    }
    char **errors = xcalloc(g->n_tasks ? g->n_tasks : 1, sizeof(*errors));
    for (size_t i = 0; i < g->n_tasks; i++) {
        struct error err = {0};
        if (start_task(de, g->tasks[i], &err) != 0) {
            DT_LOG(error, de, g->tasks[i], "%s", err.msg);
            errors[i] = xstrdup(err.msg);
        }
    }
    for (size_t i = 0; i < g->n_tasks; i++) {
        if (g->tasks[i]->proc != NULL) {
            send_status(de, g->tasks[i]->id, TEPUI__TASK_STATE__TASK_RUNNING, 0, 0, NULL);
        }
    }
    DE_LOG(info, de, "launched a task group of %zu task(s)", g->n_tasks);
    for (size_t i = 0; i < g->n_tasks; i++) {
        if (errors[i] != NULL)
            task_ended(de, g->tasks[i], TEPUI__TASK_STATE__TASK_FAILED, 0, 0, errors[i]);
        free(errors[i]);
    }
    free(errors);
    check_done(de);
}

/* ---- events ---- */

static void shutdown_executor(struct default_executor *de)
{
    if (!de->shutting_down) {
        de->shutting_down = 1;
        double grace = command_shutdown_grace_period(de->opts->shutdown_grace_period);
        struct group_task *t, *tmp;
        HASH_ITER(hh, de->tasks, t, tmp) {
            kill_task(de, t, grace, 1);
        }
    }
    check_done(de);
}

static void on_subscribed(struct tepui_executor *lib, const Tepui__Executor__Event__Subscribed *s,
                          void *arg)
{
    struct default_executor *de = arg;
    (void)lib;
    pb_free(de->framework);
    de->framework = PB_COPY(Tepui__FrameworkInfo, s->framework_info);
    DE_LOG(info, de, "subscribed on agent %s", s->agent_info->hostname);
}

static void on_launch(struct tepui_executor *lib, const Tepui__TaskInfo *task, void *arg)
{
    struct default_executor *de = arg;
    (void)lib;
    /* As Mesos's default executor: LAUNCH never goes to it, so the agent is
     * confused. */
    DE_LOG(error, de, "LAUNCH event (task %s) is not supported; shutting down",
           task->task_id->value);
    shutdown_executor(de);
}

static void on_kill(struct tepui_executor *lib, const Tepui__TaskID *task_id,
                    const Tepui__KillPolicy *policy, void *arg)
{
    struct default_executor *de = arg;
    (void)lib;
    if (de->shutting_down) {
        DE_LOG(warn, de, "ignoring kill for task %s: the executor is shutting down", task_id->value);
        return;
    }
    struct group_task *t = NULL;
    HASH_FIND_STR(de->tasks, task_id->value, t);
    if (t == NULL || t->terminal) {
        DE_LOG(warn, de, "ignoring kill for task %s: it is not active", task_id->value);
        return;
    }
    /* Killing one task of a group kills the whole group. */
    DT_LOG(info, de, t, "received kill; killing its task group");
    kill_group(de, t->group, policy);
}

static void on_acknowledged(struct tepui_executor *lib, const Tepui__TaskID *task_id,
                            const uint8_t *uuid, size_t uuid_len, const Tepui__TaskStatus *status,
                            void *arg)
{
    (void)lib;
    (void)task_id;
    (void)uuid;
    (void)uuid_len;
    (void)status;
    check_done(arg);
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
    DE_LOG(debug, (struct default_executor *)arg, "ignoring a framework message of %zu bytes", len);
}

static void on_error(struct tepui_executor *lib, const char *message, void *arg)
{
    (void)lib;
    DE_LOG(warn, (struct default_executor *)arg, "error from the agent: %s", message);
}

static void on_heartbeat(struct tepui_executor *lib, void *arg)
{
    (void)lib;
    DE_LOG(debug, (struct default_executor *)arg, "heartbeat");
}

static void on_disconnected(struct tepui_executor *lib, const char *reason, void *arg)
{
    struct default_executor *de = arg;
    (void)lib;
    DE_LOG(error, de, "lost the agent (%s); killing every task and exiting", reason);
    de->gave_up = 1;
    shutdown_executor(de);   /* exits once the tasks are reaped */
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct default_executor *de = arg;
    (void)what;
    DE_LOG(info, de, "received signal %d; shutting down", (int)sig);
    de->signalled = 1;
    shutdown_executor(de);
}

/* ---- the handle ---- */

struct default_executor *default_executor_new(struct event_base *base,
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
        .error = on_error,
        .heartbeat = on_heartbeat,
        .disconnected = on_disconnected,
    };
    struct default_executor *de = XNEW(struct default_executor);
    de->base = base;
    de->switch_user = switch_user;
    de->lib = tepui_executor_new(base, opts, &cbs, de, err);
    if (de->lib == NULL) {
        free(de);
        return NULL;
    }
    de->opts = tepui_executor_get_options(de->lib);
    /* Task sandboxes go below the executor's (the agent names it in
     * MESOS_SANDBOX; it is also where we were started). */
    if (de->opts->sandbox != NULL) {
        de->sandbox = xstrdup(de->opts->sandbox);
    } else if (de->opts->directory != NULL) {
        de->sandbox = xstrdup(de->opts->directory);
    } else {
        char cwd[PATH_MAX];
        de->sandbox = xstrdup(getcwd(cwd, sizeof(cwd)) != NULL ? cwd : ".");
    }
    de->ack_timer = evtimer_new(base, ack_timeout_cb, de);
    de->sigchld = evsignal_new(base, SIGCHLD, sigchld_cb, de);
    de->sigterm = evsignal_new(base, SIGTERM, on_signal, de);
    de->sigint = evsignal_new(base, SIGINT, on_signal, de);
    event_add(de->sigchld, NULL);
    event_add(de->sigterm, NULL);
    event_add(de->sigint, NULL);
    return de;
}

void default_executor_free(struct default_executor *de)
{
    if (de == NULL)
        return;
    struct group_task *t, *tmp;
    HASH_ITER(hh, de->tasks, t, tmp) {
        HASH_DEL(de->tasks, t);
        checker_free(t->checker);
        task_process_free(t->proc);
        pb_free(t->info);
        free(t->sandbox);
        free(t->id);
        free(t);
    }
    while (de->groups != NULL) {
        struct task_group *g = de->groups;
        de->groups = g->next;
        free(g->tasks);
        free(g);
    }
    tepui_executor_free(de->lib);
    event_free(de->ack_timer);
    event_free(de->sigchld);
    event_free(de->sigterm);
    event_free(de->sigint);
    pb_free(de->framework);
    free(de->sandbox);
    free(de);
}

int default_executor_exit_code(const struct default_executor *de) { return de->exit_code; }
