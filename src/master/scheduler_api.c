/* POST /api/v1/scheduler: the Mesos v1 scheduler API. Decodes and validates
 * each call at the edge (status codes and messages as Mesos gives them), then
 * hands it to the framework, offer and task modules. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/uuid.h"
#include "common/xalloc.h"
#include "http/api.h"
#include "master/election.h"
#include "master/maintenance.h"
#include "master/master.h"
#include "wire/pb.h"
#include "wire/recordio.h"

#define LOG_COMPONENT "master"

/* ---- validation ---- */

/* IDs must be non-empty, not "." or "..", at most 255 bytes, with no '/',
 * no whitespace and no control characters (they name sandbox directories). */
int master_validate_id(const char *kind, const char *id, struct error *err)
{
    size_t n = strlen(id);
    if (n == 0)
        return error_set(err, -EINVAL, "%s must not be empty", kind);
    if (n > 255)
        return error_set(err, -EINVAL, "%s '%.32s...' is longer than 255 bytes", kind, id);
    if (strcmp(id, ".") == 0 || strcmp(id, "..") == 0)
        return error_set(err, -EINVAL, "%s '%s' is disallowed", kind, id);
    for (const unsigned char *p = (const unsigned char *)id; *p; p++)
        if (*p == '/' || *p < 0x20 || *p == 0x7f || *p == ' ')
            return error_set(err, -EINVAL, "%s '%s' contains invalid characters", kind, id);
    return 0;
}

/* Role names as Mesos validates them: '/'-separated components, each
 * non-empty, not "." or "..", not starting with '-', no whitespace,
 * backspace or control characters; "*" alone is the default role. */
int master_validate_role(const char *role, struct error *err)
{
    if (strcmp(role, "*") == 0)
        return 0;
    size_t n = strlen(role);
    if (n == 0)
        return error_set(err, -EINVAL, "Empty role name is invalid");
    if (role[0] == '/' || role[n - 1] == '/')
        return error_set(err, -EINVAL, "Role '%s' cannot start or end with a slash", role);
    const char *p = role;
    while (*p) {
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == 0)
            return error_set(err, -EINVAL, "Role '%s' cannot contain two adjacent slashes", role);
        if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.') ||
            (len == 1 && p[0] == '*'))
            return error_set(err, -EINVAL, "Role '%s' cannot contain '.', '..' or '*' as a component",
                             role);
        if (p[0] == '-')
            return error_set(err, -EINVAL, "Role '%s' component cannot start with '-'", role);
        for (size_t i = 0; i < len; i++) {
            unsigned char c = (unsigned char)p[i];
            if (c <= 0x20 || c == 0x7f)
                return error_set(err, -EINVAL,
                                 "Role '%s' cannot contain whitespace or control characters", role);
        }
        p += len;
        if (*p == '/')
            p++;
    }
    return 0;
}

static int has_capability(const Tepui__FrameworkInfo *fi,
                          Tepui__FrameworkInfo__Capability__Type type)
{
    for (size_t i = 0; i < fi->n_capabilities; i++)
        if (fi->capabilities[i]->has_type && fi->capabilities[i]->type == type)
            return 1;
    return 0;
}

/* The deprecated FrameworkInfo.role: protobuf-c leaves an unset field
 * pointing at its declared default ("*"). */
static const char *explicit_role(const Tepui__FrameworkInfo *fi)
{
    if (fi->role == NULL || fi->role == tepui__framework_info__role__default_value)
        return NULL;
    return fi->role;
}

static int validate_framework_info(const Tepui__FrameworkInfo *fi, struct error *err)
{
    int multi_role = has_capability(fi, TEPUI__FRAMEWORK_INFO__CAPABILITY__TYPE__MULTI_ROLE);
    if (multi_role && explicit_role(fi) != NULL)
        return error_set(err, -EINVAL,
                         "'FrameworkInfo.role' must not be set when the framework is MULTI_ROLE");
    if (!multi_role && fi->n_roles > 0)
        return error_set(err, -EINVAL,
                         "'FrameworkInfo.roles' must be empty unless the framework is MULTI_ROLE");
    for (size_t i = 0; i < fi->n_roles; i++) {
        if (master_validate_role(fi->roles[i], err) != 0)
            return -EINVAL;
        for (size_t j = 0; j < i; j++)
            if (strcmp(fi->roles[i], fi->roles[j]) == 0)
                return error_set(err, -EINVAL, "'FrameworkInfo.roles' contains duplicate role '%s'",
                                 fi->roles[i]);
    }
    if (explicit_role(fi) != NULL && master_validate_role(fi->role, err) != 0)
        return -EINVAL;
    if (fi->id != NULL && master_validate_id("FrameworkID", fi->id->value, err) != 0)
        return -EINVAL;
    if (fi->has_failover_timeout && !(fi->failover_timeout >= 0))
        return error_set(err, -EINVAL, "'FrameworkInfo.failover_timeout' must be non-negative");
    return 0;
}

