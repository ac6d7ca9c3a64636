/* The agent's fetcher (see fetcher.h). A fetch belongs to an executor
 * that has not started yet; it decides, per URI, what tepui-fetcher does
 * (the plan), starts it with posix_spawn, and learns how it ended from
 * SIGCHLD (containers.c hands over pids that are not executors').
 *
 * The cache, as Mesos's fetcher cache: a URI with `cache` set is fetched
 * once per user into --fetcher_cache_dir and delivered from there. Its
 * entries are keyed by user and URI; an entry is DOWNLOADING (by the fetch
 * that created it) or READY. A fetch that finds an entry downloading by
 * another waits for it before it starts its fetcher, so one URI is
 * downloaded once however many tasks ask for it at the same time; if that
 * download fails, the waiting fetch downloads straight into its sandbox.
 * A fetch that waits creates no entries until its waits are over, so two
 * fetches never wait on each other. Entries are referenced by the fetches
 * using them and only unreferenced READY entries are evicted, least
 * recently used first, whenever the cache is over --fetcher_cache_size.
 * Sizes are learned once a file is in the cache (Mesos asks the server
 * first; a HEAD request would need the network on the agent's loop), so
 * the cache may run over its size while downloads are under way, and an
 * entry larger than the whole cache is evicted as soon as it is unused.
 * Local files bypass the cache when the fetcher becomes the task's user:
 * they are read with the user's permissions, never through root's cache. */
#include "agent/fetcher.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <utlist.h>

#include "common/clock.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "wire/pb.h"

#define LOG_COMPONENT "agent"

#define ACTION_BYPASS TEPUI__INTERNAL__FETCH_PLAN__ACTION__BYPASS_CACHE
#define ACTION_DOWNLOAD TEPUI__INTERNAL__FETCH_PLAN__ACTION__DOWNLOAD_AND_CACHE
#define ACTION_RETRIEVE TEPUI__INTERNAL__FETCH_PLAN__ACTION__RETRIEVE_FROM_CACHE

/* The fetcher's descriptor for its failure reason (--result_fd). */
#define RESULT_FD 3
/* How much of the reason is kept (the task's message is 1 KiB). */
#define MAX_REASON 900

extern char **environ;

enum entry_state { ENTRY_DOWNLOADING, ENTRY_READY };

struct cache_entry {
    char *key;                        /* user '\n' uri */
    char *uri;
    char *path;                       /* the cache file */
    enum entry_state state;
    struct fetch *owner;              /* the fetch downloading it */
    uint64_t size;                    /* once READY */
    int refs;                         /* fetches (items) using it */
    int dead;                         /* out of the table; freed at refs 0 */
    struct fetch **waiters;           /* fetches waiting for its download */
    size_t n_waiters;
    UT_hash_handle hh;                /* fetcher->entries */
    struct cache_entry *prev, *next;  /* fetcher->lru, READY entries only */
};

struct fetch_item {
    Tepui__CommandInfo__URI *uri;     /* a copy */
    int cacheable;
    int decided;
    Tepui__Internal__FetchPlan__Action action;
    struct cache_entry *entry;        /* referenced while the fetch lasts */
    int waiting;                      /* for entry's download by another fetch */
};

struct fetch {
    struct fetcher *fetcher;
    struct agent_executor *e;         /* NULL once the executor is forgotten */
    char container_id[40];
    char *executor_id, *framework_id; /* for the log */
    char *directory;
    char *user;                       /* to become; NULL when not switching */
    char *cache_user;                 /* whose cache entries these are */
    struct fetch_item *items;
    size_t n_items;
    size_t n_waiting;
    pid_t pid;                        /* its tepui-fetcher, once started */
    int result_fd;
    int cancelled;
    double started;
    /* The end of a fetch that has no process to wait for. */
    struct event *finish_ev;
    int finish_status;
    char *finish_reason;
    UT_hash_handle hh;                /* fetcher->running, by pid */
};

struct fetcher {
    struct agent *a;
    char *program;                    /* tepui-fetcher; NULL when missing */
    char *cache_dir;
    uint64_t cache_limit, cache_used;
    uint64_t serial;
    struct cache_entry *entries;      /* by key */
    struct cache_entry *lru;          /* READY entries, least recently used first */
    struct fetch *running;            /* by pid */
    uint64_t succeeded, failed;       /* fetches, for /metrics/snapshot */
};

