/* Weights and quota set by the operator: validation as Mesos's master
 * does it, the registry records that keep them across failovers, the
 * allocator calls that make them count, and the classic endpoints; also
 * the roles the master knows (GET_ROLES, /roles). Every
 * change is applied at once and written to the registry (a failed write
 * stops the master, as for agents). */
#include "master/quota.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <uthash.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "master/election.h"
#include "master/master.h"
#include "quota.pb-c.h"
#include "wire/json.h"
#include "wire/pb.h"

#define LOG_COMPONENT "master"

typedef Tepui__Quota__QuotaConfig QuotaConfig;
/* The two map entry types of QuotaConfig have the same layout. */
typedef Tepui__Quota__QuotaConfig__GuaranteesEntry Entry;
#define LIMITS(c) ((Entry *const *)(c)->limits)

struct quota_role {
    char *role;
    double weight;                  /* 0: never set */
    QuotaConfig *config;            /* owned; NULL: no quota */
    UT_hash_handle hh;
};

struct quota {
    struct quota_role *roles;
};

static struct quota *quota_of(struct master *m)
{
    if (m->quota == NULL)
        m->quota = XNEW(struct quota);
    return m->quota;
}

static struct quota_role *role_find(struct quota *q, const char *role)
{
    struct quota_role *r = NULL;
    HASH_FIND_STR(q->roles, role, r);
    return r;
}

static struct quota_role *role_get(struct quota *q, const char *role)
{
    struct quota_role *r = role_find(q, role);
    if (r == NULL) {
        r = XNEW(struct quota_role);
        r->role = xstrdup(role);
        HASH_ADD_KEYPTR(hh, q->roles, r->role, strlen(r->role), r);
    }
    return r;
}

static void roles_clear(struct quota *q)
{
    struct quota_role *r, *tmp;
    HASH_ITER(hh, q->roles, r, tmp) {
        HASH_DEL(q->roles, r);
        pb_free(r->config);
        free(r->role);
        free(r);
    }
}

void quota_free(struct quota *q)
{
    if (q == NULL)
        return;
    roles_clear(q);
    free(q);
}

static int by_role(const void *x, const void *y)
{
    const struct quota_role *a = *(struct quota_role *const *)x;
    const struct quota_role *b = *(struct quota_role *const *)y;
    return strcmp(a->role, b->role);
}

/* The roles in name order (answers that do not change from call to call);
 * *n of them, the array malloc'd. */
static struct quota_role **roles_sorted(struct quota *q, size_t *n)
{
    *n = HASH_COUNT(q->roles);
    struct quota_role **v = xcalloc(*n ? *n : 1, sizeof(*v));
    size_t k = 0;
    struct quota_role *r, *tmp;
    HASH_ITER(hh, q->roles, r, tmp) {
        v[k++] = r;
    }
    qsort(v, *n, sizeof(*v), by_role);
    return v;
}

/* ---- the registry ---- */

static void record_put(struct master *m, const char *kind, const char *key,
                       const ProtobufCMessage *msg)
{
    if (m->registry == NULL)
        return;
    struct buf b = BUF_INIT;
    pb_pack_buf(msg, &b);
    struct registry_op op = {.type = REGISTRY_PUT_RECORD, .kind = kind, .key = key,
                             .value = (const uint8_t *)b.data, .len = b.len};
    master_registry_write(m, &op);
    buf_free(&b);
}

static void record_delete(struct master *m, const char *kind, const char *key)
{
    if (m->registry == NULL)
        return;
    struct registry_op op = {.type = REGISTRY_DELETE_RECORD, .kind = kind, .key = key};
    master_registry_write(m, &op);
}

/* ---- the allocator ---- */

/* Sums a QuotaConfig map into scalar resources (capacity checks, the
 * deprecated QuotaInfo). */
static void scalars_of(Entry *const *v, size_t n, struct resources *out)
{
    for (size_t i = 0; i < n; i++) {
        struct resource e = {.name = v[i]->key, .type = RES_SCALAR,
                             .scalar = resources_scalar_from_double(v[i]->value->value)};
        resources_add_one(out, &e);
    }
}

static struct allocator_quantity *quantities_of(Entry *const *v, size_t n)
{
    struct allocator_quantity *q = xcalloc(n ? n : 1, sizeof(*q));
    for (size_t i = 0; i < n; i++)
        q[i] = (struct allocator_quantity){v[i]->key,
                                           resources_scalar_from_double(v[i]->value->value)};
    return q;
}

static void apply_quota(struct master *m, const char *role, const QuotaConfig *c)
{
    if (c == NULL) {
        allocator_set_quota(m->allocator, role, NULL, 0, NULL, 0);
        return;
    }
    struct allocator_quantity *g = quantities_of(c->guarantees, c->n_guarantees);
    struct allocator_quantity *l = quantities_of(LIMITS(c), c->n_limits);
    allocator_set_quota(m->allocator, role, g, c->n_guarantees, l, c->n_limits);
    free(g);
    free(l);
}

