/* Hierarchical DRF allocator. Roles form a tree by their '/'-separated
 * names ("eng/web" is a child of "eng"); siblings are ordered by weighted
 * dominant share of everything their subtree holds, and a role's own
 * frameworks compete with its children as one more sibling, as in Mesos's
 * hierarchical sorter. Per cycle: shuffle the active agents; for each one
 * walk the roles in that fair order and, within a role, the frameworks in
 * fair order; the first framework that is active, not suppressed and not
 * filtering this agent gets everything of the agent that its role may use.
 *
 * With quota configured a cycle has two stages, as Mesos 1.9+: first only
 * roles whose guarantee is not met are offered, and only up to it; then
 * everyone, while enough unreserved resources stay free (headroom) to meet
 * the guarantees still unmet. Limits cut every allocation down to what the
 * role and each of its ancestors may still take. A role's consumption counts
 * its subtree's allocations and its subtree's unallocated reservations.
 * Without quota none of this runs. Allocations are gathered per framework
 * and handed to the master at the end of the cycle, so each framework gets
 * one OFFERS event per cycle. */
#include "master/allocator/allocator.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "master/allocator/sorter.h"

#define LOG_COMPONENT "allocator"

struct alloc_framework;
struct agent_filters;

struct filter_slot {
    const struct alloc_framework *framework;   /* the sort key, kept inline */
    struct agent_filters *filters;
    /* The last "filtered" answer, kept here so that asking again touches no
     * other memory: valid for role hit_role while the agent's generation is
     * hit_generation and until hit_until (the filter's expiry). */
    uint64_t hit_generation;
    uint64_t hit_role;
    double hit_until;
};

struct alloc_agent {
    char *id;
    struct resources total;
    struct resources available;   /* total minus everything allocated */
    uint64_t generation;          /* bumped whenever available changes */
    int active;
    int dirty;                    /* in the allocator's list of agents to visit */
    /* The frameworks filtering this agent, sorted by framework address: the
     * cycle asks "does f filter this agent" for every framework it passes,
     * so the answer is a binary search in one small array. */
    struct filter_slot *filters;
    size_t n_filters, cap_filters;
    UT_hash_handle hh;
};

struct filter {
    char *role;
    struct resources refused;
    double expires;               /* monotonic seconds */
    /* The last answer of "refused holds what the agent has free for this
     * role", valid while the agent's generation is unchanged: a declined
     * agent is usually asked about again and again with nothing changed. */
    uint64_t checked_generation;
    int checked_hit;
    struct filter *next;
};

/* One framework's filters on one agent: in the agent's sorted array and in
 * the framework's table (keyed by agent address, for revive and removal). */
struct agent_filters {
    struct alloc_agent *agent;
    struct alloc_framework *framework;
    struct filter *list;
    UT_hash_handle hh;
};

struct alloc_role;

struct framework_role {
    struct alloc_role *role;
    struct sorter_client *client;   /* in role->frameworks */
    int suppressed;
};

struct alloc_framework {
    char *id;
    struct framework_role *roles;
    size_t n_roles;
    int active;
    struct agent_filters *filters;  /* by agent address */
    struct allocation *pending;     /* this cycle's allocations */
    size_t n_pending, cap_pending;
    UT_hash_handle hh;
};

/* Reservations not allocated to anyone, by the role they are reserved to,
 * each node counting its subtree's: Mesos (1.9+) charges them to a role's
 * quota as if they were allocated, since nobody else can use them. One node
 * per role ever reserved to and its ancestors; never freed before the
 * allocator. */
struct reserved_node {
    char *name;
    struct reserved_node *parent;
    int64_t unallocated[SORTER_MAX_NAMES];   /* thousandths */
    UT_hash_handle hh;
};

/* Weight and quota of a role, kept whether or not the role has frameworks
 * (an operator sets them ahead of time). Never freed before the allocator. */
struct role_config {
    char *name;
    double weight;
    int has_guarantee, has_limit;
    int64_t guarantee[SORTER_MAX_NAMES];   /* thousandths; 0 = none */
    int64_t limit[SORTER_MAX_NAMES];       /* thousandths; -1 = no limit */
    struct reserved_node *reserved;        /* this role's subtree */
    UT_hash_handle hh;
};

struct alloc_role {
    char *name;
    uint64_t serial;              /* never reused, unlike the address */
    struct alloc_role *parent;    /* NULL for a top-level role */
    size_t n_children;
    /* The children's subtrees and this role's own allocation (self) as
     * siblings, ordered among themselves. */
    struct sorter children;
    struct sorter_client *self;
    struct sorter_client *client;   /* the subtree, in the parent's children
                                     * (allocator->roles at the top) */
    struct role_config *config;     /* NULL: weight 1, no quota */
    struct sorter frameworks;
    size_t n_frameworks;
    UT_hash_handle hh;
};

struct allocator {
    struct allocator_options opts;
    struct event_base *base;
    struct event *interval_timer;
    struct event *run_event;
    int run_pending;
    /* What the next event-driven cycle visits: every agent (full_run), or
     * only the agents whose resources changed since the last cycle, as
     * Mesos's allocator does between its interval cycles. */
    int full_run;
    struct alloc_agent **dirty;
    size_t n_dirty, cap_dirty;
    struct sorter_pool pool;
    struct sorter roles;            /* top-level roles */
    struct alloc_role *role_table;
    struct role_config *configs;
    struct reserved_node *reserved;     /* by role name */
    size_t n_quota_roles;           /* configs with a guarantee or limit */
    struct alloc_agent *agents;
    size_t n_agents;
    struct alloc_framework *frameworks;
    struct allocator_metrics metrics;
    unsigned int seed;
    uint64_t role_serial;
    struct alloc_agent **scratch_agents;
    size_t cap_scratch_agents;
    struct alloc_role **scratch_roles;   /* a cycle's role order */
    size_t cap_scratch_roles;
};

/* ---- quantities ---- */

static void quantities_of(struct allocator *a, const struct resources *r, int64_t *q)
{
    memset(q, 0, sizeof(int64_t) * SORTER_MAX_NAMES);
    for (size_t i = 0; i < r->n; i++) {
        if (r->v[i].type != RES_SCALAR)
            continue;
        int idx = sorter_pool_index(&a->pool, r->v[i].name);
        if (idx >= 0)
            q[idx] += r->v[i].scalar;
    }
}

