/* Maintenance as Mesos's master does it: the schedule (windows of machines
 * and their unavailability), machine modes (DRAINING while scheduled, DOWN
 * after START_MAINTENANCE, UP again after STOP_MAINTENANCE), inverse offers
 * to frameworks using resources on draining machines and their answers, and
 * the draining of single agents (DRAIN_AGENT, DEACTIVATE_AGENT,
 * REACTIVATE_AGENT). Frameworks, agents and tasks themselves are the other
 * modules' business; this one only asks them to act. */
#include "master/maintenance.h"

#include <arpa/inet.h>
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "master/election.h"
#include "master/master.h"
#include "wire/json.h"
#include "wire/pb.h"

#define LOG_COMPONENT "master"

#define SCHEDULE_KEY "schedule"
/* The grace period an executor gives a task without a kill policy (Mesos's
 * default): what DRAIN_AGENT's max_grace_period caps for such tasks. */
#define DEFAULT_GRACE_SECONDS 3.0
#define MACHINE_DOWN_MESSAGE "Operator initiated 'Machine DOWN'"

typedef Tepui__Maintenance__Schedule Schedule;
typedef Tepui__Master__Call Call;
typedef Tepui__Master__Response Response;

/* A machine of the schedule. Its mode is DRAINING, or DOWN when down is set
 * (a machine absent from the schedule is UP). */
struct machine {
    char *key;                              /* lowercased hostname "/" ip */
    Tepui__MachineID *id;                   /* as the operator wrote it */
    Tepui__Unavailability *unavailability;  /* of its window */
    int down;
    UT_hash_handle hh;
};

struct inverse_offer {
    char *id;
    char *framework_id;
    char *agent_id;
    UT_hash_handle hh;                      /* by id */
};

/* What one framework said about one agent's maintenance, and until when it
 * is not asked again (the filter of its answer). At most one inverse offer
 * is outstanding per pair. */
struct reply {
    char *key;                              /* framework id " " agent id */
    char *framework_id;
    char *agent_id;
    struct inverse_offer *outstanding;
    Tepui__Allocator__InverseOfferStatus__Status status;   /* 0: no answer yet */
    double time;                            /* of the answer (wall) */
    double refuse_until;                    /* monotonic */
    UT_hash_handle hh;
};

/* An agent taken out of the allocation by the operator: deactivated, and
 * draining (or drained) with DRAIN_AGENT. Kept while the agent is away. */
struct drain {
    char *agent_id;
    Tepui__DrainInfo *info;                 /* NULL: deactivated only */
    char kills_stream[40];                  /* the agent stream its tasks' kills went to */
    UT_hash_handle hh;
};

struct maintenance {
    struct master *m;
    Schedule *schedule;                     /* never NULL */
    struct machine *machines;
    struct inverse_offer *offers;
    struct reply *replies;
    struct drain *drains;
    struct event *timer;                    /* inverse offers and drains, each allocation interval */
};

static void tick(evutil_socket_t fd, short what, void *arg);

/* ---- small helpers ---- */

static struct maintenance *get(struct master *m)
{
    if (m->maintenance != NULL)
        return m->maintenance;
    struct maintenance *mt = XNEW(struct maintenance);
    mt->m = m;
    mt->schedule = xmalloc(sizeof(*mt->schedule));
    tepui__maintenance__schedule__init(mt->schedule);
    mt->timer = event_new(m->base, -1, EV_PERSIST, tick, mt);
    double interval = m->flags.allocation_interval > 0.05 ? m->flags.allocation_interval : 0.05;
    struct timeval tv = clock_timeval(interval);
    event_add(mt->timer, &tv);
    m->maintenance = mt;
    return mt;
}

static char *machine_key(const char *hostname, const char *ip)
{
    char *key = xasprintf("%s/%s", hostname ? hostname : "", ip ? ip : "");
    /* Hostnames are not case-sensitive (Mesos). */
    for (char *p = key; *p != '/'; p++)
        *p = (char)tolower((unsigned char)*p);
    return key;
}

static struct machine *find_machine(struct machine *map, const char *hostname, const char *ip)
{
    char *key = machine_key(hostname, ip);
    struct machine *mc = NULL;
    HASH_FIND_STR(map, key, mc);
    free(key);
    return mc;
}

/* The machine an agent announcing hostname from ip is on. A scheduled
 * MachineID with both fields matches only when both do (Mesos); one that
 * gives only the hostname or only the IP matches on that alone, the exact
 * entry first. */
static struct machine *machine_of(struct machine *map, const char *hostname, const char *ip)
{
    if (map == NULL)
        return NULL;
    struct machine *mc = find_machine(map, hostname, ip);
    if (mc == NULL)
        mc = find_machine(map, hostname, "");
    if (mc == NULL)
        mc = find_machine(map, "", ip);
    return mc;
}

/* The agent's IP as its pid names it ("slave(1)@ip:port"). */
static void agent_ip(const struct agent *a, char *out, size_t n)
{
    const char *at = a->pid ? strchr(a->pid, '@') : NULL;
    snprintf(out, n, "%s", at ? at + 1 : "");
    char *colon = strrchr(out, ':');
    if (colon != NULL)
        *colon = '\0';
}

static struct machine *machine_of_agent(struct machine *map, const struct agent *a)
{
    char ip[64];
    agent_ip(a, ip, sizeof(ip));
    return machine_of(map, a->info->hostname, ip);
}

static void machine_text(const Tepui__MachineID *id, struct buf *out)
{
    wire_json_encode(&id->base, out);
}

static void machine_free(struct machine *mc)
{
    free(mc->key);
    pb_free(mc->id);
    pb_free(mc->unavailability);
    free(mc);
}

static void machines_free(struct machine **map)
{
    struct machine *mc, *tmp;
    HASH_ITER(hh, *map, mc, tmp) {
        HASH_DEL(*map, mc);
        machine_free(mc);
    }
}

static int unavailability_equal(const Tepui__Unavailability *x, const Tepui__Unavailability *y)
{
    if (x->start->nanoseconds != y->start->nanoseconds)
        return 0;
    if ((x->duration == NULL) != (y->duration == NULL))
        return 0;
    return x->duration == NULL || x->duration->nanoseconds == y->duration->nanoseconds;
}

/* ---- the registry ---- */

