/* RENDLER (frameworks/rendler/) end to end: the test serves a small site on
 * loopback (pages that link each other, a broken link, a page that fails
 * once, a link off the allowed host, a page past the depth limit) and runs
 * rendler-scheduler against a real master and agent. The executors reach
 * the agent only through the fetcher (the scheduler serves them as an
 * archive). It checks which pages were fetched and how often, the exact
 * edges of graph.dot, graph.png, the screenshots (when Chromium can start
 * here; otherwise that part is skipped, saying why), retries, the
 * executors' sandboxes and that they ended cleanly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/xalloc.h"
#include "harness.h"
#include "http/server.h"

/* The whole crawl, Chromium included, under the sanitizers on two cores. */
#define SCHEDULER_TIMEOUT 150.0
#define CAPTURE_BYTES (512 * 1024)

/* ---- the site ---- */

#define MAX_HITS 64

struct hit {
    char path[256];
    int crawler;     /* by RENDLER's crawl executor (its User-Agent) */
    int browser;     /* by anything else: Chromium */
};

struct site {
    struct event_base *base;
    pthread_t thread;
    struct http_server *http;      /* the site, on 127.0.0.1:port */
    struct http_server *external;  /* another host: never to be crawled */
    int port, external_port;
    pthread_mutex_t lock;
    struct hit hits[MAX_HITS];
    int n_hits;
    int external_hits;
    int flaky_failed;              /* /blog/post1.html answered 500 once */
    const char *root;              /* the cluster's directory: its executors run below */
    int kill_first_crawl;          /* the first crawl of / kills its executor */
    int killed_executors;
};

static struct hit *hit_get(struct site *s, const char *path)
{
    for (int i = 0; i < s->n_hits; i++)
        if (strcmp(s->hits[i].path, path) == 0)
            return &s->hits[i];
    if (s->n_hits == MAX_HITS)
        return NULL;
    struct hit *h = &s->hits[s->n_hits++];
    snprintf(h->path, sizeof(h->path), "%s", path);
    return h;
}

static int hits(struct site *s, const char *path, int crawler)
{
    pthread_mutex_lock(&s->lock);
    int n = 0;
    for (int i = 0; i < s->n_hits; i++)
        if (strcmp(s->hits[i].path, path) == 0)
            n = crawler ? s->hits[i].crawler : s->hits[i].browser;
    pthread_mutex_unlock(&s->lock);
    return n;
}

/* The page at path (with its query), or NULL for a 404. */
static char *page_body(struct site *s, const char *path)
{
    int q = s->external_port;
    if (strcmp(path, "/") == 0)
        return xasprintf(
            "<!DOCTYPE html><html><head><title>Home</title></head><body>"
            "<h1>RENDLER test site</h1>"
            "<a href=\"/about.html\">About</a> <a href=\"blog/\">Blog</a>"
            " <a href=\"/about.html#team\">Team</a>"
            " <a href=\"http://127.0.0.1:%d/elsewhere.html\">Elsewhere</a>"
            " <a href=\"mailto:someone@example.com\">Mail</a>"
            "<!-- <a href=\"/commented.html\">old</a> -->"
            "</body></html>",
            q);
    if (strcmp(path, "/about.html") == 0)
        return xstrdup("<html><body><h1>About</h1>"
                       "<a href=\"/\">Home</a> <a href=\"blog/post1.html\">First post</a>"
                       " <a href=\"missing.html\">A page that is gone</a></body></html>");
    if (strcmp(path, "/blog/") == 0)
        return xstrdup("<html><body><h1>Blog</h1>"
                       "<a href=\"post1.html\">First</a> <a href=\"../about.html\">About</a>"
                       " <a href=\"post2.html?x=1&amp;y=2\">Second</a>"
                       "<script>var s = '<a href=\"/scripted.html\">';</script></body></html>");
    if (strcmp(path, "/blog/post1.html") == 0)
        return xstrdup("<html><body><h1>First post</h1>"
                       "<A HREF='/blog/'>Blog</A> <a href=./post2.html?x=1&y=2#comments>Next</a>"
                       "</body></html>");
    if (strcmp(path, "/blog/post2.html?x=1&y=2") == 0)
        return xasprintf("<html><head><base href=\"/blog/\"></head><body><h1>Second post</h1>"
                         "<a href=\"/\">Home</a> <a href=\"HTTP://127.0.0.1:%d/about.html\">About</a>"
                         " <a href=\"/deep.html\">Deeper</a> <a href=\"javascript:void(0)\">JS</a>"
                         "</body></html>",
                         s->port);
    if (strcmp(path, "/deep.html") == 0)
        return xstrdup("<html><body><h1>Too deep</h1><a href=\"/\">Home</a></body></html>");
    return NULL;
}

