/* The master's state and the functions its modules share. The master keeps
 * frameworks, agents, tasks and offers in memory (Mesos's model: they are
 * rebuilt from re-registering agents and schedulers after a failover), and
 * mutates them only on its one event loop. */
#ifndef TEPUI_MASTER_MASTER_H
#define TEPUI_MASTER_MASTER_H

#include <event2/event.h>
#include <stdint.h>
#include <sys/queue.h>
#include <uthash.h>

#include "common/flags.h"
#include "common/resources.h"
#include "common/task_state.h"
#include "http/server.h"
#include "internal.pb-c.h"
#include "master/allocator/allocator.h"
#include "master.pb-c.h"
#include "master/registry.h"
#include "mesos.pb-c.h"
#include "scheduler.pb-c.h"
#include "wire/codec.h"

struct master;
struct framework;
struct agent;
struct election;
struct maintenance;
struct quota;

struct master_flags {
    char *ip;
    int port;
    char *hostname;
    char *work_dir;
    char *cluster;
    double allocation_interval;
    double offer_timeout;               /* 0 = offers never expire */
    char *min_allocatable_resources;
    double agent_ping_timeout;
    int max_agent_ping_timeouts;
    double framework_heartbeat_interval;
    int max_completed_frameworks;
    int max_completed_tasks_per_framework;
    long long max_body_size;
    char *logging_level;
    /* Fault tolerance (Mesos's names and defaults). */
    char *registry;                     /* "in_memory" or "sqlite" */
    int registry_strict;                /* refuse a corrupt registry */
    double agent_reregister_timeout;
    double registry_gc_interval;
    double registry_max_agent_age;
    int registry_max_agent_count;
};

struct task {
    char *id;
    struct framework *framework;
    struct agent *agent;                /* NULL once the agent is removed */
    Tepui__Task *info;                  /* owned: id, name, state, resources, statuses ... */
    struct resources resources;         /* with allocation role */
    char *role;
    int resources_recovered;            /* given back to the allocator */
    UT_hash_handle hh;                  /* framework->tasks */
    TAILQ_ENTRY(task) agent_link;       /* agent->tasks */
};
TAILQ_HEAD(task_list, task);

struct offer {
    char *id;
    struct framework *framework;
    struct agent *agent;
    char *role;
    struct resources resources;
    struct event *expiry_timer;
    UT_hash_handle hh;                  /* master->offers */
    TAILQ_ENTRY(offer) framework_link;
    TAILQ_ENTRY(offer) agent_link;
};
TAILQ_HEAD(offer_list, offer);

/* A finished task kept for /state (bounded per framework). */
struct completed_tasks {
    Tepui__Task **v;
    size_t n, cap, next;
};

struct framework {
    char *id;
    Tepui__FrameworkInfo *info;         /* owned */
    char **roles;
    size_t n_roles;
    int connected;
    int active;
    /* Known only from a re-registering agent's report (after a failover):
     * inactive until its scheduler subscribes again. */
    int recovered;
    int partition_aware;
    enum wire_format format;            /* encoding of its event stream */
    struct http_stream *stream;
    char stream_id[40];
    struct event *heartbeat_timer;
    struct event *failover_timer;
    double registered_time, reregistered_time, unregistered_time;
    struct task *tasks;                 /* by task id */
    struct completed_tasks completed;
    struct offer_list offers;
    struct resources used;              /* by its live tasks */
    struct resources offered;
    struct master *master;
    UT_hash_handle hh;
};

/* A custom or default executor the master knows runs on an agent, with the
 * resources it was given (besides its tasks'), which go back to the
 * allocator when it exits or its framework is removed. Command executors
 * are the agent's business and are not tracked. */
struct executor {
    Tepui__Internal__RunningExecutor *re;   /* framework id and ExecutorInfo */
    struct resources resources;              /* allocation role set; may be empty */
};

struct agent {
    char *id;
    Tepui__AgentInfo *info;             /* owned; info->id set */
    char *pid;                          /* "slave(1)@ip:port" as Mesos shows it */
    struct resources total;
    struct resources used;              /* by tasks */
    struct resources offered;
    int connected;
    int active;
    char *version;
    struct http_stream *stream;
    enum wire_format format;
    char stream_id[40];
    struct event *ping_timer;
    int missed_pings;
    uint64_t ping_sequence;
    int pong_received;
    double registered_time, reregistered_time;
    struct task_list tasks;
    struct offer_list offers;
    /* Executors the agent reported or that the master launched, by framework. */
    struct executor *executors;
    size_t n_executors;
    struct master *master;
    UT_hash_handle hh;
};

