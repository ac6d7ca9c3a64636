/* Agents on the master: the internal agent API (subscription stream and
 * calls), registration and re-registration, health checking by pings, and
 * removal of agents that stop answering. */
#include <errno.h>
#include <inttypes.h>
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

/* A reused send buffer grown past this by one large event (a big OFFERS) is
 * given back rather than held for good. */
#define SEND_SCRATCH_KEEP (1u << 20)

#define AGENT_API_PATH "/internal/agent"

void agent_send_event(struct agent *a, const Tepui__Internal__AgentEvent *ev)
{
    if (a->stream == NULL) {
        a->master->metrics.dropped_messages++;
        return;
    }
    /* Every task sends several events: the record is packed in place after
     * its length line, in a buffer the loop reuses (the master is one
     * thread, and http_stream_send copies what it is given). */
    static struct buf frame = BUF_INIT;
    buf_reset(&frame);
    recordio_write_length(&frame, protobuf_c_message_get_packed_size(&ev->base));
    pb_pack_buf(&ev->base, &frame);
    if (http_stream_send(a->stream, frame.data, frame.len) != 0)
        a->master->metrics.dropped_messages++;
    if (frame.cap > SEND_SCRATCH_KEEP)
        buf_free(&frame);
}

/* ---- executors known to run on an agent ---- */

int agent_has_executor(const struct agent *a, const char *framework_id, const char *executor_id)
{
    for (size_t i = 0; i < a->n_executors; i++)
        if (strcmp(a->executors[i].re->framework_id->value, framework_id) == 0 &&
            strcmp(a->executors[i].re->info->executor_id->value, executor_id) == 0)
            return 1;
    return 0;
}

void agent_add_executor(struct agent *a, const Tepui__FrameworkID *fid,
                        const Tepui__ExecutorInfo *info, const struct resources *resources)
{
    if (agent_has_executor(a, fid->value, info->executor_id->value))
        return;
    Tepui__Internal__RunningExecutor re = TEPUI__INTERNAL__RUNNING_EXECUTOR__INIT;
    re.framework_id = (Tepui__FrameworkID *)fid;
    re.info = (Tepui__ExecutorInfo *)info;
    a->executors = xrealloc(a->executors, (a->n_executors + 1) * sizeof(*a->executors));
    struct executor *e = &a->executors[a->n_executors++];
    e->re = PB_COPY(Tepui__Internal__RunningExecutor, &re);
    resources_init(&e->resources);
    if (resources != NULL) {
        resources_copy(&e->resources, resources);
        resources_add(&a->used, resources);
        struct framework *f = master_find_framework(a->master, fid->value);
        if (f != NULL)
            resources_add(&f->used, resources);
    }
}

void agent_remove_executor(struct agent *a, const char *framework_id, const char *executor_id)
{
    for (size_t i = 0; i < a->n_executors; i++) {
        struct executor *e = &a->executors[i];
        if (strcmp(e->re->framework_id->value, framework_id) != 0 ||
            (executor_id != NULL && strcmp(e->re->info->executor_id->value, executor_id) != 0))
            continue;
        if (!resources_empty(&e->resources)) {
            allocator_recover(a->master->allocator, framework_id, a->id, &e->resources, -1);
            resources_subtract(&a->used, &e->resources);
            struct framework *f = master_find_framework(a->master, framework_id);
            if (f != NULL)
                resources_subtract(&f->used, &e->resources);
        }
        resources_free(&e->resources);
        pb_free(e->re);
        a->executors[i] = a->executors[--a->n_executors];
        i--;
    }
}

void agent_forget_framework_executors(struct agent *a, const char *framework_id)
{
    agent_remove_executor(a, framework_id, NULL);
}

/* ---- lifecycle ---- */

static void agent_free(struct agent *a)
{
    struct master *m = a->master;
    if (a->ping_timer)
        event_free(a->ping_timer);
    if (a->stream)
        http_stream_close(a->stream);
    HASH_DEL(m->agents, a);
    for (size_t i = 0; i < a->n_executors; i++) {
        pb_free(a->executors[i].re);
        resources_free(&a->executors[i].resources);
    }
    free(a->executors);
    resources_free(&a->total);
    resources_free(&a->used);
    resources_free(&a->offered);
    pb_free(a->info);
    free(a->pid);
    free(a->version);
    free(a->id);
    free(a);
}

void agent_forget(struct agent *a)
{
    struct task *t;
    while ((t = TAILQ_FIRST(&a->tasks)) != NULL) {
        TAILQ_REMOVE(&a->tasks, t, agent_link);
        t->agent = NULL;
    }
    struct offer *o;
    while ((o = TAILQ_FIRST(&a->offers)) != NULL)
        offer_discard(o);
    agent_free(a);
}

