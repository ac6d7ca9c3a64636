/* The OCI runtime bundle of a container from an image: config.json beside
 * the container's overlay rootfs, as crun reads it. Mounts and namespaces
 * follow Mesos's unified containerizer with host networking: proc, sysfs
 * (read-only), a tmpfs /dev with the standard devices, /dev/pts, /dev/shm,
 * the sandbox at /mnt/mesos/sandbox, and the host's /etc/resolv.conf and
 * /etc/hosts read-only; pid, mount, ipc and uts namespaces. */
#ifndef TEPUI_AGENT_IMAGES_BUNDLE_H
#define TEPUI_AGENT_IMAGES_BUNDLE_H

#include <stddef.h>
#include <sys/types.h>

#include "common/error.h"

#define BUNDLE_SANDBOX "/mnt/mesos/sandbox"

struct bundle_spec {
    const char *dir;            /* config.json goes here; the root is dir/rootfs */
    char *const *args;
    char *const *env;
    const char *cwd;
    uid_t uid;
    gid_t gid;
    const gid_t *gids;          /* supplementary groups */
    size_t n_gids;
    const char *sandbox;        /* host path bound at BUNDLE_SANDBOX */
    const char *hostname;       /* NULL: the agent's */
};

int bundle_write(const struct bundle_spec *spec, struct error *err);

#endif
