/* The fetcher on a real master, agent and tepui-fetcher: a task's URIs
 * (http through a loopback server written here, file:// and plain paths)
 * are in its sandbox before it runs, named, made executable, extracted
 * (every archive format, built here with libarchive); the cache downloads a
 * URI once, also for tasks fetching it at the same time, and evicts the
 * least recently used files beyond its size; failures (404, nobody
 * listening, a stall, a truncated or malicious archive) fail the task with
 * REASON_CONTAINER_LAUNCH_FAILED naming the URI, write nothing outside the
 * sandbox and leave the fetcher's log in it; a kill during a fetch kills
 * the fetcher; fetched files belong to the task's user. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/task_state.h"
#include "common/xalloc.h"
#include "harness.h"
#include "wire/pb.h"

#define T_OFFERS TEPUI__SCHEDULER__EVENT__TYPE__OFFERS
#define T_UPDATE TEPUI__SCHEDULER__EVENT__TYPE__UPDATE

/* Generous: executors start slowly under the sanitizers. */
#define EVENT_TIMEOUT 30.0

/* ---- a loopback HTTP server ---- */

enum serve_how {
    SERVE_OK,
    SERVE_SLOW,       /* answers after SLOW_MS */
    SERVE_STALL,      /* sends half the body, then nothing until the client goes */
    SERVE_REDIRECT,   /* 302 to location */
};

#define SLOW_MS 800

struct served {
    char path[256];
    char *data;
    size_t len;
    enum serve_how how;
    char location[256];
    int hits;
};

struct server {
    int fd;
    int port;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t idle;
    int connections;      /* handler threads alive */
    int stop;
    struct served files[48];
    int n_files;
};

struct conn {
    struct server *s;
    int fd;
};

static int server_stopping(struct server *s)
{
    pthread_mutex_lock(&s->lock);
    int stop = s->stop;
    pthread_mutex_unlock(&s->lock);
    return stop;
}

static void send_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        p += w;
        len -= (size_t)w;
    }
}

/* Waits until the client closes the connection or the server stops. */
static void hold_until_closed(struct server *s, int fd)
{
    while (!server_stopping(s)) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 50) > 0) {
            char b[256];
            if (recv(fd, b, sizeof(b), 0) <= 0)
                return;
        }
    }
}

static void *conn_main(void *arg)
{
    struct conn *c = arg;
    struct server *s = c->s;
    char req[8192];
    size_t n = 0;
    double deadline = clock_mono() + 5;
    while (n < sizeof(req) - 1 && clock_mono() < deadline) {
        struct pollfd p = {c->fd, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0)
            continue;
        ssize_t r = recv(c->fd, req + n, sizeof(req) - 1 - n, 0);
        if (r <= 0)
            break;
        n += (size_t)r;
        req[n] = '\0';
        if (strstr(req, "\r\n\r\n") != NULL)
            break;
    }
    req[n] = '\0';
    char path[256] = "";
    if (sscanf(req, "GET %255s ", path) == 1) {
        path[strcspn(path, "?#")] = '\0';
        struct served file = {0};
        int found = 0;
        pthread_mutex_lock(&s->lock);
        for (int i = 0; i < s->n_files; i++) {
            if (strcmp(s->files[i].path, path) == 0) {
                s->files[i].hits++;
                file = s->files[i];
                found = 1;
            }
        }
        pthread_mutex_unlock(&s->lock);
        char head[512];
        if (!found) {
            snprintf(head, sizeof(head), "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n"
                                         "Connection: close\r\n\r\nnot found");
            send_all(c->fd, head, strlen(head));
        } else if (file.how == SERVE_REDIRECT) {
            snprintf(head, sizeof(head), "HTTP/1.1 302 Found\r\nLocation: %s\r\n"
                     "Content-Length: 0\r\nConnection: close\r\n\r\n", file.location);
            send_all(c->fd, head, strlen(head));
        } else {
            if (file.how == SERVE_SLOW)
                for (int waited = 0; waited < SLOW_MS && !server_stopping(s); waited += 20)
                    nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
            snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n"
                     "Content-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
                     file.len);
            send_all(c->fd, head, strlen(head));
            if (file.how == SERVE_STALL) {
                send_all(c->fd, file.data, file.len / 2);
                hold_until_closed(s, c->fd);
            } else {
                send_all(c->fd, file.data, file.len);
            }
        }
    }
    close(c->fd);
    free(c);
    pthread_mutex_lock(&s->lock);
    s->connections--;
    pthread_cond_broadcast(&s->idle);
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

static void *server_main(void *arg)
{
    struct server *s = arg;
    while (!server_stopping(s)) {
        struct pollfd p = {s->fd, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0)
            continue;
        int fd = accept(s->fd, NULL, NULL);
        if (fd < 0)
            continue;
        struct conn *c = xmalloc(sizeof(*c));
        c->s = s;
        c->fd = fd;
        pthread_mutex_lock(&s->lock);
        s->connections++;
        pthread_mutex_unlock(&s->lock);
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &attr, conn_main, c) != 0) {
            close(fd);
            free(c);
            pthread_mutex_lock(&s->lock);
            s->connections--;
            pthread_mutex_unlock(&s->lock);
        }
        pthread_attr_destroy(&attr);
    }
    return NULL;
}

static void server_start(struct server *s)
{
    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->idle, NULL);
    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(s->fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(s->fd, 64), 0);
    socklen_t len = sizeof(sa);
    getsockname(s->fd, (struct sockaddr *)&sa, &len);
    s->port = ntohs(sa.sin_port);
    assert_int_equal(pthread_create(&s->thread, NULL, server_main, s), 0);
}

static void server_stop(struct server *s)
{
    pthread_mutex_lock(&s->lock);
    s->stop = 1;
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->thread, NULL);
    pthread_mutex_lock(&s->lock);
    while (s->connections > 0)
        pthread_cond_wait(&s->idle, &s->lock);
    pthread_mutex_unlock(&s->lock);
    close(s->fd);
    for (int i = 0; i < s->n_files; i++)
        free(s->files[i].data);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->idle);
}

