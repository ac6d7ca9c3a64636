/* The agent's state and the functions its modules share. An agent registers
 * with the master, runs executors (processes it starts in sandboxes under
 * --work_dir) and hands them tasks, and forwards their status updates to the
 * master reliably. Everything is mutated on the agent's one event loop. */
#ifndef TEPUI_AGENT_AGENT_H
#define TEPUI_AGENT_AGENT_H

#include <event2/event.h>
#include <stdint.h>
#include <sys/types.h>
#include <uthash.h>

#include "common/buf.h"
#include "common/flags.h"
#include "common/resources.h"
#include "common/task_state.h"
#include "executor.pb-c.h"
#include "http/client.h"
#include "http/server.h"
#include "internal.pb-c.h"
#include "mesos.pb-c.h"
#include "wire/codec.h"

struct agent;
struct agent_framework;
struct agent_executor;
struct fetcher;
struct fetch;
struct checkpoint;
struct isolation;
struct images;
struct container;

struct agent_flags {
    char *master;
    char *ip;
    int port;
    char *hostname;
    char *work_dir;
    char *resources;
    char *attributes;
    char *default_role;
    double executor_registration_timeout;
    double executor_shutdown_grace_period;
    char *launcher_dir;
    double registration_backoff_factor;
    double status_update_retry_interval;
    double executor_heartbeat_interval;
    int switch_user;
    char *executor_environment_variables;
    long long max_body_size;
    char *logging_level;
    char *fetcher_cache_dir;
    long long fetcher_cache_size;
    double fetcher_stall_timeout;
    char *recover;                    /* reconnect | cleanup */
    int strict;
    char *reconfiguration_policy;     /* equal | additive */
    double executor_reregistration_timeout;
    double recovery_timeout;
    double zk_session_timeout;
    /* Isolation (isolators.c, cgroups.c). */
    char *isolation;
    char *cgroups_hierarchy;
    char *cgroups_root;
    int cgroups_enable_cfs;
    int cgroups_limit_swap;
    int cgroups_pids_max;
    /* Container images (images/). */
    char *image_store_dir;
    char *docker_registry;
};

struct agent_task {
    char *id;
    struct agent_executor *executor;
    Tepui__TaskInfo *info;            /* as the master sent it */
    task_state_t state;               /* the newest state the agent knows */
    int launched;                     /* handed to the executor */
    int kill_requested;
    int64_t ckpt_seq;                 /* its checkpoint row, 0 if none */
    UT_hash_handle hh;                /* executor->tasks */
};

enum executor_state {
    EXECUTOR_LAUNCHING,     /* process started, not subscribed yet */
    EXECUTOR_RUNNING,       /* subscribed */
    EXECUTOR_TERMINATING,   /* asked to shut down */
    EXECUTOR_TERMINATED,    /* process gone */
};

struct volume_mount;

struct agent_executor {
    char *id;
    struct agent *agent;
    struct agent_framework *framework;
    Tepui__ExecutorInfo *info;
    char container_id[40];
    char *directory;                  /* the run's sandbox */
    int command_executor;             /* generated for a command task */
    enum executor_state state;
    pid_t pid;
    struct http_stream *stream;       /* its SUBSCRIBE stream */
    enum wire_format format;
    struct agent_task *tasks;         /* by task id */
    Tepui__TaskGroupInfo **queued_groups;   /* groups to launch on subscription */
    size_t n_queued_groups;
    struct event *registration_timer;
    struct event *shutdown_timer;
    int exit_reported;                /* EXECUTOR_EXITED sent to the master */
    int reason_set;                   /* why it is being destroyed, for its tasks */
    Tepui__TaskStatus__Reason reason;
    char *reason_message;
    struct fetch *fetch;              /* fetching its URIs (fetcher.c), before it starts */
    int64_t ckpt_seq;                 /* its checkpoint row, 0 if none */
    /* Recovered from the checkpoint by a restarted agent, which is not its
     * parent: awaiting its re-subscription, its exit comes from a pidfd. */
    int adopted;                      /* from the checkpoint: not the agent's child */
    int recovered;                    /* adopted, not re-subscribed yet */
    int pidfd;                        /* -1 when not watched that way */
    struct event *exit_watch;
    struct buf deferred;              /* events waiting for the turn's commit */
    struct container *container;      /* its isolation (isolators.h), NULL if none */
    struct volume_mount *volume_mounts;   /* persistent volumes in it (volumes.c) */
    UT_hash_handle hh;                /* framework->executors */
    UT_hash_handle hh_pid;            /* agent->executors_by_pid */
};