void agent_send_lost(struct master *m, const char *agent_id)
{
    Tepui__Scheduler__Event ev = TEPUI__SCHEDULER__EVENT__INIT;
    Tepui__Scheduler__Event__Failure fl = TEPUI__SCHEDULER__EVENT__FAILURE__INIT;
    Tepui__AgentID aid = TEPUI__AGENT_ID__INIT;
    aid.value = (char *)agent_id;
    fl.agent_id = &aid;
    ev.has_type = 1;
    ev.type = TEPUI__SCHEDULER__EVENT__TYPE__FAILURE;
    ev.failure = &fl;
    struct framework *f, *tmp;
    HASH_ITER(hh, m->frameworks, f, tmp) {
        if (f->connected)
            framework_send_event(f, &ev);
    }
}

/* Removes a registered agent: offers rescinded, tasks ended as Mesos ends
 * them (unreachable: UNREACHABLE, or LOST for frameworks that are not
 * partition-aware; gone: GONE_BY_OPERATOR, or LOST), executors forgotten,
 * frameworks told (FAILURE). */
static void remove_agent(struct agent *a, int gone, const char *message)
{
    struct master *m = a->master;
    struct offer *o;
    while ((o = TAILQ_FIRST(&a->offers)) != NULL)
        offer_rescind(o, 1);
    struct task *t;
    while ((t = TAILQ_FIRST(&a->tasks)) != NULL) {
        int pa = t->framework->partition_aware;
        task_state_t state = TEPUI__TASK_STATE__TASK_LOST;
        Tepui__TaskStatus__Reason reason = TEPUI__TASK_STATUS__REASON__REASON_AGENT_REMOVED;
        if (pa && gone) {
            state = TEPUI__TASK_STATE__TASK_GONE_BY_OPERATOR;
            reason = TEPUI__TASK_STATUS__REASON__REASON_AGENT_REMOVED_BY_OPERATOR;
        } else if (pa) {
            state = TEPUI__TASK_STATE__TASK_UNREACHABLE;
        }
        task_terminate(t, state, reason, message, 1);
        task_remove(t);
    }
    while (a->n_executors > 0)
        agent_remove_executor(a, a->executors[0].re->framework_id->value,
                              a->executors[0].re->info->executor_id->value);
    allocator_remove_agent(m->allocator, a->id);
    m->metrics.agent_removals++;
    agent_send_lost(m, a->id);
    agent_free(a);
}

void agent_remove_unreachable(struct agent *a, const char *why)
{
    struct master *m = a->master;
    log_warn("removing agent %s (%s): %s", a->id, a->info->hostname, why);
    /* Mesos records it in the registry before it acts; the registry keeps
     * its order, so a later re-admission cannot be overtaken. */
    double now = clock_wall();
    master_registry_apply(m, REGISTRY_MARK_UNREACHABLE, a->id, NULL, now);
    struct unreachable_agent *u = master_find_unreachable(m, a->id);
    if (u == NULL) {
        u = XNEW(struct unreachable_agent);
        u->id = xstrdup(a->id);
        HASH_ADD_KEYPTR(hh, m->unreachable, u->id, strlen(u->id), u);
    }
    u->time = now;
    remove_agent(a, 0, "Agent removed: it stopped answering");
}

/* Refuses an agent for good: an ERROR event on a stream of its own, which
 * then ends (Mesos sends a ShutdownMessage; the agent shuts down). */
static void refuse_agent(struct http_request *req, const char *message)
{
    struct http_stream *st = http_stream_start(req, WIRE_MEDIA_RECORDIO, NULL, NULL);
    Tepui__Internal__AgentEvent ev = TEPUI__INTERNAL__AGENT_EVENT__INIT;
    Tepui__Internal__AgentEvent__Error e = TEPUI__INTERNAL__AGENT_EVENT__ERROR__INIT;
    e.message = (char *)message;
    ev.has_type = 1;
    ev.type = TEPUI__INTERNAL__AGENT_EVENT__TYPE__ERROR;
    ev.error = &e;
    struct buf body = BUF_INIT, frame = BUF_INIT;
    pb_pack_buf(&ev.base, &body);
    recordio_write(&frame, body.data, body.len);
    http_stream_send(st, frame.data, frame.len);
    http_stream_close(st);
    buf_free(&body);
    buf_free(&frame);
}

#define AGENT_GONE_MESSAGE "Agent has been marked gone"

