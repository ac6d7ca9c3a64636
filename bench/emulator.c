/* An emulated cluster: one process that plays N agents, each with its own
 * connection to the master over the real internal protocol (a SUBSCRIBE
 * stream and calls), answering pings, and answering every task it is given
 * at once: TASK_RUNNING, then TASK_FINISHED once the RUNNING update is
 * acknowledged (as an agent's status update stream does), or only
 * TASK_RUNNING with --tasks_run. It prints how long registration takes, and
 * when the master goes away, how long the agents take to re-register with
 * the next one.
 *
 * The same process can also play frameworks (--frameworks: schedulers on
 * libtepui that launch --tasks tasks and acknowledge every update, or
 * decline every offer) and probe the master's API (--probe: GET /health and
 * an operator GET_AGENTS at an interval, latencies printed at exit). Run
 * them as separate processes to keep their latencies apart from the agents'.
 *
 *   build/bench/emulator --masters=127.0.0.1:5050[,host:port...] --agents=1000
 *
 * With several masters the agents try them in turn; a master that does not
 * lead answers 307, and they follow it. bench/scale.sh drives it. */
#include <errno.h>
#include <event2/event.h>
#include <event2/http.h>
#include <math.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/daemon.h"
#include "common/flags.h"
#include "common/log.h"
#include "common/resources.h"
#include "common/uuid.h"
#include "common/xalloc.h"
#include "http/client.h"
#include "internal.pb-c.h"
#include "tepui/scheduler.h"
#include "wire/codec.h"
#include "wire/pb.h"
#include "wire/recordio.h"

#define AGENT_API_PATH "/internal/agent"

/* The first byte of an update's uuid says what it was, so that its
 * acknowledgement tells the agent what comes next without a table. */
#define UUID_RUNNING_THEN_FINISH 'R'
#define UUID_RUNNING_STAYS 'r'
#define UUID_TERMINAL 'T'

struct emulator;

struct eagent {
    struct emulator *em;
    int index;
    char *id;                       /* after the first SUBSCRIBED */
    char stream_id[64];
    int master;                     /* index of the master it talks to */
    struct http_client_stream *stream;
    struct recordio_reader reader;
    int subscribed;
    int connecting;
    struct event *retry;
    /* Status updates produced while handling one read from the stream, sent
     * as one call (as the real agent batches one turn of its loop). Each is
     * an AgentCall holding one update, packed: protobuf appends repeated
     * fields of concatenated messages, so the concatenation is one call. */
    struct buf updates;
    int n_updates;
};

/* One framework of the driver: launches its share of --tasks. */
struct eframework {
    struct emulator *em;
    int index;
    struct tepui_scheduler *sched;
    int to_launch, launched, done, failed, duplicates;
    unsigned char *seen;            /* per task: 1 RUNNING seen, 2 terminal seen */
    Tepui__Offer **held;            /* offers kept while the window is full */
    size_t n_held;
    int suppressed;
};

struct probe {
    const char *name;
    const char *method, *path, *body;
    struct http_header headers[3];
    struct http_client *client;
    int in_flight;
    int64_t sent_ns;
    double *ms;
    size_t n, cap;
    int failures, skipped;
};

struct emulator {
    struct event_base *base;
    struct eagent *agents;
    int n_agents;
    char **hosts;
    int *ports;
    int n_masters;
    char *resources;
    int tasks_run;
    struct http_client **calls;     /* one pipelined call connection per master */
    Tepui__Resource **res;
    size_t n_res;
    /* progress */
    int registered;
    double start, all_registered_at;
    int lost;                       /* agents that lost their master and came back pending */
    double lost_at;
    uint64_t tasks_finished, tasks_running, pings;
    struct event *report;
    /* frameworks */
    struct eframework *fws;
    int n_fws, tasks, window, until_running, exit_when_done, fws_done;
    double task_cpus, task_mem, refuse_seconds;
    int64_t first_accept, last_done;
    /* probes */
    struct probe probes[2];
    int n_probes;
    struct event *probe_timer;
};

static void subscribe(struct eagent *a);

static void schedule_retry(struct eagent *a, double secs)
{
    struct timeval tv = clock_timeval(secs);
    evtimer_add(a->retry, &tv);
}