static void pool_update(struct allocator *a, const struct resources *r, int sign)
{
    int64_t q[SORTER_MAX_NAMES];
    quantities_of(a, r, q);
    for (size_t i = 0; i < a->pool.n_names; i++)
        a->pool.total[i] += sign * q[i];
    a->pool.generation++;
}

/* ---- unallocated reservations ---- */

static struct reserved_node *reserved_node_get(struct allocator *a, const char *name)
{
    struct reserved_node *n = NULL;
    HASH_FIND_STR(a->reserved, name, n);
    if (n != NULL)
        return n;
    n = XNEW(struct reserved_node);
    n->name = xstrdup(name);
    const char *slash = strrchr(name, '/');
    if (slash != NULL && slash != name) {
        char *up = xstrndup(name, (size_t)(slash - name));
        n->parent = reserved_node_get(a, up);
        free(up);
    }
    HASH_ADD_KEYPTR(hh, a->reserved, n->name, strlen(n->name), n);
    return n;
}

/* Adds (sign +1) or removes (-1) the reserved, non-revocable scalars of
 * free resources to their role and its ancestors. Called wherever an
 * agent's free part changes; unreserved entries cost one test. */
static void reserved_track(struct allocator *a, const struct resources *free_part, int sign)
{
    struct reserved_node *last = NULL;
    for (size_t i = 0; i < free_part->n; i++) {
        const struct resource *e = &free_part->v[i];
        if (e->reservation_role == NULL || e->type != RES_SCALAR ||
            (e->flags & RES_REVOCABLE) != 0)
            continue;
        int idx = sorter_pool_index(&a->pool, e->name);
        if (idx < 0)
            continue;
        if (last == NULL || strcmp(last->name, e->reservation_role) != 0)
            last = reserved_node_get(a, e->reservation_role);
        for (struct reserved_node *n = last; n != NULL; n = n->parent)
            n->unallocated[idx] += sign * e->scalar;
    }
}

/* ---- roles and frameworks ---- */

static struct role_config *config_find(struct allocator *a, const char *name)
{
    struct role_config *c = NULL;
    HASH_FIND_STR(a->configs, name, c);
    return c;
}

/* The sorter a role's subtree client lives in. */
static struct sorter *role_siblings(struct allocator *a, struct alloc_role *r)
{
    return r->parent != NULL ? &r->parent->children : &a->roles;
}

static double config_weight(const struct role_config *c)
{
    return c != NULL && c->weight > 0 ? c->weight : 1.0;
}

static struct alloc_role *role_get(struct allocator *a, const char *name)
{
    struct alloc_role *r = NULL;
    HASH_FIND_STR(a->role_table, name, r);
    if (r != NULL)
        return r;
    struct alloc_role *parent = NULL;
    const char *slash = strrchr(name, '/');
    if (slash != NULL && slash != name) {
        char *up = xstrndup(name, (size_t)(slash - name));
        parent = role_get(a, up);
        free(up);
    }
    r = XNEW(struct alloc_role);
    r->name = xstrdup(name);
    r->serial = ++a->role_serial;
    r->parent = parent;
    r->config = config_find(a, name);
    sorter_init(&r->frameworks, &a->pool);
    sorter_init(&r->children, &a->pool);
    r->self = sorter_add(&r->children, ".", r);
    r->client = sorter_add(role_siblings(a, r), name, r);
    sorter_set_weight(&r->children, r->self, config_weight(r->config));
    sorter_set_weight(role_siblings(a, r), r->client, config_weight(r->config));
    if (parent != NULL)
        parent->n_children++;
    HASH_ADD_KEYPTR(hh, a->role_table, r->name, strlen(r->name), r);
    return r;
}

static void role_destroy(struct alloc_role *r)
{
    sorter_free(&r->frameworks);
    sorter_free(&r->children);
    free(r->name);
    free(r);
}

/* Forgets a role that has no framework, no child and no allocation (its
 * weight and quota stay in its config), then its parent if that is now
 * unused too. */
static void role_release_if_unused(struct allocator *a, struct alloc_role *r)
{
    while (r != NULL) {
        if (r->n_frameworks > 0 || r->n_children > 0)
            return;
        for (size_t i = 0; i < a->pool.n_names; i++)
            if (r->client->allocated[i] != 0)
                return;
        struct alloc_role *parent = r->parent;
        HASH_DEL(a->role_table, r);
        sorter_remove(role_siblings(a, r), r->client);
        if (parent != NULL)
            parent->n_children--;
        role_destroy(r);
        r = parent;
    }
}

/* Adds (sign +1) or removes (-1) quantities held by the role itself: its
 * own share among its children, and its subtree's at every level up. */
static void role_charge(struct allocator *a, struct alloc_role *r, const int64_t *q, int sign)
{
    sorter_update(&r->children, r->self, q, sign);
    for (struct alloc_role *x = r; x != NULL; x = x->parent)
        sorter_update(role_siblings(a, x), x->client, q, sign);
}

static struct alloc_framework *framework_find(struct allocator *a, const char *id)
{
    struct alloc_framework *f = NULL;
    HASH_FIND_STR(a->frameworks, id, f);
    return f;
}

static struct framework_role *framework_role_find(struct alloc_framework *f, const char *role)
{
    for (size_t i = 0; i < f->n_roles; i++)
        if (strcmp(f->roles[i].role->name, role) == 0)
            return &f->roles[i];
    return NULL;
}

static void framework_join_role(struct allocator *a, struct alloc_framework *f, const char *name)
{
    struct alloc_role *r = role_get(a, name);
    f->roles = xrealloc(f->roles, (f->n_roles + 1) * sizeof(*f->roles));
    struct framework_role *fr = &f->roles[f->n_roles++];
    fr->role = r;
    fr->client = sorter_add(&r->frameworks, f->id, f);
    fr->suppressed = 0;
    sorter_set_active(&r->frameworks, fr->client, f->active);
    r->n_frameworks++;
}

static void framework_leave_role(struct allocator *a, struct alloc_framework *f, size_t i)
{
    struct framework_role *fr = &f->roles[i];
    struct alloc_role *r = fr->role;
    /* Whatever is still attributed to it in this role leaves the role too. */
    role_charge(a, r, fr->client->allocated, -1);
    sorter_remove(&r->frameworks, fr->client);
    r->n_frameworks--;
    memmove(&f->roles[i], &f->roles[i + 1], (f->n_roles - i - 1) * sizeof(*f->roles));
    f->n_roles--;
    role_release_if_unused(a, r);
}

static void filter_free(struct filter *flt)
{
    free(flt->role);
    resources_free(&flt->refused);
    free(flt);
}

