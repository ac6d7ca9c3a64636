/* Tasks on the master: creation at launch, status updates from agents (with
 * Mesos's rule that a terminal state never changes), acknowledgements,
 * terminations the master decides itself, completed-task history and
 * reconciliation answers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "master/master.h"
#include "wire/pb.h"

#define LOG_COMPONENT "master"

static Tepui__TaskID *task_id_new(const char *value)
{
    Tepui__TaskID *id = xmalloc(sizeof(*id));
    tepui__task_id__init(id);
    id->value = xstrdup(value);
    return id;
}

struct task *task_find(struct framework *f, const char *task_id)
{
    struct task *t = NULL;
    HASH_FIND_STR(f->tasks, task_id, t);
    return t;
}

Tepui__TaskStatus *task_latest_status(const struct task *t)
{
    if (t->info->n_statuses == 0)
        return NULL;
    return t->info->statuses[t->info->n_statuses - 1];
}

struct task *task_create(struct framework *f, struct agent *a, const Tepui__TaskInfo *info,
                         const struct resources *resources, const char *role,
                         const Tepui__ExecutorID *executor_id)
{
    struct task *t = XNEW(struct task);
    Tepui__Task *pt = xmalloc(sizeof(*pt));
    tepui__task__init(pt);
    pt->name = xstrdup(info->name);
    pt->task_id = task_id_new(info->task_id->value);
    pt->framework_id = PB_COPY(Tepui__FrameworkID, f->info->id);
    pt->agent_id = PB_COPY(Tepui__AgentID, a->info->id);
    if (executor_id != NULL)
        pt->executor_id = PB_COPY(Tepui__ExecutorID, executor_id);
    pt->state = TEPUI__TASK_STATE__TASK_STAGING;
    pt->resources = resources_to_proto(resources, &pt->n_resources);
    pt->labels = PB_COPY(Tepui__Labels, info->labels);
    pt->discovery = PB_COPY(Tepui__DiscoveryInfo, info->discovery);
    pt->container = PB_COPY(Tepui__ContainerInfo, info->container);
    pt->health_check = PB_COPY(Tepui__HealthCheck, info->health_check);
    pt->kill_policy = PB_COPY(Tepui__KillPolicy, info->kill_policy);
    const char *user = (info->command && info->command->user) ? info->command->user
                                                                : f->info->user;
    pt->user = xstrdup(user ? user : "");
    t->info = pt;
    t->id = pt->task_id->value;
    t->framework = f;
    t->agent = a;
    t->role = xstrdup(role);
    resources_copy(&t->resources, resources);
    HASH_ADD_KEYPTR(hh, f->tasks, t->id, strlen(t->id), t);
    TAILQ_INSERT_TAIL(&a->tasks, t, agent_link);
    resources_add(&f->used, resources);
    resources_add(&a->used, resources);
    return t;
}

/* Gives the task's resources back to the allocator (once). */
static void task_recover_resources(struct task *t)
{
    if (t->resources_recovered)
        return;
    t->resources_recovered = 1;
    struct master *m = t->framework->master;
    if (t->agent != NULL) {
        allocator_recover(m->allocator, t->framework->id, t->agent->id, &t->resources, -1);
        resources_subtract(&t->agent->used, &t->resources);
    }
    resources_subtract(&t->framework->used, &t->resources);
}

/* Appends a status, replacing the last one when it has the same state (as
 * Mesos collapses repeated states); the data field is not kept. */
static void task_add_status(struct task *t, const Tepui__TaskStatus *status)
{
    Tepui__TaskStatus *copy = PB_COPY(Tepui__TaskStatus, status);
    if (copy->has_data) {
        free(copy->data.data);
        copy->data.data = NULL;
        copy->data.len = 0;
        copy->has_data = 0;
    }
    Tepui__Task *pt = t->info;
    if (pt->n_statuses > 0 && pt->statuses[pt->n_statuses - 1]->state == status->state) {
        pb_free(pt->statuses[pt->n_statuses - 1]);
        pt->statuses[pt->n_statuses - 1] = copy;
        return;
    }
    pt->statuses = xrealloc(pt->statuses, (pt->n_statuses + 1) * sizeof(*pt->statuses));
    pt->statuses[pt->n_statuses++] = copy;
}

static void count_terminal(struct master *m, task_state_t s)
{
    if ((unsigned)s < sizeof(m->metrics.tasks_by_state) / sizeof(m->metrics.tasks_by_state[0]))
        m->metrics.tasks_by_state[s]++;
}

