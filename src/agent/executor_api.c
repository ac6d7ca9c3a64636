/* POST /api/v1/executor: the Mesos v1 executor API. An executor subscribes
 * (a stream of events comes back: SUBSCRIBED, then its tasks), sends status
 * updates (acknowledged to it once the agent holds them, checkpointed when
 * its framework checkpoints) and messages for its scheduler. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/checkpoint.h"
#include "http/api.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "wire/pb.h"
#include "wire/recordio.h"

#define LOG_COMPONENT "agent"

/* Sends the events held for the commit. Each goes as its own chunk, as
 * events sent at once do: a chunk of a few hundred kilobytes (a burst of
 * LAUNCHes) can reach an executor garbled (libevent 2.1.12's client hands
 * large chunks over in pieces). */
static void send_deferred(void *arg)
{
    struct agent_executor *e = arg;
    size_t off = 0;
    while (e->stream != NULL && off < e->deferred.len) {
        const char *p = e->deferred.data + off;
        size_t digits = strcspn(p, "\n");
        size_t frame = digits + 1 + (size_t)strtoull(p, NULL, 10);
        http_stream_send(e->stream, p, frame);
        off += frame;
    }
    buf_reset(&e->deferred);
}

void executor_send_event(struct agent_executor *e, const Tepui__Executor__Event *ev)
{
    if (e->stream == NULL)
        return;
    struct buf body = BUF_INIT;
    wire_encode(&ev->base, e->format, &body);
    /* An executor of a checkpointing framework acts on what it is told (a
     * task to run, an update the agent holds) as if the agent will
     * remember it: its events wait for the turn's commit, in order. */
    if (e->deferred.len > 0 ||
        (ckpt_pending(e->agent) && agent_framework_checkpoints(e->framework))) {
        if (e->deferred.len == 0)
            ckpt_after_commit(e->agent, send_deferred, e);
        recordio_write(&e->deferred, body.data, body.len);
    } else {
        struct buf frame = BUF_INIT;
        recordio_write(&frame, body.data, body.len);
        http_stream_send(e->stream, frame.data, frame.len);
        buf_free(&frame);
    }
    buf_free(&body);
}

void executor_flush_queue(struct agent *a, struct agent_executor *e)
{
    struct agent_task *t, *tmp;
    HASH_ITER(hh, e->tasks, t, tmp) {
        if (t->launched || task_state_is_terminal(t->state))
            continue;
        int in_group = 0;
        for (size_t i = 0; i < e->n_queued_groups && !in_group; i++)
            for (size_t k = 0; k < e->queued_groups[i]->n_tasks && !in_group; k++)
                in_group = strcmp(e->queued_groups[i]->tasks[k]->task_id->value, t->id) == 0;
        if (in_group)
            continue;
        t->launched = 1;
        if (tasks_mount_volumes(a, e, t) != 0)
            continue;
        Tepui__Executor__Event ev = TEPUI__EXECUTOR__EVENT__INIT;
        Tepui__Executor__Event__Launch l = TEPUI__EXECUTOR__EVENT__LAUNCH__INIT;
        l.task = t->info;
        ev.has_type = 1;
        ev.type = TEPUI__EXECUTOR__EVENT__TYPE__LAUNCH;
        ev.launch = &l;
        ckpt_task_launched(a, t);
        executor_send_event(e, &ev);
    }
    for (size_t i = 0; i < e->n_queued_groups; i++) {
        Tepui__TaskGroupInfo *g = e->queued_groups[i];
        /* A group whose tasks were all killed before delivery is dropped. */
        int live = 0;
        for (size_t k = 0; k < g->n_tasks; k++) {
            struct agent_task *gt = NULL;
            HASH_FIND_STR(e->tasks, g->tasks[k]->task_id->value, gt);
            if (gt != NULL && !task_state_is_terminal(gt->state)) {
                gt->launched = 1;
                ckpt_task_launched(a, gt);
                live = tasks_mount_volumes(a, e, gt) == 0 ? live | 1 : -1;
            }
        }
        if (live < 0) {
            /* A group runs whole or not at all. */
            for (size_t k = 0; k < g->n_tasks; k++) {
                struct agent_task *gt = NULL;
                HASH_FIND_STR(e->tasks, g->tasks[k]->task_id->value, gt);
                if (gt != NULL && !task_state_is_terminal(gt->state))
                    tasks_agent_update(a, e, gt, TEPUI__TASK_STATE__TASK_FAILED,
                                       TEPUI__TASK_STATUS__REASON__REASON_CONTAINER_UPDATE_FAILED,
                                       "Failed to update the container: another task of its "
                                       "group could not get its persistent volumes");
            }
        } else if (live) {
            Tepui__Executor__Event ev = TEPUI__EXECUTOR__EVENT__INIT;
            Tepui__Executor__Event__LaunchGroup lg = TEPUI__EXECUTOR__EVENT__LAUNCH_GROUP__INIT;
            lg.task_group = g;
            ev.has_type = 1;
            ev.type = TEPUI__EXECUTOR__EVENT__TYPE__LAUNCH_GROUP;
            ev.launch_group = &lg;
            executor_send_event(e, &ev);
        }
        pb_free(g);
    }
    free(e->queued_groups);
    e->queued_groups = NULL;
    e->n_queued_groups = 0;
}