/* Serves a copy of data at path. */
static void serve(struct server *s, const char *path, const void *data, size_t len,
                  enum serve_how how)
{
    pthread_mutex_lock(&s->lock);
    assert_true(s->n_files < (int)(sizeof(s->files) / sizeof(s->files[0])));
    struct served *f = &s->files[s->n_files++];
    snprintf(f->path, sizeof(f->path), "%s", path);
    f->data = xmemdup(data, len ? len : 1);
    f->len = len;
    f->how = how;
    pthread_mutex_unlock(&s->lock);
}

static void serve_redirect(struct server *s, const char *path, const char *location)
{
    serve(s, path, "", 0, SERVE_REDIRECT);
    pthread_mutex_lock(&s->lock);
    snprintf(s->files[s->n_files - 1].location, sizeof(s->files[0].location), "%s", location);
    pthread_mutex_unlock(&s->lock);
}

static int hits(struct server *s, const char *path)
{
    int n = 0;
    pthread_mutex_lock(&s->lock);
    for (int i = 0; i < s->n_files; i++)
        if (strcmp(s->files[i].path, path) == 0)
            n = s->files[i].hits;
    pthread_mutex_unlock(&s->lock);
    return n;
}

/* ---- archives, built with libarchive ---- */

enum entry_type { E_FILE, E_DIR, E_SYMLINK, E_HARDLINK };

struct entry {
    const char *name;
    enum entry_type type;
    const char *data;     /* a file's content, a link's target */
    int mode;             /* 0: 0644 (files), 0755 (dirs) */
};

struct blob {
    char *data;
    size_t len;
};

/* format: "tar", "zip" or "raw" (one file, for a lone .gz); filter: NULL,
 * "gzip", "bzip2" or "xz". */
static struct blob make_archive(const char *format, const char *filter, const struct entry *e,
                                size_t n)
{
    struct blob b = {xmalloc(4 << 20), 0};
    struct archive *a = archive_write_new();
    if (strcmp(format, "zip") == 0)
        archive_write_set_format_zip(a);
    else if (strcmp(format, "raw") == 0)
        archive_write_set_format_raw(a);
    else
        archive_write_set_format_pax_restricted(a);
    if (filter == NULL)
        archive_write_add_filter_none(a);
    else if (strcmp(filter, "gzip") == 0)
        archive_write_add_filter_gzip(a);
    else if (strcmp(filter, "bzip2") == 0)
        archive_write_add_filter_bzip2(a);
    else
        archive_write_add_filter_xz(a);
    assert_int_equal(archive_write_open_memory(a, b.data, 4 << 20, &b.len), ARCHIVE_OK);
    for (size_t i = 0; i < n; i++) {
        struct archive_entry *ae = archive_entry_new();
        archive_entry_set_pathname(ae, e[i].name);
        archive_entry_set_mtime(ae, 1700000000, 0);
        switch (e[i].type) {
        case E_FILE:
            archive_entry_set_filetype(ae, AE_IFREG);
            archive_entry_set_perm(ae, e[i].mode ? (mode_t)e[i].mode : 0644);
            archive_entry_set_size(ae, (la_int64_t)strlen(e[i].data));
            break;
        case E_DIR:
            archive_entry_set_filetype(ae, AE_IFDIR);
            archive_entry_set_perm(ae, 0755);
            break;
        case E_SYMLINK:
            archive_entry_set_filetype(ae, AE_IFLNK);
            archive_entry_set_perm(ae, 0777);
            archive_entry_set_symlink(ae, e[i].data);
            break;
        case E_HARDLINK:
            archive_entry_set_filetype(ae, AE_IFREG);
            archive_entry_set_perm(ae, 0644);
            archive_entry_set_hardlink(ae, e[i].data);
            break;
        }
        assert_true(archive_write_header(a, ae) >= ARCHIVE_WARN);
        if (e[i].type == E_FILE && strlen(e[i].data) > 0)
            assert_int_equal(archive_write_data(a, e[i].data, strlen(e[i].data)),
                             (la_ssize_t)strlen(e[i].data));
        archive_entry_free(ae);
    }
    assert_int_equal(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
    return b;
}

/* An archive holding "<dir>/hello.txt" = "hello from <dir>\n". */
static struct blob hello_archive(const char *format, const char *filter, const char *dir)
{
    char name[64], data[64];
    snprintf(name, sizeof(name), "%s/hello.txt", dir);
    snprintf(data, sizeof(data), "hello from %s\n", dir);
    struct entry e[] = {{dir, E_DIR, NULL, 0}, {name, E_FILE, data, 0}};
    return make_archive(format, filter, e, 2);
}

static void serve_blob(struct server *s, const char *path, struct blob b)
{
    serve(s, path, b.data, b.len, SERVE_OK);
    free(b.data);
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, len, fp), len);
    fclose(fp);
}

/* ---- fixture ---- */

struct fixture {
    struct h_cluster c;
    struct server srv;
    char outside[512];    /* a directory no fetch may write into */
};

static int start(void **state, const char *const *agent_flags)
{
    struct fixture *f = calloc(1, sizeof(*f));
    h_cluster_init(&f->c);
    h_start_master(&f->c, NULL);
    h_start_agent(&f->c, NULL, agent_flags);
    server_start(&f->srv);
    snprintf(f->outside, sizeof(f->outside), "%s/outside", f->c.root);
    mkdir(f->outside, 0777);
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return start(state, NULL);
}

/* Room for two of the 2 KiB files of the eviction test, not three. */
static int setup_small_cache(void **state)
{
    static const char *const flags[] = {"--fetcher_cache_size=5KB", NULL};
    return start(state, flags);
}

static int setup_stall_timeout(void **state)
{
    static const char *const flags[] = {"--fetcher_stall_timeout=1secs", NULL};
    return start(state, flags);
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    server_stop(&f->srv);
    h_cluster_destroy(&f->c);
    free(f);
    return 0;
}

/* ---- scheduler helpers ---- */

static void subscribe(struct fixture *f, struct h_sched *s, const char *framework_json)
{
    assert_int_equal(h_sched_subscribe(s, f->c.master.port, WIRE_JSON,
                                       framework_json ? framework_json
                                                      : h_framework_json("fetch", NULL)),
                     200);
}

static Tepui__Offer *next_offer(struct h_sched *s)
{
    Tepui__Scheduler__Event *ev = h_sched_next(s, T_OFFERS, EVENT_TIMEOUT);
    assert_non_null(ev);
    assert_int_equal(ev->offers->n_offers, 1);
    Tepui__Offer *o = PB_COPY(Tepui__Offer, ev->offers->offers[0]);
    pb_free(ev);
    return o;
}

