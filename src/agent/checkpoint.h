/* The agent's checkpoints, in one SQLite database (<work_dir>/meta/agent.db,
 * WAL): the agent's id, AgentInfo and boot id, and for frameworks that
 * checkpoint (FrameworkInfo.checkpoint, as Mesos) their FrameworkInfo,
 * executors, tasks and every status update not yet acknowledged. Writes
 * join one transaction per turn of the agent's loop, committed at the end
 * of the turn or sooner when something must not leave the agent before it
 * is durable (ckpt_sync). This module only stores and loads; what a
 * restarted agent makes of it is recover.c's. */
#ifndef TEPUI_AGENT_CHECKPOINT_H
#define TEPUI_AGENT_CHECKPOINT_H

#include <stdint.h>
#include <sys/types.h>

#include "agent/agent.h"

/* What a checkpoint holds, as loaded (every pointer owned). Rows that
 * could not be decoded are not here but in problems. */
struct ckpt_framework {
    int64_t seq;
    Tepui__FrameworkInfo *info;
};

struct ckpt_executor {
    int64_t seq;
    char *framework_id;
    Tepui__ExecutorInfo *info;
    char *container_id;
    char *directory;          /* NULL until its sandbox was made */
    pid_t pid;                /* 0: never started */
    int command_executor;
};

struct ckpt_task {
    int64_t seq;
    char *framework_id;
    char *executor_id;
    Tepui__TaskInfo *info;
    int launched;
    int state;                /* the newest acknowledged state */
    char *group;              /* the group it was queued with, or NULL */
};

struct ckpt_update {
    int64_t seq;
    char *framework_id;
    Tepui__TaskStatus *status;
};

struct ckpt_state {
    char *agent_id;
    Tepui__AgentInfo *agent_info;
    char *boot_id;
    struct ckpt_framework *frameworks;
    size_t n_frameworks;
    struct ckpt_executor *executors;
    size_t n_executors;
    struct ckpt_task *tasks;
    size_t n_tasks;
    struct ckpt_update *updates;   /* in the order they were made */
    size_t n_updates;
    /* What could not be read back, one sentence each. */
    char **problems;
    size_t n_problems;
    int unreadable;           /* the file itself is damaged (not only rows) */
    /* The agent's total after reservations and volumes (ckpt_agent), or
     * NULL (a checkpoint written before there were any). */
    Tepui__Internal__CheckpointedResources *resources;
};

/* Opens (creating) the database. A file that SQLite cannot open or that is
 * not a database is reported in err (the caller decides what to do). */
int ckpt_open(struct agent *a, struct error *err);
/* Commits what is pending and closes; writes after this are no-ops. */
void ckpt_close(struct agent *a);
/* The database's path (valid while open, or after a failed open). */
const char *ckpt_path(const struct agent *a);

/* Reads back what it can: undecodable rows and damage are listed in
 * st->problems (st->unreadable for damage to the file itself). */
void ckpt_load(struct agent *a, struct ckpt_state *st);
void ckpt_state_add_problem(struct ckpt_state *st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void ckpt_state_free(struct ckpt_state *st);

/* Forgets everything checkpointed. With set_aside, the old file is kept
 * beside the new one (<path>.broken-<time>) for a person to look at. */
int ckpt_reset(struct agent *a, int set_aside, struct error *err);

/* ---- writes (no-ops when the agent has no open checkpoint) ---- */
/* The agent's id, AgentInfo, the boot id it runs under and its total
 * resources (with reservations and persistent volumes). */
void ckpt_agent(struct agent *a);
void ckpt_framework(struct agent *a, struct agent_framework *f);
void ckpt_framework_remove(struct agent *a, struct agent_framework *f);
/* Inserts or rewrites an executor's row (its pid and sandbox included). */
void ckpt_executor(struct agent *a, struct agent_executor *e);
/* Removes an executor's row and its tasks' rows. */
void ckpt_executor_remove(struct agent *a, struct agent_executor *e);
/* A task the agent holds: group names the task group it came with (NULL
 * for a single task). */
void ckpt_task(struct agent *a, struct agent_executor *e, struct agent_task *t,
               const char *group);
void ckpt_task_launched(struct agent *a, struct agent_task *t);
void ckpt_task_state(struct agent *a, struct agent_task *t, int state);
void ckpt_task_remove(struct agent *a, struct agent_task *t);
/* Appends an update to its task's stream; returns its sequence number. */
int64_t ckpt_update(struct agent *a, const char *framework_id, const Tepui__TaskStatus *status);
void ckpt_update_remove(struct agent *a, int64_t seq);

/* ---- durability ---- */
/* Whether writes are waiting for the turn's commit. */
int ckpt_pending(const struct agent *a);
/* Commits now and runs what waited for it. */
void ckpt_sync(struct agent *a);
/* Runs fn(arg) once the pending writes are durable (at once if none are). */
void ckpt_after_commit(struct agent *a, void (*fn)(void *arg), void *arg);
/* Drops what waits with arg (it is being freed). */
void ckpt_cancel(struct agent *a, void *arg);

/* The machine's boot id (/proc/sys/kernel/random/boot_id), "" if unknown. */
void ckpt_read_boot_id(char *out, size_t n);

#endif