static void drop(struct eagent *a)
{
    if (a->stream != NULL) {
        http_client_stream_close(a->stream);
        a->stream = NULL;
    }
    recordio_reader_free(&a->reader);
    recordio_reader_init(&a->reader, 64u * 1024 * 1024);
    buf_reset(&a->updates);
    a->n_updates = 0;
    a->connecting = 0;
    if (a->subscribed) {
        a->subscribed = 0;
        a->em->registered--;
        if (a->em->lost == 0)
            a->em->lost_at = clock_mono();
        a->em->lost++;
    }
}

static void send_body(struct eagent *a, const struct buf *body)
{
    struct http_header headers[] = {
        {"Content-Type", WIRE_MEDIA_PROTOBUF}, {"Mesos-Stream-Id", a->stream_id}, {NULL, NULL}};
    /* Calls go to the master the stream is on (after any redirect). */
    http_client_request(a->em->calls[a->master], "POST", AGENT_API_PATH, headers, body->data,
                        body->len, NULL, NULL);
}

static void send_call(struct eagent *a, Tepui__Internal__AgentCall *call)
{
    if (!a->subscribed)
        return;
    Tepui__AgentID aid = TEPUI__AGENT_ID__INIT;
    aid.value = a->id;
    call->agent_id = &aid;
    struct buf body = BUF_INIT;
    pb_pack_buf(&call->base, &body);
    send_body(a, &body);
    buf_free(&body);
    call->agent_id = NULL;
}

static void flush_updates(struct eagent *a)
{
    if (a->n_updates == 0)
        return;
    if (a->subscribed) {
        Tepui__Internal__AgentCall call = TEPUI__INTERNAL__AGENT_CALL__INIT;
        Tepui__AgentID aid = TEPUI__AGENT_ID__INIT;
        aid.value = a->id;
        call.agent_id = &aid;
        call.has_type = 1;
        call.type = TEPUI__INTERNAL__AGENT_CALL__TYPE__STATUS_UPDATE;
        struct buf body = BUF_INIT;
        pb_pack_buf(&call.base, &body);
        buf_append(&body, a->updates.data, a->updates.len);
        send_body(a, &body);
        buf_free(&body);
    }
    buf_reset(&a->updates);
    a->n_updates = 0;
}

/* Queues an update of task_id in state (uuid tagged with kind). */
static void queue_update(struct eagent *a, Tepui__FrameworkID *fid, Tepui__TaskID *tid,
                         Tepui__TaskState state, char kind)
{
    Tepui__Internal__AgentCall call = TEPUI__INTERNAL__AGENT_CALL__INIT;
    Tepui__Internal__StatusUpdate up = TEPUI__INTERNAL__STATUS_UPDATE__INIT;
    Tepui__TaskStatus st = TEPUI__TASK_STATUS__INIT;
    Tepui__AgentID aid = TEPUI__AGENT_ID__INIT;
    struct uuid u;
    uuid_random(&u);
    u.b[0] = (uint8_t)kind;
    aid.value = a->id;
    st.task_id = tid;
    st.state = state;
    st.has_source = 1;
    st.source = TEPUI__TASK_STATUS__SOURCE__SOURCE_EXECUTOR;
    st.has_uuid = 1;
    st.uuid.data = u.b;
    st.uuid.len = 16;
    st.agent_id = &aid;
    st.has_timestamp = 1;
    st.timestamp = clock_wall();
    up.framework_id = fid;
    up.status = &st;
    up.has_latest_state = 1;
    up.latest_state = state;
    Tepui__Internal__StatusUpdate *ups[1] = {&up};
    call.status_updates = ups;
    call.n_status_updates = 1;
    pb_pack_buf(&call.base, &a->updates);
    a->n_updates++;
    if (state == TEPUI__TASK_STATE__TASK_RUNNING)
        a->em->tasks_running++;
    else
        a->em->tasks_finished++;
}

