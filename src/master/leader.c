/* Leadership: becoming the leading master (reading the registry, giving the
 * agents it lists --agent_reregister_timeout to come back, pruning old
 * entries every --registry_gc_interval) and stepping down (forgetting all
 * in-memory state without a word to anyone). Registry writes of the other
 * modules go through master_registry_apply. Not here: elections (--zk) and
 * redirects (election.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "master/maintenance.h"
#include "master/master.h"
#include "master/quota.h"
#include "wire/pb.h"

#define LOG_COMPONENT "master"

struct recovered_agent *master_find_recovered(struct master *m, const char *id)
{
    struct recovered_agent *r = NULL;
    HASH_FIND_STR(m->recovered, id, r);
    return r;
}

struct gone_agent *master_find_gone(struct master *m, const char *id)
{
    struct gone_agent *g = NULL;
    HASH_FIND_STR(m->gone, id, g);
    return g;
}

struct unreachable_agent *master_find_unreachable(struct master *m, const char *id)
{
    struct unreachable_agent *u = NULL;
    HASH_FIND_STR(m->unreachable, id, u);
    return u;
}

/* ---- registry writes ---- */

struct durable_answer {
    struct http_deferred *d;
    uint64_t after;                    /* writes that must be durable first */
    struct durable_answer *next;
};

static void registry_written(void *arg, int rc, const struct error *err)
{
    struct master *m = arg;
    if (m->registry_writes_done < m->registry_writes_issued)
        m->registry_writes_done++;
    if (rc == 0) {
        while (m->durable_answers != NULL &&
               m->durable_answers->after <= m->registry_writes_done) {
            struct durable_answer *a = m->durable_answers;
            m->durable_answers = a->next;
            http_deferred_respond_empty(a->d, 200);
            free(a);
        }
        return;
    }
    /* As Mesos, which aborts: acting on a change the registry lost would
     * be undone by the next leader. */
    log_error("registry write failed: %s; the master stops", err ? err->msg : "unknown error");
    m->registry_failed = 1;
    event_base_loopbreak(m->base);
}

void master_registry_apply(struct master *m, enum registry_op_type type, const char *agent_id,
                           const Tepui__AgentInfo *info, double time)
{
    if (m->registry == NULL)
        return;
    struct registry_op op = {.type = type, .agent_id = agent_id, .info = info, .time = time};
    master_registry_write(m, &op);
}

void master_registry_write(struct master *m, const struct registry_op *op)
{
    if (m->registry == NULL)
        return;
    m->registry_writes_issued++;
    registry_apply(m->registry, op, registry_written, m);
}

void master_answer_when_durable(struct master *m, struct http_request *req)
{
    if (m->registry_writes_done >= m->registry_writes_issued) {
        http_respond_empty(req, 200);
        return;
    }
    struct durable_answer *a = XNEW(struct durable_answer);
    a->d = http_defer(req);
    a->after = m->registry_writes_issued;
    if (m->durable_answers == NULL)
        m->durable_answers_tail = &m->durable_answers;
    *m->durable_answers_tail = a;
    m->durable_answers_tail = &a->next;
}

void master_durable_answers_free(struct master *m)
{
    while (m->durable_answers != NULL) {
        struct durable_answer *a = m->durable_answers;
        m->durable_answers = a->next;
        http_deferred_free(a->d);
        free(a);
    }
}

/* ---- the re-registration deadline ---- */

static void reregister_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct master *m = arg;
    (void)fd;
    (void)what;
    double now = clock_wall();
    char timeout[32];
    flags_format_duration(m->flags.agent_reregister_timeout, timeout, sizeof(timeout));
    struct recovered_agent *r, *tmp;
    HASH_ITER(hh, m->recovered, r, tmp) {
        log_warn("marking agent %s (%s) unreachable: it did not re-register within %s after the "
                 "master failover", r->id, r->info && r->info->hostname ? r->info->hostname : "?",
                 timeout);
        master_registry_apply(m, REGISTRY_MARK_UNREACHABLE, r->id, NULL, now);
        HASH_DEL(m->recovered, r);
        pb_free(r->info);
        struct unreachable_agent *u = master_find_unreachable(m, r->id);
        if (u == NULL) {
            u = XNEW(struct unreachable_agent);
            u->id = r->id;
            HASH_ADD_KEYPTR(hh, m->unreachable, u->id, strlen(u->id), u);
        } else {
            free(r->id);
        }
        u->time = now;
        free(r);
        m->metrics.agent_removals++;
        m->metrics.agent_removals_unhealthy++;
        /* The master knows none of its tasks: schedulers learn of the loss
         * (and reconciliation answers UNREACHABLE or LOST from now on). */
        agent_send_lost(m, u->id);
    }
}

