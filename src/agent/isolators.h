/* Isolators, as Mesos's containerizer names them (--isolation): cgroups
 * limits on cpu, memory and processes, a PID namespace, a private mount
 * namespace, NVIDIA GPUs through the devices cgroup. The agent-wide state
 * (what is on, the detected hierarchies, the GPUs) and each container's
 * (its limits, its OOM watch). Starting processes is containers.c's. */
#ifndef TEPUI_AGENT_ISOLATORS_H
#define TEPUI_AGENT_ISOLATORS_H

#include <event2/event.h>
#include <stdint.h>

#include "agent/cgroups.h"
#include "common/error.h"
#include "mesos.pb-c.h"

struct agent;
struct agent_executor;

enum {
    ISO_POSIX_CPU = 1 << 0,
    ISO_POSIX_MEM = 1 << 1,
    ISO_CGROUPS_CPU = 1 << 2,
    ISO_CGROUPS_MEM = 1 << 3,
    ISO_CGROUPS_PIDS = 1 << 4,
    ISO_NAMESPACES_PID = 1 << 5,
    ISO_FILESYSTEM_LINUX = 1 << 6,
    ISO_GPU_NVIDIA = 1 << 7,
};

#define ISO_MAX_GPUS 64

struct isolation {
    unsigned on;                      /* ISO_* bits */
    int cgroups_on;                   /* containers get cgroups */
    struct cgroups cg;
    int enable_cfs;
    int limit_swap;
    long long pids_max;
    /* NVIDIA GPUs: their device minors, and which container holds each. */
    size_t n_gpus;
    unsigned gpu_minor[ISO_MAX_GPUS];
    char gpu_owner[ISO_MAX_GPUS][40]; /* container id, "" when free */
    /* Containers whose cgroups could not be removed yet (processes still
     * exiting): retried on a timer. */
    char **removing;
    size_t n_removing;
    struct event *remove_timer;
};

/* One container's isolation (e->container). */
struct container {
    char id[40];
    struct agent_executor *executor;
    int has_cgroups;
    double cpus;                      /* what its limits were set from */
    double cpus_limit;                /* CFS quota in cpus; 0: none */
    double mem_mb;
    double mem_limit_mb;
    size_t n_gpus;
    int oom_fd;                       /* eventfd (v1) or inotify (v2), -1 when none */
    struct event *oom_event;
    int limited;                      /* a limitation was raised */
};

/* Parses --isolation and the cgroups flags, checks that every isolator asked
 * for can work on this host (err names what is missing), prepares the root
 * cgroups and finds the GPUs (adding a gpus resource when --resources did
 * not say). */
int isolation_init(struct agent *a, struct error *err);
void isolation_fini(struct agent *a);

/* Whether containers need more than a posix spawn (cgroups, namespaces). */
int isolation_needs_clone(const struct agent *a);
/* Namespaces (CLONE_* flags) a container's executor starts in. */
int isolation_clone_flags(const struct agent *a);

/* Before the executor starts: its cgroups, limits, GPUs, OOM watch. */
int isolation_prepare(struct agent *a, struct agent_executor *e, struct error *err);
/* The container's resources changed (a task came or went): limits follow,
 * as Mesos's update(). */
void isolation_update(struct agent *a, struct agent_executor *e);
/* A restarted agent takes back a running container's cgroups. */
void isolation_recover(struct agent *a, struct agent_executor *e);
/* Kills every process of the container (by its cgroups); 1 if it could. */
int isolation_kill(struct agent *a, const char *container_id);
/* The container is over: everything in it is killed, its cgroups removed
 * (now, or on a retry timer while processes exit), its GPUs freed. */
void isolation_cleanup(struct agent *a, struct agent_executor *e);
/* The same for a container of an earlier run known by id only. */
void isolation_cleanup_id(struct agent *a, const char *container_id);
/* Drops the container's record, leaving its cgroups (agent exit: a
 * checkpointing framework's executor runs on). */
void isolation_forget(struct agent_executor *e);
/* Destroys cgroups under the root that no known container owns. */
void isolation_cleanup_unknown(struct agent *a);
/* Whether a memory limitation is pending for the container (an OOM seen
 * but not yet handled); handles it (reason on the executor) if so. */
int isolation_check_limitation(struct agent *a, struct agent_executor *e);

/* The container's resource usage (timestamp set); 0 or negative errno. */
int isolation_usage(struct agent *a, struct agent_executor *e, Tepui__ResourceStatistics *st);

#endif
