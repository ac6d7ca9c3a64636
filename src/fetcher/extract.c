/* Archive extraction with libarchive. libarchive's own secure-extraction
 * flags refuse '..', absolute paths and writes through symlinks; on top of
 * them every entry is checked here first (so the failure names the entry),
 * devices, FIFOs and sockets are refused, setuid/setgid bits dropped, and
 * once everything is out each symlink the archive made is resolved: one
 * that leads out of the sandbox (alone or through another) fails the
 * extraction and is removed. */
#include "fetcher/extract.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/archive_copy.h"
#include "common/xalloc.h"
#include "fetcher/sandbox.h"

/* libarchive reads this much at a time. */
#define READ_BLOCK (64 * 1024)

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

enum extract_kind extract_kind_of(const char *name)
{
    static const char *const archives[] = {".tar",     ".tgz",  ".tar.gz", ".tbz2",
                                           ".tar.bz2", ".txz",  ".tar.xz", ".zip"};
    for (size_t i = 0; i < sizeof(archives) / sizeof(archives[0]); i++)
        if (ends_with(name, archives[i]))
            return EXTRACT_ARCHIVE;
    if (ends_with(name, ".gz"))
        return EXTRACT_GZIP;
    return EXTRACT_NONE;
}

static const char *base_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* A lone .gz: its content goes to the name without ".gz" in the sandbox's
 * root (as Mesos runs gunzip -dc). */
static int extract_gzip(int fd, int root_fd, const char *name, struct error *err)
{
    const char *base = base_of(name);
    char *out_name = xstrndup(base, strlen(base) - 3);
    struct archive *in = archive_read_new();
    int out = -1, rc = 0;
    if (out_name[0] == '\0') {
        rc = error_set(err, -EINVAL, "'%s' has no name left without '.gz'", name);
        goto out;
    }
    archive_read_support_filter_gzip(in);
    archive_read_support_format_raw(in);
    struct archive_entry *entry;
    if (archive_read_open_fd(in, fd, READ_BLOCK) != ARCHIVE_OK ||
        archive_read_next_header(in, &entry) != ARCHIVE_OK) {
        rc = error_set(err, -EINVAL, "%s", archive_error_string(in));
        goto out;
    }
    if (archive_filter_code(in, 0) != ARCHIVE_FILTER_GZIP) {
        rc = error_set(err, -EINVAL, "it is not in gzip format");
        goto out;
    }
    if ((out = sandbox_create_file(root_fd, out_name, err)) < 0) {
        rc = out;
        goto out;
    }
    char buf[READ_BLOCK];
    for (;;) {
        la_ssize_t n = archive_read_data(in, buf, sizeof(buf));
        if (n < 0) {
            rc = error_set(err, -EINVAL, "%s", archive_error_string(in));
            goto out;
        }
        if (n == 0)
            break;
        for (la_ssize_t done = 0; done < n;) {
            ssize_t w = write(out, buf + done, (size_t)(n - done));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                rc = error_set(err, -EIO, "writing '%s': %s", out_name, strerror(errno));
                goto out;
            }
            done += w;
        }
    }
out:
    if (out >= 0)
        close(out);
    archive_read_free(in);
    free(out_name);
    return rc;
}

/* Whether an entry's path is the sandbox's root itself ("." or "./"):
 * such entries would retouch the sandbox's own mode and times. */
static int is_root_entry(const char *path)
{
    for (const char *p = path; *p; p++)
        if (*p != '.' && *p != '/')
            return 0;
        else if (p[0] == '.' && p[1] == '.')
            return 0;
    return 1;
}