static void put_record(struct master *m, const char *kind, const char *key,
                       const ProtobufCMessage *value)
{
    if (m->registry == NULL)
        return;
    struct buf b = BUF_INIT;
    if (value != NULL)
        pb_pack_buf(value, &b);
    struct registry_op op = {.type = REGISTRY_PUT_RECORD, .kind = kind, .key = key,
                             .value = (const uint8_t *)b.data, .len = b.len};
    master_registry_write(m, &op);
    buf_free(&b);
}

static void delete_record(struct master *m, const char *kind, const char *key)
{
    if (m->registry == NULL)
        return;
    struct registry_op op = {.type = REGISTRY_DELETE_RECORD, .kind = kind, .key = key};
    master_registry_write(m, &op);
}

static void save_schedule(struct maintenance *mt)
{
    if (mt->schedule->n_windows == 0)
        delete_record(mt->m, REGISTRY_KIND_MAINTENANCE_SCHEDULE, SCHEDULE_KEY);
    else
        put_record(mt->m, REGISTRY_KIND_MAINTENANCE_SCHEDULE, SCHEDULE_KEY, &mt->schedule->base);
}

/* ---- inverse offers ---- */

static char *reply_key(const char *framework_id, const char *agent_id)
{
    return xasprintf("%s %s", framework_id, agent_id);
}

static struct reply *reply_find(struct maintenance *mt, const char *framework_id,
                                const char *agent_id)
{
    char *key = reply_key(framework_id, agent_id);
    struct reply *r = NULL;
    HASH_FIND_STR(mt->replies, key, r);
    free(key);
    return r;
}

static void send_rescind(struct master *m, const char *framework_id, const char *id)
{
    struct framework *f = master_find_framework(m, framework_id);
    if (f == NULL || !f->connected)
        return;
    Tepui__Scheduler__Event ev = TEPUI__SCHEDULER__EVENT__INIT;
    Tepui__Scheduler__Event__RescindInverseOffer r =
        TEPUI__SCHEDULER__EVENT__RESCIND_INVERSE_OFFER__INIT;
    Tepui__OfferID oid = TEPUI__OFFER_ID__INIT;
    oid.value = (char *)id;
    r.inverse_offer_id = &oid;
    ev.has_type = 1;
    ev.type = TEPUI__SCHEDULER__EVENT__TYPE__RESCIND_INVERSE_OFFER;
    ev.rescind_inverse_offer = &r;
    framework_send_event(f, &ev);
}

static void inverse_offer_free(struct maintenance *mt, struct inverse_offer *io, int rescind)
{
    if (rescind) {
        log_info("rescinding inverse offer %s of framework %s for agent %s", io->id,
                 io->framework_id, io->agent_id);
        send_rescind(mt->m, io->framework_id, io->id);
    }
    HASH_DEL(mt->offers, io);
    free(io->id);
    free(io->framework_id);
    free(io->agent_id);
    free(io);
}

static void reply_free(struct maintenance *mt, struct reply *r, int rescind)
{
    if (r->outstanding != NULL)
        inverse_offer_free(mt, r->outstanding, rescind);
    HASH_DEL(mt->replies, r);
    free(r->key);
    free(r->framework_id);
    free(r->agent_id);
    free(r);
}

/* Forgets what frameworks were asked and said about an agent (its
 * maintenance changed or ended), rescinding outstanding inverse offers. */
static void forget_agent_replies(struct maintenance *mt, const char *agent_id)
{
    struct reply *r, *tmp;
    HASH_ITER(hh, mt->replies, r, tmp) {
        if (strcmp(r->agent_id, agent_id) == 0)
            reply_free(mt, r, 1);
    }
}

static void send_inverse_offer(struct maintenance *mt, struct framework *f, struct agent *a,
                               const struct machine *mc, struct reply *r)
{
    struct master *m = mt->m;
    struct inverse_offer *io = XNEW(struct inverse_offer);
    char id[128];
    master_new_id(m, 'O', id, sizeof(id));
    io->id = xstrdup(id);
    io->framework_id = xstrdup(f->id);
    io->agent_id = xstrdup(a->id);
    HASH_ADD_KEYPTR(hh, mt->offers, io->id, strlen(io->id), io);
    r->outstanding = io;

    char ip[64];
    agent_ip(a, ip, sizeof(ip));
    Tepui__Address addr = TEPUI__ADDRESS__INIT;
    addr.hostname = a->info->hostname;
    addr.ip = ip;
    addr.port = a->info->has_port ? (int32_t)a->info->port : 5051;
    Tepui__URL url = TEPUI__URL__INIT;
    url.scheme = "http";
    url.address = &addr;
    url.path = "/slave(1)";
    Tepui__OfferID oid = TEPUI__OFFER_ID__INIT;
    oid.value = io->id;
    /* No resources: as Mesos, the inverse offer asks for everything the
     * framework has on the agent. */
    Tepui__InverseOffer pio = TEPUI__INVERSE_OFFER__INIT;
    pio.id = &oid;
    pio.url = &url;
    pio.framework_id = f->info->id;
    pio.agent_id = a->info->id;
    pio.unavailability = mc->unavailability;
    Tepui__InverseOffer *list[1] = {&pio};
    Tepui__Scheduler__Event__InverseOffers eio = TEPUI__SCHEDULER__EVENT__INVERSE_OFFERS__INIT;
    eio.inverse_offers = list;
    eio.n_inverse_offers = 1;
    Tepui__Scheduler__Event ev = TEPUI__SCHEDULER__EVENT__INIT;
    ev.has_type = 1;
    ev.type = TEPUI__SCHEDULER__EVENT__TYPE__INVERSE_OFFERS;
    ev.inverse_offers = &eio;
    log_info("sending inverse offer %s to framework %s for agent %s (%s)", io->id, f->id, a->id,
             a->info->hostname);
    framework_send_event(f, &ev);
}

static void add_framework(struct framework ***v, size_t *n, struct framework *f)
{
    if (f == NULL)
        return;
    for (size_t i = 0; i < *n; i++)
        if ((*v)[i] == f)
            return;
    *v = xrealloc(*v, (*n + 1) * sizeof(**v));
    (*v)[(*n)++] = f;
}

/* Every framework using resources on an agent of a draining machine (tasks,
 * executors, offers) has one inverse offer for it, unless its last answer's
 * filter still holds. */
