/* Containers: an executor runs as its own session leader in its sandbox,
 * with stdout and stderr going to the sandbox's files, as the framework's
 * user when the agent is root. The posix launcher spawns it plainly and a
 * destroy kills its process tree (its children's sessions included); with
 * cgroups or namespaces (--isolation, isolators.c) it is cloned into new
 * namespaces and enters its cgroups before it execs, and a destroy kills
 * everything in its cgroups. Exits are learned from SIGCHLD, or, for
 * executors a restarted agent recovered (it is not their parent), from a
 * pidfd. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/checkpoint.h"
#include "agent/fetcher.h"
#include "agent/images/images.h"
#include "agent/isolators.h"
#include "agent/volumes.h"
#include "common/clock.h"
#include "common/flags.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "wire/pb.h"

#define LOG_COMPONENT "agent"

extern char **environ;

/* ---- process trees ---- */

/* Every process of root's tree found in /proc: its descendants (by parent
 * pid) and every process of the session root leads (orphans reparented to
 * init keep their session), root included. */
static size_t descendants(pid_t root, pid_t **out)
{
    size_t cap = 64, n = 0;
    pid_t *pids = xmalloc(cap * sizeof(pid_t));
    pid_t *parents = xmalloc(cap * sizeof(pid_t));
    pid_t *sessions = xmalloc(cap * sizeof(pid_t));
    DIR *d = opendir("/proc");
    size_t all = 0;
    if (d != NULL) {
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            char *end = NULL;
            long pid = strtol(de->d_name, &end, 10);
            if (end == de->d_name || *end != '\0')
                continue;
            char path[64], buf[512];
            snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
            int fd = open(path, O_RDONLY | O_CLOEXEC);
            if (fd < 0)
                continue;
            ssize_t r = read(fd, buf, sizeof(buf) - 1);
            close(fd);
            if (r <= 0)
                continue;
            buf[r] = '\0';
            /* "pid (comm) state ppid ...": comm may hold spaces and ')'. */
            char *rp = strrchr(buf, ')');
            long ppid = 0, pgrp = 0, session = 0;
            char state;
            if (rp == NULL || sscanf(rp + 1, " %c %ld %ld %ld", &state, &ppid, &pgrp, &session) != 4)
                continue;
            if (all == cap) {
                cap *= 2;
                pids = xrealloc(pids, cap * sizeof(pid_t));
                parents = xrealloc(parents, cap * sizeof(pid_t));
                sessions = xrealloc(sessions, cap * sizeof(pid_t));
            }
            pids[all] = (pid_t)pid;
            parents[all] = (pid_t)ppid;
            sessions[all] = (pid_t)session;
            all++;
        }
        closedir(d);
    }
    pid_t *result = xmalloc((all + 1) * sizeof(pid_t));
    char *taken = xcalloc(all + 1, 1);
    result[n++] = root;
    for (size_t k = 0; k < all; k++)
        if (sessions[k] == root && pids[k] != root) {
            result[n++] = pids[k];
            taken[k] = 1;
        }
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < all; k++)
            if (!taken[k] && parents[k] == result[i] && pids[k] != root) {
                result[n++] = pids[k];
                taken[k] = 1;
            }
    free(taken);
    free(pids);
    free(parents);
    free(sessions);
    *out = result;
    return n;
}

size_t containers_process_tree(pid_t root, pid_t **out)
{
    return descendants(root, out);
}

/* Signals a process, everything below it, and their process groups. */
static void kill_tree(pid_t root, int sig)
{
    pid_t *pids = NULL;
    size_t n = descendants(root, &pids);
    for (size_t i = 0; i < n; i++) {
        pid_t pgid = getpgid(pids[i]);
        if (pgid > 1 && pgid != getpgid(0))
            kill(-pgid, sig);
        kill(pids[i], sig);
    }
    free(pids);
}