struct master_metrics {
    uint64_t valid_status_updates, invalid_status_updates;
    uint64_t valid_framework_to_executor_messages, invalid_framework_to_executor_messages;
    uint64_t valid_executor_to_framework_messages, invalid_executor_to_framework_messages;
    uint64_t agent_registrations, agent_reregistrations, agent_removals;
    uint64_t agent_removals_unhealthy;
    uint64_t frameworks_removed;
    uint64_t offers_sent, offers_declined, offers_accepted, offers_rescinded;
    uint64_t tasks_by_state[16];        /* terminal transitions, by TaskState value */
    uint64_t messages_scheduler_calls;
    uint64_t dropped_messages;
    uint64_t http_api_errors;
};

struct master {
    struct event_base *base;
    struct master_flags flags;
    struct flag_set *flag_set;
    struct http_server *http;
    char id[64];                        /* this master run's UUID */
    char hostname[256];
    char ip[64];
    int port;
    char pid[320];                      /* "master@ip:port" */
    double start_time, elected_time;
    uint64_t next_framework, next_offer, next_agent, next_task_uuid;
    Tepui__MasterInfo *info;
    struct framework *frameworks;
    struct framework **completed_frameworks;   /* ring of the most recent */
    size_t n_completed_frameworks, next_completed_framework;
    struct agent *agents;
    struct offer *offers;
    /* Agents removed for missing pings, kept so that reconciliation can
     * answer for their tasks (and for a later re-registration). */
    struct unreachable_agent {
        char *id;
        double time;
        UT_hash_handle hh;
    } *unreachable;
    /* Agents the registry lists as admitted that have not re-registered
     * since this master was elected (--agent_reregister_timeout). */
    struct recovered_agent {
        char *id;
        Tepui__AgentInfo *info;
        UT_hash_handle hh;
    } *recovered;
    /* Agents marked gone (MARK_AGENT_GONE): refused for good. */
    struct gone_agent {
        char *id;
        double time;
        UT_hash_handle hh;
    } *gone;
    struct event *agent_reregister_timer;
    struct event *registry_gc_timer;
    /* A registry write failed: the master stops (as Mesos aborts), since
     * its decisions would not survive a failover. */
    int registry_failed;
    /* Registry writes made and made durable (the registry keeps their
     * order), and operator answers waiting for the writes before them. */
    uint64_t registry_writes_issued, registry_writes_done;
    struct durable_answer *durable_answers, **durable_answers_tail;
    struct allocator *allocator;
    struct master_metrics metrics;
    /* Leadership: a single master leads from the start; with --zk only the
     * elected one does, and the others redirect to it. */
    int leading;
    struct registry *registry;
    struct election *election;          /* with --zk (election.h), else NULL */
    struct quota *quota;                /* weights and quota (quota.c) */
    struct maintenance *maintenance;    /* maintenance.h; created on first use */
};

/* ---- master.c ---- */
struct master *master_new(struct event_base *base, struct master_flags *flags,
                          struct flag_set *flag_set, struct error *err);
void master_free(struct master *m);
/* Binds, routes and starts serving. */
int master_start(struct master *m, struct error *err);
void master_new_id(struct master *m, char kind, char *out, size_t n);
struct framework *master_find_framework(struct master *m, const char *id);
struct agent *master_find_agent(struct master *m, const char *id);

/* Replaces the allocator with an empty one (a new leader starts afresh). */
void master_reset_allocator(struct master *m);

/* ---- leadership (leader.c) ---- */
/* Starts acting as the leading master: reads the registry and waits for the
 * agents it lists to re-register (those that do not, in time, become
 * unreachable). */
int master_become_leader(struct master *m, struct error *err);
/* Stops acting as leader at once (the ZooKeeper session is lost): forgets
 * frameworks, agents, offers and tasks without telling agents to kill
 * anything, closes every stream, and waits to be elected again. */
