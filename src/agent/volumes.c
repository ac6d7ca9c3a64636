/* Persistent volumes on the agent: their directories, following the total
 * the master sends, and making them appear inside sandboxes. What may be
 * created or destroyed is the master's decision (master/operations.c);
 * this module trusts it and only keeps the disk in step. */
#include "agent/volumes.h"

#include <errno.h>
#include <ftw.h>
#include <limits.h>
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

typedef int (*volume_fn)(struct agent *a, struct agent_executor *e, const struct volume_ref *v,
                         struct error *err);

static int each_volume(Tepui__Resource *const *v, size_t n, struct agent *a,
                       struct agent_executor *e, volume_fn fn, struct error *err)
{
    struct volume_ref ref;
    for (size_t i = 0; i < n; i++)
        if (volume_of(v[i], &ref) && ref.container_path != NULL) {
            int rc = fn(a, e, &ref, err);
            if (rc != 0)
                return rc;
        }
    return 0;
}

/* The volumes of the executor, its tasks and its queued task groups. */
static int each_container_volume(struct agent *a, struct agent_executor *e, volume_fn fn,
                                 struct error *err)
{
    int rc = each_volume(e->info->resources, e->info->n_resources, a, e, fn, err);
    struct agent_task *t, *tmp;
    HASH_ITER(hh, e->tasks, t, tmp) {
        if (rc == 0)
            rc = each_volume(t->info->resources, t->info->n_resources, a, e, fn, err);
    }
    for (size_t g = 0; rc == 0 && g < e->n_queued_groups; g++)
        for (size_t i = 0; rc == 0 && i < e->queued_groups[g]->n_tasks; i++)
            rc = each_volume(e->queued_groups[g]->tasks[i]->resources,
                             e->queued_groups[g]->tasks[i]->n_resources, a, e, fn, err);
    return rc;
}

static int mount_one(struct agent *a, struct agent_executor *e, const struct volume_ref *v,
                     struct error *err)
{
    char *source = volumes_path(a, v->role, v->id);
    char *target = xasprintf("%s/%s", e->directory, v->container_path);
    int rc = fs_mkdirs(source);
    if (rc != 0) {
        error_set(err, rc, "cannot create persistent volume %s at %s: %s", v->id, source,
                  strerror(-rc));
        goto out;
    }
    if (geteuid() == 0) {
        if ((rc = fs_mkdirs(target)) != 0) {
            error_set(err, rc, "cannot create mount point %s: %s", target, strerror(-rc));
            goto out;
        }
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
    log_info("executor %s of framework %s: persistent volume %s at %s", e->id, e->framework->id,
             v->id, target);
out:
    free(source);
    free(target);
    return rc;
}

static int unmount_one(struct agent *a, struct agent_executor *e, const struct volume_ref *v,
                       struct error *err)
{
    (void)a;
    (void)err;
    char *target = xasprintf("%s/%s", e->directory, v->container_path);
    if (umount2(target, MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT)
        log_warn("cannot unmount persistent volume %s from %s: %s", v->id, target,
                 strerror(errno));
    free(target);
    return 0;
}

int volumes_mount(struct agent *a, struct agent_executor *e, struct error *err)
{
    if (e->directory == NULL)
        return 0;
    int rc = each_container_volume(a, e, mount_one, err);
    if (rc != 0)
        volumes_unmount(a, e);
    return rc;
}

void volumes_unmount(struct agent *a, struct agent_executor *e)
{
    if (e->directory == NULL || geteuid() != 0)
        return;
    each_container_volume(a, e, unmount_one, NULL);
}
