/* rendler-scheduler: RENDLER's scheduler, on libtepui. From a start URL it
 * crawls breadth-first, level by level, up to --max_depth and --max_pages,
 * running a crawl task per page (rendler-crawl-executor) and a render task
 * per crawled page (rendler-render-executor) on the offers it gets. The
 * executors are not installed anywhere: the scheduler serves them as an
 * archive from a small HTTP server of its own, and each ExecutorInfo names
 * that archive in command.uris, so agents fetch it into the sandbox.
 * Results come back as framework messages; failed tasks are retried a few
 * times. At the end it writes the link graph (graph.dot, graph.png with
 * Graphviz), pages.json and the screenshots into --output_dir, tears the
 * framework down and prints a summary.
 *
 *   rendler-scheduler --master=127.0.0.1:5050 --url=http://127.0.0.1:8000/
 *
 * frameworks/rendler/README.md walks through this file. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/http.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uthash.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/flags.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/task_state.h"
#include "common/xalloc.h"
#include "http/client.h"
#include "http/server.h"
#include "links.h"
#include "rendler.h"
#include "tepui/scheduler.h"
#include "wire/pb.h"

#define LOG_COMPONENT "rendler"

extern char **environ;

/* What each task and executor asks of an offer. Executors are long-lived
 * (one of each kind per agent, running many tasks) and the master accounts
 * their own resources apart from their tasks'. Chromium is the heavy one. */
#define CRAWL_TASK_CPUS 0.1
#define CRAWL_TASK_MEM 32.0
#define RENDER_TASK_CPUS 0.5
#define RENDER_TASK_MEM 256.0
#define EXECUTOR_CPUS 0.1
#define EXECUTOR_MEM 64.0

/* Declining an offer we have no use for keeps it from us this long, and
 * what an accept leaves over for the shorter time; a REVIVE when new work
 * comes in (a level, a render, a retry) lifts both. */
#define DECLINE_IDLE_SECS 30.0
#define DECLINE_BUSY_SECS 1.0
/* Downloads of a screenshot are tried this many times, this far apart. */
#define DOWNLOAD_ATTEMPTS 3
#define DOWNLOAD_RETRY_SECS 1.0
/* How long to wait for the master to answer TEARDOWN before exiting. */
#define TEARDOWN_WAIT_SECS 5.0

enum job_kind { JOB_CRAWL = 0, JOB_RENDER = 1 };
static const char *const job_names[] = {"crawl", "render"};
static const char *const executor_ids[] = {"rendler-crawl", "rendler-render"};

enum page_state {
    PAGE_QUEUED,      /* admitted, waiting for an offer */
    PAGE_CRAWLING,    /* a crawl task runs */
    PAGE_CRAWLED,
    PAGE_BROKEN,      /* the crawl failed for good */
    PAGE_EXTERNAL,    /* outside --allowed_hosts: a node, never crawled */
    PAGE_LIMIT,       /* past --max_depth or --max_pages: a node, never crawled */
};
static const char *const page_state_names[] = {"queued",   "crawling", "crawled",
                                               "broken",   "external", "limit"};

enum render_state { RENDER_NONE, RENDER_QUEUED, RENDER_RUNNING, RENDER_DOWNLOADING,
                    RENDER_DONE, RENDER_FAILED };

struct page {
    char *url;
    int index;                /* discovery order: the node's number */
    int depth;
    enum page_state state;
    int attempts[2];          /* tasks launched for it, by job kind */
    long http_status;
    char **links;             /* what its crawl found, in page order */
    size_t n_links;
    char *error;              /* why it is broken */
    enum render_state render;
    char *screenshot;         /* relative to --output_dir */
    char *render_error;
    UT_hash_handle hh;
};

/* Work waiting for an offer. */
struct job {
    enum job_kind kind;
    struct page *page;
    struct job *next;
};

/* One attempt at a job. It is done when TASK_FINISHED and the executor's
 * result message have both arrived, in whichever order. */
struct task {
    char *id;
    enum job_kind kind;
    struct page *page;
    char *agent_id;
    int finished;
    struct rendler_result *result;
    struct event *result_timer;
    struct rendler *r;
    UT_hash_handle hh;
};

/* What runs on an agent, as far as we know: one executor of each kind. */
struct agent_rec {
    char *id;
    int has_executor[2];
    UT_hash_handle hh;
};

struct download {
    struct rendler *r;
    struct page *page;
    char *endpoint;           /* the agent's host:port */
    char *path;               /* in the sandbox */
    int attempts;
    struct http_client *client;
    struct http_call *call;
    struct event *retry_timer;
    struct download *next;
};

/* An ACCEPT in flight: the tasks it launches, in case it is refused. */
struct accept_call {
    struct rendler *r;
    char **task_ids;
    size_t n;
    struct accept_call *next;
};

struct options {
    char *master;
    char *url;
    char *output_dir;
    int max_pages;
    int max_depth;
    char *allowed_hosts;
    int render;
    int max_attempts;
    double result_timeout;
    double timeout;
    char *executors_dir;
    char *artifacts_ip;
    int artifacts_port;
    char *artifacts_host;
    double page_timeout;
    double render_timeout;
    char *chromium;
    char *window_size;
    char *api_format;
    double failover_timeout;
    char *name;
    char *logging_level;
};

struct rendler {
    struct options o;
    struct event_base *base;
    struct tepui_scheduler *sched;
    char *start_url;
    char **allowed;           /* authorities that may be crawled */
    size_t n_allowed;

    struct page *pages;       /* every node, by URL */
    struct page **order;      /* by index */
    size_t n_pages;
    int admitted;             /* pages admitted for crawling (--max_pages) */
    int level;                /* the depth being crawled */
    int level_left;           /* its pages not yet crawled or broken */
    int crawl_over;

    struct job *queue[2];     /* waiting jobs by kind, FIFO */
    struct job *queue_tail[2];
    size_t n_queued;
    struct task *tasks;       /* live attempts, by task id */
    struct agent_rec *agents;
    struct download *downloads;
    struct accept_call *accepts;
    int task_seq;
    int suppressed;
    int filtered;             /* resources refused (declined, or left over) since the last revive */
    struct event *revive_event;

    /* the executors' archive and the server that hands it out */
    struct buf archive;
    struct http_server *http;
    int http_port;
    char *archive_uri;
    int archive_downloads;

    /* the end */
    struct event *timeout_timer;
    struct event *teardown_timer;
    int finishing;
    int exit_code;
    double started;
    char *framework_id;
    struct {
        int launched, retried, failed_for_good, lost_results;
        int screenshots, render_failures;
    } stats;
};

static void check_done(struct rendler *r);
static void finish(struct rendler *r, int code, const char *why);

/* ---- pages and the breadth-first order ---- */

static int host_allowed(const struct rendler *r, const char *url)
{
    char *auth = url_authority(url);
    int ok = 0;
    for (size_t i = 0; auth != NULL && i < r->n_allowed && !ok; i++)
        ok = strcmp(auth, r->allowed[i]) == 0;
    free(auth);
    return ok;
}

static struct page *page_add(struct rendler *r, const char *url, int depth, enum page_state st)
{
    struct page *p = XNEW(struct page);
    p->url = xstrdup(url);
    p->index = (int)r->n_pages;
    p->depth = depth;
    p->state = st;
    HASH_ADD_KEYPTR(hh, r->pages, p->url, strlen(p->url), p);
    r->order = xrealloc(r->order, (r->n_pages + 1) * sizeof(*r->order));
    r->order[r->n_pages++] = p;
    return p;
}

static void schedule_revive(struct rendler *r)
{
    if (r->suppressed || r->filtered)
        event_active(r->revive_event, EV_TIMEOUT, 0);
}