struct agent_framework {
    char *id;
    Tepui__FrameworkInfo *info;
    struct agent_executor *executors;
    int shutting_down;
    int64_t ckpt_seq;                 /* its checkpoint row, 0 if none */
    UT_hash_handle hh;
};

enum master_link_state { LINK_DISCONNECTED, LINK_CONNECTING, LINK_REGISTERED };

struct agent {
    struct event_base *base;
    struct agent_flags flags;
    struct flag_set *flag_set;
    /* Told by the master's DRAIN_AGENT kills (tasks.c): 1 draining, 2 with
     * mark_gone; until no task is left or the agent subscribes again. */
    int draining;
    struct http_server *http;
    char ip[64];
    int port;
    char hostname[256];
    char *id;                         /* NULL until registered */
    Tepui__AgentInfo *info;
    struct resources total;
    double start_time;
    char *executor_path;              /* the tepui-executor binary */
    Tepui__CommandInfo *default_executor_command;  /* built on first use */
    struct fetcher *fetcher;          /* URIs into sandboxes, and their cache */
    struct checkpoint *ckpt;          /* checkpoint.c; NULL once closed */
    struct isolation *isolation;      /* --isolation (isolators.h) */
    struct images *images;            /* container images (images/images.h) */
    /* Recovery (recover.c): executors of the previous run still to
     * re-subscribe before the agent registers with the master. */
    int recovering;
    size_t awaiting_executors;
    int stop_all_executors;           /* on exit, even those of checkpointing frameworks */
    struct event *reregistration_timer;
    double recovery_started;

    /* The link to the master. */
    struct http_endpoint master_ep;
    enum master_link_state link;
    struct http_client_stream *master_stream;
    struct recordio_reader *master_reader;
    char master_stream_id[64];
    struct http_client *master_calls;
    struct event *reconnect_timer;
    double reconnect_backoff;
    Tepui__MasterInfo *master_info;
    /* With --master=zk://...: finds the leading master (src/ha/detector.h);
     * master_ep follows it, and is empty (port 0) while none leads. */
    struct detector *master_detector;

    struct agent_framework *frameworks;
    struct agent_executor *executors_by_pid;
    struct event *sigchld;
    struct event *executor_heartbeat_timer;
    struct update_stream *updates;    /* status update streams, by framework/task */
    struct {
        char **keys;                  /* streams whose head goes out this turn */
        size_t n, cap;
        struct event *flush;
        int waiting;                  /* for the checkpoint's commit */
    } batch;
    /* The most recent executors that ended, as /state shows them:
     * [{"framework_id", "framework_name", "executor": {...}}]. */
    json_t *completed_executors;

    struct {
        uint64_t launched_tasks, valid_status_updates, invalid_status_updates;
        uint64_t executors_registering, executors_terminated;
        uint64_t registrations, reregistrations;
        uint64_t recovery_errors;
        double recovery_time_secs;
    } metrics;
};

/* ---- agent.c ---- */
struct agent *agent_new(struct event_base *base, struct agent_flags *flags, struct flag_set *fs,
                        struct error *err);
int agent_start(struct agent *a, struct error *err);
void agent_free(struct agent *a);
struct agent_framework *agent_find_framework(struct agent *a, const char *id);
struct agent_framework *agent_get_framework(struct agent *a, const Tepui__FrameworkInfo *info);
struct agent_executor *agent_find_executor(struct agent *a, const char *framework_id,
                                           const char *executor_id);
