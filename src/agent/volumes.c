/* Persistent volumes on the agent: their directories, following the total
 * the master sends, and making them appear inside sandboxes. What may be
 * created or destroyed is the master's decision (master/operations.c);
 * this module trusts it and only keeps the disk in step. */
#include "agent/volumes.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/checkpoint.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "wire/pb.h"

#define LOG_COMPONENT "agent"

char *volumes_path(const struct agent *a, const char *role, const char *id)
{
    char *r = xstrdup(role);
    for (char *c = r; *c != '\0'; c++)
        if (*c == '/')
            *c = ' ';
    char *path = xasprintf("%s/volumes/roles/%s/%s", a->flags.work_dir, r, id);
    free(r);
    return path;
}

/* A persistent volume's role, id and container path, borrowed from p. */
struct volume_ref {
    const char *role;
    const char *id;
    const char *container_path;
};

static int volume_of(const Tepui__Resource *p, struct volume_ref *v)
{
    if (p == NULL || p->disk == NULL || p->disk->persistence == NULL ||
        p->disk->persistence->id == NULL)
        return 0;
    if (p->n_reservations > 0)
        v->role = p->reservations[p->n_reservations - 1]->role;
    else if (p->role != NULL && strcmp(p->role, "*") != 0)
        v->role = p->role;
    else
        return 0;
    v->id = p->disk->persistence->id;
    v->container_path = p->disk->volume ? p->disk->volume->container_path : NULL;
    return 1;
}

static int has_volume(Tepui__Resource *const *v, size_t n, const struct volume_ref *want)
{
    struct volume_ref x;
    for (size_t i = 0; i < n; i++)
        if (volume_of(v[i], &x) && strcmp(x.role, want->role) == 0 &&
            strcmp(x.id, want->id) == 0)
            return 1;
    return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    if (remove(path) != 0 && errno != ENOENT)
        log_warn("cannot remove %s: %s", path, strerror(errno));
    return 0;
}