void agent_remove_down(struct agent *a, const char *message)
{
    struct master *m = a->master;
    log_warn("removing agent %s (%s): %s", a->id, a->info->hostname, message);
    master_registry_apply(m, REGISTRY_REMOVE, a->id, NULL, 0);
    /* Told to shut down (Mesos's ShutdownMessage); its stream ends. */
    Tepui__Internal__AgentEvent ev = TEPUI__INTERNAL__AGENT_EVENT__INIT;
    Tepui__Internal__AgentEvent__Error e = TEPUI__INTERNAL__AGENT_EVENT__ERROR__INIT;
    e.message = (char *)message;
    ev.has_type = 1;
    ev.type = TEPUI__INTERNAL__AGENT_EVENT__TYPE__ERROR;
    ev.error = &e;
    agent_send_event(a, &ev);
    /* Mesos makes every framework's tasks LOST here, partition-aware or not. */
    struct task *t;
    while ((t = TAILQ_FIRST(&a->tasks)) != NULL) {
        task_terminate(t, TEPUI__TASK_STATE__TASK_LOST,
                       TEPUI__TASK_STATUS__REASON__REASON_AGENT_REMOVED, message, 1);
        task_remove(t);
    }
    remove_agent(a, 0, message);
}

int agent_mark_gone(struct master *m, const char *agent_id)
{
    if (master_find_gone(m, agent_id) != NULL) {
        log_warn("not marking agent %s gone: it already is", agent_id);
        return 0;
    }
    struct agent *a = master_find_agent(m, agent_id);
    struct recovered_agent *r = master_find_recovered(m, agent_id);
    struct unreachable_agent *u = master_find_unreachable(m, agent_id);
    if (a == NULL && r == NULL && u == NULL)
        return -ENOENT;
    double now = clock_wall();
    struct gone_agent *g = XNEW(struct gone_agent);
    g->id = xstrdup(agent_id);
    g->time = now;
    HASH_ADD_KEYPTR(hh, m->gone, g->id, strlen(g->id), g);
    log_warn("marking agent %s gone (%s)", g->id,
             a != NULL ? "registered" : r != NULL ? "not re-registered yet" : "unreachable");
    master_registry_apply(m, REGISTRY_MARK_GONE, g->id, NULL, now);
    if (a != NULL) {
        /* Told to shut down (Mesos's ShutdownMessage); its stream ends. */
        Tepui__Internal__AgentEvent ev = TEPUI__INTERNAL__AGENT_EVENT__INIT;
        Tepui__Internal__AgentEvent__Error e = TEPUI__INTERNAL__AGENT_EVENT__ERROR__INIT;
        e.message = AGENT_GONE_MESSAGE;
        ev.has_type = 1;
        ev.type = TEPUI__INTERNAL__AGENT_EVENT__TYPE__ERROR;
        ev.error = &e;
        agent_send_event(a, &ev);
        remove_agent(a, 1, AGENT_GONE_MESSAGE);
    } else if (r != NULL) {
        /* As Mesos: the master knows none of its tasks to update. */
        HASH_DEL(m->recovered, r);
        pb_free(r->info);
        free(r->id);
        free(r);
    } else {
        HASH_DEL(m->unreachable, u);
        free(u->id);
        free(u);
        task_unreachable_agent_gone(m, g->id);
    }
    return 0;
}

static void ping_cb(evutil_socket_t fd, short what, void *arg)
{
    struct agent *a = arg;
    (void)fd;
    (void)what;
    if (a->pong_received)
        a->missed_pings = 0;
    else
        a->missed_pings++;
    if (a->missed_pings >= a->master->flags.max_agent_ping_timeouts) {
        a->master->metrics.agent_removals_unhealthy++;
        agent_remove_unreachable(a, "health check timed out");
        return;
    }
    a->pong_received = 0;
    Tepui__Internal__AgentEvent ev = TEPUI__INTERNAL__AGENT_EVENT__INIT;
    Tepui__Internal__AgentEvent__Ping ping = TEPUI__INTERNAL__AGENT_EVENT__PING__INIT;
    ping.has_sequence = 1;
    ping.sequence = ++a->ping_sequence;
    ev.has_type = 1;
    ev.type = TEPUI__INTERNAL__AGENT_EVENT__TYPE__PING;
    ev.ping = &ping;
    agent_send_event(a, &ev);
}

/* Adds a framework id to a list once. */
static void add_unique(char ***list, size_t *n, const char *id)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*list)[i], id) == 0)
            return;
    *list = xrealloc(*list, (*n + 1) * sizeof(char *));
    (*list)[(*n)++] = xstrdup(id);
}