/* The checks made before an entry is written. */
static int check_entry(struct archive_entry *entry, int root_fd, struct error *err)
{
    const char *path = archive_entry_pathname(entry);
    if (path == NULL || path[0] == '\0')
        return error_set(err, -EINVAL, "an archive entry has no name");
    if (path[0] == '/')
        return error_set(err, -EPERM, "archive entry '%s' has an absolute path", path);
    if (!sandbox_path_is_inside(path))
        return error_set(err, -EPERM, "archive entry '%s' climbs out of the sandbox with '..'",
                         path);
    mode_t type = archive_entry_filetype(entry);
    const char *hardlink = archive_entry_hardlink(entry);
    if (hardlink != NULL) {
        /* A hard link may only name what the sandbox already holds. */
        if (!sandbox_path_is_inside(hardlink))
            return error_set(err, -EPERM, "archive entry '%s' is a hard link to '%s', outside "
                             "the sandbox", path, hardlink);
        char *through = sandbox_symlink_on_path(root_fd, hardlink);
        if (through != NULL) {
            error_set(err, -EPERM, "archive entry '%s' is a hard link through the symlink '%s'",
                      path, through);
            free(through);
            return -EPERM;
        }
    } else if (type == AE_IFLNK) {
        const char *target = archive_entry_symlink(entry);
        if (target == NULL || !sandbox_link_target_is_inside(path, target))
            return error_set(err, -EPERM, "archive entry '%s' is a symlink to '%s', outside "
                             "the sandbox", path, target ? target : "");
    } else if (type != AE_IFREG && type != AE_IFDIR) {
        return error_set(err, -EPERM, "archive entry '%s' is a %s: refused", path,
                         type == AE_IFCHR || type == AE_IFBLK ? "device node"
                         : type == AE_IFIFO                  ? "FIFO"
                         : type == AE_IFSOCK                 ? "socket"
                                                             : "file of unknown type");
    }
    char *through = sandbox_symlink_on_path(root_fd, path);
    if (through != NULL) {
        error_set(err, -EPERM, "archive entry '%s' would be written through the symlink '%s'",
                  path, through);
        free(through);
        return -EPERM;
    }
    return 0;
}

int extract_archive(int fd, int root_fd, const char *name, struct error *err)
{
    if (lseek(fd, 0, SEEK_SET) < 0)
        return error_set(err, -errno, "Failed to extract '%s': %s", name, strerror(errno));
    enum extract_kind kind = extract_kind_of(name);
    if (kind == EXTRACT_GZIP) {
        int rc = extract_gzip(fd, root_fd, name, err);
        if (rc != 0)
            error_prefix(err, "Failed to extract '%s'", name);
        return rc;
    }

    struct archive *in = archive_read_new();
    struct archive *out = archive_write_disk_new();
    char **links = NULL;
    size_t n_links = 0;
    int rc = 0;
    archive_read_support_filter_gzip(in);
    archive_read_support_filter_bzip2(in);
    archive_read_support_filter_xz(in);
    archive_read_support_filter_lzma(in);
    archive_read_support_format_tar(in);
    archive_read_support_format_gnutar(in);
    archive_read_support_format_zip(in);
    archive_write_disk_set_options(out, ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_SECURE_NODOTDOT |
                                            ARCHIVE_EXTRACT_SECURE_SYMLINKS |
                                            ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS);
    if (archive_read_open_fd(in, fd, READ_BLOCK) != ARCHIVE_OK) {
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
        if (path != NULL && path[0] != '\0' && is_root_entry(path))
            continue;
        if ((rc = check_entry(entry, root_fd, err)) != 0)
            goto out;
        archive_entry_set_perm(entry, archive_entry_perm(entry) & ~(mode_t)(S_ISUID | S_ISGID));
        if (archive_entry_filetype(entry) == AE_IFLNK && archive_entry_hardlink(entry) == NULL) {
            links = xrealloc(links, (n_links + 1) * sizeof(char *));
            links[n_links++] = xstrdup(path);
        }
        r = archive_write_header(out, entry);
        if (r < ARCHIVE_WARN) {
            rc = error_set(err, -EIO, "%s", archive_error_string(out));
            goto out;
        }
        if (archive_entry_size(entry) > 0 && (rc = archive_copy_data(in, out, err)) != 0)
            goto out;
        if (archive_write_finish_entry(out) < ARCHIVE_WARN) {
            rc = error_set(err, -EIO, "%s", archive_error_string(out));
            goto out;
        }
    }
    if (archive_write_close(out) < ARCHIVE_WARN) {
        rc = error_set(err, -EIO, "%s", archive_error_string(out));
        goto out;
    }
out:
    /* A symlink that passed alone may lead out through a later one
     * ("a" -> "b/..", "b" -> "."): each is resolved as the kernel would,
     * also after a failure (none may stay behind). */
    for (size_t i = 0; i < n_links; i++) {
        if (sandbox_resolution_escapes(root_fd, links[i])) {
            unlinkat(root_fd, links[i], 0);
            if (rc == 0)
                rc = error_set(err, -EPERM, "archive entry '%s' is a symlink leading outside "
                               "the sandbox", links[i]);
        }
    }
    if (rc != 0)
        error_prefix(err, "Failed to extract '%s'", name);
    for (size_t i = 0; i < n_links; i++)
        free(links[i]);
    free(links);
    archive_read_free(in);
    archive_write_free(out);
    return rc;
}
