/* Tasks from container images, as Mesos's unified containerizer runs them
 * (a ContainerInfo of type MESOS with a DOCKER image, or of type DOCKER):
 * the agent provisions the image's root filesystem (its layers unpacked
 * once into <work_dir>/provisioner/layers, an overlayfs mount per container
 * under <work_dir>/provisioner/containers/<id>) in a child process, writes
 * an OCI bundle, and the command executor runs the task with crun. Here is
 * the agent's side: starting and reaping the provisioner, the bundle, and
 * tearing a container's rootfs down. Not responsible for the executor's
 * process (containers.c) nor for running crun (the command executor). */
#ifndef TEPUI_AGENT_IMAGES_IMAGES_H
#define TEPUI_AGENT_IMAGES_IMAGES_H

#include <sys/types.h>

#include "agent/agent.h"

/* The argument that makes tepui-agent the provisioner's child process. */
#define IMAGES_PROVISION_ARG "--provision-container"
/* What the command executor finds in its environment: the bundle to run
 * with crun (crun's state lives in <bundle>/crun; the container's name is
 * MESOS_CONTAINER_ID). */
#define IMAGES_BUNDLE_ENV "TEPUI_CONTAINER_BUNDLE"

/* Finds crun and the store directories, and removes what a killed
 * provisioner left (never fails: image tasks fail with the reason later). */
void images_init(struct agent *a);
/* Kills the provisioners still running and removes their containers. */
void images_fini(struct agent *a);

/* Before e's executor starts: returns 0 when e runs no image or its rootfs
 * is ready, 1 when its provisioning started (containers_launch is called
 * again once it is ready, or e's tasks fail with the reason), or a negative
 * code with err (nothing left behind). */
int images_provision(struct agent *a, struct agent_executor *e, struct error *err);
/* With e's rootfs ready: writes its bundle (the task's command as the image
 * and the task decide, env the executor's plus the image's and the task's,
 * the task's user) and sets *bundle (owned) to its directory; *bundle stays
 * NULL when e runs no image. */
int images_bundle(struct agent *a, struct agent_executor *e, char *const *env, char **bundle,
                  struct error *err);
/* A container is being destroyed before its executor started: its
 * provisioner, if any, is killed (the end comes through images_reaped). */
void images_kill(struct agent *a, struct agent_executor *e);
/* A child process is gone: when it was a provisioner, e's launch goes on. */
void images_reaped(struct agent *a, pid_t pid, int wait_status);
/* The container is gone: its crun state, rootfs mount and directories go
 * (nothing when it had no image). */
void images_destroy(struct agent *a, const char *container_id);
/* After recovery: removes the rootfs of every container the agent no
 * longer knows (mounts left by an agent that died, for one). */
void images_recover(struct agent *a);

/* The provisioner's work, in a child process the agent forked (no exec: a
 * launch from an unpacked image would otherwise spend more time in the
 * dynamic loader than in provisioning): its exit status. */
int images_provision_run(const char *dir);
/* The same, run by hand: main() hands over when argv[1] is
 * IMAGES_PROVISION_ARG. */
int images_provision_main(int argc, char **argv);

#endif