static char *url(struct fixture *f, const char *path)
{
    return xasprintf("http://127.0.0.1:%d%s", f->srv.port, path);
}

/* A CommandInfo.URI; extract < 0 leaves the field out. Takes value. */
static json_t *uri(char *value, const char *output_file, int executable, int extract, int cache)
{
    json_t *u = json_pack("{s:s}", "value", value);
    free(value);
    if (output_file != NULL)
        json_object_set_new(u, "output_file", json_string(output_file));
    if (executable)
        json_object_set_new(u, "executable", json_true());
    if (extract >= 0)
        json_object_set_new(u, "extract", json_boolean(extract));
    if (cache)
        json_object_set_new(u, "cache", json_true());
    return u;
}

/* A command task on the offer's agent; takes uris (an array). */
static json_t *task(const Tepui__Offer *o, const char *id, const char *command, json_t *uris)
{
    return json_pack("{s:s,s:{s:s},s:{s:s},s:[{s:s,s:s,s:{s:f}},{s:s,s:s,s:{s:f}}],"
                     "s:{s:s,s:o}}",
                     "name", id, "task_id", "value", id, "agent_id", "value",
                     o->agent_id->value, "resources", "name", "cpus", "type", "SCALAR", "scalar",
                     "value", 0.1, "name", "mem", "type", "SCALAR", "scalar", "value", 32.0,
                     "command", "value", command, "uris", uris);
}

static int call(struct h_sched *s, json_t *c)
{
    char *text = json_dumps(c, JSON_COMPACT);
    json_decref(c);
    int rc = h_sched_call(s, text, NULL);
    free(text);
    return rc;
}

/* Accepts the offer launching the tasks (an array, taken). */
static void launch(struct h_sched *s, const Tepui__Offer *o, json_t *tasks)
{
    assert_int_equal(call(s, json_pack("{s:s,s:{s:[{s:s}],s:[{s:s,s:{s:o}}],s:{s:f}}}", "type",
                                       "ACCEPT", "accept", "offer_ids", "value", o->id->value,
                                       "operations", "type", "LAUNCH", "launch", "task_infos",
                                       tasks, "filters", "refuse_seconds", 0.0)),
                     202);
}

/* Acknowledges updates until task_id ends; returns its last status. */
static Tepui__TaskStatus *wait_terminal(struct h_sched *s, const char *task_id)
{
    double deadline = clock_mono() + EVENT_TIMEOUT;
    for (;;) {
        Tepui__Scheduler__Event *ev = h_sched_next(s, T_UPDATE, deadline - clock_mono());
        assert_non_null(ev);
        Tepui__TaskStatus *st = PB_COPY(Tepui__TaskStatus, ev->update->status);
        pb_free(ev);
        if (st->has_uuid)
            assert_int_equal(h_sched_ack(s, st), 202);
        if (strcmp(st->task_id->value, task_id) == 0 && task_state_is_terminal(st->state))
            return st;
        pb_free(st);
    }
}

/* Runs one task to its end on the next offer; returns its last status. */
static Tepui__TaskStatus *run(struct h_sched *s, const char *id, const char *command,
                              json_t *uris)
{
    Tepui__Offer *o = next_offer(s);
    launch(s, o, json_pack("[o]", task(o, id, command, uris)));
    pb_free(o);
    return wait_terminal(s, id);
}

static void expect_finished(struct h_sched *s, const char *id, const char *command, json_t *uris)
{
    Tepui__TaskStatus *st = run(s, id, command, uris);
    if (st->state != TEPUI__TASK_STATE__TASK_FINISHED)
        fprintf(stderr, "task %s ended %s: %s\n", id, task_state_name(st->state),
                st->message ? st->message : "");
    assert_int_equal(st->state, TEPUI__TASK_STATE__TASK_FINISHED);
    pb_free(st);
}

/* A file of the task's sandbox, through the agent's /files/read. */
static char *sandbox_read(struct fixture *f, const struct h_sched *s, const char *task_id,
                          const char *name)
{
    char *dir = h_agent_sandbox(&f->c, 0, s->framework_id, task_id);
    assert_non_null(dir);
    char *path = xasprintf("%s/%s", dir, name);
    char *data = h_agent_read_file(f->c.agents[0].port, path);
    if (data == NULL)
        fprintf(stderr, "cannot read %s through the agent\n", path);
    assert_non_null(data);
    free(path);
    free(dir);
    return data;
}

/* The task failed to fetch: TASK_FAILED, REASON_CONTAINER_LAUNCH_FAILED,
 * a message naming the URI and containing why; and the sandbox's stderr
 * (the fetcher's log) says the same. */
static void expect_fetch_failure(struct fixture *f, struct h_sched *s, const char *id,
                                 const char *uri_text, const char *why)
{
    Tepui__Offer *o = next_offer(s);
    launch(s, o, json_pack("[o]", task(o, id, "echo must not run", json_pack("[o]", uri(
                                           xstrdup(uri_text), NULL, 0, -1, 0)))));
    pb_free(o);
    Tepui__TaskStatus *st = wait_terminal(s, id);
    fprintf(stderr, "  %s: %s\n", id, st->message ? st->message : "(no message)");
    assert_int_equal(st->state, TEPUI__TASK_STATE__TASK_FAILED);
    assert_true(st->has_reason);
    assert_int_equal(st->reason, TEPUI__TASK_STATUS__REASON__REASON_CONTAINER_LAUNCH_FAILED);
    assert_int_equal(st->source, TEPUI__TASK_STATUS__SOURCE__SOURCE_AGENT);
    assert_non_null(st->message);
    assert_non_null(strstr(st->message, "Failed to fetch all URIs for container '"));
    assert_non_null(strstr(st->message, uri_text));
    if (why != NULL)
        assert_non_null(strstr(st->message, why));
    pb_free(st);
    char *log = sandbox_read(f, s, id, "stderr");
    assert_non_null(strstr(log, "Failed to fetch"));
    assert_non_null(strstr(log, uri_text));
    assert_null(strstr(log, "must not run"));
    free(log);
    char *out = sandbox_read(f, s, id, "stdout");
    assert_null(strstr(out, "must not run"));
    free(out);
}

