/* The executor side of the v1 executor API: SUBSCRIBE on a streamed POST,
 * events read from RecordIO, calls on a keep-alive connection, and the
 * bookkeeping of unacknowledged tasks and updates that lets an executor
 * re-subscribe after its agent restarts (docs/executor-http-api.md,
 * src/executor/executor.cpp in Mesos). It does not run tasks. */
#include "tepui/executor.h"

#include <errno.h>
#include <event2/http.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/flags.h"
#include "common/log.h"
#include "common/task_state.h"
#include "common/uuid.h"
#include "common/xalloc.h"
#include "http/client.h"
#include "lib/executor_internal.h"
#include "wire/codec.h"
#include "wire/pb.h"
#include "wire/recordio.h"

#define LOG_COMPONENT "executor-lib"

#define DEFAULT_API_PATH "/api/v1/executor"
#define DEFAULT_SHUTDOWN_GRACE_PERIOD 5.0
/* Mesos's command executor re-sends SUBSCRIBE every second until it is
 * subscribed (doReliableRegistration). */
#define SUBSCRIBE_RETRY_SECS 1.0
/* Mesos's DEFAULT_HEARTBEAT_CALL_INTERVAL: keeps idle connections from being
 * dropped by middleboxes. */
#define HEARTBEAT_CALL_SECS (30 * 60.0)
#define CALL_TIMEOUT_SECS 30.0
/* Events carry TaskInfos; anything bigger than this is not one. */
#define MAX_EVENT_BYTES (64u << 20)
/* Longer durations (a "1000weeks" recovery timeout) are as good as forever
 * and must not overflow a timeval. */
#define MAX_TIMER_SECS (365 * 24 * 3600.0)
/* Keeps a zero backoff cap from spinning the loop. */
#define MIN_RETRY_SECS 0.01

enum executor_state {
    STATE_DISCONNECTED,     /* waiting to (re-)subscribe */
    STATE_SUBSCRIBING,      /* SUBSCRIBE sent, no SUBSCRIBED event yet */
    STATE_SUBSCRIBED,
    STATE_GONE,             /* gave up on the agent */
};

/* An update the agent has not acknowledged yet, keyed by its uuid. */
struct pending_update {
    uint8_t uuid[16];
    Tepui__TaskStatus *status;      /* owned */
    int sent;                       /* in an UPDATE call or a SUBSCRIBE */
    UT_hash_handle hh;
};

/* A launched task none of whose updates has been acknowledged yet. */
struct pending_task {
    char *id;
    Tepui__TaskInfo *info;          /* owned */
    UT_hash_handle hh;
};

struct tepui_executor {
    struct event_base *base;
    struct tepui_executor_options opts;   /* owned copies */
    struct http_endpoint endpoint;
    char *path;
    enum wire_format format;
    struct tepui_executor_callbacks cbs;
    void *arg;

    enum executor_state state;
    struct http_client *calls;            /* non-SUBSCRIBE calls */
    struct http_client_stream *stream;    /* the SUBSCRIBE response */
    enum wire_format stream_format;
    struct recordio_reader reader;
    struct event *subscribe_timer;        /* next SUBSCRIBE attempt */
    struct event *recovery_timer;         /* gives up after recovery_timeout */
    struct event *heartbeat_timer;        /* HEARTBEAT calls while subscribed */
    char *outage_reason;                  /* first failure of the current outage */

    struct pending_update *updates;
    struct pending_task *tasks;

    int busy;                             /* libevent callbacks on the stack */
    int freed;                            /* freed from inside one of them */
};

static void subscribe_timer_cb(evutil_socket_t fd, short what, void *arg);
static void recovery_timer_cb(evutil_socket_t fd, short what, void *arg);
static void heartbeat_timer_cb(evutil_socket_t fd, short what, void *arg);
static void executor_destroy(struct tepui_executor *e);

/* ---- options ---- */

static int env_duration(const char *name, double *out, struct error *err)
{
    const char *v = getenv(name);
    if (v == NULL)
        return error_set(err, -EINVAL, "expecting '%s' to be set in the environment", name);
    if (flags_parse_duration(v, out) != 0)
        return error_set(err, -EINVAL, "failed to parse %s '%s': expected a duration such as 5secs",
                         name, v);
    return 0;
}

static char *env_dup(const char *name)
{
    const char *v = getenv(name);
    return v != NULL ? xstrdup(v) : NULL;
}