static void job_push(struct rendler *r, enum job_kind kind, struct page *p)
{
    struct job *j = XNEW(struct job);
    j->kind = kind;
    j->page = p;
    if (r->queue_tail[kind] != NULL)
        r->queue_tail[kind]->next = j;
    else
        r->queue[kind] = j;
    r->queue_tail[kind] = j;
    r->n_queued++;
    if (kind == JOB_CRAWL)
        p->state = PAGE_QUEUED;
    else
        p->render = RENDER_QUEUED;
    schedule_revive(r);
}

/* Pages are admitted a level at a time, once every page of the level above
 * is crawled (or broken), in the order their links were found: the graph
 * and the pages crawled are then the same whatever order tasks end in. */
static void level_advance(struct rendler *r)
{
    while (!r->crawl_over && r->level_left == 0) {
        int next = r->level + 1;
        size_t n = r->n_pages;
        for (size_t i = 0; i < n; i++) {
            struct page *p = r->order[i];
            if (p->depth != r->level || p->state != PAGE_CRAWLED)
                continue;
            for (size_t k = 0; k < p->n_links; k++) {
                struct page *q = NULL;
                HASH_FIND_STR(r->pages, p->links[k], q);
                if (q != NULL)
                    continue;
                if (!host_allowed(r, p->links[k])) {
                    page_add(r, p->links[k], next, PAGE_EXTERNAL);
                } else if (next > r->o.max_depth || r->admitted >= r->o.max_pages) {
                    page_add(r, p->links[k], next, PAGE_LIMIT);
                } else {
                    q = page_add(r, p->links[k], next, PAGE_QUEUED);
                    r->admitted++;
                    r->level_left++;
                    job_push(r, JOB_CRAWL, q);
                }
            }
        }
        r->level = next;
        if (r->level_left == 0) {
            r->crawl_over = 1;
            log_info("crawl over: %zu pages known, %d crawled or tried", r->n_pages, r->admitted);
        } else {
            log_info("level %d: %d pages to crawl", r->level, r->level_left);
        }
    }
}

/* ---- tasks ---- */

static void task_free(struct rendler *r, struct task *t)
{
    HASH_DEL(r->tasks, t);
    if (t->result_timer != NULL)
        event_free(t->result_timer);
    if (t->result != NULL) {
        rendler_result_clear(t->result);
        free(t->result);
    }
    free(t->agent_id);
    free(t->id);
    free(t);
}

static struct agent_rec *agent_get(struct rendler *r, const char *id)
{
    struct agent_rec *a = NULL;
    HASH_FIND_STR(r->agents, id, a);
    if (a == NULL) {
        a = XNEW(struct agent_rec);
        a->id = xstrdup(id);
        HASH_ADD_KEYPTR(hh, r->agents, a->id, strlen(a->id), a);
    }
    return a;
}

static void page_crawl_ended(struct rendler *r, struct page *p)
{
    if (p->depth == r->level)
        r->level_left--;
    level_advance(r);
}

/* An attempt failed: try again, unless that is pointless or enough. */
static void task_failed(struct rendler *r, struct task *t, const char *why, int no_retry)
{
    struct page *p = t->page;
    enum job_kind kind = t->kind;
    if (!no_retry && p->attempts[kind] < r->o.max_attempts) {
        log_info("%s of %s failed (attempt %d of %d): %s; trying again", job_names[kind], p->url,
                 p->attempts[kind], r->o.max_attempts, why);
        r->stats.retried++;
        task_free(r, t);
        job_push(r, kind, p);
        return;
    }
    log_warn("%s of %s failed for good after %d attempt(s): %s", job_names[kind], p->url,
             p->attempts[kind], why);
    r->stats.failed_for_good++;
    task_free(r, t);
    if (kind == JOB_CRAWL) {
        free(p->error);
        p->error = xstrdup(why);
        p->state = PAGE_BROKEN;
        page_crawl_ended(r, p);
    } else {
        free(p->render_error);
        p->render_error = xstrdup(why);
        p->render = RENDER_FAILED;
        r->stats.render_failures++;
    }
    check_done(r);
}

static void download_start(struct rendler *r, struct page *p, const struct rendler_result *res);

/* Both halves of a task are in: use its result. */
static void task_complete(struct rendler *r, struct task *t)
{
    struct page *p = t->page;
    struct rendler_result *res = t->result;
    if (t->kind == JOB_CRAWL) {
        p->state = PAGE_CRAWLED;
        p->http_status = res->http_status;
        p->links = res->links;
        p->n_links = res->n_links;
        res->links = NULL;
        res->n_links = 0;
        log_info("crawled %s (depth %d): %zu links", p->url, p->depth, p->n_links);
        if (r->o.render)
            job_push(r, JOB_RENDER, p);
        task_free(r, t);
        page_crawl_ended(r, p);
    } else {
        p->render = RENDER_DOWNLOADING;
        download_start(r, p, res);
        task_free(r, t);
    }
    check_done(r);
}

static void result_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct task *t = arg;
    (void)fd, (void)what;
    /* Messages are best effort: one lost on the way costs an attempt. */
    t->r->stats.lost_results++;
    task_failed(t->r, t, "the task finished but its result never arrived", 0);
}

/* ---- offers ---- */

/* Resources built on the stack for a TaskInfo or ExecutorInfo. */
struct res_pair {
    Tepui__Resource res[2];
    Tepui__Value__Scalar val[2];
    Tepui__Resource__AllocationInfo alloc;
    Tepui__Resource *ptrs[2];
};

static void res_pair_init(struct res_pair *rp, double cpus, double mem, const char *role)
{
    static const char *const names[2] = {"cpus", "mem"};
    double amounts[2] = {cpus, mem};
    tepui__resource__allocation_info__init(&rp->alloc);
    rp->alloc.role = (char *)role;
    for (int i = 0; i < 2; i++) {
        tepui__resource__init(&rp->res[i]);
        tepui__value__scalar__init(&rp->val[i]);
        rp->res[i].name = (char *)names[i];
        rp->res[i].type = TEPUI__VALUE__TYPE__SCALAR;
        rp->val[i].value = amounts[i];
        rp->res[i].scalar = &rp->val[i];
        if (role != NULL)
            rp->res[i].allocation_info = &rp->alloc;
        rp->ptrs[i] = &rp->res[i];
    }
}

/* An ExecutorInfo on the stack: the command runs the executor binary out
 * of the sandbox, where the fetcher extracted the archive named by uris. */
struct exec_info {
    Tepui__ExecutorInfo info;
    Tepui__ExecutorID id;
    Tepui__CommandInfo cmd;
    Tepui__CommandInfo__URI uri;
    Tepui__CommandInfo__URI *uris[1];
    struct res_pair res;
    char *command;
};