static int uri_is_network(const char *uri)
{
    static const char *const schemes[] = {"http://", "https://", "ftp://", "ftps://"};
    for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
        if (strncasecmp(uri, schemes[i], strlen(schemes[i])) == 0)
            return 1;
    return 0;
}

/* ---- the cache ---- */

/* "c<serial>-<the URI's file name>": unique, and readable by people. */
static char *cache_file_for(struct fetcher *fr, const char *uri)
{
    const char *end = uri + strcspn(uri, "?#");
    const char *base = end;
    while (base > uri && base[-1] != '/')
        base--;
    char name[65];
    size_t n = 0;
    for (const char *p = base; p < end && n < sizeof(name) - 1; p++)
        name[n++] = (char)((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                                   (*p >= '0' && *p <= '9') || *p == '.' || *p == '-' ||
                                   *p == '_'
                               ? *p
                               : '_');
    name[n] = '\0';
    return xasprintf("%s/c%llu-%s", fr->cache_dir, (unsigned long long)++fr->serial, name);
}

static void entry_free(struct cache_entry *ce)
{
    free(ce->key);
    free(ce->uri);
    free(ce->path);
    free(ce->waiters);
    free(ce);
}

static void entry_unref(struct cache_entry *ce)
{
    if (--ce->refs == 0 && ce->dead)
        entry_free(ce);
}

static void entry_touch(struct fetcher *fr, struct cache_entry *ce)
{
    if (ce->state != ENTRY_READY)
        return;
    DL_DELETE(fr->lru, ce);
    DL_APPEND(fr->lru, ce);
}

static void cache_evict(struct fetcher *fr)
{
    struct cache_entry *ce, *tmp;
    DL_FOREACH_SAFE(fr->lru, ce, tmp) {
        if (fr->cache_used <= fr->cache_limit)
            break;
        if (ce->refs > 0)
            continue;
        log_info("evicting %s (%llu bytes) from the fetcher cache", ce->uri,
                 (unsigned long long)ce->size);
        DL_DELETE(fr->lru, ce);
        HASH_DEL(fr->entries, ce);
        fr->cache_used -= ce->size;
        if (unlink(ce->path) != 0 && errno != ENOENT)
            log_warn("cannot remove the cache file %s: %s", ce->path, strerror(errno));
        entry_free(ce);
    }
}

/* Removes what an earlier run of the agent left in the cache directory:
 * its files only ("c<serial>-..." and their ".part"). */
static void cache_clean(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *de;
    int removed = 0;
    while ((de = readdir(d)) != NULL) {
        const char *p = de->d_name;
        if (*p++ != 'c' || *p < '0' || *p > '9')
            continue;
        while (*p >= '0' && *p <= '9')
            p++;
        if (*p == '-' && unlinkat(dirfd(d), de->d_name, 0) == 0)
            removed++;
    }
    closedir(d);
    if (removed > 0)
        log_info("removed %d files an earlier run left in the fetcher cache %s", removed, dir);
}

/* ---- planning ---- */

static void fetch_resume(struct fetch *f);

static void item_take(struct fetcher *fr, struct fetch_item *it, struct cache_entry *ce,
                      Tepui__Internal__FetchPlan__Action action)
{
    it->entry = ce;
    ce->refs++;
    it->action = action;
    it->decided = 1;
    entry_touch(fr, ce);
}

static struct cache_entry *entry_find(struct fetch *f, const char *uri)
{
    char *key = xasprintf("%s\n%s", f->cache_user, uri);
    struct cache_entry *ce = NULL;
    HASH_FIND_STR(f->fetcher->entries, key, ce);
    free(key);
    return ce;
}

/* Decides the action of each item not decided yet: what is READY comes
 * from the cache; what another fetch is downloading is waited for (when
 * may_wait; otherwise it bypasses the cache); only a fetch that waits for
 * nothing downloads new entries into the cache. */
static void fetch_decide(struct fetch *f, int may_wait)
{
    struct fetcher *fr = f->fetcher;
    for (size_t i = 0; i < f->n_items; i++) {
        struct fetch_item *it = &f->items[i];
        if (it->decided || it->waiting)
            continue;
        if (!it->cacheable) {
            it->action = ACTION_BYPASS;
            it->decided = 1;
            continue;
        }
        struct cache_entry *ce = entry_find(f, it->uri->value);
        if (ce == NULL) {
            continue;
        } else if (ce->state == ENTRY_READY) {
            item_take(fr, it, ce, ACTION_RETRIEVE);
        } else if (may_wait) {
            it->entry = ce;
            ce->refs++;
            it->waiting = 1;
            ce->waiters = xrealloc(ce->waiters, (ce->n_waiters + 1) * sizeof(*ce->waiters));
            ce->waiters[ce->n_waiters++] = f;
            f->n_waiting++;
        } else {
            it->action = ACTION_BYPASS;
            it->decided = 1;
        }
    }
    if (f->n_waiting > 0)
        return;
    for (size_t i = 0; i < f->n_items; i++) {
        struct fetch_item *it = &f->items[i];
        if (it->decided)
            continue;
        /* Found now, it is this fetch's own download (the URI came twice):
         * the fetcher downloads before it delivers. */
        struct cache_entry *ce = entry_find(f, it->uri->value);
        if (ce != NULL) {
            item_take(fr, it, ce, ACTION_RETRIEVE);
            continue;
        }
        ce = XNEW(struct cache_entry);
        ce->key = xasprintf("%s\n%s", f->cache_user, it->uri->value);
        ce->uri = xstrdup(it->uri->value);
        ce->path = cache_file_for(fr, it->uri->value);
        ce->state = ENTRY_DOWNLOADING;
        ce->owner = f;
        HASH_ADD_KEYPTR(hh, fr->entries, ce->key, strlen(ce->key), ce);
        item_take(fr, it, ce, ACTION_DOWNLOAD);
    }
}

/* The download of an entry is over (its owner's fetcher is gone): the file
 * is there, or the entry goes. Fetches waiting for it go on. */
static void entry_complete(struct fetcher *fr, struct cache_entry *ce)
{
    struct stat st;
    ce->owner = NULL;
    if (stat(ce->path, &st) == 0) {
        ce->state = ENTRY_READY;
        ce->size = (uint64_t)st.st_size;
        fr->cache_used += ce->size;
        DL_APPEND(fr->lru, ce);
    } else {
        char *part = xasprintf("%s.part", ce->path);
        unlink(part);   /* a fetcher killed while downloading */
        free(part);
        HASH_DEL(fr->entries, ce);
        ce->dead = 1;
    }
    struct fetch **waiters = ce->waiters;
    size_t n = ce->n_waiters;
    ce->waiters = NULL;
    ce->n_waiters = 0;
    ce->refs++;   /* alive until every waiter is told */
    for (size_t w = 0; w < n; w++) {
        struct fetch *f = waiters[w];
        for (size_t i = 0; i < f->n_items; i++) {
            struct fetch_item *it = &f->items[i];
            if (it->entry != ce || !it->waiting)
                continue;
            it->waiting = 0;
            it->decided = 1;
            f->n_waiting--;
            if (ce->state == ENTRY_READY) {
                it->action = ACTION_RETRIEVE;
                entry_touch(fr, ce);
            } else {
                it->action = ACTION_BYPASS;
                it->entry = NULL;
                entry_unref(ce);
            }
        }
        if (f->n_waiting == 0)
            fetch_resume(f);
    }
    free(waiters);
    entry_unref(ce);
}

/* A fetch that ends before its waits are over stops waiting. */
static void fetch_stop_waiting(struct fetch *f)
{
    for (size_t i = 0; i < f->n_items; i++) {
        struct fetch_item *it = &f->items[i];
        if (!it->waiting)
            continue;
        struct cache_entry *ce = it->entry;
        for (size_t w = 0; w < ce->n_waiters; w++) {
            if (ce->waiters[w] == f) {
                ce->waiters[w] = ce->waiters[--ce->n_waiters];
                break;
            }
        }
        it->waiting = 0;
        it->entry = NULL;
        entry_unref(ce);
    }
    f->n_waiting = 0;
}

/* Completes the entries the fetch downloaded and drops its references. A
 * READY entry whose file is gone (removed by hand: the fetcher then
 * downloaded straight into the sandbox) leaves the cache. */
static void fetch_release(struct fetch *f)
{
    struct fetcher *fr = f->fetcher;
    for (size_t i = 0; i < f->n_items; i++) {
        struct cache_entry *ce = f->items[i].entry;
        struct stat st;
        if (ce != NULL && ce->owner == f && ce->state == ENTRY_DOWNLOADING) {
            entry_complete(fr, ce);
        } else if (ce != NULL && ce->state == ENTRY_READY && !ce->dead &&
                   stat(ce->path, &st) != 0) {
            log_warn("the fetcher cache file %s of %s is gone", ce->path, ce->uri);
            DL_DELETE(fr->lru, ce);
            HASH_DEL(fr->entries, ce);
            fr->cache_used -= ce->size;
            ce->dead = 1;
        }
    }
    fetch_stop_waiting(f);
    for (size_t i = 0; i < f->n_items; i++) {
        if (f->items[i].entry != NULL) {
            entry_unref(f->items[i].entry);
            f->items[i].entry = NULL;
        }
    }
    cache_evict(fr);
}

static void fetch_free(struct fetch *f)
{
    for (size_t i = 0; i < f->n_items; i++)
        pb_free(f->items[i].uri);
    free(f->items);
    if (f->finish_ev != NULL)
        event_free(f->finish_ev);
    if (f->result_fd >= 0)
        close(f->result_fd);
    free(f->finish_reason);
    free(f->executor_id);
    free(f->framework_id);
    free(f->directory);
    free(f->user);
    free(f->cache_user);
    free(f);
}

/* ---- the fetcher process ---- */

/* Moves fd above the standard and the fetcher's own descriptors, so the
 * spawn's dup2s cannot clobber one with another. */
static int fd_high(int fd)
{
    if (fd < 0 || fd > RESULT_FD)
        return fd;
    int high = fcntl(fd, F_DUPFD_CLOEXEC, 10);
    close(fd);
    return high;
}

static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

static int fetch_spawn(struct fetch *f, struct error *err)
{
    struct fetcher *fr = f->fetcher;
    struct agent *a = fr->a;
    Tepui__Internal__FetchPlan plan = TEPUI__INTERNAL__FETCH_PLAN__INIT;
    Tepui__Internal__FetchPlan__Item *items = xcalloc(f->n_items, sizeof(*items));
    Tepui__Internal__FetchPlan__Item **ptrs = xcalloc(f->n_items, sizeof(*ptrs));
    struct buf packed = BUF_INIT;
    const char **envp = NULL;
    int plan_fd = -1, rc = 0;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);

    plan.sandbox_directory = f->directory;
    plan.user = f->user;
    plan.container_id = f->container_id;
    plan.has_stall_timeout_seconds = 1;
    plan.stall_timeout_seconds = a->flags.fetcher_stall_timeout;
    for (size_t i = 0; i < f->n_items; i++) {
        tepui__internal__fetch_plan__item__init(&items[i]);
        items[i].uri = f->items[i].uri;
        items[i].has_action = 1;
        items[i].action = f->items[i].action;
        if (f->items[i].action != ACTION_BYPASS)
            items[i].cache_file = f->items[i].entry->path;
        ptrs[i] = &items[i];
    }
    plan.items = ptrs;
    plan.n_items = f->n_items;
    pb_pack_buf(&plan.base, &packed);

    /* The plan goes in as stdin and the reason comes back through memory
     * files: nothing on disk to clean up, no pipe to service. */
    plan_fd = fd_high(memfd_create("tepui-fetch-plan", MFD_CLOEXEC));
    f->result_fd = fd_high(memfd_create("tepui-fetch-result", MFD_CLOEXEC));
    if (plan_fd < 0 || f->result_fd < 0) {
        rc = error_set(err, -errno, "memfd_create: %s", strerror(errno));
        goto out;
    }
    if ((rc = write_all(plan_fd, packed.data, packed.len)) != 0 ||
        lseek(plan_fd, 0, SEEK_SET) != 0) {
        rc = error_set(err, rc ? rc : -errno, "cannot write the fetch plan: %s",
                       strerror(rc ? -rc : errno));
        goto out;
    }

    char out[PATH_MAX], errp[PATH_MAX];
    snprintf(out, sizeof(out), "%s/stdout", f->directory);
    snprintf(errp, sizeof(errp), "%s/stderr", f->directory);
    posix_spawn_file_actions_adddup2(&fa, plan_fd, STDIN_FILENO);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, out, O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, errp, O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, f->result_fd, RESULT_FD);
    posix_spawn_file_actions_addchdir_np(&fa, f->directory);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    /* Its own session: a kill reaches whatever it runs (libcurl's
     * resolver threads are its own; nothing else). */
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK |
                                        POSIX_SPAWN_SETSIGDEF);
    /* The agent's environment (proxies for libcurl: http_proxy, ...), less
     * the agent's own flags. */
    size_t n_env = 0;
    for (char **p = environ; *p; p++)
        n_env++;
    envp = xcalloc(n_env + 1, sizeof(*envp));
    n_env = 0;
    for (char **p = environ; *p; p++)
        if (strncmp(*p, "TEPUI_", 6) != 0)
            envp[n_env++] = *p;
    char result_flag[32];
    snprintf(result_flag, sizeof(result_flag), "--result_fd=%d", RESULT_FD);
    char *argv[] = {fr->program, result_flag, NULL};
    int src = posix_spawn(&f->pid, fr->program, &fa, &attr, argv, (char **)envp);
    if (src != 0) {
        f->pid = 0;
        rc = error_set(err, -src, "cannot execute %s: %s", fr->program, strerror(src));
        goto out;
    }
    HASH_ADD(hh, fr->running, pid, sizeof(pid_t), f);
    log_info("fetching %zu URI(s) for executor %s of framework %s with pid %d", f->n_items,
             f->executor_id, f->framework_id, (int)f->pid);