int tepui_executor_options_from_env(struct tepui_executor_options *opts, struct error *err)
{
    int rc = 0;
    memset(opts, 0, sizeof(*opts));
    static const char *const required[] = {"MESOS_FRAMEWORK_ID", "MESOS_EXECUTOR_ID"};

    opts->agent_endpoint = env_dup("MESOS_AGENT_ENDPOINT");
    if (opts->agent_endpoint == NULL) {
        /* Older agents name themselves only as a libprocess pid
         * ("slave(1)@ip:port"), whose id is the path prefix. */
        const char *pid = getenv("MESOS_SLAVE_PID");
        const char *at = pid != NULL ? strchr(pid, '@') : NULL;
        if (at == NULL) {
            rc = error_set(err, -EINVAL,
                           "expecting 'MESOS_AGENT_ENDPOINT' to be set in the environment");
            goto out;
        }
        opts->agent_endpoint = xstrdup(at + 1);
        opts->api_path = xasprintf("/%.*s%s", (int)(at - pid), pid, DEFAULT_API_PATH);
    }
    struct http_endpoint ep;
    if ((rc = http_endpoint_parse(opts->agent_endpoint, 5051, &ep, err)) != 0) {
        error_prefix(err, "MESOS_AGENT_ENDPOINT");
        goto out;
    }
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
        if (getenv(required[i]) == NULL || getenv(required[i])[0] == '\0') {
            rc = error_set(err, -EINVAL, "expecting '%s' to be set in the environment", required[i]);
            goto out;
        }
    }
    opts->framework_id = env_dup("MESOS_FRAMEWORK_ID");
    opts->executor_id = env_dup("MESOS_EXECUTOR_ID");
    opts->agent_id = env_dup("MESOS_SLAVE_ID");
    opts->directory = env_dup("MESOS_DIRECTORY");
    opts->sandbox = env_dup("MESOS_SANDBOX");
    opts->authentication_token = env_dup("MESOS_EXECUTOR_AUTHENTICATION_TOKEN");

    opts->shutdown_grace_period = DEFAULT_SHUTDOWN_GRACE_PERIOD;
    if (getenv("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD") != NULL &&
        (rc = env_duration("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", &opts->shutdown_grace_period,
                           err)) != 0)
        goto out;

    const char *checkpoint = getenv("MESOS_CHECKPOINT");
    opts->checkpoint = checkpoint != NULL && strcmp(checkpoint, "1") == 0;
    if (opts->checkpoint) {
        if ((rc = env_duration("MESOS_RECOVERY_TIMEOUT", &opts->recovery_timeout, err)) != 0 ||
            (rc = env_duration("MESOS_SUBSCRIPTION_BACKOFF_MAX", &opts->subscription_backoff_max,
                               err)) != 0)
            goto out;
    }
out:
    if (rc != 0)
        tepui_executor_options_clear(opts);
    return rc;
}

void tepui_executor_options_clear(struct tepui_executor_options *opts)
{
    free(opts->agent_endpoint);
    free(opts->api_path);
    free(opts->framework_id);
    free(opts->executor_id);
    free(opts->agent_id);
    free(opts->directory);
    free(opts->sandbox);
    free(opts->authentication_token);
    memset(opts, 0, sizeof(*opts));
}

static char *dup_or_null(const char *s) { return s != NULL ? xstrdup(s) : NULL; }

static void options_copy(struct tepui_executor_options *dst, const struct tepui_executor_options *src)
{
    *dst = *src;
    dst->agent_endpoint = dup_or_null(src->agent_endpoint);
    dst->api_path = xstrdup(src->api_path != NULL ? src->api_path : DEFAULT_API_PATH);
    dst->framework_id = dup_or_null(src->framework_id);
    dst->executor_id = dup_or_null(src->executor_id);
    dst->agent_id = dup_or_null(src->agent_id);
    dst->directory = dup_or_null(src->directory);
    dst->sandbox = dup_or_null(src->sandbox);
    dst->authentication_token = dup_or_null(src->authentication_token);
}

/* ---- re-entrancy: free from inside a callback ---- */

static void enter(struct tepui_executor *e) { e->busy++; }

/* Returns 1 when e is gone (freed by a callback we ran). */
static int leave(struct tepui_executor *e)
{
    if (--e->busy == 0 && e->freed) {
        executor_destroy(e);
        return 1;
    }
    return 0;
}

/* ---- bookkeeping ---- */

static void update_free(struct pending_update *u)
{
    pb_free(u->status);
    free(u);
}

static void task_forget(struct tepui_executor *e, const char *task_id)
{
    struct pending_task *t = NULL;
    HASH_FIND_STR(e->tasks, task_id, t);
    if (t == NULL)
        return;
    HASH_DEL(e->tasks, t);
    pb_free(t->info);
    free(t->id);
    free(t);
}