static void send_inverse_offers(struct maintenance *mt)
{
    struct master *m = mt->m;
    /* Answers of frameworks or about agents that are gone. */
    struct reply *r, *rtmp;
    HASH_ITER(hh, mt->replies, r, rtmp) {
        struct framework *f = master_find_framework(m, r->framework_id);
        if (f == NULL || master_find_agent(m, r->agent_id) == NULL) {
            reply_free(mt, r, 0);
        } else if (!f->connected && r->outstanding != NULL) {
            /* Its stream is gone, and the inverse offer with it: asked
             * again once it subscribes. */
            inverse_offer_free(mt, r->outstanding, 0);
            r->outstanding = NULL;
        }
    }
    if (mt->machines == NULL)
        return;
    double now = clock_mono();
    struct agent *a, *atmp;
    HASH_ITER(hh, m->agents, a, atmp) {
        if (!a->connected)
            continue;
        struct machine *mc = machine_of_agent(mt->machines, a);
        if (mc == NULL || mc->down)
            continue;
        struct framework **users = NULL;
        size_t n_users = 0;
        const struct task *t;
        TAILQ_FOREACH(t, &a->tasks, agent_link)
            add_framework(&users, &n_users, t->framework);
        const struct offer *o;
        TAILQ_FOREACH(o, &a->offers, agent_link)
            add_framework(&users, &n_users, o->framework);
        for (size_t k = 0; k < a->n_executors; k++)
            add_framework(&users, &n_users,
                          master_find_framework(m, a->executors[k].re->framework_id->value));
        for (size_t i = 0; i < n_users; i++) {
            struct framework *f = users[i];
            if (!f->connected || !f->active)
                continue;
            r = reply_find(mt, f->id, a->id);
            if (r == NULL) {
                r = XNEW(struct reply);
                r->key = reply_key(f->id, a->id);
                r->framework_id = xstrdup(f->id);
                r->agent_id = xstrdup(a->id);
                HASH_ADD_KEYPTR(hh, mt->replies, r->key, strlen(r->key), r);
            }
            if (r->outstanding != NULL || now < r->refuse_until)
                continue;
            send_inverse_offer(mt, f, a, mc, r);
        }
        free(users);
    }
}

void maintenance_answer_inverse_offers(struct framework *f, Tepui__OfferID **ids, size_t n,
                                       const Tepui__Filters *filters, int accept)
{
    struct master *m = f->master;
    struct maintenance *mt = m->maintenance;
    double refuse = master_refuse_seconds(filters);
    for (size_t i = 0; i < n; i++) {
        struct inverse_offer *io = NULL;
        if (mt != NULL)
            HASH_FIND_STR(mt->offers, ids[i]->value, io);
        if (io == NULL || strcmp(io->framework_id, f->id) != 0) {
            /* As Mesos: the call was accepted (202), the stale id ignored. */
            log_warn("framework %s %s inverse offer %s, which is no longer valid", f->id,
                     accept ? "accepted" : "declined", ids[i]->value);
            continue;
        }
        struct reply *r = reply_find(mt, io->framework_id, io->agent_id);
        assert(r != NULL && r->outstanding == io);
        r->outstanding = NULL;
        r->status = accept ? TEPUI__ALLOCATOR__INVERSE_OFFER_STATUS__STATUS__ACCEPT
                           : TEPUI__ALLOCATOR__INVERSE_OFFER_STATUS__STATUS__DECLINE;
        r->time = clock_wall();
        r->refuse_until = clock_mono() + refuse;
        log_info("framework %s %s inverse offer %s for agent %s", f->id,
                 accept ? "accepted" : "declined", io->id, io->agent_id);
        inverse_offer_free(mt, io, 0);
    }
}

Tepui__InverseOffer **maintenance_framework_inverse_offers(const struct framework *f, size_t *n)
{
    struct master *m = f->master;
    struct maintenance *mt = m->maintenance;
    *n = 0;
    size_t cap = mt != NULL ? HASH_COUNT(mt->offers) : 0;
    Tepui__InverseOffer **v = xcalloc(cap + 1, sizeof(*v));
    if (mt == NULL)
        return v;
    struct inverse_offer *io, *tmp;
    HASH_ITER(hh, mt->offers, io, tmp) {
        if (strcmp(io->framework_id, f->id) != 0)
            continue;
        struct agent *a = master_find_agent(m, io->agent_id);
        struct machine *mc = a != NULL ? machine_of_agent(mt->machines, a) : NULL;
        if (mc == NULL)
            continue;
        Tepui__InverseOffer *p = xmalloc(sizeof(*p));
        tepui__inverse_offer__init(p);
        p->id = xmalloc(sizeof(*p->id));
        tepui__offer_id__init(p->id);
        p->id->value = xstrdup(io->id);
        p->framework_id = PB_COPY(Tepui__FrameworkID, f->info->id);
        p->agent_id = PB_COPY(Tepui__AgentID, a->info->id);
        p->unavailability = PB_COPY(Tepui__Unavailability, mc->unavailability);
        v[(*n)++] = p;
    }
    return v;
}

/* ---- machines of the schedule ---- */

static int validate_machine(const Tepui__MachineID *id, struct error *err)
{
    int no_host = id->hostname == NULL || id->hostname[0] == '\0';
    int no_ip = id->ip == NULL || id->ip[0] == '\0';
    if (no_host && no_ip)
        return error_set(err, -EINVAL, "Both 'hostname' and 'ip' for a machine are empty");
    struct in_addr addr;
    if (!no_ip && inet_pton(AF_INET, id->ip, &addr) != 1)
        return error_set(err, -EINVAL, "Invalid IP address '%s' of a machine", id->ip);
    return 0;
}

static int machine_error(struct error *err, const Tepui__MachineID *id, const char *what)
{
    struct buf b = BUF_INIT;
    machine_text(id, &b);
    error_set(err, -EINVAL, "Machine '%s' %s", buf_cstr(&b), what);
    buf_free(&b);
    return -EINVAL;
}

/* The machines of a schedule, checked as Mesos checks a schedule: every
 * window names machines, no duration is negative, every machine has a
 * hostname or a valid IP and appears once, and no DOWN machine of current
 * leaves it (old may be NULL). Unavailability may start in the past, as in
 * Mesos: an operator schedules "now" and brings the machine down at once. */
