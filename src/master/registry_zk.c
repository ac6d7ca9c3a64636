/* The ZooKeeper registry (--registry=zookeeper, the default with --zk):
 * one persistent znode per agent, <zk path>/registry/agents/<agent id>,
 * holding a ZkRegistryAgent (state, time, AgentInfo; zk_registry.proto),
 * and one per record, <zk path>/registry/records/<kind>/<key> holding its
 * value as is (a key's '/' and '%' are written %2F and %25).
 * Only the leading master writes; a newly elected one reads it all back.
 * It keeps a copy of what it wrote, so that marking an agent keeps the
 * info it was admitted with without reading it first.
 *
 * A write belongs to the session it was made in: one that meets a lost
 * connection is tried again while that session lives, and dropped (without
 * a callback) once it is lost, since the master has then stopped leading
 * and another may be writing. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <uthash.h>
#include <zookeeper/zookeeper.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "ha/zk.h"
#include "master/registry.h"
#include "wire/pb.h"
#include "zk_registry.pb-c.h"

#define LOG_COMPONENT "registry"

/* A write that meets a node in an unexpected state (created or deleted
 * behind our back) switches between create and set this many times. */
#define MAX_ATTEMPTS 4
/* Writes that met a lost connection are sent again after this long. */
#define RETRY_SECS 0.25

/* An agent (id: the agent id, never with '/'), or a record (id:
 * "<kind>/<encoded key>", with its value). */
struct zk_entry {
    char *id;
    int is_record;
    uint8_t *value;
    size_t len;
    enum registry_agent_state state;
    double time;
    Tepui__AgentInfo *info;
    int in_zk;                        /* known to exist there */
    UT_hash_handle hh;
};

enum write_kind { WRITE_CREATE, WRITE_SET, WRITE_DELETE };

struct zk_write {
    TAILQ_ENTRY(zk_write) link;
    struct zk_registry *r;
    char *id;
    enum write_kind kind;
    int attempts;
    long long session;                /* the session it was made in */
    int waiting;                      /* for the retry timer */
    registry_done_fn done;
    void *arg;
};

struct zk_registry {
    struct registry base;
    struct zk *zk;
    char root[640];                   /* <path>/registry/agents */
    char records_root[640];           /* <path>/registry/records */
    int parents_made;
    struct zk_entry *entries;
    TAILQ_HEAD(, zk_write) writes;
    struct event *retry_timer;
};

static struct zk_entry *entry_find(struct zk_registry *r, const char *id)
{
    struct zk_entry *e = NULL;
    HASH_FIND_STR(r->entries, id, e);
    return e;
}

static struct zk_entry *entry_get(struct zk_registry *r, const char *id)
{
    struct zk_entry *e = entry_find(r, id);
    if (e == NULL) {
        e = XNEW(struct zk_entry);
        e->id = xstrdup(id);
        HASH_ADD_KEYPTR(hh, r->entries, e->id, strlen(e->id), e);
    }
    return e;
}

static void entry_free(struct zk_registry *r, struct zk_entry *e)
{
    HASH_DEL(r->entries, e);
    free(e->id);
    pb_free(e->info);
    free(e->value);
    free(e);
}

static void entries_clear(struct zk_registry *r)
{
    struct zk_entry *e, *tmp;
    HASH_ITER(hh, r->entries, e, tmp) {
        entry_free(r, e);
    }
}

static void node_path(const struct zk_registry *r, const char *id, char *out, size_t n)
{
    snprintf(out, n, "%s/%s", strchr(id, '/') != NULL ? r->records_root : r->root, id);
}

/* "<kind>/<key>" with the key's '/' and '%' escaped (znode names). */
static char *record_id(const char *kind, const char *key)
{
    struct buf b = BUF_INIT;
    buf_printf(&b, "%s/", kind);
    for (const char *p = key; *p; p++) {
        if (*p == '/' || *p == '%')
            buf_printf(&b, "%%%02X", (unsigned char)*p);
        else
            buf_append(&b, p, 1);
    }
    char *id = xstrndup(b.data, b.len);
    buf_free(&b);
    return id;
}

static char *record_key_decode(const char *name)
{
    size_t n = strlen(name);
    char *out = xmalloc(n + 1), *q = out;
    for (size_t i = 0; i < n; i++) {
        unsigned int c;
        if (name[i] == '%' && i + 2 < n && sscanf(name + i + 1, "%2X", &c) == 1) {
            *q++ = (char)c;
            i += 2;
        } else {
            *q++ = name[i];
        }
    }
    *q = '\0';
    return out;
}

