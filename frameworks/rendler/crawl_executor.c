/* rendler-crawl-executor: RENDLER's crawl executor. An agent starts it in a
 * sandbox the fetcher filled from the scheduler's archive. Each task is one
 * page (its URL in TaskInfo.data): a worker thread fetches it with libcurl
 * and extracts its links, then hands the result back to the loop, which
 * sends the links to the scheduler as a framework message and reports
 * TASK_FINISHED (TASK_FAILED when the page cannot be had). Tasks run
 * concurrently, one thread each; the loop alone talks to the agent. */
#include <curl/curl.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/buf.h"
#include "common/flags.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "links.h"
#include "rendler.h"
#include "tepui/executor.h"

#define LOG_COMPONENT "rendler-crawl"

/* A redirect chain longer than this is a loop, as browsers judge. */
#define MAX_REDIRECTS 10

struct crawler;

/* One task: a page being fetched by its thread. Until the thread activates
 * done, only the thread touches the result fields; afterwards only the loop. */
struct crawl {
    struct crawler *c;
    char *task_id;
    char *url;
    pthread_t thread;
    struct event *done;
    atomic_int cancel;             /* set by the loop on KILL or SHUTDOWN */
    /* the result */
    int ok;
    int no_retry;                  /* the failure is the page's, not the moment's */
    int cancelled;
    long http_status;
    char *final_url;
    char *content_type;
    int truncated;
    struct link_set links;
    char error[CURL_ERROR_SIZE + 256];
    struct crawl *next;
};

struct crawler {
    struct event_base *base;
    struct tepui_executor *lib;
    struct crawl *crawls;          /* running */
    double page_timeout;
    long long max_page_bytes;
    const char *user_agent;
    int exit_code;
};

/* ---- the worker thread ---- */

struct body {
    struct buf data;
    size_t limit;
    int truncated;
};

static size_t body_write(char *p, size_t size, size_t n, void *arg)
{
    struct body *b = arg;
    size_t len = size * n;
    if (b->data.len + len > b->limit) {
        /* Enough of it: the links of a page this large come from its start. */
        buf_append(&b->data, p, b->limit - b->data.len);
        b->truncated = 1;
        return 0;
    }
    buf_append(&b->data, p, len);
    return len;
}

static int progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                    curl_off_t ulnow)
{
    struct crawl *cr = arg;
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    return atomic_load(&cr->cancel) ? 1 : 0;
}

static int is_html(const char *content_type)
{
    if (content_type == NULL)
        return 1;   /* no type given: look, as browsers sniff */
    return strncasecmp(content_type, "text/html", 9) == 0 ||
           strncasecmp(content_type, "application/xhtml+xml", 21) == 0;
}

static void *crawl_thread(void *arg)
{
    struct crawl *cr = arg;
    struct crawler *c = cr->c;
    struct body body = {BUF_INIT, (size_t)c->max_page_bytes, 0};
    char curl_error[CURL_ERROR_SIZE] = "";
    CURL *h = curl_easy_init();
    if (h == NULL) {
        snprintf(cr->error, sizeof(cr->error), "cannot set up libcurl");
        goto out;
    }
    curl_easy_setopt(h, CURLOPT_URL, cr->url);
    /* Threads and signals do not mix: no SIGALRM for DNS timeouts. */
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, (long)MAX_REDIRECTS);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(c->page_timeout * 1000));
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)(c->page_timeout * 1000));
    curl_easy_setopt(h, CURLOPT_USERAGENT, c->user_agent);
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, body_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, cr);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curl_error);

    CURLcode rc = curl_easy_perform(h);
    if (rc == CURLE_WRITE_ERROR && body.truncated)
        rc = CURLE_OK;
    if (atomic_load(&cr->cancel)) {
        cr->cancelled = 1;
        goto out;
    }
    if (rc != CURLE_OK) {
        /* Refused connections, timeouts, resets: another try may do. */
        snprintf(cr->error, sizeof(cr->error), "cannot fetch the page: %s",
                 curl_error[0] ? curl_error : curl_easy_strerror(rc));
        cr->no_retry = rc == CURLE_TOO_MANY_REDIRECTS || rc == CURLE_URL_MALFORMAT ||
                       rc == CURLE_UNSUPPORTED_PROTOCOL;
        goto out;
    }
    char *final_url = NULL, *content_type = NULL;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &cr->http_status);
    curl_easy_getinfo(h, CURLINFO_EFFECTIVE_URL, &final_url);
    curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &content_type);
    cr->final_url = xstrdup(final_url ? final_url : cr->url);
    cr->content_type = content_type ? xstrdup(content_type) : NULL;
    cr->truncated = body.truncated;
    if (cr->http_status >= 300) {
        snprintf(cr->error, sizeof(cr->error), "HTTP %ld", cr->http_status);
        /* Server errors, timeouts and rate limits pass; a missing page stays missing. */
        cr->no_retry = !(cr->http_status >= 500 || cr->http_status == 408 ||
                         cr->http_status == 429);
        goto out;
    }
    if (is_html(cr->content_type))
        links_extract(body.data.data ? body.data.data : "", body.data.len, cr->final_url,
                      RENDLER_MAX_LINKS, &cr->links);
    cr->ok = 1;