out:
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (plan_fd >= 0)
        close(plan_fd);
    free(envp);
    buf_free(&packed);
    free(items);
    free(ptrs);
    return rc;
}

/* ---- how a fetch ends ---- */

static void fetch_finished(struct fetch *f, int wait_status, const char *reason);

static void finish_cb(evutil_socket_t fd, short what, void *arg)
{
    struct fetch *f = arg;
    (void)fd;
    (void)what;
    char *reason = f->finish_reason;
    f->finish_reason = NULL;
    fetch_finished(f, f->finish_status, reason);
    free(reason);
}

/* Ends a fetch that has no fetcher process, on the loop's next turn: its
 * executor is never ended from inside the call that asked. */
static void fetch_finish_soon(struct fetch *f, int wait_status, const char *reason)
{
    f->finish_status = wait_status;
    free(f->finish_reason);
    f->finish_reason = reason ? xstrdup(reason) : NULL;
    if (f->finish_ev == NULL)
        f->finish_ev = event_new(f->fetcher->a->base, -1, 0, finish_cb, f);
    event_active(f->finish_ev, 0, 0);
}

static void fetch_resume(struct fetch *f)
{
    struct error err = {0};
    if (f->cancelled)
        return;
    fetch_decide(f, 0);
    if (fetch_spawn(f, &err) != 0)
        fetch_finish_soon(f, W_EXITCODE(1, 0), err.msg);
}