/* Whether a process's environment holds the entry needle. */
static int environ_has(pid_t pid, const char *needle)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    /* Environments past 1 MiB are not containers' (ARG_MAX is 2 MiB, and
     * the id comes early: the agent sets it). */
    size_t cap = 64 * 1024, n = 0;
    char *buf = xmalloc(cap + 1);
    ssize_t r;
    while ((r = read(fd, buf + n, cap - n)) > 0) {
        n += (size_t)r;
        if (n == cap && cap < 1024 * 1024) {
            cap *= 2;
            buf = xrealloc(buf, cap + 1);
        } else if (n == cap) {
            break;
        }
    }
    close(fd);
    buf[n] = '\0';
    int found = 0;
    for (size_t i = 0; i < n && !found; i += strlen(buf + i) + 1)
        found = strcmp(buf + i, needle) == 0;
    free(buf);
    return found;
}

/* Kills what is left of a container whose executor is gone. Its process
 * tree went with it (the rest was reparented), but everything started in
 * the container inherits MESOS_CONTAINER_ID, which marks it as a cgroup
 * would. Passes repeat while they find something (a process may fork
 * while one runs). */
static void kill_container_processes(const char *container_id)
{
    char needle[128];
    snprintf(needle, sizeof(needle), "MESOS_CONTAINER_ID=%s", container_id);
    for (int pass = 0; pass < 5; pass++) {
        int found = 0;
        DIR *d = opendir("/proc");
        if (d == NULL)
            return;
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            char *end = NULL;
            long pid = strtol(de->d_name, &end, 10);
            if (end == de->d_name || *end != '\0' || pid <= 1 || pid == (long)getpid())
                continue;
            if (environ_has((pid_t)pid, needle)) {
                log_info("killing process %ld left behind by container %s", pid, container_id);
                kill((pid_t)pid, SIGKILL);
                found = 1;
            }
        }
        closedir(d);
        if (!found)
            return;
    }
}

static void kill_leftovers(const struct agent_executor *e)
{
    kill_container_processes(e->container_id);
}

/* Whether pid is a live (not zombie) process of the container. */
static int process_of_container(pid_t pid, const char *container_id)
{
    if (pid <= 0 || (kill(pid, 0) != 0 && errno != EPERM))
        return 0;
    char needle[128];
    snprintf(needle, sizeof(needle), "MESOS_CONTAINER_ID=%s", container_id);
    return environ_has(pid, needle);
}

/* ---- launching ---- */

struct envv {
    char **v;
    size_t n;
};

static void env_set(struct envv *env, const char *name, const char *value)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < env->n; i++) {
        if (strncmp(env->v[i], name, len) == 0 && env->v[i][len] == '=') {
            free(env->v[i]);
            env->v[i] = xasprintf("%s=%s", name, value);
            return;
        }
    }
    env->v = xrealloc(env->v, (env->n + 2) * sizeof(char *));
    env->v[env->n++] = xasprintf("%s=%s", name, value);
    env->v[env->n] = NULL;
}

static void env_free(struct envv *env)
{
    for (size_t i = 0; i < env->n; i++)
        free(env->v[i]);
    free(env->v);
}