static void task_remember(struct tepui_executor *e, const Tepui__TaskInfo *info)
{
    if (info == NULL || info->task_id == NULL || info->task_id->value == NULL)
        return;
    task_forget(e, info->task_id->value);
    struct pending_task *t = XNEW(struct pending_task);
    t->id = xstrdup(info->task_id->value);
    t->info = PB_COPY(Tepui__TaskInfo, info);
    HASH_ADD_KEYPTR(hh, e->tasks, t->id, strlen(t->id), t);
}

size_t executor_unacknowledged_tasks(const struct tepui_executor *e) { return HASH_COUNT(e->tasks); }
size_t tepui_executor_unacknowledged_updates(const struct tepui_executor *e)
{
    return HASH_COUNT(e->updates);
}

/* ---- calls ---- */

static void call_init(struct tepui_executor *e, Tepui__Executor__Call *call, Tepui__FrameworkID *fid,
                      Tepui__ExecutorID *eid, Tepui__Executor__Call__Type type)
{
    fid->value = e->opts.framework_id;
    eid->value = e->opts.executor_id;
    call->framework_id = fid;
    call->executor_id = eid;
    call->has_type = 1;
    call->type = type;
}

static const char *call_type_name(Tepui__Executor__Call__Type t)
{
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&tepui__executor__call__type__descriptor, (int)t);
    return v != NULL ? v->name : "UNKNOWN";
}

static void report_error(struct tepui_executor *e, const char *message)
{
    log_warn("framework %s executor %s: %s", e->opts.framework_id, e->opts.executor_id, message);
    if (!e->freed && e->cbs.error != NULL)
        e->cbs.error(e, message, e->arg);
}

static void call_reply(struct tepui_executor *e, Tepui__Executor__Call__Type type,
                       const struct http_reply *reply)
{
    if (reply->status == 202)
        return;
    if (reply->status == 0) {
        /* The stream notices the agent going away; the update stays pending
         * and goes out again with the next SUBSCRIBE. */
        log_warn("framework %s executor %s: %s call failed: %s", e->opts.framework_id,
                 e->opts.executor_id, call_type_name(type), reply->error);
        return;
    }
    if (reply->status == 503 || reply->status == 404) {
        /* Agent recovering, or its routes not up yet. */
        log_warn("framework %s executor %s: received %d (%s) for %s", e->opts.framework_id,
                 e->opts.executor_id, reply->status, reply->body, call_type_name(type));
        return;
    }
    enter(e);
    char *msg = xasprintf("Received unexpected '%d' (%s) for %s", reply->status, reply->body,
                          call_type_name(type));
    report_error(e, msg);
    free(msg);
    leave(e);
}

static void update_reply(const struct http_reply *r, void *arg)
{
    call_reply(arg, TEPUI__EXECUTOR__CALL__TYPE__UPDATE, r);
}
static void message_reply(const struct http_reply *r, void *arg)
{
    call_reply(arg, TEPUI__EXECUTOR__CALL__TYPE__MESSAGE, r);
}
static void heartbeat_reply(const struct http_reply *r, void *arg)
{
    call_reply(arg, TEPUI__EXECUTOR__CALL__TYPE__HEARTBEAT, r);
}

static void call_headers(struct tepui_executor *e, struct http_header h[4], char **auth)
{
    const char *media = wire_format_media_type(e->format);
    size_t n = 0;
    h[n++] = (struct http_header){"Content-Type", media};
    h[n++] = (struct http_header){"Accept", media};
    *auth = NULL;
    if (e->opts.authentication_token != NULL) {
        *auth = xasprintf("Bearer %s", e->opts.authentication_token);
        h[n++] = (struct http_header){"Authorization", *auth};
    }
    h[n] = (struct http_header){NULL, NULL};
}

static void send_call(struct tepui_executor *e, const Tepui__Executor__Call *call, http_reply_fn cb)
{
    struct buf body = BUF_INIT;
    struct http_header headers[4];
    char *auth;
    wire_encode(&call->base, e->format, &body);
    call_headers(e, headers, &auth);
    if (http_client_request(e->calls, "POST", e->path, headers, body.data, body.len, cb, e) == NULL)
        log_warn("framework %s executor %s: cannot send %s call", e->opts.framework_id,
                 e->opts.executor_id, call_type_name(call->type));
    free(auth);
    buf_free(&body);
}

static void send_update(struct tepui_executor *e, struct pending_update *u)
{
    Tepui__Executor__Call call = TEPUI__EXECUTOR__CALL__INIT;
    Tepui__FrameworkID fid = TEPUI__FRAMEWORK_ID__INIT;
    Tepui__ExecutorID eid = TEPUI__EXECUTOR_ID__INIT;
    Tepui__Executor__Call__Update update = TEPUI__EXECUTOR__CALL__UPDATE__INIT;
    call_init(e, &call, &fid, &eid, TEPUI__EXECUTOR__CALL__TYPE__UPDATE);
    update.status = u->status;
    call.update = &update;
    send_call(e, &call, update_reply);
    u->sent = 1;
}

