/* A task's process for the built-in executors (see task_process.h): fork
 * and exec with the argv, environment and user that command.c decides, the
 * kill escalation of Mesos's command executor (src/launcher/executor.cpp),
 * and the end of the task in its words. */
#include "executor/task_process.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "executor/command.h"

#define LOG_COMPONENT "executor"

/* Longer durations (a "1000weeks" grace period) are as good as forever and
 * must not overflow a timeval. */
#define MAX_TIMER_SECS (365 * 24 * 3600.0)

extern char **environ;

struct task_process {
    pid_t pid;                     /* the process, and its process group */
    int launch_error_fd;           /* read end of the child's error pipe, or -1 */
    int reaped;
    int killing;                   /* SIGTERM (or SIGKILL) was sent */
    int killed_by_max_completion;
    double kill_started;           /* monotonic seconds */
    double kill_deadline;          /* when SIGKILL is due */
    struct event *escalation_timer;
    struct event *completion_timer;
    char *log_prefix;              /* "framework F executor E task T" */
    char **crun;                   /* a container image's task: crun's argv up to its command */
    char *crun_id;
};

#define TP_LOG(level, p, fmt, ...) log_##level("%s: " fmt, (p)->log_prefix, ##__VA_ARGS__)

static void timer_arm(struct event *ev, double secs)
{
    if (secs < 0)
        secs = 0;
    if (secs > MAX_TIMER_SECS)
        secs = MAX_TIMER_SECS;
    struct timeval tv = clock_timeval(secs);
    evtimer_add(ev, &tv);
}

/* ---- the child ---- */

struct launch_plan {
    char **argv;
    char **envp;
    const char *file;            /* what to exec (searched in the task's PATH) */
    const char *dir;             /* working directory, or NULL */
    int out_fd, err_fd;          /* become stdout and stderr, when >= 0 */
    int crun;                    /* runs crun (see crun_plan) */
    int switch_user;
    const char *user;
    uid_t uid;
    gid_t gid;
};

static void __attribute__((noreturn)) child_fail(int fd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Reports why the task could not start, to the parent (for TASK_FAILED)
 * and to the task's stderr, and exits as a shell would. */
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

/* Runs in the child between fork and exec; the executor has a single
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
    if (plan->out_fd >= 0 && dup2(plan->out_fd, STDOUT_FILENO) < 0)
        child_fail(fd, "Failed to redirect the task's stdout: %s", strerror(errno));
    if (plan->err_fd >= 0 && dup2(plan->err_fd, STDERR_FILENO) < 0)
        child_fail(fd, "Failed to redirect the task's stderr: %s", strerror(errno));
    if (plan->dir != NULL && chdir(plan->dir) != 0)
        child_fail(fd, "Failed to change directory to '%s': %s", plan->dir, strerror(errno));
    /* crun refuses hosts with cgroup v1 and v2 controllers both (hybrid):
     * in a mount namespace of its own, cgroup v2 is out of its sight. The
     * container stays in the executor's cgroups (--cgroup-manager=disabled). */
    if (plan->crun && (unshare(CLONE_NEWNS) != 0 ||
                       mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) != 0))
        child_fail(fd, "Failed to prepare a mount namespace for crun: %s", strerror(errno));
    if (plan->crun)
        umount2("/sys/fs/cgroup/unified", MNT_DETACH);
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

/* Looks the user up; fills the plan's identity when we can and must
 * switch to it. */
static int plan_user(const char *log_prefix, struct launch_plan *plan, const char *user,
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
        log_warn("%s: not running as root: the task runs as uid %d, not as user '%s'",
                 log_prefix, (int)geteuid(), user);
        return 0;
    }
    plan->switch_user = 1;
    plan->user = user;
    plan->uid = pw.pw_uid;
    plan->gid = pw.pw_gid;
    return 0;
}

static int open_output(const char *path, int *fd, struct error *err)
{
    if (path == NULL)
        return 0;
    *fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (*fd < 0)
        return error_set(err, -errno, "Failed to open '%s': %s", path, strerror(errno));
    return 0;
}

/* A sandbox made for the task belongs to its user, who must be able to
 * write there. */
static int give_to_user(const struct task_process_spec *spec, const struct launch_plan *plan,
                        struct error *err)
{
    const char *paths[] = {spec->sandbox, spec->stdout_path, spec->stderr_path};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
        if (paths[i] != NULL && chown(paths[i], plan->uid, plan->gid) != 0)
            return error_set(err, -errno, "Failed to give '%s' to user '%s': %s", paths[i],
                             plan->user, strerror(errno));
    return 0;
}