static int schedule_machines(const Schedule *s, struct machine *current, struct machine **out,
                             struct error *err)
{
    struct machine *map = NULL;
    for (size_t w = 0; w < s->n_windows; w++) {
        const Tepui__Maintenance__Window *win = s->windows[w];
        if (win->n_machine_ids == 0) {
            error_set(err, -EINVAL, "List of machines in the maintenance window is empty");
            goto fail;
        }
        const Tepui__Unavailability *u = win->unavailability;
        if (u->duration != NULL && u->duration->nanoseconds < 0) {
            error_set(err, -EINVAL, "Unavailability 'duration' is negative");
            goto fail;
        }
        for (size_t i = 0; i < win->n_machine_ids; i++) {
            const Tepui__MachineID *id = win->machine_ids[i];
            if (validate_machine(id, err) != 0)
                goto fail;
            char *key = machine_key(id->hostname, id->ip);
            struct machine *mc = NULL;
            HASH_FIND_STR(map, key, mc);
            if (mc != NULL) {
                free(key);
                machine_error(err, id, "appears more than once in the schedule");
                goto fail;
            }
            mc = XNEW(struct machine);
            mc->key = key;
            mc->id = PB_COPY(Tepui__MachineID, id);
            mc->unavailability = PB_COPY(Tepui__Unavailability, u);
            struct machine *old = NULL;
            HASH_FIND_STR(current, key, old);
            mc->down = old != NULL && old->down;
            HASH_ADD_KEYPTR(hh, map, mc->key, strlen(mc->key), mc);
        }
    }
    struct machine *old, *tmp;
    HASH_ITER(hh, current, old, tmp) {
        struct machine *mc = NULL;
        HASH_FIND_STR(map, old->key, mc);
        if (old->down && mc == NULL) {
            machine_error(err, old->id, "is deactivated and cannot be removed from the schedule");
            goto fail;
        }
    }
    *out = map;
    return 0;
fail:
    machines_free(&map);
    return -EINVAL;
}

/* Offers of an agent whose maintenance changed are rescinded (and made
 * again with the new unavailability); what frameworks were asked and said
 * about it no longer holds. */
static void agent_maintenance_changed(struct maintenance *mt, struct agent *a)
{
    struct offer *o;
    while ((o = TAILQ_FIRST(&a->offers)) != NULL)
        offer_rescind(o, 1);
    forget_agent_replies(mt, a->id);
}

static int update_schedule(struct master *m, const Schedule *s, struct error *err)
{
    struct maintenance *mt = get(m);
    struct machine *next = NULL;
    if (schedule_machines(s, mt->machines, &next, err) != 0)
        return -EINVAL;
    struct agent *a, *atmp;
    HASH_ITER(hh, m->agents, a, atmp) {
        struct machine *was = machine_of_agent(mt->machines, a);
        struct machine *now = machine_of_agent(next, a);
        if (was == NULL && now == NULL)
            continue;
        if (was == NULL || now == NULL ||
            !unavailability_equal(was->unavailability, now->unavailability))
            agent_maintenance_changed(mt, a);
    }
    machines_free(&mt->machines);
    mt->machines = next;
    pb_free(mt->schedule);
    mt->schedule = PB_COPY(Schedule, s);
    save_schedule(mt);
    log_info("maintenance schedule updated: %zu window(s), %u machine(s)", s->n_windows,
             HASH_COUNT(mt->machines));
    send_inverse_offers(mt);
    return 0;
}

/* START_MAINTENANCE and STOP_MAINTENANCE's list, checked as Mesos does. */
static int validate_machine_list(Tepui__MachineID **ids, size_t n, struct error *err)
{
    if (n == 0)
        return error_set(err, -EINVAL, "List of machines is empty");
    /* Duplicates by hash: a body may list many thousands of machines, and
     * pairwise comparison would hold the loop for minutes. */
    struct machine *seen = NULL;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (validate_machine(ids[i], err) != 0) {
            rc = -EINVAL;
            break;
        }
        struct machine *mc = NULL;
        char *key = machine_key(ids[i]->hostname, ids[i]->ip);
        HASH_FIND_STR(seen, key, mc);
        if (mc != NULL) {
            free(key);
            rc = machine_error(err, ids[i], "appears more than once in the list");
            break;
        }
        mc = XNEW(struct machine);
        mc->key = key;
        HASH_ADD_KEYPTR(hh, seen, mc->key, strlen(mc->key), mc);
    }
    machines_free(&seen);
    return rc;
}

static int start_maintenance(struct master *m, Tepui__MachineID **ids, size_t n,
                             struct error *err)
{
    struct maintenance *mt = get(m);
    if (validate_machine_list(ids, n, err) != 0)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        struct machine *mc = find_machine(mt->machines, ids[i]->hostname, ids[i]->ip);
        if (mc == NULL)
            return machine_error(err, ids[i], "is not part of a maintenance schedule");
        if (mc->down)
            return machine_error(err, ids[i],
                                 "is not in DRAINING mode and cannot be brought down");
    }
    for (size_t i = 0; i < n; i++) {
        struct machine *mc = find_machine(mt->machines, ids[i]->hostname, ids[i]->ip);
        mc->down = 1;
        put_record(m, REGISTRY_KIND_MACHINE_DOWN, mc->key, &mc->id->base);
        struct buf b = BUF_INIT;
        machine_text(mc->id, &b);
        log_warn("machine %s is DOWN for maintenance", buf_cstr(&b));
        buf_free(&b);
    }
    /* As Mesos: agents of a DOWN machine are told to shut down and removed,
     * their tasks LOST. */
    struct agent *a, *atmp;
    HASH_ITER(hh, m->agents, a, atmp) {
        struct machine *mc = machine_of_agent(mt->machines, a);
        if (mc == NULL || !mc->down)
            continue;
        forget_agent_replies(mt, a->id);
        agent_remove_down(a, MACHINE_DOWN_MESSAGE);
    }
    return 0;
}

/* Removes the machine with key from the schedule's windows, and windows left
 * without machines. */
static void unschedule(Schedule *s, const char *key)
{
    size_t kept_windows = 0;
    for (size_t w = 0; w < s->n_windows; w++) {
        Tepui__Maintenance__Window *win = s->windows[w];
        size_t kept = 0;
        for (size_t i = 0; i < win->n_machine_ids; i++) {
            char *k = machine_key(win->machine_ids[i]->hostname, win->machine_ids[i]->ip);
            if (strcmp(k, key) == 0)
                pb_free(win->machine_ids[i]);
            else
                win->machine_ids[kept++] = win->machine_ids[i];
            free(k);
        }
        win->n_machine_ids = kept;
        if (kept == 0)
            pb_free(win);
        else
            s->windows[kept_windows++] = win;
    }
    s->n_windows = kept_windows;
}

