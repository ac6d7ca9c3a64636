/* Fetch benchmark: how fast URIs get into sandboxes, with and without the
 * fetcher cache. It serves files from memory on a loopback HTTP server of
 * its own (one thread per connection), then either
 *
 *   --mode=fetcher   runs tepui-fetcher directly, as the agent does (plan on
 *                    stdin), N times per case: a large file and a large
 *                    tar.gz (MB/s), a small file (fetches/s), each straight
 *                    into the sandbox and from the cache;
 *   --mode=agent     is a scheduler on libtepui launching N command tasks
 *                    that each fetch one URI (cached or not) and check it
 *                    is there, W at a time, against a running master and
 *                    agent: tasks/s, MB/s, ACCEPT->RUNNING p50/p99 and how
 *                    many downloads the server saw.
 *
 * bench/fetch.sh runs both against a fresh master and agent. */
#include <archive.h>
#include <archive_entry.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/flags.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "internal.pb-c.h"
#include "tepui/scheduler.h"
#include "wire/pb.h"

extern char **environ;

/* ---- a loopback server of in-memory files ---- */

struct file {
    const char *path;
    char *data;
    size_t len;
    int hits;
};

static struct {
    int fd, port;
    struct file files[8];
    int n;
    pthread_mutex_t lock;
} srv = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void *conn_main(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char req[4096];
    size_t n = 0;
    while (n < sizeof(req) - 1) {
        ssize_t r = recv(fd, req + n, sizeof(req) - 1 - n, 0);
        if (r <= 0)
            break;
        n += (size_t)r;
        req[n] = '\0';
        if (strstr(req, "\r\n\r\n"))
            break;
    }
    req[n] = '\0';
    char path[256] = "";
    struct file *f = NULL;
    if (sscanf(req, "GET %255s", path) == 1) {
        pthread_mutex_lock(&srv.lock);
        for (int i = 0; i < srv.n; i++)
            if (strcmp(srv.files[i].path, path) == 0) {
                f = &srv.files[i];
                f->hits++;
            }
        pthread_mutex_unlock(&srv.lock);
    }
    char head[256];
    if (f == NULL)
        snprintf(head, sizeof(head), "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n"
                                     "Connection: close\r\n\r\n");
    else
        snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n"
                                     "Connection: close\r\n\r\n", f->len);
    /* One segment with the body's start: no Nagle wait between them. */
    send(fd, head, strlen(head), MSG_NOSIGNAL | (f != NULL ? MSG_MORE : 0));
    for (size_t off = 0; f != NULL && off < f->len;) {
        ssize_t w = send(fd, f->data + off, f->len - off, MSG_NOSIGNAL);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    close(fd);
    return NULL;
}

static void *server_main(void *arg)
{
    (void)arg;
    for (;;) {
        int fd = accept(srv.fd, NULL, NULL);
        if (fd < 0)
            continue;
        pthread_t t;
        if (pthread_create(&t, NULL, conn_main, (void *)(intptr_t)fd) == 0)
            pthread_detach(t);
        else
            close(fd);
    }
    return NULL;
}

static void server_start(void)
{
    srv.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    if (bind(srv.fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(srv.fd, 256) != 0) {
        perror("fetch: server");
        exit(1);
    }
    getsockname(srv.fd, (struct sockaddr *)&sa, &len);
    srv.port = ntohs(sa.sin_port);
    pthread_t t;
    pthread_create(&t, NULL, server_main, NULL);
    pthread_detach(t);
}

static void serve(const char *path, char *data, size_t len)
{
    srv.files[srv.n++] = (struct file){path, data, len, 0};
}

static int hits(const char *path)
{
    int n = 0;
    pthread_mutex_lock(&srv.lock);
    for (int i = 0; i < srv.n; i++)
        if (strcmp(srv.files[i].path, path) == 0)
            n = srv.files[i].hits;
    pthread_mutex_unlock(&srv.lock);
    return n;
}

/* Text that compresses as real files do (about 3:1 with gzip). */
static char *make_data(size_t len)
{
    char *d = xmalloc(len);
    static const char *const words[] = {"tepui ", "fetch ", "cache ", "agent ", "sandbox ",
                                        "mesos ", "uri\n", "0x1f2e ", "task ", "offer "};
    uint64_t x = 88172645463325252ULL;
    for (size_t i = 0; i < len;) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        const char *w = words[x % 10];
        for (; *w && i < len; w++)
            d[i++] = *w;
    }
    return d;
}

