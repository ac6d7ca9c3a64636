/* An emulated cluster: one process that plays N agents, each with its own
 * connection to the master over the real internal protocol (a SUBSCRIBE
 * stream and calls), answering pings, and finishing every task it is given
 * at once (or keeping it running, with --tasks_run). It prints how long
 * registration takes, and when the master goes away, how long the agents
 * take to re-register with the next one.
 *
 *   build/bench/emulator --masters=127.0.0.1:5050[,host:port...] --agents=1000
 *
 * With several masters the agents try them in turn; a master that does not
 * lead answers 307, and they follow it. */
#include <errno.h>
#include <event2/event.h>
#include <event2/http.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
#include "wire/codec.h"
#include "wire/pb.h"
#include "wire/recordio.h"

#define AGENT_API_PATH "/internal/agent"

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
    uint64_t tasks_finished, pings;
    struct event *report;
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
    a->connecting = 0;
    if (a->subscribed) {
        a->subscribed = 0;
        a->em->registered--;
        if (a->em->lost == 0)
            a->em->lost_at = clock_mono();
        a->em->lost++;
    }
}

static void send_call(struct eagent *a, Tepui__Internal__AgentCall *call)
{
    struct emulator *em = a->em;
    if (!a->subscribed)
        return;
    Tepui__AgentID aid = TEPUI__AGENT_ID__INIT;
    aid.value = a->id;
    call->agent_id = &aid;
    struct buf body = BUF_INIT;
    pb_pack_buf(&call->base, &body);
    struct http_header headers[] = {
        {"Content-Type", WIRE_MEDIA_PROTOBUF}, {"Mesos-Stream-Id", a->stream_id}, {NULL, NULL}};
    /* Calls go to the master the stream is on (after any redirect). */
    struct http_client *c = em->calls[a->master];
    http_client_request(c, "POST", AGENT_API_PATH, headers, body.data, body.len, NULL, NULL);
    buf_free(&body);
    call->agent_id = NULL;
}

static void finish_task(struct eagent *a, const Tepui__Internal__AgentEvent__RunTask *rt)
{
    Tepui__Internal__AgentCall call = TEPUI__INTERNAL__AGENT_CALL__INIT;
    Tepui__Internal__StatusUpdate up = TEPUI__INTERNAL__STATUS_UPDATE__INIT;
    Tepui__TaskStatus st = TEPUI__TASK_STATUS__INIT;
    Tepui__AgentID aid = TEPUI__AGENT_ID__INIT;
    struct uuid u;
    uuid_random(&u);
    aid.value = a->id;
    st.task_id = rt->task->task_id;
    st.state = a->em->tasks_run ? TEPUI__TASK_STATE__TASK_RUNNING : TEPUI__TASK_STATE__TASK_FINISHED;
    st.has_source = 1;
    st.source = TEPUI__TASK_STATUS__SOURCE__SOURCE_EXECUTOR;
    st.has_uuid = 1;
    st.uuid.data = u.b;
    st.uuid.len = 16;
    st.agent_id = &aid;
    st.has_timestamp = 1;
    st.timestamp = clock_wall();
    up.framework_id = rt->framework->id;
    up.status = &st;
    up.has_latest_state = 1;
    up.latest_state = st.state;
    Tepui__Internal__StatusUpdate *ups[1] = {&up};
    call.has_type = 1;
    call.type = TEPUI__INTERNAL__AGENT_CALL__TYPE__STATUS_UPDATE;
    call.status_updates = ups;
    call.n_status_updates = 1;
    send_call(a, &call);
    if (!a->em->tasks_run)
        a->em->tasks_finished++;
}

static void handle_event(struct eagent *a, Tepui__Internal__AgentEvent *ev)
{
    struct emulator *em = a->em;
    switch (ev->type) {
    case TEPUI__INTERNAL__AGENT_EVENT__TYPE__SUBSCRIBED:
        if (a->id == NULL)
            a->id = xstrdup(ev->subscribed->agent_id->value);
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
        if (ev->run_task != NULL)
            finish_task(a, ev->run_task);
        break;
    case TEPUI__INTERNAL__AGENT_EVENT__TYPE__KILL_TASK: {
        /* Kills end the task at once. */
        Tepui__Internal__AgentEvent__RunTask rt = TEPUI__INTERNAL__AGENT_EVENT__RUN_TASK__INIT;
        Tepui__TaskInfo ti = TEPUI__TASK_INFO__INIT;
        Tepui__FrameworkInfo fi = TEPUI__FRAMEWORK_INFO__INIT;
        ti.task_id = ev->kill_task->task_id;
        fi.id = ev->kill_task->framework_id;
        rt.task = &ti;
        rt.framework = &fi;
        int saved = em->tasks_run;
        em->tasks_run = 0;
        finish_task(a, &rt);
        em->tasks_run = saved;
        break;
    }
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
        a->connecting = 0;
        schedule_retry(a, 0.2);
    }
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    subscribe(arg);
}

static void report_cb(evutil_socket_t fd, short what, void *arg)
{
    struct emulator *em = arg;
    (void)fd;
    (void)what;
    fprintf(stderr, "emulator: %d/%d registered, %llu tasks finished, %llu pings\n", em->registered,
            em->n_agents, (unsigned long long)em->tasks_finished, (unsigned long long)em->pings);
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
    struct flag_def defs[] = {
        {"masters", FLAG_STRING, &masters, "127.0.0.1:5050", "Comma-separated HOST:PORT list"},
        {"agents", FLAG_INT, &em.n_agents, "100", "Number of agents to emulate"},
        {"resources", FLAG_STRING, &em.resources, "cpus:8;mem:32768;disk:65536;ports:[31000-32000]",
         "Resources of each agent"},
        {"tasks_run", FLAG_BOOL, &em.tasks_run, "false",
         "Keep tasks running (report RUNNING) instead of finishing them at once"},
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

    em.base = event_base_new();
    em.calls = xcalloc((size_t)em.n_masters, sizeof(*em.calls));
    for (int i = 0; i < em.n_masters; i++)
        em.calls[i] = http_client_new(em.base, em.hosts[i], em.ports[i], 60);
    em.agents = xcalloc((size_t)em.n_agents, sizeof(*em.agents));
    em.start = clock_mono();
    for (int i = 0; i < em.n_agents; i++) {
        struct eagent *a = &em.agents[i];
        a->em = &em;
        a->index = i;
        recordio_reader_init(&a->reader, 64u * 1024 * 1024);
        a->retry = evtimer_new(em.base, retry_cb, a);
        subscribe(a);
    }
    if (report) {
        em.report = event_new(em.base, -1, EV_PERSIST, report_cb, &em);
        struct timeval tv = {1, 0};
        event_add(em.report, &tv);
    }
    struct event *sigint = evsignal_new(em.base, SIGINT, on_signal, em.base);
    struct event *sigterm = evsignal_new(em.base, SIGTERM, on_signal, em.base);
    event_add(sigint, NULL);
    event_add(sigterm, NULL);
    event_base_dispatch(em.base);

    printf("finished tasks: %llu\n", (unsigned long long)em.tasks_finished);
    for (int i = 0; i < em.n_agents; i++) {
        struct eagent *a = &em.agents[i];
        if (a->stream)
            http_client_stream_close(a->stream);
        recordio_reader_free(&a->reader);
        event_free(a->retry);
        free(a->id);
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
    resources_proto_free(em.res, em.n_res);
    if (em.report)
        event_free(em.report);
    event_free(sigint);
    event_free(sigterm);
    event_base_free(em.base);
    flags_free(&fs);
    return 0;
}