static int stop_maintenance(struct master *m, Tepui__MachineID **ids, size_t n, struct error *err)
{
    struct maintenance *mt = get(m);
    if (validate_machine_list(ids, n, err) != 0)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        struct machine *mc = find_machine(mt->machines, ids[i]->hostname, ids[i]->ip);
        if (mc == NULL)
            return machine_error(err, ids[i], "is not part of a maintenance schedule");
        if (!mc->down)
            return machine_error(err, ids[i], "is not in DOWN mode and cannot be brought up");
    }
    for (size_t i = 0; i < n; i++) {
        struct machine *mc = find_machine(mt->machines, ids[i]->hostname, ids[i]->ip);
        struct buf b = BUF_INIT;
        machine_text(mc->id, &b);
        log_info("machine %s is UP after maintenance", buf_cstr(&b));
        buf_free(&b);
        delete_record(m, REGISTRY_KIND_MACHINE_DOWN, mc->key);
        unschedule(mt->schedule, mc->key);
        HASH_DEL(mt->machines, mc);
        machine_free(mc);
    }
    save_schedule(mt);
    return 0;
}

static Tepui__Maintenance__ClusterStatus *cluster_status(struct master *m)
{
    struct maintenance *mt = m->maintenance;
    Tepui__Maintenance__ClusterStatus *cs = xmalloc(sizeof(*cs));
    tepui__maintenance__cluster_status__init(cs);
    size_t n = mt != NULL ? HASH_COUNT(mt->machines) : 0;
    cs->draining_machines = xcalloc(n + 1, sizeof(*cs->draining_machines));
    cs->down_machines = xcalloc(n + 1, sizeof(*cs->down_machines));
    if (mt == NULL)
        return cs;
    struct machine *mc, *tmp;
    HASH_ITER(hh, mt->machines, mc, tmp) {
        if (mc->down) {
            cs->down_machines[cs->n_down_machines++] = PB_COPY(Tepui__MachineID, mc->id);
            continue;
        }
        Tepui__Maintenance__ClusterStatus__DrainingMachine *dm = xmalloc(sizeof(*dm));
        tepui__maintenance__cluster_status__draining_machine__init(dm);
        dm->id = PB_COPY(Tepui__MachineID, mc->id);
        dm->statuses = xcalloc(HASH_COUNT(mt->replies) + 1, sizeof(*dm->statuses));
        struct reply *r, *rtmp;
        HASH_ITER(hh, mt->replies, r, rtmp) {
            struct agent *a = master_find_agent(m, r->agent_id);
            if (r->status == 0 || a == NULL || machine_of_agent(mt->machines, a) != mc)
                continue;
            Tepui__Allocator__InverseOfferStatus *st = xmalloc(sizeof(*st));
            tepui__allocator__inverse_offer_status__init(st);
            st->status = r->status;
            st->framework_id = xmalloc(sizeof(*st->framework_id));
            tepui__framework_id__init(st->framework_id);
            st->framework_id->value = xstrdup(r->framework_id);
            st->timestamp = xmalloc(sizeof(*st->timestamp));
            tepui__time_info__init(st->timestamp);
            st->timestamp->nanoseconds = (int64_t)(r->time * 1e9);
            dm->statuses[dm->n_statuses++] = st;
        }
        cs->draining_machines[cs->n_draining_machines++] = dm;
    }
    return cs;
}

/* ---- agents: deactivation and draining ---- */

static struct drain *drain_find(struct maintenance *mt, const char *agent_id)
{
    struct drain *d = NULL;
    if (mt != NULL)
        HASH_FIND_STR(mt->drains, agent_id, d);
    return d;
}

static void drain_free(struct maintenance *mt, struct drain *d)
{
    HASH_DEL(mt->drains, d);
    pb_free(d->info);
    free(d->agent_id);
    free(d);
}

/* No offers for it from now on: outstanding ones are rescinded. */
static void deactivate(struct agent *a)
{
    if (a->active) {
        a->active = 0;
        allocator_deactivate_agent(a->master->allocator, a->id);
    }
    struct offer *o;
    while ((o = TAILQ_FIRST(&a->offers)) != NULL)
        offer_rescind(o, 1);
}

static double duration_seconds(const Tepui__DurationInfo *d)
{
    return (double)d->nanoseconds / 1e9;
}

/* A draining agent's tasks are killed with their kill policy's grace period
 * capped at max_grace_period; again after the agent reconnects (kills sent
 * on its old stream may have been lost). */
static void kill_tasks(struct drain *d, struct agent *a)
{
    const Tepui__DrainConfig *cfg = d->info->config;
    snprintf(d->kills_stream, sizeof(d->kills_stream), "%s", a->stream_id);
    struct task *t;
    TAILQ_FOREACH(t, &a->tasks, agent_link) {
        if (task_state_is_terminal(t->info->state))
            continue;
        Tepui__DurationInfo grace = TEPUI__DURATION_INFO__INIT;
        Tepui__KillPolicy policy = TEPUI__KILL_POLICY__INIT;
        Tepui__KillPolicy *kp = t->info->kill_policy;
        if (cfg->max_grace_period != NULL) {
            double max = duration_seconds(cfg->max_grace_period);
            double g = DEFAULT_GRACE_SECONDS;
            if (kp != NULL && kp->grace_period != NULL)
                g = duration_seconds(kp->grace_period);
            grace.nanoseconds = (int64_t)((g < max ? g : max) * 1e9);
            policy.grace_period = &grace;
            kp = &policy;
        }
        Tepui__TaskID tid = TEPUI__TASK_ID__INIT;
        tid.value = t->id;
        Tepui__Internal__AgentEvent__KillTask kt = TEPUI__INTERNAL__AGENT_EVENT__KILL_TASK__INIT;
        kt.framework_id = t->framework->info->id;
        kt.task_id = &tid;
        kt.kill_policy = kp;
        kt.has_agent_draining = 1;
        kt.agent_draining = 1;
        kt.has_mark_gone = cfg->has_mark_gone;
        kt.mark_gone = cfg->mark_gone;
        Tepui__Internal__AgentEvent ev = TEPUI__INTERNAL__AGENT_EVENT__INIT;
        ev.has_type = 1;
        ev.type = TEPUI__INTERNAL__AGENT_EVENT__TYPE__KILL_TASK;
        ev.kill_task = &kt;
        log_info("draining agent %s: killing task %s of framework %s", a->id, t->id,
                 t->framework->id);
        agent_send_event(a, &ev);
    }
}