void quota_recover(struct master *m, const struct registry_state *s)
{
    struct quota *q = quota_of(m);
    roles_clear(q);
    size_t weights = 0, quotas = 0;
    for (size_t i = 0; i < s->n_records; i++) {
        const struct registry_record *rec = &s->records[i];
        if (strcmp(rec->kind, REGISTRY_KIND_WEIGHT) == 0) {
            Tepui__WeightInfo *w = tepui__weight_info__unpack(NULL, rec->len, rec->value);
            if (w == NULL || !(w->weight > 0) || !isfinite(w->weight)) {
                log_warn("ignoring the unreadable weight record of role '%s'", rec->key);
                pb_free(w);
                continue;
            }
            role_get(q, rec->key)->weight = w->weight;
            allocator_set_weight(m->allocator, rec->key, w->weight);
            pb_free(w);
            weights++;
        } else if (strcmp(rec->kind, REGISTRY_KIND_QUOTA) == 0) {
            QuotaConfig *c = tepui__quota__quota_config__unpack(NULL, rec->len, rec->value);
            if (c == NULL || strcmp(c->role, rec->key) != 0) {
                log_warn("ignoring the unreadable quota record of role '%s'", rec->key);
                pb_free(c);
                continue;
            }
            struct quota_role *r = role_get(q, rec->key);
            pb_free(r->config);
            r->config = c;
            apply_quota(m, rec->key, c);
            quotas++;
        }
    }
    if (weights + quotas > 0)
        log_info("recovered %zu weights and %zu quotas from the registry", weights, quotas);
}

/* ---- validation ---- */

/* Quota names: non-empty, no whitespace or control characters; and only
 * scalars count ("ports" is a range and cannot be guaranteed). */
static int validate_resource_name(const char *name, struct error *err)
{
    if (name == NULL || name[0] == '\0')
        return error_set(err, -EINVAL, "resource name must not be empty");
    for (const char *p = name; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            return error_set(err, -EINVAL,
                             "invalid resource name '%s': whitespace or control characters", name);
    if (strcmp(name, "ports") == 0)
        return error_set(err, -EINVAL,
                         "invalid resource '%s': quota applies to scalar resources only", name);
    return 0;
}

static int validate_quantity(const char *what, const char *name, const Tepui__Value__Scalar *v,
                             struct error *err)
{
    if (validate_resource_name(name, err) != 0)
        return -EINVAL;
    if (v == NULL || !isfinite(v->value) || v->value < 0 || v->value > RES_SCALAR_MAX)
        return error_set(err, -EINVAL, "invalid %s '%s': must be a finite, non-negative number",
                         what, name);
    return 0;
}

static const Entry *entry_find(Entry *const *v, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i]->key, name) == 0)
            return v[i];
    return NULL;
}

static int validate_map(const char *role, const char *what, Entry *const *v, size_t n,
                        struct error *err)
{
    for (size_t i = 0; i < n; i++) {
        if (validate_quantity(what, v[i]->key, v[i]->value, err) != 0)
            return error_prefix(err, "Invalid QuotaConfig for role '%s'", role);
        for (size_t j = 0; j < i; j++)
            if (strcmp(v[i]->key, v[j]->key) == 0)
                return error_set(err, -EINVAL, "Invalid QuotaConfig for role '%s': %s '%s' is "
                                 "given twice", role, what, v[i]->key);
    }
    return 0;
}

static int validate_config(const QuotaConfig *c, struct error *err)
{
    if (c->role == NULL || master_validate_role(c->role, err) != 0)
        return error_prefix(err, "Invalid QuotaConfig");
    if (strcmp(c->role, "*") == 0)
        return error_set(err, -EINVAL, "Invalid QuotaConfig: quota cannot be set for the "
                                       "default role '*'");
    if (validate_map(c->role, "guarantee", c->guarantees, c->n_guarantees, err) != 0 ||
        validate_map(c->role, "limit", LIMITS(c), c->n_limits, err) != 0)
        return -EINVAL;
    /* Mesos: every guarantee must be within its limit. */
    for (size_t i = 0; i < c->n_guarantees; i++) {
        const Entry *l = entry_find(LIMITS(c), c->n_limits, c->guarantees[i]->key);
        if (l != NULL && c->guarantees[i]->value->value > l->value->value)
            return error_set(err, -EINVAL,
                             "Invalid QuotaConfig for role '%s': guarantee '%s:%g' is greater "
                             "than limit '%s:%g'", c->role, c->guarantees[i]->key,
                             c->guarantees[i]->value->value, l->key, l->value->value);
    }
    return 0;
}

/* The quota of each role as it would be after an update: the proposed
 * configs for the roles they name, what is held for the others. */
struct view {
    const char **roles;
    const QuotaConfig **configs;
    ssize_t *parents;       /* view_parent of each, found once */
    size_t n;
};

static ssize_t view_parent(const struct view *v, const char *role);

