/* config.json for crun (see bundle.h). */
#include "agent/images/bundle.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Docker's default capabilities, which images expect of root. */
static const char *const CAPS[] = {
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
    "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
};

static json_t *strings(const char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

static json_t *strv(char *const *v)
{
    json_t *a = json_array();
    for (size_t i = 0; v != NULL && v[i] != NULL; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

static void add_mount(json_t *mounts, const char *dest, const char *type, const char *source,
                      const char *const *opts, size_t n_opts)
{
    json_array_append_new(mounts, json_pack("{s:s, s:s, s:s, s:o}", "destination", dest, "type",
                                            type, "source", source, "options",
                                            strings(opts, n_opts)));
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

int bundle_write(const struct bundle_spec *s, struct error *err)
{
    json_t *caps = strings(CAPS, N(CAPS));
    json_t *gids = json_array();
    for (size_t i = 0; i < s->n_gids; i++)
        json_array_append_new(gids, json_integer(s->gids[i]));
    json_t *process = json_pack(
        "{s:b, s:{s:I, s:I, s:o}, s:o, s:o, s:s, s:{s:O, s:O, s:O, s:o}, s:b}", "terminal", 0,
        "user", "uid", (json_int_t)s->uid, "gid", (json_int_t)s->gid, "additionalGids", gids,
        "args", strv(s->args), "env", strv(s->env), "cwd", s->cwd, "capabilities", "bounding",
        caps, "effective", caps, "permitted", caps, "ambient", json_array(), "noNewPrivileges", 0);
    json_object_set_new(json_object_get(process, "capabilities"), "inheritable", json_array());
    json_decref(caps);

    json_t *mounts = json_array();
    static const char *const proc[] = {"nosuid", "noexec", "nodev"};
    static const char *const dev[] = {"nosuid", "strictatime", "mode=755", "size=65536k"};
    static const char *const pts[] = {"nosuid", "noexec", "newinstance", "ptmxmode=0666",
                                      "mode=0620"};
    static const char *const shm[] = {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"};
    static const char *const mq[] = {"nosuid", "noexec", "nodev"};
    static const char *const sys[] = {"nosuid", "noexec", "nodev", "ro"};
    static const char *const rw_bind[] = {"rbind", "rw"};
    static const char *const ro_bind[] = {"bind", "ro", "nosuid", "nodev"};
    add_mount(mounts, "/proc", "proc", "proc", proc, N(proc));
    add_mount(mounts, "/dev", "tmpfs", "tmpfs", dev, N(dev));
    add_mount(mounts, "/dev/pts", "devpts", "devpts", pts, N(pts));
    add_mount(mounts, "/dev/shm", "tmpfs", "shm", shm, N(shm));
    add_mount(mounts, "/dev/mqueue", "mqueue", "mqueue", mq, N(mq));
    add_mount(mounts, "/sys", "sysfs", "sysfs", sys, N(sys));
    add_mount(mounts, BUNDLE_SANDBOX, "bind", s->sandbox, rw_bind, N(rw_bind));
    /* Host networking: the host's resolver and names. */
    static const char *const etc[] = {"/etc/resolv.conf", "/etc/hosts"};
    for (size_t i = 0; i < N(etc); i++)
        if (access(etc[i], R_OK) == 0)
            add_mount(mounts, etc[i], "bind", etc[i], ro_bind, N(ro_bind));

    static const char *const masked[] = {"/proc/acpi", "/proc/kcore", "/proc/keys",
                                         "/proc/latency_stats", "/proc/timer_list",
                                         "/proc/timer_stats", "/proc/sched_debug",
                                         "/sys/firmware", "/proc/scsi"};
    static const char *const readonly[] = {"/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq",
                                           "/proc/sys", "/proc/sysrq-trigger"};
    json_t *linux_ = json_pack("{s:[{s:s},{s:s},{s:s},{s:s}], s:o, s:o}", "namespaces", "type",
                               "pid", "type", "mount", "type", "ipc", "type", "uts",
                               "maskedPaths", strings(masked, N(masked)), "readonlyPaths",
                               strings(readonly, N(readonly)));
    char hostname[256] = "";
    if (s->hostname != NULL)
        snprintf(hostname, sizeof(hostname), "%s", s->hostname);
    else if (gethostname(hostname, sizeof(hostname) - 1) != 0)
        snprintf(hostname, sizeof(hostname), "localhost");
    json_t *config = json_pack("{s:s, s:{s:s, s:b}, s:s, s:o, s:o, s:o}", "ociVersion", "1.0.2",
                               "root", "path", "rootfs", "readonly", 0, "hostname", hostname,
                               "process", process, "mounts", mounts, "linux", linux_);
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/config.json", s->dir);
    int rc = 0;
    if (config == NULL)
        rc = error_set(err, -EINVAL, "cannot build the container's config.json");
    else if (json_dump_file(config, path, JSON_INDENT(1)) != 0)
        rc = error_set(err, -EIO, "cannot write '%s': %s", path, strerror(errno));
    json_decref(config);
    return rc;
}