/* Mesos: suppressed roles must be among the framework's roles. */
static int validate_suppressed_roles(const Tepui__FrameworkInfo *fi, char *const *roles, size_t n,
                                     struct error *err)
{
    int multi_role = has_capability(fi, TEPUI__FRAMEWORK_INFO__CAPABILITY__TYPE__MULTI_ROLE);
    const char *role = explicit_role(fi) ? explicit_role(fi) : "*";
    for (size_t i = 0; i < n; i++) {
        int found = 0;
        for (size_t j = 0; multi_role && j < fi->n_roles && !found; j++)
            found = strcmp(roles[i], fi->roles[j]) == 0;
        if (!multi_role)
            found = strcmp(roles[i], role) == 0;
        if (!found)
            return error_set(err, -EINVAL, "Suppressed role '%s' is not contained in the "
                             "framework's roles", roles[i]);
    }
    return 0;
}

/* Checks the parts of a call that Mesos's call validation checks before the
 * framework is looked up. */
static int validate_call(const Tepui__Scheduler__Call *call, struct error *err)
{
    if (!call->has_type)
        return error_set(err, -EINVAL, "Expecting 'type' to be present");
    if (call->type == TEPUI__SCHEDULER__CALL__TYPE__SUBSCRIBE) {
        if (call->subscribe == NULL)
            return error_set(err, -EINVAL, "Expecting 'subscribe' to be present");
        const Tepui__FrameworkInfo *fi = call->subscribe->framework_info;
        if (call->framework_id != NULL &&
            (fi->id == NULL || strcmp(fi->id->value, call->framework_id->value) != 0))
            return error_set(err, -EINVAL, "'framework_id' differs from 'subscribe.framework_info.id'");
        return 0;
    }
    if (call->type == TEPUI__SCHEDULER__CALL__TYPE__UNKNOWN)
        return 0;
    if (call->framework_id == NULL)
        return error_set(err, -EINVAL, "Expecting 'framework_id' to be present");
    switch (call->type) {
    case TEPUI__SCHEDULER__CALL__TYPE__ACCEPT:
        if (call->accept == NULL)
            return error_set(err, -EINVAL, "Expecting 'accept' to be present");
        break;
    case TEPUI__SCHEDULER__CALL__TYPE__DECLINE:
        if (call->decline == NULL)
            return error_set(err, -EINVAL, "Expecting 'decline' to be present");
        break;
    case TEPUI__SCHEDULER__CALL__TYPE__ACCEPT_INVERSE_OFFERS:
        if (call->accept_inverse_offers == NULL)
            return error_set(err, -EINVAL, "Expecting 'accept_inverse_offers' to be present");
        break;
    case TEPUI__SCHEDULER__CALL__TYPE__DECLINE_INVERSE_OFFERS:
        if (call->decline_inverse_offers == NULL)
            return error_set(err, -EINVAL, "Expecting 'decline_inverse_offers' to be present");
        break;
    case TEPUI__SCHEDULER__CALL__TYPE__KILL:
        if (call->kill == NULL)
            return error_set(err, -EINVAL, "Expecting 'kill' to be present");
        break;
    case TEPUI__SCHEDULER__CALL__TYPE__SHUTDOWN:
        if (call->shutdown == NULL)
            return error_set(err, -EINVAL, "Expecting 'shutdown' to be present");
        break;
    case TEPUI__SCHEDULER__CALL__TYPE__ACKNOWLEDGE:
        if (call->acknowledge == NULL)
            return error_set(err, -EINVAL, "Expecting 'acknowledge' to be present");
        if (call->acknowledge->uuid.len != 16)
            return error_set(err, -EINVAL, "'acknowledge.uuid' is not a valid UUID (need 16 bytes, got %zu)",
                             call->acknowledge->uuid.len);
        break;
    case TEPUI__SCHEDULER__CALL__TYPE__ACKNOWLEDGE_OPERATION_STATUS:
        if (call->acknowledge_operation_status == NULL)
            return error_set(err, -EINVAL, "Expecting 'acknowledge_operation_status' to be present");
        break;
    case TEPUI__SCHEDULER__CALL__TYPE__RECONCILE:
        if (call->reconcile == NULL)
            return error_set(err, -EINVAL, "Expecting 'reconcile' to be present");
        break;
    case TEPUI__SCHEDULER__CALL__TYPE__RECONCILE_OPERATIONS:
        if (call->reconcile_operations == NULL)
            return error_set(err, -EINVAL, "Expecting 'reconcile_operations' to be present");
        break;
    case TEPUI__SCHEDULER__CALL__TYPE__MESSAGE:
        if (call->message == NULL)
            return error_set(err, -EINVAL, "Expecting 'message' to be present");
        break;
    case TEPUI__SCHEDULER__CALL__TYPE__REQUEST:
        if (call->request == NULL)
            return error_set(err, -EINVAL, "Expecting 'request' to be present");
        break;
    case TEPUI__SCHEDULER__CALL__TYPE__UPDATE_FRAMEWORK:
        if (call->update_framework == NULL)
            return error_set(err, -EINVAL, "Expecting 'update_framework' to be present");
        if (call->update_framework->framework_info->id == NULL ||
            strcmp(call->update_framework->framework_info->id->value, call->framework_id->value) != 0)
            return error_set(err, -EINVAL,
                             "'framework_id' differs from 'update_framework.framework_info.id'");
        break;
    default:
        break;
    }
    return 0;
}