static void exec_info_init(struct rendler *r, struct exec_info *x, enum job_kind kind,
                           const char *role)
{
    tepui__executor_info__init(&x->info);
    tepui__executor_id__init(&x->id);
    tepui__command_info__init(&x->cmd);
    tepui__command_info__uri__init(&x->uri);
    x->id.value = (char *)executor_ids[kind];
    x->info.executor_id = &x->id;
    x->info.has_type = 1;
    x->info.type = TEPUI__EXECUTOR_INFO__TYPE__CUSTOM;
    x->info.name = kind == JOB_CRAWL ? "RENDLER crawl executor" : "RENDLER render executor";
    x->info.source = "rendler";
    char timeout[32];
    if (kind == JOB_CRAWL) {
        flags_format_duration(r->o.page_timeout, timeout, sizeof(timeout));
        x->command = xasprintf("./%s --timeout=%s", RENDLER_CRAWL_EXECUTOR, timeout);
    } else {
        flags_format_duration(r->o.render_timeout, timeout, sizeof(timeout));
        x->command = xasprintf("./%s --timeout=%s --chromium='%s' --window_size='%s'",
                               RENDLER_RENDER_EXECUTOR, timeout, r->o.chromium,
                               r->o.window_size);
    }
    x->cmd.value = x->command;
    x->cmd.has_shell = 1;
    x->cmd.shell = 1;
    x->uri.value = r->archive_uri;
    x->uri.has_extract = 1;
    x->uri.extract = 1;
    x->uri.has_executable = 1;
    x->uri.executable = 0;
    /* Built afresh at every start: a cached copy would be stale. */
    x->uri.has_cache = 1;
    x->uri.cache = 0;
    x->uris[0] = &x->uri;
    x->cmd.uris = x->uris;
    x->cmd.n_uris = 1;
    x->info.command = &x->cmd;
    res_pair_init(&x->res, EXECUTOR_CPUS, EXECUTOR_MEM, role);
    x->info.resources = x->res.ptrs;
    x->info.n_resources = 2;
}

struct launch {
    Tepui__TaskInfo info;
    Tepui__TaskID id;
    Tepui__AgentID agent;
    struct res_pair res;
};

static void offer_scalars(const Tepui__Offer *o, double *cpus, double *mem)
{
    *cpus = *mem = 0;
    for (size_t i = 0; i < o->n_resources; i++) {
        const Tepui__Resource *res = o->resources[i];
        if (res->scalar == NULL || res->type != TEPUI__VALUE__TYPE__SCALAR)
            continue;
        if (strcmp(res->name, "cpus") == 0)
            *cpus += res->scalar->value;
        else if (strcmp(res->name, "mem") == 0)
            *mem += res->scalar->value;
    }
}

static void decline(struct rendler *r, const Tepui__Offer *o, double refuse_seconds)
{
    Tepui__OfferID *ids[1] = {o->id};
    Tepui__Filters filters = TEPUI__FILTERS__INIT;
    filters.has_refuse_seconds = 1;
    filters.refuse_seconds = refuse_seconds;
    tepui_scheduler_decline(r->sched, ids, 1, &filters, NULL, NULL);
}

static void accept_call_free(struct rendler *r, struct accept_call *ac)
{
    for (struct accept_call **p = &r->accepts; *p; p = &(*p)->next)
        if (*p == ac) {
            *p = ac->next;
            break;
        }
    for (size_t i = 0; i < ac->n; i++)
        free(ac->task_ids[i]);
    free(ac->task_ids);
    free(ac);
}

/* The master answers an ACCEPT 202 and reports on each task with updates.
 * Refused outright, the call launched nothing: its tasks are failed
 * attempts. Unanswered, it may or may not have: reconciliation tells. */
static void accept_done(struct tepui_scheduler *s, const struct tepui_call_result *res, void *arg)
{
    struct accept_call *ac = arg;
    struct rendler *r = ac->r;
    if (res->status == 0 && ac->n > 0) {
        log_warn("no answer to an ACCEPT (%s); reconciling its %zu task(s)", res->error, ac->n);
        tepui_scheduler_reconcile(s, (const char *const *)ac->task_ids, NULL, ac->n, NULL, NULL);
    } else if (res->status >= 300) {
        char why[256];
        snprintf(why, sizeof(why), "ACCEPT answered %d: %.200s", res->status, res->body);
        for (size_t i = 0; i < ac->n; i++) {
            struct task *t = NULL;
            HASH_FIND_STR(r->tasks, ac->task_ids[i], t);
            if (t != NULL && !t->finished)
                task_failed(r, t, why, 0);
        }
    }
    accept_call_free(r, ac);
}

/* Packs waiting jobs (crawls first: they drive the crawl) into one offer,
 * adding an executor's resources where it does not run yet. */
static void use_offer(struct rendler *r, const Tepui__Offer *o)
{
    if (r->finishing || r->n_queued == 0) {
        decline(r, o, DECLINE_IDLE_SECS);
        r->filtered = 1;
        if (!r->finishing && !r->suppressed && r->n_queued == 0) {
            /* Nothing to do until a task ends: stop the offers. */
            tepui_scheduler_suppress(r->sched, NULL, 0, NULL, NULL);
            r->suppressed = 1;
        }
        return;
    }
    double cpus, mem;
    offer_scalars(o, &cpus, &mem);
    const char *role = o->allocation_info ? o->allocation_info->role : NULL;
    struct agent_rec *a = agent_get(r, o->agent_id->value);
    struct exec_info execs[2];
    exec_info_init(r, &execs[JOB_CRAWL], JOB_CRAWL, role);
    exec_info_init(r, &execs[JOB_RENDER], JOB_RENDER, role);
    static const double task_cpus[2] = {CRAWL_TASK_CPUS, RENDER_TASK_CPUS};
    static const double task_mem[2] = {CRAWL_TASK_MEM, RENDER_TASK_MEM};

    struct launch *launches = xcalloc(r->n_queued, sizeof(*launches));
    Tepui__TaskInfo **infos = xcalloc(r->n_queued, sizeof(*infos));
    size_t n = 0;
    for (int kind = 0; kind < 2; kind++) {
        /* The queue is rebuilt from the jobs that do not fit. */
        struct job *j = r->queue[kind], *kept = NULL, *last_kept = NULL;
        r->queue[kind] = r->queue_tail[kind] = NULL;
        for (struct job *next; j != NULL; j = next) {
            next = j->next;
            j->next = NULL;
            double need_cpus = task_cpus[kind] + (a->has_executor[kind] ? 0 : EXECUTOR_CPUS);
            double need_mem = task_mem[kind] + (a->has_executor[kind] ? 0 : EXECUTOR_MEM);
            if (need_cpus > cpus + 1e-9 || need_mem > mem + 1e-9) {
                if (last_kept != NULL)
                    last_kept->next = j;
                else
                    kept = j;
                last_kept = j;
                continue;
            }
            cpus -= need_cpus;
            mem -= need_mem;
            a->has_executor[kind] = 1;
            r->n_queued--;

            struct page *p = j->page;
            struct task *t = XNEW(struct task);
            t->r = r;
            t->kind = (enum job_kind)kind;
            t->page = p;
            t->id = xasprintf("%s-%d-%d", job_names[kind], p->index, ++r->task_seq);
            t->agent_id = xstrdup(o->agent_id->value);
            HASH_ADD_KEYPTR(hh, r->tasks, t->id, strlen(t->id), t);
            p->attempts[kind]++;
            if (kind == JOB_CRAWL)
                p->state = PAGE_CRAWLING;
            else
                p->render = RENDER_RUNNING;
            free(j);

            struct launch *l = &launches[n];
            tepui__task_info__init(&l->info);
            tepui__task_id__init(&l->id);
            tepui__agent_id__init(&l->agent);
            l->id.value = t->id;
            l->agent.value = o->agent_id->value;
            l->info.task_id = &l->id;
            l->info.agent_id = &l->agent;
            l->info.name = p->url;
            l->info.executor = &execs[kind].info;
            res_pair_init(&l->res, task_cpus[kind], task_mem[kind], role);
            l->info.resources = l->res.ptrs;
            l->info.n_resources = 2;
            /* The executor's whole instruction: the page's URL. */
            l->info.has_data = 1;
            l->info.data.data = (uint8_t *)p->url;
            l->info.data.len = strlen(p->url);
            infos[n++] = &l->info;
            log_info("launching %s of %s as task %s on agent %s", job_names[kind], p->url, t->id,
                     t->agent_id);
        }
        r->queue[kind] = kept;
        r->queue_tail[kind] = last_kept;
    }
    r->filtered = 1;
    if (n == 0) {
        decline(r, o, DECLINE_BUSY_SECS);
    } else {
        Tepui__Offer__Operation *op = tepui_operation_launch_new(infos, n);
        Tepui__Offer__Operation *ops[1] = {op};
        Tepui__OfferID *ids[1] = {o->id};
        Tepui__Filters filters = TEPUI__FILTERS__INIT;
        filters.has_refuse_seconds = 1;
        filters.refuse_seconds = DECLINE_BUSY_SECS;
        struct accept_call *ac = XNEW(struct accept_call);
        ac->r = r;
        ac->task_ids = xcalloc(n, sizeof(char *));
        for (size_t i = 0; i < n; i++)
            ac->task_ids[ac->n++] = xstrdup(infos[i]->task_id->value);
        ac->next = r->accepts;
        r->accepts = ac;
        if (tepui_scheduler_accept(r->sched, ids, 1, ops, 1, &filters, accept_done, ac) != 0) {
            /* Not even sent (we are between subscriptions): as if refused. */
            struct tepui_call_result refused = {.status = 503, .body = "not subscribed"};
            accept_done(r->sched, &refused, ac);
        }
        tepui_message_free(op);
        r->stats.launched += (int)n;
    }
    free(launches);
    free(infos);
    free(execs[JOB_CRAWL].command);
    free(execs[JOB_RENDER].command);
}