void executor_encode_subscribe(struct tepui_executor *e, enum wire_format f, struct buf *out)
{
    Tepui__Executor__Call call = TEPUI__EXECUTOR__CALL__INIT;
    Tepui__FrameworkID fid = TEPUI__FRAMEWORK_ID__INIT;
    Tepui__ExecutorID eid = TEPUI__EXECUTOR_ID__INIT;
    Tepui__Executor__Call__Subscribe sub = TEPUI__EXECUTOR__CALL__SUBSCRIBE__INIT;
    call_init(e, &call, &fid, &eid, TEPUI__EXECUTOR__CALL__TYPE__SUBSCRIBE);
    call.subscribe = &sub;

    size_t n_tasks = HASH_COUNT(e->tasks), n_updates = HASH_COUNT(e->updates), i = 0;
    Tepui__TaskInfo **tasks = xcalloc(n_tasks + 1, sizeof(*tasks));
    Tepui__Executor__Call__Update *updates = xcalloc(n_updates + 1, sizeof(*updates));
    Tepui__Executor__Call__Update **update_ptrs = xcalloc(n_updates + 1, sizeof(*update_ptrs));
    for (struct pending_task *t = e->tasks; t != NULL; t = t->hh.next)
        tasks[i++] = t->info;
    i = 0;
    /* uthash iterates in insertion order, so the agent sees the updates in
     * the order they were made. */
    for (struct pending_update *u = e->updates; u != NULL; u = u->hh.next, i++) {
        updates[i] = (Tepui__Executor__Call__Update)TEPUI__EXECUTOR__CALL__UPDATE__INIT;
        updates[i].status = u->status;
        update_ptrs[i] = &updates[i];
        u->sent = 1;
    }
    sub.n_unacknowledged_tasks = n_tasks;
    sub.unacknowledged_tasks = tasks;
    sub.n_unacknowledged_updates = n_updates;
    sub.unacknowledged_updates = update_ptrs;
    wire_encode(&call.base, f, out);
    free(tasks);
    free(updates);
    free(update_ptrs);
}

/* ---- connection state ---- */

static void timer_arm(struct event *ev, double secs)
{
    if (secs < 0)
        secs = 0;
    if (secs > MAX_TIMER_SECS)
        secs = MAX_TIMER_SECS;
    struct timeval tv = clock_timeval(secs);
    evtimer_add(ev, &tv);
}

static double random_unit(void)
{
    struct uuid u;
    uuid_random(&u);
    uint32_t v;
    memcpy(&v, u.b, sizeof(v));
    return (double)v / (double)UINT32_MAX;
}

double executor_retry_delay(const struct tepui_executor_options *opts, int http_status, double r)
{
    double cap = opts->checkpoint ? opts->subscription_backoff_max : SUBSCRIBE_RETRY_SECS;
    double d;
    if (http_status > 0)
        d = cap < SUBSCRIBE_RETRY_SECS ? cap : SUBSCRIBE_RETRY_SECS;
    else
        d = cap * r;
    return d < MIN_RETRY_SECS ? MIN_RETRY_SECS : d;
}

static void stream_teardown(struct tepui_executor *e)
{
    http_client_stream_close(e->stream);
    e->stream = NULL;
    recordio_reader_free(&e->reader);
    recordio_reader_init(&e->reader, MAX_EVENT_BYTES);
}

static void give_up(struct tepui_executor *e, const char *reason)
{
    log_error("framework %s executor %s: giving up on the agent: %s", e->opts.framework_id,
              e->opts.executor_id, reason);
    e->state = STATE_GONE;
    stream_teardown(e);
    http_client_free(e->calls);
    e->calls = NULL;
    evtimer_del(e->subscribe_timer);
    evtimer_del(e->recovery_timer);
    evtimer_del(e->heartbeat_timer);
    if (!e->freed && e->cbs.disconnected != NULL)
        e->cbs.disconnected(e, reason, e->arg);
}

/* A SUBSCRIBE that did not lead to a subscription, or a subscription that
 * ended. http_status > 0: the agent answered but refused (it may be
 * recovering); 0: the connection failed or the stream ended. */