static int build_environment(struct agent *a, struct agent_executor *e, struct envv *env,
                             struct error *err)
{
    env->v = xcalloc(1, sizeof(char *));
    env->n = 0;
    if (a->flags.executor_environment_variables != NULL) {
        /* Mesos: when given, this replaces the agent's own environment. */
        json_error_t je;
        json_t *o = json_loads(a->flags.executor_environment_variables, 0, &je);
        if (o == NULL || !json_is_object(o)) {
            json_decref(o);
            return error_set(err, -EINVAL, "--executor_environment_variables is not a JSON object");
        }
        const char *k;
        json_t *v;
        json_object_foreach(o, k, v) {
            if (json_is_string(v))
                env_set(env, k, json_string_value(v));
        }
        json_decref(o);
    } else {
        for (char **p = environ; *p; p++) {
            if (strncmp(*p, "TEPUI_", 6) == 0)
                continue;   /* the agent's own flags are not the executor's */
            char *eq = strchr(*p, '=');
            if (eq == NULL)
                continue;
            char *name = xstrndup(*p, (size_t)(eq - *p));
            env_set(env, name, eq + 1);
            free(name);
        }
    }
    char buf[512];
    snprintf(buf, sizeof(buf), "%s:%d", a->ip, a->port);
    env_set(env, "MESOS_AGENT_ENDPOINT", buf);
    snprintf(buf, sizeof(buf), "slave(1)@%s:%d", a->ip, a->port);
    env_set(env, "MESOS_SLAVE_PID", buf);
    env_set(env, "MESOS_SLAVE_ID", a->id ? a->id : "");
    env_set(env, "MESOS_AGENT_ID", a->id ? a->id : "");
    env_set(env, "MESOS_FRAMEWORK_ID", e->framework->id);
    env_set(env, "MESOS_EXECUTOR_ID", e->id);
    env_set(env, "MESOS_CONTAINER_ID", e->container_id);
    env_set(env, "MESOS_DIRECTORY", e->directory);
    env_set(env, "MESOS_SANDBOX", e->directory);
    int checkpoint = e->framework->info->has_checkpoint && e->framework->info->checkpoint;
    env_set(env, "MESOS_CHECKPOINT", checkpoint ? "1" : "0");
    double grace = a->flags.executor_shutdown_grace_period;
    if (e->info->shutdown_grace_period != NULL)
        grace = (double)e->info->shutdown_grace_period->nanoseconds / 1e9;
    flags_format_duration(grace, buf, sizeof(buf));
    env_set(env, "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", buf);
    env_set(env, "MESOS_HTTP_COMMAND_EXECUTOR", "1");
    env_set(env, "LIBPROCESS_PORT", "0");
    env_set(env, "LIBPROCESS_IP", a->ip);
    if (checkpoint) {
        /* As Mesos: an executor retries at most as far apart as a restarted
         * agent waits for it. */
        flags_format_duration(a->flags.recovery_timeout, buf, sizeof(buf));
        env_set(env, "MESOS_RECOVERY_TIMEOUT", buf);
        flags_format_duration(a->flags.executor_reregistration_timeout, buf, sizeof(buf));
        env_set(env, "MESOS_SUBSCRIPTION_BACKOFF_MAX", buf);
    }
    const Tepui__CommandInfo *cmd = e->info->command;
    if (cmd != NULL && cmd->environment != NULL) {
        for (size_t i = 0; i < cmd->environment->n_variables; i++) {
            const Tepui__Environment__Variable *v = cmd->environment->variables[i];
            if (v->value != NULL)
                env_set(env, v->name, v->value);
        }
    }
    return 0;
}

static int chown_tree(const char *dir, uid_t uid, gid_t gid)
{
    if (chown(dir, uid, gid) != 0)
        return -errno;
    static const char *files[] = {"stdout", "stderr"};
    for (size_t i = 0; i < 2; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        if (chown(path, uid, gid) != 0 && errno != ENOENT)
            return -errno;
    }
    return 0;
}

/* What runs as the executor: its command, or, for a DEFAULT executor that
 * names none, our own default executor (tepui-executor in its task-group
 * mode, told not to switch users when the agent was). Built once. */
static const Tepui__CommandInfo *launch_command(struct agent *a, const struct agent_executor *e)
{
    if (e->info->command != NULL)
        return e->info->command;
    if (!e->info->has_type || e->info->type != TEPUI__EXECUTOR_INFO__TYPE__DEFAULT)
        return NULL;
    if (a->default_executor_command == NULL) {
        Tepui__CommandInfo *cmd = xmalloc(sizeof(*cmd));
        tepui__command_info__init(cmd);
        cmd->value = xstrdup(a->executor_path);
        cmd->has_shell = 1;
        cmd->shell = 0;
        cmd->arguments = xcalloc(3, sizeof(char *));
        cmd->arguments[cmd->n_arguments++] = xstrdup(a->executor_path);
        cmd->arguments[cmd->n_arguments++] = xstrdup("--task_group");
        if (!a->flags.switch_user)
            cmd->arguments[cmd->n_arguments++] = xstrdup("--no-switch_user");
        a->default_executor_command = cmd;
    }
    return a->default_executor_command;
}