/* DRAINING becomes DRAINED once the agent holds no task whose terminal
 * update is unacknowledged (the master drops a task from its agent only
 * then); with mark_gone the agent is then marked gone. */
static void advance_drains(struct maintenance *mt)
{
    struct master *m = mt->m;
    struct drain *d, *tmp;
    HASH_ITER(hh, mt->drains, d, tmp) {
        if (d->info == NULL || d->info->state != TEPUI__DRAIN_STATE__DRAINING)
            continue;
        struct agent *a = master_find_agent(m, d->agent_id);
        if (a == NULL || !a->connected)
            continue;
        if (strcmp(d->kills_stream, a->stream_id) != 0)
            kill_tasks(d, a);
        if (!TAILQ_EMPTY(&a->tasks))
            continue;
        d->info->state = TEPUI__DRAIN_STATE__DRAINED;
        put_record(m, REGISTRY_KIND_AGENT_DRAIN, d->agent_id, &d->info->base);
        log_info("agent %s (%s) is drained", a->id, a->info->hostname);
        if (d->info->config->has_mark_gone && d->info->config->mark_gone) {
            char *id = xstrdup(d->agent_id);
            delete_record(m, REGISTRY_KIND_AGENT_DRAIN, id);
            delete_record(m, REGISTRY_KIND_AGENT_DEACTIVATED, id);
            drain_free(mt, d);
            agent_mark_gone(m, id);
            free(id);
        }
    }
}

static void tick(evutil_socket_t fd, short what, void *arg)
{
    struct maintenance *mt = arg;
    (void)fd;
    (void)what;
    if (!mt->m->leading)
        return;
    send_inverse_offers(mt);
    advance_drains(mt);
}

/* Whether the master knows the agent at all (registered, back from the
 * registry, or unreachable). */
static int agent_known(struct master *m, const char *id)
{
    return master_find_agent(m, id) != NULL || master_find_recovered(m, id) != NULL ||
           master_find_unreachable(m, id) != NULL;
}

static struct drain *drain_get(struct maintenance *mt, const char *agent_id)
{
    struct drain *d = drain_find(mt, agent_id);
    if (d == NULL) {
        d = XNEW(struct drain);
        d->agent_id = xstrdup(agent_id);
        HASH_ADD_KEYPTR(hh, mt->drains, d->agent_id, strlen(d->agent_id), d);
    }
    return d;
}

static void drain_agent(struct master *m, struct http_request *req,
                        const Tepui__Master__Call__DrainAgent *call)
{
    const char *id = call->agent_id->value;
    if (master_find_gone(m, id) != NULL) {
        http_respond_error(req, 400, "Agent '%s' has been marked gone", id);
        return;
    }
    if (!agent_known(m, id)) {
        http_respond_error(req, 404, "Agent '%s' not found", id);
        return;
    }
    const Google__Protobuf__Duration *g = call->max_grace_period;
    if (g != NULL && (g->seconds < 0 || g->nanos < 0)) {
        http_respond_error(req, 400, "'max_grace_period' must be non-negative");
        return;
    }
    /* It is kept as int64 nanoseconds: a larger one would overflow, and
     * nanos beyond a second is not a valid google.protobuf.Duration. */
    if (g != NULL && (g->seconds > INT64_MAX / 1000000000LL - 1 || g->nanos > 999999999)) {
        http_respond_error(req, 400, "'max_grace_period' is out of range (at most %lld seconds, "
                           "nanos below one second)", (long long)(INT64_MAX / 1000000000LL - 1));
        return;
    }
    struct maintenance *mt = get(m);
    struct drain *d = drain_get(mt, id);
    pb_free(d->info);
    d->info = xmalloc(sizeof(*d->info));
    tepui__drain_info__init(d->info);
    d->info->state = TEPUI__DRAIN_STATE__DRAINING;
    d->info->config = xmalloc(sizeof(*d->info->config));
    tepui__drain_config__init(d->info->config);
    if (g != NULL) {
        d->info->config->max_grace_period = xmalloc(sizeof(Tepui__DurationInfo));
        tepui__duration_info__init(d->info->config->max_grace_period);
        d->info->config->max_grace_period->nanoseconds = g->seconds * 1000000000LL + g->nanos;
    }
    d->info->config->has_mark_gone = 1;
    d->info->config->mark_gone = call->has_mark_gone && call->mark_gone;
    d->kills_stream[0] = '\0';
    put_record(m, REGISTRY_KIND_AGENT_DRAIN, id, &d->info->base);
    put_record(m, REGISTRY_KIND_AGENT_DEACTIVATED, id, NULL);
    log_warn("draining agent %s (max grace period %s, %s)", id,
             g != NULL ? "set" : "unset", d->info->config->mark_gone ? "then gone" : "kept");
    struct agent *a = master_find_agent(m, id);
    if (a != NULL)
        deactivate(a);
    advance_drains(mt);
    master_answer_when_durable(m, req);
}

static void deactivate_agent(struct master *m, struct http_request *req, const char *id)
{
    if (master_find_gone(m, id) != NULL) {
        http_respond_error(req, 400, "Agent '%s' has been marked gone", id);
        return;
    }
    if (!agent_known(m, id)) {
        http_respond_error(req, 404, "Agent '%s' not found", id);
        return;
    }
    drain_get(get(m), id);
    put_record(m, REGISTRY_KIND_AGENT_DEACTIVATED, id, NULL);
    log_warn("deactivating agent %s: no offers for its resources until it is reactivated", id);
    struct agent *a = master_find_agent(m, id);
    if (a != NULL)
        deactivate(a);
    master_answer_when_durable(m, req);
}