static void agent_stream_closed(struct http_stream *st, void *arg)
{
    struct agent *a = arg;
    if (a->stream != st)
        return;
    log_info("agent %s (%s) disconnected", a->id, a->info->hostname);
    http_stream_close(a->stream);
    a->stream = NULL;
    a->connected = 0;
    a->active = 0;
    allocator_deactivate_agent(a->master->allocator, a->id);
    struct offer *o;
    while ((o = TAILQ_FIRST(&a->offers)) != NULL)
        offer_rescind(o, 1);
    /* As Mesos: tasks of frameworks that do not checkpoint cannot survive
     * their agent's restart, so they are lost as soon as the connection
     * breaks; the others wait for the agent (or for the ping timeout). */
    char msg[320];
    snprintf(msg, sizeof(msg), "Agent %s disconnected", a->info->hostname);
    struct task *t, *next;
    for (t = TAILQ_FIRST(&a->tasks); t != NULL; t = next) {
        next = TAILQ_NEXT(t, agent_link);
        const Tepui__FrameworkInfo *fi = t->framework->info;
        if (fi->has_checkpoint && fi->checkpoint)
            continue;
        task_terminate(t, TEPUI__TASK_STATE__TASK_LOST,
                       TEPUI__TASK_STATUS__REASON__REASON_AGENT_DISCONNECTED, msg, 1);
        task_remove(t);
    }
    char **gone = NULL;
    size_t n_gone = 0;
    for (size_t i = 0; i < a->n_executors; i++) {
        const char *fid = a->executors[i].re->framework_id->value;
        struct framework *f = master_find_framework(a->master, fid);
        if (f == NULL || !(f->info->has_checkpoint && f->info->checkpoint))
            add_unique(&gone, &n_gone, fid);
    }
    for (size_t i = 0; i < n_gone; i++) {
        agent_forget_framework_executors(a, gone[i]);
        free(gone[i]);
    }
    free(gone);
}

/* ---- subscription ---- */

static int agent_info_equal(const Tepui__AgentInfo *x, const Tepui__AgentInfo *y)
{
    if (x == NULL || y == NULL)
        return x == y;
    struct buf bx = BUF_INIT, by = BUF_INIT;
    pb_pack_buf(&x->base, &bx);
    pb_pack_buf(&y->base, &by);
    int equal = bx.len == by.len && (bx.len == 0 || memcmp(bx.data, by.data, bx.len) == 0);
    buf_free(&bx);
    buf_free(&by);
    return equal;
}

static int validate_agent_info(const Tepui__AgentInfo *info, struct resources *total,
                               struct error *err)
{
    if (info->hostname == NULL || info->hostname[0] == '\0')
        return error_set(err, -EINVAL, "agent_info.hostname must be set");
    int rc = resources_from_proto(info->resources, info->n_resources, total, err);
    if (rc != 0)
        return error_prefix(err, "agent_info.resources");
    return 0;
}

/* Adopts the tasks, executors and frameworks a re-registering agent reports
 * that the master does not know (after a master restart). */
/* known: the master already had this agent (it reconnects), as opposed to
 * an agent that re-registers with a master that has forgotten it. Tasks of
 * non-checkpointing frameworks that the master dropped when the agent
 * disconnected are not taken back: their frameworks go into *shutdown, to
 * be shut down on the agent. Schedulers learn the adopted tasks' states
 * (REASON_AGENT_REREGISTERED) with notify as message, unless it is NULL: as
 * in Mesos, not for an agent back after a failover, whose tasks they never
 * heard were lost. */
