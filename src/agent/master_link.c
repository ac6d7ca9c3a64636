/* The agent's link to the master: a long-lived SUBSCRIBE stream carrying the
 * master's events, calls posted beside it, and re-registration with a
 * randomised, doubling backoff whenever the stream breaks. With a zk://
 * master, a detector names the leading master and the link follows it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/checkpoint.h"
#include "agent/volumes.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "ha/detector.h"
#include "wire/pb.h"
#include "wire/recordio.h"

#define LOG_COMPONENT "agent"

#define AGENT_API_PATH "/internal/agent"
/* Largest master event the agent accepts (a task group with big data). */
#define MAX_EVENT_BYTES (64u * 1024 * 1024)
#define MAX_BACKOFF_SECS 60.0

static void subscribe(struct agent *a);

static void reconnect_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    subscribe(arg);
}

static void schedule_reconnect(struct agent *a)
{
    if (a->reconnect_timer == NULL)
        a->reconnect_timer = evtimer_new(a->base, reconnect_cb, a);
    /* Random in [0, b], b doubling from the backoff factor up to a minute,
     * so a restarted master is not hit by every agent at once. */
    if (a->reconnect_backoff <= 0)
        a->reconnect_backoff = a->flags.registration_backoff_factor;
    else
        a->reconnect_backoff *= 2;
    if (a->reconnect_backoff > MAX_BACKOFF_SECS)
        a->reconnect_backoff = MAX_BACKOFF_SECS;
    double delay = a->reconnect_backoff * ((double)random() / (double)RAND_MAX);
    struct timeval tv = clock_timeval(delay);
    evtimer_add(a->reconnect_timer, &tv);
}

static void drop_stream(struct agent *a)
{
    if (a->master_stream != NULL) {
        http_client_stream_close(a->master_stream);
        a->master_stream = NULL;
    }
    if (a->master_reader != NULL) {
        recordio_reader_free(a->master_reader);
        free(a->master_reader);
        a->master_reader = NULL;
    }
    a->master_stream_id[0] = '\0';
}

static void link_lost(struct agent *a, const char *why)
{
    if (a->link == LINK_REGISTERED)
        log_warn("lost the master at %s:%d: %s", a->master_ep.host, a->master_ep.port, why);
    else
        log_info("cannot register with the master at %s:%d: %s", a->master_ep.host,
                 a->master_ep.port, why);
    a->link = LINK_DISCONNECTED;
    drop_stream(a);
    schedule_reconnect(a);
}

/* ---- calls ---- */

static void call_done(const struct http_reply *r, void *arg)
{
    struct agent *a = arg;
    if (r->status == 202 || r->status == 200)
        return;
    if (r->status == 0) {
        log_debug("call to the master failed: %s", r->error);
        return;
    }
    log_warn("the master refused a call: %d %s", r->status, r->body);
    /* 404/409: the master no longer knows this subscription; register again. */
    if ((r->status == 404 || r->status == 409) && a->link == LINK_REGISTERED)
        link_lost(a, "the master does not know our subscription");
}

void master_link_send(struct agent *a, Tepui__Internal__AgentCall *call)
{
    if (a->link != LINK_REGISTERED || a->id == NULL)
        return;
    Tepui__AgentID aid = TEPUI__AGENT_ID__INIT;
    aid.value = a->id;
    call->agent_id = &aid;
    struct buf body = BUF_INIT;
    pb_pack_buf(&call->base, &body);
    struct http_header headers[] = {
        {"Content-Type", WIRE_MEDIA_PROTOBUF},
        {"Mesos-Stream-Id", a->master_stream_id},
        {NULL, NULL},
    };
    char path[300];
    snprintf(path, sizeof(path), "%s%s", a->master_ep.prefix, AGENT_API_PATH);
    http_client_request(a->master_calls, "POST", path, headers, body.data, body.len, call_done, a);
    buf_free(&body);
    call->agent_id = NULL;
}

/* ---- events ---- */

static void send_pong(struct agent *a, const Tepui__Internal__AgentEvent__Ping *ping)
{
    Tepui__Internal__AgentCall call = TEPUI__INTERNAL__AGENT_CALL__INIT;
    Tepui__Internal__AgentCall__Pong pong = TEPUI__INTERNAL__AGENT_CALL__PONG__INIT;
    if (ping != NULL && ping->has_sequence) {
        pong.has_sequence = 1;
        pong.sequence = ping->sequence;
    }
    call.has_type = 1;
    call.type = TEPUI__INTERNAL__AGENT_CALL__TYPE__PONG;
    call.pong = &pong;
    master_link_send(a, &call);
}