void master_stop_leading(struct master *m);
/* Drops all in-memory state quietly (stepping down, or exiting): nothing is
 * sent to agents or schedulers, nothing is written to the registry. */
void master_forget_state(struct master *m);
/* Records a change of an agent in the registry (in order; a failure stops
 * the master). info for REGISTRY_ADMIT and REGISTRY_MARK_REACHABLE. */
void master_registry_apply(struct master *m, enum registry_op_type type, const char *agent_id,
                           const Tepui__AgentInfo *info, double time);
/* Any other registry write (records), with the same failure rule. */
void master_registry_write(struct master *m, const struct registry_op *op);
/* Answers req with 200 once every registry write made so far is durable,
 * as Mesos answers operator calls after its registrar commits: a master
 * that dies before then has told nobody the change was made. */
void master_answer_when_durable(struct master *m, struct http_request *req);
void master_durable_answers_free(struct master *m);
struct recovered_agent *master_find_recovered(struct master *m, const char *id);
struct gone_agent *master_find_gone(struct master *m, const char *id);
struct unreachable_agent *master_find_unreachable(struct master *m, const char *id);

/* ---- framework.c ---- */
struct framework *framework_create(struct master *m, const char *id,
                                   const Tepui__FrameworkInfo *info);
void framework_update_info(struct framework *f, const Tepui__FrameworkInfo *info);
void framework_attach_stream(struct framework *f, struct http_stream *st, enum wire_format fmt);
/* The closed callback to give http_stream_start for a subscription. */
void framework_stream_closed(struct http_stream *st, void *arg);
void framework_free_completed(struct master *m);
void framework_disconnect(struct framework *f, const char *why);
/* Kills its tasks, shuts its executors down and forgets it (TEARDOWN, or the
 * failover timeout). */
void framework_remove(struct framework *f, const char *why);
void framework_send_event(struct framework *f, const Tepui__Scheduler__Event *ev);
void framework_send_error(struct framework *f, const char *message);
/* Frees a framework, its tasks and offers without a word to anyone
 * (stepping down). */
void framework_forget(struct framework *f);
int framework_has_role(const struct framework *f, const char *role);
int framework_was_removed(struct master *m, const char *id);

/* ---- agent.c ---- */
void agent_routes(struct master *m);
void agent_send_event(struct agent *a, const Tepui__Internal__AgentEvent *ev);
/* Removes an agent that stopped answering: its tasks become LOST or
 * UNREACHABLE, offers on it are rescinded, the registry marks it
 * unreachable. */
void agent_remove_unreachable(struct agent *a, const char *why);
/* MARK_AGENT_GONE: registered, recovered or unreachable agents are marked
 * gone in the registry and refused from then on; a registered one is told
 * to shut down and its tasks become GONE_BY_OPERATOR (LOST for frameworks
 * that are not partition-aware). 0 (also when already gone) or -ENOENT. */
int agent_mark_gone(struct master *m, const char *agent_id);
/* START_MAINTENANCE: the agent's machine is DOWN. It is told to shut down
 * and forgotten by the registry; its tasks become LOST for every framework
 * (as Mesos). */
void agent_remove_down(struct agent *a, const char *message);
/* Tells every connected framework that an agent is lost (FAILURE). */
void agent_send_lost(struct master *m, const char *agent_id);
/* Frees an agent without a word to anyone (stepping down). */
void agent_forget(struct agent *a);
/* Records an executor (resources may be NULL) and charges its resources to
 * its framework and agent. */
void agent_add_executor(struct agent *a, const Tepui__FrameworkID *fid,
                        const Tepui__ExecutorInfo *info, const struct resources *resources);
/* Forgets an executor, giving its resources back to the allocator. */
void agent_remove_executor(struct agent *a, const char *framework_id, const char *executor_id);
int agent_has_executor(const struct agent *a, const char *framework_id, const char *executor_id);
void agent_forget_framework_executors(struct agent *a, const char *framework_id);

/* ---- task.c ---- */
struct task *task_create(struct framework *f, struct agent *a, const Tepui__TaskInfo *info,
                         const struct resources *resources, const char *role,
                         const Tepui__ExecutorID *executor_id);
struct task *task_find(struct framework *f, const char *task_id);
/* Applies a status update from the agent: state, resources on termination,
 * forwarding to the scheduler. */