static void view_build(struct quota *q, QuotaConfig *const *proposed, size_t n_proposed,
                       struct view *v)
{
    size_t cap = HASH_COUNT(q->roles) + n_proposed + 1;
    v->roles = xcalloc(cap, sizeof(*v->roles));
    v->configs = xcalloc(cap, sizeof(*v->configs));
    v->n = 0;
    struct quota_role *r, *tmp;
    HASH_ITER(hh, q->roles, r, tmp) {
        if (r->config == NULL)
            continue;
        int replaced = 0;
        for (size_t i = 0; i < n_proposed && !replaced; i++)
            replaced = strcmp(proposed[i]->role, r->role) == 0;
        if (!replaced) {
            v->roles[v->n] = r->role;
            v->configs[v->n++] = r->config;
        }
    }
    for (size_t i = 0; i < n_proposed; i++) {
        if (proposed[i]->n_guarantees == 0 && proposed[i]->n_limits == 0)
            continue;   /* the default: no quota */
        v->roles[v->n] = proposed[i]->role;
        v->configs[v->n++] = proposed[i];
    }
    /* The checks ask for parents in nested loops: once each, not each time. */
    v->parents = xcalloc(cap, sizeof(*v->parents));
    for (size_t i = 0; i < v->n; i++)
        v->parents[i] = view_parent(v, v->roles[i]);
}

static void view_free(struct view *v)
{
    free(v->roles);
    free(v->configs);
    free(v->parents);
}

/* Index in the view of the nearest ancestor of role with quota; -1. */
static ssize_t view_parent(const struct view *v, const char *role)
{
    size_t best_len = 0, role_len = strlen(role);
    ssize_t best = -1;
    for (size_t i = 0; i < v->n; i++) {
        size_t len = strlen(v->roles[i]);
        if (len < role_len && strncmp(role, v->roles[i], len) == 0 && role[len] == '/' &&
            len > best_len) {
            best = (ssize_t)i;
            best_len = len;
        }
    }
    return best;
}

static double entry_value(Entry *const *v, size_t n, const char *name, double dflt)
{
    const Entry *e = entry_find(v, n, name);
    return e != NULL ? e->value->value : dflt;
}

/* Mesos's hierarchical rules: a child's limits are within its parent's, and
 * the guarantees of a role's children add up to at most its own. */
static int validate_hierarchy(const struct view *v, struct error *err)
{
    for (size_t i = 0; i < v->n; i++) {
        ssize_t p = v->parents[i];
        if (p < 0)
            continue;
        const QuotaConfig *child = v->configs[i], *parent = v->configs[p];
        for (size_t k = 0; k < parent->n_limits; k++) {
            const char *name = parent->limits[k]->key;
            double pl = parent->limits[k]->value->value;
            /* No limit of its own: the parent's holds it anyway. */
            double cl = entry_value(LIMITS(child), child->n_limits, name, -1);
            if (cl > pl)
                return error_set(err, -EINVAL,
                                 "Invalid QuotaConfig: role '%s' has a limit of '%s:%g', above "
                                 "the limit '%s:%g' of its parent role '%s'", v->roles[i], name,
                                 cl, name, pl, v->roles[p]);
        }
    }
    for (size_t p = 0; p < v->n; p++) {
        const QuotaConfig *parent = v->configs[p];
        for (size_t i = 0; i < v->n; i++) {
            if (v->parents[i] != (ssize_t)p)
                continue;
            const QuotaConfig *child = v->configs[i];
            for (size_t k = 0; k < child->n_guarantees; k++) {
                const char *name = child->guarantees[k]->key;
                double sum = 0;
                for (size_t j = 0; j < v->n; j++)
                    if (v->parents[j] == (ssize_t)p)
                        sum += entry_value(v->configs[j]->guarantees,
                                           v->configs[j]->n_guarantees, name, 0);
                double pg = entry_value(parent->guarantees, parent->n_guarantees, name, 0);
                if (sum > pg + 1e-9)
                    return error_set(err, -EINVAL,
                                     "Invalid QuotaConfig: the guarantees of the children of "
                                     "role '%s' add up to '%s:%g', more than its own guarantee "
                                     "'%s:%g'", v->roles[p], name, sum, name, pg);
            }
        }
    }
    return 0;
}

/* Mesos refuses guarantees the cluster cannot hold (unless forced): the
 * guarantees of the top-most roles with quota, summed per name, against
 * the total of the registered agents. */
static int validate_capacity(struct master *m, const struct view *v, struct error *err)
{
    struct resources need = RESOURCES_INIT;
    for (size_t i = 0; i < v->n; i++)
        if (v->parents[i] < 0)
            scalars_of(v->configs[i]->guarantees, v->configs[i]->n_guarantees, &need);
    int rc = 0;
    for (size_t i = 0; i < need.n && rc == 0; i++) {
        int64_t have = 0;
        struct agent *a, *tmp;
        HASH_ITER(hh, m->agents, a, tmp) {
            have += resources_scalar(&a->total, need.v[i].name);
        }
        if (need.v[i].scalar > have)
            rc = error_set(err, -EINVAL,
                           "Total quota guarantees '%s:%g' exceed the cluster's capacity "
                           "'%s:%g' (use 'force' to set them anyway)", need.v[i].name,
                           resources_scalar_to_double(need.v[i].scalar), need.v[i].name,
                           resources_scalar_to_double(have));
    }
    resources_free(&need);
    return rc;
}

/* ---- changes ---- */

static void store_config(struct master *m, const QuotaConfig *c)
{
    struct quota_role *r = role_get(quota_of(m), c->role);
    pb_free(r->config);
    r->config = NULL;
    if (c->n_guarantees == 0 && c->n_limits == 0) {
        record_delete(m, REGISTRY_KIND_QUOTA, c->role);
        log_info("quota of role '%s' removed", c->role);
    } else {
        r->config = PB_COPY(QuotaConfig, c);
        record_put(m, REGISTRY_KIND_QUOTA, c->role, &c->base);
        log_info("quota of role '%s' set (%zu guarantees, %zu limits)", c->role,
                 c->n_guarantees, c->n_limits);
    }
    apply_quota(m, c->role, r->config);
}