static void describe_status(int wait_status, char *out, size_t n)
{
    if (WIFEXITED(wait_status))
        snprintf(out, n, "tepui-fetcher exited with status %d", WEXITSTATUS(wait_status));
    else if (WIFSIGNALED(wait_status))
        snprintf(out, n, "tepui-fetcher was terminated by signal %s",
                 strsignal(WTERMSIG(wait_status)));
    else
        snprintf(out, n, "tepui-fetcher ended with status %d", wait_status);
}

static void fetch_finished(struct fetch *f, int wait_status, const char *reason)
{
    struct agent *a = f->fetcher->a;
    struct agent_executor *e = f->e;
    double took = clock_mono() - f->started;
    int ok = !f->cancelled && reason == NULL && WIFEXITED(wait_status) &&
             WEXITSTATUS(wait_status) == 0;
    fetch_release(f);
    if (e == NULL) {
        log_info("the fetch of forgotten executor %s of framework %s ended", f->executor_id,
                 f->framework_id);
        fetch_free(f);
        return;
    }
    e->fetch = NULL;
    if (f->cancelled || e->state != EXECUTOR_LAUNCHING) {
        log_info("stopped fetching for executor %s of framework %s after %.3fs", e->id,
                 e->framework->id, took);
        fetch_free(f);
        tasks_executor_terminated(a, e, wait_status);
        return;
    }
    if (ok) {
        f->fetcher->succeeded++;
        log_info("fetched the URIs of executor %s of framework %s in %.3fs", e->id,
                 e->framework->id, took);
        fetch_free(f);
        tasks_executor_fetched(a, e);
        return;
    }
    char status_text[128];
    describe_status(wait_status, status_text, sizeof(status_text));
    f->fetcher->failed++;
    e->reason_set = 1;
    e->reason = TEPUI__TASK_STATUS__REASON__REASON_CONTAINER_LAUNCH_FAILED;
    free(e->reason_message);
    e->reason_message = xasprintf("Failed to fetch all URIs for container '%s': %s",
                                  f->container_id, reason ? reason : status_text);
    log_warn("executor %s of framework %s: %s", e->id, e->framework->id, e->reason_message);
    fetch_free(f);
    tasks_executor_terminated(a, e, wait_status);
}