/* Index in ag->filters of framework f, or where it would go. */
static size_t agent_filters_search(const struct alloc_agent *ag, const struct alloc_framework *f,
                                   int *found)
{
    size_t lo = 0, hi = ag->n_filters;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct alloc_framework *m = ag->filters[mid].framework;
        if (m == f) {
            *found = 1;
            return mid;
        }
        if ((uintptr_t)m < (uintptr_t)f)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = 0;
    return lo;
}

static struct agent_filters *agent_filters_get(struct alloc_agent *ag, struct alloc_framework *f)
{
    int found;
    size_t i = agent_filters_search(ag, f, &found);
    if (found)
        return ag->filters[i].filters;
    struct agent_filters *af = XNEW(struct agent_filters);
    af->agent = ag;
    af->framework = f;
    if (ag->n_filters == ag->cap_filters) {
        ag->cap_filters = ag->cap_filters ? ag->cap_filters * 2 : 4;
        ag->filters = xrealloc(ag->filters, ag->cap_filters * sizeof(*ag->filters));
    }
    memmove(&ag->filters[i + 1], &ag->filters[i], (ag->n_filters - i) * sizeof(*ag->filters));
    ag->filters[i] = (struct filter_slot){.framework = f, .filters = af};
    ag->n_filters++;
    HASH_ADD_PTR(f->filters, agent, af);
    return af;
}

/* Frees the node and every filter in it. */
static void agent_filters_drop(struct agent_filters *af)
{
    struct alloc_agent *ag = af->agent;
    int found;
    size_t i = agent_filters_search(ag, af->framework, &found);
    if (found) {
        memmove(&ag->filters[i], &ag->filters[i + 1], (ag->n_filters - i - 1) * sizeof(*ag->filters));
        ag->n_filters--;
    }
    HASH_DEL(af->framework->filters, af);
    while (af->list != NULL) {
        struct filter *flt = af->list;
        af->list = flt->next;
        filter_free(flt);
    }
    free(af);
}

static void filters_clear(struct alloc_framework *f, const char *role)
{
    struct agent_filters *af, *tmp;
    HASH_ITER(hh, f->filters, af, tmp) {
        int removed = 0;
        struct filter **pp = &af->list;
        while (*pp != NULL) {
            struct filter *flt = *pp;
            if (role == NULL || strcmp(flt->role, role) == 0) {
                *pp = flt->next;
                filter_free(flt);
                removed = 1;
            } else {
                pp = &flt->next;
            }
        }
        if (af->list == NULL) {
            agent_filters_drop(af);
        } else if (removed) {
            int found;
            size_t i = agent_filters_search(af->agent, f, &found);
            if (found)
                af->agent->filters[i].hit_generation = 0;
        }
    }
}

void allocator_add_framework(struct allocator *a, const char *framework_id, char *const *roles,
                             size_t n_roles, int active)
{
    if (framework_find(a, framework_id) != NULL)
        return;
    struct alloc_framework *f = XNEW(struct alloc_framework);
    f->id = xstrdup(framework_id);
    f->active = active;
    HASH_ADD_KEYPTR(hh, a->frameworks, f->id, strlen(f->id), f);
    for (size_t i = 0; i < n_roles; i++)
        framework_join_role(a, f, roles[i]);
    if (active)
        allocator_request_run(a);
}

void allocator_update_framework_roles(struct allocator *a, const char *framework_id,
                                      char *const *roles, size_t n_roles)
{
    struct alloc_framework *f = framework_find(a, framework_id);
    if (f == NULL)
        return;
    for (size_t i = f->n_roles; i-- > 0;) {
        int keep = 0;
        for (size_t j = 0; j < n_roles; j++)
            keep |= strcmp(f->roles[i].role->name, roles[j]) == 0;
        if (!keep) {
            filters_clear(f, f->roles[i].role->name);
            framework_leave_role(a, f, i);
        }
    }
    for (size_t j = 0; j < n_roles; j++)
        if (framework_role_find(f, roles[j]) == NULL)
            framework_join_role(a, f, roles[j]);
    allocator_request_run(a);
}

void allocator_remove_framework(struct allocator *a, const char *framework_id)
{
    struct alloc_framework *f = framework_find(a, framework_id);
    if (f == NULL)
        return;
    filters_clear(f, NULL);
    while (f->n_roles > 0)
        framework_leave_role(a, f, f->n_roles - 1);
    HASH_DEL(a->frameworks, f);
    free(f->roles);
    free(f->pending);
    free(f->id);
    free(f);
}

static void framework_set_active(struct allocator *a, const char *framework_id, int active)
{
    struct alloc_framework *f = framework_find(a, framework_id);
    if (f == NULL)
        return;
    f->active = active;
    for (size_t i = 0; i < f->n_roles; i++)
        sorter_set_active(&f->roles[i].role->frameworks, f->roles[i].client, active);
    if (active)
        allocator_request_run(a);
}

void allocator_activate_framework(struct allocator *a, const char *id)
{
    framework_set_active(a, id, 1);
}

void allocator_deactivate_framework(struct allocator *a, const char *id)
{
    framework_set_active(a, id, 0);
}

static int role_selected(const char *role, char *const *roles, size_t n)
{
    if (n == 0)
        return 1;
    for (size_t i = 0; i < n; i++)
        if (strcmp(roles[i], role) == 0)
            return 1;
    return 0;
}

void allocator_suppress(struct allocator *a, const char *framework_id, char *const *roles, size_t n)
{
    struct alloc_framework *f = framework_find(a, framework_id);
    if (f == NULL)
        return;
    for (size_t i = 0; i < f->n_roles; i++)
        if (role_selected(f->roles[i].role->name, roles, n))
            f->roles[i].suppressed = 1;
}

void allocator_revive(struct allocator *a, const char *framework_id, char *const *roles, size_t n)
{
    struct alloc_framework *f = framework_find(a, framework_id);
    if (f == NULL)
        return;
    for (size_t i = 0; i < f->n_roles; i++) {
        if (!role_selected(f->roles[i].role->name, roles, n))
            continue;
        f->roles[i].suppressed = 0;
        filters_clear(f, f->roles[i].role->name);
    }
    allocator_request_run(a);
}

/* ---- agents ---- */

static void request_agent_run(struct allocator *a, struct alloc_agent *ag);

static struct alloc_agent *agent_find(struct allocator *a, const char *id)
{
    struct alloc_agent *ag = NULL;
    HASH_FIND_STR(a->agents, id, ag);
    return ag;
}