static void adopt_reported_state(struct master *m, struct agent *a,
                                 const Tepui__Internal__AgentCall__Subscribe *s, int known,
                                 const char *notify, char ***shutdown, size_t *n_shutdown)
{
    for (size_t i = 0; i < s->n_frameworks; i++) {
        const Tepui__FrameworkInfo *fi = s->frameworks[i];
        if (fi->id == NULL || master_find_framework(m, fi->id->value) != NULL ||
            framework_was_removed(m, fi->id->value))
            continue;
        /* Its scheduler has not subscribed to this master yet. */
        struct framework *f = framework_create(m, fi->id->value, fi);
        f->recovered = 1;
    }
    for (size_t i = 0; i < s->n_executors; i++) {
        const Tepui__Internal__RunningExecutor *re = s->executors[i];
        struct framework *f = master_find_framework(m, re->framework_id->value);
        if (f == NULL || agent_has_executor(a, f->id, re->info->executor_id->value))
            continue;
        /* What it was given comes back into the accounts (after a master
         * restart the allocator does not know it yet). */
        struct resources res = RESOURCES_INIT;
        if (resources_from_proto(re->info->resources, re->info->n_resources, &res, NULL) == 0) {
            char *role = xstrdup(f->n_roles > 0 ? f->roles[0] : "*");
            for (size_t k = 0; k < res.n; k++)
                if (res.v[k].allocation_role != NULL) {
                    free(role);
                    role = xstrdup(res.v[k].allocation_role);
                }
            resources_set_allocation_role(&res, role);
            free(role);
            allocator_add_used(m->allocator, f->id, a->id, &res);
        } else {
            resources_free(&res);
            resources_init(&res);
        }
        agent_add_executor(a, re->framework_id, re->info, &res);
        resources_free(&res);
    }

    /* Tasks the master has on this agent but the agent no longer reports
     * are gone. */
    struct task *t, *next;
    for (t = TAILQ_FIRST(&a->tasks); t != NULL; t = next) {
        next = TAILQ_NEXT(t, agent_link);
        int reported = 0;
        for (size_t i = 0; i < s->n_tasks && !reported; i++)
            reported = strcmp(s->tasks[i]->task_id->value, t->id) == 0 &&
                       strcmp(s->tasks[i]->framework_id->value, t->framework->id) == 0;
        if (!reported && !task_state_is_terminal(t->info->state)) {
            int pa = t->framework->partition_aware;
            task_terminate(t, pa ? TEPUI__TASK_STATE__TASK_DROPPED : TEPUI__TASK_STATE__TASK_LOST,
                           TEPUI__TASK_STATUS__REASON__REASON_RECONCILIATION,
                           "Task is unknown to the re-registered agent", 1);
            task_remove(t);
        }
    }

    for (size_t i = 0; i < s->n_tasks; i++) {
        const Tepui__Task *rt = s->tasks[i];
        struct framework *f = master_find_framework(m, rt->framework_id->value);
        if (f == NULL || task_find(f, rt->task_id->value) != NULL)
            continue;
        if (known && !(f->info->has_checkpoint && f->info->checkpoint)) {
            add_unique(shutdown, n_shutdown, f->id);
            continue;
        }
        struct resources res = RESOURCES_INIT;
        if (resources_from_proto(rt->resources, rt->n_resources, &res, NULL) != 0) {
            resources_free(&res);
            continue;
        }
        /* A copy: resources_set_allocation_role frees the strings that an
         * allocation role found in res would point into. */
        char *role = xstrdup(f->n_roles > 0 ? f->roles[0] : "*");
        for (size_t k = 0; k < res.n; k++)
            if (res.v[k].allocation_role != NULL) {
                free(role);
                role = xstrdup(res.v[k].allocation_role);
            }
        resources_set_allocation_role(&res, role);
        Tepui__TaskInfo ti = TEPUI__TASK_INFO__INIT;
        ti.name = rt->name;
        ti.task_id = rt->task_id;
        ti.agent_id = a->info->id;
        ti.labels = rt->labels;
        ti.container = rt->container;
        ti.discovery = rt->discovery;
        ti.health_check = rt->health_check;
        ti.kill_policy = rt->kill_policy;
        /* As Mesos: a task that comes back with its agent leaves the
         * completed (or unreachable) history. */
        task_forget_completed(f, rt->task_id->value);
        struct task *nt = task_create(f, a, &ti, &res, role, rt->executor_id);
        free(role);
        nt->info->state = rt->state;
        for (size_t k = 0; k < rt->n_statuses; k++) {
            nt->info->statuses = xrealloc(nt->info->statuses,
                                          (nt->info->n_statuses + 1) * sizeof(Tepui__TaskStatus *));
            nt->info->statuses[nt->info->n_statuses++] = PB_COPY(Tepui__TaskStatus, rt->statuses[k]);
        }
        if (rt->has_status_update_state) {
            nt->info->has_status_update_state = 1;
            nt->info->status_update_state = rt->status_update_state;
        }
        if (rt->has_status_update_uuid) {
            nt->info->has_status_update_uuid = 1;
            nt->info->status_update_uuid.data = xmemdup(rt->status_update_uuid.data,
                                                        rt->status_update_uuid.len);
            nt->info->status_update_uuid.len = rt->status_update_uuid.len;
        }
        if (task_state_is_terminal(rt->state))
            nt->resources_recovered = 1;
        else
            allocator_add_used(m->allocator, f->id, a->id, &res);
        if (task_state_is_terminal(rt->state)) {
            resources_subtract(&f->used, &res);
            resources_subtract(&a->used, &res);
        }
        resources_free(&res);
        /* The scheduler, told LOST or UNREACHABLE when the agent went away,
         * learns the task's state again (best effort, no uuid). */
        if (notify != NULL)
            task_send_master_update(f, nt->id, a->id, nt->info->state,
                                    TEPUI__TASK_STATUS__REASON__REASON_AGENT_REREGISTERED, notify);
    }
}