static void forward_update(struct framework *f, const Tepui__TaskStatus *status)
{
    Tepui__Scheduler__Event ev = TEPUI__SCHEDULER__EVENT__INIT;
    Tepui__Scheduler__Event__Update up = TEPUI__SCHEDULER__EVENT__UPDATE__INIT;
    up.status = (Tepui__TaskStatus *)status;
    ev.has_type = 1;
    ev.type = TEPUI__SCHEDULER__EVENT__TYPE__UPDATE;
    ev.update = &up;
    framework_send_event(f, &ev);
}

void task_status_update(struct master *m, const Tepui__Internal__StatusUpdate *u,
                        struct agent *from)
{
    const Tepui__TaskStatus *status = u->status;
    struct framework *f = master_find_framework(m, u->framework_id->value);
    if (f == NULL) {
        log_warn("ignoring status update %s for task %s of unknown framework %s from agent %s",
                 task_state_name(status->state), status->task_id->value, u->framework_id->value,
                 from->id);
        m->metrics.invalid_status_updates++;
        return;
    }
    log_info("status update %s (%s) for task %s of framework %s from agent %s",
             task_state_name(status->state),
             status->has_reason ? task_reason_name(status->reason) : "-",
             status->task_id->value, f->id, from->id);

    /* The scheduler sees every update, even for a task we have lost track
     * of; it acknowledges and the agent's stream moves on. */
    forward_update(f, status);

    struct task *t = task_find(f, status->task_id->value);
    if (t == NULL) {
        m->metrics.invalid_status_updates++;
        return;
    }
    m->metrics.valid_status_updates++;
    Tepui__Task *pt = t->info;
    int terminated = 0;
    if (!task_state_is_terminal(pt->state)) {
        pt->state = u->has_latest_state ? u->latest_state : status->state;
        terminated = task_state_is_terminal(pt->state);
    }
    pt->has_status_update_state = 1;
    pt->status_update_state = status->state;
    if (status->has_uuid) {
        free(pt->status_update_uuid.data);
        pt->status_update_uuid.data = xmemdup(status->uuid.data, status->uuid.len);
        pt->status_update_uuid.len = status->uuid.len;
        pt->has_status_update_uuid = 1;
    }
    task_add_status(t, status);
    if (terminated) {
        task_recover_resources(t);
        count_terminal(m, pt->state);
    }
}

void task_send_master_update(struct framework *f, const char *task_id, const char *agent_id,
                             task_state_t state, Tepui__TaskStatus__Reason reason,
                             const char *message)
{
    Tepui__TaskStatus st = TEPUI__TASK_STATUS__INIT;
    Tepui__TaskID tid = TEPUI__TASK_ID__INIT;
    Tepui__AgentID aid = TEPUI__AGENT_ID__INIT;
    tid.value = (char *)task_id;
    st.task_id = &tid;
    st.state = state;
    st.has_source = 1;
    st.source = TEPUI__TASK_STATUS__SOURCE__SOURCE_MASTER;
    st.has_reason = 1;
    st.reason = reason;
    st.message = (char *)message;
    st.has_timestamp = 1;
    st.timestamp = clock_wall();
    if (agent_id != NULL) {
        aid.value = (char *)agent_id;
        st.agent_id = &aid;
    }
    forward_update(f, &st);
}

void task_terminate(struct task *t, task_state_t state, Tepui__TaskStatus__Reason reason,
                    const char *message, int notify)
{
    Tepui__Task *pt = t->info;
    if (task_state_is_terminal(pt->state))
        return;
    Tepui__TaskStatus st = TEPUI__TASK_STATUS__INIT;
    st.task_id = pt->task_id;
    st.state = state;
    st.has_source = 1;
    st.source = TEPUI__TASK_STATUS__SOURCE__SOURCE_MASTER;
    st.has_reason = 1;
    st.reason = reason;
    st.message = (char *)message;
    st.has_timestamp = 1;
    st.timestamp = clock_wall();
    st.agent_id = pt->agent_id;
    st.executor_id = pt->executor_id;
    if (state == TEPUI__TASK_STATE__TASK_UNREACHABLE) {
        Tepui__TimeInfo ti = TEPUI__TIME_INFO__INIT;
        ti.nanoseconds = (int64_t)(st.timestamp * 1e9);
        st.unreachable_time = PB_COPY(Tepui__TimeInfo, &ti);
    }
    pt->state = state;
    pt->has_status_update_state = 1;
    pt->status_update_state = state;
    pt->has_status_update_uuid = 0;
    free(pt->status_update_uuid.data);
    pt->status_update_uuid.data = NULL;
    pt->status_update_uuid.len = 0;
    task_add_status(t, &st);
    task_recover_resources(t);
    count_terminal(t->framework->master, state);
    if (notify)
        forward_update(t->framework, &st);
    pb_free(st.unreachable_time);
}