static void subscription_failed(struct tepui_executor *e, int http_status, const char *reason)
{
    int was_subscribed = e->state == STATE_SUBSCRIBED;
    stream_teardown(e);
    evtimer_del(e->heartbeat_timer);
    e->state = STATE_DISCONNECTED;

    if (http_status > 0 && http_status != 503 && http_status != 404) {
        char *msg = xasprintf("Received unexpected '%d' (%s) for SUBSCRIBE", http_status, reason);
        report_error(e, msg);
        free(msg);
        if (e->freed)
            return;
    }
    if (http_status == 0 && !e->opts.checkpoint) {
        /* Mesos: an executor of a framework without checkpointing does not
         * outlive its agent. */
        char *msg = xasprintf("Disconnected from agent: %s", reason);
        give_up(e, msg);
        free(msg);
        return;
    }
    if (http_status == 0 && !evtimer_pending(e->recovery_timer, NULL)) {
        free(e->outage_reason);
        e->outage_reason = xstrdup(reason);
        log_warn("framework %s executor %s: %s agent: %s; retrying for up to %gs",
                 e->opts.framework_id, e->opts.executor_id,
                 was_subscribed ? "disconnected from" : "cannot subscribe to", reason,
                 e->opts.recovery_timeout);
        timer_arm(e->recovery_timer, e->opts.recovery_timeout);
    }
    double delay = executor_retry_delay(&e->opts, http_status, random_unit());
    log_debug("framework %s executor %s: next SUBSCRIBE in %.3fs", e->opts.framework_id,
              e->opts.executor_id, delay);
    timer_arm(e->subscribe_timer, delay);
}

/* ---- events ---- */

static void on_subscribed(struct tepui_executor *e, const Tepui__Executor__Event__Subscribed *s)
{
    log_info("framework %s executor %s: subscribed to agent %s:%d", e->opts.framework_id,
             e->opts.executor_id, e->endpoint.host, e->endpoint.port);
    e->state = STATE_SUBSCRIBED;
    evtimer_del(e->recovery_timer);
    evtimer_del(e->subscribe_timer);
    free(e->outage_reason);
    e->outage_reason = NULL;
    /* A fresh connection for calls: the old one may point at a dead agent. */
    http_client_free(e->calls);
    e->calls = http_client_new(e->base, e->endpoint.host, e->endpoint.port, CALL_TIMEOUT_SECS);
    timer_arm(e->heartbeat_timer, HEARTBEAT_CALL_SECS);
    /* Updates made while the SUBSCRIBE was in flight were not in it. */
    for (struct pending_update *u = e->updates; u != NULL; u = u->hh.next)
        if (!u->sent)
            send_update(e, u);
    if (e->cbs.subscribed != NULL)
        e->cbs.subscribed(e, s, e->arg);
}

static void on_acknowledged(struct tepui_executor *e, const Tepui__Executor__Event__Acknowledged *a)
{
    struct pending_update *u = NULL;
    if (a->uuid.len == sizeof(u->uuid))
        HASH_FIND(hh, e->updates, a->uuid.data, sizeof(u->uuid), u);
    char text[UUID_STR_LEN];
    uuid_format_bytes(a->uuid.data, a->uuid.len, text);
    if (u == NULL) {
        log_warn("framework %s executor %s task %s: acknowledgement %s for an unknown status update",
                 e->opts.framework_id, e->opts.executor_id, a->task_id->value, text);
    } else {
        log_debug("framework %s executor %s task %s: update %s (%s) acknowledged",
                  e->opts.framework_id, e->opts.executor_id, a->task_id->value, text,
                  task_state_name(u->status->state));
        HASH_DEL(e->updates, u);
        /* A task is acknowledged once any of its updates is. */
        task_forget(e, u->status->task_id->value);
    }
    if (e->cbs.acknowledged != NULL)
        e->cbs.acknowledged(e, a->task_id, a->uuid.data, a->uuid.len, u ? u->status : NULL, e->arg);
    if (u != NULL)
        update_free(u);
}

/* The callbacks of one event; e may be freed by them (the caller holds
 * enter/leave around this). */