static void revive_cb(evutil_socket_t fd, short what, void *arg)
{
    struct rendler *r = arg;
    (void)fd, (void)what;
    if (r->finishing || !(r->suppressed || r->filtered) ||
        !tepui_scheduler_is_subscribed(r->sched))
        return;
    log_info("new work: reviving offers");
    tepui_scheduler_revive(r->sched, NULL, 0, NULL, NULL);
    r->suppressed = 0;
    r->filtered = 0;
}

/* ---- scheduler callbacks ---- */

static void on_subscribed(struct tepui_scheduler *s, const Tepui__Scheduler__Event__Subscribed *e,
                          void *arg)
{
    struct rendler *r = arg;
    if (r->framework_id == NULL) {
        r->framework_id = xstrdup(e->framework_id->value);
        log_info("subscribed as framework %s", r->framework_id);
        return;
    }
    /* Back after a lost connection (a master restart, a network blip):
     * ask the master where our tasks stand; updates we missed come again. */
    size_t n = HASH_COUNT(r->tasks);
    log_info("re-subscribed; reconciling %zu task(s)", n);
    r->suppressed = 0;
    r->filtered = 0;
    if (n == 0)
        return;
    const char **ids = xcalloc(n, sizeof(char *));
    const char **agents = xcalloc(n, sizeof(char *));
    size_t i = 0;
    struct task *t, *tmp;
    HASH_ITER(hh, r->tasks, t, tmp) {
        ids[i] = t->id;
        agents[i++] = t->agent_id;
    }
    tepui_scheduler_reconcile(s, ids, agents, n, NULL, NULL);
    free(ids);
    free(agents);
}

static void on_offers(struct tepui_scheduler *s, const Tepui__Scheduler__Event__Offers *e, void *arg)
{
    (void)s;
    for (size_t i = 0; i < e->n_offers; i++)
        use_offer(arg, e->offers[i]);
}

static void on_update(struct tepui_scheduler *s, const Tepui__Scheduler__Event__Update *e, void *arg)
{
    struct rendler *r = arg;
    const Tepui__TaskStatus *st = e->status;
    /* Every update the agent sent must be acknowledged, or the agent keeps
     * resending it and holds back the task's later ones. Updates the master
     * made up (reconciliation) carry no uuid and are not acknowledged. */
    if (st->has_uuid && st->agent_id != NULL)
        tepui_scheduler_acknowledge(s, st->agent_id->value, st->task_id->value, st->uuid.data,
                                    st->uuid.len, NULL, NULL);
    struct task *t = NULL;
    HASH_FIND_STR(r->tasks, st->task_id->value, t);
    if (t == NULL)
        return;
    log_info("task %s (%s of %s) is %s%s%s", t->id, job_names[t->kind], t->page->url,
             task_state_name(st->state), st->message ? ": " : "", st->message ? st->message : "");
    switch (st->state) {
    case TEPUI__TASK_STATE__TASK_STAGING:
    case TEPUI__TASK_STATE__TASK_STARTING:
    case TEPUI__TASK_STATE__TASK_RUNNING:
    case TEPUI__TASK_STATE__TASK_KILLING:
        return;
    case TEPUI__TASK_STATE__TASK_FINISHED:
        if (t->finished)
            return;   /* told again (reconciliation) */
        t->finished = 1;
        if (t->result != NULL) {
            task_complete(r, t);
        } else {
            t->result_timer = evtimer_new(r->base, result_timeout, t);
            struct timeval tv = clock_timeval(r->o.result_timeout);
            evtimer_add(t->result_timer, &tv);
        }
        return;
    default:
        break;
    }
    /* Whatever did not come from the executor itself may mean the executor
     * is gone (it crashed, could not be fetched or started): the next task
     * for that agent brings a new one, with its resources. */
    if (!st->has_source || st->source != TEPUI__TASK_STATUS__SOURCE__SOURCE_EXECUTOR) {
        struct agent_rec *a = agent_get(r, t->agent_id);
        a->has_executor[t->kind] = 0;
    }
    /* A failure's message says it all; other ends say what they are. */
    char why[512];
    if (st->state == TEPUI__TASK_STATE__TASK_FAILED && st->message != NULL)
        snprintf(why, sizeof(why), "%s", st->message);
    else
        snprintf(why, sizeof(why), "%s%s%s", task_state_name(st->state),
                 st->message ? ": " : "", st->message ? st->message : "");
    task_failed(r, t, why, rendler_status_no_retry(st));
}

static void on_message(struct tepui_scheduler *s, const Tepui__Scheduler__Event__Message *e,
                       void *arg)
{
    struct rendler *r = arg;
    (void)s;
    struct error err = {0};
    struct rendler_result *res = XNEW(struct rendler_result);
    if (rendler_result_decode(e->data.data, e->data.len, res, &err) != 0) {
        log_warn("ignoring a message from executor %s on agent %s: %s", e->executor_id->value,
                 e->agent_id->value, err.msg);
        free(res);
        return;
    }
    struct task *t = NULL;
    HASH_FIND_STR(r->tasks, res->task_id, t);
    /* Results of tasks given up on (late, or duplicated) are dropped, and
     * so is anything that does not come from where the task runs. */
    if (t == NULL || t->result != NULL || (int)res->kind != (int)t->kind ||
        strcmp(e->agent_id->value, t->agent_id) != 0) {
        log_info("ignoring a result for task %s: not expected", res->task_id);
        rendler_result_clear(res);
        free(res);
        return;
    }
    if (res->kind == RENDLER_RESULT_CRAWL) {
        /* Links come from the network: only normalized http(s) URLs, once
         * each, make it into the graph. */
        struct link_set links = {0};
        for (size_t i = 0; i < res->n_links; i++) {
            char *url = url_resolve(NULL, res->links[i]);
            if (url != NULL)
                link_set_add(&links, url);
            free(url);
            free(res->links[i]);
        }
        free(res->links);
        res->links = links.urls;
        res->n_links = links.n;
        links.urls = NULL;
        links.n = 0;
        link_set_free(&links);
    }
    t->result = res;
    if (t->finished)
        task_complete(r, t);
}