static void completed_push(struct framework *f, Tepui__Task *pt)
{
    size_t cap = (size_t)f->master->flags.max_completed_tasks_per_framework;
    struct completed_tasks *c = &f->completed;
    if (cap == 0) {
        pb_free(pt);
        return;
    }
    if (c->v == NULL) {
        c->cap = cap;
        c->v = xcalloc(cap, sizeof(*c->v));
    }
    if (c->n < c->cap) {
        c->v[c->n++] = pt;
        return;
    }
    pb_free(c->v[c->next]);
    c->v[c->next] = pt;
    c->next = (c->next + 1) % c->cap;
}

void task_remove(struct task *t)
{
    struct framework *f = t->framework;
    task_recover_resources(t);
    HASH_DEL(f->tasks, t);
    if (t->agent != NULL)
        TAILQ_REMOVE(&t->agent->tasks, t, agent_link);
    completed_push(f, t->info);
    resources_free(&t->resources);
    free(t->role);
    free(t);
}

void task_forget(struct task *t)
{
    struct framework *f = t->framework;
    HASH_DEL(f->tasks, t);
    if (t->agent != NULL)
        TAILQ_REMOVE(&t->agent->tasks, t, agent_link);
    pb_free(t->info);
    resources_free(&t->resources);
    free(t->role);
    free(t);
}

void task_unreachable_agent_gone(struct master *m, const char *agent_id)
{
    struct framework *f, *ftmp;
    HASH_ITER(hh, m->frameworks, f, ftmp) {
        for (size_t i = 0; i < f->completed.n; i++) {
            Tepui__Task *pt = f->completed.v[i];
            if (pt->state != TEPUI__TASK_STATE__TASK_UNREACHABLE || pt->agent_id == NULL ||
                strcmp(pt->agent_id->value, agent_id) != 0)
                continue;
            /* As Mesos's markGone for an unreachable agent. */
            Tepui__TaskStatus st = TEPUI__TASK_STATUS__INIT;
            st.task_id = pt->task_id;
            st.state = f->partition_aware ? TEPUI__TASK_STATE__TASK_GONE_BY_OPERATOR
                                          : TEPUI__TASK_STATE__TASK_LOST;
            st.has_source = 1;
            st.source = TEPUI__TASK_STATUS__SOURCE__SOURCE_MASTER;
            st.has_reason = 1;
            st.reason = f->partition_aware
                            ? TEPUI__TASK_STATUS__REASON__REASON_AGENT_REMOVED_BY_OPERATOR
                            : TEPUI__TASK_STATUS__REASON__REASON_AGENT_REMOVED;
            st.message = "Agent has been marked gone";
            st.has_timestamp = 1;
            st.timestamp = clock_wall();
            st.agent_id = pt->agent_id;
            st.executor_id = pt->executor_id;
            pt->state = st.state;
            pt->has_status_update_state = 1;
            pt->status_update_state = st.state;
            pt->statuses = xrealloc(pt->statuses, (pt->n_statuses + 1) * sizeof(*pt->statuses));
            pt->statuses[pt->n_statuses++] = PB_COPY(Tepui__TaskStatus, &st);
            count_terminal(m, st.state);
            forward_update(f, &st);
        }
    }
}

void task_forget_unreachable(struct master *m, const char *agent_id)
{
    struct framework *f, *ftmp;
    HASH_ITER(hh, m->frameworks, f, ftmp) {
        for (size_t i = 0; i < f->completed.n;) {
            Tepui__Task *pt = f->completed.v[i];
            if (pt->state == TEPUI__TASK_STATE__TASK_UNREACHABLE && pt->agent_id != NULL &&
                strcmp(pt->agent_id->value, agent_id) == 0) {
                /* The ring is compacted: look at index i again. */
                task_forget_completed(f, pt->task_id->value);
                i = 0;
                continue;
            }
            i++;
        }
    }
}

void task_forget_completed(struct framework *f, const char *task_id)
{
    struct completed_tasks *c = &f->completed;
    size_t found = c->n;
    for (size_t i = 0; i < c->n && found == c->n; i++)
        if (strcmp(c->v[i]->task_id->value, task_id) == 0)
            found = i;
    if (found == c->n)
        return;
    /* Keep the rest oldest first, from index 0 (a full ring starts at next). */
    Tepui__Task *gone = c->v[found];
    Tepui__Task **v = xcalloc(c->cap, sizeof(*v));
    size_t start = c->n == c->cap ? c->next : 0, k = 0;
    for (size_t i = 0; i < c->n; i++) {
        Tepui__Task *pt = c->v[(start + i) % c->cap];
        if (pt != gone)
            v[k++] = pt;
    }
    pb_free(gone);
    free(c->v);
    c->v = v;
    c->n = k;
    c->next = 0;
}

