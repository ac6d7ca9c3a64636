/* Layer unpacking (see layers.h). libarchive writes each entry relative to
 * the layer's directory (the child's working directory) with its secure
 * flags (no '..', no absolute path, no write through a symlink); every
 * entry is checked here first so that a refusal names it: hard links must
 * name something inside the layer, and a relative symlink must not climb
 * above the layer's root. Absolute symlinks are kept: they are resolved
 * inside the container's root, as in any image ("/bin/sh" -> "/bin/busybox").
 * Device nodes are skipped (the container's /dev is its own). */
#include "agent/images/layers.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "common/archive_copy.h"
#include "common/xalloc.h"

#define READ_BLOCK (64 * 1024)
#define WHITEOUT ".wh."
#define OPAQUE ".wh..wh..opq"

/* sha256 of the layer's uncompressed tar (a docker diff_id). */
static int diff_id_of(const char *path, char *out, struct error *err)
{
    struct archive *in = archive_read_new();
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    struct archive_entry *entry;
    int rc = 0;
    archive_read_support_filter_all(in);
    archive_read_support_format_raw(in);
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    if (archive_read_open_filename(in, path, READ_BLOCK) != ARCHIVE_OK ||
        archive_read_next_header(in, &entry) != ARCHIVE_OK) {
        rc = error_set(err, -EINVAL, "%s", archive_error_string(in));
        goto out;
    }
    char *buf = xmalloc(READ_BLOCK);
    la_ssize_t n;
    while ((n = archive_read_data(in, buf, READ_BLOCK)) > 0)
        EVP_DigestUpdate(ctx, buf, (size_t)n);
    free(buf);
    if (n < 0) {
        rc = error_set(err, -EINVAL, "%s", archive_error_string(in));
        goto out;
    }
    unsigned char md[32];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx, md, &len);
    for (unsigned int i = 0; i < len; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
out:
    EVP_MD_CTX_free(ctx);
    archive_read_free(in);
    return rc;
}

static int path_inside(const char *p)
{
    if (p == NULL || p[0] == '\0' || p[0] == '/')
        return 0;
    for (const char *s = p; *s;) {
        size_t n = strcspn(s, "/");
        if (n == 2 && s[0] == '.' && s[1] == '.')
            return 0;
        s += n;
        while (*s == '/')
            s++;
    }
    return 1;
}

/* Whether a relative symlink target, read from a link at link_path, climbs
 * above the layer's root. */
static int link_escapes(const char *link_path, const char *target)
{
    int depth = 0;
    for (const char *s = link_path; *s;) {
        size_t n = strcspn(s, "/");
        if (s[n] == '\0')
            break;   /* the link's own name */
        if (!(n == 1 && s[0] == '.'))
            depth++;
        s += n + 1;
        while (*s == '/')
            s++;
    }
    for (const char *s = target; *s;) {
        size_t n = strcspn(s, "/");
        if (n == 2 && s[0] == '.' && s[1] == '.') {
            if (--depth < 0)
                return 1;
        } else if (n > 0 && !(n == 1 && s[0] == '.')) {
            depth++;
        }
        s += n;
        while (*s == '/')
            s++;
    }
    return 0;
}

/* The first existing parent of rel (relative to the working directory)
 * that is a symlink, or NULL. */
static char *symlink_on_path(const char *rel)
{
    char *copy = xstrdup(rel);
    for (char *s = strchr(copy, '/'); s != NULL; s = strchr(s + 1, '/')) {
        *s = '\0';
        struct stat st;
        if (lstat(copy, &st) != 0)
            break;
        if (S_ISLNK(st.st_mode))
            return copy;
        *s = '/';
    }
    free(copy);
    return NULL;
}

/* mkdir -p of rel's parents (none is a symlink: checked before). */
static int make_parents(const char *rel)
{
    char *copy = xstrdup(rel);
    int rc = 0;
    for (char *s = strchr(copy, '/'); s != NULL && rc == 0; s = strchr(s + 1, '/')) {
        *s = '\0';
        if (mkdir(copy, 0755) != 0 && errno != EEXIST)
            rc = -errno;
        *s = '/';
    }
    free(copy);
    return rc;
}