static void handle_subscribe(struct master *m, struct http_request *req,
                             Tepui__Internal__AgentCall *call)
{
    struct error err = {0};
    Tepui__Internal__AgentCall__Subscribe *s = call->subscribe;
    if (s == NULL) {
        http_respond_error(req, 400, "Expecting 'subscribe' to be present");
        return;
    }
    struct resources total = RESOURCES_INIT;
    if (validate_agent_info(s->agent_info, &total, &err) != 0) {
        resources_free(&total);
        http_respond_error(req, 400, "Invalid agent: %s", err.msg);
        return;
    }
    /* Reservations and volumes the agent checkpointed make its total. */
    if (s->total_resources != NULL &&
        resources_from_proto(s->total_resources->resources, s->total_resources->n_resources,
                             &total, &err) != 0) {
        resources_free(&total);
        http_respond_error(req, 400, "Invalid agent: total_resources: %s", err.msg);
        return;
    }

    const char *wanted_id = s->agent_info->id ? s->agent_info->id->value : NULL;
    if (wanted_id != NULL && master_find_gone(m, wanted_id) != NULL) {
        log_warn("refusing re-registration of agent %s at %s (%s): it has been marked gone",
                 wanted_id, req->peer, s->agent_info->hostname);
        resources_free(&total);
        refuse_agent(req, AGENT_GONE_MESSAGE);
        return;
    }
    const char *down = maintenance_refuses_agent(m, s->agent_info->hostname, req->peer);
    if (down != NULL) {
        log_warn("refusing agent at %s (%s): %s", req->peer, s->agent_info->hostname, down);
        resources_free(&total);
        refuse_agent(req, down);
        return;
    }
    struct agent *a = wanted_id ? master_find_agent(m, wanted_id) : NULL;
    int known = a != NULL;
    /* Listed by the registry, back after a failover; or unreachable (or
     * unknown) until now. */
    struct recovered_agent *recovered = wanted_id ? master_find_recovered(m, wanted_id) : NULL;
    int was_unreachable = wanted_id != NULL && master_find_unreachable(m, wanted_id) != NULL;
    int was_recovered = recovered != NULL;
    Tepui__AgentInfo *old_info = NULL;
    char **shutdown = NULL;
    size_t n_shutdown = 0;
    int reregister = wanted_id != NULL;
    if (a != NULL && a->stream != NULL) {
        /* A new connection of the same agent replaces the old one. */
        struct http_stream *old = a->stream;
        a->stream = NULL;
        http_stream_close(old);
    }
    if (a == NULL) {
        a = XNEW(struct agent);
        a->master = m;
        char id[128];
        if (wanted_id != NULL)
            snprintf(id, sizeof(id), "%s", wanted_id);
        else
            master_new_id(m, 'S', id, sizeof(id));
        a->id = xstrdup(id);
        TAILQ_INIT(&a->tasks);
        TAILQ_INIT(&a->offers);
        resources_init(&a->used);
        resources_init(&a->offered);
        a->registered_time = clock_wall();
        HASH_ADD_KEYPTR(hh, m->agents, a->id, strlen(a->id), a);
        struct unreachable_agent *u = NULL;
        HASH_FIND_STR(m->unreachable, a->id, u);
        if (u != NULL) {
            HASH_DEL(m->unreachable, u);
            free(u->id);
            free(u);
        }
        if (recovered != NULL) {
            HASH_DEL(m->recovered, recovered);
            old_info = recovered->info;
            free(recovered->id);
            free(recovered);
        }
        allocator_add_agent(m->allocator, a->id, &total);
    } else {
        a->reregistered_time = clock_wall();
        if (!resources_equal(&a->total, &total)) {
            /* The agent changed its resources: the allocator starts over
             * with the new total, keeping what its tasks use. */
            struct offer *o;
            while ((o = TAILQ_FIRST(&a->offers)) != NULL)
                offer_rescind(o, 1);
            struct task *t;
            TAILQ_FOREACH(t, &a->tasks, agent_link)
                if (!t->resources_recovered)
                    allocator_recover(m->allocator, t->framework->id, a->id, &t->resources, 0);
            allocator_remove_agent(m->allocator, a->id);
            allocator_add_agent(m->allocator, a->id, &total);
            TAILQ_FOREACH(t, &a->tasks, agent_link)
                if (!t->resources_recovered)
                    allocator_add_used(m->allocator, t->framework->id, a->id, &t->resources);
        }
    }
    resources_free(&a->total);
    a->total = total;
    if (known)
        old_info = a->info;
    else
        pb_free(a->info);
    a->info = PB_COPY(Tepui__AgentInfo, s->agent_info);
    if (a->info->id == NULL) {
        a->info->id = xmalloc(sizeof(Tepui__AgentID));
        tepui__agent_id__init(a->info->id);
        a->info->id->value = xstrdup(a->id);
    }
    /* The registry: a new agent is admitted; one back after a failover or
     * reconnecting is updated if its info changed (Mesos's UpdateSlave);
     * an unreachable (or unknown) one is admitted again. */
    if (!reregister)
        master_registry_apply(m, REGISTRY_ADMIT, a->id, a->info, 0);
    else if (known || was_recovered) {
        if (!agent_info_equal(old_info, a->info))
            master_registry_apply(m, REGISTRY_ADMIT, a->id, a->info, 0);
    } else {
        if (!was_unreachable)
            log_warn("allowing unknown agent %s (%s) to re-register", a->id, a->info->hostname);
        master_registry_apply(m, REGISTRY_MARK_REACHABLE, a->id, a->info, 0);
    }
    pb_free(old_info);
    free(a->version);
    a->version = xstrdup(s->version ? s->version : TEPUI_VERSION);
    /* The pid names the agent's own address: its IP as we see it and the
     * port it serves on. */
    char host[64];
    snprintf(host, sizeof(host), "%s", req->peer);
    char *colon = strrchr(host, ':');
    if (colon)
        *colon = '\0';
    free(a->pid);
    a->pid = xasprintf("slave(1)@%s:%u", host, a->info->has_port ? a->info->port : 5051);
    const char *notify = NULL;
    if (known)
        notify = "Agent re-registered";
    else if (reregister && !was_recovered)
        notify = was_unreachable ? "Unreachable agent re-registered"
                                 : "Unknown agent re-registered";
    adopt_reported_state(m, a, s, known, notify, &shutdown, &n_shutdown);

    struct uuid u;
    uuid_random(&u);
    uuid_format(&u, a->stream_id);
    http_response_header(req, "Mesos-Stream-Id", a->stream_id);
    a->stream = http_stream_start(req, WIRE_MEDIA_RECORDIO, agent_stream_closed, a);
    a->connected = 1;
    a->active = 1;
    a->missed_pings = 0;
    a->pong_received = 1;
    allocator_activate_agent(m->allocator, a->id);
    maintenance_agent_registered(a);
    if (reregister)
        m->metrics.agent_reregistrations++;
    else
        m->metrics.agent_registrations++;
    log_info("agent %s (%s) %s with %zu task(s)", a->id, a->info->hostname,
             !reregister ? "registered"
             : was_recovered ? "re-registered after the master failover"
             : known ? "re-registered" : "re-registered (it was unreachable or unknown)",
             s->n_tasks);

    Tepui__Internal__AgentEvent ev = TEPUI__INTERNAL__AGENT_EVENT__INIT;
    Tepui__Internal__AgentEvent__Subscribed sub = TEPUI__INTERNAL__AGENT_EVENT__SUBSCRIBED__INIT;
    sub.agent_id = a->info->id;
    sub.has_ping_interval_seconds = 1;
    sub.ping_interval_seconds = m->flags.agent_ping_timeout;
    sub.master_info = m->info;
    ev.has_type = 1;
    ev.type = TEPUI__INTERNAL__AGENT_EVENT__TYPE__SUBSCRIBED;
    ev.subscribed = &sub;
    agent_send_event(a, &ev);

    for (size_t i = 0; i < n_shutdown; i++) {
        log_info("telling agent %s to shut down framework %s, whose tasks it lost when it "
                 "disconnected", a->id, shutdown[i]);
        Tepui__Internal__AgentEvent sev = TEPUI__INTERNAL__AGENT_EVENT__INIT;
        Tepui__Internal__AgentEvent__ShutdownFramework sf =
            TEPUI__INTERNAL__AGENT_EVENT__SHUTDOWN_FRAMEWORK__INIT;
        Tepui__FrameworkID fid = TEPUI__FRAMEWORK_ID__INIT;
        fid.value = shutdown[i];
        sf.framework_id = &fid;
        sev.has_type = 1;
        sev.type = TEPUI__INTERNAL__AGENT_EVENT__TYPE__SHUTDOWN_FRAMEWORK;
        sev.shutdown_framework = &sf;
        agent_send_event(a, &sev);
        free(shutdown[i]);
    }
    free(shutdown);

    if (a->ping_timer == NULL)
        a->ping_timer = event_new(m->base, -1, EV_PERSIST, ping_cb, a);
    struct timeval tv = clock_timeval(m->flags.agent_ping_timeout);
    event_add(a->ping_timer, &tv);
}