static void encode(const struct zk_entry *e, struct buf *out)
{
    if (e->is_record) {
        buf_append(out, e->value, e->len);
        return;
    }
    Tepui__Internal__ZkRegistryAgent z = TEPUI__INTERNAL__ZK_REGISTRY_AGENT__INIT;
    z.state = (int32_t)e->state;
    if (e->time != 0) {
        z.has_time = 1;
        z.time = e->time;
    }
    z.info = e->info;
    pb_pack_buf(&z.base, out);
}

/* ---- writes ---- */

static void write_issue(struct zk_write *w);

static void write_drop(struct zk_write *w)
{
    log_warn("dropping the registry write of agent %s: the ZooKeeper session it was made in "
             "is lost", w->id);
    TAILQ_REMOVE(&w->r->writes, w, link);
    free(w->id);
    free(w);
}

static void write_finish(struct zk_write *w, int rc, const char *why)
{
    struct zk_registry *r = w->r;
    TAILQ_REMOVE(&r->writes, w, link);
    registry_done_fn done = w->done;
    void *arg = w->arg;
    struct error err = {0};
    if (rc != 0) {
        error_set(&err, rc, "ZooKeeper registry: agent %s: %s", w->id, why);
        log_error("%s", err.msg);
    }
    free(w->id);
    free(w);
    if (done != NULL)
        done(arg, rc, rc != 0 ? &err : NULL);
}

static void write_done(void *arg, int rc, const char *data, size_t len)
{
    struct zk_write *w = arg;
    struct zk_registry *r = w->r;
    (void)data;
    (void)len;
    struct zk_entry *e = entry_find(r, w->id);
    if (rc == ZCONNECTIONLOSS || rc == ZOPERATIONTIMEOUT) {
        if (zk_session_id(r->zk) != w->session) {
            write_drop(w);
            return;
        }
        w->waiting = 1;
        struct timeval tv = clock_timeval(RETRY_SECS);
        evtimer_add(r->retry_timer, &tv);
        return;
    }
    if (rc == ZSESSIONEXPIRED || rc == ZSESSIONMOVED || rc == ZCLOSING || rc == ZINVALIDSTATE) {
        write_drop(w);
        return;
    }
    if (rc == ZOK || (w->kind == WRITE_DELETE && rc == ZNONODE)) {
        if (e != NULL && w->kind != WRITE_DELETE)
            e->in_zk = 1;
        write_finish(w, 0, NULL);
        return;
    }
    if (w->kind != WRITE_DELETE && (rc == ZNODEEXISTS || rc == ZNONODE) &&
        ++w->attempts < MAX_ATTEMPTS) {
        if (e == NULL) {
            /* Removed meanwhile; the removal's own write settles it. */
            write_finish(w, 0, NULL);
            return;
        }
        /* Rewrite the newest state we hold: later changes queued behind
         * this one write it too, so the last word stays the newest. */
        e->in_zk = rc == ZNODEEXISTS;
        if (rc == ZNONODE && w->kind == WRITE_CREATE)
            r->parents_made = 0;   /* the parent went away */
        write_issue(w);
        return;
    }
    write_finish(w, -EIO, zk_error_name(rc));
}

static void write_issue(struct zk_write *w)
{
    struct zk_registry *r = w->r;
    if (zk_session_id(r->zk) != w->session) {
        write_drop(w);
        return;
    }
    char path[1024];
    node_path(r, w->id, path, sizeof(path));
    if (w->kind == WRITE_DELETE) {
        zk_delete(r->zk, r, path, write_done, w);
        return;
    }
    struct zk_entry *e = entry_find(r, w->id);
    if (e == NULL) {
        write_finish(w, 0, NULL);
        return;
    }
    struct buf data = BUF_INIT;
    encode(e, &data);
    if (e->in_zk) {
        w->kind = WRITE_SET;
        zk_set(r->zk, r, path, data.data, data.len, write_done, w);
    } else {
        w->kind = WRITE_CREATE;
        if (e->is_record) {
            /* Its kind's node (ordered before the create, as below). */
            char parent[1024];
            snprintf(parent, sizeof(parent), "%s", path);
            *strrchr(parent, '/') = '\0';
            zk_create_parents(r->zk, r, parent, NULL, NULL);
        } else if (!r->parents_made) {
            /* Ordered before the create: a session's requests are handled
             * in the order they are sent. */
            zk_create_parents(r->zk, r, r->root, NULL, NULL);
            r->parents_made = 1;
        }
        zk_create(r->zk, r, path, data.data, data.len, 0, write_done, w);
    }
    buf_free(&data);
}