static void handle_event(struct eagent *a, Tepui__Internal__AgentEvent *ev)
{
    struct emulator *em = a->em;
    switch (ev->type) {
    case TEPUI__INTERNAL__AGENT_EVENT__TYPE__SUBSCRIBED:
        if (ev->subscribed == NULL || ev->subscribed->agent_id == NULL)
            break;
        if (a->id == NULL)
            a->id = xstrdup(ev->subscribed->agent_id->value);
        if (a->subscribed)
            break;
        a->subscribed = 1;
        a->connecting = 0;
        em->registered++;
        if (em->lost > 0)
            em->lost--;
        if (em->registered == em->n_agents) {
            double now = clock_mono();
            if (em->all_registered_at == 0) {
                em->all_registered_at = now;
                printf("registered: %d agents in %.3f s\n", em->n_agents, now - em->start);
            } else {
                printf("re-registered: %d agents in %.3f s after the first was lost\n",
                       em->n_agents, now - em->lost_at);
            }
            fflush(stdout);
        }
        break;
    case TEPUI__INTERNAL__AGENT_EVENT__TYPE__PING: {
        Tepui__Internal__AgentCall call = TEPUI__INTERNAL__AGENT_CALL__INIT;
        Tepui__Internal__AgentCall__Pong pong = TEPUI__INTERNAL__AGENT_CALL__PONG__INIT;
        call.has_type = 1;
        call.type = TEPUI__INTERNAL__AGENT_CALL__TYPE__PONG;
        call.pong = &pong;
        send_call(a, &call);
        em->pings++;
        break;
    }
    case TEPUI__INTERNAL__AGENT_EVENT__TYPE__RUN_TASK:
        if (ev->run_task != NULL && ev->run_task->task != NULL && ev->run_task->framework != NULL)
            queue_update(a, ev->run_task->framework->id, ev->run_task->task->task_id,
                         TEPUI__TASK_STATE__TASK_RUNNING,
                         em->tasks_run ? UUID_RUNNING_STAYS : UUID_RUNNING_THEN_FINISH);
        break;
    case TEPUI__INTERNAL__AGENT_EVENT__TYPE__ACKNOWLEDGE: {
        /* The next update of the task's stream goes once the previous one
         * is acknowledged, as the agent's status update manager does. */
        const Tepui__Internal__AgentEvent__Acknowledge *ack = ev->acknowledge;
        if (ack != NULL && ack->uuid.len == 16 && ack->uuid.data[0] == UUID_RUNNING_THEN_FINISH)
            queue_update(a, ack->framework_id, ack->task_id, TEPUI__TASK_STATE__TASK_FINISHED,
                         UUID_TERMINAL);
        break;
    }
    case TEPUI__INTERNAL__AGENT_EVENT__TYPE__KILL_TASK:
        /* Kills end the task at once. */
        if (ev->kill_task != NULL)
            queue_update(a, ev->kill_task->framework_id, ev->kill_task->task_id,
                         TEPUI__TASK_STATE__TASK_KILLED, UUID_TERMINAL);
        break;
    default:
        break;
    }
}

static void on_opened(struct http_client_stream *s, int status, const struct evkeyvalq *headers,
                      void *arg)
{
    struct eagent *a = arg;
    (void)s;
    if (status == 200) {
        const char *sid = evhttp_find_header((struct evkeyvalq *)headers, "Mesos-Stream-Id");
        snprintf(a->stream_id, sizeof(a->stream_id), "%s", sid ? sid : "");
    } else if (status == 307) {
        const char *loc = evhttp_find_header((struct evkeyvalq *)headers, "Location");
        struct http_endpoint ep;
        if (loc != NULL && http_endpoint_parse(loc, 5050, &ep, NULL) == 0) {
            for (int i = 0; i < a->em->n_masters; i++)
                if (a->em->ports[i] == ep.port)
                    a->master = i;
        }
    }
}

static void on_data(struct http_client_stream *s, const char *data, size_t len, void *arg)
{
    struct eagent *a = arg;
    (void)s;
    recordio_reader_feed(&a->reader, data, len);
    const char *rec;
    size_t n;
    while (recordio_reader_next(&a->reader, &rec, &n, NULL) == 1) {
        Tepui__Internal__AgentEvent *ev =
            tepui__internal__agent_event__unpack(NULL, n, (const uint8_t *)rec);
        if (ev == NULL)
            continue;
        handle_event(a, ev);
        pb_free(ev);
    }
    flush_updates(a);
}

static void on_closed(struct http_client_stream *s, int status, const char *error, const char *body,
                      void *arg)
{
    struct eagent *a = arg;
    (void)s;
    (void)error;
    (void)body;
    int redirected = status == 307;
    drop(a);
    if (!redirected)
        a->master = (a->master + 1) % a->em->n_masters;
    /* Spread the retries so a restarted master is not hit all at once. */
    schedule_retry(a, redirected ? 0 : 0.05 + 0.2 * ((double)random() / RAND_MAX));
}

static const struct http_stream_callbacks stream_cbs = {on_opened, on_data, on_closed};

