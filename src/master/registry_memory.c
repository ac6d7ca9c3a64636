/* The in-memory registry (--registry=in_memory, and tests): the same
 * semantics as the durable backends, but it lives as long as the process.
 * It survives a demotion and re-election within the process (Mesos's
 * in_memory registry is for tests too). */
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "common/xalloc.h"
#include "master/registry.h"
#include "master/registry_batch.h"
#include "wire/pb.h"

struct memory_entry {
    char *id;
    enum registry_agent_state state;
    double time;
    Tepui__AgentInfo *info;
    UT_hash_handle hh;                /* insertion order is kept */
};

/* A record, keyed by "<kind>:<key>" (kinds have no ':'). */
struct memory_record {
    char *id;
    size_t kind_len;
    uint8_t *value;
    size_t len;
    UT_hash_handle hh;
};

struct memory_registry {
    struct registry base;
    struct memory_entry *entries;
    struct memory_record *records;
    struct registry_batch batch;
};

static struct memory_entry *entry_get(struct memory_registry *r, const char *id)
{
    struct memory_entry *e = NULL;
    HASH_FIND_STR(r->entries, id, e);
    if (e == NULL) {
        e = XNEW(struct memory_entry);
        e->id = xstrdup(id);
        HASH_ADD_KEYPTR(hh, r->entries, e->id, strlen(e->id), e);
    }
    return e;
}

static void entry_free(struct memory_registry *r, struct memory_entry *e)
{
    HASH_DEL(r->entries, e);
    free(e->id);
    pb_free(e->info);
    free(e);
}

static void record_free(struct memory_registry *r, struct memory_record *rec)
{
    HASH_DEL(r->records, rec);
    free(rec->id);
    free(rec->value);
    free(rec);
}

static void record_apply(struct memory_registry *r, const struct registry_op *op)
{
    char *id = xasprintf("%s:%s", op->kind, op->key);
    struct memory_record *rec = NULL;
    HASH_FIND_STR(r->records, id, rec);
    if (rec != NULL)
        record_free(r, rec);
    if (op->type == REGISTRY_PUT_RECORD) {
        rec = XNEW(struct memory_record);
        rec->id = id;
        id = NULL;
        rec->kind_len = strlen(op->kind);
        rec->value = xmalloc(op->len ? op->len : 1);
        if (op->len > 0)
            memcpy(rec->value, op->value, op->len);
        rec->len = op->len;
        HASH_ADD_KEYPTR(hh, r->records, rec->id, strlen(rec->id), rec);
    }
    free(id);
}

static int memory_load(struct registry *base, struct registry_state *out, struct error *err)
{
    struct memory_registry *r = (struct memory_registry *)base;
    (void)err;
    memset(out, 0, sizeof(*out));
    size_t n = HASH_COUNT(r->entries);
    out->agents = xcalloc(n ? n : 1, sizeof(*out->agents));
    struct memory_entry *e, *tmp;
    HASH_ITER(hh, r->entries, e, tmp) {
        struct registry_agent *a = &out->agents[out->n_agents++];
        a->id = xstrdup(e->id);
        a->state = e->state;
        a->time = e->time;
        a->info = PB_COPY(Tepui__AgentInfo, e->info);
    }
    struct memory_record *rec, *rtmp;
    HASH_ITER(hh, r->records, rec, rtmp) {
        char *kind = xstrndup(rec->id, rec->kind_len);
        registry_state_add_record(out, kind, rec->id + rec->kind_len + 1, rec->value, rec->len);
        free(kind);
    }
    return 0;
}

static void memory_apply(struct registry *base, const struct registry_op *op,
                         registry_done_fn done, void *arg)
{
    struct memory_registry *r = (struct memory_registry *)base;
    struct memory_entry *e;
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
        e = NULL;
        HASH_FIND_STR(r->entries, op->agent_id, e);
        if (e != NULL)
            entry_free(r, e);
        break;
    case REGISTRY_PUT_RECORD:
    case REGISTRY_DELETE_RECORD:
        record_apply(r, op);
        break;
    }
    registry_batch_add(&r->batch, done, arg);
}

static void memory_flush(void *arg)
{
    struct memory_registry *r = arg;
    registry_batch_finish(&r->batch, 0, NULL);
}

static void memory_free(struct registry *base)
{
    struct memory_registry *r = (struct memory_registry *)base;
    registry_batch_fini(&r->batch);
    struct memory_entry *e, *tmp;
    HASH_ITER(hh, r->entries, e, tmp) {
        entry_free(r, e);
    }
    struct memory_record *rec, *rtmp;
    HASH_ITER(hh, r->records, rec, rtmp) {
        record_free(r, rec);
    }
    free(r);
}

static const struct registry_backend memory_backend = {
    .name = "in_memory",
    .load = memory_load,
    .apply = memory_apply,
    .free = memory_free,
};

struct registry *registry_memory_new(struct event_base *base)
{
    struct memory_registry *r = XNEW(struct memory_registry);
    r->base.backend = &memory_backend;
    r->base.base = base;
    registry_batch_init(&r->batch, base, memory_flush, r);
    return &r->base;
}