/* posix_spawn as a session leader in dir, with the sandbox's stdout and
 * stderr files, stdin from /dev/null, default signal handling. */
static int spawn_plain(const char *exe, char **argv, char **envp, const char *dir, pid_t *pid,
                       struct error *err)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    char out[PATH_MAX], errp[PATH_MAX];
    snprintf(out, sizeof(out), "%s/stdout", dir);
    snprintf(errp, sizeof(errp), "%s/stderr", dir);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, out, O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, errp, O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_addchdir_np(&fa, dir);
    posix_spawnattr_init(&attr);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK |
                                        POSIX_SPAWN_SETSIGDEF);
    int rc = posix_spawn(pid, exe, &fa, &attr, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0)
        return error_set(err, -rc, "cannot execute %s: %s", exe, strerror(rc));
    return 0;
}

const char *containers_switch_user(const struct agent *a, const struct agent_executor *e)
{
    const Tepui__CommandInfo *cmd = e->info->command;
    const char *user = cmd != NULL && cmd->user ? cmd->user : e->framework->info->user;
    if (!a->flags.switch_user || geteuid() != 0 || user == NULL || user[0] == '\0' ||
        strcmp(user, "root") == 0)
        return NULL;
    return user;
}

int containers_prepare_sandbox(struct agent *a, struct agent_executor *e, struct error *err)
{
    int rc = 0;
    char runs[PATH_MAX];
    snprintf(runs, sizeof(runs), "%s/slaves/%s/frameworks/%s/executors/%s/runs", a->flags.work_dir,
             a->id, e->framework->id, e->id);
    free(e->directory);
    e->directory = xasprintf("%s/%s", runs, e->container_id);
    if ((rc = fs_mkdirs(e->directory)) != 0)
        return error_set(err, rc, "cannot create sandbox %s: %s", e->directory, strerror(-rc));
    char *latest = xasprintf("%s/latest", runs);
    unlink(latest);
    if (symlink(e->container_id, latest) != 0)
        log_warn("cannot link %s: %s", latest, strerror(errno));
    free(latest);

    /* The files a process of the container writes first (the fetcher's
     * log, before the executor's), owned by who runs it. */
    static const char *const files[] = {"stdout", "stderr"};
    for (size_t i = 0; i < 2; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/%s", e->directory, files[i]);
        int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0)
            return error_set(err, -errno, "cannot create the sandbox's %s: %s", files[i],
                             strerror(errno));
        close(fd);
    }
    const char *user = containers_switch_user(a, e);
    if (user != NULL) {
        struct passwd *pw = getpwnam(user);
        if (pw == NULL)
            return error_set(err, -ENOENT, "user '%s' does not exist on this agent", user);
        if ((rc = chown_tree(e->directory, pw->pw_uid, pw->pw_gid)) != 0)
            return error_set(err, rc, "cannot give the sandbox to user '%s': %s", user,
                             strerror(-rc));
    }
    return 0;
}

/* How an executor's process starts: what it runs and where, who it runs
 * as, which namespaces it gets. Whoever changes how containers run (a
 * container image runs its command through an OCI runtime) rewrites exe and
 * argv here before launch_process; the sandbox, cgroups and user stay. */
struct container_launch {
    const char *exe;
    char **argv;
    char **envp;
    const char *dir;
    int out_fd, err_fd;
    int switch_user;
    const char *user;
    uid_t uid;
    gid_t gid;
    const gid_t *groups;
    int n_groups;
    int clone_flags;                  /* CLONE_NEW* */
};

/* The child's side of a clone: into the cgroups first (everything it
 * starts is then accounted and killable), the namespaces' mounts, then the
 * sandbox, the user and the executor. Only async-signal-safe calls. */