void task_acknowledged(struct task *t, const uint8_t *uuid, size_t len)
{
    Tepui__Task *pt = t->info;
    if (!pt->has_status_update_uuid || pt->status_update_uuid.len != len ||
        memcmp(pt->status_update_uuid.data, uuid, len) != 0)
        return;
    if (pt->has_status_update_state && task_state_is_terminal(pt->status_update_state))
        task_remove(t);
}

/* ---- reconciliation ---- */

static void reconcile_known(struct framework *f, struct task *t)
{
    const Tepui__TaskStatus *last = task_latest_status(t);
    Tepui__TaskStatus st = TEPUI__TASK_STATUS__INIT;
    st.task_id = t->info->task_id;
    /* Mesos answers with the state of the update in flight to the
     * scheduler, not a newer one it has not been sent yet. */
    st.state = t->info->has_status_update_state ? t->info->status_update_state : t->info->state;
    st.has_source = 1;
    st.source = TEPUI__TASK_STATUS__SOURCE__SOURCE_MASTER;
    st.has_reason = 1;
    st.reason = TEPUI__TASK_STATUS__REASON__REASON_RECONCILIATION;
    st.message = "Reconciliation: Latest task state";
    st.agent_id = t->info->agent_id;
    st.executor_id = t->info->executor_id;
    st.has_timestamp = 1;
    st.timestamp = clock_wall();
    if (last != NULL) {
        st.has_healthy = last->has_healthy;
        st.healthy = last->healthy;
        st.container_status = last->container_status;
    }
    forward_update(f, &st);
}

void task_reconcile(struct framework *f, Tepui__Scheduler__Call__Reconcile *r)
{
    struct master *m = f->master;
    if (r->n_tasks == 0) {
        struct task *t, *tmp;
        HASH_ITER(hh, f->tasks, t, tmp) {
            reconcile_known(f, t);
        }
        return;
    }
    for (size_t i = 0; i < r->n_tasks; i++) {
        Tepui__Scheduler__Call__Reconcile__Task *q = r->tasks[i];
        struct task *t = task_find(f, q->task_id->value);
        if (t != NULL) {
            reconcile_known(f, t);
            continue;
        }
        /* Unknown task: the answer depends on what we know of its agent
         * (Mesos's Master::reconcile). */
        const char *agent_id = q->agent_id ? q->agent_id->value : NULL;
        if ((agent_id != NULL && master_find_recovered(m, agent_id) != NULL) ||
            (agent_id == NULL && m->recovered != NULL)) {
            /* The agent (or, without an agent id, any agent) may still
             * re-register after the failover with the task: no answer; the
             * scheduler asks again later and is answered once the agent is
             * back or marked unreachable. */
            log_info("dropping reconciliation of task %s of framework %s: %s not re-registered "
                     "yet", q->task_id->value, f->id,
                     agent_id != NULL ? "its agent has" : "some agents have");
            continue;
        }
        task_state_t state = TEPUI__TASK_STATE__TASK_UNKNOWN;
        const char *msg = "Reconciliation: Task is unknown";
        const struct unreachable_agent *u = NULL;
        if (agent_id != NULL) {
            u = master_find_unreachable(m, agent_id);
            if (master_find_agent(m, agent_id) != NULL) {
                state = TEPUI__TASK_STATE__TASK_GONE;
                msg = "Reconciliation: Task is unknown to the agent";
            } else if (u != NULL) {
                state = TEPUI__TASK_STATE__TASK_UNREACHABLE;
                msg = "Reconciliation: Task is unreachable";
            } else if (master_find_gone(m, agent_id) != NULL) {
                state = TEPUI__TASK_STATE__TASK_GONE_BY_OPERATOR;
                msg = "Reconciliation: Task is gone";
            }
        }
        if (!f->partition_aware)
            state = TEPUI__TASK_STATE__TASK_LOST;
        Tepui__TaskStatus st = TEPUI__TASK_STATUS__INIT;
        Tepui__AgentID aid = TEPUI__AGENT_ID__INIT;
        Tepui__TimeInfo unreachable_time = TEPUI__TIME_INFO__INIT;
        st.task_id = q->task_id;
        st.state = state;
        st.has_source = 1;
        st.source = TEPUI__TASK_STATUS__SOURCE__SOURCE_MASTER;
        st.has_reason = 1;
        st.reason = TEPUI__TASK_STATUS__REASON__REASON_RECONCILIATION;
        st.message = (char *)msg;
        st.has_timestamp = 1;
        st.timestamp = clock_wall();
        if (agent_id != NULL) {
            aid.value = (char *)agent_id;
            st.agent_id = &aid;
        }
        /* Mesos tells when the agent became unreachable, LOST or not. */
        if (u != NULL && master_find_agent(m, agent_id) == NULL) {
            unreachable_time.nanoseconds = (int64_t)(u->time * 1e9);
            st.unreachable_time = &unreachable_time;
        }
        forward_update(f, &st);
    }
}