/* ---- the interface ---- */

int fetcher_start(struct agent *a, struct agent_executor *e, struct error *err)
{
    struct fetcher *fr = a->fetcher;
    const Tepui__CommandInfo *cmd = e->info->command;
    if (cmd == NULL || cmd->n_uris == 0)
        return 0;
    if (fr == NULL || fr->program == NULL) {
        if (fr != NULL)
            fr->failed++;
        return error_set(err, -ENOENT, "Failed to fetch all URIs for container '%s': "
                         "tepui-fetcher is not installed beside tepui-executor",
                         e->container_id);
    }
    int rc = containers_prepare_sandbox(a, e, err);
    if (rc != 0) {
        fr->failed++;
        return rc;
    }

    struct fetch *f = XNEW(struct fetch);
    f->fetcher = fr;
    f->e = e;
    f->result_fd = -1;
    f->started = clock_mono();
    snprintf(f->container_id, sizeof(f->container_id), "%s", e->container_id);
    f->executor_id = xstrdup(e->id);
    f->framework_id = xstrdup(e->framework->id);
    f->directory = xstrdup(e->directory);
    const char *user = containers_switch_user(a, e);
    f->user = user ? xstrdup(user) : NULL;
    /* Mesos keys the cache by the task's user whether or not it switches. */
    const char *owner = cmd->user ? cmd->user : e->framework->info->user;
    f->cache_user = xstrdup(owner ? owner : "");
    f->n_items = cmd->n_uris;
    f->items = xcalloc(f->n_items, sizeof(*f->items));
    for (size_t i = 0; i < f->n_items; i++) {
        struct fetch_item *it = &f->items[i];
        it->uri = PB_COPY(Tepui__CommandInfo__URI, cmd->uris[i]);
        it->cacheable = it->uri->has_cache && it->uri->cache && fr->cache_limit > 0 &&
                        (f->user == NULL || uri_is_network(it->uri->value));
    }
    e->fetch = f;
    fetch_decide(f, 1);
    if (f->n_waiting > 0) {
        log_info("executor %s of framework %s waits for %zu download(s) into the fetcher cache",
                 e->id, e->framework->id, f->n_waiting);
        return 1;
    }
    if ((rc = fetch_spawn(f, err)) != 0) {
        fr->failed++;
        e->fetch = NULL;
        f->e = NULL;
        fetch_release(f);
        fetch_free(f);
        error_prefix(err, "Failed to fetch all URIs for container '%s'", e->container_id);
        return rc;
    }
    return 1;
}