static void accept_update(struct agent *a, struct agent_executor *e,
                          Tepui__ExecutorID *executor_id, Tepui__TaskStatus *s);

static void executor_stream_closed(struct http_stream *st, void *arg)
{
    struct agent_executor *e = arg;
    if (e->stream != st)
        return;
    log_info("executor %s of framework %s closed its subscription", e->id, e->framework->id);
    http_stream_close(e->stream);
    e->stream = NULL;
}

static void handle_subscribe(struct agent *a, struct http_request *req, struct agent_executor *e,
                             const Tepui__Executor__Call *call)
{
    enum wire_format fmt = wire_format_from_accept(http_request_header(req, "Accept"));
    if (fmt == 0) {
        http_respond_error(req, 406, "Expecting 'Accept' to allow '%s' or '%s'", WIRE_MEDIA_JSON,
                           WIRE_MEDIA_PROTOBUF);
        return;
    }
    if (call->subscribe == NULL) {
        http_respond_error(req, 400, "Expecting 'subscribe' to be present");
        return;
    }
    if (e->state == EXECUTOR_TERMINATED) {
        http_respond_error(req, 400, "Executor is terminated");
        return;
    }
    /* Events held for the turn's commit go out on the stream they were
     * meant for, before a new one replaces it. */
    ckpt_sync(a);
    if (e->stream != NULL) {
        /* A re-subscription replaces the old stream. */
        struct http_stream *old = e->stream;
        e->stream = NULL;
        http_stream_close(old);
    }
    e->stream = http_stream_start(req, wire_format_media_type(fmt), executor_stream_closed, e);
    e->format = fmt;
    if (e->registration_timer != NULL)
        evtimer_del(e->registration_timer);
    int terminating = e->state == EXECUTOR_TERMINATING;
    if (!terminating)
        e->state = EXECUTOR_RUNNING;
    log_info("executor %s of framework %s subscribed", e->id, e->framework->id);

    Tepui__Executor__Event ev = TEPUI__EXECUTOR__EVENT__INIT;
    Tepui__Executor__Event__Subscribed sub = TEPUI__EXECUTOR__EVENT__SUBSCRIBED__INIT;
    Tepui__ContainerID cid = TEPUI__CONTAINER_ID__INIT;
    cid.value = e->container_id;
    sub.executor_info = e->info;
    sub.framework_info = e->framework->info;
    sub.agent_info = a->info;
    sub.container_id = &cid;
    ev.has_type = 1;
    ev.type = TEPUI__EXECUTOR__EVENT__TYPE__SUBSCRIBED;
    ev.subscribed = &sub;
    executor_send_event(e, &ev);

    /* Updates the executor made while we could not take them count as sent
     * now (duplicates of what we hold are dropped by uuid). */
    for (size_t i = 0; i < call->subscribe->n_unacknowledged_updates; i++) {
        Tepui__Executor__Call__Update *u = call->subscribe->unacknowledged_updates[i];
        if (u->status == NULL || !u->status->has_uuid || u->status->uuid.len != 16 ||
            u->status->state == TEPUI__TASK_STATE__TASK_STAGING)
            continue;
        accept_update(a, e, call->executor_id, u->status);
    }
    if (e->recovered) {
        recover_executor_subscribed(a, e, call->subscribe);
        if (!terminating && e->state == EXECUTOR_TERMINATING)
            return;   /* recovery shut it down (nothing to run) */
    }

    if (terminating) {
        Tepui__Executor__Event sd = TEPUI__EXECUTOR__EVENT__INIT;
        sd.has_type = 1;
        sd.type = TEPUI__EXECUTOR__EVENT__TYPE__SHUTDOWN;
        executor_send_event(e, &sd);
        return;
    }
    executor_flush_queue(a, e);
}