static void on_subscribed(struct agent *a, const Tepui__Internal__AgentEvent__Subscribed *s)
{
    int first = a->id == NULL;
    if (a->id == NULL || strcmp(a->id, s->agent_id->value) != 0) {
        free(a->id);
        a->id = xstrdup(s->agent_id->value);
        pb_free(a->info->id);
        a->info->id = PB_COPY(Tepui__AgentID, s->agent_id);
    }
    pb_free(a->master_info);
    a->master_info = PB_COPY(Tepui__MasterInfo, s->master_info);
    a->link = LINK_REGISTERED;
    a->reconnect_backoff = 0;
    if (first)
        a->metrics.registrations++;
    else
        a->metrics.reregistrations++;
    log_info("%s with the master as agent %s", first ? "registered" : "re-registered", a->id);
    /* Who the agent is, for its next run (always: its info may have grown). */
    ckpt_agent(a);
    updates_resend_all(a);
}

static void handle_event(struct agent *a, const Tepui__Internal__AgentEvent *ev)
{
    if (!ev->has_type)
        return;
    if (ev->type == TEPUI__INTERNAL__AGENT_EVENT__TYPE__ERROR) {
        /* The master refuses this agent for good (it was marked gone): as a
         * Mesos agent sent ShutdownMessage, it stops its executors and
         * exits rather than register again. */
        log_error("the master refuses this agent: %s; shutting down",
                  ev->error && ev->error->message ? ev->error->message : "?");
        a->stop_all_executors = 1;
        drop_stream(a);
        event_base_loopbreak(a->base);
        return;
    }
    if (ev->type != TEPUI__INTERNAL__AGENT_EVENT__TYPE__SUBSCRIBED && a->link != LINK_REGISTERED)
        return;
    switch (ev->type) {
    case TEPUI__INTERNAL__AGENT_EVENT__TYPE__SUBSCRIBED:
        /* A master that still drains the agent sends its kills again. */
        a->draining = 0;
        if (ev->subscribed != NULL)
            on_subscribed(a, ev->subscribed);
        break;
    case TEPUI__INTERNAL__AGENT_EVENT__TYPE__RUN_TASK:
        if (ev->run_task != NULL)
            tasks_run(a, ev->run_task);
        break;
    case TEPUI__INTERNAL__AGENT_EVENT__TYPE__RUN_TASK_GROUP:
        if (ev->run_task_group != NULL)
            tasks_run_group(a, ev->run_task_group);
        break;
    case TEPUI__INTERNAL__AGENT_EVENT__TYPE__KILL_TASK:
        if (ev->kill_task != NULL)
            tasks_kill(a, ev->kill_task);
        break;
    case TEPUI__INTERNAL__AGENT_EVENT__TYPE__ACKNOWLEDGE:
        if (ev->acknowledge != NULL)
            updates_acknowledged(a, ev->acknowledge->framework_id->value,
                                 ev->acknowledge->task_id->value, ev->acknowledge->uuid.data,
                                 ev->acknowledge->uuid.len);
        break;
    case TEPUI__INTERNAL__AGENT_EVENT__TYPE__SHUTDOWN_FRAMEWORK:
        if (ev->shutdown_framework != NULL)
            tasks_shutdown_framework(a, ev->shutdown_framework->framework_id->value);
        break;
    case TEPUI__INTERNAL__AGENT_EVENT__TYPE__SHUTDOWN_EXECUTOR:
        if (ev->shutdown_executor != NULL)
            tasks_shutdown_executor(a, ev->shutdown_executor->framework_id->value,
                                    ev->shutdown_executor->executor_id->value);
        break;
    case TEPUI__INTERNAL__AGENT_EVENT__TYPE__FRAMEWORK_MESSAGE:
        if (ev->framework_message != NULL)
            tasks_framework_message(a, ev->framework_message);
        break;
    case TEPUI__INTERNAL__AGENT_EVENT__TYPE__PING:
        send_pong(a, ev->ping);
        break;
    case TEPUI__INTERNAL__AGENT_EVENT__TYPE__CHECKPOINT_RESOURCES:
        if (ev->checkpoint_resources != NULL)
            volumes_update_total(a, ev->checkpoint_resources);
        break;
    case TEPUI__INTERNAL__AGENT_EVENT__TYPE__UPDATE_FRAMEWORK:
        if (ev->update_framework != NULL && ev->update_framework->framework->id != NULL &&
            agent_find_framework(a, ev->update_framework->framework->id->value) != NULL)
            agent_get_framework(a, ev->update_framework->framework);
        break;
    default:
        log_warn("ignoring master event of unknown type %d", (int)ev->type);
        break;
    }
}

static void stream_opened(struct http_client_stream *s, int status, const struct evkeyvalq *headers,
                          void *arg)
{
    struct agent *a = arg;
    (void)s;
    if (status != 200)
        return;
    const char *sid = evhttp_find_header((struct evkeyvalq *)headers, "Mesos-Stream-Id");
    snprintf(a->master_stream_id, sizeof(a->master_stream_id), "%s", sid ? sid : "");
}

static void stream_data(struct http_client_stream *s, const char *data, size_t len, void *arg)
{
    struct agent *a = arg;
    (void)s;
    recordio_reader_feed(a->master_reader, data, len);
    for (;;) {
        const char *rec;
        size_t n;
        struct error err = {0};
        int rc = recordio_reader_next(a->master_reader, &rec, &n, &err);
        if (rc == 0)
            return;
        if (rc < 0) {
            link_lost(a, err.msg);
            return;
        }
        Tepui__Internal__AgentEvent *ev = tepui__internal__agent_event__unpack(
            NULL, n, (const uint8_t *)rec);
        if (ev == NULL) {
            link_lost(a, "undecodable event from the master");
            return;
        }
        handle_event(a, ev);
        pb_free(ev);
        /* An event may have dropped the stream (and the reader with it). */
        if (a->master_reader == NULL)
            return;
    }
}