/* The index of the first role that is named a second time, or -1. By hash:
 * a call may carry many thousands of roles, and comparing every pair would
 * hold the loop for minutes. */
static ssize_t first_repeated(const char *const *roles, size_t n)
{
    struct seen {
        UT_hash_handle hh;
    } *set = NULL, *e = NULL;
    struct seen *all = xcalloc(n ? n : 1, sizeof(*all));
    ssize_t dup = -1;
    for (size_t i = 0; i < n && dup < 0; i++) {
        HASH_FIND(hh, set, roles[i], strlen(roles[i]), e);
        if (e != NULL)
            dup = (ssize_t)i;
        else
            HASH_ADD_KEYPTR(hh, set, roles[i], strlen(roles[i]), &all[i]);
    }
    HASH_CLEAR(hh, set);
    free(all);
    return dup;
}

/* Validates and applies a whole update; 0 or -EINVAL with err. */
static int update_quota(struct master *m, QuotaConfig *const *configs, size_t n, int force,
                        struct error *err)
{
    const char **roles = xcalloc(n ? n : 1, sizeof(*roles));
    for (size_t i = 0; i < n; i++) {
        if (validate_config(configs[i], err) != 0) {
            free(roles);
            return -EINVAL;
        }
        roles[i] = configs[i]->role;
    }
    ssize_t dup = first_repeated(roles, n);
    free(roles);
    if (dup >= 0)
        return error_set(err, -EINVAL, "Role '%s' is given more than once", configs[dup]->role);
    struct view v;
    view_build(quota_of(m), configs, n, &v);
    int rc = validate_hierarchy(&v, err);
    if (rc == 0 && !force)
        rc = validate_capacity(m, &v, err);
    view_free(&v);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < n; i++)
        store_config(m, configs[i]);
    return 0;
}

static int update_weights(struct master *m, Tepui__WeightInfo *const *infos, size_t n,
                          struct error *err)
{
    for (size_t i = 0; i < n; i++) {
        const Tepui__WeightInfo *w = infos[i];
        if (w->role == NULL)
            return error_set(err, -EINVAL, "Invalid weight: 'role' is missing");
        if (master_validate_role(w->role, err) != 0)
            return error_prefix(err, "Invalid weight");
        if (!(w->weight > 0) || !isfinite(w->weight))
            return error_set(err, -EINVAL, "Invalid weight '%g' of role '%s': weights must be "
                             "positive", w->weight, w->role);
    }
    const char **roles = xcalloc(n ? n : 1, sizeof(*roles));
    for (size_t i = 0; i < n; i++)
        roles[i] = infos[i]->role;
    ssize_t dup = first_repeated(roles, n);
    free(roles);
    if (dup >= 0)
        return error_set(err, -EINVAL, "Role '%s' is given more than once", infos[dup]->role);
    struct quota *q = quota_of(m);
    for (size_t i = 0; i < n; i++) {
        role_get(q, infos[i]->role)->weight = infos[i]->weight;
        record_put(m, REGISTRY_KIND_WEIGHT, infos[i]->role, &infos[i]->base);
        allocator_set_weight(m->allocator, infos[i]->role, infos[i]->weight);
        log_info("weight of role '%s' set to %g", infos[i]->role, infos[i]->weight);
    }
    allocator_request_run(m->allocator);
    return 0;
}

/* SET_QUOTA (before Mesos 1.9): guarantees as Resources; since 1.9 the
 * limits are set to the same amounts. */