static void on_failure(struct tepui_scheduler *s, const Tepui__Scheduler__Event__Failure *e,
                       void *arg)
{
    struct rendler *r = arg;
    (void)s;
    if (e->agent_id == NULL)
        return;
    struct agent_rec *a = agent_get(r, e->agent_id->value);
    if (e->executor_id == NULL) {
        log_warn("agent %s is gone", a->id);
        a->has_executor[0] = a->has_executor[1] = 0;
        return;
    }
    for (int k = 0; k < 2; k++)
        if (strcmp(e->executor_id->value, executor_ids[k]) == 0) {
            log_warn("executor %s on agent %s exited (status %d)", executor_ids[k], a->id,
                     e->has_status ? e->status : -1);
            a->has_executor[k] = 0;
        }
}

static void on_error(struct tepui_scheduler *s, const char *message, void *arg)
{
    struct rendler *r = arg;
    (void)s;
    log_error("the master ended our subscription: %s", message);
    r->finishing = 1;
    r->exit_code = 1;
    event_base_loopbreak(r->base);
}

static void on_disconnected(struct tepui_scheduler *s, const char *why, void *arg)
{
    struct rendler *r = arg;
    (void)s;
    /* After TEARDOWN the stream ends for good, as it should. */
    if (r->finishing)
        log_info("event stream closed (%s)", why);
    else
        log_warn("lost the master (%s); re-subscribing", why);
}

/* ---- screenshots ---- */

/* A connection to the agent that holds a screenshot ("host:port"). */
static struct http_client *agent_client(struct rendler *r, const char *endpoint)
{
    struct http_endpoint ep;
    if (http_endpoint_parse(endpoint, 5051, &ep, NULL) != 0)
        return NULL;
    return http_client_new(r->base, ep.host, ep.port, 30.0);
}

static void download_free(struct rendler *r, struct download *d)
{
    for (struct download **p = &r->downloads; *p; p = &(*p)->next)
        if (*p == d) {
            *p = d->next;
            break;
        }
    if (d->retry_timer != NULL)
        event_free(d->retry_timer);
    http_client_free(d->client);
    free(d->endpoint);
    free(d->path);
    free(d);
}

static void download_send(struct download *d);

static int is_png(const char *data, size_t len)
{
    return len >= 8 && memcmp(data, "\x89PNG\r\n\x1a\n", 8) == 0;
}

static void download_done(const struct http_reply *reply, void *arg)
{
    struct download *d = arg;
    struct rendler *r = d->r;
    struct page *p = d->page;
    d->call = NULL;
    char why[256] = "";
    if (reply->status != 200)
        snprintf(why, sizeof(why), "HTTP %d %s", reply->status, reply->error ? reply->error : "");
    else if (!is_png(reply->body, reply->len))
        snprintf(why, sizeof(why), "not a PNG (%zu bytes)", reply->len);
    if (why[0] != '\0' && d->attempts < DOWNLOAD_ATTEMPTS) {
        log_warn("cannot download the screenshot of %s from %s: %s; trying again", p->url,
                 d->endpoint, why);
        struct timeval tv = clock_timeval(DOWNLOAD_RETRY_SECS);
        evtimer_add(d->retry_timer, &tv);
        return;
    }
    if (why[0] == '\0') {
        char *rel = xasprintf("screenshots/%03d.png", p->index);
        char *path = xasprintf("%s/%s", r->o.output_dir, rel);
        FILE *f = fopen(path, "wb");
        if (f == NULL || fwrite(reply->body, 1, reply->len, f) != reply->len) {
            snprintf(why, sizeof(why), "cannot write %s: %s", path, strerror(errno));
            free(rel);
        } else {
            p->screenshot = rel;
        }
        if (f != NULL && fclose(f) != 0 && why[0] == '\0') {
            snprintf(why, sizeof(why), "cannot write %s: %s", path, strerror(errno));
            free(p->screenshot);
            p->screenshot = NULL;
        }
        free(path);
    }
    if (why[0] == '\0') {
        p->render = RENDER_DONE;
        r->stats.screenshots++;
        log_info("screenshot of %s saved as %s (%zu bytes)", p->url, p->screenshot, reply->len);
    } else {
        log_warn("no screenshot of %s: %s", p->url, why);
        p->render = RENDER_FAILED;
        free(p->render_error);
        p->render_error = xasprintf("cannot download the screenshot: %s", why);
        r->stats.render_failures++;
    }
    download_free(r, d);
    check_done(r);
}

static void download_send(struct download *d)
{
    d->attempts++;
    char *q = evhttp_uriencode(d->path, -1, 0);
    char *path = xasprintf("/files/download?path=%s", q);
    free(q);
    d->call = http_client_request(d->client, "GET", path, NULL, NULL, 0, download_done, d);
    free(path);
}

static void download_retry(evutil_socket_t fd, short what, void *arg)
{
    struct download *d = arg;
    (void)fd, (void)what;
    download_send(d);
}

static void download_start(struct rendler *r, struct page *p, const struct rendler_result *res)
{
    struct download *d = XNEW(struct download);
    d->r = r;
    d->page = p;
    d->endpoint = xstrdup(res->agent_endpoint);
    d->path = xstrdup(res->path);
    d->retry_timer = evtimer_new(r->base, download_retry, d);
    d->next = r->downloads;
    r->downloads = d;
    d->client = agent_client(r, d->endpoint);
    if (d->client == NULL) {
        log_warn("no screenshot of %s: the agent endpoint '%s' does not parse", p->url,
                 d->endpoint);
        p->render = RENDER_FAILED;
        p->render_error = xasprintf("bad agent endpoint '%s'", d->endpoint);
        r->stats.render_failures++;
        download_free(r, d);
        return;
    }
    download_send(d);
}

/* ---- the executors' archive ---- */

static la_ssize_t archive_write_cb(struct archive *a, void *arg, const void *data, size_t len)
{
    (void)a;
    buf_append(arg, data, len);
    return (la_ssize_t)len;
}

/* A gzipped tar of the two executor binaries, built in memory at start
 * from the ones beside this program (or in --executors_dir). */
static int archive_build(struct rendler *r, struct error *err)
{
    int rc = 0;
    struct archive *a = archive_write_new();
    archive_write_add_filter_gzip(a);
    archive_write_set_format_pax_restricted(a);
    if (archive_write_open(a, &r->archive, NULL, archive_write_cb, NULL) != ARCHIVE_OK) {
        rc = error_set(err, -EIO, "cannot start the archive: %s", archive_error_string(a));
        goto out;
    }
    static const char *const names[] = {RENDLER_CRAWL_EXECUTOR, RENDLER_RENDER_EXECUTOR};
    for (size_t i = 0; i < 2 && rc == 0; i++) {
        char *path = xasprintf("%s/%s", r->o.executors_dir, names[i]);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) != 0) {
            rc = error_set(err, -errno, "cannot read %s: %s (build it, or say where it is with "
                           "--executors_dir)", path, strerror(errno));
        } else {
            struct archive_entry *e = archive_entry_new();
            archive_entry_set_pathname(e, names[i]);
            archive_entry_set_size(e, st.st_size);
            archive_entry_set_filetype(e, AE_IFREG);
            archive_entry_set_perm(e, 0755);
            archive_entry_set_mtime(e, st.st_mtime, 0);
            if (archive_write_header(a, e) != ARCHIVE_OK)
                rc = error_set(err, -EIO, "archive: %s", archive_error_string(a));
            char chunk[65536];
            ssize_t got;
            while (rc == 0 && (got = read(fd, chunk, sizeof(chunk))) > 0)
                if (archive_write_data(a, chunk, (size_t)got) != got)
                    rc = error_set(err, -EIO, "archive: %s", archive_error_string(a));
            archive_entry_free(e);
        }
        if (fd >= 0)
            close(fd);
        free(path);
    }
    if (archive_write_close(a) != ARCHIVE_OK && rc == 0)
        rc = error_set(err, -EIO, "cannot finish the archive: %s", archive_error_string(a));