/* ---- SUBSCRIBE ---- */

static void send_subscribed(struct master *m, struct framework *f)
{
    Tepui__Scheduler__Event ev = TEPUI__SCHEDULER__EVENT__INIT;
    Tepui__Scheduler__Event__Subscribed sub = TEPUI__SCHEDULER__EVENT__SUBSCRIBED__INIT;
    sub.framework_id = f->info->id;
    sub.has_heartbeat_interval_seconds = 1;
    sub.heartbeat_interval_seconds = m->flags.framework_heartbeat_interval;
    sub.master_info = m->info;
    ev.has_type = 1;
    ev.type = TEPUI__SCHEDULER__EVENT__TYPE__SUBSCRIBED;
    ev.subscribed = &sub;
    framework_send_event(f, &ev);
    /* Mesos starts the heartbeats with one right after SUBSCRIBED (its
     * ResponseHeartbeater sends at once, then every interval). */
    Tepui__Scheduler__Event hb = TEPUI__SCHEDULER__EVENT__INIT;
    hb.has_type = 1;
    hb.type = TEPUI__SCHEDULER__EVENT__TYPE__HEARTBEAT;
    framework_send_event(f, &hb);
}

/* Ends a subscription that cannot go on: 200, one ERROR event, closed. */
static void subscribe_error(struct http_request *req, enum wire_format fmt, const char *message)
{
    /* Mesos gives every subscription response a stream id, even this one. */
    char stream_id[UUID_STR_LEN];
    struct uuid u;
    uuid_random(&u);
    uuid_format(&u, stream_id);
    http_response_header(req, "Mesos-Stream-Id", stream_id);
    struct http_stream *st = http_stream_start(req, wire_format_media_type(fmt), NULL, NULL);
    Tepui__Scheduler__Event ev = TEPUI__SCHEDULER__EVENT__INIT;
    Tepui__Scheduler__Event__Error e = TEPUI__SCHEDULER__EVENT__ERROR__INIT;
    e.message = (char *)message;
    ev.has_type = 1;
    ev.type = TEPUI__SCHEDULER__EVENT__TYPE__ERROR;
    ev.error = &e;
    struct buf body = BUF_INIT, frame = BUF_INIT;
    wire_encode(&ev.base, fmt, &body);
    recordio_write(&frame, body.data, body.len);
    http_stream_send(st, frame.data, frame.len);
    http_stream_close(st);
    buf_free(&body);
    buf_free(&frame);
}