static void stream_closed(struct http_client_stream *s, int status, const char *error,
                          const char *body, void *arg)
{
    struct agent *a = arg;
    (void)s;
    char why[512];
    if (status == 0 || status == 200)
        snprintf(why, sizeof(why), "%s", error ? error : "stream ended");
    else
        snprintf(why, sizeof(why), "HTTP %d: %s", status, body ? body : "");
    link_lost(a, why);
}

static const struct http_stream_callbacks stream_callbacks = {
    stream_opened, stream_data, stream_closed,
};

static void subscribe(struct agent *a)
{
    drop_stream(a);
    if (a->master_detector != NULL && a->master_ep.port == 0) {
        /* No leading master: the detector calls again once there is one. */
        a->link = LINK_DISCONNECTED;
        return;
    }
    Tepui__Internal__AgentCall call = TEPUI__INTERNAL__AGENT_CALL__INIT;
    Tepui__Internal__AgentCall__Subscribe sub = TEPUI__INTERNAL__AGENT_CALL__SUBSCRIBE__INIT;
    sub.agent_info = a->info;
    sub.version = TEPUI_VERSION;
    tasks_report(a, &sub);
    Tepui__Internal__CheckpointedResources total = TEPUI__INTERNAL__CHECKPOINTED_RESOURCES__INIT;
    total.resources = resources_to_proto(&a->total, &total.n_resources);
    sub.total_resources = &total;
    call.has_type = 1;
    call.type = TEPUI__INTERNAL__AGENT_CALL__TYPE__SUBSCRIBE;
    call.subscribe = &sub;
    struct buf body = BUF_INIT;
    pb_pack_buf(&call.base, &body);
    tasks_report_free(&sub);
    resources_proto_free(total.resources, total.n_resources);

    struct http_header headers[] = {
        {"Content-Type", WIRE_MEDIA_PROTOBUF},
        {"Accept", WIRE_MEDIA_RECORDIO},
        {NULL, NULL},
    };
    char path[300];
    snprintf(path, sizeof(path), "%s%s", a->master_ep.prefix, AGENT_API_PATH);
    a->master_reader = XNEW(struct recordio_reader);
    recordio_reader_init(a->master_reader, MAX_EVENT_BYTES);
    a->link = LINK_CONNECTING;
    a->master_stream = http_client_stream_open(a->base, a->master_ep.host, a->master_ep.port, path,
                                               headers, body.data, body.len, &stream_callbacks, a);
    buf_free(&body);
    if (a->master_stream == NULL)
        link_lost(a, "cannot connect");
}

/* The detector names a new leading master (or none): register with it at
 * once, whatever the backoff, as a Mesos agent does on a new leader. */
static void master_detected(void *arg, const struct detector_leader *leader)
{
    struct agent *a = arg;
    if (a->reconnect_timer != NULL)
        evtimer_del(a->reconnect_timer);
    a->reconnect_backoff = 0;
    http_client_free(a->master_calls);
    a->master_calls = NULL;
    if (leader == NULL) {
        log_warn("no leading master detected; waiting for one");
        drop_stream(a);
        a->link = LINK_DISCONNECTED;
        memset(&a->master_ep, 0, sizeof(a->master_ep));
        return;
    }
    log_info("detected the leading master %s at %s:%d", leader->info->id ? leader->info->id : "?",
             leader->host, leader->port);
    memset(&a->master_ep, 0, sizeof(a->master_ep));
    snprintf(a->master_ep.host, sizeof(a->master_ep.host), "%s", leader->host);
    a->master_ep.port = leader->port;
    a->master_calls = http_client_new(a->base, a->master_ep.host, a->master_ep.port, 30);
    subscribe(a);
}

void master_link_start(struct agent *a)
{
    a->link = LINK_DISCONNECTED;
    if (zk_url_is(a->flags.master)) {
        struct error err = {0};
        a->master_detector = detector_new(a->base, a->flags.master, a->flags.zk_session_timeout,
                                          master_detected, a, &err);
        if (a->master_detector == NULL)
            log_error("cannot follow the leading master through %s: %s", a->flags.master,
                      err.msg);
        return;
    }
    a->master_calls = http_client_new(a->base, a->master_ep.host, a->master_ep.port, 30);
    subscribe(a);
}

void master_link_stop(struct agent *a)
{
    detector_free(a->master_detector);
    a->master_detector = NULL;
    drop_stream(a);
    if (a->reconnect_timer != NULL) {
        event_free(a->reconnect_timer);
        a->reconnect_timer = NULL;
    }
    http_client_free(a->master_calls);
    a->master_calls = NULL;
    a->link = LINK_DISCONNECTED;
}