out:
    if (h != NULL)
        curl_easy_cleanup(h);
    buf_free(&body.data);
    /* Safe from this thread: libevent was set up for threads in main. */
    event_active(cr->done, EV_READ, 0);
    return NULL;
}

/* ---- the loop ---- */

static void crawl_free(struct crawl *cr)
{
    if (cr == NULL)
        return;
    event_free(cr->done);
    link_set_free(&cr->links);
    free(cr->final_url);
    free(cr->content_type);
    free(cr->task_id);
    free(cr->url);
    free(cr);
}

static void crawl_unlink(struct crawler *c, struct crawl *cr)
{
    for (struct crawl **p = &c->crawls; *p; p = &(*p)->next)
        if (*p == cr) {
            *p = cr->next;
            return;
        }
}

/* The thread has ended: report what it found. */
static void crawl_done(evutil_socket_t fd, short what, void *arg)
{
    struct crawl *cr = arg;
    struct crawler *c = cr->c;
    (void)fd, (void)what;
    pthread_join(cr->thread, NULL);
    crawl_unlink(c, cr);
    if (cr->cancelled) {
        log_info("task %s: killed while fetching %s", cr->task_id, cr->url);
        rendler_send_status(c->lib, cr->task_id, TEPUI__TASK_STATE__TASK_KILLED,
                            "Killed while fetching the page", 0);
    } else if (!cr->ok) {
        log_warn("task %s: %s: %s", cr->task_id, cr->url, cr->error);
        rendler_send_status(c->lib, cr->task_id, TEPUI__TASK_STATE__TASK_FAILED, cr->error,
                            cr->no_retry);
    } else {
        struct rendler_result r = {
            .kind = RENDLER_RESULT_CRAWL,
            .task_id = cr->task_id,
            .url = cr->url,
            .final_url = cr->final_url,
            .http_status = cr->http_status,
            .content_type = cr->content_type,
            .links = cr->links.urls,
            .n_links = cr->links.n,
            .truncated = cr->truncated,
        };
        size_t len = 0;
        char *msg = rendler_result_encode(&r, &len);
        /* The links go first: the scheduler takes the task as done only
         * once it has both, and the message is the one that can be lost. */
        if (tepui_executor_message(c->lib, msg, len) != 0)
            log_warn("task %s: cannot send the links of %s: not subscribed", cr->task_id, cr->url);
        free(msg);
        char text[128];
        snprintf(text, sizeof(text), "%zu links (HTTP %ld)%s", cr->links.n, cr->http_status,
                 cr->truncated ? ", page truncated" : "");
        log_info("task %s: %s has %s", cr->task_id, cr->url, text);
        rendler_send_status(c->lib, cr->task_id, TEPUI__TASK_STATE__TASK_FINISHED, text, 0);
    }
    crawl_free(cr);
}

static void on_launch(struct tepui_executor *e, const Tepui__TaskInfo *task, void *arg)
{
    struct crawler *c = arg;
    const char *id = task->task_id->value;
    char *url = task->has_data && task->data.len > 0
                    ? xstrndup((const char *)task->data.data, task->data.len)
                    : NULL;
    char *norm = url ? url_resolve(NULL, url) : NULL;
    if (norm == NULL) {
        log_warn("task %s: TaskInfo.data holds no http(s) URL", id);
        rendler_send_status(e, id, TEPUI__TASK_STATE__TASK_FAILED,
                            "TaskInfo.data must hold the http(s) URL to crawl", 1);
        free(url);
        return;
    }
    free(norm);
    struct crawl *cr = XNEW(struct crawl);
    cr->c = c;
    cr->task_id = xstrdup(id);
    cr->url = url;
    cr->done = event_new(c->base, -1, 0, crawl_done, cr);
    atomic_init(&cr->cancel, 0);
    rendler_send_status(e, id, TEPUI__TASK_STATE__TASK_RUNNING, NULL, 0);
    int rc = pthread_create(&cr->thread, NULL, crawl_thread, cr);
    if (rc != 0) {
        char msg[128];
        snprintf(msg, sizeof(msg), "cannot start a thread: %s", strerror(rc));
        rendler_send_status(e, id, TEPUI__TASK_STATE__TASK_FAILED, msg, 0);
        crawl_free(cr);
        return;
    }
    cr->next = c->crawls;
    c->crawls = cr;
    log_info("task %s: fetching %s", id, url);
}