static void subscribe(struct eagent *a)
{
    struct emulator *em = a->em;
    if (a->connecting || a->subscribed)
        return;
    a->connecting = 1;
    Tepui__Internal__AgentCall call = TEPUI__INTERNAL__AGENT_CALL__INIT;
    Tepui__Internal__AgentCall__Subscribe sub = TEPUI__INTERNAL__AGENT_CALL__SUBSCRIBE__INIT;
    Tepui__AgentInfo info = TEPUI__AGENT_INFO__INIT;
    Tepui__AgentID aid = TEPUI__AGENT_ID__INIT;
    char hostname[64];
    snprintf(hostname, sizeof(hostname), "emulated-%d", a->index);
    info.hostname = hostname;
    info.has_port = 1;
    info.port = 40000 + a->index % 20000;
    info.resources = em->res;
    info.n_resources = em->n_res;
    if (a->id != NULL) {
        aid.value = a->id;
        info.id = &aid;
    }
    sub.agent_info = &info;
    sub.version = "emulator";
    call.has_type = 1;
    call.type = TEPUI__INTERNAL__AGENT_CALL__TYPE__SUBSCRIBE;
    call.subscribe = &sub;
    struct buf body = BUF_INIT;
    pb_pack_buf(&call.base, &body);
    struct http_header headers[] = {
        {"Content-Type", WIRE_MEDIA_PROTOBUF}, {"Accept", WIRE_MEDIA_RECORDIO}, {NULL, NULL}};
    a->stream = http_client_stream_open(em->base, em->hosts[a->master], em->ports[a->master],
                                        AGENT_API_PATH, headers, body.data, body.len, &stream_cbs,
                                        a);
    buf_free(&body);
    if (a->stream == NULL) {
        /* Out of file descriptors or ports: try again later, spread out. */
        a->connecting = 0;
        schedule_retry(a, 0.2 + 0.3 * ((double)random() / RAND_MAX));
    }
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    subscribe(arg);
}

/* ---- frameworks ---- */

static void fw_use_offer(struct eframework *f, const Tepui__Offer *o);

static int fw_task_index(const char *id)
{
    const char *dash = strrchr(id, '-');
    return dash ? (int)strtol(dash + 1, NULL, 10) : -1;
}

static void fw_hold(struct eframework *f, const Tepui__Offer *o)
{
    f->held = xrealloc(f->held, (f->n_held + 1) * sizeof(*f->held));
    f->held[f->n_held++] = PB_COPY(Tepui__Offer, o);
}

static void fw_use_offer(struct eframework *f, const Tepui__Offer *o)
{
    struct emulator *em = f->em;
    double cpus = 0, mem = 0;
    for (size_t k = 0; k < o->n_resources; k++) {
        const Tepui__Resource *r = o->resources[k];
        if (r->scalar != NULL && strcmp(r->name, "cpus") == 0)
            cpus += r->scalar->value;
        if (r->scalar != NULL && strcmp(r->name, "mem") == 0)
            mem += r->scalar->value;
    }
    int fit = (int)fmin(floor(cpus / em->task_cpus + 1e-9), floor(mem / em->task_mem + 1e-9));
    int n = fit;
    if (n > f->to_launch - f->launched)
        n = f->to_launch - f->launched;
    if (em->window > 0 && n > em->window - (f->launched - f->done))
        n = em->window - (f->launched - f->done);
    Tepui__OfferID *ids[1] = {o->id};
    Tepui__Filters filters = TEPUI__FILTERS__INIT;
    filters.has_refuse_seconds = 1;
    filters.refuse_seconds = em->refuse_seconds;
    if (n <= 0) {
        /* A full window keeps the offer for the next free slot: declined, it
         * would come back only at the next allocation cycle. */
        if (fit > 0 && f->launched < f->to_launch)
            fw_hold(f, o);
        else
            tepui_scheduler_decline(f->sched, ids, 1, &filters, NULL, NULL);
        return;
    }
    Tepui__TaskInfo **infos = xcalloc((size_t)n, sizeof(*infos));
    const char *role = o->allocation_info ? o->allocation_info->role : "*";
    for (int k = 0; k < n; k++) {
        char id[48];
        snprintf(id, sizeof(id), "f%d-%d", f->index, f->launched++);
        infos[k] = tepui_task_command_new(id, id, o->agent_id->value, "true", em->task_cpus,
                                          em->task_mem, role);
    }
    if (em->first_accept == 0)
        em->first_accept = clock_mono_ns();
    Tepui__Offer__Operation *op = tepui_operation_launch_new(infos, (size_t)n);
    Tepui__Offer__Operation *ops[1] = {op};
    tepui_scheduler_accept(f->sched, ids, 1, ops, 1, &filters, NULL, NULL);
    tepui_message_free(op);
    for (int k = 0; k < n; k++)
        tepui_message_free(infos[k]);
    free(infos);
    if (f->launched == f->to_launch && !f->suppressed) {
        f->suppressed = 1;
        tepui_scheduler_suppress(f->sched, NULL, 0, NULL, NULL);
    }
}