void allocator_add_agent(struct allocator *a, const char *agent_id, const struct resources *total)
{
    if (agent_find(a, agent_id) != NULL)
        return;
    struct alloc_agent *ag = XNEW(struct alloc_agent);
    ag->id = xstrdup(agent_id);
    resources_copy(&ag->total, total);
    resources_copy(&ag->available, total);
    ag->generation = 1;
    ag->active = 1;
    HASH_ADD_KEYPTR(hh, a->agents, ag->id, strlen(ag->id), ag);
    a->n_agents++;
    pool_update(a, total, +1);
    reserved_track(a, &ag->available, +1);
    request_agent_run(a, ag);
}

void allocator_remove_agent(struct allocator *a, const char *agent_id)
{
    struct alloc_agent *ag = agent_find(a, agent_id);
    if (ag == NULL)
        return;
    pool_update(a, &ag->total, -1);
    reserved_track(a, &ag->available, -1);
    while (ag->n_filters > 0)
        agent_filters_drop(ag->filters[ag->n_filters - 1].filters);
    free(ag->filters);
    if (ag->dirty) {
        size_t i = 0;
        while (a->dirty[i] != ag)
            i++;
        a->dirty[i] = a->dirty[--a->n_dirty];
    }
    HASH_DEL(a->agents, ag);
    a->n_agents--;
    resources_free(&ag->total);
    resources_free(&ag->available);
    free(ag->id);
    free(ag);
}

void allocator_activate_agent(struct allocator *a, const char *agent_id)
{
    struct alloc_agent *ag = agent_find(a, agent_id);
    if (ag != NULL) {
        ag->active = 1;
        request_agent_run(a, ag);
    }
}

void allocator_deactivate_agent(struct allocator *a, const char *agent_id)
{
    struct alloc_agent *ag = agent_find(a, agent_id);
    if (ag != NULL)
        ag->active = 0;
}

/* Attributes resources to a framework in the sorters, split by the
 * allocation role each entry carries. */
static void attribute(struct allocator *a, struct alloc_framework *f, const struct resources *res,
                      int sign)
{
    for (size_t i = 0; i < res->n; i++) {
        const char *role = res->v[i].allocation_role;
        if (role == NULL || res->v[i].type != RES_SCALAR)
            continue;
        int idx = sorter_pool_index(&a->pool, res->v[i].name);
        if (idx < 0)
            continue;
        int64_t q[SORTER_MAX_NAMES] = {0};
        q[idx] = res->v[i].scalar;
        struct alloc_role *r = NULL;
        HASH_FIND_STR(a->role_table, role, r);
        if (r == NULL) {
            if (sign < 0)
                continue;
            r = role_get(a, role);
        }
        role_charge(a, r, q, sign);
        struct framework_role *fr = f ? framework_role_find(f, role) : NULL;
        if (fr != NULL)
            sorter_update(&r->frameworks, fr->client, q, sign);
    }
}

void allocator_update_agent_total(struct allocator *a, const char *agent_id,
                                  const struct resources *total)
{
    struct alloc_agent *ag = agent_find(a, agent_id);
    if (ag == NULL)
        return;
    struct resources allocated = RESOURCES_INIT;
    resources_copy(&allocated, &ag->total);
    resources_subtract(&allocated, &ag->available);
    pool_update(a, &ag->total, -1);
    resources_copy(&ag->total, total);
    pool_update(a, &ag->total, +1);
    reserved_track(a, &ag->available, -1);
    resources_copy(&ag->available, total);
    resources_subtract(&ag->available, &allocated);
    reserved_track(a, &ag->available, +1);
    resources_free(&allocated);
    ag->generation++;
    sorter_invalidate(&a->roles);
    request_agent_run(a, ag);
}

void allocator_update_allocation(struct allocator *a, const char *framework_id,
                                 const char *agent_id, const struct resources *from,
                                 const struct resources *to)
{
    struct alloc_agent *ag = agent_find(a, agent_id);
    struct alloc_framework *f = framework_find(a, framework_id);
    attribute(a, f, from, -1);
    attribute(a, f, to, +1);
    if (ag == NULL)
        return;
    struct resources plain = RESOURCES_INIT;
    pool_update(a, &ag->total, -1);
    resources_copy(&plain, from);
    resources_set_allocation_role(&plain, NULL);
    resources_subtract(&ag->total, &plain);
    resources_copy(&plain, to);
    resources_set_allocation_role(&plain, NULL);
    resources_add(&ag->total, &plain);
    pool_update(a, &ag->total, +1);
    resources_free(&plain);
    ag->generation++;
}

void allocator_add_used(struct allocator *a, const char *framework_id, const char *agent_id,
                        const struct resources *used)
{
    struct alloc_agent *ag = agent_find(a, agent_id);
    if (ag == NULL)
        return;
    struct resources plain = RESOURCES_INIT;
    resources_copy(&plain, used);
    resources_set_allocation_role(&plain, NULL);
    reserved_track(a, &ag->available, -1);
    resources_subtract(&ag->available, &plain);
    reserved_track(a, &ag->available, +1);
    ag->generation++;
    resources_free(&plain);
    attribute(a, framework_find(a, framework_id), used, +1);
}

void allocator_recover(struct allocator *a, const char *framework_id, const char *agent_id,
                       const struct resources *res, double refuse_seconds)
{
    struct alloc_framework *f = framework_find(a, framework_id);
    struct alloc_agent *ag = agent_find(a, agent_id);
    attribute(a, f, res, -1);
    if (ag == NULL)
        return;
    struct resources plain = RESOURCES_INIT;
    resources_copy(&plain, res);
    resources_set_allocation_role(&plain, NULL);
    resources_add(&ag->available, &plain);
    reserved_track(a, &plain, +1);
    ag->generation++;
    if (f != NULL && refuse_seconds > 0 && !resources_empty(&plain)) {
        /* One filter per role the resources were allocated to. */
        for (size_t i = 0; i < res->n; i++) {
            const char *role = res->v[i].allocation_role ? res->v[i].allocation_role : "*";
            int seen = 0;
            for (size_t j = 0; j < i; j++) {
                const char *other = res->v[j].allocation_role ? res->v[j].allocation_role : "*";
                seen |= strcmp(other, role) == 0;
            }
            if (seen)
                continue;
            struct filter *flt = XNEW(struct filter);
            flt->role = xstrdup(role);
            resources_init(&flt->refused);
            for (size_t j = 0; j < res->n; j++) {
                const char *other = res->v[j].allocation_role ? res->v[j].allocation_role : "*";
                if (strcmp(other, role) == 0)
                    resources_add_one(&flt->refused, &res->v[j]);
            }
            resources_set_allocation_role(&flt->refused, NULL);
            flt->expires = clock_mono() + refuse_seconds;
            struct agent_filters *af = agent_filters_get(ag, f);
            flt->next = af->list;
            af->list = flt;
        }
    }
    resources_free(&plain);
    /* A decline without a filter is offered again at the next interval, not
     * in a tight loop; everything else may go to someone at once. */
    if (refuse_seconds != 0)
        request_agent_run(a, ag);
}