static int set_quota(struct master *m, const Tepui__Quota__QuotaRequest *req, int *conflict,
                     struct error *err)
{
    *conflict = 0;
    if (req->role == NULL)
        return error_set(err, -EINVAL, "Invalid QuotaRequest: 'role' is missing");
    if (master_validate_role(req->role, err) != 0)
        return error_prefix(err, "Invalid QuotaRequest");
    struct resources res = RESOURCES_INIT;
    if (resources_from_proto(req->guarantee, req->n_guarantee, &res, err) != 0)
        return error_prefix(err, "Invalid QuotaRequest");
    int rc = 0;
    for (size_t i = 0; i < res.n && rc == 0; i++) {
        if (res.v[i].type != RES_SCALAR)
            rc = error_set(err, -EINVAL, "Invalid QuotaRequest: resource '%s' is not a scalar",
                           res.v[i].name);
        else if (res.v[i].reservation_role != NULL)
            rc = error_set(err, -EINVAL, "Invalid QuotaRequest: resource '%s' is reserved; "
                           "quota applies to unreserved resources", res.v[i].name);
        else if (res.v[i].identity != NULL || res.v[i].flags != 0)
            rc = error_set(err, -EINVAL, "Invalid QuotaRequest: resource '%s' must be a plain "
                           "scalar (no disk, revocable or shared information)", res.v[i].name);
    }
    struct quota_role *held = role_find(quota_of(m), req->role);
    if (rc == 0 && held != NULL && held->config != NULL) {
        *conflict = 1;
        rc = error_set(err, -EEXIST, "role '%s' already has quota; remove it first or use "
                       "UPDATE_QUOTA", req->role);
    }
    if (rc == 0 && res.n == 0)
        rc = error_set(err, -EINVAL, "Invalid QuotaRequest: 'guarantee' is empty");
    if (rc != 0) {
        resources_free(&res);
        return rc;
    }
    QuotaConfig c = TEPUI__QUOTA__QUOTA_CONFIG__INIT;
    c.role = req->role;
    Entry *entries = xcalloc(res.n, sizeof(*entries));
    Entry **ptrs = xcalloc(res.n, sizeof(*ptrs));
    Tepui__Value__Scalar *values = xcalloc(res.n, sizeof(*values));
    for (size_t i = 0; i < res.n; i++) {
        tepui__quota__quota_config__guarantees_entry__init(&entries[i]);
        tepui__value__scalar__init(&values[i]);
        values[i].value = resources_scalar_to_double(res.v[i].scalar);
        entries[i].key = res.v[i].name;
        entries[i].value = &values[i];
        ptrs[i] = &entries[i];
    }
    c.n_guarantees = c.n_limits = res.n;
    c.guarantees = ptrs;
    c.limits = (Tepui__Quota__QuotaConfig__LimitsEntry **)ptrs;
    QuotaConfig *one[1] = {&c};
    rc = update_quota(m, one, 1, req->has_force && req->force, err);
    free(values);
    free(ptrs);
    free(entries);
    resources_free(&res);
    return rc;
}

static int remove_quota(struct master *m, const char *role, struct error *err)
{
    if (master_validate_role(role, err) != 0)
        return error_prefix(err, "Invalid role");
    struct quota_role *r = role_find(quota_of(m), role);
    if (r == NULL || r->config == NULL)
        return error_set(err, -ENOENT, "Failed to remove quota: role '%s' has no quota set",
                         role);
    QuotaConfig c = TEPUI__QUOTA__QUOTA_CONFIG__INIT;
    c.role = (char *)role;
    store_config(m, &c);
    return 0;
}

/* ---- answers ---- */

static Tepui__Quota__QuotaStatus *quota_status(struct master *m)
{
    Tepui__Quota__QuotaStatus *s = xmalloc(sizeof(*s));
    tepui__quota__quota_status__init(s);
    size_t n = 0;
    struct quota_role **v = roles_sorted(quota_of(m), &n);
    s->configs = xcalloc(n ? n : 1, sizeof(*s->configs));
    s->infos = xcalloc(n ? n : 1, sizeof(*s->infos));
    for (size_t i = 0; i < n; i++) {
        if (v[i]->config == NULL)
            continue;
        s->configs[s->n_configs++] = PB_COPY(QuotaConfig, v[i]->config);
        /* The deprecated QuotaInfo: the guarantees as Resources. */
        Tepui__Quota__QuotaInfo *info = xmalloc(sizeof(*info));
        tepui__quota__quota_info__init(info);
        info->role = xstrdup(v[i]->role);
        struct resources g = RESOURCES_INIT;
        scalars_of(v[i]->config->guarantees, v[i]->config->n_guarantees, &g);
        info->guarantee = resources_to_proto(&g, &info->n_guarantee);
        resources_free(&g);
        s->infos[s->n_infos++] = info;
    }
    free(v);
    return s;
}

static Tepui__WeightInfo **weight_infos(struct master *m, size_t *n_out)
{
    size_t n = 0;
    struct quota_role **v = roles_sorted(quota_of(m), &n);
    Tepui__WeightInfo **w = xcalloc(n ? n : 1, sizeof(*w));
    *n_out = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i]->weight <= 0)
            continue;
        Tepui__WeightInfo *info = xmalloc(sizeof(*info));
        tepui__weight_info__init(info);
        info->weight = v[i]->weight;
        info->role = xstrdup(v[i]->role);
        w[(*n_out)++] = info;
    }
    free(v);
    return w;
}

void quota_get_weights(struct master *m, struct http_request *req, enum wire_format fmt)
{
    Tepui__Master__Response *r = operator_response_new(TEPUI__MASTER__RESPONSE__TYPE__GET_WEIGHTS);
    r->get_weights = xmalloc(sizeof(*r->get_weights));
    tepui__master__response__get_weights__init(r->get_weights);
    r->get_weights->weight_infos = weight_infos(m, &r->get_weights->n_weight_infos);
    operator_respond(req, fmt, r);
}

void quota_update_weights(struct master *m, struct http_request *req,
                          const Tepui__Master__Call__UpdateWeights *u)
{
    struct error err = {0};
    if (update_weights(m, u->weight_infos, u->n_weight_infos, &err) != 0) {
        http_respond_error(req, 400, "Failed to update weights: %s", err.msg);
        return;
    }
    master_answer_when_durable(m, req);
}

void quota_get_quota(struct master *m, struct http_request *req, enum wire_format fmt)
{
    Tepui__Master__Response *r = operator_response_new(TEPUI__MASTER__RESPONSE__TYPE__GET_QUOTA);
    r->get_quota = xmalloc(sizeof(*r->get_quota));
    tepui__master__response__get_quota__init(r->get_quota);
    r->get_quota->status = quota_status(m);
    operator_respond(req, fmt, r);
}

