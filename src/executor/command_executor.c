/* The command executor's life: one task, one child process. Messages and
 * the kill escalation follow Mesos's src/launcher/executor.cpp; what it
 * does not do (containers, rootfs, health checks, checks) is logged. */
#include "executor/command_executor.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/task_state.h"
#include "common/xalloc.h"
#include "executor/command.h"
#include "wire/pb.h"

#define LOG_COMPONENT "command-executor"

/* How long to wait for the agent to acknowledge the terminal update before
 * exiting anyway: the agent already has it once the UPDATE call got through. */
#define TERMINAL_ACK_TIMEOUT_SECS 5.0

/* Longer durations (a "1000weeks" grace period) are as good as forever and
 * must not overflow a timeval. */
#define MAX_TIMER_SECS (365 * 24 * 3600.0)

extern char **environ;

struct command_executor {
    struct event_base *base;
    struct tepui_executor *lib;
    const struct tepui_executor_options *opts;   /* the library's copy */
    int switch_user;
    Tepui__FrameworkInfo *framework;             /* owned, from SUBSCRIBED */
    Tepui__TaskInfo *task;                       /* owned, from LAUNCH */

    pid_t pid;                    /* the task's process (and process group) */
    int launch_error_fd;          /* read end of the child's error pipe, or -1 */
    int launched;                 /* the process was started */
    int killed;                   /* we sent SIGTERM (or SIGKILL) */
    int killed_by_max_completion;
    int terminated;               /* the task is over (reaped or never started) */
    int terminal_sent;
    int gave_up;                  /* the library lost the agent for good */
    int signalled;                /* SIGTERM/SIGINT: stop without waiting long */
    double kill_started;          /* monotonic seconds */
    double kill_deadline;         /* when SIGKILL is due */

