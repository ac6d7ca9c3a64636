/* The registry: what must survive a master failover (Mesos's model), i.e.
 * which agents were admitted, which are unreachable (since when) and which
 * are gone for good, and the cluster's records: role weights and quota
 * (later also maintenance schedules). Frameworks and tasks are not in it:
 * agents and schedulers re-report them.
 *
 * One interface, several backends: in memory (tests, --registry=in_memory),
 * SQLite in the master's work dir (a single master), ZooKeeper (several
 * masters: the leader writes, a new leader reads it back).
 *
 * Writes are asynchronous: the callback runs on the master's loop once the
 * change is durable (for SQLite and in memory: later in the same loop turn,
 * once the transaction holding every change made during that turn has
 * committed, never from inside registry_apply; for ZooKeeper: after the
 * round trip), or with an error. Changes are applied in the order they are
 * made. registry_free runs no callback (SQLite commits what is queued). */
#ifndef TEPUI_MASTER_REGISTRY_H
#define TEPUI_MASTER_REGISTRY_H

#include <event2/event.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "mesos.pb-c.h"

enum registry_agent_state {
    REGISTRY_ADMITTED = 1,
    REGISTRY_UNREACHABLE = 2,
    REGISTRY_GONE = 3,
};

struct registry_agent {
    char *id;
    enum registry_agent_state state;
    double time;                  /* when it became unreachable or gone (wall seconds) */
    Tepui__AgentInfo *info;       /* as admitted (may be NULL for unreachable/gone) */
};

/* A record: a value (a packed protobuf message) under a kind and a key,
 * e.g. kind "weight", key the role, value a WeightInfo. New kinds need no
 * change to the backends. */
#define REGISTRY_KIND_WEIGHT "weight"   /* key: role; value: tepui.WeightInfo */
#define REGISTRY_KIND_QUOTA "quota"     /* key: role; value: tepui.quota.QuotaConfig */
/* Maintenance (maintenance.c): the schedule, DOWN machines, agents drained
 * or deactivated by the operator. */
#define REGISTRY_KIND_MAINTENANCE_SCHEDULE "maintenance_schedule" /* key "schedule": maintenance.Schedule */
#define REGISTRY_KIND_MACHINE_DOWN "machine_down"     /* key: machine; value: MachineID */
#define REGISTRY_KIND_AGENT_DRAIN "agent_drain"       /* key: agent id; value: DrainInfo */
#define REGISTRY_KIND_AGENT_DEACTIVATED "agent_deactivated" /* key: agent id; empty value */

struct registry_record {
    char *kind;
    char *key;
    uint8_t *value;
    size_t len;
};

/* Everything the registry holds, as loaded by a new leader. */
struct registry_state {
    struct registry_agent *agents;
    size_t n_agents;
    struct registry_record *records;   /* in no particular order */
    size_t n_records;
};

void registry_state_free(struct registry_state *s);
/* Appends a copy of a record (for backends' load). */
void registry_state_add_record(struct registry_state *s, const char *kind, const char *key,
                               const void *value, size_t len);

enum registry_op_type {
    REGISTRY_ADMIT,               /* agent (with info) admitted; an admitted agent's
                                   * info is replaced (Mesos's UpdateSlave) */
    REGISTRY_MARK_UNREACHABLE,    /* agent id, time */
    REGISTRY_MARK_REACHABLE,      /* an unreachable agent came back: admitted again (with info) */
    REGISTRY_MARK_GONE,           /* agent id, time: never admitted again */
    REGISTRY_REMOVE,              /* forget an agent entirely (GC of old entries) */
    REGISTRY_PUT_RECORD,          /* kind, key, value: set (replace) a record */
    REGISTRY_DELETE_RECORD,       /* kind, key: forget a record (absent is fine) */
};

struct registry_op {
    enum registry_op_type type;
    const char *agent_id;
    const Tepui__AgentInfo *info; /* ADMIT, MARK_REACHABLE */
    double time;
    const char *kind;             /* PUT_RECORD, DELETE_RECORD */
    const char *key;
    const uint8_t *value;         /* PUT_RECORD */
    size_t len;
};

typedef void (*registry_done_fn)(void *arg, int rc, const struct error *err);

struct registry;

struct registry_backend {
    const char *name;
    /* Reads everything (a new leader's recovery). May be called again after
     * a demotion and re-election. */
    int (*load)(struct registry *r, struct registry_state *out, struct error *err);
    /* Queues a change; done (may be NULL) runs on the loop when it is durable. */
    void (*apply)(struct registry *r, const struct registry_op *op, registry_done_fn done,
                  void *arg);
    void (*free)(struct registry *r);
};

/* Every backend's handle starts with this. */
struct registry {
    const struct registry_backend *backend;
    struct event_base *base;
};

static inline int registry_load(struct registry *r, struct registry_state *out, struct error *err)
{
    return r->backend->load(r, out, err);
}

static inline void registry_apply(struct registry *r, const struct registry_op *op,
                                  registry_done_fn done, void *arg)
{
    r->backend->apply(r, op, done, arg);
}

static inline void registry_free(struct registry *r)
{
    if (r != NULL)
        r->backend->free(r);
}

/* Backends. */
struct registry *registry_memory_new(struct event_base *base);
/* The SQLite file (WAL) under dir; err says what is wrong with a corrupt
 * or half-written file (what can and cannot be recovered). */
struct registry *registry_sqlite_new(struct event_base *base, const char *dir, struct error *err);
/* Under <path>/registry/agents on the session of --zk (registry_zk.c). */
struct zk;
struct registry *registry_zk_new(struct event_base *base, struct zk *zk, const char *path,
                                 struct error *err);
/* The file registry_sqlite_new uses under dir (malloc'd). */
char *registry_sqlite_path(const char *dir);
/* For a registry that registry_sqlite_new found corrupt (-EBADMSG): moves
 * the file aside (<file>.corrupt-<seconds>, kept for inspection) and writes
 * a new one holding every entry that could still be read. Returns how many
 * were kept, or a negative code with err. */
int registry_sqlite_salvage(const char *dir, struct error *err);

#endif