void task_status_update(struct master *m, const Tepui__Internal__StatusUpdate *u,
                        struct agent *from);
/* Sends the scheduler an update the master makes itself (no uuid). */
void task_send_master_update(struct framework *f, const char *task_id, const char *agent_id,
                             task_state_t state, Tepui__TaskStatus__Reason reason,
                             const char *message);
/* Moves a task to a terminal state on the master's own authority (agent lost,
 * framework removed), recovering its resources and telling the scheduler
 * when notify is set. */
void task_terminate(struct task *t, task_state_t state, Tepui__TaskStatus__Reason reason,
                    const char *message, int notify);
/* Drops a task whose terminal update was acknowledged (or that must go). */
void task_remove(struct task *t);
/* Drops a task from the framework's completed (and unreachable) history,
 * when a re-registering agent brings it back. */
void task_forget_completed(struct framework *f, const char *task_id);
void task_acknowledged(struct task *t, const uint8_t *uuid, size_t len);
void task_reconcile(struct framework *f, Tepui__Scheduler__Call__Reconcile *r);
/* Frees a task without recovering anything (stepping down). */
void task_forget(struct task *t);
/* An unreachable agent was marked gone: its tasks kept as UNREACHABLE
 * become GONE_BY_OPERATOR (LOST unless partition-aware), and their
 * frameworks are told. */
void task_unreachable_agent_gone(struct master *m, const char *agent_id);
/* The registry forgot an unreachable agent: so do the frameworks'
 * histories of its unreachable tasks. */
void task_forget_unreachable(struct master *m, const char *agent_id);
Tepui__TaskStatus *task_latest_status(const struct task *t);

/* ---- offer.c ---- */
void offer_make(void *master, const char *framework_id, const struct allocation *allocs,
                size_t n);
struct offer *offer_find(struct master *m, const char *id);
/* Forgets an offer; the caller decides what happens to its resources. */
void offer_discard(struct offer *o);
/* Returns an offer's resources to the allocator and tells the framework
 * (RESCIND) when notify is set. */
void offer_rescind(struct offer *o, int notify);

/* ---- scheduler_api.c / accept.c ---- */
void scheduler_api_routes(struct master *m);
/* IDs must be non-empty, not "." or "..", at most 255 bytes, with no '/',
 * whitespace or control characters (they name sandbox directories). */
int master_validate_id(const char *kind, const char *id, struct error *err);
int master_validate_role(const char *role, struct error *err);
/* refuse_seconds of a Filters: 5 s by default or when negative, at most a year. */
double master_refuse_seconds(const Tepui__Filters *filters);
/* Returns offers to the allocator with the framework's filter. */
void master_decline_offers(struct framework *f, Tepui__OfferID **ids, size_t n,
                           const Tepui__Filters *filters);
void accept_offers(struct framework *f, const Tepui__Scheduler__Call__Accept *accept);

/* ---- state.c ---- */
void state_routes(struct master *m);

/* ---- operator_api.c ---- */
/* POST /api/v1: the Mesos v1 operator API. */
void operator_api_routes(struct master *m);
/* A v1 operator Response of that type (its body for the caller to fill). */
Tepui__Master__Response *operator_response_new(Tepui__Master__Response__Type type);
/* Answers 200 with r in fmt, and frees r. */
void operator_respond(struct http_request *req, enum wire_format fmt, Tepui__Master__Response *r);

/* ---- operator_resources.c: reservations and persistent volumes ---- */
struct operation;
/* Applies an operation (no allocation roles) to the agent's total and
 * sends the agent its new total to checkpoint. The caller updates the
 * allocator. */
int operator_resources_apply(struct agent *a, const struct operation *plain, struct error *err);
/* CHECKPOINT_RESOURCES with the agent's total. */
void operator_resources_send_total(struct agent *a);
/* RESERVE_RESOURCES, UNRESERVE_RESOURCES, CREATE_VOLUMES, DESTROY_VOLUMES:
 * answers the request and returns 1; 0 for any other call. */
int operator_resources_call(struct master *m, struct http_request *req,
                            const Tepui__Master__Call *call);
/* /reserve, /unreserve, /create-volumes, /destroy-volumes. */
void operator_resources_routes(struct master *m);

#endif