/* Kills the crawl executors running in the cluster's sandboxes (found in
 * /proc by their program name and working directory), as a crash would. */
static int kill_crawl_executors(const char *root)
{
    int killed = 0;
    DIR *d = opendir("/proc");
    struct dirent *de;
    while (d != NULL && (de = readdir(d)) != NULL) {
        char *end = NULL;
        long pid = strtol(de->d_name, &end, 10);
        if (end == de->d_name || *end != '\0')
            continue;
        char path[64], cmd[256] = "", cwd[1024] = "";
        snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
        FILE *fp = fopen(path, "r");
        if (fp == NULL)
            continue;
        size_t n = fread(cmd, 1, sizeof(cmd) - 1, fp);
        fclose(fp);
        cmd[n] = '\0';
        snprintf(path, sizeof(path), "/proc/%ld/cwd", pid);
        ssize_t len = readlink(path, cwd, sizeof(cwd) - 1);
        if (len <= 0)
            continue;
        cwd[len] = '\0';
        const char *name = strrchr(cmd, '/');
        name = name ? name + 1 : cmd;
        if (strcmp(name, "rendler-crawl-executor") == 0 &&
            strncmp(cwd, root, strlen(root)) == 0 && kill((pid_t)pid, SIGKILL) == 0)
            killed++;
    }
    if (d != NULL)
        closedir(d);
    return killed;
}

static void serve_site(struct http_request *req, void *arg)
{
    struct site *s = arg;
    const char *ua = http_request_header(req, "User-Agent");
    int crawler = ua != NULL && strstr(ua, "RENDLER-crawler") != NULL;
    char *path = xasprintf("%s%s%s", req->path, req->query ? "?" : "", req->query ? req->query : "");
    pthread_mutex_lock(&s->lock);
    struct hit *h = hit_get(s, path);
    if (h != NULL) {
        if (crawler)
            h->crawler++;
        else
            h->browser++;
    }
    /* The first crawl of this page fails as an overloaded server would. */
    int fail = crawler && strcmp(path, "/blog/post1.html") == 0 && !s->flaky_failed;
    if (fail)
        s->flaky_failed = 1;
    /* The executor fetching the start page dies, as if it had crashed. */
    if (crawler && strcmp(path, "/") == 0 && s->kill_first_crawl) {
        s->kill_first_crawl = 0;
        s->killed_executors = kill_crawl_executors(s->root);
    }
    pthread_mutex_unlock(&s->lock);
    char *body = fail ? NULL : page_body(s, path);
    if (fail)
        http_respond(req, 500, "text/plain", "try again later\n", 16);
    else if (body == NULL)
        http_respond(req, 404, "text/plain", "no such page\n", 13);
    else
        http_respond(req, 200, "text/html; charset=utf-8", body, strlen(body));
    free(body);
    free(path);
}

static void serve_external(struct http_request *req, void *arg)
{
    struct site *s = arg;
    pthread_mutex_lock(&s->lock);
    s->external_hits++;
    pthread_mutex_unlock(&s->lock);
    http_respond(req, 200, "text/html", "<a href=\"/\">x</a>", 17);
}