/* ---- the cycle ---- */

/* The framework's filter slot on the agent, NULL when it filters nothing
 * there. */
static struct filter_slot *filter_slot_find(struct alloc_agent *ag, const struct alloc_framework *f)
{
    if (ag->n_filters == 0)
        return NULL;
    int found;
    size_t i = agent_filters_search(ag, f, &found);
    return found ? &ag->filters[i] : NULL;
}

/* Whether the slot remembers "filtered" for this role at the agent's
 * current generation: the answer needs no look at the resources. */
static int filter_hit_remembered(const struct filter_slot *slot, const struct alloc_agent *ag,
                                 const struct alloc_role *r, double now)
{
    return slot != NULL && slot->hit_generation == ag->generation &&
           slot->hit_role == r->serial && now < slot->hit_until;
}

static int filtered(struct alloc_framework *f, struct alloc_agent *ag, const struct alloc_role *r,
                    const struct resources *avail, double now)
{
    struct filter_slot *slot = filter_slot_find(ag, f);
    if (slot == NULL)
        return 0;
    if (filter_hit_remembered(slot, ag, r, now))
        return 1;
    struct agent_filters *af = slot->filters;
    const char *role = r->name;
    int hit = 0;
    double hit_until = 0;
    struct filter **pp = &af->list;
    while (*pp != NULL) {
        struct filter *flt = *pp;
        if (flt->expires <= now) {
            *pp = flt->next;
            filter_free(flt);
            continue;
        }
        if (!hit && strcmp(flt->role, role) == 0) {
            if (flt->checked_generation != ag->generation) {
                flt->checked_hit = resources_contains(&flt->refused, avail);
                flt->checked_generation = ag->generation;
            }
            hit = flt->checked_hit;
            hit_until = flt->expires;
        }
        pp = &flt->next;
    }
    if (af->list == NULL) {
        agent_filters_drop(af);
    } else if (hit) {
        slot->hit_generation = ag->generation;
        slot->hit_role = r->serial;
        slot->hit_until = hit_until;
    }
    return hit;
}

static int allocatable(const struct allocator *a, const struct resources *r)
{
    if (resources_empty(r))
        return 0;
    if (a->opts.n_min_allocatable == 0)
        return 1;
    for (size_t i = 0; i < a->opts.n_min_allocatable; i++) {
        const struct resources *alt = &a->opts.min_allocatable[i];
        int ok = 1;
        for (size_t j = 0; j < alt->n && ok; j++)
            if (alt->v[j].type == RES_SCALAR &&
                resources_scalar(r, alt->v[j].name) < alt->v[j].scalar)
                ok = 0;
        if (ok)
            return 1;
    }
    return 0;
}

static struct allocation *give(struct allocator *a, struct alloc_framework *f,
                               struct alloc_agent *ag, struct alloc_role *r, struct resources *res)
{
    if (f->n_pending == f->cap_pending) {
        f->cap_pending = f->cap_pending ? f->cap_pending * 2 : 8;
        f->pending = xrealloc(f->pending, f->cap_pending * sizeof(*f->pending));
    }
    resources_subtract(&ag->available, res);
    reserved_track(a, res, -1);
    ag->generation++;
    resources_set_allocation_role(res, r->name);
    struct allocation *al = &f->pending[f->n_pending++];
    al->agent_id = ag->id;
    al->role = r->name;
    al->resources = *res;   /* takes ownership */
    attribute(a, f, &al->resources, +1);
    return al;
}

static void shuffle(struct alloc_agent **v, size_t n, unsigned int *seed)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)rand_r(seed) % i;
        struct alloc_agent *t = v[i - 1];
        v[i - 1] = v[j];
        v[j] = t;
    }
}

/* ---- role order ---- */

/* Appends the roles of a sorter's subtree to the cycle's order: siblings
 * by weighted share, a role with children expanded in place (its own
 * frameworks, the self entry, ranked among its children). */
static void role_order_into(struct allocator *a, struct sorter *s, struct alloc_role *owner,
                            size_t *n)
{
    size_t k = 0;
    struct sorter_client **v = sorter_sorted(s, &k);
    for (size_t i = 0; i < k; i++) {
        struct alloc_role *r = v[i]->data;
        if (owner != NULL && v[i] == owner->self)
            a->scratch_roles[(*n)++] = owner;
        else if (r->n_children == 0)
            a->scratch_roles[(*n)++] = r;
        else
            role_order_into(a, &r->children, r, n);
    }
}

static size_t role_order(struct allocator *a)
{
    size_t n = 0;
    role_order_into(a, &a->roles, NULL, &n);
    return n;
}

/* ---- quota during a cycle ---- */

struct quota_cycle {
    int on;                                /* some role has a guarantee or limit */
    /* Unreserved, non-revocable resources free on the agents of the cycle. */
    int64_t headroom[SORTER_MAX_NAMES];
    /* What guarantees still lack (top-most guaranteed roles only: a
     * parent's guarantee covers its children's). */
    int64_t required[SORTER_MAX_NAMES];
    struct role_config **guaranteed;       /* those top-most roles */
    size_t n_guaranteed;
};

static int counts_for_headroom(const struct resource *e)
{
    return e->type == RES_SCALAR && e->reservation_role == NULL &&
           (e->flags & RES_REVOCABLE) == 0;
}

static int has_guaranteed_ancestor(struct allocator *a, const char *name)
{
    char *up = xstrdup(name);
    int found = 0;
    char *slash;
    while (!found && (slash = strrchr(up, '/')) != NULL) {
        *slash = '\0';
        struct role_config *c = config_find(a, up);
        found = c != NULL && c->has_guarantee;
    }
    free(up);
    return found;
}

/* What counts towards a role's quota, as Mesos 1.9+: everything its
 * subtree is allocated plus the reservations to its subtree that nobody is
 * allocated. r may be NULL (a role with no framework or allocation). */
