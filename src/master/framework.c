/* Frameworks on the master: subscription and its event stream, heartbeats,
 * disconnection with the failover timeout, and removal (teardown). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "master/master.h"
#include "wire/pb.h"
#include "wire/recordio.h"

#define LOG_COMPONENT "master"

/* A reused send buffer grown past this by one large event (a big OFFERS) is
 * given back rather than held for good. */
#define SEND_SCRATCH_KEEP (1u << 20)

static void roles_from_info(struct framework *f)
{
    for (size_t i = 0; i < f->n_roles; i++)
        free(f->roles[i]);
    free(f->roles);
    f->roles = NULL;
    f->n_roles = 0;
    int multi_role = 0;
    f->partition_aware = 0;
    for (size_t i = 0; i < f->info->n_capabilities; i++) {
        Tepui__FrameworkInfo__Capability *c = f->info->capabilities[i];
        if (!c->has_type)
            continue;
        if (c->type == TEPUI__FRAMEWORK_INFO__CAPABILITY__TYPE__MULTI_ROLE)
            multi_role = 1;
        if (c->type == TEPUI__FRAMEWORK_INFO__CAPABILITY__TYPE__PARTITION_AWARE)
            f->partition_aware = 1;
    }
    if (multi_role) {
        f->roles = xcalloc(f->info->n_roles ? f->info->n_roles : 1, sizeof(char *));
        for (size_t i = 0; i < f->info->n_roles; i++)
            f->roles[f->n_roles++] = xstrdup(f->info->roles[i]);
    } else {
        f->roles = xcalloc(1, sizeof(char *));
        f->roles[0] = xstrdup(f->info->role ? f->info->role : "*");
        f->n_roles = 1;
    }
}

int framework_has_role(const struct framework *f, const char *role)
{
    for (size_t i = 0; i < f->n_roles; i++)
        if (strcmp(f->roles[i], role) == 0)
            return 1;
    return 0;
}

struct framework *framework_create(struct master *m, const char *id,
                                   const Tepui__FrameworkInfo *info)
{
    struct framework *f = XNEW(struct framework);
    f->master = m;
    f->id = xstrdup(id);
    f->info = PB_COPY(Tepui__FrameworkInfo, info);
    if (f->info->id == NULL) {
        f->info->id = xmalloc(sizeof(Tepui__FrameworkID));
        tepui__framework_id__init(f->info->id);
        f->info->id->value = xstrdup(id);
    }
    f->format = WIRE_JSON;
    f->registered_time = clock_wall();
    TAILQ_INIT(&f->offers);
    resources_init(&f->used);
    resources_init(&f->offered);
    roles_from_info(f);
    HASH_ADD_KEYPTR(hh, m->frameworks, f->id, strlen(f->id), f);
    allocator_add_framework(m->allocator, f->id, f->roles, f->n_roles, 0);
    log_info("framework %s (%s) added with %zu role(s)", f->id, f->info->name, f->n_roles);
    return f;
}

void framework_update_info(struct framework *f, const Tepui__FrameworkInfo *info)
{
    Tepui__FrameworkInfo *copy = PB_COPY(Tepui__FrameworkInfo, info);
    if (copy->id == NULL) {
        copy->id = xmalloc(sizeof(Tepui__FrameworkID));
        tepui__framework_id__init(copy->id);
        copy->id->value = xstrdup(f->id);
    }
    pb_free(f->info);
    f->info = copy;
    roles_from_info(f);
    allocator_update_framework_roles(f->master->allocator, f->id, f->roles, f->n_roles);
}

/* ---- the event stream ---- */

void framework_send_event(struct framework *f, const Tepui__Scheduler__Event *ev)
{
    if (f->stream == NULL) {
        f->master->metrics.dropped_messages++;
        return;
    }
    /* Buffers the loop reuses (the master is one thread, and
     * http_stream_send copies what it is given): an update per task state
     * change otherwise costs two allocations and frees. Protobuf is packed
     * in place after its length line; JSON's length is known only once
     * written. */
    static struct buf body = BUF_INIT;
    static struct buf frame = BUF_INIT;
    buf_reset(&frame);
    if (f->format == WIRE_PROTOBUF) {
        recordio_write_length(&frame, protobuf_c_message_get_packed_size(&ev->base));
        wire_encode(&ev->base, f->format, &frame);
    } else {
        buf_reset(&body);
        wire_encode(&ev->base, f->format, &body);
        recordio_write(&frame, body.data, body.len);
    }
    if (http_stream_send(f->stream, frame.data, frame.len) != 0)
        f->master->metrics.dropped_messages++;
    if (frame.cap > SEND_SCRATCH_KEEP || body.cap > SEND_SCRATCH_KEEP) {
        buf_free(&frame);
        buf_free(&body);
    }
}