/* ---- calls ---- */

static void handle_executor_exited(struct master *m, struct agent *a,
                                   const Tepui__Internal__AgentCall__ExecutorExited *e)
{
    agent_remove_executor(a, e->framework_id->value, e->executor_id->value);
    struct framework *f = master_find_framework(m, e->framework_id->value);
    if (f == NULL || !f->connected)
        return;
    Tepui__Scheduler__Event ev = TEPUI__SCHEDULER__EVENT__INIT;
    Tepui__Scheduler__Event__Failure fl = TEPUI__SCHEDULER__EVENT__FAILURE__INIT;
    fl.agent_id = a->info->id;
    fl.executor_id = e->executor_id;
    fl.has_status = e->has_status;
    fl.status = e->status;
    ev.has_type = 1;
    ev.type = TEPUI__SCHEDULER__EVENT__TYPE__FAILURE;
    ev.failure = &fl;
    framework_send_event(f, &ev);
}

static void handle_executor_message(struct master *m, struct agent *a,
                                    const Tepui__Internal__AgentCall__ExecutorMessage *msg)
{
    struct framework *f = master_find_framework(m, msg->framework_id->value);
    if (f == NULL || !f->connected) {
        m->metrics.invalid_executor_to_framework_messages++;
        return;
    }
    Tepui__Scheduler__Event ev = TEPUI__SCHEDULER__EVENT__INIT;
    Tepui__Scheduler__Event__Message em = TEPUI__SCHEDULER__EVENT__MESSAGE__INIT;
    em.agent_id = a->info->id;
    em.executor_id = msg->executor_id;
    em.data = msg->data;
    ev.has_type = 1;
    ev.type = TEPUI__SCHEDULER__EVENT__TYPE__MESSAGE;
    ev.message = &em;
    framework_send_event(f, &ev);
    m->metrics.valid_executor_to_framework_messages++;
}