static void fw_on_offers(struct tepui_scheduler *s, const Tepui__Scheduler__Event__Offers *e,
                         void *arg)
{
    (void)s;
    for (size_t i = 0; i < e->n_offers; i++)
        fw_use_offer(arg, e->offers[i]);
}

static void fw_use_held(struct eframework *f)
{
    int window = f->em->window;
    /* An offer used with the window still full is held again: only the
     * offers held now are tried. */
    size_t tries = f->n_held;
    while (tries-- > 0 && f->n_held > 0 && f->launched < f->to_launch &&
           (window == 0 || f->launched - f->done < window)) {
        Tepui__Offer *o = f->held[--f->n_held];
        fw_use_offer(f, o);
        pb_free(o);
    }
}

static void fw_report(struct emulator *em)
{
    int launched = 0, done = 0, failed = 0, dups = 0;
    for (int i = 0; i < em->n_fws; i++) {
        launched += em->fws[i].launched;
        done += em->fws[i].done;
        failed += em->fws[i].failed;
        dups += em->fws[i].duplicates;
    }
    double secs = (double)(em->last_done - em->first_accept) / 1e9;
    printf("tasks: %d launched, %d %s, %d ended otherwise, %d duplicate terminal updates\n",
           launched, done, em->until_running ? "running" : "finished", failed, dups);
    printf("throughput: %.1f tasks/s (%d tasks in %.3f s, first ACCEPT to last %s)\n",
           secs > 0 ? done / secs : 0, done, secs,
           em->until_running ? "TASK_RUNNING" : "TASK_FINISHED");
    fflush(stdout);
}

static void fw_on_update(struct tepui_scheduler *s, const Tepui__Scheduler__Event__Update *e,
                         void *arg)
{
    struct eframework *f = arg;
    struct emulator *em = f->em;
    const Tepui__TaskStatus *st = e->status;
    if (st->has_uuid && st->agent_id != NULL)
        tepui_scheduler_acknowledge(s, st->agent_id->value, st->task_id->value, st->uuid.data,
                                    st->uuid.len, NULL, NULL);
    int i = fw_task_index(st->task_id->value);
    if (i < 0 || i >= f->to_launch)
        return;
    int reached = 0;
    if (st->state == TEPUI__TASK_STATE__TASK_RUNNING) {
        reached = em->until_running && !(f->seen[i] & 1);
        f->seen[i] |= 1;
    } else if (st->state != TEPUI__TASK_STATE__TASK_STAGING &&
               st->state != TEPUI__TASK_STATE__TASK_STARTING) {
        if (f->seen[i] & 2) {
            f->duplicates++;
            return;
        }
        f->seen[i] |= 2;
        if (st->state != TEPUI__TASK_STATE__TASK_FINISHED) {
            if (f->failed++ < 5)
                fprintf(stderr, "emulator: task %s ended %d: %s\n", st->task_id->value,
                        (int)st->state, st->message ? st->message : "");
        } else {
            reached = !em->until_running;
        }
    }
    if (!reached)
        return;
    em->last_done = clock_mono_ns();
    if (++f->done == f->to_launch && ++em->fws_done == em->n_fws) {
        fw_report(em);
        if (em->exit_when_done)
            event_base_loopbreak(em->base);
    } else {
        fw_use_held(f);
    }
}

/* An early call opens the framework's call connection at once, before a
 * flood of agents can leave the master without descriptors for it. */
static void fw_on_subscribed(struct tepui_scheduler *s, const Tepui__Scheduler__Event__Subscribed *e,
                             void *arg)
{
    (void)e;
    (void)arg;
    tepui_scheduler_reconcile(s, NULL, NULL, 0, NULL, NULL);
}