static int remove_path(const char *rel)
{
    struct stat st;
    if (lstat(rel, &st) != 0)
        return 0;
    if (!S_ISDIR(st.st_mode))
        return unlink(rel) == 0 ? 0 : -errno;
    return store_remove_tree(rel);
}

/* .wh.<name> hides <name> of the layers below; .wh..wh..opq hides all of
 * its directory's. */
static int whiteout(const char *path, const char *base, struct error *err)
{
    size_t dir_len = (size_t)(base - path);
    char *dir = dir_len ? xstrndup(path, dir_len - 1) : xstrdup(".");
    int rc = 0;
    if (dir_len && (rc = make_parents(path)) != 0) {
        rc = error_set(err, rc, "cannot create the parents of '%s': %s", path, strerror(-rc));
        goto out;
    }
    if (strcmp(base, OPAQUE) == 0) {
        if (setxattr(dir, "trusted.overlay.opaque", "y", 1, 0) != 0)
            rc = error_set(err, -errno, "cannot mark '%s' opaque: %s", dir, strerror(errno));
        goto out;
    }
    const char *name = base + strlen(WHITEOUT);
    if (name[0] == '\0' || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
        rc = error_set(err, -EINVAL, "layer entry '%s' is not a valid whiteout", path);
        goto out;
    }
    char target[PATH_MAX];
    snprintf(target, sizeof(target), "%s/%s", dir, name);
    remove_path(target);
    if (mknod(target, S_IFCHR | 0, makedev(0, 0)) != 0)
        rc = error_set(err, -errno, "cannot create the whiteout of '%s': %s", target,
                       strerror(errno));
out:
    free(dir);
    return rc;
}

static int check_entry(struct archive_entry *entry, const char *path, struct error *err)
{
    if (path[0] == '/')
        return error_set(err, -EPERM, "layer entry '%s' has an absolute path", path);
    if (!path_inside(path))
        return error_set(err, -EPERM, "layer entry '%s' climbs out of the layer with '..'", path);
    const char *hardlink = archive_entry_hardlink(entry);
    if (hardlink != NULL) {
        while (hardlink[0] == '.' && hardlink[1] == '/')
            hardlink += 2;
        if (!path_inside(hardlink))
            return error_set(err, -EPERM, "layer entry '%s' is a hard link to '%s', outside the "
                             "layer", path, hardlink);
        char *through = symlink_on_path(hardlink);
        if (through != NULL) {
            error_set(err, -EPERM, "layer entry '%s' is a hard link through the symlink '%s'",
                      path, through);
            free(through);
            return -EPERM;
        }
        archive_entry_set_hardlink(entry, hardlink);
    } else if (archive_entry_filetype(entry) == AE_IFLNK) {
        const char *target = archive_entry_symlink(entry);
        if (target == NULL || (target[0] != '/' && link_escapes(path, target)))
            return error_set(err, -EPERM, "layer entry '%s' is a symlink to '%s', outside the "
                             "layer", path, target ? target : "");
    }
    char *through = symlink_on_path(path);
    if (through != NULL) {
        error_set(err, -EPERM, "layer entry '%s' would be written through the symlink '%s'", path,
                  through);
        free(through);
        return -EPERM;
    }
    return 0;
}