static void reactivate_agent(struct master *m, struct http_request *req, const char *id)
{
    if (!agent_known(m, id)) {
        http_respond_error(req, 404, "Agent '%s' not found", id);
        return;
    }
    struct drain *d = drain_find(m->maintenance, id);
    if (d == NULL) {
        http_respond_error(req, 400, "Agent '%s' is not deactivated", id);
        return;
    }
    /* Also ends a drain, as in Mesos. */
    drain_free(m->maintenance, d);
    delete_record(m, REGISTRY_KIND_AGENT_DRAIN, id);
    delete_record(m, REGISTRY_KIND_AGENT_DEACTIVATED, id);
    log_info("reactivating agent %s", id);
    struct agent *a = master_find_agent(m, id);
    if (a != NULL && a->connected && !a->active) {
        a->active = 1;
        allocator_activate_agent(m->allocator, a->id);
    }
    master_answer_when_durable(m, req);
}

int maintenance_agent_deactivated(struct master *m, const char *agent_id)
{
    return drain_find(m->maintenance, agent_id) != NULL;
}

Tepui__DrainInfo *maintenance_drain_info(struct master *m, const char *agent_id)
{
    struct drain *d = drain_find(m->maintenance, agent_id);
    return d != NULL && d->info != NULL ? PB_COPY(Tepui__DrainInfo, d->info) : NULL;
}

void maintenance_agent_registered(struct agent *a)
{
    struct drain *d = drain_find(a->master->maintenance, a->id);
    if (d == NULL)
        return;
    log_info("agent %s (%s) stays deactivated%s", a->id, a->info->hostname,
             d->info != NULL && d->info->state == TEPUI__DRAIN_STATE__DRAINING ? " and draining"
                                                                               : "");
    deactivate(a);
}

const char *maintenance_refuses_agent(struct master *m, const char *hostname, const char *peer)
{
    struct maintenance *mt = m->maintenance;
    if (mt == NULL || mt->machines == NULL)
        return NULL;
    char ip[64];
    snprintf(ip, sizeof(ip), "%s", peer);
    char *colon = strrchr(ip, ':');
    if (colon != NULL)
        *colon = '\0';
    struct machine *mc = machine_of(mt->machines, hostname, ip);
    return mc != NULL && mc->down ? "Machine is DOWN" : NULL;
}

const Tepui__Unavailability *maintenance_unavailability(struct master *m, const struct agent *a)
{
    struct maintenance *mt = m->maintenance;
    if (mt == NULL || mt->machines == NULL)
        return NULL;
    struct machine *mc = machine_of_agent(mt->machines, a);
    return mc != NULL && !mc->down ? mc->unavailability : NULL;
}

/* ---- recovery and stepping down ---- */

void maintenance_recover(struct master *m, const struct registry_state *s)
{
    struct maintenance *mt = get(m);
    struct error err = {0};
    for (size_t i = 0; i < s->n_records; i++) {
        const struct registry_record *r = &s->records[i];
        if (strcmp(r->kind, REGISTRY_KIND_MAINTENANCE_SCHEDULE) != 0)
            continue;
        Schedule *sc = tepui__maintenance__schedule__unpack(NULL, r->len, r->value);
        struct machine *map = NULL;
        if (sc == NULL || schedule_machines(sc, NULL, &map, &err) != 0) {
            log_error("ignoring the maintenance schedule of the registry: %s",
                      sc == NULL ? "it does not decode" : err.msg);
            pb_free(sc);
            continue;
        }
        pb_free(mt->schedule);
        mt->schedule = sc;
        machines_free(&mt->machines);
        mt->machines = map;
    }
    size_t down = 0, drains = 0;
    for (size_t i = 0; i < s->n_records; i++) {
        const struct registry_record *r = &s->records[i];
        if (strcmp(r->kind, REGISTRY_KIND_MACHINE_DOWN) == 0) {
            struct machine *mc = NULL;
            HASH_FIND_STR(mt->machines, r->key, mc);
            if (mc != NULL) {
                mc->down = 1;
                down++;
            }
        } else if (strcmp(r->kind, REGISTRY_KIND_AGENT_DEACTIVATED) == 0) {
            drain_get(mt, r->key);
        } else if (strcmp(r->kind, REGISTRY_KIND_AGENT_DRAIN) == 0) {
            Tepui__DrainInfo *info = tepui__drain_info__unpack(NULL, r->len, r->value);
            if (info == NULL) {
                log_error("ignoring the drain of agent %s in the registry: it does not decode",
                          r->key);
                continue;
            }
            struct drain *d = drain_get(mt, r->key);
            pb_free(d->info);
            d->info = info;
            drains++;
        }
    }
    if (mt->schedule->n_windows > 0 || mt->drains != NULL)
        log_info("maintenance recovered: %u scheduled machine(s), %zu DOWN, %u deactivated "
                 "agent(s), %zu draining or drained",
                 HASH_COUNT(mt->machines), down, HASH_COUNT(mt->drains), drains);
}

void maintenance_forget(struct master *m)
{
    struct maintenance *mt = m->maintenance;
    if (mt == NULL)
        return;
    struct reply *r, *rtmp;
    HASH_ITER(hh, mt->replies, r, rtmp) {
        reply_free(mt, r, 0);
    }
    struct inverse_offer *io, *iotmp;
    HASH_ITER(hh, mt->offers, io, iotmp) {
        inverse_offer_free(mt, io, 0);
    }
    struct drain *d, *dtmp;
    HASH_ITER(hh, mt->drains, d, dtmp) {
        drain_free(mt, d);
    }
    machines_free(&mt->machines);
    pb_free(mt->schedule);
    event_free(mt->timer);
    free(mt);
    m->maintenance = NULL;
}

/* ---- the operator API ---- */

static Schedule *schedule_copy(struct master *m)
{
    if (m->maintenance != NULL)
        return PB_COPY(Schedule, m->maintenance->schedule);
    Schedule *s = xmalloc(sizeof(*s));
    tepui__maintenance__schedule__init(s);
    return s;
}

static void answer(struct master *m, struct http_request *req, int rc, const struct error *err)
{
    if (rc != 0)
        http_respond_error(req, 400, "%s", err->msg);
    else
        master_answer_when_durable(m, req);
}