static int dir_is_empty(const char *path)
{
    DIR *d = opendir(path);
    assert_non_null(d);
    int empty = 1;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
            fprintf(stderr, "unexpected %s/%s\n", path, de->d_name);
            empty = 0;
        }
    closedir(d);
    return empty;
}

/* ---- 1. what lands in the sandbox ---- */

static void plain_files_are_fetched_named_and_made_executable(void **state)
{
    struct fixture *f = *state;
    static const char tool[] = "#!/bin/sh\necho tool ran\n";
    static const char data[] = "some data\n";
    serve(&f->srv, "/tool.sh", tool, strlen(tool), SERVE_OK);
    serve(&f->srv, "/files/data.txt", data, strlen(data), SERVE_OK);
    serve_redirect(&f->srv, "/moved", "/files/data.txt");
    struct h_sched s;
    subscribe(f, &s, NULL);
    json_t *uris = json_pack("[o,o,o]", uri(url(f, "/tool.sh"), "bin/tool", 1, -1, 0),
                             uri(url(f, "/files/data.txt?version=3"), NULL, 0, -1, 0),
                             uri(url(f, "/moved"), "followed.txt", 0, -1, 0));
    expect_finished(&s, "plain", "./bin/tool && cat data.txt followed.txt && test ! -x data.txt",
                    uris);
    char *out = sandbox_read(f, &s, "plain", "stdout");
    assert_string_equal(out, "tool ran\nsome data\nsome data\n");
    free(out);
    /* The fetcher's log is in the sandbox too. */
    char *log = sandbox_read(f, &s, "plain", "stderr");
    assert_non_null(strstr(log, "Successfully fetched all URIs"));
    free(log);
    h_sched_close(&s);
}

static void every_archive_format_is_extracted(void **state)
{
    struct fixture *f = *state;
    static const struct {
        const char *path, *format, *filter, *dir;
    } archives[] = {
        {"/a.tar", "tar", NULL, "a"},       {"/b.tar.gz", "tar", "gzip", "b"},
        {"/c.tgz", "tar", "gzip", "c"},     {"/d.tar.bz2", "tar", "bzip2", "d"},
        {"/e.tbz2", "tar", "bzip2", "e"},   {"/f.tar.xz", "tar", "xz", "f"},
        {"/g.txz", "tar", "xz", "g"},       {"/h.zip", "zip", NULL, "h"},
        {"/j.tar.gz", "tar", "gzip", "j"},
    };
    json_t *uris = json_array();
    for (size_t i = 0; i < sizeof(archives) / sizeof(archives[0]); i++) {
        serve_blob(&f->srv, archives[i].path,
                   hello_archive(archives[i].format, archives[i].filter, archives[i].dir));
        /* j is not to be extracted. */
        json_array_append_new(uris, uri(url(f, archives[i].path), NULL, 0,
                                        strcmp(archives[i].dir, "j") == 0 ? 0 : -1, 0));
    }
    /* A lone .gz is decompressed beside itself; modes survive. */
    struct entry lone = {"i.txt", E_FILE, "hello from i\n", 0};
    serve_blob(&f->srv, "/i.txt.gz", make_archive("raw", "gzip", &lone, 1));
    json_array_append_new(uris, uri(url(f, "/i.txt.gz"), NULL, 0, -1, 0));
    struct entry tool[] = {{"k", E_DIR, NULL, 0},
                           {"k/run.sh", E_FILE, "#!/bin/sh\necho k ran\n", 0755},
                           {"k/link", E_SYMLINK, "run.sh", 0},
                           {"k/hard", E_HARDLINK, "k/run.sh", 0}};
    serve_blob(&f->srv, "/k.tar.gz", make_archive("tar", "gzip", tool, 4));
    json_array_append_new(uris, uri(url(f, "/k.tar.gz"), NULL, 0, -1, 0));

    struct h_sched s;
    subscribe(f, &s, NULL);
    expect_finished(&s, "archives",
                    "cat a/hello.txt b/hello.txt c/hello.txt d/hello.txt e/hello.txt "
                    "f/hello.txt g/hello.txt h/hello.txt i.txt && k/link && "
                    "test -f b.tar.gz -a -f i.txt.gz -a -f j.tar.gz -a ! -e j -a -x k/hard",
                    uris);
    char *out = sandbox_read(f, &s, "archives", "stdout");
    assert_string_equal(out, "hello from a\nhello from b\nhello from c\nhello from d\n"
                             "hello from e\nhello from f\nhello from g\nhello from h\n"
                             "hello from i\nk ran\n");
    free(out);
    h_sched_close(&s);
}

static void file_uris_and_absolute_paths_are_copied(void **state)
{
    struct fixture *f = *state;
    char dir[600], path[700];
    snprintf(dir, sizeof(dir), "%s/local", f->c.root);
    mkdir(dir, 0755);
    struct blob b = hello_archive("tar", "gzip", "loc");
    snprintf(path, sizeof(path), "%s/loc.tar.gz", dir);
    write_file(path, b.data, b.len);
    free(b.data);
    snprintf(path, sizeof(path), "%s/plain.txt", dir);
    write_file(path, "plain\n", 6);

    struct h_sched s;
    subscribe(f, &s, NULL);
    json_t *uris = json_pack("[o,o,o]", uri(xasprintf("file://%s/loc.tar.gz", dir), NULL, 0, -1, 0),
                             uri(xasprintf("%s/plain.txt", dir), NULL, 0, -1, 0),
                             uri(xasprintf("file://localhost%s/plain.txt", dir), "again.txt", 0,
                                 -1, 1));
    expect_finished(&s, "local", "cat loc/hello.txt plain.txt again.txt", uris);
    char *out = sandbox_read(f, &s, "local", "stdout");
    assert_string_equal(out, "hello from loc\nplain\nplain\n");
    free(out);
    h_sched_close(&s);
}

static const char *thread_executor(void)
{
    static char path[600];
    const char *dir = getenv("TEPUI_BUILD_DIR");
    char rel[500];
    snprintf(rel, sizeof(rel), "%s/examples/thread_executor", dir ? dir : "build");
    if (realpath(rel, path) == NULL)
        snprintf(path, sizeof(path), "%s", rel);
    return path;
}

/* A task for a custom executor that runs ./bin/executor, fetched from
 * executor_uri (taken). */
