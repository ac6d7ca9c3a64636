/* Carrying out a fetch plan (see fetch.h). The order of the work is what
 * keeps the sandbox safe when the agent is root: cache files are
 * downloaded and opened as root (the cache is root's, mode 0700), then the
 * process becomes the task's user for good, and only then is anything
 * written into the sandbox, or a local file read for it, so both happen
 * with the user's permissions, as the task itself would. When the cache
 * cannot be written or read, the URI is fetched straight into the sandbox
 * instead (Mesos's fallback). */
#include "fetcher/fetch.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "fetcher/extract.h"
#include "fetcher/sandbox.h"
#include "fetcher/source.h"

#define LOG_COMPONENT "fetcher"

#define ACTION_BYPASS TEPUI__INTERNAL__FETCH_PLAN__ACTION__BYPASS_CACHE
#define ACTION_DOWNLOAD TEPUI__INTERNAL__FETCH_PLAN__ACTION__DOWNLOAD_AND_CACHE
#define ACTION_RETRIEVE TEPUI__INTERNAL__FETCH_PLAN__ACTION__RETRIEVE_FROM_CACHE

struct item {
    const Tepui__CommandInfo__URI *uri;
    const char *cache_file;
    int action;
    char *name;         /* its path in the sandbox */
    int cache_fd;       /* the cache file, opened before becoming the user */
};

/* The file name in the sandbox: output_file (relative, inside), else the
 * URI's last component. */
static int item_prepare(struct item *it, const Tepui__Internal__FetchPlan__Item *pi,
                        struct error *err)
{
    it->uri = pi->uri;
    it->cache_fd = -1;
    it->action = pi->has_action ? (int)pi->action : ACTION_BYPASS;
    it->cache_file = pi->cache_file;
    if (it->action != ACTION_BYPASS && (it->cache_file == NULL || it->cache_file[0] != '/'))
        return error_set(err, -EINVAL, "the plan gives no absolute cache file");
    if (it->uri->output_file != NULL) {
        if (it->uri->output_file[0] == '\0')
            return error_set(err, -EINVAL, "URI output file path is empty");
        if (!sandbox_path_is_inside(it->uri->output_file))
            return error_set(err, -EINVAL, "URI output file must be within the sandbox directory");
        it->name = xstrdup(it->uri->output_file);
    } else if ((it->name = source_basename(it->uri->value, err)) == NULL) {
        return err->code;
    }
    return 0;
}

/* DOWNLOAD_AND_CACHE: into "<cache_file>.part", renamed once complete, so
 * a cache file is always whole. A failure of the cache's own disk turns
 * the item into BYPASS_CACHE; a failure of the source fails it. */
static int download_to_cache(struct item *it, double stall_timeout, struct error *err)
{
    char *part = xasprintf("%s.part", it->cache_file);
    int rc = 0;
    int fd = open(part, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        log_warn("cannot write the cache file %s (%s); fetching '%s' straight into the sandbox",
                 part, strerror(errno), it->uri->value);
        it->action = ACTION_BYPASS;
        goto out;
    }
    log_info("Downloading '%s' into the cache as '%s'", it->uri->value, it->cache_file);
    struct error e = {0};
    rc = source_fetch(it->uri->value, fd, stall_timeout, &e);
    if (close(fd) != 0 && rc == 0)
        rc = error_set(&e, -EIO, "closing: %s", strerror(errno));
    if (rc == -EIO) {
        log_warn("cannot fill the cache file %s (%s); fetching '%s' straight into the sandbox",
                 part, e.msg, it->uri->value);
        unlink(part);
        it->action = ACTION_BYPASS;
        rc = 0;
    } else if (rc != 0) {
        unlink(part);
        error_set(err, rc, "%s", e.msg);
    } else if (rename(part, it->cache_file) != 0) {
        log_warn("cannot rename %s (%s); fetching '%s' straight into the sandbox", part,
                 strerror(errno), it->uri->value);
        unlink(part);
        it->action = ACTION_BYPASS;
    }
out:
    free(part);
    return rc;
}

static int become_user(const char *user, struct error *err)
{
    struct passwd *pw = getpwnam(user);
    if (pw == NULL)
        return error_set(err, -ENOENT, "user '%s' does not exist on this agent", user);
    if (initgroups(user, pw->pw_gid) != 0 || setgid(pw->pw_gid) != 0 ||
        setuid(pw->pw_uid) != 0)
        return error_set(err, -errno, "cannot become user '%s': %s", user, strerror(errno));
    log_info("Fetching as user '%s'", user);
    return 0;
}