int maintenance_operator_call(struct master *m, struct http_request *req, const Call *call,
                              enum wire_format fmt)
{
    struct error err = {0};
    switch (call->type) {
    case TEPUI__MASTER__CALL__TYPE__GET_MAINTENANCE_SCHEDULE: {
        Response *r =
            operator_response_new(TEPUI__MASTER__RESPONSE__TYPE__GET_MAINTENANCE_SCHEDULE);
        r->get_maintenance_schedule = xmalloc(sizeof(*r->get_maintenance_schedule));
        tepui__master__response__get_maintenance_schedule__init(r->get_maintenance_schedule);
        r->get_maintenance_schedule->schedule = schedule_copy(m);
        operator_respond(req, fmt, r);
        return 1;
    }
    case TEPUI__MASTER__CALL__TYPE__GET_MAINTENANCE_STATUS: {
        Response *r = operator_response_new(TEPUI__MASTER__RESPONSE__TYPE__GET_MAINTENANCE_STATUS);
        r->get_maintenance_status = xmalloc(sizeof(*r->get_maintenance_status));
        tepui__master__response__get_maintenance_status__init(r->get_maintenance_status);
        r->get_maintenance_status->status = cluster_status(m);
        operator_respond(req, fmt, r);
        return 1;
    }
    case TEPUI__MASTER__CALL__TYPE__UPDATE_MAINTENANCE_SCHEDULE:
        answer(m, req, update_schedule(m, call->update_maintenance_schedule->schedule, &err),
               &err);
        return 1;
    case TEPUI__MASTER__CALL__TYPE__START_MAINTENANCE:
        answer(m, req,
               start_maintenance(m, call->start_maintenance->machines,
                                 call->start_maintenance->n_machines, &err),
               &err);
        return 1;
    case TEPUI__MASTER__CALL__TYPE__STOP_MAINTENANCE:
        answer(m, req,
               stop_maintenance(m, call->stop_maintenance->machines,
                                call->stop_maintenance->n_machines, &err),
               &err);
        return 1;
    case TEPUI__MASTER__CALL__TYPE__DRAIN_AGENT:
        drain_agent(m, req, call->drain_agent);
        return 1;
    case TEPUI__MASTER__CALL__TYPE__DEACTIVATE_AGENT:
        deactivate_agent(m, req, call->deactivate_agent->agent_id->value);
        return 1;
    case TEPUI__MASTER__CALL__TYPE__REACTIVATE_AGENT:
        reactivate_agent(m, req, call->reactivate_agent->agent_id->value);
        return 1;
    default:
        return 0;
    }
}

/* ---- the classic endpoints ---- */

static void respond_json(struct http_request *req, const ProtobufCMessage *msg)
{
    struct buf body = BUF_INIT;
    wire_json_encode(msg, &body);
    http_respond_buf(req, 200, WIRE_MEDIA_JSON, &body);
    buf_free(&body);
}

/* /maintenance/schedule: GET answers the schedule, POST replaces it. */
static void schedule_endpoint(struct http_request *req, void *arg)
{
    struct master *m = arg;
    if (master_redirect_unless_leading(m, req))
        return;
    if (req->method == EVHTTP_REQ_GET) {
        Schedule *s = schedule_copy(m);
        respond_json(req, &s->base);
        pb_free(s);
        return;
    }
    if (req->method != EVHTTP_REQ_POST) {
        http_respond_method_not_allowed(req, "GET, POST");
        return;
    }
    struct error err = {0};
    Schedule *s = (Schedule *)wire_json_decode(&tepui__maintenance__schedule__descriptor,
                                               req->body, req->body_len, &err);
    if (s == NULL) {
        http_respond_error(req, 400, "Failed to parse the maintenance schedule: %s", err.msg);
        return;
    }
    answer(m, req, update_schedule(m, s, &err), &err);
    pb_free(s);
}

static void status_endpoint(struct http_request *req, void *arg)
{
    struct master *m = arg;
    if (master_redirect_unless_leading(m, req))
        return;
    if (!http_require_get(req))
        return;
    Tepui__Maintenance__ClusterStatus *cs = cluster_status(m);
    respond_json(req, &cs->base);
    pb_free(cs);
}

/* The body of /machine/down and /machine/up: a JSON array of MachineIDs,
 * read as the machines of a StartMaintenance. */
static Tepui__Master__Call__StartMaintenance *machine_list(struct http_request *req,
                                                           struct error *err)
{
    json_error_t jerr;
    json_t *v = json_loadb(req->body ? req->body : "", req->body_len, 0, &jerr);
    if (v == NULL) {
        error_set(err, -EINVAL, "Failed to parse the list of machines: %s", jerr.text);
        return NULL;
    }
    if (!json_is_array(v)) {
        json_decref(v);
        error_set(err, -EINVAL, "Expecting a JSON array of machines");
        return NULL;
    }
    json_t *wrap = json_pack("{s:o}", "machines", v);
    struct buf text = BUF_INIT;
    wire_json_dump(wrap, &text);
    json_decref(wrap);
    Tepui__Master__Call__StartMaintenance *list = (Tepui__Master__Call__StartMaintenance *)
        wire_json_decode(&tepui__master__call__start_maintenance__descriptor, text.data,
                         text.len, err);
    buf_free(&text);
    if (list == NULL)
        error_prefix(err, "Failed to parse the list of machines");
    return list;
}

static void machine_endpoint(struct http_request *req, struct master *m, int down)
{
    if (master_redirect_unless_leading(m, req))
        return;
    if (req->method != EVHTTP_REQ_POST) {
        http_respond_method_not_allowed(req, "POST");
        return;
    }
    struct error err = {0};
    Tepui__Master__Call__StartMaintenance *list = machine_list(req, &err);
    if (list == NULL) {
        http_respond_error(req, 400, "%s", err.msg);
        return;
    }
    int rc = down ? start_maintenance(m, list->machines, list->n_machines, &err)
                  : stop_maintenance(m, list->machines, list->n_machines, &err);
    answer(m, req, rc, &err);
    pb_free(list);
}

static void machine_down_endpoint(struct http_request *req, void *arg)
{
    machine_endpoint(req, arg, 1);
}

static void machine_up_endpoint(struct http_request *req, void *arg)
{
    machine_endpoint(req, arg, 0);
}

void maintenance_routes(struct master *m)
{
    static const struct {
        const char *path;
        http_handler_fn fn;
    } routes[] = {
        {"/maintenance/schedule", schedule_endpoint},
        {"/maintenance/status", status_endpoint},
        {"/machine/down", machine_down_endpoint},
        {"/machine/up", machine_up_endpoint},
    };
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        char master_path[64];
        snprintf(master_path, sizeof(master_path), "/master%s", routes[i].path);
        http_server_route(m->http, routes[i].path, routes[i].fn, m);
        http_server_route(m->http, master_path, routes[i].fn, m);
    }
}