static void fw_on_error(struct tepui_scheduler *s, const char *message, void *arg)
{
    (void)s;
    fprintf(stderr, "emulator: framework %d: error from the master: %s\n",
            ((struct eframework *)arg)->index, message);
}

static void fw_start(struct emulator *em, const char *master, int i)
{
    struct eframework *f = &em->fws[i];
    f->em = em;
    f->index = i;
    f->to_launch = em->tasks / em->n_fws + (i < em->tasks % em->n_fws);
    f->seen = xcalloc((size_t)f->to_launch + 1, 1);
    if (f->to_launch == 0)
        em->fws_done++;
    Tepui__FrameworkInfo fi = TEPUI__FRAMEWORK_INFO__INIT;
    struct passwd *pw = getpwuid(getuid());
    char name[32];
    snprintf(name, sizeof(name), "emulated-framework-%d", i);
    fi.user = pw ? pw->pw_name : "root";
    fi.name = name;
    struct tepui_scheduler_options so = {.master = master, .format = TEPUI_FORMAT_PROTOBUF,
                                         .auto_reconnect = 1};
    static const struct tepui_scheduler_callbacks cb = {
        .subscribed = fw_on_subscribed, .offers = fw_on_offers, .update = fw_on_update,
        .error = fw_on_error};
    f->sched = tepui_scheduler_new(em->base, &fi, &so, &cb, f);
    if (f->sched == NULL || tepui_scheduler_start(f->sched) != 0)
        fprintf(stderr, "emulator: framework %d cannot subscribe to %s\n", i, master);
}

static void fw_free(struct eframework *f)
{
    if (f->sched != NULL)
        tepui_scheduler_free(f->sched);
    for (size_t i = 0; i < f->n_held; i++)
        pb_free(f->held[i]);
    free(f->held);
    free(f->seen);
}

/* ---- probes of the master's API ---- */

static void probe_done(const struct http_reply *r, void *arg)
{
    struct probe *p = arg;
    p->in_flight = 0;
    if (r->status != 200) {
        p->failures++;
        return;
    }
    if (p->n == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 1024;
        p->ms = xrealloc(p->ms, p->cap * sizeof(*p->ms));
    }
    p->ms[p->n++] = (double)(clock_mono_ns() - p->sent_ns) / 1e6;
}