static void launch_child(const struct container_launch *l, const int *cg_fds, size_t n_cg)
{
    for (size_t i = 0; i < n_cg; i++) {
        if (write(cg_fds[i], "0", 1) != 1) {
            dprintf(l->err_fd, "tepui-agent: cannot enter the container's cgroup: %s\n",
                    strerror(errno));
            _exit(126);
        }
    }
    if (l->clone_flags & CLONE_NEWNS) {
        /* Mounts made inside stay inside; the host's still reach in. */
        if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) != 0) {
            dprintf(l->err_fd, "tepui-agent: cannot make / a slave mount: %s\n", strerror(errno));
            _exit(126);
        }
        if ((l->clone_flags & CLONE_NEWPID) &&
            mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0) {
            dprintf(l->err_fd, "tepui-agent: cannot mount /proc: %s\n", strerror(errno));
            _exit(126);
        }
    }
    setsid();
    if (chdir(l->dir) != 0)
        _exit(126);
    dup2(l->out_fd, STDOUT_FILENO);
    dup2(l->err_fd, STDERR_FILENO);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0)
        dup2(devnull, STDIN_FILENO);
    if (l->switch_user && (setgroups((size_t)l->n_groups, l->groups) != 0 || setgid(l->gid) != 0 ||
                           setuid(l->uid) != 0)) {
        dprintf(STDERR_FILENO, "tepui-agent: cannot switch to user %s\n", l->user);
        _exit(126);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    execve(l->exe, l->argv, l->envp);
    dprintf(STDERR_FILENO, "tepui-agent: cannot execute %s: %s\n", l->exe, strerror(errno));
    _exit(127);
}

static int launch_process(struct agent *a, struct agent_executor *e,
                          const struct container_launch *l, pid_t *pid, struct error *err)
{
    if (!l->switch_user && !isolation_needs_clone(a))
        /* The common case, without fork's copy of the agent's memory. */
        return spawn_plain(l->exe, l->argv, l->envp, l->dir, pid, err);
    int cg_fds[CG_N + 1];
    size_t n_cg = 0;
    if (e->container != NULL && e->container->has_cgroups)
        n_cg = cgroups_open_procs(&a->isolation->cg, e->container_id, cg_fds);
    /* clone(2) with fork's calling convention (no new stack: the child
     * runs on a copy of this one), so the executor itself, not a helper,
     * is the first process of its PID namespace and the agent's child. */
    pid_t child = (pid_t)syscall(SYS_clone, (unsigned long)(l->clone_flags | SIGCHLD), NULL,
                                 NULL, NULL, NULL);
    if (child == 0)
        launch_child(l, cg_fds, n_cg);
    int saved = errno;
    for (size_t i = 0; i < n_cg; i++)
        close(cg_fds[i]);
    if (child < 0)
        return error_set(err, -saved, "cannot start the executor (clone): %s", strerror(saved));
    *pid = child;
    return 0;
}