out:
    archive_write_free(a);
    return rc;
}

static void serve_archive(struct http_request *req, void *arg)
{
    struct rendler *r = arg;
    if (!http_require_get(req))
        return;
    r->archive_downloads++;
    log_info("serving the executors (%zu bytes) to %s", r->archive.len, req->peer);
    http_respond(req, 200, "application/gzip", r->archive.data, r->archive.len);
}

/* ---- the output ---- */

static void dot_escape(struct buf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            buf_append_char(b, '\\');
        buf_append_char(b, *s == '\n' ? ' ' : *s);
    }
}

/* A string as a Graphviz quoted string. */
static void dot_quote(struct buf *b, const char *s)
{
    buf_append_char(b, '"');
    dot_escape(b, s);
    buf_append_char(b, '"');
}

/* A node's label: its URL, and a note on a second line when note is set. */
static void dot_label(struct buf *b, const char *url, const char *note)
{
    buf_append_str(b, "label=\"");
    dot_escape(b, url);
    if (note != NULL) {
        buf_append_str(b, "\\n(");
        dot_escape(b, note);
        buf_append_char(b, ')');
    }
    buf_append_str(b, "\"];\n");
}

static int write_file(const char *path, const struct buf *b, struct error *err)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return error_set(err, -errno, "cannot create %s: %s", path, strerror(errno));
    size_t n = fwrite(b->data ? b->data : "", 1, b->len, f);
    if (fclose(f) != 0 || n != b->len)
        return error_set(err, -EIO, "cannot write %s", path);
    return 0;
}

/* graph.dot: a node per page (crawled pages show their screenshot), an edge
 * per link found, in crawl order. */
static int write_dot(struct rendler *r, struct error *err)
{
    struct buf b = BUF_INIT;
    buf_append_str(&b, "digraph rendler {\n  graph [label=");
    char *title = xasprintf("RENDLER: %s", r->start_url);
    dot_quote(&b, title);
    free(title);
    buf_append_str(&b, ", labelloc=t, fontname=\"Helvetica\"];\n"
                       "  node [shape=box, fontname=\"Helvetica\", fontsize=10];\n");
    for (size_t i = 0; i < r->n_pages; i++) {
        struct page *p = r->order[i];
        buf_append_str(&b, "  ");
        dot_quote(&b, p->url);
        switch (p->state) {
        case PAGE_CRAWLED:
            if (p->screenshot != NULL) {
                buf_append_str(&b, " [image=");
                dot_quote(&b, p->screenshot);
                buf_append_str(&b, ", imagescale=true, fixedsize=true, width=3.2, height=2.6, "
                                   "labelloc=b, ");
            } else {
                buf_append_str(&b, " [");
            }
            dot_label(&b, p->url, NULL);
            break;
        case PAGE_BROKEN:
            buf_append_str(&b, " [color=red, fontcolor=red, ");
            dot_label(&b, p->url, p->error ? p->error : "broken");
            break;
        case PAGE_EXTERNAL:
            buf_append_str(&b, " [style=dashed, color=gray50, fontcolor=gray50, ");
            dot_label(&b, p->url, "outside the allowed hosts");
            break;
        default:
            buf_append_str(&b, " [style=dotted, color=gray50, fontcolor=gray50, ");
            dot_label(&b, p->url, "not crawled: past the depth or page limit");
            break;
        }
    }
    for (size_t i = 0; i < r->n_pages; i++) {
        struct page *p = r->order[i];
        for (size_t k = 0; k < p->n_links; k++) {
            buf_append_str(&b, "  ");
            dot_quote(&b, p->url);
            buf_append_str(&b, " -> ");
            dot_quote(&b, p->links[k]);
            buf_append_str(&b, ";\n");
        }
    }
    buf_append_str(&b, "}\n");
    char *path = xasprintf("%s/graph.dot", r->o.output_dir);
    int rc = write_file(path, &b, err);
    free(path);
    buf_free(&b);
    return rc;
}

/* graph.png, by Graphviz's dot run in the output directory (screenshots
 * are named relative to it). */
