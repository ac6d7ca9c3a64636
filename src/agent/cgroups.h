/* Control groups on this host, v1 and v2: which controllers are mounted
 * where (detected once at start-up), and the container cgroups tepui keeps
 * below its root (<hierarchy>/<controller>/<root>/<container id> on v1,
 * <v2 mount>/<root>/<container id> on v2). This module only manipulates
 * cgroup files; what limits mean is the isolators' business. */
#ifndef TEPUI_AGENT_CGROUPS_H
#define TEPUI_AGENT_CGROUPS_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"

enum cg_controller {
    CG_CPU,
    CG_CPUACCT,
    CG_MEMORY,
    CG_PIDS,
    CG_DEVICES,
    CG_FREEZER,
    CG_N
};

struct cgroups {
    char root[128];                 /* the directory of tepui's containers, e.g. "tepui" */
    int version[CG_N];              /* 0 when not available, else 1 or 2 */
    char mount[CG_N][256];          /* where the controller's hierarchy is mounted */
    char v2_mount[256];               /* the unified hierarchy, "" when absent */
    unsigned used;                  /* bit per controller that containers get */
};

const char *cgroups_controller_name(enum cg_controller c);

/* Finds the mounted hierarchies under hierarchy (v1 controllers are
 * preferred where a controller is in both). */
int cgroups_detect(struct cgroups *cg, const char *hierarchy, const char *root, struct error *err);

/* Path of a container's cgroup (id NULL: the root) for a controller, with
 * file appended when not NULL. */
void cgroups_path(const struct cgroups *cg, enum cg_controller c, const char *id, const char *file,
                  char *out, size_t n);

/* Creates the root (enabling v2 controllers below it) and checks it can be
 * written. */
int cgroups_prepare_root(struct cgroups *cg, struct error *err);

/* Creates a container's cgroups in every used controller. */
int cgroups_create(const struct cgroups *cg, const char *id, struct error *err);
/* Whether any of the container's cgroups exists. */
int cgroups_exists(const struct cgroups *cg, const char *id);

/* Descriptors (O_CLOEXEC, write-only) of the container's cgroup.procs files,
 * one per distinct hierarchy: a child writes "0" to each to enter them
 * before it execs. Returns how many (at most CG_N + 1). */
size_t cgroups_open_procs(const struct cgroups *cg, const char *id, int *fds);

int cgroups_write(const struct cgroups *cg, enum cg_controller c, const char *id, const char *file,
                  const char *value);
/* Reads a file (NUL-terminated, at most n - 1 bytes); the length or a
 * negative errno. */
ssize_t cgroups_read(const struct cgroups *cg, enum cg_controller c, const char *id,
                     const char *file, char *out, size_t n);
int cgroups_read_u64(const struct cgroups *cg, enum cg_controller c, const char *id,
                     const char *file, uint64_t *out);
/* The value of "key value" lines (memory.stat, cpu.stat, memory.events). */
int cgroups_read_key(const struct cgroups *cg, enum cg_controller c, const char *id,
                     const char *file, const char *key, uint64_t *out);

/* The processes in a container's cgroups (malloc'd, deduplicated). */
size_t cgroups_pids(const struct cgroups *cg, const char *id, pid_t **out);

/* Kills every process of the container: cgroup.kill on v2, else the
 * freezer (frozen, killed, thawed, so none can fork away), else repeated
 * passes over its processes. */
void cgroups_kill_all(const struct cgroups *cg, const char *id);

/* Removes the container's cgroups: 0, or -EBUSY while processes remain. */
int cgroups_remove(const struct cgroups *cg, const char *id);

/* The names of the container cgroups under the root (malloc'd array of
 * malloc'd strings). */
size_t cgroups_list(const struct cgroups *cg, char ***out);

#endif