    struct event *escalation_timer;
    struct event *completion_timer;   /* TaskInfo.max_completion_time */
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
    if (secs < 0)
        secs = 0;
    if (secs > MAX_TIMER_SECS)
        secs = MAX_TIMER_SECS;
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

/* ---- the child ---- */

struct launch_plan {
    char **argv;
    char **envp;
    const char *file;            /* what to exec (searched in the task's PATH) */
    const char *dir;             /* working directory, or NULL */
    int switch_user;
    const char *user;
    uid_t uid;
    gid_t gid;
};

static void __attribute__((noreturn)) child_fail(int fd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Reports why the task could not start, to the parent (for TASK_FAILED)
 * and to the sandbox's stderr, and exits as a shell would. */
static void child_fail(int fd, const char *fmt, ...)
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
    ssize_t w = write(fd, msg, (size_t)n);
    w = write(STDERR_FILENO, msg, (size_t)n);
    w = write(STDERR_FILENO, "\n", 1);
    (void)w;
    _exit(127);
}

/* Runs in the child between fork and exec; this process has a single
 * thread, so the libc calls here are safe. */
static void __attribute__((noreturn)) child_exec(const struct launch_plan *plan, int fd,
                                                 pid_t parent)
{
    /* Default dispositions first: the executor's libevent handlers must
     * not swallow a SIGTERM meant for the task (signals stay blocked, as the
     * parent blocked them around fork, until the task's own are in place). */
    for (int sig = 1; sig < NSIG; sig++)
        signal(sig, SIG_DFL);
    /* A process group of its own, so that a kill reaches everything the
     * command starts; it stays in the executor's session, by which the agent
     * finds (and destroys) whatever the task leaves behind, even processes
     * whose parents are gone. */
    if (setpgid(0, 0) < 0)
        child_fail(fd, "Failed to create a process group for the task: %s", strerror(errno));
    if (plan->dir != NULL && chdir(plan->dir) != 0)
        child_fail(fd, "Failed to change directory to '%s': %s", plan->dir, strerror(errno));
    if (plan->switch_user) {
        if (initgroups(plan->user, plan->gid) != 0)
            child_fail(fd, "Failed to set the supplementary groups of user '%s': %s", plan->user,
                       strerror(errno));
        if (setgid(plan->gid) != 0)
            child_fail(fd, "Failed to set the group of user '%s': %s", plan->user, strerror(errno));
        if (setuid(plan->uid) != 0)
            child_fail(fd, "Failed to switch to user '%s': %s", plan->user, strerror(errno));
    }
    /* The task must not outlive an executor that dies without killing it
     * (set after setuid, which clears it). */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(127);
    if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
        for (int i = 3; i < 1024; i++)
            if (i != fd)
                fcntl(i, F_SETFD, FD_CLOEXEC);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    environ = plan->envp;
    execvp(plan->file, plan->argv);
    child_fail(fd, "Failed to execute '%s': %s", plan->file, strerror(errno));
}

/* Looks the user up; fills the plan's identity. */
static int plan_user(struct command_executor *ce, struct launch_plan *plan, const char *user,
                     char **pwbuf, struct error *err)
{
    long size = sysconf(_SC_GETPW_R_SIZE_MAX);
    struct passwd pw, *found = NULL;
    if (size <= 0)
        size = 16384;
    *pwbuf = xmalloc((size_t)size);
    int rc = getpwnam_r(user, &pw, *pwbuf, (size_t)size, &found);
    if (found == NULL)
        return error_set(err, rc ? -rc : -ENOENT, "Failed to get user information for '%s': %s",
                         user, rc ? strerror(rc) : "no such user");
    if (pw.pw_uid == geteuid())
        return 0;
    if (geteuid() != 0) {
        CE_LOG(warn, ce, "not running as root: the task runs as uid %d, not as user '%s'",
               (int)geteuid(), user);
        return 0;
    }
    plan->switch_user = 1;
    plan->user = user;
    plan->uid = pw.pw_uid;
    plan->gid = pw.pw_gid;
    return 0;
}

/* Starts the task's process. Returns 0, or a negative code with err saying
 * why the task cannot run (it then fails). */
static int launch_process(struct command_executor *ce, struct error *err)
{
    const Tepui__TaskInfo *task = ce->task;
    const Tepui__CommandInfo *cmd = task->command;
    struct launch_plan plan = {0};
    char *pwbuf = NULL;
    int fds[2] = {-1, -1};
    int rc = 0;

    if (cmd == NULL) {
        rc = error_set(err, -EINVAL, "Expecting task '%s' to have a command", task_id_of(ce));
        goto out;
    }
    if ((plan.argv = command_argv(cmd, task_id_of(ce), err)) == NULL ||
        (plan.envp = command_environment(environ, task,
                                         ce->opts->sandbox ? ce->opts->sandbox : ce->opts->directory,
                                         err)) == NULL) {
        rc = -EINVAL;
        goto out;
    }
    plan.file = (!cmd->has_shell || cmd->shell) ? "/bin/sh" : cmd->value;
    plan.dir = ce->opts->sandbox ? ce->opts->sandbox : ce->opts->directory;
    const char *user = ce->switch_user ? command_user(cmd, ce->framework) : NULL;
    if (user != NULL && (rc = plan_user(ce, &plan, user, &pwbuf, err)) != 0)
        goto out;
    if (pipe2(fds, O_CLOEXEC) != 0) {
        rc = error_set(err, -errno, "Failed to launch the command: pipe: %s", strerror(errno));
        goto out;
    }

    /* Signals stay blocked across fork so none reaches the child before it
     * has dropped the executor's handlers. */
    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, &old);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0)
        child_exec(&plan, fds[1], parent);
    int fork_errno = errno;
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (pid < 0) {
        rc = error_set(err, -fork_errno, "Failed to launch the command: fork: %s",
                       strerror(fork_errno));
        goto out;
    }
    ce->pid = pid;
    ce->launch_error_fd = fds[0];
    fds[0] = -1;
    fcntl(ce->launch_error_fd, F_SETFL, O_NONBLOCK);
    CE_LOG(info, ce, "forked command at pid %d%s%s", (int)pid, plan.switch_user ? " as user " : "",
           plan.switch_user ? plan.user : "");
out:
    if (fds[0] >= 0)
        close(fds[0]);
    if (fds[1] >= 0)
        close(fds[1]);
    command_strv_free(plan.argv);
    command_strv_free(plan.envp);
    free(pwbuf);
    return rc;
}

/* ---- killing ---- */

static void signal_task(struct command_executor *ce, int sig)
{
    /* The group may not exist yet when the child has not reached setpgid. */
    if (killpg(ce->pid, sig) != 0)
        kill(ce->pid, sig);
}

static void escalation_cb(evutil_socket_t fd, short what, void *arg)
{
    struct command_executor *ce = arg;
    (void)fd;
    (void)what;
    if (ce->terminated)
        return;
    CE_LOG(info, ce, "process %d did not terminate after %gs, sending SIGKILL to its process group",
           (int)ce->pid, ce->kill_deadline - ce->kill_started);
    signal_task(ce, SIGKILL);
}

static void kill_task(struct command_executor *ce, double grace, int send_killing)
{
    double now = clock_mono();
    if (ce->terminated)
        return;
    evtimer_del(ce->completion_timer);
    if (ce->killed) {
        double deadline = command_kill_deadline(ce->kill_started, ce->kill_deadline, grace);
        if (deadline < ce->kill_deadline) {
            ce->kill_deadline = deadline;
            CE_LOG(info, ce, "rescheduling escalation to SIGKILL in %gs from now",
                   deadline > now ? deadline - now : 0);
            timer_arm(ce->escalation_timer, deadline - now);
        }
        return;
    }
    if (send_killing && !ce->gave_up &&
        command_framework_has_capability(ce->framework,
                                         TEPUI__FRAMEWORK_INFO__CAPABILITY__TYPE__TASK_KILLING_STATE))
        send_status(ce, task_id_of(ce), TEPUI__TASK_STATE__TASK_KILLING, 0, 0, NULL);
    CE_LOG(info, ce, "sending SIGTERM to process group %d; SIGKILL in %gs", (int)ce->pid, grace);
    signal_task(ce, SIGTERM);
    ce->killed = 1;
    ce->kill_started = now;
    ce->kill_deadline = now + grace;
    timer_arm(ce->escalation_timer, grace);
}