/* ---- registry GC ---- */

struct aged {
    const char *id;
    double time;
};

static int oldest_first(const void *x, const void *y)
{
    const struct aged *a = x, *b = y;
    return a->time < b->time ? -1 : a->time > b->time;
}

/* Marks (time = -1) the entries the GC forgets, as Mesos's doRegistryGc:
 * beyond --registry_max_agent_count the oldest, and any older than
 * --registry_max_agent_age. */
static size_t gc_pick(struct aged *v, size_t n, double now, const struct master_flags *fl)
{
    qsort(v, n, sizeof(*v), oldest_first);
    size_t removed = 0;
    size_t max = fl->registry_max_agent_count > 0 ? (size_t)fl->registry_max_agent_count : 0;
    for (size_t i = 0; i < n; i++) {
        if (n - removed > max || now - v[i].time > fl->registry_max_agent_age) {
            v[i].time = -1;
            removed++;
        }
    }
    return removed;
}

static void registry_gc(evutil_socket_t fd, short what, void *arg)
{
    struct master *m = arg;
    (void)fd;
    (void)what;
    double now = clock_wall();

    size_t n = HASH_COUNT(m->unreachable), k = 0;
    struct aged *v = xcalloc(n ? n : 1, sizeof(*v));
    struct unreachable_agent *u, *utmp;
    HASH_ITER(hh, m->unreachable, u, utmp) {
        v[k++] = (struct aged){u->id, u->time};
    }
    size_t removed_unreachable = gc_pick(v, n, now, &m->flags);
    for (size_t i = 0; i < n; i++) {
        if (v[i].time >= 0)
            continue;
        u = master_find_unreachable(m, v[i].id);
        master_registry_apply(m, REGISTRY_REMOVE, u->id, NULL, 0);
        task_forget_unreachable(m, u->id);
        HASH_DEL(m->unreachable, u);
        free(u->id);
        free(u);
    }
    free(v);

    n = HASH_COUNT(m->gone);
    k = 0;
    v = xcalloc(n ? n : 1, sizeof(*v));
    struct gone_agent *g, *gtmp;
    HASH_ITER(hh, m->gone, g, gtmp) {
        v[k++] = (struct aged){g->id, g->time};
    }
    size_t removed_gone = gc_pick(v, n, now, &m->flags);
    for (size_t i = 0; i < n; i++) {
        if (v[i].time >= 0)
            continue;
        g = master_find_gone(m, v[i].id);
        master_registry_apply(m, REGISTRY_REMOVE, g->id, NULL, 0);
        HASH_DEL(m->gone, g);
        free(g->id);
        free(g);
    }
    free(v);
    if (removed_unreachable + removed_gone > 0)
        log_info("registry GC: forgot %zu unreachable and %zu gone agents", removed_unreachable,
                 removed_gone);
}

/* ---- becoming the leader and stepping down ---- */