void quota_update_quota(struct master *m, struct http_request *req,
                        const Tepui__Master__Call__UpdateQuota *u)
{
    struct error err = {0};
    if (update_quota(m, u->quota_configs, u->n_quota_configs, u->has_force && u->force, &err)) {
        http_respond_error(req, 400, "Failed to update quota: %s", err.msg);
        return;
    }
    master_answer_when_durable(m, req);
}

void quota_set_quota(struct master *m, struct http_request *req,
                     const Tepui__Quota__QuotaRequest *r)
{
    struct error err = {0};
    int conflict = 0;
    if (set_quota(m, r, &conflict, &err) != 0) {
        http_respond_error(req, conflict ? 409 : 400, "Failed to set quota: %s", err.msg);
        return;
    }
    master_answer_when_durable(m, req);
}

void quota_remove_quota(struct master *m, struct http_request *req, const char *role)
{
    struct error err = {0};
    if (remove_quota(m, role, &err) != 0) {
        http_respond_error(req, 400, "%s", err.msg);
        return;
    }
    master_answer_when_durable(m, req);
}

/* ---- roles (GET_ROLES, /roles) ---- */

/* What the master knows of one role: frameworks subscribed to it, what is
 * allocated to it (tasks and executors) and offered in it, and what the
 * agents have reserved to it (exactly it, not its descendants). */
struct role_view {
    char *name;
    char **frameworks;
    size_t n_frameworks;
    struct resources allocated, offered, reserved;
    UT_hash_handle hh;
};

static struct role_view *view_of(struct role_view **views, const char *name)
{
    struct role_view *v = NULL;
    HASH_FIND_STR(*views, name, v);
    if (v == NULL) {
        v = XNEW(struct role_view);
        v->name = xstrdup(name);
        HASH_ADD_KEYPTR(hh, *views, v->name, strlen(v->name), v);
    }
    return v;
}

/* Adds each entry of r to the view of the role it is allocated to; entries
 * without an allocation role belong to the framework's only role. */
static void views_add_allocated(struct role_view **views, const struct framework *f,
                                const struct resources *r, int offered)
{
    for (size_t i = 0; i < r->n; i++) {
        const char *role = r->v[i].allocation_role;
        if (role == NULL)
            role = f->n_roles > 0 ? f->roles[0] : "*";
        struct role_view *v = view_of(views, role);
        resources_add_one(offered ? &v->offered : &v->allocated, &r->v[i]);
    }
}

static int by_view_name(const void *x, const void *y)
{
    const struct role_view *a = *(struct role_view *const *)x;
    const struct role_view *b = *(struct role_view *const *)y;
    return strcmp(a->name, b->name);
}

/* Every role the master knows, as Mesos lists them: those with
 * frameworks, allocations, a weight or quota set, or reservations. In name
 * order; *n of them, the array and views malloc'd (roles_views_free). */
static struct role_view **roles_views(struct master *m, size_t *n)
{
    struct role_view *views = NULL;
    struct framework *f, *ftmp;
    HASH_ITER(hh, m->frameworks, f, ftmp) {
        for (size_t i = 0; i < f->n_roles; i++) {
            struct role_view *v = view_of(&views, f->roles[i]);
            v->frameworks = xrealloc(v->frameworks, (v->n_frameworks + 1) * sizeof(char *));
            v->frameworks[v->n_frameworks++] = f->id;
        }
        views_add_allocated(&views, f, &f->used, 0);
        views_add_allocated(&views, f, &f->offered, 1);
    }
    struct agent *ag, *atmp;
    HASH_ITER(hh, m->agents, ag, atmp) {
        for (size_t i = 0; i < ag->total.n; i++) {
            const struct resource *e = &ag->total.v[i];
            if (e->reservation_role != NULL)
                resources_add_one(&view_of(&views, e->reservation_role)->reserved, e);
        }
    }
    struct quota_role *qr, *qtmp;
    HASH_ITER(hh, quota_of(m)->roles, qr, qtmp) {
        if (qr->weight > 0 || qr->config != NULL)
            view_of(&views, qr->role);
    }
    *n = HASH_COUNT(views);
    struct role_view **v = xcalloc(*n ? *n : 1, sizeof(*v));
    size_t k = 0;
    struct role_view *rv, *rtmp;
    HASH_ITER(hh, views, rv, rtmp) {
        HASH_DEL(views, rv);
        v[k++] = rv;
    }
    qsort(v, *n, sizeof(*v), by_view_name);
    return v;
}

static void roles_views_free(struct role_view **v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i]->name);
        free(v[i]->frameworks);
        resources_free(&v[i]->allocated);
        resources_free(&v[i]->offered);
        resources_free(&v[i]->reserved);
        free(v[i]);
    }
    free(v);
}

static double role_weight(struct master *m, const char *role)
{
    struct quota_role *r = role_find(quota_of(m), role);
    return r != NULL && r->weight > 0 ? r->weight : 1.0;
}

static int role_within(const char *role, const char *ancestor)
{
    size_t n = strlen(ancestor);
    return strncmp(role, ancestor, n) == 0 && (role[n] == '\0' || role[n] == '/');
}