static void agent_api(struct http_request *req, void *arg)
{
    struct master *m = arg;
    if (master_redirect_unless_leading(m, req))
        return;
    Tepui__Internal__AgentCall *call = (Tepui__Internal__AgentCall *)http_api_decode(
        req, &tepui__internal__agent_call__descriptor, 1, NULL);
    if (call == NULL)
        return;
    if (!call->has_type || call->type == TEPUI__INTERNAL__AGENT_CALL__TYPE__UNKNOWN) {
        http_respond_error(req, 400, "Expecting 'type' to be present");
        goto out;
    }
    if (call->type == TEPUI__INTERNAL__AGENT_CALL__TYPE__SUBSCRIBE) {
        handle_subscribe(m, req, call);
        goto out;
    }
    struct agent *a = call->agent_id ? master_find_agent(m, call->agent_id->value) : NULL;
    if (a == NULL) {
        /* Tells a removed agent to register again. */
        http_respond_error(req, 404, "Agent is not registered");
        goto out;
    }
    const char *sid = http_request_header(req, "Mesos-Stream-Id");
    if (sid == NULL || strcmp(sid, a->stream_id) != 0 || !a->connected) {
        http_respond_error(req, 409, "Stream id does not match the agent's subscription");
        goto out;
    }
    switch (call->type) {
    case TEPUI__INTERNAL__AGENT_CALL__TYPE__STATUS_UPDATE:
        if (call->status_update == NULL && call->n_status_updates == 0) {
            http_respond_error(req, 400, "Expecting 'status_update' to be present");
            goto out;
        }
        if (call->status_update != NULL)
            task_status_update(m, call->status_update, a);
        for (size_t i = 0; i < call->n_status_updates; i++)
            task_status_update(m, call->status_updates[i], a);
        break;
    case TEPUI__INTERNAL__AGENT_CALL__TYPE__PONG:
        a->pong_received = 1;
        a->missed_pings = 0;
        break;
    case TEPUI__INTERNAL__AGENT_CALL__TYPE__EXECUTOR_EXITED:
        if (call->executor_exited == NULL) {
            http_respond_error(req, 400, "Expecting 'executor_exited' to be present");
            goto out;
        }
        handle_executor_exited(m, a, call->executor_exited);
        break;
    case TEPUI__INTERNAL__AGENT_CALL__TYPE__EXECUTOR_MESSAGE:
        if (call->executor_message == NULL) {
            http_respond_error(req, 400, "Expecting 'executor_message' to be present");
            goto out;
        }
        handle_executor_message(m, a, call->executor_message);
        break;
    default:
        http_respond_error(req, 400, "Unsupported call type %d", (int)call->type);
        goto out;
    }
    http_respond_empty(req, 202);
out:
    pb_free(call);
}

void agent_routes(struct master *m)
{
    http_server_route(m->http, AGENT_API_PATH, agent_api, m);
}