static void handle_subscribe(struct master *m, struct http_request *req,
                             const Tepui__Scheduler__Call *call)
{
    struct error err = {0};
    const char *accept = http_request_header(req, "Accept");
    enum wire_format fmt = wire_format_from_accept(accept);
    if (fmt == 0) {
        http_respond_error(req, 406, "Expecting 'Accept' to allow '%s' or '%s'", WIRE_MEDIA_JSON,
                           WIRE_MEDIA_PROTOBUF);
        return;
    }
    if (http_request_header(req, "Mesos-Stream-Id") != NULL) {
        http_respond_error(req, 400, "Subscribe calls should not include the 'Mesos-Stream-Id' header");
        return;
    }
    const Tepui__FrameworkInfo *fi = call->subscribe->framework_info;
    if (validate_framework_info(fi, &err) != 0 ||
        validate_suppressed_roles(fi, call->subscribe->suppressed_roles,
                                  call->subscribe->n_suppressed_roles, &err) != 0) {
        subscribe_error(req, fmt, err.msg);
        return;
    }

    struct framework *f = NULL;
    if (fi->id != NULL) {
        if (framework_was_removed(m, fi->id->value)) {
            subscribe_error(req, fmt, "Framework has been removed");
            return;
        }
        f = master_find_framework(m, fi->id->value);
        if (f != NULL) {
            if (f->info->principal && fi->principal && strcmp(f->info->principal, fi->principal) != 0) {
                subscribe_error(req, fmt, "Changing framework's principal is not allowed");
                return;
            }
            framework_update_info(f, fi);
            f->reregistered_time = clock_wall();
            f->recovered = 0;
            log_info("framework %s (%s) re-subscribed", f->id, fi->name);
        } else {
            /* A framework we do not know (e.g. after a master restart) keeps
             * the id it had. */
            f = framework_create(m, fi->id->value, fi);
            f->reregistered_time = f->registered_time;
        }
    } else {
        char id[128];
        master_new_id(m, 'F', id, sizeof(id));
        f = framework_create(m, id, fi);
    }

    char stream_id[UUID_STR_LEN];
    struct uuid u;
    uuid_random(&u);
    uuid_format(&u, stream_id);
    http_response_header(req, "Mesos-Stream-Id", stream_id);
    struct http_stream *st = http_stream_start(req, wire_format_media_type(fmt),
                                               framework_stream_closed, f);
    framework_attach_stream(f, st, fmt);
    snprintf(f->stream_id, sizeof(f->stream_id), "%s", stream_id);
    send_subscribed(m, f);

    /* Roles the scheduler asked to start suppressed (exactly those, also
     * for a framework that subscribes again). */
    allocator_set_suppressed_roles(m->allocator, f->id, call->subscribe->suppressed_roles,
                                   call->subscribe->n_suppressed_roles);
    allocator_activate_framework(m->allocator, f->id);
    log_info("framework %s (%s) subscribed as user '%s' (%s)", f->id, fi->name, fi->user,
             fmt == WIRE_JSON ? "json" : "protobuf");
}

/* ---- the other calls ---- */

double master_refuse_seconds(const Tepui__Filters *filters)
{
    /* Mesos: 5 seconds by default; a negative value means the default, and
     * a filter never lasts longer than a year. */
    double s = 5.0;
    if (filters != NULL && filters->has_refuse_seconds)
        s = filters->refuse_seconds;
    if (!(s >= 0))
        s = 5.0;
    if (s > 365.0 * 24 * 3600)
        s = 365.0 * 24 * 3600;
    return s;
}

void master_decline_offers(struct framework *f, Tepui__OfferID **ids, size_t n,
                           const Tepui__Filters *filters)
{
    struct master *m = f->master;
    double refuse = master_refuse_seconds(filters);
    for (size_t i = 0; i < n; i++) {
        struct offer *o = offer_find(m, ids[i]->value);
        if (o == NULL || o->framework != f) {
            log_debug("framework %s declined unknown offer %s", f->id, ids[i]->value);
            continue;
        }
        allocator_recover(m->allocator, f->id, o->agent->id, &o->resources, refuse);
        offer_discard(o);
        m->metrics.offers_declined++;
    }
}