static json_t *executor_task(const Tepui__Offer *o, const char *id, char *executor_uri)
{
    json_t *uris = json_pack("[o]", uri(executor_uri, "bin/executor", 1, -1, 0));
    return json_pack("{s:s,s:{s:s},s:{s:s},s:s,s:[{s:s,s:s,s:{s:f}}],"
                     "s:{s:{s:s},s:s,s:{s:s,s:b,s:o},s:[{s:s,s:s,s:{s:f}}]}}",
                     "name", id, "task_id", "value", id, "agent_id", "value", o->agent_id->value,
                     "data", "ZG9uZQ==" /* "done" */, "resources", "name", "cpus", "type",
                     "SCALAR", "scalar", "value", 0.1, "executor", "executor_id", "value", id,
                     "type", "CUSTOM", "command", "value", "./bin/executor", "shell", 0, "uris",
                     uris, "resources", "name", "cpus", "type", "SCALAR", "scalar", "value", 0.1);
}

static void custom_executor_is_fetched_from_its_uris(void **state)
{
    struct fixture *f = *state;
    struct h_sched s;
    subscribe(f, &s, NULL);
    Tepui__Offer *o = next_offer(&s);
    launch(&s, o, json_pack("[o]", executor_task(o, "fetched", xstrdup(thread_executor()))));
    pb_free(o);
    Tepui__TaskStatus *st = wait_terminal(&s, "fetched");
    if (st->state != TEPUI__TASK_STATE__TASK_FINISHED)
        fprintf(stderr, "fetched: %s\n", st->message ? st->message : "");
    assert_int_equal(st->state, TEPUI__TASK_STATE__TASK_FINISHED);
    pb_free(st);

    /* Its tasks fail when the executor cannot be fetched. */
    o = next_offer(&s);
    char *missing = url(f, "/no-executor");
    launch(&s, o, json_pack("[o]", executor_task(o, "unfetched", xstrdup(missing))));
    pb_free(o);
    st = wait_terminal(&s, "unfetched");
    assert_int_equal(st->state, TEPUI__TASK_STATE__TASK_FAILED);
    assert_int_equal(st->reason, TEPUI__TASK_STATUS__REASON__REASON_CONTAINER_LAUNCH_FAILED);
    assert_non_null(strstr(st->message, missing));
    pb_free(st);
    free(missing);
    h_sched_close(&s);
}

/* ---- 2. the cache ---- */

static int count_cache_files(struct fixture *f)
{
    char cache[700];
    snprintf(cache, sizeof(cache), "%s/fetch", f->c.agents[0].dir);
    DIR *d = opendir(cache);
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        n += de->d_name[0] == 'c';
    closedir(d);
    return n;
}

static void remove_cache_files(struct fixture *f)
{
    char cache[700];
    snprintf(cache, sizeof(cache), "%s/fetch", f->c.agents[0].dir);
    DIR *d = opendir(cache);
    assert_non_null(d);
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (de->d_name[0] == 'c')
            assert_int_equal(unlinkat(dirfd(d), de->d_name, 0), 0);
    closedir(d);
}