static void probe_cb(evutil_socket_t fd, short what, void *arg)
{
    struct emulator *em = arg;
    (void)fd;
    (void)what;
    for (int i = 0; i < em->n_probes; i++) {
        struct probe *p = &em->probes[i];
        /* One at a time: a slow answer shows as its latency (and skips). */
        if (p->in_flight) {
            p->skipped++;
            continue;
        }
        p->in_flight = 1;
        p->sent_ns = clock_mono_ns();
        http_client_request(p->client, p->method, p->path, p->headers, p->body,
                            p->body ? strlen(p->body) : 0, probe_done, p);
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void probe_report(struct probe *p)
{
    if (p->n == 0) {
        printf("probe %s: no answers (%d failed, %d skipped while one was in flight)\n", p->name,
               p->failures, p->skipped);
        return;
    }
    qsort(p->ms, p->n, sizeof(*p->ms), cmp_double);
    size_t i99 = (size_t)ceil(0.99 * (double)p->n) - 1;
    printf("probe %s: %zu answers, p50 %.2f ms, p99 %.2f ms, max %.2f ms "
           "(%d failed, %d skipped while one was in flight)\n",
           p->name, p->n, p->ms[(p->n - 1) / 2], p->ms[i99], p->ms[p->n - 1], p->failures,
           p->skipped);
}

static void probes_start(struct emulator *em, double interval)
{
    static const char get_agents[] = "{\"type\":\"GET_AGENTS\"}";
    em->probes[0] = (struct probe){.name = "GET /health", .method = "GET", .path = "/health"};
    em->probes[1] = (struct probe){.name = "operator GET_AGENTS", .method = "POST",
                                   .path = "/api/v1", .body = get_agents};
    em->probes[1].headers[0] = (struct http_header){"Content-Type", WIRE_MEDIA_JSON};
    em->probes[1].headers[1] = (struct http_header){"Accept", WIRE_MEDIA_PROTOBUF};
    em->n_probes = 2;
    for (int i = 0; i < em->n_probes; i++)
        em->probes[i].client = http_client_new(em->base, em->hosts[0], em->ports[0], 30);
    em->probe_timer = event_new(em->base, -1, EV_PERSIST, probe_cb, em);
    struct timeval tv = clock_timeval(interval);
    event_add(em->probe_timer, &tv);
}

/* ---- main ---- */

static void report_cb(evutil_socket_t fd, short what, void *arg)
{
    struct emulator *em = arg;
    (void)fd;
    (void)what;
    fprintf(stderr, "emulator: %d/%d registered, %llu running and %llu terminal updates sent, "
            "%llu pings\n", em->registered, em->n_agents, (unsigned long long)em->tasks_running,
            (unsigned long long)em->tasks_finished, (unsigned long long)em->pings);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    event_base_loopbreak(arg);
}

int main(int argc, char **argv)
{
    struct emulator em = {0};
    char *masters = NULL;
    int report = 0;
    double probe = 0, duration = 0;
    struct flag_def defs[] = {
        {"masters", FLAG_STRING, &masters, "127.0.0.1:5050", "Comma-separated HOST:PORT list"},
        {"agents", FLAG_INT, &em.n_agents, "100", "Number of agents to emulate"},
        {"resources", FLAG_STRING, &em.resources, "cpus:8;mem:32768;disk:65536;ports:[31000-32000]",
         "Resources of each agent"},
        {"tasks_run", FLAG_BOOL, &em.tasks_run, "false",
         "Keep tasks running (report RUNNING only) instead of finishing them at once"},
        {"frameworks", FLAG_INT, &em.n_fws, "0",
         "Number of frameworks to play (schedulers on the first master)"},
        {"tasks", FLAG_INT, &em.tasks, "0",
         "Tasks the frameworks launch in all (0: they decline every offer)"},
        {"window", FLAG_INT, &em.window, "0",
         "Tasks in flight per framework at most (0: as many as the offers hold)"},
        {"task_cpus", FLAG_DOUBLE, &em.task_cpus, "0.01", "cpus per task"},
        {"task_mem", FLAG_DOUBLE, &em.task_mem, "1", "mem (MB) per task"},
        {"refuse_seconds", FLAG_DOUBLE, &em.refuse_seconds, "0",
         "refuse_seconds of the frameworks' declines"},
        {"until_running", FLAG_BOOL, &em.until_running, "false",
         "The frameworks count a task done at TASK_RUNNING (with agents run with --tasks_run)"},
        {"exit_when_done", FLAG_BOOL, &em.exit_when_done, "false",
         "Exit once the frameworks' tasks are all done"},
        {"probe", FLAG_DURATION, &probe, "0secs",
         "Interval of API probes (GET /health, GET_AGENTS) to the first master (0: none)"},
        {"duration", FLAG_DURATION, &duration, "0secs", "Exit after this long (0: on a signal)"},
        {"report", FLAG_BOOL, &report, "false", "Print progress every second on stderr"},
    };
    struct flag_set fs = {.program = "emulator", .defs = defs, .n = sizeof(defs) / sizeof(defs[0])};
    struct error err = {0};
    int rc = flags_parse(&fs, argc, argv, NULL, NULL, &err);
    if (rc != 0) {
        if (rc < 0)
            fprintf(stderr, "emulator: %s\n", err.msg);
        return rc < 0 ? 2 : 0;
    }
    if (em.n_agents < 0 || em.n_fws < 0 || em.tasks < 0 || em.task_cpus <= 0 ||
        em.task_mem <= 0 || (em.tasks > 0 && em.n_fws == 0)) {
        fprintf(stderr, "emulator: --tasks needs --frameworks; counts must not be negative\n");
        return 2;
    }
    log_set_level(LOG_LEVEL_ERROR);
    long limit = daemon_raise_fd_limit();
    if (limit > 0 && limit < em.n_agents + 64)
        fprintf(stderr, "emulator: only %ld file descriptors for %d agents\n", limit, em.n_agents);
    signal(SIGPIPE, SIG_IGN);

    struct resources res = RESOURCES_INIT;
    if (resources_parse(em.resources, NULL, &res, &err) != 0) {
        fprintf(stderr, "emulator: --resources: %s\n", err.msg);
        return 2;
    }
    em.res = resources_to_proto(&res, &em.n_res);
    resources_free(&res);

    char *copy = xstrdup(masters), *save = NULL;
    for (char *m = strtok_r(copy, ",", &save); m != NULL; m = strtok_r(NULL, ",", &save)) {
        struct http_endpoint ep;
        if (http_endpoint_parse(m, 5050, &ep, &err) != 0) {
            fprintf(stderr, "emulator: --masters: %s\n", err.msg);
            return 2;
        }
        em.hosts = xrealloc(em.hosts, (size_t)(em.n_masters + 1) * sizeof(char *));
        em.ports = xrealloc(em.ports, (size_t)(em.n_masters + 1) * sizeof(int));
        em.hosts[em.n_masters] = xstrdup(ep.host);
        em.ports[em.n_masters] = ep.port;
        em.n_masters++;
    }
    free(copy);
    if (em.n_masters == 0) {
        fprintf(stderr, "emulator: --masters names no master\n");
        return 2;
    }

    em.base = event_base_new();
    em.calls = xcalloc((size_t)em.n_masters, sizeof(*em.calls));
    for (int i = 0; i < em.n_masters; i++) {
        em.calls[i] = http_client_new(em.base, em.hosts[i], em.ports[i], 60);
        /* Connect the calls' connection before the agents' streams: a master
         * short of file descriptors must not leave the agents that got in
         * without a way to send their updates. */
        if (em.n_agents > 0)
            http_client_request(em.calls[i], "GET", "/health", NULL, NULL, 0, NULL, NULL);
    }
    em.agents = xcalloc((size_t)em.n_agents + 1, sizeof(*em.agents));
    em.start = clock_mono();
    for (int i = 0; i < em.n_agents; i++) {
        struct eagent *a = &em.agents[i];
        a->em = &em;
        a->index = i;
        recordio_reader_init(&a->reader, 64u * 1024 * 1024);
        a->retry = evtimer_new(em.base, retry_cb, a);
        subscribe(a);
    }
    char first[300];
    snprintf(first, sizeof(first), "%s:%d", em.hosts[0], em.ports[0]);
    em.fws = xcalloc((size_t)em.n_fws + 1, sizeof(*em.fws));
    for (int i = 0; i < em.n_fws; i++)
        fw_start(&em, first, i);
    if (probe > 0)
        probes_start(&em, probe);
    if (report) {
        em.report = event_new(em.base, -1, EV_PERSIST, report_cb, &em);
        struct timeval tv = {1, 0};
        event_add(em.report, &tv);
    }
    if (duration > 0) {
        struct timeval tv = clock_timeval(duration);
        event_base_loopexit(em.base, &tv);
    }
    struct event *sigint = evsignal_new(em.base, SIGINT, on_signal, em.base);
    struct event *sigterm = evsignal_new(em.base, SIGTERM, on_signal, em.base);
    event_add(sigint, NULL);
    event_add(sigterm, NULL);
    event_base_dispatch(em.base);

    printf("agents: %d of %d registered; updates sent: %llu TASK_RUNNING, %llu terminal\n",
           em.registered, em.n_agents, (unsigned long long)em.tasks_running,
           (unsigned long long)em.tasks_finished);
    if (em.n_fws > 0 && em.fws_done < em.n_fws)
        fw_report(&em);
    for (int i = 0; i < em.n_probes; i++)
        probe_report(&em.probes[i]);
    fflush(stdout);
    for (int i = 0; i < em.n_fws; i++)
        fw_free(&em.fws[i]);
    for (int i = 0; i < em.n_agents; i++) {
        struct eagent *a = &em.agents[i];
        if (a->stream)
            http_client_stream_close(a->stream);
        recordio_reader_free(&a->reader);
        buf_free(&a->updates);
        event_free(a->retry);
        free(a->id);
    }
    for (int i = 0; i < em.n_probes; i++) {
        http_client_free(em.probes[i].client);
        free(em.probes[i].ms);
    }
    for (int i = 0; i < em.n_masters; i++) {
        http_client_free(em.calls[i]);
        free(em.hosts[i]);
    }
    event_base_loop(em.base, EVLOOP_NONBLOCK);
    free(em.calls);
    free(em.hosts);
    free(em.ports);
    free(em.agents);
    free(em.fws);
    resources_proto_free(em.res, em.n_res);
    if (em.report)
        event_free(em.report);
    if (em.probe_timer)
        event_free(em.probe_timer);
    event_free(sigint);
    event_free(sigterm);
    event_base_free(em.base);
    flags_free(&fs);
    return 0;
}