static void zk_registry_apply(struct registry *base, const struct registry_op *op,
                              registry_done_fn done, void *arg)
{
    struct zk_registry *r = (struct zk_registry *)base;
    struct zk_write *w = XNEW(struct zk_write);
    w->r = r;
    if (op->type == REGISTRY_PUT_RECORD || op->type == REGISTRY_DELETE_RECORD)
        w->id = record_id(op->kind, op->key);
    else
        w->id = xstrdup(op->agent_id);
    w->done = done;
    w->arg = arg;
    w->session = zk_session_id(r->zk);
    TAILQ_INSERT_TAIL(&r->writes, w, link);
    struct zk_entry *e;
    switch (op->type) {
    case REGISTRY_ADMIT:
    case REGISTRY_MARK_REACHABLE:
        e = entry_get(r, op->agent_id);
        e->state = REGISTRY_ADMITTED;
        e->time = 0;
        pb_free(e->info);
        e->info = PB_COPY(Tepui__AgentInfo, op->info);
        break;
    case REGISTRY_MARK_UNREACHABLE:
    case REGISTRY_MARK_GONE:
        /* The info it was admitted with stays. */
        e = entry_get(r, op->agent_id);
        e->state = op->type == REGISTRY_MARK_GONE ? REGISTRY_GONE : REGISTRY_UNREACHABLE;
        e->time = op->time;
        break;
    case REGISTRY_REMOVE:
        e = entry_find(r, op->agent_id);
        if (e != NULL)
            entry_free(r, e);
        w->kind = WRITE_DELETE;
        break;
    case REGISTRY_PUT_RECORD:
        e = entry_get(r, w->id);
        e->is_record = 1;
        free(e->value);
        e->value = xmalloc(op->len ? op->len : 1);
        if (op->len > 0)
            memcpy(e->value, op->value, op->len);
        e->len = op->len;
        break;
    case REGISTRY_DELETE_RECORD:
        e = entry_find(r, w->id);
        if (e != NULL)
            entry_free(r, e);
        w->kind = WRITE_DELETE;
        break;
    }
    write_issue(w);
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
    struct zk_registry *r = arg;
    (void)fd;
    (void)what;
    if (!zk_is_connected(r->zk) && zk_session_id(r->zk) != 0) {
        /* Still cut off, the session maybe alive: wait on. */
        struct timeval tv = clock_timeval(RETRY_SECS);
        evtimer_add(r->retry_timer, &tv);
        return;
    }
    struct zk_write *w, *next;
    for (w = TAILQ_FIRST(&r->writes); w != NULL; w = next) {
        next = TAILQ_NEXT(w, link);
        if (w->waiting) {
            w->waiting = 0;
            write_issue(w);
        }
    }
}

/* ---- load ---- */

/* Reads <records_root>/<kind>/<key> into out (and the entries). */
static int load_records(struct zk_registry *r, struct registry_state *out, struct error *err)
{
    char **kinds = NULL;
    size_t n_kinds = 0;
    int rc = zk_sync_children(r->zk, r->records_root, &kinds, &n_kinds, err);
    if (rc == -ENOENT) {
        memset(err, 0, sizeof(*err));
        return 0;
    }
    for (size_t k = 0; rc == 0 && k < n_kinds; k++) {
        char dir[1024];
        snprintf(dir, sizeof(dir), "%s/%s", r->records_root, kinds[k]);
        char **names = NULL, **values = NULL, **paths = NULL;
        size_t n = 0, *lens = NULL;
        rc = zk_sync_children(r->zk, dir, &names, &n, err);
        if (rc == -ENOENT) {
            memset(err, 0, sizeof(*err));
            rc = 0;
            continue;
        }
        if (rc == 0 && n > 0) {
            paths = xcalloc(n, sizeof(char *));
            for (size_t i = 0; i < n; i++)
                paths[i] = xasprintf("%s/%s", dir, names[i]);
            rc = zk_sync_get_many(r->zk, paths, n, &values, &lens, err);
        }
        for (size_t i = 0; rc == 0 && i < n; i++) {
            if (values[i] == NULL)
                continue;
            char *key = record_key_decode(names[i]);
            registry_state_add_record(out, kinds[k], key, values[i], lens[i]);
            char *id = record_id(kinds[k], key);
            struct zk_entry *e = entry_get(r, id);
            e->is_record = 1;
            e->in_zk = 1;
            free(e->value);
            e->value = xmalloc(lens[i] ? lens[i] : 1);
            memcpy(e->value, values[i], lens[i]);
            e->len = lens[i];
            free(id);
            free(key);
        }
        zk_strings_free(names, n);
        zk_strings_free(paths, paths != NULL ? n : 0);
        zk_strings_free(values, values != NULL ? n : 0);
        free(lens);
    }
    zk_strings_free(kinds, n_kinds);
    if (rc == 0)
        log_info("read %zu records from the ZooKeeper registry %s", out->n_records,
                 r->records_root);
    return rc;
}