static int render_graph(struct rendler *r, struct error *err)
{
    char *argv[] = {"dot", "-Tpng", "-o", "graph.png", "graph.dot", NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addchdir_np(&fa, r->o.output_dir);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    pid_t pid;
    int rc = posix_spawnp(&pid, "dot", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        return error_set(err, -rc, "cannot run Graphviz's dot: %s (apt-get install graphviz)",
                         strerror(rc));
    /* dot takes well under a second for a few hundred nodes; a minute is
     * a hang. */
    int status = 0;
    double deadline = clock_mono() + 60;
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (clock_mono() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return error_set(err, -ETIMEDOUT, "dot did not finish within a minute");
        }
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return error_set(err, -EIO, "dot failed (status %d) on %s/graph.dot", status,
                         r->o.output_dir);
    return 0;
}

static int write_pages_json(struct rendler *r, struct error *err)
{
    json_t *o = json_object();
    json_object_set_new(o, "start_url", json_string(r->start_url));
    json_object_set_new(o, "framework_id", r->framework_id ? json_string(r->framework_id)
                                                           : json_null());
    json_object_set_new(o, "archive_downloads", json_integer(r->archive_downloads));
    json_t *tasks = json_object();
    json_object_set_new(tasks, "launched", json_integer(r->stats.launched));
    json_object_set_new(tasks, "retried", json_integer(r->stats.retried));
    json_object_set_new(tasks, "failed_for_good", json_integer(r->stats.failed_for_good));
    json_object_set_new(tasks, "lost_results", json_integer(r->stats.lost_results));
    json_object_set_new(o, "tasks", tasks);
    json_t *pages = json_array();
    for (size_t i = 0; i < r->n_pages; i++) {
        struct page *p = r->order[i];
        json_t *pj = json_object();
        json_object_set_new(pj, "url", json_string(p->url));
        json_object_set_new(pj, "depth", json_integer(p->depth));
        json_object_set_new(pj, "state", json_string(page_state_names[p->state]));
        json_object_set_new(pj, "crawl_attempts", json_integer(p->attempts[JOB_CRAWL]));
        json_object_set_new(pj, "render_attempts", json_integer(p->attempts[JOB_RENDER]));
        if (p->http_status)
            json_object_set_new(pj, "http_status", json_integer(p->http_status));
        if (p->error)
            json_object_set_new(pj, "error", json_string(p->error));
        if (p->state == PAGE_CRAWLED) {
            json_t *links = json_array();
            for (size_t k = 0; k < p->n_links; k++)
                json_array_append_new(links, json_string(p->links[k]));
            json_object_set_new(pj, "links", links);
        }
        if (p->screenshot)
            json_object_set_new(pj, "screenshot", json_string(p->screenshot));
        if (p->render_error)
            json_object_set_new(pj, "render_error", json_string(p->render_error));
        json_array_append_new(pages, pj);
    }
    json_object_set_new(o, "pages", pages);
    char *path = xasprintf("%s/pages.json", r->o.output_dir);
    int rc = 0;
    if (json_dump_file(o, path, JSON_INDENT(2)) != 0)
        rc = error_set(err, -EIO, "cannot write %s", path);
    free(path);
    json_decref(o);
    return rc;
}

/* ---- the end ---- */

static void check_done(struct rendler *r)
{
    if (r->finishing || !r->crawl_over || r->n_queued > 0 || r->tasks != NULL ||
        r->downloads != NULL)
        return;
    finish(r, 0, "every page is crawled and rendered");
}

static void teardown_done(struct tepui_scheduler *s, const struct tepui_call_result *res, void *arg)
{
    struct rendler *r = arg;
    (void)s;
    if (res->status != 202 && res->status != 200)
        log_warn("TEARDOWN answered %d: %s", res->status, res->error ? res->error : res->body);
    event_base_loopbreak(r->base);
}

static void teardown_wait_over(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    log_warn("no answer to TEARDOWN; exiting anyway");
    event_base_loopbreak(((struct rendler *)arg)->base);
}

/* Writes what there is and removes the framework (the master kills its
 * tasks and the agents shut its executors down). */
static void finish(struct rendler *r, int code, const char *why)
{
    if (r->finishing)
        return;
    r->finishing = 1;
    r->exit_code = code;
    log_info("finishing: %s", why);
    struct error err = {0};
    if (write_dot(r, &err) != 0 || write_pages_json(r, &err) != 0 || render_graph(r, &err) != 0) {
        log_error("%s", err.msg);
        r->exit_code = 1;
    }
    if (!tepui_scheduler_is_subscribed(r->sched) ||
        tepui_scheduler_teardown(r->sched, teardown_done, r) != 0) {
        event_base_loopbreak(r->base);
        return;
    }
    r->teardown_timer = evtimer_new(r->base, teardown_wait_over, r);
    struct timeval tv = clock_timeval(TEARDOWN_WAIT_SECS);
    evtimer_add(r->teardown_timer, &tv);
}

static void overall_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct rendler *r = arg;
    (void)fd, (void)what;
    finish(r, 1, "--timeout passed; the output holds what was done");
}

static void print_summary(struct rendler *r)
{
    int counts[6] = {0};
    for (size_t i = 0; i < r->n_pages; i++)
        counts[r->order[i]->state]++;
    printf("RENDLER crawled from %s in %.1f s\n", r->start_url, clock_mono() - r->started);
    printf("  pages: %d crawled, %d broken, %d outside the allowed hosts, %d past the limits, "
           "%d unfinished\n",
           counts[PAGE_CRAWLED], counts[PAGE_BROKEN], counts[PAGE_EXTERNAL], counts[PAGE_LIMIT],
           counts[PAGE_QUEUED] + counts[PAGE_CRAWLING]);
    if (r->o.render)
        printf("  screenshots: %d saved, %d failed\n", r->stats.screenshots,
               r->stats.render_failures);
    else
        printf("  screenshots: none (--no-render)\n");
    printf("  tasks: %d launched, %d retried, %d failed for good\n", r->stats.launched,
           r->stats.retried, r->stats.failed_for_good);
    printf("  executors: archive served %d time(s) from %s\n", r->archive_downloads,
           r->archive_uri ? r->archive_uri : "-");
    printf("  framework: %s\n", r->framework_id ? r->framework_id : "-");
    printf("  output: %s/graph.dot, graph.png, pages.json, screenshots/\n", r->o.output_dir);
    for (size_t i = 0; i < r->n_pages; i++) {
        struct page *p = r->order[i];
        if (p->state == PAGE_BROKEN)
            printf("  broken: %s (%s)\n", p->url, p->error);
        if (p->render == RENDER_FAILED)
            printf("  no screenshot: %s (%s)\n", p->url, p->render_error);
    }
    printf("%s\n", r->exit_code == 0 ? "done" : "FAILED");
    fflush(stdout);
}

/* ---- setup ---- */

static int parse_allowed_hosts(struct rendler *r, struct error *err)
{
    if (r->o.allowed_hosts == NULL || r->o.allowed_hosts[0] == '\0') {
        r->allowed = xcalloc(1, sizeof(char *));
        r->allowed[r->n_allowed++] = url_authority(r->start_url);
        return 0;
    }
    char *copy = xstrdup(r->o.allowed_hosts), *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        /* An authority is checked as the host part of a URL would be. */
        char *url = xasprintf("http://%s/", tok);
        char *auth = url_authority(url);
        free(url);
        if (auth == NULL) {
            free(copy);
            return error_set(err, -EINVAL, "--allowed_hosts: '%s' is no host[:port]", tok);
        }
        r->allowed = xrealloc(r->allowed, (r->n_allowed + 1) * sizeof(char *));
        r->allowed[r->n_allowed++] = auth;
    }
    free(copy);
    return 0;
}