static int counts_for_quota(const struct resource *e)
{
    return e->type == RES_SCALAR && (e->flags & RES_REVOCABLE) == 0;
}

/* What counts towards the quota of v's role, as the allocator counts it
 * (Mesos 1.9+): every reservation to the role's subtree, allocated or not,
 * and the unreserved resources its subtree is allocated or offered. */
static void quota_consumed(struct role_view *const *views, size_t n, const char *role,
                           struct resources *out)
{
    for (size_t k = 0; k < n; k++) {
        const struct role_view *w = views[k];
        if (!role_within(w->name, role))
            continue;
        for (size_t i = 0; i < w->reserved.n; i++)
            if (counts_for_quota(&w->reserved.v[i]))
                resources_add_one(out, &w->reserved.v[i]);
        const struct resources *held[2] = {&w->allocated, &w->offered};
        for (size_t h = 0; h < 2; h++)
            for (size_t i = 0; i < held[h]->n; i++)
                if (counts_for_quota(&held[h]->v[i]) && held[h]->v[i].reservation_role == NULL)
                    resources_add_one(out, &held[h]->v[i]);
    }
}

/* Scalar quantities by name, as Mesos writes ResourceQuantities in JSON. */
static json_t *quantities_json(const struct resources *r)
{
    json_t *o = json_object();
    for (size_t i = 0; i < r->n; i++) {
        if (r->v[i].type != RES_SCALAR)
            continue;
        json_t *old = json_object_get(o, r->v[i].name);
        double sum = (old != NULL ? json_real_value(old) : 0) +
                     resources_scalar_to_double(r->v[i].scalar);
        json_object_set_new(o, r->v[i].name, json_real(sum));
    }
    return o;
}

static json_t *entries_json(Entry *const *v, size_t n)
{
    json_t *o = json_object();
    for (size_t i = 0; i < n; i++)
        json_object_set_new(o, v[i]->key, json_real(v[i]->value->value));
    return o;
}

void quota_get_roles(struct master *m, struct http_request *req, enum wire_format fmt)
{
    Tepui__Master__Response *r = operator_response_new(TEPUI__MASTER__RESPONSE__TYPE__GET_ROLES);
    r->get_roles = xmalloc(sizeof(*r->get_roles));
    tepui__master__response__get_roles__init(r->get_roles);
    size_t n = 0;
    struct role_view **v = roles_views(m, &n);
    r->get_roles->roles = xcalloc(n ? n : 1, sizeof(*r->get_roles->roles));
    for (size_t i = 0; i < n; i++) {
        Tepui__Role *role = xmalloc(sizeof(*role));
        tepui__role__init(role);
        role->name = xstrdup(v[i]->name);
        role->weight = role_weight(m, v[i]->name);
        role->frameworks = xcalloc(v[i]->n_frameworks ? v[i]->n_frameworks : 1,
                                   sizeof(*role->frameworks));
        for (size_t k = 0; k < v[i]->n_frameworks; k++) {
            Tepui__FrameworkID *id = xmalloc(sizeof(*id));
            tepui__framework_id__init(id);
            id->value = xstrdup(v[i]->frameworks[k]);
            role->frameworks[role->n_frameworks++] = id;
        }
        /* Mesos's Role.resources: allocated and offered together. */
        struct resources both = RESOURCES_INIT;
        resources_copy(&both, &v[i]->allocated);
        resources_add(&both, &v[i]->offered);
        role->resources = resources_to_proto(&both, &role->n_resources);
        resources_free(&both);
        r->get_roles->roles[r->get_roles->n_roles++] = role;
    }
    roles_views_free(v, n);
    operator_respond(req, fmt, r);
}

/* GET /roles: {"roles": [...]}, each role with its weight, frameworks,
 * "resources" (allocated and offered), "allocated", "offered", "reserved"
 * and "quota" (guarantee, limit and what is consumed) as Mesos 1.9+. */
static void roles_endpoint(struct http_request *req, void *arg)
{
    struct master *m = arg;
    if (master_redirect_unless_leading(m, req))
        return;
    if (req->method != EVHTTP_REQ_GET) {
        http_respond_method_not_allowed(req, "GET");
        return;
    }
    size_t n = 0;
    struct role_view **v = roles_views(m, &n);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(v[i]->name));
        json_object_set_new(o, "weight", json_real(role_weight(m, v[i]->name)));
        json_t *fws = json_array();
        for (size_t k = 0; k < v[i]->n_frameworks; k++)
            json_array_append_new(fws, json_string(v[i]->frameworks[k]));
        json_object_set_new(o, "frameworks", fws);
        struct resources both = RESOURCES_INIT;
        resources_copy(&both, &v[i]->allocated);
        resources_add(&both, &v[i]->offered);
        json_object_set_new(o, "resources", resources_to_state_json(&both));
        resources_free(&both);
        json_object_set_new(o, "allocated", quantities_json(&v[i]->allocated));
        json_object_set_new(o, "offered", quantities_json(&v[i]->offered));
        json_object_set_new(o, "reserved", quantities_json(&v[i]->reserved));
        const struct quota_role *qr = role_find(quota_of(m), v[i]->name);
        const QuotaConfig *c = qr != NULL ? qr->config : NULL;
        json_t *quota = json_object();
        json_object_set_new(quota, "role", json_string(v[i]->name));
        json_object_set_new(quota, "guarantee",
                            c ? entries_json(c->guarantees, c->n_guarantees) : json_object());
        json_object_set_new(quota, "limit",
                            c ? entries_json(LIMITS(c), c->n_limits) : json_object());
        struct resources consumed = RESOURCES_INIT;
        quota_consumed(v, n, v[i]->name, &consumed);
        json_object_set_new(quota, "consumed", quantities_json(&consumed));
        resources_free(&consumed);
        json_object_set_new(o, "quota", quota);
        json_array_append_new(arr, o);
    }
    roles_views_free(v, n);
    json_t *body = json_object();
    json_object_set_new(body, "roles", arr);
    http_respond_json(req, 200, body);
}

