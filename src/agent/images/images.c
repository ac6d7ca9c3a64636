/* The agent's side of container images (see images.h). A container from an
 * image goes through: provisioning (a forked child, provision.c, unpacks
 * and mounts; the agent's loop only waits for its exit), the bundle
 * (config.json, written when the executor is started), and destruction
 * (crun's state, the overlay mount and the container's directories go; the
 * unmount and the removal run in a forked child too: a lazy unmount waits
 * for an RCU grace period, milliseconds, and a task may have written much
 * into its rootfs). Layers stay in the cache for the next container. */
#include "agent/images/images.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <jansson.h>
#include <limits.h>
#include <openssl/evp.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/images/bundle.h"
#include "agent/images/store.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/xalloc.h"

#define LOG_COMPONENT "agent"

extern char **environ;

struct provision {
    char container_id[40];
    char *framework_id, *executor_id;
    char *image;                      /* its name, for messages */
    pid_t pid;                        /* the provisioner, while it runs */
    int ready;                        /* rootfs mounted */
    int cancelled;
    UT_hash_handle hh;                /* images->by_container */
    UT_hash_handle hh_pid;            /* images->by_pid */
};

/* A child removing a container's directory (and unmounting its rootfs). */
struct removal {
    pid_t pid;
    UT_hash_handle hh;                /* images->removals */
};

struct images {
    char *crun;                       /* NULL when not installed */
    char *layers, *containers, *trash, *staging;
    char *cache;                      /* what tarball images hold (store.h) */
    char **stores;
    size_t n_stores;
    unsigned serial;
    struct provision *by_container;
    struct provision *by_pid;
    struct removal *removals;
};

/* ---- helpers ---- */