static void *site_thread(void *arg)
{
    struct site *s = arg;
    event_base_loop(s->base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

static void site_start(struct site *s)
{
    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->lock, NULL);
    /* The test thread stops the site's loop from outside it. */
    evthread_use_pthreads();
    s->base = event_base_new();
    struct http_server_options o = {.max_body_bytes = 65536, .max_header_bytes = 65536,
                                    .idle_timeout_secs = 30};
    struct error err = {0};
    s->http = http_server_new(s->base, &o);
    s->external = http_server_new(s->base, &o);
    assert_int_equal(http_server_bind(s->http, "127.0.0.1", 0, &s->port, &err), 0);
    assert_int_equal(http_server_bind(s->external, "127.0.0.1", 0, &s->external_port, &err), 0);
    http_server_route_prefix(s->http, "/", serve_site, s);
    http_server_route_prefix(s->external, "/", serve_external, s);
    assert_int_equal(pthread_create(&s->thread, NULL, site_thread, s), 0);
}

static void site_stop(struct site *s)
{
    event_base_loopbreak(s->base);
    pthread_join(s->thread, NULL);
    http_server_free(s->http);
    http_server_free(s->external);
    event_base_free(s->base);
    pthread_mutex_destroy(&s->lock);
}

/* ---- helpers ---- */

struct fixture {
    struct h_cluster c;
    struct site site;
    char out[600];                 /* the scheduler's --output_dir */
    char *output;                  /* what the scheduler printed */
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    h_cluster_init(&f->c);
    h_start_master(&f->c, NULL);
    h_start_agent(&f->c, NULL, NULL);
    site_start(&f->site);
    f->site.root = f->c.root;
    snprintf(f->out, sizeof(f->out), "%s/rendler-out", f->c.root);
    f->output = calloc(1, CAPTURE_BYTES);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    site_stop(&f->site);
    h_cluster_destroy(&f->c);
    free(f->output);
    free(f);
    return 0;
}

static char *find_program(const char *name)
{
    const char *path = getenv("PATH");
    char *copy = xstrdup(path ? path : "/usr/bin:/bin"), *save = NULL, *found = NULL;
    for (char *d = strtok_r(copy, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
        char *p = xasprintf("%s/%s", d, name);
        if (access(p, X_OK) == 0)
            found = p;
        else
            free(p);
    }
    free(copy);
    return found;
}

/* Whether Chromium can take a screenshot on this machine at all, with the
 * flags the render executor uses; why not in reason. */
static int chromium_works(const char *dir, char *reason, size_t n)
{
    char *chromium = find_program("chromium");
    if (chromium == NULL) {
        snprintf(reason, n, "no chromium in PATH (scripts/install-deps.sh installs it)");
        return 0;
    }
    char *shot = xasprintf("%s/probe.png", dir);
    char *shot_flag = xasprintf("--screenshot=%s", shot);
    char *profile_flag = xasprintf("--user-data-dir=%s/probe-profile", dir);
    const char *argv[] = {chromium, "--headless", "--no-sandbox", "--disable-gpu",
                          "--disable-quic", "--no-first-run", "--disable-background-networking",
                          "--disable-component-update", "--disable-sync", profile_flag, shot_flag,
                          "--window-size=320,240", "data:text/html,<h1>probe</h1>", NULL};
    char out[4096];
    int status = h_run_capture(argv, out, sizeof(out), 60);
    struct stat st;
    int ok = status == 0 && stat(shot, &st) == 0 && st.st_size > 0;
    if (!ok) {
        char *last = strrchr(out, '\n');
        while (last != NULL && last > out && last[1] == '\0') {
            *last = '\0';
            last = strrchr(out, '\n');
        }
        snprintf(reason, n, "chromium cannot take a screenshot here (status %d): %.300s", status,
                 last ? last + 1 : out);
    }
    free(chromium);
    free(shot);
    free(shot_flag);
    free(profile_flag);
    return ok;
}

static void run_scheduler(struct fixture *f, const char *const *extra)
{
    char master[64], url[128], out[700];
    snprintf(master, sizeof(master), "--master=127.0.0.1:%d", f->c.master.port);
    snprintf(url, sizeof(url), "--url=http://127.0.0.1:%d/", f->site.port);
    snprintf(out, sizeof(out), "--output_dir=%s", f->out);
    const char *argv[32] = {h_bin("rendler-scheduler"), master, url, out, "--timeout=140secs"};
    size_t n = 5;
    for (size_t i = 0; extra[i] != NULL && n < 31; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    double t0 = clock_mono();
    int status = h_run_capture(argv, f->output, CAPTURE_BYTES, SCHEDULER_TIMEOUT);
    /* Its whole log stays with the cluster's (TEPUI_KEEP_TEST_DIRS keeps them). */
    char *log = xasprintf("%s/rendler-scheduler.log", f->c.root);
    FILE *fp = fopen(log, "w");
    if (fp != NULL) {
        fputs(f->output, fp);
        fclose(fp);
    }
    free(log);
    fprintf(stderr, "rendler-scheduler ran %.1f s, status %d; its summary:\n%s\n",
            clock_mono() - t0, status, strstr(f->output, "RENDLER crawled") ?: "(none)");
    if (status != 0) {
        fprintf(stderr, "---- rendler-scheduler's output ----\n%s\n", f->output);
        h_dump_logs(&f->c);
        fail_msg("rendler-scheduler exited with status %d", status);
    }
}

static char *read_text(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (fp == NULL)
        return NULL;
    struct buf b = BUF_INIT;
    char chunk[8192];
    size_t got;
    while ((got = fread(chunk, 1, sizeof(chunk), fp)) > 0)
        buf_append(&b, chunk, got);
    fclose(fp);
    if (len != NULL)
        *len = b.len;
    return buf_steal(&b);
}

static void assert_png(const char *path)
{
    size_t len = 0;
    char *data = read_text(path, &len);
    if (data == NULL)
        fail_msg("%s does not exist", path);
    if (len < 100 || memcmp(data, "\x89PNG\r\n\x1a\n", 8) != 0)
        fail_msg("%s is no PNG (%zu bytes)", path, len);
    free(data);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The edges of graph.dot, one "from -> to" line each, sorted. */
static char *dot_edges(const char *dot)
{
    size_t cap = 64, n = 0;
    char **lines = xcalloc(cap, sizeof(char *));
    const char *p = dot;
    while ((p = strstr(p, "\" -> \"")) != NULL) {
        const char *start = p;
        while (start > dot && start[-1] != '\n')
            start--;
        const char *end = strchr(p, '\n');
        if (end == NULL)
            end = p + strlen(p);
        char *line = xstrndup(start, (size_t)(end - start));
        /* '  "a" -> "b";' as 'a -> b' */
        struct buf b = BUF_INIT;
        for (char *c = line; *c; c++)
            if (*c != '"' && *c != ';' && !(*c == ' ' && b.len == 0))
                buf_append_char(&b, *c);
        free(line);
        if (n == cap)
            lines = xrealloc(lines, (cap *= 2) * sizeof(char *));
        lines[n++] = buf_steal(&b);
        p = end;
    }
    qsort(lines, n, sizeof(char *), cmp_str);
    struct buf all = BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        buf_printf(&all, "%s\n", lines[i]);
        free(lines[i]);
    }
    free(lines);
    return buf_steal(&all);
}

static json_t *page_entry(json_t *pages_json, const char *url)
{
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(pages_json, "pages"), i, p) {
        if (strcmp(json_string_value(json_object_get(p, "url")), url) == 0)
            return p;
    }
    fail_msg("pages.json has no page %s", url);
    return NULL;
}

/* The sandboxes of an executor's runs that have ended, as the agent's
 * /state lists them; *live counts the runs still going. */
static size_t executor_runs(struct fixture *f, const char *framework_id, const char *executor_id,
                            char **dirs, size_t max, int *live)
{
    json_t *st = h_get_json(f->c.agents[0].port, "/state");
    static const char *lists[] = {"frameworks", "completed_frameworks"};
    size_t n = 0;
    *live = 0;
    for (size_t l = 0; l < 2; l++) {
        size_t i, k;
        json_t *fw, *e;
        json_array_foreach(json_object_get(st, lists[l]), i, fw) {
            if (strcmp(json_string_value(json_object_get(fw, "id")), framework_id) != 0)
                continue;
            json_array_foreach(json_object_get(fw, "executors"), k, e) {
                const char *id = json_string_value(json_object_get(e, "id"));
                *live += id != NULL && strcmp(id, executor_id) == 0;
            }
            json_array_foreach(json_object_get(fw, "completed_executors"), k, e) {
                const char *id = json_string_value(json_object_get(e, "id"));
                const char *dir = json_string_value(json_object_get(e, "directory"));
                if (id != NULL && strcmp(id, executor_id) == 0 && dir != NULL && n < max)
                    dirs[n++] = xstrdup(dir);
            }
        }
    }
    json_decref(st);
    return n;
}

struct runs_arg {
    struct fixture *f;
    const char *framework_id;
    const char *executor_id;
    size_t want;
};

static int runs_ended(void *arg)
{
    struct runs_arg *a = arg;
    char *dirs[8];
    int live = 0;
    size_t n = executor_runs(a->f, a->framework_id, a->executor_id, dirs, 8, &live);
    for (size_t i = 0; i < n; i++)
        free(dirs[i]);
    return live == 0 && n >= a->want;
}

/* Every run of the executor came through the fetcher: its sandbox holds the
 * binary out of the scheduler's archive, it ran from there (its log is in
 * the sandbox's stderr). Once the framework is torn down, each has ended,
 * none with a sanitizer report. Returns the number of runs. */
static size_t check_executor_sandboxes(struct fixture *f, const char *framework_id,
                                       const char *executor_id, const char *binary,
                                       size_t want_runs)
{
    struct runs_arg ra = {f, framework_id, executor_id, want_runs};
    if (!h_wait_until(runs_ended, &ra, 30)) {
        h_dump_logs(&f->c);
        fail_msg("%zu run(s) of executor %s did not all end after the teardown", want_runs,
                 executor_id);
    }
    char *dirs[8];
    int live = 0;
    size_t n = executor_runs(f, framework_id, executor_id, dirs, 8, &live);
    for (size_t i = 0; i < n; i++) {
        char *bin = xasprintf("%s/%s", dirs[i], binary);
        struct stat st;
        if (stat(bin, &st) != 0 || !(st.st_mode & S_IXUSR))
            fail_msg("%s was not fetched into the sandbox (or is not executable)", bin);
        char *errpath = xasprintf("%s/stderr", dirs[i]);
        char *err = read_text(errpath, NULL);
        assert_non_null(err);
        if (strstr(err, "executor rendler-") == NULL)
            fail_msg("%s does not show the executor starting:\n%s", errpath, err);
        if (strstr(err, "Sanitizer") != NULL || strstr(err, "runtime error") != NULL)
            fail_msg("executor %s reported a sanitizer error:\n%s", executor_id, err);
        free(err);
        free(errpath);
        free(bin);
        free(dirs[i]);
    }
    return n;
}

/* ---- tests ---- */

static void rendler_crawls_renders_and_draws_the_site_with_fetched_executors(void **state)
{
    struct fixture *f = *state;
    char reason[512] = "";
    int render = chromium_works(f->c.root, reason, sizeof(reason));
    if (!render)
        fprintf(stderr, "SKIP (render part only): %s\n", reason);
    f->site.kill_first_crawl = 1;
    const char *extra[] = {"--max_depth=2", "--max_pages=20", "--max_attempts=3",
                           render ? "--render" : "--no-render", "--api_format=json", NULL};
    run_scheduler(f, extra);

    char u[64];
    snprintf(u, sizeof(u), "http://127.0.0.1:%d", f->site.port);
    /* Every page of the site within reach was crawled once, but for two: the
     * start page, whose executor was killed while fetching it, and the page
     * that failed once; the broken link once (a 404 is not retried). */
    assert_int_equal(f->site.killed_executors, 1);
    assert_int_equal(hits(&f->site, "/", 1), 2);
    assert_int_equal(hits(&f->site, "/about.html", 1), 1);
    assert_int_equal(hits(&f->site, "/blog/", 1), 1);
    assert_int_equal(hits(&f->site, "/blog/post1.html", 1), 2);
    assert_int_equal(hits(&f->site, "/blog/post2.html?x=1&y=2", 1), 1);
    assert_int_equal(hits(&f->site, "/missing.html", 1), 1);
    /* Past the depth limit, off the allowed host, or no link at all. */
    assert_int_equal(hits(&f->site, "/deep.html", 1) + hits(&f->site, "/deep.html", 0), 0);
    assert_int_equal(hits(&f->site, "/commented.html", 1), 0);
    assert_int_equal(hits(&f->site, "/scripted.html", 1), 0);
    assert_int_equal(f->site.external_hits, 0);

    /* The graph has exactly the links of the crawled pages. */
    char *path = xasprintf("%s/graph.dot", f->out);
    char *dot = read_text(path, NULL);
    assert_non_null(dot);
    free(path);
    char *got = dot_edges(dot);
    const char *want_edges[] = {
        "%s/ -> %s/about.html", "%s/ -> %s/blog/", "%s/ -> http://127.0.0.1:EXT/elsewhere.html",
        "%s/about.html -> %s/", "%s/about.html -> %s/blog/post1.html",
        "%s/about.html -> %s/missing.html", "%s/blog/ -> %s/blog/post1.html",
        "%s/blog/ -> %s/about.html", "%s/blog/ -> %s/blog/post2.html?x=1&y=2",
        "%s/blog/post1.html -> %s/blog/", "%s/blog/post1.html -> %s/blog/post2.html?x=1&y=2",
        "%s/blog/post2.html?x=1&y=2 -> %s/", "%s/blog/post2.html?x=1&y=2 -> %s/about.html",
        "%s/blog/post2.html?x=1&y=2 -> %s/deep.html"};
    size_t n_want = sizeof(want_edges) / sizeof(want_edges[0]);
    char **want = xcalloc(n_want, sizeof(char *));
    char ext[32];
    snprintf(ext, sizeof(ext), "%d", f->site.external_port);
    for (size_t i = 0; i < n_want; i++) {
        char *e = xasprintf(want_edges[i], u, u);
        char *x = strstr(e, "EXT");
        if (x != NULL) {
            char *fixed = xasprintf("%.*s%s%s", (int)(x - e), e, ext, x + 3);
            free(e);
            e = fixed;
        }
        want[i] = e;
    }
    qsort(want, n_want, sizeof(char *), cmp_str);
    struct buf wb = BUF_INIT;
    for (size_t i = 0; i < n_want; i++) {
        buf_printf(&wb, "%s\n", want[i]);
        free(want[i]);
    }
    free(want);
    if (strcmp(got, buf_cstr(&wb)) != 0) {
        fprintf(stderr, "graph.dot's edges:\n%s\nexpected:\n%s", got, buf_cstr(&wb));
        fail_msg("graph.dot does not have the expected edges");
    }
    buf_free(&wb);
    free(got);
    free(dot);

    path = xasprintf("%s/graph.png", f->out);
    assert_png(path);
    free(path);

    /* pages.json: states, attempts, retries, and the screenshots. */
    path = xasprintf("%s/pages.json", f->out);
    json_error_t je;
    json_t *pj = json_load_file(path, 0, &je);
    if (pj == NULL)
        fail_msg("%s: %s", path, je.text);
    free(path);
    static const char *const crawled[] = {"/", "/about.html", "/blog/", "/blog/post1.html",
                                          "/blog/post2.html?x=1&y=2"};
    for (size_t i = 0; i < sizeof(crawled) / sizeof(crawled[0]); i++) {
        char *url = xasprintf("%s%s", u, crawled[i]);
        json_t *p = page_entry(pj, url);
        assert_string_equal(json_string_value(json_object_get(p, "state")), "crawled");
        if (render) {
            const char *shot = json_string_value(json_object_get(p, "screenshot"));
            if (shot == NULL)
                fail_msg("no screenshot of %s: %s", url,
                         json_string_value(json_object_get(p, "render_error")));
            char *shot_path = xasprintf("%s/%s", f->out, shot);
            assert_png(shot_path);
            free(shot_path);
            /* Chromium itself loaded the page. */
            assert_true(hits(&f->site, crawled[i], 0) >= 1);
        }
        free(url);
    }
    char *url = xasprintf("%s/blog/post1.html", u);
    assert_int_equal(json_integer_value(json_object_get(page_entry(pj, url), "crawl_attempts")), 2);
    free(url);
    url = xasprintf("%s/", u);
    assert_int_equal(json_integer_value(json_object_get(page_entry(pj, url), "crawl_attempts")), 2);
    free(url);
    url = xasprintf("%s/missing.html", u);
    json_t *missing = page_entry(pj, url);
    assert_string_equal(json_string_value(json_object_get(missing, "state")), "broken");
    assert_int_equal(json_integer_value(json_object_get(missing, "crawl_attempts")), 1);
    free(url);
    url = xasprintf("%s/deep.html", u);
    assert_string_equal(json_string_value(json_object_get(page_entry(pj, url), "state")), "limit");
    free(url);
    url = xasprintf("http://127.0.0.1:%d/elsewhere.html", f->site.external_port);
    assert_string_equal(json_string_value(json_object_get(page_entry(pj, url), "state")),
                        "external");
    free(url);
    json_t *tasks = json_object_get(pj, "tasks");
    assert_int_equal(json_integer_value(json_object_get(tasks, "retried")), 2);
    assert_int_equal(json_integer_value(json_object_get(tasks, "failed_for_good")), 1);

    /* The executors came from the scheduler's archive, through the agent's
     * fetcher, once for each executor run (the URIs are not cached): two
     * crawl executors (the first was killed) and a render executor. */
    assert_int_equal(json_integer_value(json_object_get(pj, "archive_downloads")), render ? 3 : 2);
    const char *fid = json_string_value(json_object_get(pj, "framework_id"));
    assert_non_null(fid);
    assert_int_equal(check_executor_sandboxes(f, fid, "rendler-crawl", "rendler-crawl-executor", 2),
                     2);
    if (render)
        assert_int_equal(
            check_executor_sandboxes(f, fid, "rendler-render", "rendler-render-executor", 1), 1);
    json_decref(pj);
    if (!render)
        fprintf(stderr, "SKIPPED the render part: %s\n", reason);
}

/* Pages are admitted breadth-first until --max_pages: the later links of
 * the start page and everything below are nodes, not crawls. */
static void crawl_stops_at_max_pages_in_breadth_first_order(void **state)
{
    struct fixture *f = *state;
    const char *extra[] = {"--max_depth=5", "--max_pages=3", "--no-render", NULL};
    run_scheduler(f, extra);
    assert_int_equal(hits(&f->site, "/", 1), 1);
    assert_int_equal(hits(&f->site, "/about.html", 1), 1);
    assert_int_equal(hits(&f->site, "/blog/", 1), 1);
    assert_int_equal(hits(&f->site, "/blog/post1.html", 1), 0);
    assert_int_equal(hits(&f->site, "/blog/post2.html?x=1&y=2", 1), 0);
    assert_int_equal(hits(&f->site, "/missing.html", 1), 0);
    assert_int_equal(f->site.external_hits, 0);
    char *path = xasprintf("%s/pages.json", f->out);
    json_t *pj = json_load_file(path, 0, NULL);
    assert_non_null(pj);
    free(path);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/blog/post1.html", f->site.port);
    assert_string_equal(json_string_value(json_object_get(page_entry(pj, url), "state")), "limit");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(pj, "tasks"), "launched")),
                     3);
    json_decref(pj);
    path = xasprintf("%s/graph.png", f->out);
    assert_png(path);
    free(path);
    assert_non_null(strstr(f->output, "3 crawled"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            rendler_crawls_renders_and_draws_the_site_with_fetched_executors, setup, teardown),
        cmocka_unit_test_setup_teardown(crawl_stops_at_max_pages_in_breadth_first_order, setup,
                                        teardown),
    };
    if (getenv("TEST_FILTER"))
        cmocka_set_test_filter(getenv("TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