/* ---- classic endpoints ---- */

/* GET /weights: a JSON array of WeightInfo; PUT: sets those given. */
static void weights_endpoint(struct http_request *req, void *arg)
{
    struct master *m = arg;
    if (master_redirect_unless_leading(m, req))
        return;
    if (req->method == EVHTTP_REQ_GET) {
        size_t n = 0;
        Tepui__WeightInfo **w = weight_infos(m, &n);
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++) {
            json_array_append_new(arr, wire_json_from_message(&w[i]->base));
            pb_free(w[i]);
        }
        free(w);
        http_respond_json(req, 200, arr);
        return;
    }
    if (req->method != EVHTTP_REQ_PUT) {
        http_respond_method_not_allowed(req, "GET, PUT");
        return;
    }
    json_error_t jerr;
    json_t *body = json_loadb(req->body ? req->body : "", req->body_len, 0, &jerr);
    if (body == NULL || !json_is_array(body)) {
        http_respond_error(req, 400, "Failed to parse update weights request: expected a JSON "
                                     "array of WeightInfo%s%s", body ? "" : ": ",
                           body ? "" : jerr.text);
        json_decref(body);
        return;
    }
    size_t n = json_array_size(body);
    Tepui__WeightInfo **infos = xcalloc(n ? n : 1, sizeof(*infos));
    struct error err = {0};
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        char *text = json_dumps(json_array_get(body, i), JSON_COMPACT | JSON_ENCODE_ANY);
        infos[i] = (Tepui__WeightInfo *)wire_json_decode(&tepui__weight_info__descriptor, text,
                                                          text ? strlen(text) : 0, &err);
        free(text);
        if (infos[i] == NULL)
            rc = error_prefix(&err, "weight %zu", i);
    }
    if (rc == 0)
        rc = update_weights(m, infos, n, &err);
    for (size_t i = 0; i < n; i++)
        pb_free(infos[i]);
    free(infos);
    json_decref(body);
    if (rc != 0) {
        http_respond_error(req, 400, "Failed to update weights: %s", err.msg);
        return;
    }
    master_answer_when_durable(m, req);
}

/* GET /quota: QuotaStatus; POST: a QuotaRequest (SET_QUOTA); DELETE
 * /quota/<role>: REMOVE_QUOTA. */
static void quota_endpoint(struct http_request *req, void *arg)
{
    struct master *m = arg;
    if (master_redirect_unless_leading(m, req))
        return;
    const char *path = req->path;
    if (strncmp(path, "/master/", 8) == 0)
        path += 7;
    const char *role = strncmp(path, "/quota/", 7) == 0 ? path + 7 : NULL;
    if (req->method == EVHTTP_REQ_DELETE) {
        if (role == NULL || role[0] == '\0') {
            http_respond_error(req, 400, "Failed to remove quota: the request path must name "
                                         "the role, /quota/<role>");
            return;
        }
        quota_remove_quota(m, req, role);
        return;
    }
    if (role != NULL) {
        http_respond_method_not_allowed(req, "DELETE");
        return;
    }
    if (req->method == EVHTTP_REQ_GET) {
        Tepui__Quota__QuotaStatus *s = quota_status(m);
        http_respond_json(req, 200, wire_json_from_message(&s->base));
        pb_free(s);
        return;
    }
    if (req->method != EVHTTP_REQ_POST) {
        http_respond_method_not_allowed(req, "GET, POST, DELETE");
        return;
    }
    struct error err = {0};
    Tepui__Quota__QuotaRequest *qr = (Tepui__Quota__QuotaRequest *)wire_json_decode(
        &tepui__quota__quota_request__descriptor, req->body ? req->body : "", req->body_len,
        &err);
    if (qr == NULL) {
        http_respond_error(req, 400, "Failed to parse set quota request: %s", err.msg);
        return;
    }
    quota_set_quota(m, req, qr);
    pb_free(qr);
}

void quota_routes(struct master *m)
{
    http_server_route(m->http, "/weights", weights_endpoint, m);
    http_server_route(m->http, "/master/weights", weights_endpoint, m);
    http_server_route(m->http, "/quota", quota_endpoint, m);
    http_server_route(m->http, "/master/quota", quota_endpoint, m);
    http_server_route_prefix(m->http, "/quota/", quota_endpoint, m);
    http_server_route_prefix(m->http, "/master/quota/", quota_endpoint, m);
    http_server_route(m->http, "/roles", roles_endpoint, m);
    http_server_route(m->http, "/master/roles", roles_endpoint, m);
}