/* Unpacks into the working directory. */
static int unpack_here(const char *tarball, struct error *err)
{
    struct archive *in = archive_read_new();
    struct archive *out = archive_write_disk_new();
    int rc = 0;
    archive_read_support_filter_all(in);
    archive_read_support_format_tar(in);
    archive_read_support_format_gnutar(in);
    archive_write_disk_set_options(out, ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_OWNER |
                                            ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_XATTR |
                                            ARCHIVE_EXTRACT_SECURE_NODOTDOT |
                                            ARCHIVE_EXTRACT_SECURE_SYMLINKS |
                                            ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS);
    if (archive_read_open_filename(in, tarball, READ_BLOCK) != ARCHIVE_OK) {
        rc = error_set(err, -EINVAL, "%s", archive_error_string(in));
        goto out;
    }
    for (;;) {
        struct archive_entry *entry;
        int r = archive_read_next_header(in, &entry);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN) {
            rc = error_set(err, -EINVAL, "%s", archive_error_string(in));
            goto out;
        }
        const char *path = archive_entry_pathname(entry);
        if (path == NULL || path[0] == '\0') {
            rc = error_set(err, -EINVAL, "a layer entry has no name");
            goto out;
        }
        while (path[0] == '.' && path[1] == '/')
            path += 2;
        size_t len = strlen(path);
        while (len > 0 && path[len - 1] == '/')
            len--;
        if (len == 0 || (len == 1 && path[0] == '.'))
            continue;   /* the layer's root itself */
        char *clean = xstrndup(path, len);
        archive_entry_set_pathname(entry, clean);
        path = archive_entry_pathname(entry);
        free(clean);
        if ((rc = check_entry(entry, path, err)) != 0)
            goto out;
        const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
        if (strncmp(base, WHITEOUT, strlen(WHITEOUT)) == 0) {
            if ((rc = whiteout(path, base, err)) != 0)
                goto out;
            continue;
        }
        mode_t type = archive_entry_filetype(entry);
        if (archive_entry_hardlink(entry) == NULL &&
            (type == AE_IFCHR || type == AE_IFBLK || type == AE_IFSOCK))
            continue;
        r = archive_write_header(out, entry);
        if (r < ARCHIVE_WARN) {
            rc = error_set(err, -EIO, "layer entry '%s': %s", path, archive_error_string(out));
            goto out;
        }
        if (archive_entry_size(entry) > 0 && (rc = archive_copy_data(in, out, err)) != 0)
            goto out;
        if (archive_write_finish_entry(out) < ARCHIVE_WARN) {
            rc = error_set(err, -EIO, "layer entry '%s': %s", path, archive_error_string(out));
            goto out;
        }
    }
    if (archive_write_close(out) < ARCHIVE_WARN)
        rc = error_set(err, -EIO, "%s", archive_error_string(out));
out:
    archive_read_free(in);
    archive_write_free(out);
    return rc;
}

int layers_unpack(const char *layers_dir, const struct image_layer *layer, struct error *err)
{
    char target[PATH_MAX], tmp[PATH_MAX], got[65];
    struct stat st;
    int rc = 0;
    snprintf(target, sizeof(target), "%s/%s", layers_dir, layer->key);
    if (stat(target, &st) == 0 && S_ISDIR(st.st_mode))
        return 0;
    if (layer->path == NULL)   /* its image came from the cache, which names only unpacked layers */
        return error_set(err, -ENOENT, "layer sha256:%s is no longer unpacked in '%s'",
                         layer->key, layers_dir);
    if (layer->check == LAYER_CHECK_BLOB)
        rc = store_sha256_file(layer->path, got, err);
    else if (layer->check == LAYER_CHECK_DIFF_ID)
        rc = diff_id_of(layer->path, got, err);
    if (rc != 0)
        return error_prefix(err, "layer sha256:%s", layer->key);
    if (layer->check != LAYER_CHECK_NONE && strcmp(got, layer->key) != 0)
        return error_set(err, -EINVAL, "digest mismatch for layer sha256:%s: its content has "
                         "sha256:%s", layer->key, got);

    /* Unpacked aside, then renamed: a layer directory is whole or absent. */
    snprintf(tmp, sizeof(tmp), "%s/.tmp-%s-%d", layers_dir, layer->key, (int)getpid());
    store_remove_tree(tmp);
    int cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (mkdir(tmp, 0755) != 0 || chdir(tmp) != 0) {
        rc = error_set(err, -errno, "cannot create '%s': %s", tmp, strerror(errno));
        goto out;
    }
    rc = unpack_here(layer->path, err);
    if (cwd >= 0 && fchdir(cwd) != 0 && rc == 0)
        rc = error_set(err, -errno, "cannot return to the working directory: %s", strerror(errno));
    if (rc != 0) {
        error_prefix(err, "layer sha256:%s", layer->key);
        goto out;
    }
    if (rename(tmp, target) != 0) {
        if (errno != EEXIST && errno != ENOTEMPTY)
            rc = error_set(err, -errno, "cannot move the layer into '%s': %s", target,
                           strerror(errno));
        goto out;   /* another provisioner unpacked it meanwhile */
    }
    rc = 1;
out:
    if (cwd >= 0)
        close(cwd);
    if (rc <= 0)
        store_remove_tree(tmp);
    return rc;
}