static void cached_uri_is_downloaded_once(void **state)
{
    struct fixture *f = *state;
    serve_blob(&f->srv, "/cached.tar.gz", hello_archive("tar", "gzip", "cached"));
    serve(&f->srv, "/uncached.txt", "u\n", 2, SERVE_OK);
    struct h_sched s;
    subscribe(f, &s, NULL);
    for (int i = 0; i < 3; i++) {
        char id[32];
        snprintf(id, sizeof(id), "cache-%d", i);
        json_t *uris = json_pack("[o,o]", uri(url(f, "/cached.tar.gz"), NULL, 0, -1, 1),
                                 uri(url(f, "/uncached.txt"), NULL, 0, -1, 0));
        /* From the cache only the extracted files come (as Mesos). */
        expect_finished(&s, id, "cat cached/hello.txt uncached.txt && test ! -e cached.tar.gz",
                        uris);
        char *out = sandbox_read(f, &s, id, "stdout");
        assert_string_equal(out, "hello from cached\nu\n");
        free(out);
    }
    assert_int_equal(hits(&f->srv, "/cached.tar.gz"), 1);
    assert_int_equal(hits(&f->srv, "/uncached.txt"), 3);
    /* As Mesos's containerizer/fetcher metrics. */
    int port = f->c.agents[0].port;
    assert_true(h_metric(port, "containerizer/fetcher/task_fetches_succeeded") == 3);
    assert_true(h_metric(port, "containerizer/fetcher/task_fetches_failed") == 0);
    assert_true(h_metric(port, "containerizer/fetcher/cache_size_total_bytes") ==
                2.0 * 1024 * 1024 * 1024);
    assert_true(h_metric(port, "containerizer/fetcher/cache_size_used_bytes") > 0);

    /* A cache file removed by hand: the task still gets the URI (fetched
     * again), and the next one caches it anew. */
    assert_int_equal(count_cache_files(f), 1);
    remove_cache_files(f);
    for (int i = 3; i < 5; i++) {
        char id[32];
        snprintf(id, sizeof(id), "cache-%d", i);
        expect_finished(&s, id, "cat cached/hello.txt",
                        json_pack("[o]", uri(url(f, "/cached.tar.gz"), NULL, 0, -1, 1)));
        assert_int_equal(hits(&f->srv, "/cached.tar.gz"), i - 1);
    }
    assert_int_equal(count_cache_files(f), 1);
    /* Nobody but the agent reads the cache. */
    char cache[700];
    snprintf(cache, sizeof(cache), "%s/fetch", f->c.agents[0].dir);
    struct stat st;
    assert_int_equal(stat(cache, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    h_sched_close(&s);
}

static void tasks_fetching_one_uri_together_share_one_download(void **state)
{
    struct fixture *f = *state;
    char big[64 * 1024];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (char)('a' + i % 26);
    serve(&f->srv, "/slow.bin", big, sizeof(big), SERVE_SLOW);
    struct h_sched s;
    subscribe(f, &s, NULL);
    Tepui__Offer *o = next_offer(&s);
    json_t *tasks = json_array();
    for (int i = 0; i < 3; i++) {
        char id[32];
        snprintf(id, sizeof(id), "together-%d", i);
        json_array_append_new(tasks, task(o, id, "test $(wc -c < slow.bin) -eq 65536",
                                          json_pack("[o]", uri(url(f, "/slow.bin"), NULL, 0, -1,
                                                               1))));
    }
    launch(&s, o, tasks);
    pb_free(o);
    int finished = 0;
    double deadline = clock_mono() + EVENT_TIMEOUT;
    while (finished < 3) {
        Tepui__Scheduler__Event *ev = h_sched_next(&s, T_UPDATE, deadline - clock_mono());
        assert_non_null(ev);
        Tepui__TaskStatus *st = ev->update->status;
        if (st->has_uuid)
            assert_int_equal(h_sched_ack(&s, st), 202);
        if (task_state_is_terminal(st->state)) {
            if (st->state != TEPUI__TASK_STATE__TASK_FINISHED)
                fprintf(stderr, "%s: %s\n", st->task_id->value, st->message ? st->message : "");
            assert_int_equal(st->state, TEPUI__TASK_STATE__TASK_FINISHED);
            finished++;
        }
        pb_free(ev);
    }
    assert_int_equal(hits(&f->srv, "/slow.bin"), 1);
    h_sched_close(&s);
}

static void fetch_cached(struct fixture *f, struct h_sched *s, const char *id, const char *name)
{
    char path[64], cmd[128];
    snprintf(path, sizeof(path), "/%s.bin", name);
    snprintf(cmd, sizeof(cmd), "test $(wc -c < %s.bin) -eq 2048", name);
    expect_finished(s, id, cmd, json_pack("[o]", uri(url(f, path), NULL, 0, -1, 1)));
}

static void cache_evicts_the_least_recently_used_beyond_its_size(void **state)
{
    struct fixture *f = *state;
    char data[2048];
    for (int k = 0; k < 3; k++) {
        memset(data, 'A' + k, sizeof(data));
        char path[16];
        snprintf(path, sizeof(path), "/%c.bin", 'A' + k);
        serve(&f->srv, path, data, sizeof(data), SERVE_OK);
    }
    struct h_sched s;
    subscribe(f, &s, NULL);
    fetch_cached(f, &s, "t1", "A");   /* [A] */
    fetch_cached(f, &s, "t2", "B");   /* [A B] */
    fetch_cached(f, &s, "t3", "A");   /* [B A]: from the cache */
    assert_int_equal(hits(&f->srv, "/A.bin"), 1);
    assert_int_equal(hits(&f->srv, "/B.bin"), 1);
    fetch_cached(f, &s, "t4", "C");   /* [B A C] is 6 KiB: B goes */
    assert_int_equal(count_cache_files(f), 2);
    fetch_cached(f, &s, "t5", "A");   /* [C A]: A stayed, though older than B */
    assert_int_equal(hits(&f->srv, "/A.bin"), 1);
    fetch_cached(f, &s, "t6", "B");   /* downloaded again; [C A B]: C goes */
    assert_int_equal(hits(&f->srv, "/B.bin"), 2);
    fetch_cached(f, &s, "t7", "A");
    assert_int_equal(hits(&f->srv, "/A.bin"), 1);
    fetch_cached(f, &s, "t8", "C");
    assert_int_equal(hits(&f->srv, "/C.bin"), 2);
    assert_int_equal(count_cache_files(f), 2);
    h_sched_close(&s);
}

/* ---- 3. failures ---- */

static void unreachable_or_missing_uris_fail_the_task(void **state)
{
    struct fixture *f = *state;
    /* A port nobody listens on. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    socklen_t len = sizeof(sa);
    getsockname(fd, (struct sockaddr *)&sa, &len);
    close(fd);

    struct h_sched s;
    subscribe(f, &s, NULL);
    char *missing = url(f, "/missing.tar.gz");
    expect_fetch_failure(f, &s, "missing", missing, "404");
    free(missing);
    char *refused = xasprintf("http://127.0.0.1:%d/x.txt", ntohs(sa.sin_port));
    expect_fetch_failure(f, &s, "refused", refused, NULL);
    free(refused);
    char nothing[700];
    snprintf(nothing, sizeof(nothing), "%s/no-such-file", f->c.root);
    expect_fetch_failure(f, &s, "no-file", nothing, "No such file");
    expect_fetch_failure(f, &s, "relative", "relative/path.txt", "relative path");
    /* Cached or not. */
    missing = url(f, "/missing-cached.txt");
    Tepui__TaskStatus *st = run(&s, "missing-cached", "true",
                                json_pack("[o]", uri(xstrdup(missing), NULL, 0, -1, 1)));
    assert_int_equal(st->state, TEPUI__TASK_STATE__TASK_FAILED);
    assert_non_null(strstr(st->message, missing));
    pb_free(st);
    free(missing);
    assert_true(h_metric(f->c.agents[0].port, "containerizer/fetcher/task_fetches_failed") == 5);
    /* The agent goes on serving. */
    expect_finished(&s, "after", "echo fine", json_array());
    h_sched_close(&s);
}

static void stalled_download_fails_after_the_stall_timeout(void **state)
{
    struct fixture *f = *state;
    char data[4096];
    memset(data, 's', sizeof(data));
    serve(&f->srv, "/stall.bin", data, sizeof(data), SERVE_STALL);
    struct h_sched s;
    subscribe(f, &s, NULL);
    char *stall = url(f, "/stall.bin");
    double t0 = clock_mono();
    expect_fetch_failure(f, &s, "stalled", stall, "stalled");
    assert_true(clock_mono() - t0 < 20);
    free(stall);
    h_sched_close(&s);
}

static void truncated_archive_fails_the_task(void **state)
{
    struct fixture *f = *state;
    char content[32 * 1024];
    for (size_t i = 0; i < sizeof(content) - 1; i++)
        content[i] = (char)('a' + (i * 7919) % 26);
    content[sizeof(content) - 1] = '\0';
    struct entry e[] = {{"big.txt", E_FILE, content, 0}};
    struct blob b = make_archive("tar", "gzip", e, 1);
    serve(&f->srv, "/truncated.tar.gz", b.data, b.len / 2, SERVE_OK);
    free(b.data);
    serve(&f->srv, "/garbage.zip", "this is not a zip file", 22, SERVE_OK);
    struct h_sched s;
    subscribe(f, &s, NULL);
    char *u = url(f, "/truncated.tar.gz");
    expect_fetch_failure(f, &s, "truncated", u, "Failed to extract 'truncated.tar.gz'");
    free(u);
    u = url(f, "/garbage.zip");
    expect_fetch_failure(f, &s, "garbage", u, "Failed to extract 'garbage.zip'");
    free(u);
    h_sched_close(&s);
}

static void malicious_archives_fail_and_write_nothing_outside(void **state)
{
    struct fixture *f = *state;
    char deep[800], abs_path[700];
    snprintf(deep, sizeof(deep), "../../../../../../../../../../../../../../..%s/deep",
             f->outside);
    snprintf(abs_path, sizeof(abs_path), "%s/absolute", f->outside);
    struct entry dotdot[] = {{"fine.txt", E_FILE, "fine\n", 0}, {"../escape", E_FILE, "x", 0}};
    struct entry deep_dotdot[] = {{deep, E_FILE, "x", 0}};
    struct entry absolute[] = {{abs_path, E_FILE, "x", 0}};
    struct entry symlink_out[] = {{"link", E_SYMLINK, f->outside, 0},
                                  {"link/through", E_FILE, "x", 0}};
    /* Alone each link stays inside; together "up" leads to the parent. */
    struct entry chained[] = {{"here", E_SYMLINK, ".", 0}, {"up", E_SYMLINK, "here/..", 0}};
    struct entry hardlink[] = {{"pw", E_HARDLINK, "/etc/passwd", 0}};
    struct entry zipslip[] = {{"../zipslip", E_FILE, "x", 0}};
    serve_blob(&f->srv, "/dotdot.tar.gz", make_archive("tar", "gzip", dotdot, 2));
    serve_blob(&f->srv, "/deep.tar", make_archive("tar", NULL, deep_dotdot, 1));
    serve_blob(&f->srv, "/absolute.tar.bz2", make_archive("tar", "bzip2", absolute, 1));
    serve_blob(&f->srv, "/symlink.tar.gz", make_archive("tar", "gzip", symlink_out, 2));
    serve_blob(&f->srv, "/chained.tar.xz", make_archive("tar", "xz", chained, 2));
    serve_blob(&f->srv, "/hardlink.tgz", make_archive("tar", "gzip", hardlink, 1));
    serve_blob(&f->srv, "/zipslip.zip", make_archive("zip", NULL, zipslip, 1));
    static const struct {
        const char *id, *path, *why;
    } cases[] = {
        {"dotdot", "/dotdot.tar.gz", "'../escape'"},
        {"deep", "/deep.tar", "climbs out of the sandbox"},
        {"absolute", "/absolute.tar.bz2", "absolute path"},
        {"symlink", "/symlink.tar.gz", "'link' is a symlink"},
        {"chained", "/chained.tar.xz", "'up' is a symlink leading outside"},
        {"hardlink", "/hardlink.tgz", "hard link"},
        {"zipslip", "/zipslip.zip", "'../zipslip'"},
    };
    struct h_sched s;
    subscribe(f, &s, NULL);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *u = url(f, cases[i].path);
        expect_fetch_failure(f, &s, cases[i].id, u, cases[i].why);
        free(u);
        /* Nothing beside the sandbox either ("../x" from it). */
        char *dir = h_agent_sandbox(&f->c, 0, s.framework_id, cases[i].id);
        char *beside = xasprintf("%s/../escape", dir);
        char *beside2 = xasprintf("%s/../zipslip", dir);
        struct stat st;
        assert_int_not_equal(lstat(beside, &st), 0);
        assert_int_not_equal(lstat(beside2, &st), 0);
        /* No link out stays behind. */
        char *up = xasprintf("%s/up", dir);
        char *link = xasprintf("%s/link", dir);
        assert_int_not_equal(lstat(up, &st), 0);
        assert_int_not_equal(lstat(link, &st), 0);
        free(up);
        free(link);
        free(beside);
        free(beside2);
        free(dir);
    }
    assert_true(dir_is_empty(f->outside));
    expect_finished(&s, "after", "echo fine", json_array());
    h_sched_close(&s);
}

/* ---- 4. kills, users ---- */

static int stall_requested(void *arg)
{
    return hits(arg, "/stall.bin") > 0;
}

/* Whether a tepui-fetcher child of the agent is alive (zombies aside). */
static int fetcher_alive(pid_t agent)
{
    DIR *d = opendir("/proc");
    assert_non_null(d);
    int alive = 0;
    struct dirent *de;
    while (!alive && (de = readdir(d)) != NULL) {
        char path[300], buf[512];
        snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
        int fd = open(path, O_RDONLY);
        if (fd < 0)
            continue;
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n <= 0)
            continue;
        buf[n] = '\0';
        char *rp = strrchr(buf, ')');
        char *lp = strchr(buf, '(');
        char state = 0;
        int ppid = 0;
        if (rp == NULL || lp == NULL || sscanf(rp + 1, " %c %d", &state, &ppid) != 2)
            continue;
        alive = ppid == agent && strncmp(lp + 1, "tepui-fetcher", (size_t)(rp - lp - 1)) == 0 &&
                state != 'Z';
    }
    closedir(d);
    return alive;
}