static void escalation_cb(evutil_socket_t fd, short what, void *arg);
static void completion_cb(evutil_socket_t fd, short what, void *arg);

/* A task from a container image: the agent wrote its OCI bundle (command,
 * environment, user, rootfs) and names it in TEPUI_CONTAINER_BUNDLE; the
 * task is `crun run` of it, started as root, named by the container id. */
static int crun_plan(struct task_process *p, const struct task_process_spec *spec,
                     const char *bundle, struct launch_plan *plan, struct error *err)
{
    const char *id = NULL;
    size_t n_env = 0;
    for (char *const *e = spec->base_env; *e != NULL; e++, n_env++)
        if (strncmp(*e, "MESOS_CONTAINER_ID=", 19) == 0)
            id = *e + 19;
    if (id == NULL || id[0] == '\0')
        return error_set(err, -EINVAL, "Failed to launch the container: no MESOS_CONTAINER_ID");
    p->crun_id = xstrdup(id);
    p->crun = xcalloc(5, sizeof(char *));
    p->crun[0] = xstrdup("crun");
    p->crun[1] = xasprintf("--root=%s/crun", bundle);
    p->crun[2] = xstrdup("--cgroup-manager=disabled");
    plan->argv = xcalloc(8, sizeof(char *));
    for (size_t i = 0; i < 3; i++)
        plan->argv[i] = xstrdup(p->crun[i]);
    plan->argv[3] = xstrdup("run");
    plan->argv[4] = xstrdup("--bundle");
    plan->argv[5] = xstrdup(bundle);
    plan->argv[6] = xstrdup(id);
    plan->envp = xcalloc(n_env + 1, sizeof(char *));
    for (size_t i = 0; i < n_env; i++)
        plan->envp[i] = xstrdup(spec->base_env[i]);
    plan->file = "crun";
    plan->dir = spec->sandbox;
    plan->crun = 1;
    return 0;
}

/* What both a task and its helper commands need: argv and environment
 * from cmd (with the task's environment below a helper's own variables),
 * the task's user, its sandbox as working directory. */
static int plan_prepare(const struct task_process_spec *spec, const Tepui__CommandInfo *cmd,
                        int helper, const char *log_prefix, struct launch_plan *plan,
                        char **pwbuf, struct error *err)
{
    const Tepui__TaskInfo *task = spec->task;
    const char *task_id = task->task_id->value;
    if ((plan->argv = command_argv(cmd, task_id, err)) == NULL ||
        (plan->envp = command_environment(spec->base_env, task, spec->sandbox, err)) == NULL)
        return -EINVAL;
    if (spec->own_sandbox && spec->sandbox != NULL)
        plan->envp = command_env_set(plan->envp, "MESOS_SANDBOX", spec->sandbox);
    const Tepui__Environment *vars = helper ? cmd->environment : NULL;
    for (size_t i = 0; vars != NULL && i < vars->n_variables; i++)
        if (vars->variables[i]->name != NULL && vars->variables[i]->name[0] != '\0')
            plan->envp = command_env_set(plan->envp, vars->variables[i]->name,
                                         vars->variables[i]->value);
    plan->file = (!cmd->has_shell || cmd->shell) ? "/bin/sh" : cmd->value;
    plan->dir = spec->sandbox;
    /* A helper runs as the task does: its own CommandInfo.user is ignored,
     * as Mesos's checkers ignore it. */
    const char *user = spec->switch_user ? command_user(task->command, spec->framework) : NULL;
    if (user != NULL)
        return plan_user(log_prefix, plan, user, pwbuf, err);
    return 0;
}

static void plan_release(struct launch_plan *plan)
{
    if (plan->out_fd >= 0)
        close(plan->out_fd);
    if (plan->err_fd >= 0)
        close(plan->err_fd);
    command_strv_free(plan->argv);
    command_strv_free(plan->envp);
}

/* Forks the child of plan; error_fd is where it reports why it could not
 * exec (-1: nowhere). Returns its pid, or a negative errno. */
static pid_t plan_fork(const struct launch_plan *plan, int error_fd)
{
    /* Signals stay blocked across fork so none reaches the child before it
     * has dropped the executor's handlers. */
    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, &old);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0)
        child_exec(plan, error_fd, parent);
    int fork_errno = errno;
    sigprocmask(SIG_SETMASK, &old, NULL);
    return pid < 0 ? -fork_errno : pid;
}