static int64_t quota_consumed(const struct alloc_role *r, const struct role_config *c, size_t i)
{
    int64_t held = r != NULL ? r->client->allocated[i] : 0;
    return held + c->reserved->unallocated[i];
}

static void quota_required(struct allocator *a, struct quota_cycle *qc)
{
    memset(qc->required, 0, sizeof(qc->required));
    for (size_t k = 0; k < qc->n_guaranteed; k++) {
        const struct role_config *c = qc->guaranteed[k];
        struct alloc_role *r = NULL;
        HASH_FIND_STR(a->role_table, c->name, r);
        for (size_t i = 0; i < a->pool.n_names; i++) {
            int64_t consumed = quota_consumed(r, c, i);
            if (c->guarantee[i] > consumed)
                qc->required[i] += c->guarantee[i] - consumed;
        }
    }
}

static void quota_cycle_begin(struct allocator *a, struct quota_cycle *qc,
                              struct alloc_agent *const *agents, size_t n)
{
    memset(qc, 0, sizeof(*qc));
    qc->on = a->n_quota_roles > 0;
    if (!qc->on)
        return;
    qc->guaranteed = xcalloc(a->n_quota_roles, sizeof(*qc->guaranteed));
    struct role_config *c, *tmp;
    HASH_ITER(hh, a->configs, c, tmp) {
        if (c->has_guarantee && !has_guaranteed_ancestor(a, c->name))
            qc->guaranteed[qc->n_guaranteed++] = c;
    }
    quota_required(a, qc);
    for (size_t k = 0; k < n; k++) {
        const struct resources *av = &agents[k]->available;
        for (size_t i = 0; i < av->n; i++) {
            if (!counts_for_headroom(&av->v[i]))
                continue;
            int idx = sorter_pool_index(&a->pool, av->v[i].name);
            if (idx >= 0)
                qc->headroom[idx] += av->v[i].scalar;
        }
    }
}

/* Whether a role's own guarantee is not met yet (stage one offers it). */
static int guarantee_unmet(const struct allocator *a, const struct alloc_role *r)
{
    const struct role_config *c = r->config;
    if (c == NULL || !c->has_guarantee)
        return 0;
    for (size_t i = 0; i < a->pool.n_names; i++)
        if (c->guarantee[i] > quota_consumed(r, c, i))
            return 1;
    return 0;
}

/* How much of each unreserved scalar the role may be given now: within
 * every limit up its path; in stage one at most what its guarantee lacks;
 * and never so much that the headroom for unmet guarantees runs short
 * (except what is the role's own guarantee, in stage one). Returns 0 when
 * nothing caps anything. */
static int role_budget(const struct allocator *a, const struct alloc_role *r,
                       const struct quota_cycle *qc, int stage1, int64_t *budget)
{
    int capped = 0;
    for (size_t i = 0; i < SORTER_MAX_NAMES; i++)
        budget[i] = INT64_MAX;
    for (const struct alloc_role *x = r; x != NULL; x = x->parent) {
        const struct role_config *c = x->config;
        if (c == NULL || !c->has_limit)
            continue;
        for (size_t i = 0; i < a->pool.n_names; i++) {
            if (c->limit[i] < 0)
                continue;
            int64_t left = c->limit[i] - quota_consumed(x, c, i);
            if (left < 0)
                left = 0;
            if (left < budget[i])
                budget[i] = left;
            capped = 1;
        }
    }
    const struct role_config *own = r->config;
    for (size_t i = 0; i < a->pool.n_names; i++) {
        int64_t cap = INT64_MAX;
        if (stage1 && own != NULL && own->guarantee[i] > 0) {
            cap = own->guarantee[i] - quota_consumed(r, own, i);
            if (cap < 0)
                cap = 0;
        } else if (qc->required[i] > 0) {
            cap = qc->headroom[i] - qc->required[i];
            if (cap < 0)
                cap = 0;
        }
        if (cap < budget[i]) {
            budget[i] = cap;
            capped = 1;
        }
    }
    return capped;
}

/* out = in with unreserved, non-revocable scalars cut to the budget
 * (spending it). Reserved resources are the role's already and count
 * against nothing here; resources that cannot be split (volumes, shared
 * resources) go whole or not at all. */
static void shrink_to_budget(struct allocator *a, const struct resources *in, int64_t *budget,
                             struct resources *out)
{
    resources_free(out);
    for (size_t i = 0; i < in->n; i++) {
        const struct resource *e = &in->v[i];
        if (!counts_for_headroom(e)) {
            resources_add_one(out, e);
            continue;
        }
        int idx = sorter_pool_index(&a->pool, e->name);
        if (idx < 0 || budget[idx] == INT64_MAX) {
            resources_add_one(out, e);
            continue;
        }
        int64_t take = e->scalar < budget[idx] ? e->scalar : budget[idx];
        if (take < e->scalar && (e->flags & (RES_SHARED | RES_EXCLUSIVE)) != 0)
            take = 0;
        if (take <= 0)
            continue;
        struct resource part = *e;
        part.scalar = take;
        resources_add_one(out, &part);
        budget[idx] -= take;
    }
}

static int under_guarantee(const struct alloc_role *r)
{
    for (; r != NULL; r = r->parent)
        if (r->config != NULL && r->config->has_guarantee)
            return 1;
    return 0;
}

static void quota_after_give(struct allocator *a, struct quota_cycle *qc,
                             const struct alloc_role *r, const struct resources *given)
{
    for (size_t i = 0; i < given->n; i++) {
        if (!counts_for_headroom(&given->v[i]))
            continue;
        int idx = sorter_pool_index(&a->pool, given->v[i].name);
        if (idx >= 0)
            qc->headroom[idx] -= given->v[i].scalar;
    }
    if (under_guarantee(r))
        quota_required(a, qc);
}

/* ---- the cycle ---- */

/* The framework's place in role r, or NULL when it may not be offered
 * anything in r now (suppressed). */
static struct framework_role *candidate_role(struct alloc_framework *f, const struct alloc_role *r)
{
    for (size_t m = 0; m < f->n_roles; m++)
        if (f->roles[m].role == r)
            return f->roles[m].suppressed ? NULL : &f->roles[m];
    return NULL;
}

/* Index in fws of the first framework that may want this agent in role
 * r, skipping those whose filter already answered "filtered" at the
 * agent's generation; n when there is none. This asks nothing of the
 * resources, so a role whose frameworks all declined the agent costs no
 * computing of what it could be offered (reservations, quota budget). */