static int no_fetcher(void *arg)
{
    return !fetcher_alive(*(pid_t *)arg);
}

static void kill_during_fetch_kills_the_fetcher(void **state)
{
    struct fixture *f = *state;
    char data[4096];
    memset(data, 'k', sizeof(data));
    serve(&f->srv, "/stall.bin", data, sizeof(data), SERVE_STALL);
    struct h_sched s;
    subscribe(f, &s, NULL);
    Tepui__Offer *o = next_offer(&s);
    launch(&s, o, json_pack("[o]", task(o, "doomed", "echo must not run",
                                        json_pack("[o]", uri(url(f, "/stall.bin"), NULL, 0, -1,
                                                             0)))));
    assert_true(h_wait_until(stall_requested, &f->srv, EVENT_TIMEOUT));
    assert_true(fetcher_alive(f->c.agents[0].pid));
    assert_int_equal(call(&s, json_pack("{s:s,s:{s:{s:s},s:{s:s}}}", "type", "KILL", "kill",
                                        "task_id", "value", "doomed", "agent_id", "value",
                                        o->agent_id->value)),
                     202);
    pb_free(o);
    Tepui__TaskStatus *st = wait_terminal(&s, "doomed");
    assert_int_equal(st->state, TEPUI__TASK_STATE__TASK_KILLED);
    pb_free(st);
    assert_true(h_wait_until(no_fetcher, &f->c.agents[0].pid, EVENT_TIMEOUT));
    char *out = sandbox_read(f, &s, "doomed", "stdout");
    assert_null(strstr(out, "must not run"));
    free(out);
    expect_finished(&s, "after", "echo fine", json_array());
    h_sched_close(&s);
}