int containers_launch(struct agent *a, struct agent_executor *e, struct error *err)
{
    int rc = 0;
    struct envv env = {0};
    char **argv = NULL;
    int out_fd = -1, err_fd = -1;

    const Tepui__CommandInfo *cmd = launch_command(a, e);
    if (cmd == NULL || cmd->value == NULL)
        return error_set(err, -EINVAL, "executor %s has no command", e->id);

    /* A container that fetched URIs has its sandbox already. */
    if (e->directory == NULL && (rc = containers_prepare_sandbox(a, e, err)) != 0)
        goto out;
    /* A container image is provisioned first, off the loop (images/): the
     * launch comes back here once its rootfs is mounted. */
    if ((rc = images_provision(a, e, err)) != 0) {
        rc = rc > 0 ? 0 : rc;
        goto out;
    }
    if ((rc = volumes_mount(a, e, err)) != 0)
        goto out;

    /* Who runs it: the command's user, else the framework's, when we may. */
    const char *user = cmd->user ? cmd->user : e->framework->info->user;
    struct passwd *pw = NULL;
    int switch_user = a->flags.switch_user && geteuid() == 0 && user != NULL && user[0] != '\0' &&
                      strcmp(user, "root") != 0;
    uid_t uid = 0;
    gid_t gid = 0;
    if (switch_user) {
        pw = getpwnam(user);
        if (pw == NULL) {
            rc = error_set(err, -ENOENT, "user '%s' does not exist on this agent", user);
            goto out;
        }
        uid = pw->pw_uid;
        gid = pw->pw_gid;
    }

    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/stdout", e->directory);
    out_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    snprintf(path, sizeof(path), "%s/stderr", e->directory);
    err_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (out_fd < 0 || err_fd < 0) {
        rc = error_set(err, -errno, "cannot create the sandbox's stdout/stderr: %s", strerror(errno));
        goto out;
    }
    if (switch_user && (rc = chown_tree(e->directory, uid, gid)) != 0) {
        error_set(err, rc, "cannot give the sandbox to user '%s': %s", user, strerror(-rc));
        goto out;
    }
    if ((rc = build_environment(a, e, &env, err)) != 0)
        goto out;
    /* An image's task runs under crun, which the executor starts as root;
     * crun becomes the task's user inside (images/). */
    char *bundle = NULL;
    if ((rc = images_bundle(a, e, env.v, &bundle, err)) != 0)
        goto out;
    if (bundle != NULL) {
        env_set(&env, IMAGES_BUNDLE_ENV, bundle);
        switch_user = 0;
        free(bundle);
    }

    int shell = !cmd->has_shell || cmd->shell;
    if (shell) {
        argv = xcalloc(4, sizeof(char *));
        argv[0] = xstrdup("/bin/sh");
        argv[1] = xstrdup("-c");
        argv[2] = xstrdup(cmd->value);
    } else {
        size_t n = cmd->n_arguments ? cmd->n_arguments : 1;
        argv = xcalloc(n + 1, sizeof(char *));
        if (cmd->n_arguments == 0)
            argv[0] = xstrdup(cmd->value);
        for (size_t i = 0; i < cmd->n_arguments; i++)
            argv[i] = xstrdup(cmd->arguments[i]);
    }
    const char *exe = shell ? "/bin/sh" : cmd->value;

    /* Groups must be looked up before fork: NSS is not safe in the child. */
    gid_t groups[256];
    int n_groups = 256;
    if (switch_user && getgrouplist(user, gid, groups, &n_groups) < 0)
        n_groups = 0;

    /* Limits and cgroups are in place before the executor exists. */
    if ((rc = isolation_prepare(a, e, err)) != 0)
        goto out;
    struct container_launch l = {
        .exe = exe,
        .argv = argv,
        .envp = env.v,
        .dir = e->directory,
        .out_fd = out_fd,
        .err_fd = err_fd,
        .switch_user = switch_user,
        .user = user,
        .uid = uid,
        .gid = gid,
        .groups = groups,
        .n_groups = n_groups,
        .clone_flags = isolation_clone_flags(a),
    };
    pid_t pid;
    if ((rc = launch_process(a, e, &l, &pid, err)) != 0)
        goto out;
    e->pid = pid;
    HASH_ADD(hh_pid, a->executors_by_pid, pid, sizeof(pid_t), e);
    if (agent_framework_checkpoints(e->framework))
        ckpt_executor(a, e);
    log_info("launched executor %s of framework %s as pid %d in %s", e->id, e->framework->id,
             (int)pid, e->directory);
out:
    if (out_fd >= 0)
        close(out_fd);
    if (err_fd >= 0)
        close(err_fd);
    if (argv != NULL) {
        for (size_t i = 0; argv[i]; i++)
            free(argv[i]);
        free(argv);
    }
    env_free(&env);
    return rc;
}

/* ---- stopping ---- */

void containers_destroy(struct agent *a, struct agent_executor *e)
{
    if (e->fetch != NULL)
        fetcher_kill(a, e);
    images_kill(a, e);
    if (isolation_kill(a, e->container_id))
        return;
    if (e->pid > 0)
        kill_tree(e->pid, SIGKILL);
}

void containers_update(struct agent *a, struct agent_executor *e)
{
    isolation_update(a, e);
}

void containers_release(struct agent *a, struct agent_executor *e)
{
    isolation_cleanup(a, e);
}

void containers_cleanup_unknown(struct agent *a)
{
    isolation_cleanup_unknown(a);
    images_recover(a);
}