static size_t first_candidate(struct alloc_agent *ag, const struct alloc_role *r,
                              struct sorter_client *const *fws, size_t n, double now)
{
    for (size_t j = 0; j < n; j++) {
        if (!fws[j]->active)
            return n;   /* inactive clients sort last */
        struct alloc_framework *f = fws[j]->data;
        if (candidate_role(f, r) == NULL)
            continue;
        if (!filter_hit_remembered(filter_slot_find(ag, f), ag, r, now))
            return j;
    }
    return n;
}

/* Offers what is free on one agent, role by role in fair order. */
static void allocate_agent(struct allocator *a, struct alloc_agent *ag, struct quota_cycle *qc,
                           int stage1, double now, struct resources *avail)
{
    /* The role order of this agent is fixed before it is handed out, so
     * a role that gains from it is not visited twice. */
    size_t n_roles = role_order(a);
    int64_t budget[SORTER_MAX_NAMES];
    for (size_t k = 0; k < n_roles && !resources_empty(&ag->available); k++) {
        struct alloc_role *r = a->scratch_roles[k];
        if (r->n_frameworks == 0)
            continue;
        if (stage1 && !guarantee_unmet(a, r))
            continue;
        size_t n_fw = 0;
        struct sorter_client **fws = sorter_sorted(&r->frameworks, &n_fw);
        size_t first = first_candidate(ag, r, fws, n_fw, now);
        if (first == n_fw)
            continue;
        resources_allocatable_to(&ag->available, r->name, avail);
        if (qc->on && role_budget(a, r, qc, stage1, budget)) {
            struct resources cut = RESOURCES_INIT;
            shrink_to_budget(a, avail, budget, &cut);
            resources_free(avail);
            *avail = cut;
        }
        if (!allocatable(a, avail))
            continue;
        for (size_t j = first; j < n_fw; j++) {
            struct sorter_client *c = fws[j];
            if (!c->active)
                break;   /* inactive clients sort last */
            struct alloc_framework *f = c->data;
            if (candidate_role(f, r) == NULL)
                continue;
            if (filtered(f, ag, r, avail, now))
                continue;
            struct resources give_res = *avail;
            resources_init(avail);
            struct allocation *al = give(a, f, ag, r, &give_res);
            if (qc->on)
                quota_after_give(a, qc, r, &al->resources);
            sorter_reposition(&r->frameworks, j);
            r->frameworks.dirty = 0;
            break;
        }
    }
}

/* One cycle over every active agent with free resources (full), or over
 * those of them whose resources changed since the last cycle. Quota makes
 * every cycle full: its headroom is worked out over all agents. */
static void run_cycle(struct allocator *a, int full)
{
    int64_t t0 = clock_mono_ns();
    double now = clock_mono();
    a->run_pending = 0;
    full |= a->full_run || a->n_quota_roles > 0;
    a->full_run = 0;

    if (a->cap_scratch_agents < a->n_agents) {
        a->cap_scratch_agents = a->n_agents;
        a->scratch_agents = xrealloc(a->scratch_agents, a->n_agents * sizeof(*a->scratch_agents));
    }
    size_t n_roles = HASH_COUNT(a->role_table);
    if (a->cap_scratch_roles < n_roles) {
        a->cap_scratch_roles = n_roles;
        a->scratch_roles = xrealloc(a->scratch_roles, n_roles * sizeof(*a->scratch_roles));
    }
    size_t n = 0;
    if (full) {
        struct alloc_agent *ag, *tmp;
        HASH_ITER(hh, a->agents, ag, tmp) {
            if (ag->active && !resources_empty(&ag->available))
                a->scratch_agents[n++] = ag;
        }
    } else {
        for (size_t i = 0; i < a->n_dirty; i++)
            if (a->dirty[i]->active && !resources_empty(&a->dirty[i]->available))
                a->scratch_agents[n++] = a->dirty[i];
    }
    for (size_t i = 0; i < a->n_dirty; i++)
        a->dirty[i]->dirty = 0;
    a->n_dirty = 0;
    shuffle(a->scratch_agents, n, &a->seed);

    struct quota_cycle qc;
    quota_cycle_begin(a, &qc, a->scratch_agents, n);
    struct resources avail = RESOURCES_INIT;
    /* Stage one: guarantees first. */
    int unmet = 0;
    for (size_t i = 0; i < a->pool.n_names; i++)
        unmet |= qc.required[i] > 0;
    if (unmet)
        for (size_t i = 0; i < n; i++)
            allocate_agent(a, a->scratch_agents[i], &qc, 1, now, &avail);
    for (size_t i = 0; i < n; i++)
        allocate_agent(a, a->scratch_agents[i], &qc, 0, now, &avail);
    resources_free(&avail);
    free(qc.guaranteed);

    struct alloc_framework *f, *ftmp;
    HASH_ITER(hh, a->frameworks, f, ftmp) {
        if (f->n_pending == 0)
            continue;
        size_t np = f->n_pending;
        struct allocation *pending = f->pending;
        f->pending = NULL;
        f->n_pending = f->cap_pending = 0;
        if (a->opts.offer != NULL)
            a->opts.offer(a->opts.arg, f->id, pending, np);
        for (size_t i = 0; i < np; i++)
            resources_free(&pending[i].resources);
        free(pending);
    }

    double ms = (double)(clock_mono_ns() - t0) / 1e6;
    a->metrics.allocation_runs++;
    a->metrics.last_run_ms = ms;
    a->metrics.total_run_ms += ms;
}

void allocator_run(struct allocator *a)
{
    run_cycle(a, 1);
}

static void interval_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    run_cycle(arg, 1);
}

static void event_run_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    run_cycle(arg, 0);
}

static void schedule_run(struct allocator *a)
{
    if (a->run_event == NULL || a->run_pending)
        return;
    a->run_pending = 1;
    event_active(a->run_event, EV_TIMEOUT, 0);
}

void allocator_request_run(struct allocator *a)
{
    a->full_run = 1;
    schedule_run(a);
}

static void request_agent_run(struct allocator *a, struct alloc_agent *ag)
{
    if (!ag->dirty) {
        if (a->n_dirty == a->cap_dirty) {
            a->cap_dirty = a->cap_dirty ? 2 * a->cap_dirty : 64;
            a->dirty = xrealloc(a->dirty, a->cap_dirty * sizeof(*a->dirty));
        }
        ag->dirty = 1;
        a->dirty[a->n_dirty++] = ag;
    }
    schedule_run(a);
}

/* ---- lifecycle ---- */