/* rm -rf that stays on this filesystem and follows no link. */
static void remove_tree(const char *path)
{
    nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

/* Makes the directories of the volumes in now that were not in was, and
 * removes those of the volumes that are gone. */
static void sync_dirs(struct agent *a, Tepui__Resource *const *was, size_t n_was,
                      Tepui__Resource *const *now, size_t n_now)
{
    struct volume_ref v;
    for (size_t i = 0; i < n_now; i++) {
        if (!volume_of(now[i], &v))
            continue;
        char *path = volumes_path(a, v.role, v.id);
        struct stat st;
        if (stat(path, &st) != 0) {
            int rc = fs_mkdirs(path);
            if (rc != 0)
                log_error("cannot create persistent volume %s at %s: %s", v.id, path,
                          strerror(-rc));
            else
                log_info("created persistent volume %s of role %s at %s", v.id, v.role, path);
        }
        free(path);
    }
    for (size_t i = 0; i < n_was; i++) {
        if (!volume_of(was[i], &v) || has_volume(now, n_now, &v))
            continue;
        char *path = volumes_path(a, v.role, v.id);
        log_info("destroying persistent volume %s of role %s at %s", v.id, v.role, path);
        remove_tree(path);
        free(path);
    }
}

void volumes_update_total(struct agent *a, const Tepui__Internal__CheckpointedResources *cr)
{
    struct error err = {0};
    struct resources now = RESOURCES_INIT;
    if (resources_from_proto(cr->resources, cr->n_resources, &now, &err) != 0) {
        log_error("ignoring resources from the master that do not validate: %s", err.msg);
        resources_free(&now);
        return;
    }
    size_t n_was = 0;
    Tepui__Resource **was = resources_to_proto(&a->total, &n_was);
    sync_dirs(a, was, n_was, cr->resources, cr->n_resources);
    resources_proto_free(was, n_was);
    resources_free(&a->total);
    a->total = now;
    struct buf text = BUF_INIT;
    resources_format(&a->total, &text);
    log_info("agent %s: total resources now %s", a->id ? a->id : "?", buf_cstr(&text));
    buf_free(&text);
    /* Durable before anything else happens on the agent, as Mesos
     * checkpoints resources before it applies them. */
    ckpt_agent(a);
    ckpt_sync(a);
}

void volumes_recover(struct agent *a, const Tepui__AgentInfo *old_info,
                     const Tepui__Internal__CheckpointedResources *saved)
{
    if (saved == NULL)
        return;
    struct resources total = RESOURCES_INIT, old_static = RESOURCES_INIT, added = RESOURCES_INIT;
    struct error err = {0};
    if (resources_from_proto(saved->resources, saved->n_resources, &total, &err) != 0 ||
        resources_from_proto(old_info->resources, old_info->n_resources, &old_static, &err) != 0) {
        log_error("cannot recover the checkpointed resources: %s; using --resources", err.msg);
        goto out;
    }
    /* What --resources gained since (--reconfiguration_policy=additive)
     * joins the checkpointed total. */
    resources_copy(&added, &a->total);
    resources_subtract(&added, &old_static);
    resources_add(&total, &added);
    sync_dirs(a, NULL, 0, saved->resources, saved->n_resources);
    resources_free(&a->total);
    a->total = total;
    resources_init(&total);
out:
    resources_free(&total);
    resources_free(&old_static);
    resources_free(&added);
}

/* ---- inside sandboxes ---- */

/* A volume made visible in a container: the executor remembers each one so
 * that a task handed over later does not mount it twice, and a volume no
 * live task names any more goes (Mesos's containerizer update()). */
struct volume_mount {
    char *role;
    char *id;
    char *target;
    char *task_id;              /* in that task's sandbox; NULL: the executor's */
    struct volume_mount *next;
};

static void volume_mount_free(struct volume_mount *vm)
{
    free(vm->role);
    free(vm->id);
    free(vm->target);
    free(vm->task_id);
    free(vm);
}

/* A default executor runs its tasks as nested containers, each in its own
 * sandbox (tasks/<task id>): Mesos mounts a task's volumes there. */
static int per_task_sandbox(const struct agent_executor *e)
{
    return e->info->has_type && e->info->type == TEPUI__EXECUTOR_INFO__TYPE__DEFAULT;
}

static char *target_of(const struct agent_executor *e, const char *task_id,
                       const struct volume_ref *v)
{
    if (task_id != NULL)
        return xasprintf("%s/tasks/%s/%s", e->directory, task_id, v->container_path);
    return xasprintf("%s/%s", e->directory, v->container_path);
}

static struct volume_mount *find_mount(const struct agent_executor *e, const char *target)
{
    for (struct volume_mount *vm = e->volume_mounts; vm != NULL; vm = vm->next)
        if (strcmp(vm->target, target) == 0)
            return vm;
    return NULL;
}

/* Who the container's processes run as, when the agent switches users:
 * the task's command user, else the executor's, else the framework's. */
static const char *switched_user(const struct agent *a, const struct agent_executor *e,
                                 const Tepui__TaskInfo *task)
{
    const char *user = NULL;
    if (task != NULL && task->command != NULL && task->command->user != NULL)
        user = task->command->user;
    else if (e->info->command != NULL && e->info->command->user != NULL)
        user = e->info->command->user;
    else
        user = e->framework->info->user;
    if (!a->flags.switch_user || geteuid() != 0 || user == NULL || user[0] == '\0' ||
        strcmp(user, "root") == 0)
        return NULL;
    return user;
}

static int dir_is_empty(const char *path)
{
    DIR *d = opendir(path);
    if (d == NULL)
        return 0;
    int empty = 1;
    struct dirent *de;
    while (empty && (de = readdir(d)) != NULL)
        empty = strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0;
    closedir(d);
    return empty;
}

/* As Mesos: a volume nothing was written to yet belongs to the user the
 * container runs as, so that a task that is not root can write into it. */
static int own_new_volume(const char *source, const char *user, const struct volume_ref *v,
                          struct error *err)
{
    if (user == NULL || !dir_is_empty(source))
        return 0;
    struct passwd *pw = getpwnam(user);
    if (pw == NULL)
        return error_set(err, -ENOENT, "cannot give persistent volume %s to user '%s': "
                         "no such user", v->id, user);
    if (chown(source, pw->pw_uid, pw->pw_gid) != 0)
        return error_set(err, -errno, "cannot give persistent volume %s at %s to user '%s': %s",
                         v->id, source, user, strerror(errno));
    return 0;
}

static int mount_one(struct agent *a, struct agent_executor *e, const Tepui__TaskInfo *task,
                     const struct volume_ref *v, struct error *err)
{
    const char *task_id = task != NULL && per_task_sandbox(e) ? task->task_id->value : NULL;
    char *source = volumes_path(a, v->role, v->id);
    char *target = target_of(e, task_id, v);
    int rc = 0;
    if (find_mount(e, target) != NULL)
        goto out;
    if ((rc = fs_mkdirs(source)) != 0) {
        error_set(err, rc, "cannot create persistent volume %s at %s: %s", v->id, source,
                  strerror(-rc));
        goto out;
    }
    if ((rc = own_new_volume(source, switched_user(a, e, task), v, err)) != 0)
        goto out;
    if (geteuid() == 0) {
        if ((rc = fs_mkdirs(target)) != 0) {
            error_set(err, rc, "cannot create mount point %s: %s", target, strerror(-rc));
            goto out;
        }
        /* A running container with its own mount namespace sees this
         * through propagation from the host's (Mesos does the same). */
        if (mount(source, target, NULL, MS_BIND | MS_REC, NULL) != 0) {
            rc = error_set(err, -errno, "cannot mount persistent volume %s at %s: %s", v->id,
                           target, strerror(errno));
            goto out;
        }
    } else {
        /* Without the right to mount: a link at the same place. */
        char *slash = strrchr(target, '/');
        *slash = '\0';
        rc = fs_mkdirs(target);
        *slash = '/';
        if (rc == 0 && symlink(source, target) != 0 && errno != EEXIST)
            rc = -errno;
        if (rc != 0) {
            error_set(err, rc, "cannot link persistent volume %s at %s: %s", v->id, target,
                      strerror(-rc));
            goto out;
        }
    }
    struct volume_mount *vm = XNEW(struct volume_mount);
    vm->role = xstrdup(v->role);
    vm->id = xstrdup(v->id);
    vm->target = target;
    vm->task_id = task_id ? xstrdup(task_id) : NULL;
    vm->next = e->volume_mounts;
    e->volume_mounts = vm;
    target = NULL;
    log_info("executor %s of framework %s: persistent volume %s at %s%s%s", e->id,
             e->framework->id, v->id, vm->target, task_id ? " for task " : "",
             task_id ? task_id : "");
out:
    free(source);
    free(target);
    return rc;
}

static int mount_all(struct agent *a, struct agent_executor *e, const Tepui__TaskInfo *task,
                     Tepui__Resource *const *res, size_t n, struct error *err)
{
    struct volume_ref ref;
    for (size_t i = 0; i < n; i++)
        if (volume_of(res[i], &ref) && ref.container_path != NULL) {
            int rc = mount_one(a, e, task, &ref, err);
            if (rc != 0)
                return rc;
        }
    return 0;
}

static void unmount_target(const char *target, const char *id)
{
    if (geteuid() == 0) {
        if (umount2(target, MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT)
            log_warn("cannot unmount persistent volume %s from %s: %s", id, target,
                     strerror(errno));
    } else {
        struct stat st;
        if (lstat(target, &st) == 0 && S_ISLNK(st.st_mode))
            unlink(target);
    }
}

int volumes_mount(struct agent *a, struct agent_executor *e, struct error *err)
{
    if (e->directory == NULL)
        return 0;
    int rc = mount_all(a, e, NULL, e->info->resources, e->info->n_resources, err);
    struct agent_task *t, *tmp;
    HASH_ITER(hh, e->tasks, t, tmp) {
        if (rc == 0)
            rc = mount_all(a, e, t->info, t->info->resources, t->info->n_resources, err);
    }
    if (rc != 0)
        volumes_unmount(a, e);
    return rc;
}

int volumes_mount_task(struct agent *a, struct agent_executor *e, const Tepui__TaskInfo *task,
                       struct error *err)
{
    if (e->directory == NULL)
        return 0;
    return mount_all(a, e, task, task->resources, task->n_resources, err);
}

static int names_volume(Tepui__Resource *const *res, size_t n, const struct volume_mount *vm)
{
    struct volume_ref want = {.role = vm->role, .id = vm->id};
    return has_volume(res, n, &want);
}

/* Still named by the executor, or by a live task it was mounted for. */
static int mount_in_use(const struct agent_executor *e, const struct volume_mount *vm)
{
    if (vm->task_id == NULL && names_volume(e->info->resources, e->info->n_resources, vm))
        return 1;
    const struct agent_task *t, *tmp;
    HASH_ITER(hh, e->tasks, t, tmp) {
        if (task_state_is_terminal(t->state))
            continue;
        if (vm->task_id != NULL && strcmp(vm->task_id, t->id) != 0)
            continue;
        if (names_volume(t->info->resources, t->info->n_resources, vm))
            return 1;
    }
    return 0;
}

void volumes_release(struct agent *a, struct agent_executor *e)
{
    (void)a;
    struct volume_mount **p = &e->volume_mounts;
    while (*p != NULL) {
        struct volume_mount *vm = *p;
        if (mount_in_use(e, vm)) {
            p = &vm->next;
            continue;
        }
        log_info("executor %s of framework %s: persistent volume %s no longer used at %s",
                 e->id, e->framework->id, vm->id, vm->target);
        unmount_target(vm->target, vm->id);
        *p = vm->next;
        volume_mount_free(vm);
    }
}

/* The volumes at the executor's sandbox that its tasks named, for mounts a
 * previous run of the agent made (a recovered executor has no record). */
static void unmount_named(struct agent_executor *e, const char *task_id,
                          Tepui__Resource *const *res, size_t n)
{
    struct volume_ref ref;
    for (size_t i = 0; i < n; i++)
        if (volume_of(res[i], &ref) && ref.container_path != NULL) {
            char *target = target_of(e, task_id, &ref);
            if (geteuid() == 0)
                unmount_target(target, ref.id);
            free(target);
        }
}

void volumes_unmount(struct agent *a, struct agent_executor *e)
{
    (void)a;
    while (e->volume_mounts != NULL) {
        struct volume_mount *vm = e->volume_mounts;
        e->volume_mounts = vm->next;
        if (geteuid() == 0)
            unmount_target(vm->target, vm->id);
        volume_mount_free(vm);
    }
    if (e->directory == NULL)
        return;
    unmount_named(e, NULL, e->info->resources, e->info->n_resources);
    struct agent_task *t, *tmp;
    HASH_ITER(hh, e->tasks, t, tmp) {
        unmount_named(e, per_task_sandbox(e) ? t->id : NULL, t->info->resources,
                      t->info->n_resources);
    }
}