static void handle_kill(struct master *m, struct framework *f, const Tepui__Scheduler__Call__Kill *k)
{
    struct task *t = task_find(f, k->task_id->value);
    if (t == NULL) {
        /* As Mesos: answer with what reconciliation knows of it. */
        Tepui__Scheduler__Call__Reconcile r = TEPUI__SCHEDULER__CALL__RECONCILE__INIT;
        Tepui__Scheduler__Call__Reconcile__Task rt = TEPUI__SCHEDULER__CALL__RECONCILE__TASK__INIT;
        Tepui__Scheduler__Call__Reconcile__Task *rtp = &rt;
        rt.task_id = k->task_id;
        rt.agent_id = k->agent_id;
        r.tasks = &rtp;
        r.n_tasks = 1;
        log_info("framework %s asked to kill unknown task %s; reconciling", f->id, k->task_id->value);
        task_reconcile(f, &r);
        return;
    }
    if (task_state_is_terminal(t->info->state))
        return;
    if (t->agent == NULL || !t->agent->connected) {
        log_info("cannot kill task %s of framework %s yet: its agent is disconnected", t->id, f->id);
        return;
    }
    log_info("telling agent %s to kill task %s of framework %s", t->agent->id, t->id, f->id);
    Tepui__Internal__AgentEvent ev = TEPUI__INTERNAL__AGENT_EVENT__INIT;
    Tepui__Internal__AgentEvent__KillTask kt = TEPUI__INTERNAL__AGENT_EVENT__KILL_TASK__INIT;
    kt.framework_id = f->info->id;
    kt.task_id = k->task_id;
    kt.kill_policy = k->kill_policy;
    ev.has_type = 1;
    ev.type = TEPUI__INTERNAL__AGENT_EVENT__TYPE__KILL_TASK;
    ev.kill_task = &kt;
    agent_send_event(t->agent, &ev);
    (void)m;
}

static int handle_acknowledge(struct master *m, struct framework *f,
                              const Tepui__Scheduler__Call__Acknowledge *ack, struct error *err)
{
    struct agent *a = master_find_agent(m, ack->agent_id->value);
    struct task *t = task_find(f, ack->task_id->value);
    if (a == NULL) {
        log_info("ignoring acknowledgement for task %s of framework %s: unknown agent %s",
                 ack->task_id->value, f->id, ack->agent_id->value);
        return 0;
    }
    if (t != NULL && t->agent != a)
        return error_set(err, -EINVAL, "Task %s is not on agent %s", t->id, a->id);
    Tepui__Internal__AgentEvent ev = TEPUI__INTERNAL__AGENT_EVENT__INIT;
    Tepui__Internal__AgentEvent__Acknowledge ea = TEPUI__INTERNAL__AGENT_EVENT__ACKNOWLEDGE__INIT;
    ea.framework_id = f->info->id;
    ea.task_id = ack->task_id;
    ea.uuid = ack->uuid;
    ev.has_type = 1;
    ev.type = TEPUI__INTERNAL__AGENT_EVENT__TYPE__ACKNOWLEDGE;
    ev.acknowledge = &ea;
    agent_send_event(a, &ev);
    if (t != NULL)
        task_acknowledged(t, ack->uuid.data, ack->uuid.len);
    return 0;
}

static void handle_message(struct master *m, struct framework *f,
                           const Tepui__Scheduler__Call__Message *msg)
{
    struct agent *a = master_find_agent(m, msg->agent_id->value);
    if (a == NULL || !a->connected) {
        log_warn("dropping message from framework %s to executor %s: agent %s is not connected",
                 f->id, msg->executor_id->value, msg->agent_id->value);
        m->metrics.invalid_framework_to_executor_messages++;
        return;
    }
    Tepui__Internal__AgentEvent ev = TEPUI__INTERNAL__AGENT_EVENT__INIT;
    Tepui__Internal__AgentEvent__FrameworkMessage fm =
        TEPUI__INTERNAL__AGENT_EVENT__FRAMEWORK_MESSAGE__INIT;
    fm.framework_id = f->info->id;
    fm.executor_id = msg->executor_id;
    fm.data = msg->data;
    ev.has_type = 1;
    ev.type = TEPUI__INTERNAL__AGENT_EVENT__TYPE__FRAMEWORK_MESSAGE;
    ev.framework_message = &fm;
    agent_send_event(a, &ev);
    m->metrics.valid_framework_to_executor_messages++;
}