static void on_kill(struct tepui_executor *e, const Tepui__TaskID *task_id,
                    const Tepui__KillPolicy *policy, void *arg)
{
    struct crawler *c = arg;
    (void)e, (void)policy;
    for (struct crawl *cr = c->crawls; cr; cr = cr->next)
        if (strcmp(cr->task_id, task_id->value) == 0)
            atomic_store(&cr->cancel, 1);
}

/* Stops every fetch and waits for its thread (libcurl checks the cancel
 * flag many times a second), then leaves the loop. */
static void stop(struct crawler *c, int code)
{
    for (struct crawl *cr = c->crawls; cr; cr = cr->next)
        atomic_store(&cr->cancel, 1);
    while (c->crawls != NULL) {
        struct crawl *cr = c->crawls;
        c->crawls = cr->next;
        pthread_join(cr->thread, NULL);
        crawl_free(cr);
    }
    c->exit_code = code;
    event_base_loopbreak(c->base);
}

static void on_shutdown(struct tepui_executor *e, void *arg)
{
    (void)e;
    log_info("shutting down");
    stop(arg, 0);
}

static void on_disconnected(struct tepui_executor *e, const char *reason, void *arg)
{
    (void)e;
    log_warn("lost the agent for good (%s); stopping", reason);
    stop(arg, 1);
}

static void on_error(struct tepui_executor *e, const char *message, void *arg)
{
    (void)e, (void)arg;
    log_warn("error from the agent: %s", message);
}

int main(int argc, char **argv)
{
    struct crawler c = {.exit_code = 1};
    char *logging_level = NULL, *user_agent = NULL;
    struct flag_def defs[] = {
        {"timeout", FLAG_DURATION, &c.page_timeout, "30secs",
         "How long fetching one page may take, redirects included"},
        {"max_page_bytes", FLAG_BYTES, &c.max_page_bytes, "4MB",
         "Bytes of a page read at most; links past them are not seen"},
        {"user_agent", FLAG_STRING, &user_agent, "RENDLER-crawler/1.0 (tepui)",
         "The User-Agent header of every request"},
        {"logging_level", FLAG_STRING, &logging_level, "INFO",
         "Least severe level logged: DEBUG, INFO, WARNING or ERROR"},
    };
    struct flag_set fs = {
        .program = RENDLER_CRAWL_EXECUTOR,
        .summary = "RENDLER's crawl executor: fetches the page of each task and sends its "
                   "links to the scheduler. Started by an agent, not by hand.",
        .defs = defs,
        .n = sizeof(defs) / sizeof(defs[0]),
    };
    struct tepui_executor_options opts = {0};
    struct error err = {0};
    int code = 2;
    int rc = flags_parse(&fs, argc, argv, NULL, NULL, &err);
    if (rc != 0) {
        if (rc < 0)
            fprintf(stderr, "%s: %s\n", RENDLER_CRAWL_EXECUTOR, err.msg);
        code = rc < 0 ? 2 : 0;
        goto out;
    }
    int level = log_level_parse(logging_level);
    if (level < 0 || c.page_timeout <= 0 || c.max_page_bytes <= 0) {
        fprintf(stderr, "%s: bad --logging_level, --timeout or --max_page_bytes\n",
                RENDLER_CRAWL_EXECUTOR);
        goto out;
    }
    log_set_level((enum log_level)level);
    c.user_agent = user_agent;
    if (tepui_executor_options_from_env(&opts, &err) != 0) {
        fprintf(stderr, "%s: %s\n", RENDLER_CRAWL_EXECUTOR, err.msg);
        goto out;
    }
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    /* Worker threads wake the loop with event_active. */
    evthread_use_pthreads();
    c.base = event_base_new();
    struct tepui_executor_callbacks cbs = {
        .launch = on_launch,
        .kill = on_kill,
        .shutdown = on_shutdown,
        .disconnected = on_disconnected,
        .error = on_error,
    };
    c.lib = tepui_executor_new(c.base, &opts, &cbs, &c, &err);
    if (c.lib == NULL) {
        fprintf(stderr, "%s: %s\n", RENDLER_CRAWL_EXECUTOR, err.msg);
        code = 1;
    } else {
        log_info("framework %s executor %s: crawling for the agent at %s", opts.framework_id,
                 opts.executor_id, opts.agent_endpoint);
        event_base_dispatch(c.base);
        code = c.exit_code;
    }
    stop(&c, code);
    tepui_executor_free(c.lib);
    event_base_loop(c.base, EVLOOP_NONBLOCK);
    event_base_free(c.base);
    curl_global_cleanup();
    libevent_global_shutdown();
out:
    tepui_executor_options_clear(&opts);
    flags_free(&fs);
    return code;
}
