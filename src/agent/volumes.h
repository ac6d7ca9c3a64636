/* Persistent volumes and the agent's checkpointed total. The master sends
 * the agent's total after RESERVE/UNRESERVE/CREATE/DESTROY; the agent makes
 * the directories of new volumes (<work_dir>/volumes/roles/<role>/<id>, as
 * Mesos lays them out), removes those of destroyed ones, and checkpoints
 * the total so it survives restarts. A container whose resources name a
 * volume gets it at its container_path inside the sandbox (a default
 * executor's task: inside tasks/<task id>): a bind mount when the agent is
 * root, else a symbolic link. */
#ifndef TEPUI_AGENT_VOLUMES_H
#define TEPUI_AGENT_VOLUMES_H

#include "agent/agent.h"

/* The directory of a volume (malloc'd). A role's '/' becomes ' ' (roles
 * never hold whitespace), so "a/b" and volume "b" of "a" never meet. */
char *volumes_path(const struct agent *a, const char *role, const char *id);

/* CHECKPOINT_RESOURCES from the master. */
void volumes_update_total(struct agent *a, const Tepui__Internal__CheckpointedResources *cr);

/* Recovery: the checkpointed total (saved, may be NULL) replaces the one
 * from the flags, plus whatever the flags added since (old_info holds the
 * flags' resources of the last run), and every volume has its directory. */
void volumes_recover(struct agent *a, const Tepui__AgentInfo *old_info,
                     const Tepui__Internal__CheckpointedResources *saved);

/* Before an executor starts: every volume in its or its tasks' resources
 * into its sandbox. */
int volumes_mount(struct agent *a, struct agent_executor *e, struct error *err);
/* Before a task is handed to a running executor: the task's volumes that
 * are not there yet. */
int volumes_mount_task(struct agent *a, struct agent_executor *e, const Tepui__TaskInfo *task,
                       struct error *err);
/* After a task ended or went: undoes the mounts no live task names. */
void volumes_release(struct agent *a, struct agent_executor *e);
/* Once its processes are gone: undoes the mounts (never the volumes). */
void volumes_unmount(struct agent *a, struct agent_executor *e);

#endif