static void handle_shutdown(struct master *m, struct framework *f,
                            const Tepui__Scheduler__Call__Shutdown *s)
{
    struct agent *a = master_find_agent(m, s->agent_id->value);
    if (a == NULL || !a->connected)
        return;
    Tepui__Internal__AgentEvent ev = TEPUI__INTERNAL__AGENT_EVENT__INIT;
    Tepui__Internal__AgentEvent__ShutdownExecutor se =
        TEPUI__INTERNAL__AGENT_EVENT__SHUTDOWN_EXECUTOR__INIT;
    se.framework_id = f->info->id;
    se.executor_id = s->executor_id;
    ev.has_type = 1;
    ev.type = TEPUI__INTERNAL__AGENT_EVENT__TYPE__SHUTDOWN_EXECUTOR;
    ev.shutdown_executor = &se;
    agent_send_event(a, &ev);
}

static int handle_update_framework(struct master *m, struct framework *f,
                                   const Tepui__Scheduler__Call__UpdateFramework *u,
                                   struct error *err)
{
    const Tepui__FrameworkInfo *fi = u->framework_info;
    if (validate_framework_info(fi, err) != 0 ||
        validate_suppressed_roles(fi, u->suppressed_roles, u->n_suppressed_roles, err) != 0)
        return -EINVAL;
    if ((f->info->principal == NULL) != (fi->principal == NULL) ||
        (fi->principal && strcmp(fi->principal, f->info->principal) != 0))
        return error_set(err, -EINVAL, "Updating 'FrameworkInfo.principal' is unsupported");
    if (strcmp(fi->user, f->info->user) != 0)
        return error_set(err, -EINVAL, "Updating 'FrameworkInfo.user' is unsupported");
    if ((fi->has_checkpoint && fi->checkpoint) != (f->info->has_checkpoint && f->info->checkpoint))
        return error_set(err, -EINVAL, "Updating 'FrameworkInfo.checkpoint' is unsupported");
    framework_update_info(f, fi);
    /* Offers for roles it left are rescinded. */
    struct offer *o, *next;
    for (o = TAILQ_FIRST(&f->offers); o != NULL; o = next) {
        next = TAILQ_NEXT(o, framework_link);
        if (!framework_has_role(f, o->role))
            offer_rescind(o, 1);
    }
    /* Mesos's updateFramework: exactly the roles named are suppressed;
     * filters stay. New roles are offered at once. */
    allocator_set_suppressed_roles(m->allocator, f->id, u->suppressed_roles,
                                   u->n_suppressed_roles);
    allocator_request_run(m->allocator);
    /* Agents running its executors learn the new info. */
    struct agent *a, *atmp;
    HASH_ITER(hh, m->agents, a, atmp) {
        if (!a->connected)
            continue;
        Tepui__Internal__AgentEvent ev = TEPUI__INTERNAL__AGENT_EVENT__INIT;
        Tepui__Internal__AgentEvent__UpdateFramework uf =
            TEPUI__INTERNAL__AGENT_EVENT__UPDATE_FRAMEWORK__INIT;
        uf.framework = f->info;
        ev.has_type = 1;
        ev.type = TEPUI__INTERNAL__AGENT_EVENT__TYPE__UPDATE_FRAMEWORK;
        ev.update_framework = &uf;
        int involved = 0;
        struct task *t;
        TAILQ_FOREACH(t, &a->tasks, agent_link)
            if (t->framework == f) {
                involved = 1;
                break;
            }
        if (involved)
            agent_send_event(a, &ev);
    }
    return 0;
}