/* The executor's process is gone: what it left goes with it (everything
 * in its cgroups; without them its session, then anything still marked
 * with its container id, unless it ended cleanly, having ended its tasks'
 * process groups itself: both scan /proc, too costly for every launch).
 * A container that ran out of memory says so first. */
static void container_ended(struct agent *a, struct agent_executor *e, pid_t pid, int clean)
{
    isolation_check_limitation(a, e);
    images_destroy(a, e->container_id);
    if (e->container != NULL && e->container->has_cgroups) {
        isolation_cleanup(a, e);
        return;
    }
    if (!clean) {
        if (pid > 0)
            kill_tree(pid, SIGKILL);
        kill_leftovers(e);
    }
    isolation_cleanup(a, e);
}

/* ---- executors of an earlier run ---- */

static void reattached_exit(struct agent *a, struct agent_executor *e)
{
    containers_unwatch(e);
    e->pid = 0;
    /* Its exit status is its old parent's to know. Tasks it did not end
     * mean it did not end cleanly: what it left goes, found by its id (its
     * pid may already name another process). */
    int unfinished = e->reason_set;
    struct agent_task *t, *tmp;
    HASH_ITER(hh, e->tasks, t, tmp) {
        unfinished |= !task_state_is_terminal(t->state);
    }
    container_ended(a, e, 0, !unfinished);
    if (e->recovered)
        recover_executor_gone(a, e);
    if (e->state != EXECUTOR_TERMINATED)
        tasks_executor_terminated(a, e, -1);
}

static void pidfd_cb(evutil_socket_t fd, short what, void *arg)
{
    struct agent_executor *e = arg;
    (void)fd;
    (void)what;
    reattached_exit(e->agent, e);
}

/* Without pidfds (Linux before 5.3), the process is looked for now and
 * then; its container id keeps a reused pid from passing for it. */
static void poll_exit_cb(evutil_socket_t fd, short what, void *arg)
{
    struct agent_executor *e = arg;
    (void)fd;
    (void)what;
    if (!process_of_container(e->pid, e->container_id))
        reattached_exit(e->agent, e);
}

int containers_reattach(struct agent *a, struct agent_executor *e)
{
    e->pidfd = -1;
    if (!process_of_container(e->pid, e->container_id))
        return 0;
#ifdef SYS_pidfd_open
    int fd = (int)syscall(SYS_pidfd_open, e->pid, 0);
#else
    int fd = -1;
    errno = ENOSYS;
#endif
    if (fd >= 0) {
        /* The pid could have been reused between the check and the open. */
        if (!process_of_container(e->pid, e->container_id)) {
            close(fd);
            return 0;
        }
        e->pidfd = fd;
        e->exit_watch = event_new(a->base, fd, EV_READ, pidfd_cb, e);
        event_add(e->exit_watch, NULL);
        isolation_recover(a, e);
    } else {
        log_warn("cannot watch executor %s (pid %d) with a pidfd (%s); polling for its exit",
                 e->id, (int)e->pid, strerror(errno));
        e->exit_watch = event_new(a->base, -1, EV_PERSIST, poll_exit_cb, e);
        struct timeval tv = {1, 0};
        event_add(e->exit_watch, &tv);
        isolation_recover(a, e);
    }
    return 1;
}

void containers_unwatch(struct agent_executor *e)
{
    volumes_unmount(e->agent, e);
    if (e->exit_watch != NULL) {
        event_free(e->exit_watch);
        e->exit_watch = NULL;
    }
    if (e->pidfd >= 0)
        close(e->pidfd);
    e->pidfd = -1;
}

void containers_kill_orphan(struct agent *a, const char *container_id, pid_t pid)
{
    isolation_cleanup_id(a, container_id);
    images_destroy(a, container_id);
    if (process_of_container(pid, container_id)) {
        log_info("killing executor pid %d of container %s", (int)pid, container_id);
        kill_tree(pid, SIGKILL);
    }
    kill_container_processes(container_id);
}

static void shutdown_grace_expired(evutil_socket_t fd, short what, void *arg)
{
    struct agent_executor *e = arg;
    (void)fd;
    (void)what;
    log_warn("executor %s of framework %s did not exit within its grace period; killing it",
             e->id, e->framework->id);
    containers_destroy(e->agent, e);
}