void fetcher_kill(struct agent *a, struct agent_executor *e)
{
    (void)a;
    struct fetch *f = e->fetch;
    if (f == NULL || f->cancelled)
        return;
    f->cancelled = 1;
    log_info("killing the fetch of executor %s of framework %s", e->id, e->framework->id);
    if (f->pid > 0) {
        if (kill(-f->pid, SIGKILL) != 0)
            kill(f->pid, SIGKILL);
    } else {
        fetch_stop_waiting(f);
        fetch_finish_soon(f, SIGKILL, NULL);
    }
}

void fetcher_forget(struct agent *a, struct agent_executor *e)
{
    (void)a;
    struct fetch *f = e->fetch;
    if (f == NULL)
        return;
    e->fetch = NULL;
    f->e = NULL;
    if (f->pid > 0) {
        /* Reaped later: its end only settles the cache. */
        if (!f->cancelled && kill(-f->pid, SIGKILL) != 0)
            kill(f->pid, SIGKILL);
        f->cancelled = 1;
        return;
    }
    fetch_release(f);
    fetch_free(f);
}

void fetcher_reaped(struct agent *a, pid_t pid, int wait_status)
{
    struct fetcher *fr = a->fetcher;
    if (fr == NULL)
        return;
    struct fetch *f = NULL;
    HASH_FIND(hh, fr->running, &pid, sizeof(pid_t), f);
    if (f == NULL)
        return;
    HASH_DELETE(hh, fr->running, f);
    f->pid = 0;
    char reason[MAX_REASON + 1];
    ssize_t n = pread(f->result_fd, reason, MAX_REASON, 0);
    if (n < 0)
        n = 0;
    reason[n] = '\0';
    while (n > 0 && (reason[n - 1] == '\n' || reason[n - 1] == ' '))
        reason[--n] = '\0';
    fetch_finished(f, wait_status, n > 0 ? reason : NULL);
}