static int setup(struct rendler *r, struct error *err)
{
    int rc;
    r->start_url = url_resolve(NULL, r->o.url);
    if (r->start_url == NULL)
        return error_set(err, -EINVAL, "--url: '%s' is not an http(s) URL", r->o.url);
    if ((rc = parse_allowed_hosts(r, err)) != 0)
        return rc;
    if (r->o.max_pages < 1 || r->o.max_depth < 0 || r->o.max_attempts < 1)
        return error_set(err, -EINVAL, "--max_pages and --max_attempts must be at least 1, "
                                       "--max_depth at least 0");
    char *shots = xasprintf("%s/screenshots", r->o.output_dir);
    rc = fs_mkdirs(shots);
    free(shots);
    if (rc != 0)
        return error_set(err, rc, "cannot create %s: %s", r->o.output_dir, strerror(-rc));

    if (r->o.executors_dir == NULL) {
        char self[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        if (n <= 0)
            return error_set(err, -errno, "cannot find this program; give --executors_dir");
        self[n] = '\0';
        r->o.executors_dir = xstrdup(dirname(self));
    }
    if ((rc = archive_build(r, err)) != 0)
        return rc;

    struct http_server_options hopts = {.max_body_bytes = 64 * 1024,
                                        .max_header_bytes = 64 * 1024,
                                        .idle_timeout_secs = 60};
    r->http = http_server_new(r->base, &hopts);
    if ((rc = http_server_bind(r->http, r->o.artifacts_ip, r->o.artifacts_port, &r->http_port,
                               err)) != 0)
        return error_prefix(err, "serving the executors");
    http_server_route(r->http, "/" RENDLER_ARCHIVE, serve_archive, r);
    const char *host = r->o.artifacts_host && r->o.artifacts_host[0] ? r->o.artifacts_host
                                                                     : r->o.artifacts_ip;
    r->archive_uri = xasprintf("http://%s:%d/%s", host, r->http_port, RENDLER_ARCHIVE);
    log_info("serving the executors (%zu bytes) at %s", r->archive.len, r->archive_uri);

    struct page *start = page_add(r, r->start_url, 0, PAGE_QUEUED);
    r->admitted = 1;
    r->level_left = 1;
    job_push(r, JOB_CRAWL, start);
    return 0;
}

static void rendler_free(struct rendler *r)
{
    while (r->downloads != NULL)
        download_free(r, r->downloads);
    while (r->accepts != NULL)
        accept_call_free(r, r->accepts);
    struct task *t, *ttmp;
    HASH_ITER(hh, r->tasks, t, ttmp) {
        task_free(r, t);
    }
    for (int k = 0; k < 2; k++) {
        while (r->queue[k] != NULL) {
            struct job *j = r->queue[k];
            r->queue[k] = j->next;
            free(j);
        }
    }
    struct agent_rec *a, *atmp;
    HASH_ITER(hh, r->agents, a, atmp) {
        HASH_DEL(r->agents, a);
        free(a->id);
        free(a);
    }
    HASH_CLEAR(hh, r->pages);
    for (size_t i = 0; i < r->n_pages; i++) {
        struct page *p = r->order[i];
        for (size_t k = 0; k < p->n_links; k++)
            free(p->links[k]);
        free(p->links);
        free(p->url);
        free(p->error);
        free(p->screenshot);
        free(p->render_error);
        free(p);
    }
    free(r->order);
    for (size_t i = 0; i < r->n_allowed; i++)
        free(r->allowed[i]);
    free(r->allowed);
    free(r->start_url);
    free(r->archive_uri);
    free(r->framework_id);
    free(r->o.executors_dir);
    buf_free(&r->archive);
    if (r->http != NULL)
        http_server_free(r->http);
    if (r->revive_event != NULL)
        event_free(r->revive_event);
    if (r->timeout_timer != NULL)
        event_free(r->timeout_timer);
    if (r->teardown_timer != NULL)
        event_free(r->teardown_timer);
}

int main(int argc, char **argv)
{
    struct rendler r = {0};
    struct options *o = &r.o;
    char *executors_dir_flag = NULL;
    struct flag_def defs[] = {
        {"master", FLAG_STRING, &o->master, "127.0.0.1:5050", "The master (host:port)"},
        {"url", FLAG_STRING, &o->url, NULL, "Where the crawl starts (or the one argument)"},
        {"output_dir", FLAG_STRING, &o->output_dir, "rendler-output",
         "Where graph.dot, graph.png, pages.json and screenshots/ go"},
        {"max_pages", FLAG_INT, &o->max_pages, "20", "Pages crawled at most"},
        {"max_depth", FLAG_INT, &o->max_depth, "2",
         "Links followed from the start page at most (0: the start page alone)"},
        {"allowed_hosts", FLAG_STRING, &o->allowed_hosts, NULL,
         "Comma-separated host[:port] list the crawl stays on (unset: the start URL's)"},
        {"render", FLAG_BOOL, &o->render, "true",
         "Screenshot every crawled page with headless Chromium (--no-render: crawl only)"},
        {"max_attempts", FLAG_INT, &o->max_attempts, "3",
         "Tasks launched for one page and job at most (failures are retried)"},
        {"result_timeout", FLAG_DURATION, &o->result_timeout, "10secs",
         "How long a finished task's result message may lag its TASK_FINISHED"},
        {"timeout", FLAG_DURATION, &o->timeout, "10mins",
         "Give up (writing what there is) after this long"},
        {"executors_dir", FLAG_STRING, &executors_dir_flag, NULL,
         "Where the executor binaries are (unset: beside this program)"},
        {"artifacts_ip", FLAG_STRING, &o->artifacts_ip, "127.0.0.1",
         "Address of the HTTP server that hands the executors to the agents"},
        {"artifacts_port", FLAG_INT, &o->artifacts_port, "0", "Its port (0: any free one)"},
        {"artifacts_host", FLAG_STRING, &o->artifacts_host, NULL,
         "Host name the agents reach that server by (unset: --artifacts_ip)"},
        {"page_timeout", FLAG_DURATION, &o->page_timeout, "30secs",
         "How long the crawl executor may take to fetch one page"},
        {"render_timeout", FLAG_DURATION, &o->render_timeout, "60secs",
         "How long the render executor may take for one screenshot"},
        {"chromium", FLAG_STRING, &o->chromium, "chromium", "The Chromium program on the agents"},
        {"window_size", FLAG_STRING, &o->window_size, "1024,768",
         "Width,height of the screenshots"},
        {"api_format", FLAG_STRING, &o->api_format, "protobuf",
         "Encoding of the scheduler API: protobuf or json"},
        {"failover_timeout", FLAG_DURATION, &o->failover_timeout, "1mins",
         "How long the master keeps our tasks while we are disconnected"},
        {"name", FLAG_STRING, &o->name, "RENDLER", "The framework's name"},
        {"logging_level", FLAG_STRING, &o->logging_level, "INFO",
         "Least severe level logged: DEBUG, INFO, WARNING or ERROR"},
    };
    struct flag_set fs = {
        .program = "rendler-scheduler",
        .summary = "RENDLER on tepui: crawls a site from a start URL and screenshots its pages "
                   "with tasks on the cluster, then draws the link graph.",
        .defs = defs,
        .n = sizeof(defs) / sizeof(defs[0]),
    };
    struct error err = {0};
    char **positional = NULL;
    int n_positional = 0;
    int code = 2;
    int rc = flags_parse(&fs, argc, argv, &positional, &n_positional, &err);
    if (rc != 0) {
        if (rc < 0)
            fprintf(stderr, "rendler-scheduler: %s\n", err.msg);
        code = rc < 0 ? 2 : 0;
        goto out;
    }
    if (o->url == NULL && n_positional == 1)
        o->url = positional[0];
    int level = log_level_parse(o->logging_level);
    if (o->url == NULL || n_positional > 1 || level < 0 ||
        (strcmp(o->api_format, "json") != 0 && strcmp(o->api_format, "protobuf") != 0)) {
        fprintf(stderr, "rendler-scheduler: give the start URL (--url=http://...), and a known "
                        "--logging_level and --api_format; see --help\n");
        goto out;
    }
    log_set_level((enum log_level)level);
    /* Ours, unlike the other strings (the flag set's): setup may make it up. */
    if (executors_dir_flag != NULL && executors_dir_flag[0] != '\0')
        o->executors_dir = xstrdup(executors_dir_flag);
    signal(SIGPIPE, SIG_IGN);

    r.base = event_base_new();
    r.started = clock_mono();
    r.revive_event = event_new(r.base, -1, 0, revive_cb, &r);
    if (setup(&r, &err) != 0) {
        fprintf(stderr, "rendler-scheduler: %s\n", err.msg);
        code = 1;
        goto out;
    }

    Tepui__FrameworkInfo fi = TEPUI__FRAMEWORK_INFO__INIT;
    struct passwd *pw = getpwuid(getuid());
    fi.user = pw ? pw->pw_name : "root";
    fi.name = o->name;
    fi.has_failover_timeout = 1;
    fi.failover_timeout = o->failover_timeout;
    /* Its executors survive an agent's restart. */
    fi.has_checkpoint = 1;
    fi.checkpoint = 1;
    struct tepui_scheduler_options so = {
        .master = o->master,
        .format = strcmp(o->api_format, "json") == 0 ? TEPUI_FORMAT_JSON : TEPUI_FORMAT_PROTOBUF,
        .auto_reconnect = 1,
    };
    struct tepui_scheduler_callbacks cb = {
        .subscribed = on_subscribed,
        .offers = on_offers,
        .update = on_update,
        .message = on_message,
        .failure = on_failure,
        .error = on_error,
        .disconnected = on_disconnected,
    };
    r.sched = tepui_scheduler_new(r.base, &fi, &so, &cb, &r);
    if (r.sched == NULL || tepui_scheduler_start(r.sched) != 0) {
        fprintf(stderr, "rendler-scheduler: cannot subscribe to the master at %s\n", o->master);
        code = 1;
        goto out;
    }
    r.timeout_timer = evtimer_new(r.base, overall_timeout, &r);
    struct timeval tv = clock_timeval(o->timeout);
    evtimer_add(r.timeout_timer, &tv);
    log_info("crawling from %s (depth %d, %d pages at most) through the master at %s",
             r.start_url, o->max_depth, o->max_pages, o->master);
    event_base_dispatch(r.base);
    code = r.exit_code;
    print_summary(&r);
out:
    tepui_scheduler_free(r.sched);
    if (r.base != NULL)
        event_base_loop(r.base, EVLOOP_NONBLOCK);
    rendler_free(&r);
    if (r.base != NULL)
        event_base_free(r.base);
    free(positional);
    flags_free(&fs);
    libevent_global_shutdown();
    return code;
}