void containers_shutdown(struct agent *a, struct agent_executor *e)
{
    if (e->state == EXECUTOR_TERMINATED || e->state == EXECUTOR_TERMINATING)
        return;
    if (e->state == EXECUTOR_LAUNCHING || e->stream == NULL) {
        e->state = EXECUTOR_TERMINATING;
        containers_destroy(a, e);
        return;
    }
    e->state = EXECUTOR_TERMINATING;
    Tepui__Executor__Event ev = TEPUI__EXECUTOR__EVENT__INIT;
    ev.has_type = 1;
    ev.type = TEPUI__EXECUTOR__EVENT__TYPE__SHUTDOWN;
    executor_send_event(e, &ev);
    double grace = a->flags.executor_shutdown_grace_period;
    if (e->info->shutdown_grace_period != NULL)
        grace = (double)e->info->shutdown_grace_period->nanoseconds / 1e9;
    if (e->shutdown_timer == NULL)
        e->shutdown_timer = evtimer_new(a->base, shutdown_grace_expired, e);
    struct timeval tv = clock_timeval(grace);
    evtimer_add(e->shutdown_timer, &tv);
}

/* ---- exits ---- */

static void sigchld_cb(evutil_socket_t sig, short what, void *arg)
{
    struct agent *a = arg;
    (void)sig;
    (void)what;
    for (;;) {
        int status = 0;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0)
            break;
        struct agent_executor *e = NULL;
        HASH_FIND(hh_pid, a->executors_by_pid, &pid, sizeof(pid_t), e);
        if (e == NULL) {
            fetcher_reaped(a, pid, status);   /* or a fetcher's */
            images_reaped(a, pid, status);    /* or a provisioner's */
            continue;
        }
        HASH_DELETE(hh_pid, a->executors_by_pid, e);
        e->pid = 0;
        container_ended(a, e, pid, WIFEXITED(status) && WEXITSTATUS(status) == 0);
        if (e->state != EXECUTOR_TERMINATED)
            tasks_executor_terminated(a, e, status);
    }
}

int containers_init(struct agent *a, struct error *err)
{
    int rc = isolation_init(a, err);
    if (rc != 0)
        return rc;
    a->sigchld = evsignal_new(a->base, SIGCHLD, sigchld_cb, a);
    event_add(a->sigchld, NULL);
    images_init(a);
    return 0;
}

void containers_fini(struct agent *a)
{
    /* Agent shutdown: as Mesos's, executors of frameworks that checkpoint
     * keep running for the agent's next run; the others are killed. Every
     * one is forgotten (the checkpoint is closed: it keeps them). */
    struct agent_framework *f, *ftmp;
    HASH_ITER(hh, a->frameworks, f, ftmp) {
        int keep = agent_framework_checkpoints(f) && !a->stop_all_executors;
        f->shutting_down = 1;
        struct agent_executor *e, *etmp;
        HASH_ITER(hh, f->executors, e, etmp) {
            if (e->fetch != NULL)
                fetcher_kill(a, e);
            if (e->pid > 0 && keep) {
                log_info("leaving executor %s of framework %s (pid %d) running for the agent's "
                         "next run", e->id, f->id, (int)e->pid);
                if (!e->adopted)
                    HASH_DELETE(hh_pid, a->executors_by_pid, e);
                isolation_forget(e);
            } else if (e->pid > 0) {
                if (!isolation_kill(a, e->container_id))
                    kill_tree(e->pid, SIGKILL);
                if (!e->adopted) {
                    waitpid(e->pid, NULL, 0);
                    HASH_DELETE(hh_pid, a->executors_by_pid, e);
                } else {
                    kill_leftovers(e);
                }
            }
            containers_unwatch(e);
            tasks_executor_free(a, e);
        }
    }
    if (a->sigchld) {
        event_free(a->sigchld);
        a->sigchld = NULL;
    }
    images_fini(a);
    isolation_fini(a);
}