static void dispatch_event(struct tepui_executor *e, const Tepui__Executor__Event *ev)
{
    const struct tepui_executor_callbacks *cb = &e->cbs;
    if (e->freed)
        return;
    if (ev->type != TEPUI__EXECUTOR__EVENT__TYPE__SUBSCRIBED && e->state == STATE_SUBSCRIBING) {
        log_warn("framework %s executor %s: ignoring event %d before SUBSCRIBED",
                 e->opts.framework_id, e->opts.executor_id, (int)ev->type);
        return;
    }
    /* The codec checks required fields; the sub-message matching the type
     * may still be missing. */
#define NEED(field) do { if (ev->field == NULL) goto malformed; } while (0)
    switch (ev->type) {
    case TEPUI__EXECUTOR__EVENT__TYPE__SUBSCRIBED:
        NEED(subscribed);
        on_subscribed(e, ev->subscribed);
        break;
    case TEPUI__EXECUTOR__EVENT__TYPE__LAUNCH:
        NEED(launch);
        task_remember(e, ev->launch->task);
        if (cb->launch != NULL)
            cb->launch(e, ev->launch->task, e->arg);
        break;
    case TEPUI__EXECUTOR__EVENT__TYPE__LAUNCH_GROUP:
        NEED(launch_group);
        for (size_t i = 0; i < ev->launch_group->task_group->n_tasks; i++)
            task_remember(e, ev->launch_group->task_group->tasks[i]);
        if (cb->launch_group != NULL)
            cb->launch_group(e, ev->launch_group->task_group, e->arg);
        break;
    case TEPUI__EXECUTOR__EVENT__TYPE__KILL:
        NEED(kill);
        if (cb->kill != NULL)
            cb->kill(e, ev->kill->task_id, ev->kill->kill_policy, e->arg);
        break;
    case TEPUI__EXECUTOR__EVENT__TYPE__ACKNOWLEDGED:
        NEED(acknowledged);
        on_acknowledged(e, ev->acknowledged);
        break;
    case TEPUI__EXECUTOR__EVENT__TYPE__MESSAGE:
        NEED(message);
        if (cb->message != NULL)
            cb->message(e, ev->message->data.data, ev->message->data.len, e->arg);
        break;
    case TEPUI__EXECUTOR__EVENT__TYPE__ERROR:
        NEED(error);
        report_error(e, ev->error->message);
        break;
    case TEPUI__EXECUTOR__EVENT__TYPE__SHUTDOWN:
        log_info("framework %s executor %s: shutdown requested by the agent", e->opts.framework_id,
                 e->opts.executor_id);
        if (cb->shutdown != NULL)
            cb->shutdown(e, e->arg);
        break;
    case TEPUI__EXECUTOR__EVENT__TYPE__HEARTBEAT:
        if (cb->heartbeat != NULL)
            cb->heartbeat(e, e->arg);
        break;
    default:
        log_warn("framework %s executor %s: ignoring an event of unknown type %d",
                 e->opts.framework_id, e->opts.executor_id, (int)ev->type);
        break;
    }
    return;
malformed:
    log_warn("framework %s executor %s: ignoring event %d without its payload",
             e->opts.framework_id, e->opts.executor_id, (int)ev->type);
#undef NEED
}

void executor_handle_event(struct tepui_executor *e, const Tepui__Executor__Event *ev)
{
    enter(e);
    dispatch_event(e, ev);
    leave(e);
}

/* ---- the event stream ---- */

static void stream_opened(struct http_client_stream *s, int status, const struct evkeyvalq *headers,
                          void *arg)
{
    struct tepui_executor *e = arg;
    (void)s;
    if (status != 200)
        return;
    const char *ct = evhttp_find_header((struct evkeyvalq *)headers, "Content-Type");
    enum wire_format f = wire_format_from_content_type(ct);
    e->stream_format = f != 0 ? f : e->format;
}

static void stream_data(struct http_client_stream *s, const char *data, size_t len, void *arg)
{
    struct tepui_executor *e = arg;
    struct error err = {0};
    const char *rec;
    size_t rec_len;
    int rc = 0;
    (void)s;
    enter(e);
    recordio_reader_feed(&e->reader, data, len);
    while (!e->freed && e->stream == s &&
           (rc = recordio_reader_next(&e->reader, &rec, &rec_len, &err)) > 0) {
        Tepui__Executor__Event *ev = (Tepui__Executor__Event *)wire_decode(
            &tepui__executor__event__descriptor, e->stream_format, rec, rec_len, &err);
        if (ev == NULL) {
            char *msg = xasprintf("Failed to de-serialize event: %s", err.msg);
            report_error(e, msg);
            free(msg);
            continue;
        }
        dispatch_event(e, ev);
        pb_free(ev);
    }
    if (!e->freed && e->stream == s && rc < 0) {
        char *msg = xasprintf("Failed to decode the stream of events: %s", err.msg);
        subscription_failed(e, 0, msg);
        free(msg);
    }
    leave(e);
}

static void stream_closed(struct http_client_stream *s, int status, const char *error,
                          const char *body, void *arg)
{
    struct tepui_executor *e = arg;
    (void)s;
    enter(e);
    if (status == 200 || status == 0)
        subscription_failed(e, 0, status == 200 ? "the agent closed the event stream" : error);
    else
        subscription_failed(e, status, body != NULL && body[0] != '\0' ? body : "no body");
    leave(e);
}