int master_become_leader(struct master *m, struct error *err)
{
    if (m->leading)
        return 0;
    struct registry_state s = {0};
    if (m->registry != NULL && registry_load(m->registry, &s, err) != 0)
        return error_prefix(err, "cannot recover from the registry");
    size_t counts[4] = {0};
    for (size_t i = 0; i < s.n_agents; i++) {
        struct registry_agent *ra = &s.agents[i];
        counts[ra->state]++;
        switch (ra->state) {
        case REGISTRY_ADMITTED: {
            struct recovered_agent *r = XNEW(struct recovered_agent);
            r->id = xstrdup(ra->id);
            r->info = ra->info;
            ra->info = NULL;
            HASH_ADD_KEYPTR(hh, m->recovered, r->id, strlen(r->id), r);
            break;
        }
        case REGISTRY_UNREACHABLE: {
            struct unreachable_agent *u = XNEW(struct unreachable_agent);
            u->id = xstrdup(ra->id);
            u->time = ra->time;
            HASH_ADD_KEYPTR(hh, m->unreachable, u->id, strlen(u->id), u);
            break;
        }
        case REGISTRY_GONE: {
            struct gone_agent *g = XNEW(struct gone_agent);
            g->id = xstrdup(ra->id);
            g->time = ra->time;
            HASH_ADD_KEYPTR(hh, m->gone, g->id, strlen(g->id), g);
            break;
        }
        }
    }
    /* Weights and quota: the allocator is new (or was just reset). */
    quota_recover(m, &s);
    /* Maintenance schedule, DOWN machines, drained and deactivated agents. */
    maintenance_recover(m, &s);
    registry_state_free(&s);

    m->leading = 1;
    m->elected_time = clock_wall();
    if (m->recovered != NULL) {
        m->agent_reregister_timer = evtimer_new(m->base, reregister_deadline, m);
        struct timeval tv = clock_timeval(m->flags.agent_reregister_timeout);
        evtimer_add(m->agent_reregister_timer, &tv);
    }
    if (m->flags.registry_gc_interval > 0) {
        m->registry_gc_timer = event_new(m->base, -1, EV_PERSIST, registry_gc, m);
        struct timeval tv = clock_timeval(m->flags.registry_gc_interval);
        event_add(m->registry_gc_timer, &tv);
    }
    char timeout[32];
    flags_format_duration(m->flags.agent_reregister_timeout, timeout, sizeof(timeout));
    log_info("leading: recovered %zu admitted, %zu unreachable and %zu gone agents from the %s "
             "registry; allowing %s for agents to re-register",
             counts[REGISTRY_ADMITTED], counts[REGISTRY_UNREACHABLE], counts[REGISTRY_GONE],
             m->registry ? m->registry->backend->name : "(no)", timeout);
    return 0;
}

void master_forget_state(struct master *m)
{
    maintenance_forget(m);
    if (m->agent_reregister_timer != NULL)
        event_free(m->agent_reregister_timer);
    if (m->registry_gc_timer != NULL)
        event_free(m->registry_gc_timer);
    m->agent_reregister_timer = m->registry_gc_timer = NULL;
    struct offer *o, *otmp;
    HASH_ITER(hh, m->offers, o, otmp) {
        offer_discard(o);
    }
    struct framework *f, *ftmp;
    HASH_ITER(hh, m->frameworks, f, ftmp) {
        framework_forget(f);
    }
    framework_free_completed(m);
    struct agent *a, *atmp;
    HASH_ITER(hh, m->agents, a, atmp) {
        agent_forget(a);
    }
    struct unreachable_agent *u, *utmp;
    HASH_ITER(hh, m->unreachable, u, utmp) {
        HASH_DEL(m->unreachable, u);
        free(u->id);
        free(u);
    }
    struct recovered_agent *r, *rtmp;
    HASH_ITER(hh, m->recovered, r, rtmp) {
        HASH_DEL(m->recovered, r);
        pb_free(r->info);
        free(r->id);
        free(r);
    }
    struct gone_agent *g, *gtmp;
    HASH_ITER(hh, m->gone, g, gtmp) {
        HASH_DEL(m->gone, g);
        free(g->id);
        free(g);
    }
}

void master_stop_leading(struct master *m)
{
    if (!m->leading)
        return;
    log_warn("no longer the leading master: forgetting %u frameworks and %u agents (their tasks "
             "run on) until elected again",
             HASH_COUNT(m->frameworks), HASH_COUNT(m->agents));
    m->leading = 0;
    /* Writes of the lost session are dropped without a word: whoever waits
     * for them is told the change may not have been made. */
    while (m->durable_answers != NULL) {
        struct durable_answer *a = m->durable_answers;
        m->durable_answers = a->next;
        http_deferred_respond_error(a->d, 503, "No longer the leading master: the change may "
                                    "not have been recorded");
        free(a);
    }
    m->registry_writes_done = m->registry_writes_issued;
    /* Streams close: schedulers and agents look for the new leader. */
    master_forget_state(m);
    master_reset_allocator(m);
}