struct agent_task *agent_find_task(struct agent *a, const char *framework_id, const char *task_id,
                                   struct agent_executor **executor);
/* Drops a framework once nothing of it is left. */
void agent_release_framework_if_idle(struct agent *a, struct agent_framework *f);
/* Whether the framework checkpoints (its executors outlive the agent). */
int agent_framework_checkpoints(const struct agent_framework *f);
/* Parses --attributes ("rack:2;zone:a;ports:[1-2];tags:{a,b}"). */
int agent_parse_attributes(const char *text, Tepui__Attribute ***out, size_t *n,
                           struct error *err);
void agent_free_attributes(Tepui__Attribute **v, size_t n);
/* Resources of this machine when --resources does not say. */
void agent_detect_resources(const char *work_dir, struct resources *out);

/* ---- master_link.c ---- */
void master_link_start(struct agent *a);
void master_link_stop(struct agent *a);
/* Posts an AgentCall to the master (fire and forget; the status update
 * manager does its own retries). */
void master_link_send(struct agent *a, Tepui__Internal__AgentCall *call);

/* ---- tasks.c ---- */
void tasks_run(struct agent *a, const Tepui__Internal__AgentEvent__RunTask *rt);
void tasks_run_group(struct agent *a, const Tepui__Internal__AgentEvent__RunTaskGroup *rg);
void tasks_kill(struct agent *a, const Tepui__Internal__AgentEvent__KillTask *kt);
void tasks_shutdown_framework(struct agent *a, const char *framework_id);
void tasks_shutdown_executor(struct agent *a, const char *framework_id, const char *executor_id);
void tasks_framework_message(struct agent *a,
                             const Tepui__Internal__AgentEvent__FrameworkMessage *fm);
/* Makes an update on the agent's own authority (uuid, SOURCE_AGENT) and
 * hands it to the status update manager. */
void tasks_agent_update(struct agent *a, struct agent_executor *e, struct agent_task *t,
                        task_state_t state, Tepui__TaskStatus__Reason reason,
                        const char *message);
/* Before a task goes to its running executor: its persistent volumes into
 * the container; on failure the task fails (TASK_FAILED) and -1. */
int tasks_mount_volumes(struct agent *a, struct agent_executor *e, struct agent_task *t);
/* A terminal update while the agent drains, as Mesos's agent rewrites it. */
void tasks_drain_rewrite(const struct agent *a, Tepui__TaskStatus *st);
/* The master acknowledged an update of a task: a terminal one ends the
 * agent's record of the task. */
void tasks_update_acknowledged(struct agent *a, const char *framework_id, const char *task_id,
                               task_state_t state);
/* Called by containers.c when an executor's process is gone: ends its
 * tasks with the right state and forgets it. */
void tasks_executor_terminated(struct agent *a, struct agent_executor *e, int wait_status);
/* Forgets an executor and its tasks (its process must be gone). */
void tasks_executor_free(struct agent *a, struct agent_executor *e);
/* Called by fetcher.c once an executor's URIs are in its sandbox: starts
 * its process. */
void tasks_executor_fetched(struct agent *a, struct agent_executor *e);
/* Everything the agent runs, for (re-)registration. */
void tasks_report(struct agent *a, Tepui__Internal__AgentCall__Subscribe *s);
void tasks_report_free(Tepui__Internal__AgentCall__Subscribe *s);

/* ---- recover.c ---- */
/* Reads the checkpoint and rebuilds what the previous run left (or
 * forgets it: --recover=cleanup, a reboot). Returns 0 when the agent may
 * register now, 1 when it waits for executors to re-subscribe (it
 * registers once they have, or at --executor_reregistration_timeout), or a
 * negative code when it must not start (err says why). */
int recover_start(struct agent *a, struct error *err);
/* A recovered executor subscribed again, with what it had not had
 * acknowledged (its updates are taken already). */
void recover_executor_subscribed(struct agent *a, struct agent_executor *e,
                                 const Tepui__Executor__Call__Subscribe *s);
/* A recovered executor is gone before it re-subscribed. */
void recover_executor_gone(struct agent *a, struct agent_executor *e);
void recover_stop(struct agent *a);