static void subscribe_now(struct tepui_executor *e)
{
    static const struct http_stream_callbacks cbs = {stream_opened, stream_data, stream_closed};
    struct buf body = BUF_INIT;
    struct http_header headers[4];
    char *auth;
    stream_teardown(e);
    executor_encode_subscribe(e, e->format, &body);
    call_headers(e, headers, &auth);
    e->state = STATE_SUBSCRIBING;
    e->stream_format = e->format;
    log_debug("framework %s executor %s: SUBSCRIBE to %s:%d%s "
              "(%zu tasks, %zu updates unacknowledged)",
              e->opts.framework_id, e->opts.executor_id, e->endpoint.host, e->endpoint.port,
              e->path, executor_unacknowledged_tasks(e), tepui_executor_unacknowledged_updates(e));
    e->stream = http_client_stream_open(e->base, e->endpoint.host, e->endpoint.port, e->path,
                                        headers, body.data, body.len, &cbs, e);
    free(auth);
    buf_free(&body);
    if (e->stream == NULL)
        subscription_failed(e, 0, "cannot open a connection to the agent");
}

static void subscribe_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct tepui_executor *e = arg;
    (void)fd;
    (void)what;
    enter(e);
    if (e->state == STATE_DISCONNECTED)
        subscribe_now(e);
    leave(e);
}

static void recovery_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct tepui_executor *e = arg;
    (void)fd;
    (void)what;
    if (e->state == STATE_SUBSCRIBED || e->state == STATE_GONE)
        return;
    enter(e);
    char *msg = xasprintf("Recovery timeout of %gs exceeded following the first connection "
                          "failure: %s", e->opts.recovery_timeout,
                          e->outage_reason ? e->outage_reason : "unknown");
    give_up(e, msg);
    free(msg);
    leave(e);
}

static void heartbeat_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct tepui_executor *e = arg;
    (void)fd;
    (void)what;
    if (e->state != STATE_SUBSCRIBED)
        return;
    Tepui__Executor__Call call = TEPUI__EXECUTOR__CALL__INIT;
    Tepui__FrameworkID fid = TEPUI__FRAMEWORK_ID__INIT;
    Tepui__ExecutorID eid = TEPUI__EXECUTOR_ID__INIT;
    call_init(e, &call, &fid, &eid, TEPUI__EXECUTOR__CALL__TYPE__HEARTBEAT);
    send_call(e, &call, heartbeat_reply);
    timer_arm(e->heartbeat_timer, HEARTBEAT_CALL_SECS);
}

/* ---- the handle ---- */

struct tepui_executor *tepui_executor_new(struct event_base *base,
                                     const struct tepui_executor_options *opts,
                                     const struct tepui_executor_callbacks *cbs, void *arg,
                                     struct error *err)
{
    struct http_endpoint ep;
    if (opts->framework_id == NULL || opts->framework_id[0] == '\0') {
        error_set(err, -EINVAL, "executor options: no framework id (MESOS_FRAMEWORK_ID)");
        return NULL;
    }
    if (opts->executor_id == NULL || opts->executor_id[0] == '\0') {
        error_set(err, -EINVAL, "executor options: no executor id (MESOS_EXECUTOR_ID)");
        return NULL;
    }
    if (opts->agent_endpoint == NULL) {
        error_set(err, -EINVAL, "executor options: no agent endpoint (MESOS_AGENT_ENDPOINT)");
        return NULL;
    }
    if (http_endpoint_parse(opts->agent_endpoint, 5051, &ep, err) != 0) {
        error_prefix(err, "MESOS_AGENT_ENDPOINT");
        return NULL;
    }
    if (opts->format != TEPUI_EXECUTOR_PROTOBUF && opts->format != TEPUI_EXECUTOR_JSON) {
        error_set(err, -EINVAL, "executor options: unknown format %d", (int)opts->format);
        return NULL;
    }

    struct tepui_executor *e = XNEW(struct tepui_executor);
    e->base = base;
    options_copy(&e->opts, opts);
    e->endpoint = ep;
    e->path = xasprintf("%s%s", ep.prefix, e->opts.api_path);
    e->format = opts->format == TEPUI_EXECUTOR_JSON ? WIRE_JSON : WIRE_PROTOBUF;
    if (cbs != NULL)
        e->cbs = *cbs;
    e->arg = arg;
    e->state = STATE_DISCONNECTED;
    recordio_reader_init(&e->reader, MAX_EVENT_BYTES);
    e->subscribe_timer = evtimer_new(base, subscribe_timer_cb, e);
    e->recovery_timer = evtimer_new(base, recovery_timer_cb, e);
    e->heartbeat_timer = evtimer_new(base, heartbeat_timer_cb, e);
    /* The first SUBSCRIBE goes out when the loop runs, so no callback can
     * run before the caller has the handle. */
    timer_arm(e->subscribe_timer, 0);
    return e;
}