static int validate_update(const Tepui__Executor__Call *call, struct error *err)
{
    const Tepui__Executor__Call__Update *u = call->update;
    if (u == NULL)
        return error_set(err, -EINVAL, "Expecting 'update' to be present");
    const Tepui__TaskStatus *s = u->status;
    if (!s->has_uuid)
        return error_set(err, -EINVAL, "Expecting 'uuid' to be present");
    if (s->uuid.len != 16)
        return error_set(err, -EINVAL, "'uuid' is not a valid UUID (16 bytes expected, got %zu)",
                         s->uuid.len);
    if (s->state == TEPUI__TASK_STATE__TASK_STAGING)
        return error_set(err, -EINVAL, "Received TASK_STAGING from executor");
    if (s->has_source && s->source != TEPUI__TASK_STATUS__SOURCE__SOURCE_EXECUTOR)
        return error_set(err, -EINVAL, "Received an update with source %s from an executor",
                         task_source_name(s->source));
    if (s->executor_id != NULL && strcmp(s->executor_id->value, call->executor_id->value) != 0)
        return error_set(err, -EINVAL, "Received an update with executor id %s from executor %s",
                         s->executor_id->value, call->executor_id->value);
    return 0;
}

/* Takes an executor's update into the task's stream and acknowledges it
 * to the executor (the agent holds it now). */
static void accept_update(struct agent *a, struct agent_executor *e,
                          Tepui__ExecutorID *executor_id, Tepui__TaskStatus *s)
{
    /* The agent completes what the executor may leave out. */
    Tepui__AgentID aid = TEPUI__AGENT_ID__INIT;
    Tepui__AgentID *saved_agent = s->agent_id;
    Tepui__ExecutorID *saved_exec = s->executor_id;
    aid.value = a->id ? a->id : "";
    s->agent_id = &aid;
    s->executor_id = executor_id;
    s->has_source = 1;
    s->source = TEPUI__TASK_STATUS__SOURCE__SOURCE_EXECUTOR;
    if (!s->has_timestamp) {
        s->has_timestamp = 1;
        s->timestamp = clock_wall();
    }
    struct agent_task *t = NULL;
    HASH_FIND_STR(e->tasks, s->task_id->value, t);
    tasks_drain_rewrite(a, s);
    int dup = updates_add(a, e->framework->id, s) == -EEXIST;
    if (t != NULL && !dup && !task_state_is_terminal(t->state))
        t->state = s->state;
    log_debug("executor %s sent %s for task %s%s", e->id, task_state_name(s->state),
              s->task_id->value, dup ? " (duplicate)" : "");

    Tepui__Executor__Event ev = TEPUI__EXECUTOR__EVENT__INIT;
    Tepui__Executor__Event__Acknowledged ack = TEPUI__EXECUTOR__EVENT__ACKNOWLEDGED__INIT;
    ack.task_id = s->task_id;
    ack.uuid = s->uuid;
    ev.has_type = 1;
    ev.type = TEPUI__EXECUTOR__EVENT__TYPE__ACKNOWLEDGED;
    ev.acknowledged = &ack;
    executor_send_event(e, &ev);
    s->agent_id = saved_agent;
    s->executor_id = saved_exec;
}

static void handle_update(struct agent *a, struct http_request *req, struct agent_executor *e,
                          Tepui__Executor__Call *call)
{
    struct error err = {0};
    if (validate_update(call, &err) != 0) {
        a->metrics.invalid_status_updates++;
        http_respond_error(req, 400, "%s", err.msg);
        return;
    }
    /* An executor speaks only for the tasks the agent gave it. */
    struct agent_task *t = NULL;
    HASH_FIND_STR(e->tasks, call->update->status->task_id->value, t);
    if (t == NULL) {
        a->metrics.invalid_status_updates++;
        http_respond_error(req, 400, "Task '%s' is not a task of executor '%s'",
                           call->update->status->task_id->value, e->id);
        return;
    }
    /* Answer first, then acknowledge on the stream, as Mesos orders them:
     * 202 says the call was received; ACKNOWLEDGED, which lets the
     * executor forget the update, waits for its checkpoint's commit. */
    http_respond_empty(req, 202);
    accept_update(a, e, call->executor_id, call->update->status);
}