static char *find_in_path(const char *prog)
{
    const char *path = getenv("PATH");
    char *copy = xstrdup(path && path[0] ? path : "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin");
    char *found = NULL, *save = NULL;
    for (char *d = strtok_r(copy, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
        char *p = xasprintf("%s/%s", d, prog);
        if (access(p, X_OK) == 0)
            found = p;
        else
            free(p);
    }
    free(copy);
    return found;
}

static void provision_free(struct provision *p)
{
    free(p->framework_id);
    free(p->executor_id);
    free(p->image);
    free(p);
}

static struct provision *provision_find(struct images *im, const char *container_id)
{
    struct provision *p = NULL;
    HASH_FIND_STR(im->by_container, container_id, p);
    return p;
}

/* Runs a program and waits for it (only crun's cleanup, which is quick and
 * rare: a container whose crun did not end it). */
static int run_wait(char *const argv[])
{
    pid_t pid;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        return -rc;
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

/* A forked child: in a session of its own, default signal handling, no
 * signal blocked, and (after its own files are open) none of the agent's
 * descriptors. Its code runs nothing of the agent's loop and ends with
 * _exit, so nothing inherited is flushed or freed twice. */
static pid_t fork_child(void)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    setsid();
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    for (int sig = 1; sig < NSIG; sig++)
        sigaction(sig, &dfl, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    return 0;
}

/* Moves a container's directory aside and removes it, after unmounting its
 * rootfs, in a child process (removal stays on the directory's file system:
 * nothing mounted below is touched); its exit is reaped in images_reaped. */
static void remove_later(struct images *im, const char *path)
{
    char *aside = xasprintf("%s/%u-%d", im->trash, ++im->serial, (int)getpid());
    const char *victim = path;
    if (fs_mkdirs(im->trash) == 0 && rename(path, aside) == 0)
        victim = aside;
    char *rootfs = xasprintf("%s/rootfs", victim);
    pid_t pid = fork_child();
    if (pid == 0) {
        close_range(3, ~0U, 0);
        if (umount2(rootfs, MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT)
            dprintf(STDERR_FILENO, "cannot unmount %s: %s\n", rootfs, strerror(errno));
        _exit(store_remove_tree(victim) == 0 ? 0 : 1);
    }
    if (pid > 0) {
        struct removal *r = XNEW(struct removal);
        r->pid = pid;
        HASH_ADD(hh, im->removals, pid, sizeof(pid_t), r);
    } else {
        log_warn("cannot fork to remove %s: %s", victim, strerror(errno));
        umount2(rootfs, MNT_DETACH);
        store_remove_tree(victim);
    }
    free(rootfs);
    free(aside);
}

/* The provisioner's side of the fork: the sandbox's stdout and stderr. */
static void provisioner_child(const char *dir, const char *out, const char *errp)
{
    int in = open("/dev/null", O_RDONLY);
    int o = open(out, O_WRONLY | O_CREAT | O_APPEND, 0644);
    int e = open(errp, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (in < 0 || o < 0 || e < 0 || dup2(in, STDIN_FILENO) < 0 || dup2(o, STDOUT_FILENO) < 0 ||
        dup2(e, STDERR_FILENO) < 0)
        _exit(127);
    close_range(3, ~0U, 0);
    _exit(images_provision_run(dir));
}

/* ---- what a container runs ---- */

/* The image a container names: 0 with *name NULL when none. */
static int image_name(const struct agent_executor *e, const char **name, struct error *err)
{
    const Tepui__ContainerInfo *c = e->info->container;
    *name = NULL;
    if (c == NULL)
        return 0;
    if (c->type == TEPUI__CONTAINER_INFO__TYPE__DOCKER) {
        if (c->docker == NULL || c->docker->image == NULL || c->docker->image[0] == '\0')
            return error_set(err, -EINVAL, "ContainerInfo of type DOCKER needs docker.image");
        *name = c->docker->image;
        return 0;
    }
    const Tepui__Image *img = c->mesos ? c->mesos->image : NULL;
    if (img == NULL)
        return 0;
    if (img->type == TEPUI__IMAGE__TYPE__APPC)
        return error_set(err, -ENOTSUP, "APPC images are not supported: use a DOCKER image");
    if (img->docker == NULL || img->docker->name == NULL || img->docker->name[0] == '\0')
        return error_set(err, -EINVAL, "a DOCKER image needs docker.name");
    *name = img->docker->name;
    return 0;
}

int images_provision(struct agent *a, struct agent_executor *e, struct error *err)
{
    struct images *im = a->images;
    const char *name;
    int rc = image_name(e, &name, err);
    if (rc != 0 || name == NULL)
        return rc;
    struct provision *p = provision_find(im, e->container_id);
    if (p != NULL)
        return p->ready ? 0 : 1;
    if (!e->command_executor)
        return error_set(err, -ENOTSUP, "container images are supported for command tasks only "
                         "(executor '%s' names image '%s')", e->id, name);
    if (geteuid() != 0)
        return error_set(err, -EPERM, "the agent must run as root to run image '%s'", name);
    if (im->crun == NULL)
        return error_set(err, -ENOENT, "crun (the OCI runtime that runs tasks from container "
                         "images) is not installed on this agent");
    if (im->n_stores == 0)
        return error_set(err, -ENOENT, "image '%s': the agent has no image store "
                         "(--image_store_dir or --docker_registry)", name);

    char *dir = xasprintf("%s/%s", im->containers, e->container_id);
    char *staging = xasprintf("%s/%s", im->staging, e->container_id);
    char *request = xasprintf("%s/request.json", dir);
    char out[PATH_MAX], errp[PATH_MAX];
    json_t *req = json_pack("{s:s, s:s, s:s, s:s, s:[]}", "image", name, "layers", im->layers,
                            "images", im->cache, "staging", staging, "stores");
    for (size_t i = 0; i < im->n_stores; i++)
        json_array_append_new(json_object_get(req, "stores"), json_string(im->stores[i]));
    if ((rc = fs_mkdirs(dir)) != 0) {
        rc = error_set(err, rc, "cannot create '%s': %s", dir, strerror(-rc));
        goto out;
    }
    if (json_dump_file(req, request, 0) != 0) {
        rc = error_set(err, -EIO, "cannot write '%s'", request);
        goto out;
    }
    snprintf(out, sizeof(out), "%s/stdout", e->directory);
    snprintf(errp, sizeof(errp), "%s/stderr", e->directory);
    pid_t pid = fork_child();
    if (pid == 0)
        provisioner_child(dir, out, errp);
    if (pid < 0) {
        rc = error_set(err, -errno, "cannot start the provisioner: %s", strerror(errno));
        goto out;
    }
    p = XNEW(struct provision);
    snprintf(p->container_id, sizeof(p->container_id), "%s", e->container_id);
    p->framework_id = xstrdup(e->framework->id);
    p->executor_id = xstrdup(e->id);
    p->image = xstrdup(name);
    p->pid = pid;
    HASH_ADD_STR(im->by_container, container_id, p);
    HASH_ADD(hh_pid, im->by_pid, pid, sizeof(pid_t), p);
    log_info("provisioning image '%s' for executor %s of framework %s (container %s) with "
             "pid %d", name, e->id, e->framework->id, e->container_id, (int)pid);
    rc = 1;
out:
    if (rc < 0)
        store_remove_tree(dir);
    json_decref(req);
    free(request);
    free(staging);
    free(dir);
    return rc;
}

/* ---- the bundle ---- */

struct strv {
    char **v;
    size_t n;
};

static void strv_push(struct strv *s, const char *value)
{
    s->v = xrealloc(s->v, (s->n + 2) * sizeof(char *));
    s->v[s->n++] = xstrdup(value);
    s->v[s->n] = NULL;
}

/* Sets "NAME=value" (entry), replacing an earlier NAME. */
static void env_put(struct strv *s, const char *entry)
{
    size_t len = strcspn(entry, "=");
    if (entry[len] != '=' || len == 0)
        return;
    for (size_t i = 0; i < s->n; i++) {
        if (strncmp(s->v[i], entry, len + 1) == 0) {
            free(s->v[i]);
            s->v[i] = xstrdup(entry);
            return;
        }
    }
    strv_push(s, entry);
}

static void strv_free(struct strv *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
}

static void push_json_strings(struct strv *s, json_t *a, size_t from)
{
    for (size_t i = from; i < json_array_size(a); i++)
        if (json_is_string(json_array_get(a, i)))
            strv_push(s, json_string_value(json_array_get(a, i)));
}

/* Mesos's docker runtime isolator: a shell command runs as /bin/sh -c; a
 * command with a value runs it; otherwise the image's Entrypoint and Cmd,
 * the task's arguments taking Cmd's place. */
static int task_args(const Tepui__CommandInfo *cmd, json_t *config, const char *image,
                     struct strv *args, struct error *err)
{
    int shell = cmd != NULL && (!cmd->has_shell || cmd->shell);
    if (shell && cmd->value != NULL) {
        strv_push(args, "/bin/sh");
        strv_push(args, "-c");
        strv_push(args, cmd->value);
        return 0;
    }
    if (cmd != NULL && cmd->value != NULL && cmd->value[0] != '\0') {
        strv_push(args, cmd->value);
        for (size_t i = 1; i < cmd->n_arguments; i++)
            strv_push(args, cmd->arguments[i]);
        return 0;
    }
    json_t *entrypoint = json_object_get(config, "Entrypoint");
    json_t *cmdv = json_object_get(config, "Cmd");
    size_t n_args = cmd != NULL ? cmd->n_arguments : 0;
    if (json_array_size(entrypoint) > 0) {
        push_json_strings(args, entrypoint, 0);
        if (n_args == 0)
            push_json_strings(args, cmdv, 0);
    } else if (json_array_size(cmdv) > 0) {
        push_json_strings(args, cmdv, 0);
        if (n_args > 0) {
            while (args->n > 1)
                free(args->v[--args->n]);
            args->v[args->n] = NULL;
        }
    }
    if (args->n == 0)
        return error_set(err, -EINVAL, "no command to run: the task's command has no value and "
                         "image '%s' has neither Entrypoint nor Cmd", image);
    for (size_t i = 0; i < n_args; i++)
        strv_push(args, cmd->arguments[i]);
    return 0;
}

static json_t *load_image_json(const char *dir, struct error *err)
{
    char path[PATH_MAX];
    json_error_t je;
    snprintf(path, sizeof(path), "%s/image.json", dir);
    json_t *j = json_load_file(path, 0, &je);
    if (j == NULL)
        error_set(err, -EIO, "cannot read '%s': %s", path, je.text);
    return j;
}

int images_bundle(struct agent *a, struct agent_executor *e, char *const *env, char **bundle,
                  struct error *err)
{
    struct images *im = a->images;
    struct provision *p = provision_find(im, e->container_id);
    *bundle = NULL;
    if (p == NULL || !p->ready)
        return 0;
    struct strv args = {0}, cenv = {0};
    gid_t groups[64];
    int n_groups = 0, rc = 0;
    uid_t uid = 0;
    gid_t gid = 0;
    char *dir = xasprintf("%s/%s", im->containers, e->container_id);
    json_t *image = load_image_json(dir, err);
    if (image == NULL) {
        rc = -EIO;
        goto out;
    }
    json_t *config = json_object_get(image, "config");
    const Tepui__TaskInfo *task = e->tasks != NULL ? e->tasks->info : NULL;
    const Tepui__CommandInfo *cmd = task != NULL ? task->command : NULL;
    if ((rc = task_args(cmd, config, p->image, &args, err)) != 0)
        goto out;

    /* The executor's environment, then the image's, then the task's own
     * (Mesos: the task's variables override the image's). */
    for (size_t i = 0; env != NULL && env[i] != NULL; i++)
        if (strncmp(env[i], "TEPUI_", 6) != 0)
            env_put(&cenv, env[i]);
    json_t *ienv = json_object_get(config, "Env");
    for (size_t i = 0; i < json_array_size(ienv); i++)
        if (json_is_string(json_array_get(ienv, i)))
            env_put(&cenv, json_string_value(json_array_get(ienv, i)));
    if (cmd != NULL && cmd->environment != NULL) {
        for (size_t i = 0; i < cmd->environment->n_variables; i++) {
            const Tepui__Environment__Variable *v = cmd->environment->variables[i];
            if (v->value == NULL)
                continue;
            char *entry = xasprintf("%s=%s", v->name, v->value);
            env_put(&cenv, entry);
            free(entry);
        }
    }
    env_put(&cenv, "MESOS_SANDBOX=" BUNDLE_SANDBOX);

    const char *user = containers_switch_user(a, e);
    if (user != NULL) {
        struct passwd *pw = getpwnam(user);
        if (pw == NULL) {
            rc = error_set(err, -ENOENT, "user '%s' does not exist on this agent", user);
            goto out;
        }
        uid = pw->pw_uid;
        gid = pw->pw_gid;
        n_groups = (int)(sizeof(groups) / sizeof(groups[0]));
        if (getgrouplist(user, gid, groups, &n_groups) < 0)
            n_groups = 0;
    }
    const char *wd = json_string_value(json_object_get(config, "WorkingDir"));
    const Tepui__ContainerInfo *ci = e->info->container;
    struct bundle_spec spec = {
        .dir = dir,
        .args = args.v,
        .env = cenv.v,
        .cwd = wd != NULL && wd[0] == '/' ? wd : BUNDLE_SANDBOX,
        .uid = uid,
        .gid = gid,
        .gids = groups,
        .n_gids = (size_t)n_groups,
        .sandbox = e->directory,
        .hostname = ci != NULL ? ci->hostname : NULL,
    };
    if ((rc = bundle_write(&spec, err)) != 0)
        goto out;
    *bundle = dir;
    dir = NULL;
    log_info("container %s of executor %s of framework %s runs '%s' from image '%s' with crun",
             e->container_id, e->id, e->framework->id, args.v[0], p->image);
out:
    json_decref(image);
    strv_free(&args);
    strv_free(&cenv);
    free(dir);
    return rc;
}

/* ---- ends ---- */

void images_kill(struct agent *a, struct agent_executor *e)
{
    struct provision *p = a->images ? provision_find(a->images, e->container_id) : NULL;
    if (p == NULL || p->pid <= 0 || p->cancelled)
        return;
    p->cancelled = 1;
    log_info("killing the provisioner of container %s (pid %d)", p->container_id, (int)p->pid);
    if (kill(-p->pid, SIGKILL) != 0)
        kill(p->pid, SIGKILL);
}

static void launch_failed(struct agent *a, struct agent_executor *e, const char *why,
                          int wait_status)
{
    e->reason_set = 1;
    e->reason = TEPUI__TASK_STATUS__REASON__REASON_CONTAINER_LAUNCH_FAILED;
    free(e->reason_message);
    e->reason_message = xasprintf("Failed to launch container: %s", why);
    log_warn("executor %s of framework %s: %s", e->id, e->framework->id, e->reason_message);
    images_destroy(a, e->container_id);
    tasks_executor_terminated(a, e, wait_status);
}

void images_reaped(struct agent *a, pid_t pid, int wait_status)
{
    struct images *im = a->images;
    struct provision *p = NULL;
    struct removal *r = NULL;
    if (im == NULL)
        return;
    HASH_FIND(hh, im->removals, &pid, sizeof(pid_t), r);
    if (r != NULL) {
        HASH_DEL(im->removals, r);
        free(r);
        return;
    }
    HASH_FIND(hh_pid, im->by_pid, &pid, sizeof(pid_t), p);
    if (p == NULL)
        return;
    HASH_DELETE(hh_pid, im->by_pid, p);
    p->pid = 0;
    char id[40];
    snprintf(id, sizeof(id), "%s", p->container_id);
    struct agent_executor *e = agent_find_executor(a, p->framework_id, p->executor_id);
    if (e != NULL && strcmp(e->container_id, id) != 0)
        e = NULL;
    if (e == NULL || p->cancelled || e->state != EXECUTOR_LAUNCHING) {
        log_info("stopped provisioning container %s", id);
        images_destroy(a, id);
        if (e != NULL && e->state != EXECUTOR_TERMINATED)
            tasks_executor_terminated(a, e, wait_status);
        return;
    }
    if (!WIFEXITED(wait_status) || WEXITSTATUS(wait_status) != 0) {
        char path[PATH_MAX], msg[700] = "";
        snprintf(path, sizeof(path), "%s/%s/error", im->containers, id);
        FILE *f = fopen(path, "re");
        size_t n = f ? fread(msg, 1, sizeof(msg) - 1, f) : 0;
        msg[n] = '\0';
        if (f != NULL)
            fclose(f);
        if (n == 0)
            snprintf(msg, sizeof(msg), "the provisioner ended with status %d", wait_status);
        char *why = xasprintf("Failed to provision image '%s': %s", p->image, msg);
        launch_failed(a, e, why, wait_status);
        free(why);
        return;
    }
    p->ready = 1;
    log_info("provisioned container %s of executor %s of framework %s", id, e->id,
             e->framework->id);
    struct error err = {0};
    if (containers_launch(a, e, &err) != 0)
        launch_failed(a, e, err.msg, 0);
}

void images_destroy(struct agent *a, const char *container_id)
{
    struct images *im = a->images;
    if (im == NULL)
        return;
    struct provision *p = provision_find(im, container_id);
    if (p != NULL) {
        if (p->pid > 0) {
            kill(-p->pid, SIGKILL);
            kill(p->pid, SIGKILL);
            waitpid(p->pid, NULL, 0);
            HASH_DELETE(hh_pid, im->by_pid, p);
        }
        HASH_DELETE(hh, im->by_container, p);
        provision_free(p);
    }
    char *dir = xasprintf("%s/%s", im->containers, container_id);
    char *state = xasprintf("%s/crun/%s", dir, container_id);
    struct stat st;
    if (lstat(dir, &st) != 0)
        goto out;
    /* crun run removes its state when the container ends; a container left
     * behind (its crun killed with the executor) is killed and deleted. */
    if (im->crun != NULL && stat(state, &st) == 0) {
        char *root = xasprintf("--root=%s/crun", dir);
        char *argv[] = {im->crun, root, "delete", "-f", (char *)container_id, NULL};
        if (run_wait(argv) != 0)
            log_warn("crun could not delete container %s", container_id);
        free(root);
    }
    log_info("removing the rootfs of container %s", container_id);
    remove_later(im, dir);
out:
    free(dir);
    free(state);
}

static int container_known(struct agent *a, const char *id)
{
    struct agent_framework *f, *ftmp;
    HASH_ITER(hh, a->frameworks, f, ftmp) {
        struct agent_executor *e, *etmp;
        HASH_ITER(hh, f->executors, e, etmp) {
            if (strcmp(e->container_id, id) == 0 && (e->pid > 0 || e->recovered))
                return 1;
        }
    }
    return 0;
}

void images_recover(struct agent *a)
{
    struct images *im = a->images;
    if (im == NULL)
        return;
    /* Mounts first (one whose directory is gone too), then directories. */
    FILE *mi = fopen("/proc/self/mountinfo", "re");
    char line[4096];
    size_t plen = strlen(im->containers);
    while (mi != NULL && fgets(line, sizeof(line), mi) != NULL) {
        char mnt[PATH_MAX];
        if (sscanf(line, "%*s %*s %*s %*s %4095s", mnt) != 1)
            continue;
        if (strncmp(mnt, im->containers, plen) != 0 || mnt[plen] != '/')
            continue;
        char id[64];
        snprintf(id, sizeof(id), "%.*s", (int)strcspn(mnt + plen + 1, "/"), mnt + plen + 1);
        if (!container_known(a, id) && umount2(mnt, MNT_DETACH) == 0)
            log_info("unmounted %s, left by container %s of an earlier run", mnt, id);
    }
    if (mi != NULL)
        fclose(mi);
    DIR *d = opendir(im->containers);
    struct dirent *de;
    while (d != NULL && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' || container_known(a, de->d_name))
            continue;
        log_info("removing the rootfs of container %s, which the agent no longer knows",
                 de->d_name);
        images_destroy(a, de->d_name);
    }
    if (d != NULL)
        closedir(d);
}

/* ---- life ---- */

/* Removes the ".tmp-" entries of a directory. */
static void remove_tmp(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d != NULL && (de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, ".tmp-", 5) != 0)
            continue;
        char *p = xasprintf("%s/%s", dir, de->d_name);
        store_remove_tree(p);
        free(p);
    }
    if (d != NULL)
        closedir(d);
}

/* Unmounts whatever is mounted below dir (deepest first is not needed:
 * lazy unmounts detach whole subtrees). */
static void unmount_below(const char *dir)
{
    FILE *mi = fopen("/proc/self/mountinfo", "re");
    char line[4096];
    size_t n = strlen(dir);
    while (mi != NULL && fgets(line, sizeof(line), mi) != NULL) {
        char mnt[PATH_MAX];
        if (sscanf(line, "%*s %*s %*s %*s %4095s", mnt) == 1 && strncmp(mnt, dir, n) == 0 &&
            mnt[n] == '/' && umount2(mnt, MNT_DETACH) == 0)
            log_info("unmounted %s, left by an agent that died while removing it", mnt);
    }
    if (mi != NULL)
        fclose(mi);
}

/* What killed provisioners and removals leave: half-unpacked layers and
 * half-written cache entries, staging copies of tarballs, directories set
 * aside for removal (a rootfs still mounted among them). */
static void clean_leftovers(struct images *im)
{
    remove_tmp(im->layers);
    remove_tmp(im->cache);
    store_remove_tree(im->staging);
    unmount_below(im->trash);
    store_remove_tree(im->trash);
}

void images_init(struct agent *a)
{
    struct images *im = XNEW(struct images);
    im->crun = find_in_path("crun");
    im->layers = xasprintf("%s/provisioner/layers", a->flags.work_dir);
    im->containers = xasprintf("%s/provisioner/containers", a->flags.work_dir);
    im->trash = xasprintf("%s/provisioner/trash", a->flags.work_dir);
    im->staging = xasprintf("%s/provisioner/staging", a->flags.work_dir);
    im->cache = xasprintf("%s/provisioner/images", a->flags.work_dir);
    const char *dirs[] = {a->flags.image_store_dir, a->flags.docker_registry};
    for (size_t i = 0; i < 2; i++) {
        if (dirs[i] == NULL || dirs[i][0] == '\0')
            continue;
        im->stores = xrealloc(im->stores, (im->n_stores + 1) * sizeof(char *));
        im->stores[im->n_stores++] = xstrdup(dirs[i]);
    }
    if (im->n_stores > 0 && im->crun == NULL)
        log_warn("crun is not installed: tasks from container images will fail");
    /* OpenSSL 3 builds its table of algorithms at the first digest, about
     * 3 ms; done here once, every forked provisioner inherits it. */
    if (im->n_stores > 0) {
        unsigned char md[EVP_MAX_MD_SIZE];
        EVP_Digest("", 0, md, NULL, EVP_sha256(), NULL);
    }
    clean_leftovers(im);
    a->images = im;
}

void images_fini(struct agent *a)
{
    struct images *im = a->images;
    if (im == NULL)
        return;
    struct provision *p, *tmp;
    HASH_ITER(hh, im->by_container, p, tmp) {
        if (p->pid > 0) {
            char id[40];
            snprintf(id, sizeof(id), "%s", p->container_id);
            images_destroy(a, id);
            continue;
        }
        HASH_DELETE(hh, im->by_container, p);
        provision_free(p);
    }
    /* Removals are quick; waiting for them leaves no mount behind. */
    struct removal *r, *rtmp;
    HASH_ITER(hh, im->removals, r, rtmp) {
        while (waitpid(r->pid, NULL, 0) < 0 && errno == EINTR)
            ;
        HASH_DEL(im->removals, r);
        free(r);
    }
    for (size_t i = 0; i < im->n_stores; i++)
        free(im->stores[i]);
    free(im->stores);
    free(im->crun);
    free(im->layers);
    free(im->containers);
    free(im->trash);
    free(im->staging);
    free(im->cache);
    free(im);
    a->images = NULL;
}