struct allocator *allocator_new(struct event_base *base, const struct allocator_options *opts)
{
    struct allocator *a = XNEW(struct allocator);
    a->opts = *opts;
    a->base = base;
    a->seed = (unsigned int)clock_mono_ns();
    sorter_init(&a->roles, &a->pool);
    /* The fairness dimensions Mesos weighs first. */
    sorter_pool_index(&a->pool, "cpus");
    sorter_pool_index(&a->pool, "mem");
    sorter_pool_index(&a->pool, "disk");
    sorter_pool_index(&a->pool, "gpus");
    if (base != NULL) {
        a->run_event = event_new(base, -1, 0, event_run_cb, a);
        if (opts->allocation_interval > 0) {
            a->interval_timer = event_new(base, -1, EV_PERSIST, interval_cb, a);
            double iv = opts->allocation_interval;
            struct timeval tv = clock_timeval(iv);
            event_add(a->interval_timer, &tv);
        }
    }
    return a;
}

void allocator_free(struct allocator *a)
{
    if (a == NULL)
        return;
    if (a->interval_timer)
        event_free(a->interval_timer);
    if (a->run_event)
        event_free(a->run_event);
    struct alloc_framework *f, *ftmp;
    HASH_ITER(hh, a->frameworks, f, ftmp) {
        allocator_remove_framework(a, f->id);
    }
    struct alloc_agent *ag, *atmp;
    HASH_ITER(hh, a->agents, ag, atmp) {
        allocator_remove_agent(a, ag->id);
    }
    struct alloc_role *r, *rtmp;
    HASH_ITER(hh, a->role_table, r, rtmp) {
        HASH_DEL(a->role_table, r);
        role_destroy(r);
    }
    struct role_config *c, *ctmp;
    HASH_ITER(hh, a->configs, c, ctmp) {
        HASH_DEL(a->configs, c);
        free(c->name);
        free(c);
    }
    struct reserved_node *rn, *rntmp;
    HASH_ITER(hh, a->reserved, rn, rntmp) {
        HASH_DEL(a->reserved, rn);
        free(rn->name);
        free(rn);
    }
    sorter_free(&a->roles);
    sorter_pool_free(&a->pool);
    for (size_t i = 0; i < a->opts.n_min_allocatable; i++)
        resources_free(&a->opts.min_allocatable[i]);
    free(a->opts.min_allocatable);
    free(a->scratch_agents);
    free(a->dirty);
    free(a->scratch_roles);
    free(a);
}

static struct role_config *config_get(struct allocator *a, const char *name)
{
    struct role_config *c = config_find(a, name);
    if (c != NULL)
        return c;
    c = XNEW(struct role_config);
    c->name = xstrdup(name);
    c->weight = 1.0;
    for (size_t i = 0; i < SORTER_MAX_NAMES; i++)
        c->limit[i] = -1;
    c->reserved = reserved_node_get(a, name);
    HASH_ADD_KEYPTR(hh, a->configs, c->name, strlen(c->name), c);
    struct alloc_role *r = NULL;
    HASH_FIND_STR(a->role_table, name, r);
    if (r != NULL)
        r->config = c;
    return c;
}

void allocator_set_weight(struct allocator *a, const char *role, double weight)
{
    struct role_config *c = config_get(a, role);
    c->weight = weight > 0 ? weight : 1.0;
    struct alloc_role *r = NULL;
    HASH_FIND_STR(a->role_table, role, r);
    if (r != NULL) {
        sorter_set_weight(&r->children, r->self, c->weight);
        sorter_set_weight(role_siblings(a, r), r->client, c->weight);
    }
}

void allocator_set_quota(struct allocator *a, const char *role,
                         const struct allocator_quantity *guarantees, size_t n_guarantees,
                         const struct allocator_quantity *limits, size_t n_limits)
{
    struct role_config *c = config_get(a, role);
    int had = c->has_guarantee || c->has_limit;
    c->has_guarantee = c->has_limit = 0;
    for (size_t i = 0; i < SORTER_MAX_NAMES; i++) {
        c->guarantee[i] = 0;
        c->limit[i] = -1;
    }
    for (size_t i = 0; i < n_guarantees; i++) {
        int idx = sorter_pool_index(&a->pool, guarantees[i].name);
        if (idx < 0 || guarantees[i].value <= 0)
            continue;
        c->guarantee[idx] = guarantees[i].value;
        c->has_guarantee = 1;
    }
    for (size_t i = 0; i < n_limits; i++) {
        int idx = sorter_pool_index(&a->pool, limits[i].name);
        if (idx < 0)
            continue;
        c->limit[idx] = limits[i].value > 0 ? limits[i].value : 0;
        c->has_limit = 1;
    }
    int has = c->has_guarantee || c->has_limit;
    if (has && !had)
        a->n_quota_roles++;
    else if (!has && had)
        a->n_quota_roles--;
    allocator_request_run(a);
}

void allocator_set_suppressed_roles(struct allocator *a, const char *framework_id,
                                    char *const *roles, size_t n)
{
    struct alloc_framework *f = framework_find(a, framework_id);
    if (f == NULL)
        return;
    int revived = 0;
    for (size_t i = 0; i < f->n_roles; i++) {
        int suppress = 0;
        for (size_t j = 0; j < n && !suppress; j++)
            suppress = strcmp(f->roles[i].role->name, roles[j]) == 0;
        revived |= f->roles[i].suppressed && !suppress;
        f->roles[i].suppressed = suppress;
    }
    if (revived)
        allocator_request_run(a);
}

const struct allocator_metrics *allocator_get_metrics(const struct allocator *a)
{
    return &a->metrics;
}

int allocator_parse_min_allocatable(const char *text, struct resources **out, size_t *n,
                                    struct error *err)
{
    *out = NULL;
    *n = 0;
    char *copy = xstrdup(text);
    char *save = NULL;
    int rc = 0;
    for (char *part = strtok_r(copy, "|", &save); part != NULL; part = strtok_r(NULL, "|", &save)) {
        struct resources r = RESOURCES_INIT;
        if ((rc = resources_parse(part, NULL, &r, err)) != 0) {
            error_prefix(err, "--min_allocatable_resources");
            goto out;
        }
        *out = xrealloc(*out, (*n + 1) * sizeof(**out));
        (*out)[(*n)++] = r;
    }
out:
    free(copy);
    if (rc != 0) {
        for (size_t i = 0; i < *n; i++)
            resources_free(&(*out)[i]);
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return rc;
}
