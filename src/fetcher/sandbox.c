/* Paths inside a sandbox: every write goes component by component from the
 * sandbox's directory fd with O_NOFOLLOW, so neither '..' nor a symlink can
 * take it elsewhere; and symlinks can be checked for where they lead. */
#include "fetcher/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/xalloc.h"

/* Linux's own limit on symlinks followed in one resolution. */
#define MAX_SYMLINKS 40

int sandbox_path_is_inside(const char *path)
{
    if (path == NULL || path[0] == '\0' || path[0] == '/')
        return 0;
    const char *p = path;
    while (*p) {
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == 2 && p[0] == '.' && p[1] == '.')
            return 0;
        if (end == NULL)
            break;
        p = end + 1;
    }
    return 1;
}

int sandbox_link_target_is_inside(const char *link_path, const char *target)
{
    if (target == NULL || target[0] == '\0' || target[0] == '/')
        return 0;
    /* The depth of the link's directory below the root... */
    int depth = 0;
    const char *slash = strrchr(link_path, '/');
    if (slash != NULL) {
        const char *p = link_path;
        while (p < slash) {
            const char *end = memchr(p, '/', (size_t)(slash - p));
            size_t len = end ? (size_t)(end - p) : (size_t)(slash - p);
            if (len > 0 && !(len == 1 && p[0] == '.'))
                depth++;
            p = end ? end + 1 : slash;
        }
    }
    /* ...then the target's components from there. */
    const char *p = target;
    for (;;) {
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == 2 && p[0] == '.' && p[1] == '.') {
            if (--depth < 0)
                return 0;
        } else if (len > 0 && !(len == 1 && p[0] == '.')) {
            depth++;
        }
        if (end == NULL)
            break;
        p = end + 1;
    }
    return 1;
}

int sandbox_create_file(int root_fd, const char *rel, struct error *err)
{
    if (!sandbox_path_is_inside(rel))
        return error_set(err, -EINVAL, "'%s' is not a relative path inside the sandbox", rel);
    char *copy = xstrdup(rel);
    int dir = dup(root_fd);
    int fd = -1, rc = 0;
    if (dir < 0) {
        rc = error_set(err, -errno, "dup: %s", strerror(errno));
        goto out;
    }
    char *p = copy;
    for (;;) {
        char *slash = strchr(p, '/');
        if (slash == NULL)
            break;
        *slash = '\0';
        if (p[0] != '\0' && strcmp(p, ".") != 0) {
            if (mkdirat(dir, p, 0755) != 0 && errno != EEXIST) {
                rc = error_set(err, -errno, "cannot create directory '%s' in the sandbox: %s", p,
                               strerror(errno));
                goto out;
            }
            int next = openat(dir, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (next < 0) {
                rc = error_set(err, -errno, "'%s' in the sandbox is %s", p,
                               errno == ELOOP || errno == ENOTDIR ? "a symlink or not a directory"
                                                                  : strerror(errno));
                goto out;
            }
            close(dir);
            dir = next;
        }
        p = slash + 1;
    }
    if (p[0] == '\0' || strcmp(p, ".") == 0) {
        rc = error_set(err, -EINVAL, "'%s' names a directory, not a file", rel);
        goto out;
    }
    fd = openat(dir, p, O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0)
        rc = error_set(err, -errno, "cannot create '%s' in the sandbox: %s", rel,
                       errno == ELOOP ? "it is a symlink" : strerror(errno));
out:
    if (dir >= 0)
        close(dir);
    free(copy);
    return rc < 0 ? rc : fd;
}

char *sandbox_symlink_on_path(int root_fd, const char *rel)
{
    struct buf prefix = BUF_INIT;
    const char *p = rel;
    char *found = NULL;
    for (;;) {
        const char *slash = strchr(p, '/');
        if (slash == NULL)
            break;
        size_t len = (size_t)(slash - p);
        if (len > 0 && !(len == 1 && p[0] == '.')) {
            if (prefix.len > 0)
                buf_append_char(&prefix, '/');
            buf_append(&prefix, p, len);
            struct stat st;
            if (fstatat(root_fd, buf_cstr(&prefix), &st, AT_SYMLINK_NOFOLLOW) != 0)
                break;   /* missing: what follows is created, not traversed */
            if (S_ISLNK(st.st_mode)) {
                found = xstrdup(buf_cstr(&prefix));
                break;
            }
        }
        p = slash + 1;
    }
    buf_free(&prefix);
    return found;
}

/* ---- resolution ---- */

struct components {
    char **v;
    size_t n, cap;
};

static void components_push(struct components *c, const char *s, size_t len)
{
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 16;
        c->v = xrealloc(c->v, c->cap * sizeof(char *));
    }
    c->v[c->n++] = xstrndup(s, len);
}

static void components_free(struct components *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->v[i]);
    free(c->v);
}

/* Puts the components of path in front of the pending ones (which are kept
 * in reverse order, the next one last). */
static void pending_prepend(struct components *pending, const char *path)
{
    struct components fresh = {0};
    const char *p = path;
    for (;;) {
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > 0)
            components_push(&fresh, p, len);
        if (end == NULL)
            break;
        p = end + 1;
    }
    for (size_t i = fresh.n; i > 0; i--) {
        components_push(pending, fresh.v[i - 1], strlen(fresh.v[i - 1]));
    }
    components_free(&fresh);
}

int sandbox_resolution_escapes(int root_fd, const char *rel)
{
    struct components pending = {0}, resolved = {0};
    struct buf path = BUF_INIT;
    int escapes = 0, links = 0;
    if (rel[0] == '/') {
        escapes = 1;
        goto out;
    }
    pending_prepend(&pending, rel);
    while (pending.n > 0) {
        char *c = pending.v[--pending.n];
        if (strcmp(c, ".") == 0) {
            free(c);
            continue;
        }
        if (strcmp(c, "..") == 0) {
            free(c);
            if (resolved.n == 0) {
                escapes = 1;
                goto out;
            }
            free(resolved.v[--resolved.n]);
            continue;
        }
        /* Every resolved component is a real directory, so this path
         * crosses no symlink but its last component. */
        buf_reset(&path);
        for (size_t i = 0; i < resolved.n; i++) {
            buf_append_str(&path, resolved.v[i]);
            buf_append_char(&path, '/');
        }
        buf_append_str(&path, c);
        struct stat st;
        if (fstatat(root_fd, buf_cstr(&path), &st, AT_SYMLINK_NOFOLLOW) != 0) {
            free(c);
            goto out;
        }
        if (S_ISLNK(st.st_mode)) {
            free(c);
            if (++links > MAX_SYMLINKS)
                goto out;   /* ELOOP: leads nowhere */
            char target[PATH_MAX];
            ssize_t n = readlinkat(root_fd, buf_cstr(&path), target, sizeof(target) - 1);
            if (n < 0)
                goto out;
            target[n] = '\0';
            if (target[0] == '/') {
                escapes = 1;
                goto out;
            }
            pending_prepend(&pending, target);
            continue;
        }
        if (!S_ISDIR(st.st_mode) && pending.n > 0) {
            free(c);
            goto out;   /* ENOTDIR */
        }
        components_push(&resolved, c, strlen(c));
        free(c);
    }
out:
    components_free(&pending);
    components_free(&resolved);
    buf_free(&path);
    return escapes;
}