void framework_send_error(struct framework *f, const char *message)
{
    Tepui__Scheduler__Event ev = TEPUI__SCHEDULER__EVENT__INIT;
    Tepui__Scheduler__Event__Error err = TEPUI__SCHEDULER__EVENT__ERROR__INIT;
    ev.has_type = 1;
    ev.type = TEPUI__SCHEDULER__EVENT__TYPE__ERROR;
    err.message = (char *)message;
    ev.error = &err;
    framework_send_event(f, &ev);
}

static void heartbeat_cb(evutil_socket_t fd, short what, void *arg)
{
    struct framework *f = arg;
    (void)fd;
    (void)what;
    Tepui__Scheduler__Event ev = TEPUI__SCHEDULER__EVENT__INIT;
    ev.has_type = 1;
    ev.type = TEPUI__SCHEDULER__EVENT__TYPE__HEARTBEAT;
    framework_send_event(f, &ev);
}

void framework_stream_closed(struct http_stream *st, void *arg)
{
    struct framework *f = arg;
    if (f->stream != st)
        return;
    framework_disconnect(f, "event stream closed");
}

static void failover_expired(evutil_socket_t fd, short what, void *arg)
{
    struct framework *f = arg;
    (void)fd;
    (void)what;
    log_info("framework %s failover timeout elapsed; removing it", f->id);
    framework_remove(f, "failover timeout elapsed");
}

void framework_attach_stream(struct framework *f, struct http_stream *st, enum wire_format fmt)
{
    struct master *m = f->master;
    if (f->stream != NULL) {
        /* One subscription per framework: the old one learns why it ends. */
        framework_send_error(f, "Framework failed over");
        http_stream_close(f->stream);
        f->stream = NULL;
    }
    /* Offers never survive a re-subscription. */
    struct offer *o;
    while ((o = TAILQ_FIRST(&f->offers)) != NULL)
        offer_rescind(o, 0);
    f->stream = st;
    f->format = fmt;
    f->connected = 1;
    f->active = 1;
    if (f->failover_timer != NULL) {
        event_free(f->failover_timer);
        f->failover_timer = NULL;
    }
    if (f->heartbeat_timer == NULL)
        f->heartbeat_timer = event_new(m->base, -1, EV_PERSIST, heartbeat_cb, f);
    struct timeval tv = clock_timeval(m->flags.framework_heartbeat_interval);
    event_add(f->heartbeat_timer, &tv);
}

void framework_disconnect(struct framework *f, const char *why)
{
    struct master *m = f->master;
    if (!f->connected)
        return;
    log_info("framework %s disconnected: %s", f->id, why);
    f->connected = 0;
    f->active = 0;
    f->unregistered_time = clock_wall();
    if (f->stream != NULL) {
        http_stream_close(f->stream);
        f->stream = NULL;
    }
    if (f->heartbeat_timer != NULL)
        event_del(f->heartbeat_timer);
    allocator_deactivate_framework(m->allocator, f->id);
    struct offer *o;
    while ((o = TAILQ_FIRST(&f->offers)) != NULL)
        offer_rescind(o, 0);
    double timeout = f->info->has_failover_timeout ? f->info->failover_timeout : 0;
    if (timeout <= 0) {
        framework_remove(f, "disconnected with no failover timeout");
        return;
    }
    if (timeout > 365.0 * 24 * 3600 * 100)
        timeout = 365.0 * 24 * 3600 * 100;
    f->failover_timer = event_new(m->base, -1, 0, failover_expired, f);
    struct timeval tv = clock_timeval(timeout);
    event_add(f->failover_timer, &tv);
}

/* ---- removal ---- */

static void completed_add(struct master *m, struct framework *f)
{
    size_t cap = (size_t)(m->flags.max_completed_frameworks > 0 ? m->flags.max_completed_frameworks : 0);
    if (cap == 0) {
        /* Nothing kept: free now. */
        goto drop;
    }
    if (m->completed_frameworks == NULL)
        m->completed_frameworks = xcalloc(cap, sizeof(struct framework *));
    if (m->n_completed_frameworks < cap) {
        m->completed_frameworks[m->n_completed_frameworks++] = f;
        return;
    }
    struct framework *old = m->completed_frameworks[m->next_completed_framework];
    m->completed_frameworks[m->next_completed_framework] = f;
    m->next_completed_framework = (m->next_completed_framework + 1) % cap;
    f = old;
drop:
    for (size_t i = 0; i < f->completed.n; i++)
        pb_free(f->completed.v[i]);
    free(f->completed.v);
    pb_free(f->info);
    for (size_t i = 0; i < f->n_roles; i++)
        free(f->roles[i]);
    free(f->roles);
    free(f->id);
    free(f);
}