/* Puts one URI into the sandbox. */
static int deliver(struct item *it, int root_fd, double stall_timeout, struct error *err)
{
    int executable = it->uri->has_executable && it->uri->executable;
    /* Mesos: "executable" wins over "extract" (default true). */
    enum extract_kind kind =
        executable || !it->uri->extract ? EXTRACT_NONE : extract_kind_of(it->name);
    int out = -1, rc = 0;
    if (it->cache_fd >= 0) {
        log_info("Fetching '%s' from the cache", it->uri->value);
        if (kind != EXTRACT_NONE) {
            /* Only the extracted files go to the sandbox, as in Mesos. */
            rc = extract_archive(it->cache_fd, root_fd, it->name, err);
            goto out;
        }
        if ((out = sandbox_create_file(root_fd, it->name, err)) < 0) {
            rc = out;
            goto out;
        }
        if ((rc = source_copy_fd(it->cache_fd, out, err)) != 0)
            goto out;
    } else {
        log_info("Fetching '%s' directly into the sandbox directory", it->uri->value);
        if ((out = sandbox_create_file(root_fd, it->name, err)) < 0) {
            rc = out;
            goto out;
        }
        if ((rc = source_fetch(it->uri->value, out, stall_timeout, err)) != 0)
            goto out;
        if (kind != EXTRACT_NONE && (rc = extract_archive(out, root_fd, it->name, err)) != 0)
            goto out;
    }
    if (executable && fchmod(out, 0755) != 0)
        rc = error_set(err, -errno, "Failed to chmod executable '%s': %s", it->name,
                       strerror(errno));
out:
    if (out >= 0)
        close(out);
    if (rc == 0)
        log_info("Fetched '%s' to '%s'%s", it->uri->value, it->name,
                 kind != EXTRACT_NONE ? " and extracted it" : "");
    return rc;
}

int fetch_run(const Tepui__Internal__FetchPlan *plan, struct error *err)
{
    size_t n = plan->n_items;
    struct item *items = xcalloc(n ? n : 1, sizeof(*items));
    double stall = plan->has_stall_timeout_seconds ? plan->stall_timeout_seconds : 0;
    int root_fd = -1, rc = 0;
    const char *failed_uri = NULL;
    umask(022);
    log_info("Fetching %zu URI(s) into '%s' (container %s)", n, plan->sandbox_directory,
             plan->container_id ? plan->container_id : "?");

    for (size_t i = 0; i < n; i++) {
        items[i].cache_fd = -1;
        if ((rc = item_prepare(&items[i], plan->items[i], err)) != 0) {
            failed_uri = plan->items[i]->uri->value;
            goto out;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (items[i].action == ACTION_DOWNLOAD &&
            (rc = download_to_cache(&items[i], stall, err)) != 0) {
            failed_uri = items[i].uri->value;
            goto out;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (items[i].action == ACTION_BYPASS)
            continue;
        items[i].cache_fd = open(items[i].cache_file, O_RDONLY | O_CLOEXEC);
        if (items[i].cache_fd < 0) {
            log_warn("cannot open the cache file %s (%s); fetching '%s' straight into the "
                     "sandbox", items[i].cache_file, strerror(errno), items[i].uri->value);
            items[i].action = ACTION_BYPASS;
        }
    }
    if (plan->user != NULL && plan->user[0] != '\0' && geteuid() == 0 &&
        (rc = become_user(plan->user, err)) != 0)
        goto out;
    root_fd = open(plan->sandbox_directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root_fd < 0 || fchdir(root_fd) != 0) {
        rc = error_set(err, -errno, "cannot enter the sandbox %s: %s", plan->sandbox_directory,
                       strerror(errno));
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if ((rc = deliver(&items[i], root_fd, stall, err)) != 0) {
            failed_uri = items[i].uri->value;
            goto out;
        }
    }
    log_info("Successfully fetched all URIs into '%s'", plan->sandbox_directory);
out:
    if (rc != 0 && failed_uri != NULL)
        error_prefix(err, "%s", failed_uri);
    for (size_t i = 0; i < n; i++) {
        if (items[i].cache_fd >= 0)
            close(items[i].cache_fd);
        free(items[i].name);
    }
    free(items);
    if (root_fd >= 0)
        close(root_fd);
    return rc;
}