static int zk_registry_load(struct registry *base, struct registry_state *out, struct error *err)
{
    struct zk_registry *r = (struct zk_registry *)base;
    memset(out, 0, sizeof(*out));
    char **names = NULL, **values = NULL, **paths = NULL;
    size_t n = 0, *lens = NULL;
    int rc = zk_sync_children(r->zk, r->root, &names, &n, err);
    if (rc != 0) {
        /* Nothing was ever written here. */
        if (rc != -ENOENT)
            goto out;
        memset(err, 0, sizeof(*err));
        rc = 0;
        n = 0;
    }
    paths = xcalloc(n ? n : 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        char path[1024];
        node_path(r, names[i], path, sizeof(path));
        paths[i] = xstrdup(path);
    }
    if (n > 0 && (rc = zk_sync_get_many(r->zk, paths, n, &values, &lens, err)) != 0)
        goto out;
    entries_clear(r);
    r->parents_made = n > 0;
    out->agents = xcalloc(n ? n : 1, sizeof(*out->agents));
    for (size_t i = 0; i < n; i++) {
        if (values[i] == NULL)
            continue;   /* deleted between the listing and the read */
        Tepui__Internal__ZkRegistryAgent *z = tepui__internal__zk_registry_agent__unpack(
            NULL, lens[i], (const uint8_t *)values[i]);
        if (z == NULL || z->state < REGISTRY_ADMITTED || z->state > REGISTRY_GONE) {
            log_warn("ignoring the unreadable registry entry %s/%s", r->root, names[i]);
            pb_free(z);
            continue;
        }
        struct zk_entry *e = entry_get(r, names[i]);
        e->state = (enum registry_agent_state)z->state;
        e->time = z->has_time ? z->time : 0;
        e->info = z->info != NULL ? PB_COPY(Tepui__AgentInfo, z->info) : NULL;
        e->in_zk = 1;
        struct registry_agent *a = &out->agents[out->n_agents++];
        a->id = xstrdup(names[i]);
        a->state = e->state;
        a->time = e->time;
        a->info = z->info != NULL ? PB_COPY(Tepui__AgentInfo, z->info) : NULL;
        pb_free(z);
    }
    log_info("read %zu agents from the ZooKeeper registry %s", out->n_agents, r->root);
    rc = load_records(r, out, err);
out:
    zk_strings_free(names, n);
    zk_strings_free(paths, paths != NULL ? n : 0);
    zk_strings_free(values, values != NULL ? n : 0);
    free(lens);
    if (rc != 0) {
        registry_state_free(out);
        error_prefix(err, "ZooKeeper registry");
    }
    return rc;
}

static void zk_registry_free(struct registry *base)
{
    struct zk_registry *r = (struct zk_registry *)base;
    zk_cancel(r->zk, r);
    event_free(r->retry_timer);
    struct zk_write *w;
    while ((w = TAILQ_FIRST(&r->writes)) != NULL) {
        TAILQ_REMOVE(&r->writes, w, link);
        free(w->id);
        free(w);
    }
    entries_clear(r);
    free(r);
}

static const struct registry_backend zk_backend = {
    .name = "zookeeper",
    .load = zk_registry_load,
    .apply = zk_registry_apply,
    .free = zk_registry_free,
};

struct registry *registry_zk_new(struct event_base *base, struct zk *zk, const char *path,
                                 struct error *err)
{
    if (zk == NULL || path == NULL || path[0] != '/') {
        error_set(err, -EINVAL, "the ZooKeeper registry needs --zk");
        return NULL;
    }
    struct zk_registry *r = XNEW(struct zk_registry);
    r->base.backend = &zk_backend;
    r->base.base = base;
    r->zk = zk;
    snprintf(r->root, sizeof(r->root), "%s/registry/agents", strcmp(path, "/") == 0 ? "" : path);
    snprintf(r->records_root, sizeof(r->records_root), "%s/registry/records",
             strcmp(path, "/") == 0 ? "" : path);
    TAILQ_INIT(&r->writes);
    r->retry_timer = evtimer_new(base, retry_cb, r);
    return &r->base;
}