/* Releases everything that can call back or touch the network. */
static void executor_teardown(struct tepui_executor *e)
{
    http_client_stream_close(e->stream);
    e->stream = NULL;
    http_client_free(e->calls);
    e->calls = NULL;
    if (e->subscribe_timer != NULL)
        event_free(e->subscribe_timer);
    if (e->recovery_timer != NULL)
        event_free(e->recovery_timer);
    if (e->heartbeat_timer != NULL)
        event_free(e->heartbeat_timer);
    e->subscribe_timer = e->recovery_timer = e->heartbeat_timer = NULL;
    e->state = STATE_GONE;
}

static void executor_destroy(struct tepui_executor *e)
{
    struct pending_update *u, *utmp;
    struct pending_task *t, *ttmp;
    HASH_ITER(hh, e->updates, u, utmp) {
        HASH_DEL(e->updates, u);
        update_free(u);
    }
    HASH_ITER(hh, e->tasks, t, ttmp) {
        HASH_DEL(e->tasks, t);
        pb_free(t->info);
        free(t->id);
        free(t);
    }
    recordio_reader_free(&e->reader);
    free(e->outage_reason);
    free(e->path);
    tepui_executor_options_clear(&e->opts);
    free(e);
}

void tepui_executor_free(struct tepui_executor *e)
{
    if (e == NULL || e->freed)
        return;
    e->freed = 1;
    executor_teardown(e);
    if (e->busy == 0)
        executor_destroy(e);
}

int tepui_executor_update(struct tepui_executor *e, const Tepui__TaskStatus *status,
                          struct error *err)
{
    if (e->state == STATE_GONE)
        return error_set(err, -ENOTCONN, "the executor has given up on its agent");
    if (status == NULL || status->task_id == NULL || status->task_id->value == NULL)
        return error_set(err, -EINVAL, "status update without a task_id");
    if (status->state == TEPUI__TASK_STATE__TASK_STAGING)
        return error_set(err, -EINVAL, "task %s: executors may not send TASK_STAGING",
                         status->task_id->value);
    if (!protobuf_c_message_check(&status->base))
        return error_set(err, -EINVAL, "task %s: status update lacks a required field",
                         status->task_id->value);

    /* Fill our fields on a shallow copy, then deep-copy that: the result
     * is owned and freed like any decoded message. */
    struct uuid uuid;
    uuid_random(&uuid);
    Tepui__ExecutorID eid = TEPUI__EXECUTOR_ID__INIT;
    eid.value = e->opts.executor_id;
    Tepui__TaskStatus filled = *status;
    filled.executor_id = &eid;
    filled.has_source = 1;
    filled.source = TEPUI__TASK_STATUS__SOURCE__SOURCE_EXECUTOR;
    filled.has_uuid = 1;
    filled.uuid.data = uuid.b;
    filled.uuid.len = sizeof(uuid.b);
    if (!filled.has_timestamp) {
        filled.has_timestamp = 1;
        filled.timestamp = clock_wall();
    }
    struct pending_update *u = XNEW(struct pending_update);
    memcpy(u->uuid, uuid.b, sizeof(u->uuid));
    u->status = PB_COPY(Tepui__TaskStatus, &filled);
    HASH_ADD(hh, e->updates, uuid, sizeof(u->uuid), u);

    char text[UUID_STR_LEN];
    uuid_format(&uuid, text);
    log_info("framework %s executor %s task %s: sending %s (update %s)%s", e->opts.framework_id,
             e->opts.executor_id, status->task_id->value, task_state_name(status->state), text,
             e->state == STATE_SUBSCRIBED ? "" : " once subscribed");
    if (e->state == STATE_SUBSCRIBED)
        send_update(e, u);
    return 0;
}

int tepui_executor_message(struct tepui_executor *e, const void *data, size_t len)
{
    if (e->state != STATE_SUBSCRIBED) {
        log_warn("framework %s executor %s: dropping MESSAGE while not subscribed",
                 e->opts.framework_id, e->opts.executor_id);
        return -ENOTCONN;
    }
    Tepui__Executor__Call call = TEPUI__EXECUTOR__CALL__INIT;
    Tepui__FrameworkID fid = TEPUI__FRAMEWORK_ID__INIT;
    Tepui__ExecutorID eid = TEPUI__EXECUTOR_ID__INIT;
    Tepui__Executor__Call__Message msg = TEPUI__EXECUTOR__CALL__MESSAGE__INIT;
    call_init(e, &call, &fid, &eid, TEPUI__EXECUTOR__CALL__TYPE__MESSAGE);
    msg.data.data = (uint8_t *)data;
    msg.data.len = len;
    call.message = &msg;
    send_call(e, &call, message_reply);
    return 0;
}

int tepui_executor_is_subscribed(const struct tepui_executor *e)
{
    return e->state == STATE_SUBSCRIBED;
}

const struct tepui_executor_options *tepui_executor_get_options(const struct tepui_executor *e)
{
    return &e->opts;
}