int framework_was_removed(struct master *m, const char *id)
{
    for (size_t i = 0; i < m->n_completed_frameworks; i++)
        if (strcmp(m->completed_frameworks[i]->id, id) == 0)
            return 1;
    return 0;
}

void framework_remove(struct framework *f, const char *why)
{
    struct master *m = f->master;
    log_info("removing framework %s (%s): %s", f->id, f->info->name, why);
    struct offer *o;
    while ((o = TAILQ_FIRST(&f->offers)) != NULL)
        offer_rescind(o, 0);

    /* Every agent that runs something of it is told to shut it down. */
    struct agent *a, *atmp;
    HASH_ITER(hh, m->agents, a, atmp) {
        int involved = 0;
        struct task *t;
        TAILQ_FOREACH(t, &a->tasks, agent_link) {
            if (t->framework == f) {
                involved = 1;
                break;
            }
        }
        for (size_t i = 0; !involved && i < a->n_executors; i++)
            involved = strcmp(a->executors[i].re->framework_id->value, f->id) == 0;
        if (!involved)
            continue;
        Tepui__Internal__AgentEvent ev = TEPUI__INTERNAL__AGENT_EVENT__INIT;
        Tepui__Internal__AgentEvent__ShutdownFramework sf =
            TEPUI__INTERNAL__AGENT_EVENT__SHUTDOWN_FRAMEWORK__INIT;
        Tepui__FrameworkID fid = TEPUI__FRAMEWORK_ID__INIT;
        fid.value = f->id;
        sf.framework_id = &fid;
        ev.has_type = 1;
        ev.type = TEPUI__INTERNAL__AGENT_EVENT__TYPE__SHUTDOWN_FRAMEWORK;
        ev.shutdown_framework = &sf;
        agent_send_event(a, &ev);
        agent_forget_framework_executors(a, f->id);
    }

    struct task *t, *ttmp;
    HASH_ITER(hh, f->tasks, t, ttmp) {
        if (!task_state_is_terminal(t->info->state))
            task_terminate(t, TEPUI__TASK_STATE__TASK_KILLED,
                           TEPUI__TASK_STATUS__REASON__REASON_FRAMEWORK_REMOVED,
                           "Framework removed", 0);
        task_remove(t);
    }

    if (f->stream != NULL) {
        http_stream_close(f->stream);
        f->stream = NULL;
    }
    if (f->heartbeat_timer)
        event_free(f->heartbeat_timer);
    if (f->failover_timer)
        event_free(f->failover_timer);
    f->heartbeat_timer = f->failover_timer = NULL;
    f->connected = f->active = 0;
    f->unregistered_time = clock_wall();
    allocator_remove_framework(m->allocator, f->id);
    HASH_DEL(m->frameworks, f);
    resources_free(&f->used);
    resources_free(&f->offered);
    m->metrics.frameworks_removed++;
    completed_add(m, f);
}

void framework_free_completed(struct master *m)
{
    size_t n = m->n_completed_frameworks;
    /* A cap of 0 makes completed_add free what it is given. */
    int cap = m->flags.max_completed_frameworks;
    m->flags.max_completed_frameworks = 0;
    for (size_t i = 0; i < n; i++)
        completed_add(m, m->completed_frameworks[i]);
    m->flags.max_completed_frameworks = cap;
    free(m->completed_frameworks);
    m->completed_frameworks = NULL;
    m->n_completed_frameworks = 0;
    m->next_completed_framework = 0;
}

void framework_forget(struct framework *f)
{
    struct master *m = f->master;
    struct offer *o;
    while ((o = TAILQ_FIRST(&f->offers)) != NULL)
        offer_discard(o);
    struct task *t, *ttmp;
    HASH_ITER(hh, f->tasks, t, ttmp) {
        task_forget(t);
    }
    if (f->stream != NULL) {
        http_stream_close(f->stream);
        f->stream = NULL;
    }
    if (f->heartbeat_timer)
        event_free(f->heartbeat_timer);
    if (f->failover_timer)
        event_free(f->failover_timer);
    HASH_DEL(m->frameworks, f);
    for (size_t i = 0; i < f->completed.n; i++)
        pb_free(f->completed.v[i]);
    free(f->completed.v);
    resources_free(&f->used);
    resources_free(&f->offered);
    pb_free(f->info);
    for (size_t i = 0; i < f->n_roles; i++)
        free(f->roles[i]);
    free(f->roles);
    free(f->id);
    free(f);
}