static void handle_message(struct agent *a, struct agent_executor *e,
                           const Tepui__Executor__Call__Message *m)
{
    Tepui__Internal__AgentCall call = TEPUI__INTERNAL__AGENT_CALL__INIT;
    Tepui__Internal__AgentCall__ExecutorMessage em =
        TEPUI__INTERNAL__AGENT_CALL__EXECUTOR_MESSAGE__INIT;
    em.framework_id = e->framework->info->id;
    em.executor_id = e->info->executor_id;
    em.data = m->data;
    call.has_type = 1;
    call.type = TEPUI__INTERNAL__AGENT_CALL__TYPE__EXECUTOR_MESSAGE;
    call.executor_message = &em;
    master_link_send(a, &call);
}

static void executor_api(struct http_request *req, void *arg)
{
    struct agent *a = arg;
    Tepui__Executor__Call *call = (Tepui__Executor__Call *)http_api_decode(
        req, &tepui__executor__call__descriptor, 0, NULL);
    if (call == NULL)
        return;
    if (!call->has_type || call->type == TEPUI__EXECUTOR__CALL__TYPE__UNKNOWN) {
        http_respond_error(req, 400, "Expecting 'type' to be present");
        goto out;
    }
    if (call->type == TEPUI__EXECUTOR__CALL__TYPE__HEARTBEAT) {
        http_respond_empty(req, 202);
        goto out;
    }
    struct agent_executor *e = agent_find_executor(a, call->framework_id->value,
                                                   call->executor_id->value);
    if (e == NULL) {
        http_respond_error(req, 400, "Executor %s of framework %s is not known to this agent",
                           call->executor_id->value, call->framework_id->value);
        goto out;
    }
    if (call->type == TEPUI__EXECUTOR__CALL__TYPE__SUBSCRIBE) {
        handle_subscribe(a, req, e, call);
        goto out;
    }
    if (e->stream == NULL) {
        http_respond_error(req, 403, "Executor is not subscribed");
        goto out;
    }
    switch (call->type) {
    case TEPUI__EXECUTOR__CALL__TYPE__UPDATE:
        handle_update(a, req, e, call);
        goto out;
    case TEPUI__EXECUTOR__CALL__TYPE__MESSAGE:
        if (call->message == NULL) {
            http_respond_error(req, 400, "Expecting 'message' to be present");
            goto out;
        }
        handle_message(a, e, call->message);
        break;
    default:
        http_respond_error(req, 400, "Unsupported call type %d", (int)call->type);
        goto out;
    }
    http_respond_empty(req, 202);
out:
    pb_free(call);
}

/* HEARTBEAT events keep executors' subscriptions alive through proxies and
 * let them notice a dead agent (Mesos sends one every 30 minutes). */
static void heartbeat_cb(evutil_socket_t fd, short what, void *arg)
{
    struct agent *a = arg;
    (void)fd;
    (void)what;
    Tepui__Executor__Event ev = TEPUI__EXECUTOR__EVENT__INIT;
    ev.has_type = 1;
    ev.type = TEPUI__EXECUTOR__EVENT__TYPE__HEARTBEAT;
    struct agent_framework *f, *ftmp;
    HASH_ITER(hh, a->frameworks, f, ftmp) {
        struct agent_executor *e, *etmp;
        HASH_ITER(hh, f->executors, e, etmp) {
            if (e->stream != NULL)
                executor_send_event(e, &ev);
        }
    }
}

void executor_api_stop(struct agent *a)
{
    if (a->executor_heartbeat_timer != NULL)
        event_free(a->executor_heartbeat_timer);
    a->executor_heartbeat_timer = NULL;
}

void executor_api_routes(struct agent *a)
{
    if (a->flags.executor_heartbeat_interval > 0) {
        a->executor_heartbeat_timer = event_new(a->base, -1, EV_PERSIST, heartbeat_cb, a);
        struct timeval tv = clock_timeval(a->flags.executor_heartbeat_interval);
        event_add(a->executor_heartbeat_timer, &tv);
    }
    http_server_route(a->http, "/api/v1/executor", executor_api, a);
    http_server_route(a->http, "/slave(1)/api/v1/executor", executor_api, a);
}