static int server_idle(void *arg)
{
    struct server *srv = arg;
    pthread_mutex_lock(&srv->lock);
    int idle = srv->connections == 0;
    pthread_mutex_unlock(&srv->lock);
    return idle;
}

static int stall_requested_twice(void *arg)
{
    return hits(arg, "/stall.bin") > 1;
}

/* A fetch waiting for another's download into the cache is killed without
 * a fetcher of its own; a framework's teardown kills the download; an
 * agent stopped while a fetch runs exits cleanly. */
static void waiting_fetch_teardown_and_agent_stop_end_cleanly(void **state)
{
    struct fixture *f = *state;
    char data[4096];
    memset(data, 'w', sizeof(data));
    serve(&f->srv, "/stall.bin", data, sizeof(data), SERVE_STALL);
    struct h_sched s;
    subscribe(f, &s, NULL);
    Tepui__Offer *o = next_offer(&s);
    json_t *tasks = json_array();
    json_array_append_new(tasks, task(o, "downloader", "true",
                                      json_pack("[o]", uri(url(f, "/stall.bin"), NULL, 0, -1, 1))));
    json_array_append_new(tasks, task(o, "waiter", "true",
                                      json_pack("[o]", uri(url(f, "/stall.bin"), NULL, 0, -1, 1))));
    launch(&s, o, tasks);
    assert_true(h_wait_until(stall_requested, &f->srv, EVENT_TIMEOUT));
    assert_int_equal(call(&s, json_pack("{s:s,s:{s:{s:s},s:{s:s}}}", "type", "KILL", "kill",
                                        "task_id", "value", "waiter", "agent_id", "value",
                                        o->agent_id->value)),
                     202);
    pb_free(o);
    Tepui__TaskStatus *st = wait_terminal(&s, "waiter");
    assert_int_equal(st->state, TEPUI__TASK_STATE__TASK_KILLED);
    pb_free(st);
    /* The download went on, alone. */
    assert_int_equal(hits(&f->srv, "/stall.bin"), 1);
    assert_true(fetcher_alive(f->c.agents[0].pid));
    assert_int_equal(call(&s, json_pack("{s:s}", "type", "TEARDOWN")), 202);
    assert_true(h_wait_until(no_fetcher, &f->c.agents[0].pid, EVENT_TIMEOUT));
    h_sched_close(&s);

    /* Another framework's fetch is under way when the agent stops
     * (teardown checks that it exits 0, without leaks). */
    struct h_sched s2;
    subscribe(f, &s2, h_framework_json("fetch-2", NULL));
    o = next_offer(&s2);
    launch(&s2, o, json_pack("[o]", task(o, "left", "true",
                                         json_pack("[o]", uri(url(f, "/stall.bin"), NULL, 0, -1,
                                                              1)))));
    pb_free(o);
    assert_true(h_wait_until(stall_requested_twice, &f->srv, EVENT_TIMEOUT));
    int status = h_stop(&f->c.agents[0], SIGTERM);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        h_dump_logs(&f->c);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* Its fetcher went with it (its connection is closed). */
    assert_true(h_wait_until(server_idle, &f->srv, EVENT_TIMEOUT));
    h_sched_close(&s2);
}

static void fetched_files_belong_to_the_tasks_user(void **state)
{
    struct fixture *f = *state;
    if (geteuid() != 0) {
        fprintf(stderr, "skipped: switching users needs the agent to run as root\n");
        skip();
    }
    /* Another user must be able to reach the sandbox, as under /var/lib. */
    assert_int_equal(chmod(f->c.root, 0755), 0);
    serve(&f->srv, "/data.txt", "data\n", 5, SERVE_OK);
    serve(&f->srv, "/cached.txt", "cached\n", 7, SERVE_OK);
    serve_blob(&f->srv, "/u.tar.gz", hello_archive("tar", "gzip", "u"));
    /* A file only root may read: the fetcher reads local files as the user. */
    char secret[700];
    snprintf(secret, sizeof(secret), "%s/secret.txt", f->c.root);
    write_file(secret, "secret\n", 7);
    assert_int_equal(chmod(secret, 0600), 0);

    struct h_sched s;
    subscribe(f, &s, "{\"user\":\"nobody\",\"name\":\"fetch-as-nobody\"}");
    json_t *uris = json_pack("[o,o,o]", uri(url(f, "/data.txt"), NULL, 0, -1, 0),
                             uri(url(f, "/cached.txt"), NULL, 0, -1, 1),
                             uri(url(f, "/u.tar.gz"), NULL, 0, -1, 1));
    expect_finished(&s, "owned", "stat -c %U data.txt cached.txt u u/hello.txt", uris);
    char *out = sandbox_read(f, &s, "owned", "stdout");
    assert_string_equal(out, "nobody\nnobody\nnobody\nnobody\n");
    free(out);
    expect_fetch_failure(f, &s, "secret", secret, "Permission denied");
    h_sched_close(&s);
}

#define TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(plain_files_are_fetched_named_and_made_executable),
        TEST(every_archive_format_is_extracted),
        TEST(file_uris_and_absolute_paths_are_copied),
        TEST(custom_executor_is_fetched_from_its_uris),
        TEST(cached_uri_is_downloaded_once),
        TEST(tasks_fetching_one_uri_together_share_one_download),
        cmocka_unit_test_setup_teardown(cache_evicts_the_least_recently_used_beyond_its_size,
                                        setup_small_cache, teardown),
        TEST(unreachable_or_missing_uris_fail_the_task),
        cmocka_unit_test_setup_teardown(stalled_download_fails_after_the_stall_timeout,
                                        setup_stall_timeout, teardown),
        TEST(truncated_archive_fails_the_task),
        TEST(malicious_archives_fail_and_write_nothing_outside),
        TEST(kill_during_fetch_kills_the_fetcher),
        TEST(waiting_fetch_teardown_and_agent_stop_end_cleanly),
        TEST(fetched_files_belong_to_the_tasks_user),
    };
    if (getenv("TEST_FILTER"))
        cmocka_set_test_filter(getenv("TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