struct task_process *task_process_start(struct event_base *base,
                                        const struct task_process_spec *spec, struct error *err)
{
    const Tepui__TaskInfo *task = spec->task;
    const Tepui__CommandInfo *cmd = task->command;
    const char *task_id = task->task_id->value;
    struct task_process *p = XNEW(struct task_process);
    struct launch_plan plan = {.out_fd = -1, .err_fd = -1};
    char *pwbuf = NULL;
    int fds[2] = {-1, -1};
    int rc = 0;

    p->pid = -1;
    p->launch_error_fd = -1;
    p->log_prefix = xasprintf("framework %s executor %s task %s", spec->framework_id,
                              spec->executor_id, task_id);
    if (cmd == NULL) {
        rc = error_set(err, -EINVAL, "Expecting task '%s' to have a command", task_id);
        goto out;
    }
    const char *bundle = NULL;
    for (char *const *e = spec->base_env; *e != NULL; e++)
        if (strncmp(*e, "TEPUI_CONTAINER_BUNDLE=", 23) == 0)
            bundle = *e + 23;
    if (bundle != NULL ? (rc = crun_plan(p, spec, bundle, &plan, err)) != 0
                       : (rc = plan_prepare(spec, cmd, 0, p->log_prefix, &plan, &pwbuf, err)) != 0)
        goto out;
    if ((rc = open_output(spec->stdout_path, &plan.out_fd, err)) != 0 ||
        (rc = open_output(spec->stderr_path, &plan.err_fd, err)) != 0)
        goto out;
    if (plan.switch_user && spec->own_sandbox && (rc = give_to_user(spec, &plan, err)) != 0)
        goto out;
    if (pipe2(fds, O_CLOEXEC) != 0) {
        rc = error_set(err, -errno, "Failed to launch the command: pipe: %s", strerror(errno));
        goto out;
    }
    pid_t pid = plan_fork(&plan, fds[1]);
    if (pid < 0) {
        rc = error_set(err, pid, "Failed to launch the command: fork: %s", strerror(-pid));
        goto out;
    }
    p->pid = pid;
    p->launch_error_fd = fds[0];
    fds[0] = -1;
    fcntl(p->launch_error_fd, F_SETFL, O_NONBLOCK);
    p->escalation_timer = evtimer_new(base, escalation_cb, p);
    p->completion_timer = evtimer_new(base, completion_cb, p);
    TP_LOG(info, p, "forked command at pid %d%s%s", (int)pid, plan.switch_user ? " as user " : "",
           plan.switch_user ? plan.user : "");
    if (task->max_completion_time != NULL && task->max_completion_time->nanoseconds > 0) {
        double secs = (double)task->max_completion_time->nanoseconds / 1e9;
        TP_LOG(info, p, "maximum completion time %gs", secs);
        timer_arm(p->completion_timer, secs);
    }
out:
    if (fds[0] >= 0)
        close(fds[0]);
    if (fds[1] >= 0)
        close(fds[1]);
    plan_release(&plan);
    free(pwbuf);
    if (rc != 0) {
        task_process_free(p);
        return NULL;
    }
    return p;
}

pid_t task_process_spawn_helper(const struct task_process_spec *spec,
                                const Tepui__CommandInfo *cmd, struct error *err)
{
    struct launch_plan plan = {.out_fd = -1, .err_fd = -1};
    char *pwbuf = NULL;
    char *log_prefix = xasprintf("framework %s executor %s task %s", spec->framework_id,
                                 spec->executor_id, spec->task->task_id->value);
    pid_t pid = -EINVAL;
    if (plan_prepare(spec, cmd, 1, log_prefix, &plan, &pwbuf, err) != 0)
        goto out;
    /* Its output would only clutter the task's. */
    if (open_output("/dev/null", &plan.out_fd, err) != 0 ||
        open_output("/dev/null", &plan.err_fd, err) != 0)
        goto out;
    pid = plan_fork(&plan, -1);
    if (pid < 0)
        error_set(err, pid, "Failed to launch the command: fork: %s", strerror(-pid));
out:
    plan_release(&plan);
    free(pwbuf);
    free(log_prefix);
    return pid < 0 ? -1 : pid;
}

pid_t task_process_pid(const struct task_process *p) { return p->pid; }

/* ---- killing ---- */