void fetcher_metrics(const struct agent *a, json_t *o)
{
    const struct fetcher *fr = a->fetcher;
    if (fr == NULL)
        return;
    json_object_set_new(o, "containerizer/fetcher/cache_size_total_bytes",
                        json_real((double)fr->cache_limit));
    json_object_set_new(o, "containerizer/fetcher/cache_size_used_bytes",
                        json_real((double)fr->cache_used));
    json_object_set_new(o, "containerizer/fetcher/task_fetches_succeeded",
                        json_real((double)fr->succeeded));
    json_object_set_new(o, "containerizer/fetcher/task_fetches_failed",
                        json_real((double)fr->failed));
}

int fetcher_init(struct agent *a, struct error *err)
{
    struct fetcher *fr = XNEW(struct fetcher);
    fr->a = a;
    const char *slash = strrchr(a->executor_path, '/');
    fr->program = slash ? xasprintf("%.*s/tepui-fetcher", (int)(slash - a->executor_path),
                                    a->executor_path)
                        : xstrdup("tepui-fetcher");
    if (access(fr->program, X_OK) != 0) {
        log_warn("%s is not executable: tasks with URIs will fail (see --launcher_dir)",
                 fr->program);
        free(fr->program);
        fr->program = NULL;
    }
    fr->cache_dir = a->flags.fetcher_cache_dir && a->flags.fetcher_cache_dir[0]
                        ? xstrdup(a->flags.fetcher_cache_dir)
                        : xasprintf("%s/fetch", a->flags.work_dir);
    fr->cache_limit = a->flags.fetcher_cache_size > 0 ? (uint64_t)a->flags.fetcher_cache_size : 0;
    a->fetcher = fr;
    if (fr->cache_limit == 0)
        return 0;
    int rc = fs_mkdirs(fr->cache_dir);
    if (rc != 0)
        return error_set(err, rc, "cannot create --fetcher_cache_dir %s: %s", fr->cache_dir,
                         strerror(-rc));
    /* Only the agent (and the fetchers it starts) read the cache: tasks
     * get copies in their sandboxes. */
    if (chmod(fr->cache_dir, 0700) != 0)
        log_warn("cannot restrict %s to its owner: %s", fr->cache_dir, strerror(errno));
    cache_clean(fr->cache_dir);
    return 0;
}

void fetcher_fini(struct agent *a)
{
    struct fetcher *fr = a->fetcher;
    if (fr == NULL)
        return;
    /* Executors are gone (fetches not started went with them); what still
     * runs is killed, and the cache's books closed without waking anyone. */
    struct fetch *f, *ftmp;
    HASH_ITER(hh, fr->running, f, ftmp) {
        kill(-f->pid, SIGKILL);
        kill(f->pid, SIGKILL);
        waitpid(f->pid, NULL, 0);
        HASH_DELETE(hh, fr->running, f);
        if (f->e != NULL)
            f->e->fetch = NULL;
        for (size_t i = 0; i < f->n_items; i++)
            if (f->items[i].entry != NULL)
                entry_unref(f->items[i].entry);
        fetch_free(f);
    }
    struct cache_entry *ce, *ctmp;
    HASH_ITER(hh, fr->entries, ce, ctmp) {
        HASH_DEL(fr->entries, ce);
        entry_free(ce);
    }
    free(fr->program);
    free(fr->cache_dir);
    free(fr);
    a->fetcher = NULL;
}