/* ---- containers.c ---- */
int containers_launch(struct agent *a, struct agent_executor *e, struct error *err);
/* Creates the executor's sandbox (e->directory, the runs' "latest" link,
 * stdout and stderr), owned by the user it will run as. */
int containers_prepare_sandbox(struct agent *a, struct agent_executor *e, struct error *err);
/* The user the executor's processes become (the command's, else the
 * framework's), or NULL when the agent does not switch users. */
const char *containers_switch_user(const struct agent *a, const struct agent_executor *e);
/* SHUTDOWN to the executor, then SIGKILL after the grace period. */
void containers_shutdown(struct agent *a, struct agent_executor *e);
/* SIGKILL to the executor's whole process group at once. */
void containers_destroy(struct agent *a, struct agent_executor *e);
/* Sets up isolation (--isolation): err says what this host lacks. */
int containers_init(struct agent *a, struct error *err);
/* The container's resources changed (a task came or went). */
void containers_update(struct agent *a, struct agent_executor *e);
/* The executor is being forgotten: its container's isolation goes (its
 * cgroups, after killing what is left in them). */
void containers_release(struct agent *a, struct agent_executor *e);
/* After recovery: removes container cgroups no known executor owns. */
void containers_cleanup_unknown(struct agent *a);
/* A process and every process below it or in its session (from /proc). */
size_t containers_process_tree(pid_t root, pid_t **out);
/* Agent shutdown: executors of frameworks that checkpoint are left
 * running (a restarted agent recovers them, as Mesos's); the others are
 * killed. */
void containers_fini(struct agent *a);
/* Whether the checkpointed pid is still e's process (pids are reused: it
 * must carry e's MESOS_CONTAINER_ID); if so its exit is watched (a pidfd)
 * and 1 is returned. */
int containers_reattach(struct agent *a, struct agent_executor *e);
/* Kills what is left of a container of an earlier run: pid (when it is
 * still that container's) and its tree, and any process carrying its id. */
void containers_kill_orphan(struct agent *a, const char *container_id, pid_t pid);
/* Stops watching a reattached executor's exit. */
void containers_unwatch(struct agent_executor *e);

/* ---- executor_api.c ---- */
void executor_api_routes(struct agent *a);
void executor_api_stop(struct agent *a);
void executor_send_event(struct agent_executor *e, const Tepui__Executor__Event *ev);
/* Sends everything queued for a newly subscribed executor. */
void executor_flush_queue(struct agent *a, struct agent_executor *e);

/* ---- updates.c (the status update manager) ---- */
/* Adds an update to its task's stream; duplicates (same uuid) are dropped.
 * Returns 0, or -EEXIST for a duplicate. */
int updates_add(struct agent *a, const char *framework_id, const Tepui__TaskStatus *status);
void updates_acknowledged(struct agent *a, const char *framework_id, const char *task_id,
                          const uint8_t *uuid, size_t len);
/* (Re)sends the head of every stream, after (re)registration. */
void updates_resend_all(struct agent *a);
/* A checkpointed update (taken) back into its stream, not sent yet. */
void updates_recover(struct agent *a, const char *framework_id, Tepui__TaskStatus *status,
                     int64_t seq);
/* Checkpoints every stream again (into a new checkpoint file). */
void updates_checkpoint_all(struct agent *a);
/* Forgets a framework's streams (it was shut down). */
void updates_drop_framework(struct agent *a, const char *framework_id);
int updates_pending(struct agent *a, const char *framework_id, const char *task_id);
void updates_free_all(struct agent *a);

/* ---- monitor.c ---- */
struct http_request;
/* GET /monitor/statistics: every running container's resource usage. */
void monitor_statistics_handler(struct http_request *req, void *arg);

/* ---- endpoints.c ---- */
void endpoints_routes(struct agent *a);
/* Keeps an ending executor's summary (sandbox directory, tasks) for /state. */
void endpoints_record_completed(struct agent *a, const struct agent_executor *e);

#endif