/* `crun kill`: the container's processes are not in crun's group. */
static int crun_kill(struct task_process *p, int sig)
{
    char signame[16];
    snprintf(signame, sizeof(signame), "%d", sig);
    char *argv[] = {p->crun[0], p->crun[1], "kill", p->crun_id, signame, NULL};
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, STDOUT_FILENO);
        dup2(null, STDERR_FILENO);
        execvp(argv[0], argv);
        _exit(127);
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static void signal_group(struct task_process *p, int sig)
{
    if (p->crun != NULL && crun_kill(p, sig) == 0)
        return;
    /* The group may not exist yet when the child has not reached setpgid. */
    if (killpg(p->pid, sig) != 0)
        kill(p->pid, sig);
}

static void escalation_cb(evutil_socket_t fd, short what, void *arg)
{
    struct task_process *p = arg;
    (void)fd;
    (void)what;
    if (p->reaped)
        return;
    TP_LOG(info, p, "process %d did not terminate after %gs, sending SIGKILL to its process group",
           (int)p->pid, p->kill_deadline - p->kill_started);
    signal_group(p, SIGKILL);
}

int task_process_kill(struct task_process *p, double grace)
{
    double now = clock_mono();
    if (p->reaped)
        return 0;
    evtimer_del(p->completion_timer);
    if (p->killing) {
        double deadline = command_kill_deadline(p->kill_started, p->kill_deadline, grace);
        if (deadline < p->kill_deadline) {
            p->kill_deadline = deadline;
            TP_LOG(info, p, "rescheduling escalation to SIGKILL in %gs from now",
                   deadline > now ? deadline - now : 0);
            timer_arm(p->escalation_timer, deadline - now);
        }
        return 0;
    }
    TP_LOG(info, p, "sending SIGTERM to process group %d; SIGKILL in %gs", (int)p->pid, grace);
    signal_group(p, SIGTERM);
    p->killing = 1;
    p->kill_started = now;
    p->kill_deadline = now + grace;
    timer_arm(p->escalation_timer, grace);
    return 1;
}

int task_process_killing(const struct task_process *p) { return p->killing; }

static void completion_cb(evutil_socket_t fd, short what, void *arg)
{
    struct task_process *p = arg;
    (void)fd;
    (void)what;
    if (p->reaped || p->killing)
        return;
    TP_LOG(info, p, "killing the task: it exceeded its maximum completion time");
    p->killed_by_max_completion = 1;
    task_process_kill(p, 0);
}

/* ---- the end ---- */

static char *read_launch_error(struct task_process *p)
{
    char buf[1024];
    ssize_t n = -1;
    if (p->launch_error_fd >= 0) {
        /* The child has exited, so whatever it wrote is there now. */
        n = read(p->launch_error_fd, buf, sizeof(buf) - 1);
        close(p->launch_error_fd);
        p->launch_error_fd = -1;
    }
    if (n <= 0)
        return NULL;
    buf[n] = '\0';
    return xstrdup(buf);
}

void task_process_reaped(struct task_process *p, int wait_status, Tepui__TaskState *state,
                         int *has_reason, Tepui__TaskStatus__Reason *reason, char **message)
{
    p->reaped = 1;
    /* Whatever the command left behind in its group goes with it. */
    killpg(p->pid, SIGKILL);
    evtimer_del(p->escalation_timer);
    evtimer_del(p->completion_timer);

    char *launch_error = read_launch_error(p);
    *message = launch_error != NULL ? launch_error : command_wait_message(wait_status);
    *state = TEPUI__TASK_STATE__TASK_FAILED;
    *has_reason = 0;
    *reason = 0;
    if (launch_error == NULL && p->killed_by_max_completion) {
        *has_reason = 1;
        *reason = TEPUI__TASK_STATUS__REASON__REASON_MAX_COMPLETION_TIME_REACHED;
    } else if (launch_error == NULL) {
        *state = command_wait_state(wait_status, p->killing);
    }
    TP_LOG(info, p, "%s (pid %d)", *message, (int)p->pid);
}

int task_process_is_reaped(const struct task_process *p) { return p->reaped; }

void task_process_free(struct task_process *p)
{
    if (p == NULL)
        return;
    if (p->pid > 0 && !p->reaped) {
        TP_LOG(warn, p, "exiting with the task still running; killing process group %d",
               (int)p->pid);
        signal_group(p, SIGKILL);
    }
    if (p->escalation_timer != NULL)
        event_free(p->escalation_timer);
    if (p->completion_timer != NULL)
        event_free(p->completion_timer);
    if (p->launch_error_fd >= 0)
        close(p->launch_error_fd);
    free(p->log_prefix);
    command_strv_free(p->crun);
    free(p->crun_id);
    free(p);
}