static void completion_cb(evutil_socket_t fd, short what, void *arg)
{
    struct command_executor *ce = arg;
    (void)fd;
    (void)what;
    if (ce->terminated || ce->killed)
        return;
    CE_LOG(info, ce, "killing the task: it exceeded its maximum completion time");
    ce->killed_by_max_completion = 1;
    kill_task(ce, 0, 0);
}

/* ---- the end of the task ---- */

static char *read_launch_error(struct command_executor *ce)
{
    char buf[1024];
    ssize_t n = -1;
    if (ce->launch_error_fd >= 0) {
        /* The child has exited, so whatever it wrote is there now. */
        n = read(ce->launch_error_fd, buf, sizeof(buf) - 1);
        close(ce->launch_error_fd);
        ce->launch_error_fd = -1;
    }
    if (n <= 0)
        return NULL;
    buf[n] = '\0';
    return xstrdup(buf);
}

static void task_reaped(struct command_executor *ce, int wait_status)
{
    ce->terminated = 1;
    /* Whatever the command left behind in its group goes with it. */
    killpg(ce->pid, SIGKILL);
    evtimer_del(ce->escalation_timer);
    evtimer_del(ce->completion_timer);

    char *launch_error = read_launch_error(ce);
    char *message = launch_error != NULL ? launch_error : command_wait_message(wait_status);
    Tepui__TaskState state = TEPUI__TASK_STATE__TASK_FAILED;
    int has_reason = 0;
    Tepui__TaskStatus__Reason reason = 0;
    if (launch_error == NULL && ce->killed_by_max_completion) {
        has_reason = 1;
        reason = TEPUI__TASK_STATUS__REASON__REASON_MAX_COMPLETION_TIME_REACHED;
    } else if (launch_error == NULL) {
        state = command_wait_state(wait_status, ce->killed);
    }
    CE_LOG(info, ce, "%s (pid %d)", message, (int)ce->pid);
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
        if (pid == ce->pid && ce->launched && !ce->terminated)
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
    send_status(ce, task_id_of(ce), TEPUI__TASK_STATE__TASK_STARTING, 0, 0, NULL);
    if (task->health_check != NULL)
        CE_LOG(warn, ce, "health checks are not supported yet; ignoring the task's health_check");
    if (task->check != NULL)
        CE_LOG(warn, ce, "checks are not supported yet; ignoring the task's check");
    if (task->container != NULL)
        CE_LOG(warn, ce, "container images are not supported yet; running the command on the host");

    if (launch_process(ce, &err) != 0) {
        CE_LOG(error, ce, "%s", err.msg);
        send_terminal(ce, TEPUI__TASK_STATE__TASK_FAILED, 0, 0, err.msg);
        return;
    }
    ce->launched = 1;
    if (task->max_completion_time != NULL && task->max_completion_time->nanoseconds > 0) {
        double secs = (double)task->max_completion_time->nanoseconds / 1e9;
        CE_LOG(info, ce, "maximum completion time %gs", secs);
        timer_arm(ce->completion_timer, secs);
    }
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
    ce->launch_error_fd = -1;
    ce->switch_user = switch_user;
    ce->lib = tepui_executor_new(base, opts, &cbs, ce, err);
    if (ce->lib == NULL) {
        free(ce);
        return NULL;
    }
    ce->opts = tepui_executor_get_options(ce->lib);
    ce->escalation_timer = evtimer_new(base, escalation_cb, ce);
    ce->completion_timer = evtimer_new(base, completion_cb, ce);
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
    if (ce->launched && !ce->terminated) {
        CE_LOG(warn, ce, "exiting with the task still running; killing process group %d",
               (int)ce->pid);
        signal_task(ce, SIGKILL);
    }
    tepui_executor_free(ce->lib);
    event_free(ce->escalation_timer);
    event_free(ce->completion_timer);
    event_free(ce->ack_timer);
    event_free(ce->sigchld);
    event_free(ce->sigterm);
    event_free(ce->sigint);
    if (ce->launch_error_fd >= 0)
        close(ce->launch_error_fd);
    pb_free(ce->framework);
    pb_free(ce->task);
    free(ce);
}

int command_executor_exit_code(const struct command_executor *ce) { return ce->exit_code; }