/* A tar.gz of files of 1 MiB holding len bytes in all. */
static char *make_targz(const char *content, size_t len, size_t *out_len)
{
    size_t cap = len + (1 << 20);
    char *buf = xmalloc(cap);
    struct archive *a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    archive_write_add_filter_gzip(a);
    archive_write_open_memory(a, buf, cap, out_len);
    for (size_t off = 0, i = 0; off < len; i++) {
        size_t n = len - off < (1 << 20) ? len - off : (1 << 20);
        char name[64];
        snprintf(name, sizeof(name), "tree/part-%04zu", i);
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, name);
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_size(e, (la_int64_t)n);
        archive_write_header(a, e);
        archive_write_data(a, content + off, n);
        archive_entry_free(e);
        off += n;
    }
    archive_write_close(a);
    archive_write_free(a);
    return buf;
}

/* ---- --mode=fetcher ---- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Runs tepui-fetcher once with a plan of one item, as the agent does. */
static double run_fetcher(const char *fetcher, const char *sandbox, const char *uri,
                          Tepui__Internal__FetchPlan__Action action, const char *cache_file)
{
    mkdir(sandbox, 0755);
    Tepui__CommandInfo__URI u = TEPUI__COMMAND_INFO__URI__INIT;
    u.value = (char *)uri;
    Tepui__Internal__FetchPlan__Item item = TEPUI__INTERNAL__FETCH_PLAN__ITEM__INIT;
    Tepui__Internal__FetchPlan__Item *items[1] = {&item};
    item.uri = &u;
    item.has_action = 1;
    item.action = action;
    item.cache_file = (char *)cache_file;
    Tepui__Internal__FetchPlan plan = TEPUI__INTERNAL__FETCH_PLAN__INIT;
    plan.sandbox_directory = (char *)sandbox;
    plan.items = items;
    plan.n_items = 1;
    struct buf packed = BUF_INIT;
    pb_pack_buf(&plan.base, &packed);
    int fd = memfd_create("plan", 0);
    if (write(fd, packed.data, packed.len) != (ssize_t)packed.len)
        abort();
    lseek(fd, 0, SEEK_SET);
    buf_free(&packed);

    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fd, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    char *argv[] = {(char *)fetcher, "--logging_level=WARNING", NULL};
    pid_t pid;
    double t0 = clock_mono();
    if (posix_spawn(&pid, fetcher, &fa, NULL, argv, environ) != 0) {
        perror("fetch: posix_spawn");
        exit(1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    double took = clock_mono() - t0;
    posix_spawn_file_actions_destroy(&fa);
    close(fd);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "fetch: tepui-fetcher failed for %s\n", uri);
        exit(1);
    }
    nftw(sandbox, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return took;
}

static void fetcher_case(const char *fetcher, const char *dir, const char *name, const char *path,
                         size_t bytes, int n)
{
    char uri[256], sandbox[512], cache_file[512];
    snprintf(uri, sizeof(uri), "http://127.0.0.1:%d%s", srv.port, path);
    snprintf(cache_file, sizeof(cache_file), "%s/cache-%s", dir, name);
    double direct = 0, cached = 0;
    sync();
    for (int i = 0; i < n; i++) {
        snprintf(sandbox, sizeof(sandbox), "%s/sandbox", dir);
        direct += run_fetcher(fetcher, sandbox, uri,
                              TEPUI__INTERNAL__FETCH_PLAN__ACTION__BYPASS_CACHE, NULL);
    }
    run_fetcher(fetcher, sandbox, uri, TEPUI__INTERNAL__FETCH_PLAN__ACTION__DOWNLOAD_AND_CACHE,
                cache_file);
    sync();
    for (int i = 0; i < n; i++)
        cached += run_fetcher(fetcher, sandbox, uri,
                              TEPUI__INTERNAL__FETCH_PLAN__ACTION__RETRIEVE_FROM_CACHE,
                              cache_file);
    unlink(cache_file);
    double mb = (double)bytes * n / 1e6;
    printf("%-28s %4d runs  direct %8.1f MB/s %7.1f fetches/s   from cache %8.1f MB/s "
           "%7.1f fetches/s\n",
           name, n, mb / direct, n / direct, mb / cached, n / cached);
}

static int fetcher_mode(const char *fetcher, int runs, size_t big)
{
    char dir[] = "/tmp/tepui-fetch-bench-XXXXXX";
    if (mkdtemp(dir) == NULL) {
        perror("fetch: mkdtemp");
        return 1;
    }
    printf("== tepui-fetcher alone (one process per fetch, loopback HTTP)\n");
    fetcher_case(fetcher, dir, "4 KiB file", "/small.bin", 4096, runs * 10);
    fetcher_case(fetcher, dir, "large file", "/big.bin", big, runs);
    fetcher_case(fetcher, dir, "large tar.gz, extracted", "/big.tar.gz", big, runs);
    printf("(the tar.gz's MB/s count its extracted bytes)\n");
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

/* ---- --mode=agent ---- */

struct bench {
    struct event_base *base;
    struct tepui_scheduler *sched;
    int tasks, window, launched, finished, failed;
    char *uri;
    char *check;
    int cache;
    int64_t *accepted, *running;
    int64_t first, last;
};

static void use_offer(struct bench *b, const Tepui__Offer *o)
{
    Tepui__OfferID *ids[1] = {o->id};
    Tepui__Filters filters = TEPUI__FILTERS__INIT;
    filters.has_refuse_seconds = 1;
    filters.refuse_seconds = 0;
    double cpus = 0, mem = 0;
    for (size_t k = 0; k < o->n_resources; k++) {
        if (strcmp(o->resources[k]->name, "cpus") == 0 && o->resources[k]->scalar)
            cpus += o->resources[k]->scalar->value;
        if (strcmp(o->resources[k]->name, "mem") == 0 && o->resources[k]->scalar)
            mem += o->resources[k]->scalar->value;
    }
    int n = b->window - (b->launched - b->finished);
    int fit = (int)fmin(floor(cpus / 0.01 + 1e-9), floor(mem / 1 + 1e-9));
    if (n > fit)
        n = fit;
    if (n > b->tasks - b->launched)
        n = b->tasks - b->launched;
    if (n <= 0) {
        tepui_scheduler_decline(b->sched, ids, 1, &filters, NULL, NULL);
        return;
    }
    const char *role = o->allocation_info ? o->allocation_info->role : "*";
    Tepui__TaskInfo **infos = xcalloc((size_t)n, sizeof(*infos));
    int64_t now = clock_mono_ns();
    for (int k = 0; k < n; k++) {
        char id[32];
        snprintf(id, sizeof(id), "%d", b->launched);
        b->accepted[b->launched++] = now;
        infos[k] = tepui_task_command_new(id, id, o->agent_id->value, b->check, 0.01, 1, role);
        if (b->uri != NULL) {
            Tepui__CommandInfo__URI u = TEPUI__COMMAND_INFO__URI__INIT;
            u.value = b->uri;
            u.has_cache = 1;
            u.cache = b->cache;
            Tepui__CommandInfo *c = infos[k]->command;
            c->uris = xcalloc(1, sizeof(*c->uris));
            c->uris[0] = PB_COPY(Tepui__CommandInfo__URI, &u);
            c->n_uris = 1;
        }
    }
    if (b->first == 0)
        b->first = now;
    Tepui__Offer__Operation *op = tepui_operation_launch_new(infos, (size_t)n);
    Tepui__Offer__Operation *ops[1] = {op};
    tepui_scheduler_accept(b->sched, ids, 1, ops, 1, &filters, NULL, NULL);
    tepui_message_free(op);
    for (int k = 0; k < n; k++)
        tepui_message_free(infos[k]);
    free(infos);
}

static void on_offers(struct tepui_scheduler *s, const Tepui__Scheduler__Event__Offers *e, void *arg)
{
    (void)s;
    for (size_t i = 0; i < e->n_offers; i++)
        use_offer(arg, e->offers[i]);
}

static void on_update(struct tepui_scheduler *s, const Tepui__Scheduler__Event__Update *e, void *arg)
{
    struct bench *b = arg;
    const Tepui__TaskStatus *st = e->status;
    if (st->has_uuid)
        tepui_scheduler_acknowledge(s, st->agent_id->value, st->task_id->value, st->uuid.data,
                                    st->uuid.len, NULL, NULL);
    int i = atoi(st->task_id->value);
    if (i < 0 || i >= b->tasks)
        return;
    int64_t now = clock_mono_ns();
    if (st->state == TEPUI__TASK_STATE__TASK_RUNNING && b->running[i] == 0)
        b->running[i] = now;
    int terminal = st->state == TEPUI__TASK_STATE__TASK_FINISHED ||
                   st->state == TEPUI__TASK_STATE__TASK_FAILED ||
                   st->state == TEPUI__TASK_STATE__TASK_KILLED ||
                   st->state == TEPUI__TASK_STATE__TASK_LOST ||
                   st->state == TEPUI__TASK_STATE__TASK_ERROR;
    if (!terminal)
        return;
    if (st->state != TEPUI__TASK_STATE__TASK_FINISHED && b->failed++ < 3)
        fprintf(stderr, "task %s ended %d: %s\n", st->task_id->value, (int)st->state,
                st->message ? st->message : "");
    b->last = now;
    if (++b->finished == b->tasks)
        event_base_loopbreak(b->base);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int agent_case(const char *master, const char *label, const char *path, size_t bytes,
                      int cache, int tasks, int window)
{
    struct bench b = {0};
    b.tasks = tasks;
    b.window = window;
    b.cache = cache;
    b.accepted = xcalloc((size_t)tasks, sizeof(int64_t));
    b.running = xcalloc((size_t)tasks, sizeof(int64_t));
    if (path != NULL) {
        b.uri = xasprintf("http://127.0.0.1:%d%s", srv.port, path);
        b.check = xasprintf("test -s %s", strrchr(path, '/') + 1);
    } else {
        b.check = xstrdup("true");
    }
    int hits_before = path ? hits(path) : 0;
    /* No case pays for the writeback of the one before. */
    sync();
    b.base = event_base_new();
    Tepui__FrameworkInfo fi = TEPUI__FRAMEWORK_INFO__INIT;
    struct passwd *pw = getpwuid(getuid());
    fi.user = pw ? pw->pw_name : "root";
    fi.name = "fetch-benchmark";
    struct tepui_scheduler_options so = {.master = master};
    struct tepui_scheduler_callbacks cb = {.offers = on_offers, .update = on_update};
    b.sched = tepui_scheduler_new(b.base, &fi, &so, &cb, &b);
    if (b.sched == NULL || tepui_scheduler_start(b.sched) != 0) {
        fprintf(stderr, "fetch: cannot subscribe to %s\n", master);
        return 1;
    }
    struct timeval limit = {600, 0};
    event_base_loopexit(b.base, &limit);
    event_base_dispatch(b.base);
    double secs = (double)(b.last - b.first) / 1e9;
    int64_t *lat = xcalloc((size_t)tasks, sizeof(int64_t));
    int nl = 0;
    for (int i = 0; i < tasks; i++)
        if (b.running[i])
            lat[nl++] = b.running[i] - b.accepted[i];
    qsort(lat, (size_t)nl, sizeof(int64_t), cmp_i64);
    double p50 = nl ? (double)lat[(nl - 1) / 2] / 1e6 : NAN;
    double p99 = nl ? (double)lat[(int)ceil(0.99 * nl) - 1] / 1e6 : NAN;
    printf("%-34s %4d tasks %3d in flight  %7.1f tasks/s  %8.1f MB/s  ACCEPT->RUNNING p50 "
           "%6.1f ms p99 %6.1f ms  downloads %d%s\n",
           label, b.finished, window, secs > 0 ? b.finished / secs : 0,
           secs > 0 ? (double)bytes * b.finished / secs / 1e6 : 0, p50, p99,
           path ? hits(path) - hits_before : 0, b.failed ? "  (FAILURES)" : "");
    tepui_scheduler_teardown(b.sched, NULL, NULL);
    struct timeval tv = {0, 300 * 1000};
    event_base_loopexit(b.base, &tv);
    event_base_dispatch(b.base);
    tepui_scheduler_free(b.sched);
    event_base_loop(b.base, EVLOOP_NONBLOCK);
    event_base_free(b.base);
    int failed = b.failed || b.finished != tasks;
    free(lat);
    free(b.accepted);
    free(b.running);
    free(b.uri);
    free(b.check);
    return failed;
}

int main(int argc, char **argv)
{
    char *mode = NULL, *master = NULL, *fetcher = NULL;
    int runs = 0, tasks = 0, window = 0;
    long long big = 0;
    struct flag_def defs[] = {
        {"mode", FLAG_STRING, &mode, "fetcher", "fetcher (tepui-fetcher alone) or agent"},
        {"fetcher", FLAG_STRING, &fetcher, "build/bin/tepui-fetcher", "The tepui-fetcher binary"},
        {"master", FLAG_STRING, &master, "127.0.0.1:5050", "The master (--mode=agent)"},
        {"runs", FLAG_INT, &runs, "10", "Fetches per case of the large files (--mode=fetcher)"},
        {"tasks", FLAG_INT, &tasks, "200", "Tasks per case (--mode=agent)"},
        {"window", FLAG_INT, &window, "16", "Tasks in flight at most (--mode=agent)"},
        {"size", FLAG_BYTES, &big, "64MB", "Size of the large file"},
    };
    struct flag_set fs = {.program = "fetch", .defs = defs, .n = sizeof(defs) / sizeof(defs[0])};
    struct error err = {0};
    int rc = flags_parse(&fs, argc, argv, NULL, NULL, &err);
    if (rc != 0) {
        if (rc < 0)
            fprintf(stderr, "fetch: %s\n", err.msg);
        return rc < 0 ? 2 : 0;
    }
    log_set_level(LOG_LEVEL_WARN);
    signal(SIGPIPE, SIG_IGN);
    server_start();
    size_t big_len = (size_t)big;
    char *data = make_data(big_len);
    size_t tgz_len = 0;
    char *tgz = make_targz(data, big_len, &tgz_len);
    serve("/small.bin", make_data(4096), 4096);
    serve("/big.bin", data, big_len);
    serve("/big.tar.gz", tgz, tgz_len);

    if (strcmp(mode, "fetcher") == 0) {
        rc = fetcher_mode(fetcher, runs, big_len);
    } else {
        printf("== through the agent (%d tasks per case, each fetching one URI)\n", tasks);
        int big_tasks = tasks / 10 > 2 * window ? tasks / 10 : 2 * window;
        rc = agent_case(master, "no URI (baseline)", NULL, 0, 0, tasks, window);
        rc |= agent_case(master, "4 KiB file, no cache", "/small.bin", 4096, 0, tasks, window);
        rc |= agent_case(master, "4 KiB file, cache", "/small.bin", 4096, 1, tasks, window);
        /* What a fetch adds to one task's start, without queueing. */
        rc |= agent_case(master, "no URI, one at a time", NULL, 0, 0, 50, 1);
        rc |= agent_case(master, "4 KiB file, one at a time", "/small.bin", 4096, 0, 50, 1);
        rc |= agent_case(master, "large file, no cache", "/big.bin", big_len, 0, big_tasks,
                         window);
        rc |= agent_case(master, "large file, cache", "/big.bin", big_len, 1, big_tasks, window);
    }
    flags_free(&fs);
    return rc;
}