static void scheduler_api(struct http_request *req, void *arg)
{
    struct master *m = arg;
    struct error err = {0};
    Tepui__Scheduler__Call *call = NULL;
    m->metrics.messages_scheduler_calls++;
    if (master_redirect_unless_leading(m, req))
        return;

    call = (Tepui__Scheduler__Call *)http_api_decode(req, &tepui__scheduler__call__descriptor, 0,
                                                     NULL);
    if (call == NULL) {
        m->metrics.http_api_errors++;
        return;
    }
    if (validate_call(call, &err) != 0) {
        http_respond_error(req, 400, "Failed to validate scheduler::Call: %s", err.msg);
        goto out;
    }
    if (call->type == TEPUI__SCHEDULER__CALL__TYPE__SUBSCRIBE) {
        handle_subscribe(m, req, call);
        goto out;
    }
    if (call->type == TEPUI__SCHEDULER__CALL__TYPE__UNKNOWN) {
        http_respond_error(req, 501, "Received 'UNKNOWN' call");
        goto out;
    }

    struct framework *f = master_find_framework(m, call->framework_id->value);
    if (f == NULL) {
        http_respond_error(req, 400, "Framework cannot be found");
        goto out;
    }
    if (!f->connected) {
        http_respond_error(req, 403, "Framework is not subscribed");
        goto out;
    }
    const char *sid = http_request_header(req, "Mesos-Stream-Id");
    if (sid == NULL) {
        http_respond_error(req, 400, "All non-subscribe calls should include the 'Mesos-Stream-Id' header");
        goto out;
    }
    if (strcmp(sid, f->stream_id) != 0) {
        http_respond_error(req, 400,
                           "The stream ID '%s' included in this request didn't match the stream "
                           "ID currently associated with framework ID %s", sid, f->id);
        goto out;
    }

    switch (call->type) {
    case TEPUI__SCHEDULER__CALL__TYPE__TEARDOWN:
        framework_remove(f, "the framework asked to be torn down");
        break;
    case TEPUI__SCHEDULER__CALL__TYPE__ACCEPT:
        accept_offers(f, call->accept);
        break;
    case TEPUI__SCHEDULER__CALL__TYPE__DECLINE:
        master_decline_offers(f, call->decline->offer_ids, call->decline->n_offer_ids,
                              call->decline->filters);
        break;
    case TEPUI__SCHEDULER__CALL__TYPE__REVIVE:
        allocator_revive(m->allocator, f->id, call->revive ? call->revive->roles : NULL,
                         call->revive ? call->revive->n_roles : 0);
        break;
    case TEPUI__SCHEDULER__CALL__TYPE__SUPPRESS:
        allocator_suppress(m->allocator, f->id, call->suppress ? call->suppress->roles : NULL,
                           call->suppress ? call->suppress->n_roles : 0);
        break;
    case TEPUI__SCHEDULER__CALL__TYPE__KILL:
        handle_kill(m, f, call->kill);
        break;
    case TEPUI__SCHEDULER__CALL__TYPE__SHUTDOWN:
        handle_shutdown(m, f, call->shutdown);
        break;
    case TEPUI__SCHEDULER__CALL__TYPE__ACKNOWLEDGE:
        if (handle_acknowledge(m, f, call->acknowledge, &err) != 0) {
            http_respond_error(req, 400, "%s", err.msg);
            goto out;
        }
        break;
    case TEPUI__SCHEDULER__CALL__TYPE__RECONCILE:
        task_reconcile(f, call->reconcile);
        break;
    case TEPUI__SCHEDULER__CALL__TYPE__MESSAGE:
        handle_message(m, f, call->message);
        break;
    case TEPUI__SCHEDULER__CALL__TYPE__REQUEST:
        /* The built-in allocator ignores requests, as Mesos's does. */
        break;
    case TEPUI__SCHEDULER__CALL__TYPE__UPDATE_FRAMEWORK:
        if (handle_update_framework(m, f, call->update_framework, &err) != 0) {
            http_respond_error(req, 400, "Failed to validate scheduler::Call: %s", err.msg);
            goto out;
        }
        http_respond_empty(req, 200);
        goto out;
    case TEPUI__SCHEDULER__CALL__TYPE__ACCEPT_INVERSE_OFFERS:
        maintenance_answer_inverse_offers(f, call->accept_inverse_offers->inverse_offer_ids,
                                          call->accept_inverse_offers->n_inverse_offer_ids,
                                          call->accept_inverse_offers->filters, 1);
        break;
    case TEPUI__SCHEDULER__CALL__TYPE__DECLINE_INVERSE_OFFERS:
        maintenance_answer_inverse_offers(f, call->decline_inverse_offers->inverse_offer_ids,
                                          call->decline_inverse_offers->n_inverse_offer_ids,
                                          call->decline_inverse_offers->filters, 0);
        break;
    case TEPUI__SCHEDULER__CALL__TYPE__ACKNOWLEDGE_OPERATION_STATUS:
    case TEPUI__SCHEDULER__CALL__TYPE__RECONCILE_OPERATIONS:
        /* No offer operations with feedback exist yet (only LAUNCH and
         * LAUNCH_GROUP, whose feedback is task status updates). */
        break;
    default:
        http_respond_error(req, 501, "Unsupported call type");
        goto out;
    }
    http_respond_empty(req, 202);
out:
    pb_free(call);
}

void scheduler_api_routes(struct master *m)
{
    http_server_route(m->http, "/api/v1/scheduler", scheduler_api, m);
    http_server_route(m->http, "/master/api/v1/scheduler", scheduler_api, m);
}
