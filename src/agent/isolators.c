/* The isolators of --isolation: what each container's cgroups are set to
 * (from its executor's and live tasks' resources, as Mesos's isolators'
 * update()), memory limitations (OOM) turned into the container's end, GPUs
 * handed out and fenced with the devices cgroup, resource usage for
 * /monitor/statistics. Starting processes is containers.c's. */
#include "agent/isolators.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "wire/pb.h"

#define LOG_COMPONENT "agent"

/* Mesos's constants: the least shares and memory a container gets, the
 * CFS period, and what a command executor adds to its task. */
#define MIN_CPU_SHARES 2
#define CPU_SHARES_PER_CPU 1024
#define CFS_PERIOD_US 100000
#define MIN_CFS_QUOTA_US 1000
#define MIN_MEMORY_MB 32.0
#define COMMAND_EXECUTOR_CPUS 0.1
#define COMMAND_EXECUTOR_MEM_MB 32.0
#define NVIDIA_MAJOR 195
#define MB (1024.0 * 1024.0)

/* ---- flags ---- */

static const struct {
    const char *name;
    unsigned bits;
} isolators[] = {
    {"posix/cpu", ISO_POSIX_CPU},
    {"posix/mem", ISO_POSIX_MEM},
    {"filesystem/posix", 0},
    {"cgroups/cpu", ISO_CGROUPS_CPU},
    {"cgroups/mem", ISO_CGROUPS_MEM},
    {"cgroups/pids", ISO_CGROUPS_PIDS},
    {"cgroups/all", ISO_CGROUPS_CPU | ISO_CGROUPS_MEM | ISO_CGROUPS_PIDS},
    {"namespaces/pid", ISO_NAMESPACES_PID},
    {"filesystem/linux", ISO_FILESYSTEM_LINUX},
    {"gpu/nvidia", ISO_GPU_NVIDIA},
};

static int parse_isolation(const char *text, unsigned *out, struct error *err)
{
    *out = 0;
    char *copy = xstrdup(text ? text : "");
    int rc = 0;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        size_t i, n = sizeof(isolators) / sizeof(isolators[0]);
        for (i = 0; i < n && strcmp(isolators[i].name, tok) != 0; i++)
            ;
        if (i == n) {
            rc = error_set(err, -EINVAL,
                           "--isolation: unknown or unsupported isolator '%s' (known: posix/cpu, "
                           "posix/mem, filesystem/posix, cgroups/cpu, cgroups/mem, cgroups/pids, "
                           "cgroups/all, namespaces/pid, filesystem/linux, gpu/nvidia)", tok);
            break;
        }
        *out |= isolators[i].bits;
    }
    free(copy);
    return rc;
}

/* ---- GPUs ---- */

/* NVIDIA GPUs are the character devices /dev/nvidia<N> (nvidiactl and
 * nvidia-uvm are shared helpers, not GPUs). */
static void detect_gpus(struct isolation *iso)
{
    DIR *d = opendir("/dev");
    if (d == NULL)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL && iso->n_gpus < ISO_MAX_GPUS) {
        const char *p = de->d_name;
        if (strncmp(p, "nvidia", 6) != 0 || p[6] < '0' || p[6] > '9')
            continue;
        char path[300];
        struct stat st;
        snprintf(path, sizeof(path), "/dev/%s", p);
        if (stat(path, &st) != 0 || !S_ISCHR(st.st_mode) || major(st.st_rdev) != NVIDIA_MAJOR)
            continue;
        iso->gpu_minor[iso->n_gpus++] = minor(st.st_rdev);
    }
    closedir(d);
}

/* Adds the detected GPUs to the agent's resources when --resources does not
 * name any; refuses more than there are. */
static int gpus_resource(struct agent *a, struct isolation *iso, struct error *err)
{
    int64_t asked = resources_scalar(&a->total, "gpus");
    double n = resources_scalar_to_double(asked);
    if (asked > 0 && (n != floor(n) || n > (double)iso->n_gpus))
        return error_set(err, -EINVAL, "--resources has gpus:%g but %zu NVIDIA GPU(s) %s found "
                         "(gpus must be a whole number, at most those found)", n, iso->n_gpus,
                         iso->n_gpus == 1 ? "was" : "were");
    if (asked > 0 || iso->n_gpus == 0)
        return 0;
    char text[64];
    snprintf(text, sizeof(text), "gpus:%zu", iso->n_gpus);
    struct resources extra = RESOURCES_INIT;
    const char *role = a->flags.default_role && strcmp(a->flags.default_role, "*") != 0
                           ? a->flags.default_role : NULL;
    if (resources_parse(text, role, &extra, err) != 0)
        return -EINVAL;
    for (size_t i = 0; i < extra.n; i++)
        resources_add_one(&a->total, &extra.v[i]);
    resources_free(&extra);
    resources_proto_free(a->info->resources, a->info->n_resources);
    a->info->resources = resources_to_proto(&a->total, &a->info->n_resources);
    return 0;
}

static void gpus_release(struct isolation *iso, const char *id)
{
    for (size_t i = 0; i < iso->n_gpus; i++)
        if (strcmp(iso->gpu_owner[i], id) == 0)
            iso->gpu_owner[i][0] = '\0';
}

/* Gives the container GPUs up to n and fences the others off (devices
 * cgroup, v1: a child inherits its parent's allow-all, so denying the GPUs
 * it does not hold is enough). */
static int gpus_assign(struct isolation *iso, struct container *c, size_t n, struct error *err)
{
    size_t held = 0, free_n = 0;
    for (size_t i = 0; i < iso->n_gpus; i++) {
        held += strcmp(iso->gpu_owner[i], c->id) == 0;
        free_n += iso->gpu_owner[i][0] == '\0';
    }
    if (n > held + free_n)
        return error_set(err, -ENOSPC, "container %s needs %zu GPU(s), %zu are free", c->id, n,
                         free_n + held);
    for (size_t i = 0; i < iso->n_gpus && held < n; i++) {
        if (iso->gpu_owner[i][0] == '\0') {
            snprintf(iso->gpu_owner[i], sizeof(iso->gpu_owner[i]), "%s", c->id);
            held++;
        }
    }
    c->n_gpus = held;
    if (!c->has_cgroups || iso->cg.version[CG_DEVICES] != 1)
        return 0;
    for (size_t i = 0; i < iso->n_gpus; i++) {
        char rule[64];
        int mine = strcmp(iso->gpu_owner[i], c->id) == 0;
        snprintf(rule, sizeof(rule), "c %d:%u rwm", NVIDIA_MAJOR, iso->gpu_minor[i]);
        int rc = cgroups_write(&iso->cg, CG_DEVICES, c->id, mine ? "devices.allow" : "devices.deny",
                               rule);
        if (rc != 0)
            return error_set(err, rc, "cannot set the devices cgroup of container %s: %s", c->id,
                             strerror(-rc));
    }
    return 0;
}

/* ---- start-up ---- */

static int require(const struct isolation *iso, enum cg_controller c, const char *isolator,
                   const char *hierarchy, struct error *err)
{
    if (iso->cg.version[c] != 0)
        return 0;
    return error_set(err, -ENOTSUP,
                     "--isolation=%s needs the '%s' cgroup controller, which is neither mounted "
                     "(cgroup v1) under %s nor enabled in a cgroup v2 hierarchy there%s",
                     isolator, cgroups_controller_name(c), hierarchy,
                     c == CG_DEVICES ? " (device control on cgroup v2 needs eBPF, which tepui "
                                       "does not do)" : "");
}

int isolation_init(struct agent *a, struct error *err)
{
    struct isolation *iso = XNEW(struct isolation);
    a->isolation = iso;
    int rc = parse_isolation(a->flags.isolation, &iso->on, err);
    if (rc != 0)
        return rc;
    iso->enable_cfs = a->flags.cgroups_enable_cfs;
    iso->limit_swap = a->flags.cgroups_limit_swap;
    iso->pids_max = a->flags.cgroups_pids_max;
    unsigned cg_bits = ISO_CGROUPS_CPU | ISO_CGROUPS_MEM | ISO_CGROUPS_PIDS | ISO_GPU_NVIDIA;
    unsigned root_bits = cg_bits | ISO_NAMESPACES_PID | ISO_FILESYSTEM_LINUX;
    if ((iso->on & root_bits) && geteuid() != 0)
        return error_set(err, -EPERM, "--isolation=%s needs the agent to run as root",
                         a->flags.isolation);
    if (iso->on & ISO_GPU_NVIDIA) {
        detect_gpus(iso);
        if (iso->n_gpus == 0)
            log_warn("--isolation=gpu/nvidia: no NVIDIA GPU found (/dev/nvidia<N>); this agent "
                     "offers no gpus");
    }
    if ((rc = (iso->on & ISO_GPU_NVIDIA) ? gpus_resource(a, iso, err) : 0) != 0)
        return rc;
    if (!(iso->on & cg_bits))
        return 0;

    const char *hier = a->flags.cgroups_hierarchy;
    if ((rc = cgroups_detect(&iso->cg, hier, a->flags.cgroups_root, err)) != 0)
        return rc;
    struct cgroups *cg = &iso->cg;
    if ((iso->on & ISO_CGROUPS_CPU) &&
        ((rc = require(iso, CG_CPU, "cgroups/cpu", hier, err)) != 0 ||
         (rc = require(iso, CG_CPUACCT, "cgroups/cpu", hier, err)) != 0))
        return rc;
    if ((iso->on & ISO_CGROUPS_MEM) && (rc = require(iso, CG_MEMORY, "cgroups/mem", hier, err)) != 0)
        return rc;
    if ((iso->on & ISO_CGROUPS_PIDS) && (rc = require(iso, CG_PIDS, "cgroups/pids", hier, err)) != 0)
        return rc;
    if ((iso->on & ISO_GPU_NVIDIA) && (rc = require(iso, CG_DEVICES, "gpu/nvidia", hier, err)) != 0)
        return rc;
    if ((iso->on & ISO_GPU_NVIDIA) && cg->version[CG_DEVICES] != 1)
        return error_set(err, -ENOTSUP, "--isolation=gpu/nvidia needs the v1 devices cgroup "
                         "controller (device control on cgroup v2 needs eBPF, which tepui does "
                         "not do)");
    if (iso->on & ISO_CGROUPS_CPU)
        cg->used |= 1u << CG_CPU | 1u << CG_CPUACCT;
    if (iso->on & ISO_CGROUPS_MEM)
        cg->used |= 1u << CG_MEMORY;
    if (iso->on & ISO_CGROUPS_PIDS)
        cg->used |= 1u << CG_PIDS;
    if (iso->on & ISO_GPU_NVIDIA)
        cg->used |= 1u << CG_DEVICES;
    /* The freezer is the launcher's: it lets a destroy kill every process
     * of a container, even one forking as fast as it can. */
    if (cg->version[CG_FREEZER] != 0)
        cg->used |= 1u << CG_FREEZER;
    if ((rc = cgroups_prepare_root(cg, err)) != 0)
        return rc;
    iso->cgroups_on = 1;
    char which[256] = "";
    for (int c = 0; c < CG_N; c++)
        if (cg->used & (1u << c))
            snprintf(which + strlen(which), sizeof(which) - strlen(which), "%s%s (v%d)",
                     which[0] ? ", " : "", cgroups_controller_name(c), cg->version[c]);
    log_info("isolation %s: containers' cgroups under '%s' in %s", a->flags.isolation, cg->root,
             which);
    return 0;
}

static void remove_pending(struct agent *a, int block);

void isolation_fini(struct agent *a)
{
    struct isolation *iso = a->isolation;
    if (iso == NULL)
        return;
    remove_pending(a, 1);
    if (iso->remove_timer != NULL)
        event_free(iso->remove_timer);
    free(iso->removing);
    free(iso);
    a->isolation = NULL;
}

int isolation_needs_clone(const struct agent *a)
{
    const struct isolation *iso = a->isolation;
    return iso != NULL && (iso->cgroups_on || isolation_clone_flags(a) != 0);
}

int isolation_clone_flags(const struct agent *a)
{
    const struct isolation *iso = a->isolation;
    int flags = 0;
    if (iso == NULL)
        return 0;
    /* A PID namespace comes with a mount namespace of its own, for a /proc
     * that shows the container's processes only. */
    if (iso->on & ISO_NAMESPACES_PID)
        flags |= CLONE_NEWPID | CLONE_NEWNS;
    if (iso->on & ISO_FILESYSTEM_LINUX)
        flags |= CLONE_NEWNS;
    return flags;
}

/* ---- limits ---- */

struct amounts {
    double cpus, mem, gpus;
    double cpus_limit, mem_limit;     /* INFINITY: unlimited */
    int has_cpus_limit, has_mem_limit;
};

static void add_resources(struct amounts *m, Tepui__Resource *const *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const Tepui__Resource *r = v[i];
        if (r->scalar == NULL || r->name == NULL)
            continue;
        if (strcmp(r->name, "cpus") == 0)
            m->cpus += r->scalar->value;
        else if (strcmp(r->name, "mem") == 0)
            m->mem += r->scalar->value;
        else if (strcmp(r->name, "gpus") == 0)
            m->gpus += r->scalar->value;
    }
}

/* What the container holds: its executor's resources (for a command
 * executor, Mesos's executor overhead: its ExecutorInfo repeats the task's)
 * and those of its tasks not over yet; limits from the tasks' `limits`
 * (a task without one counts its request). */
static void container_amounts(const struct agent_executor *e, struct amounts *m)
{
    memset(m, 0, sizeof(*m));
    if (e->command_executor) {
        m->cpus = COMMAND_EXECUTOR_CPUS;
        m->mem = COMMAND_EXECUTOR_MEM_MB;
    } else {
        add_resources(m, e->info->resources, e->info->n_resources);
    }
    double base_cpus = m->cpus, base_mem = m->mem;
    double lim_cpus = base_cpus, lim_mem = base_mem;
    const struct agent_task *t, *tmp;
    HASH_ITER(hh, e->tasks, t, tmp) {
        if (task_state_is_terminal(t->state))
            continue;
        struct amounts one = {0};
        add_resources(&one, t->info->resources, t->info->n_resources);
        m->cpus += one.cpus;
        m->mem += one.mem;
        m->gpus += one.gpus;
        double lc = one.cpus, lm = one.mem;
        for (size_t i = 0; i < t->info->n_limits; i++) {
            const Tepui__TaskInfo__LimitsEntry *l = t->info->limits[i];
            if (l->key == NULL || l->value == NULL)
                continue;
            if (strcmp(l->key, "cpus") == 0) {
                lc = l->value->value;
                m->has_cpus_limit = 1;
            } else if (strcmp(l->key, "mem") == 0) {
                lm = l->value->value;
                m->has_mem_limit = 1;
            }
        }
        lim_cpus += lc;
        lim_mem += lm;
    }
    m->cpus_limit = lim_cpus;
    m->mem_limit = lim_mem;
}

static void set_cpu(struct isolation *iso, struct container *c, const struct amounts *m)
{
    const struct cgroups *cg = &iso->cg;
    char v[64];
    uint64_t shares = (uint64_t)(CPU_SHARES_PER_CPU * m->cpus);
    if (shares < MIN_CPU_SHARES)
        shares = MIN_CPU_SHARES;
    double quota_cpus = 0;
    if (m->has_cpus_limit)
        quota_cpus = m->cpus_limit;       /* may be INFINITY: no quota */
    else if (iso->enable_cfs)
        quota_cpus = m->cpus;
    long long quota = -1;
    if (quota_cpus > 0 && isfinite(quota_cpus)) {
        quota = (long long)(quota_cpus * CFS_PERIOD_US);
        if (quota < MIN_CFS_QUOTA_US)
            quota = MIN_CFS_QUOTA_US;
    }
    int rc;
    if (cg->version[CG_CPU] == 1) {
        snprintf(v, sizeof(v), "%llu", (unsigned long long)shares);
        rc = cgroups_write(cg, CG_CPU, c->id, "cpu.shares", v);
        if (rc == 0 && quota > 0) {
            snprintf(v, sizeof(v), "%d", CFS_PERIOD_US);
            rc = cgroups_write(cg, CG_CPU, c->id, "cpu.cfs_period_us", v);
        }
        snprintf(v, sizeof(v), "%lld", quota);
        if (rc == 0)
            rc = cgroups_write(cg, CG_CPU, c->id, "cpu.cfs_quota_us", v);
    } else {
        /* systemd's (and Mesos's) mapping of shares [2, 262144] onto
         * weights [1, 10000]. */
        uint64_t weight = 1 + ((shares - 2) * 9999) / 262142;
        if (weight > 10000)
            weight = 10000;
        snprintf(v, sizeof(v), "%llu", (unsigned long long)weight);
        rc = cgroups_write(cg, CG_CPU, c->id, "cpu.weight", v);
        if (quota > 0)
            snprintf(v, sizeof(v), "%lld %d", quota, CFS_PERIOD_US);
        else
            snprintf(v, sizeof(v), "max %d", CFS_PERIOD_US);
        if (rc == 0)
            rc = cgroups_write(cg, CG_CPU, c->id, "cpu.max", v);
    }
    if (rc != 0)
        log_warn("container %s: cannot set its cpu cgroup: %s", c->id, strerror(-rc));
    c->cpus = m->cpus;
    c->cpus_limit = quota > 0 ? (double)quota / CFS_PERIOD_US : 0;
}

static void set_mem(struct isolation *iso, struct container *c, const struct amounts *m)
{
    const struct cgroups *cg = &iso->cg;
    double soft = m->mem < MIN_MEMORY_MB ? MIN_MEMORY_MB : m->mem;
    double hard = m->has_mem_limit ? m->mem_limit : m->mem;
    if (hard < MIN_MEMORY_MB)
        hard = MIN_MEMORY_MB;
    char v[64], sv[64];
    if (isfinite(hard))
        snprintf(v, sizeof(v), "%llu", (unsigned long long)(hard * MB));
    else
        snprintf(v, sizeof(v), "%s", cg->version[CG_MEMORY] == 1 ? "-1" : "max");
    snprintf(sv, sizeof(sv), "%llu", (unsigned long long)(soft * MB));
    int rc;
    if (cg->version[CG_MEMORY] == 1) {
        cgroups_write(cg, CG_MEMORY, c->id, "memory.soft_limit_in_bytes", sv);
        /* The swap limit (memory plus swap) may never be below the memory
         * limit: which goes first depends on the direction. */
        if (iso->limit_swap)
            cgroups_write(cg, CG_MEMORY, c->id, "memory.memsw.limit_in_bytes", v);
        rc = cgroups_write(cg, CG_MEMORY, c->id, "memory.limit_in_bytes", v);
        if (iso->limit_swap)
            cgroups_write(cg, CG_MEMORY, c->id, "memory.memsw.limit_in_bytes", v);
    } else {
        cgroups_write(cg, CG_MEMORY, c->id, "memory.low", sv);
        rc = cgroups_write(cg, CG_MEMORY, c->id, "memory.max", v);
        if (iso->limit_swap)
            cgroups_write(cg, CG_MEMORY, c->id, "memory.swap.max", "0");
    }
    if (rc == -EBUSY) {
        /* As Mesos: a limit below what the container uses now is not
         * forced on it (that would be an OOM of our making); it stays. */
        log_info("container %s: memory limit kept at %.0f MB (it uses more than %.0f MB now)",
                 c->id, c->mem_limit_mb, hard);
        return;
    }
    if (rc != 0)
        log_warn("container %s: cannot set its memory cgroup: %s", c->id, strerror(-rc));
    c->mem_mb = m->mem;
    c->mem_limit_mb = hard;
}

void isolation_update(struct agent *a, struct agent_executor *e)
{
    struct isolation *iso = a->isolation;
    struct container *c = e->container;
    if (iso == NULL || c == NULL)
        return;
    struct amounts m;
    container_amounts(e, &m);
    c->cpus = m.cpus;
    c->mem_mb = m.mem;
    if (!c->has_cgroups)
        return;
    if (iso->on & ISO_CGROUPS_CPU)
        set_cpu(iso, c, &m);
    if (iso->on & ISO_CGROUPS_MEM)
        set_mem(iso, c, &m);
    if ((iso->on & ISO_GPU_NVIDIA) && (size_t)m.gpus > c->n_gpus) {
        struct error err = {0};
        if (gpus_assign(iso, c, (size_t)m.gpus, &err) != 0)
            log_warn("%s", err.msg);
    }
}

/* ---- memory limitations ---- */

static void raise_memory_limitation(struct agent *a, struct agent_executor *e)
{
    struct isolation *iso = a->isolation;
    struct container *c = e->container;
    if (c->limited)
        return;
    c->limited = 1;
    uint64_t peak = 0;
    if (iso->cg.version[CG_MEMORY] == 1)
        cgroups_read_u64(&iso->cg, CG_MEMORY, c->id, "memory.max_usage_in_bytes", &peak);
    else if (cgroups_read_u64(&iso->cg, CG_MEMORY, c->id, "memory.peak", &peak) != 0)
        cgroups_read_u64(&iso->cg, CG_MEMORY, c->id, "memory.current", &peak);
    char msg[256];
    snprintf(msg, sizeof(msg), "Memory limit exceeded: Requested: %.0fMB Maximum Used: %lluMB",
             c->mem_limit_mb, (unsigned long long)((double)peak / MB));
    log_warn("container %s of executor %s of framework %s: %s", c->id, e->id, e->framework->id,
             msg);
    if (!e->reason_set) {
        e->reason_set = 1;
        e->reason = TEPUI__TASK_STATUS__REASON__REASON_CONTAINER_LIMITATION_MEMORY;
        free(e->reason_message);
        e->reason_message = xstrdup(msg);
    }
    if (e->state != EXECUTOR_TERMINATED)
        e->state = EXECUTOR_TERMINATING;
    containers_destroy(a, e);
}

/* Whether the container is out of memory now (v1: under_oom, the OOM
 * killer being off; v2: the kernel killed in it). */
static int oom_now(const struct isolation *iso, const struct container *c)
{
    uint64_t v = 0;
    if (iso->cg.version[CG_MEMORY] == 1)
        return cgroups_read_key(&iso->cg, CG_MEMORY, c->id, "memory.oom_control", "under_oom",
                                &v) == 0 && v > 0;
    return cgroups_read_key(&iso->cg, CG_MEMORY, c->id, "memory.events", "oom_kill", &v) == 0 &&
           v > 0;
}

static void oom_cb(evutil_socket_t fd, short what, void *arg)
{
    struct agent_executor *e = arg;
    (void)what;
    char drain[4096];
    while (read(fd, drain, sizeof(drain)) > 0)
        ;
    if (e->container != NULL && oom_now(e->agent->isolation, e->container))
        raise_memory_limitation(e->agent, e);
}

/* v1: the OOM killer is turned off for the container and its OOM events
 * come through an eventfd, so the agent, not the kernel, ends it: every
 * process at once, before the executor could report its task's death as
 * an ordinary failure. v2: the kernel kills the whole cgroup together
 * (memory.oom.group) and memory.events says so. */
static void oom_watch(struct agent *a, struct agent_executor *e)
{
    struct isolation *iso = a->isolation;
    struct container *c = e->container;
    const struct cgroups *cg = &iso->cg;
    char path[PATH_MAX];
    int fd = -1;
    if (cg->version[CG_MEMORY] == 1) {
        fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        cgroups_path(cg, CG_MEMORY, c->id, "memory.oom_control", path, sizeof(path));
        int ofd = open(path, O_RDONLY | O_CLOEXEC);
        char line[64];
        snprintf(line, sizeof(line), "%d %d", fd, ofd);
        if (fd < 0 || ofd < 0 || cgroups_write(cg, CG_MEMORY, c->id, "cgroup.event_control",
                                               line) != 0) {
            log_warn("container %s: cannot watch its OOM events: %s", c->id, strerror(errno));
            if (fd >= 0)
                close(fd);
            fd = -1;
        } else {
            cgroups_write(cg, CG_MEMORY, c->id, "memory.oom_control", "1");
        }
        if (ofd >= 0)
            close(ofd);
    } else {
        cgroups_write(cg, CG_MEMORY, c->id, "memory.oom.group", "1");
        fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        cgroups_path(cg, CG_MEMORY, c->id, "memory.events", path, sizeof(path));
        if (fd >= 0 && inotify_add_watch(fd, path, IN_MODIFY) < 0) {
            close(fd);
            fd = -1;
        }
    }
    if (fd < 0)
        return;
    c->oom_fd = fd;
    c->oom_event = event_new(a->base, fd, EV_READ | EV_PERSIST, oom_cb, e);
    event_add(c->oom_event, NULL);
}

int isolation_check_limitation(struct agent *a, struct agent_executor *e)
{
    struct isolation *iso = a->isolation;
    struct container *c = e->container;
    if (iso == NULL || c == NULL || !c->has_cgroups || !(iso->on & ISO_CGROUPS_MEM))
        return 0;
    if (!c->limited && oom_now(iso, c))
        raise_memory_limitation(a, e);
    return c->limited;
}

/* ---- a container's life ---- */

static struct container *container_new(struct agent_executor *e)
{
    struct container *c = XNEW(struct container);
    snprintf(c->id, sizeof(c->id), "%s", e->container_id);
    c->executor = e;
    c->oom_fd = -1;
    e->container = c;
    return c;
}

int isolation_prepare(struct agent *a, struct agent_executor *e, struct error *err)
{
    struct isolation *iso = a->isolation;
    if (iso == NULL)
        return 0;
    struct container *c = e->container ? e->container : container_new(e);
    if (!iso->cgroups_on) {
        isolation_update(a, e);
        return 0;
    }
    int rc = cgroups_create(&iso->cg, c->id, err);
    if (rc != 0)
        return rc;
    c->has_cgroups = 1;
    if (iso->on & ISO_CGROUPS_PIDS) {
        char v[32];
        snprintf(v, sizeof(v), "%lld", iso->pids_max);
        if ((rc = cgroups_write(&iso->cg, CG_PIDS, c->id, "pids.max", v)) != 0)
            return error_set(err, rc, "cannot set pids.max of container %s: %s", c->id,
                             strerror(-rc));
    }
    if (iso->on & ISO_GPU_NVIDIA) {
        struct amounts m;
        container_amounts(e, &m);
        if ((rc = gpus_assign(iso, c, (size_t)m.gpus, err)) != 0)
            return rc;
    }
    isolation_update(a, e);
    if (iso->on & ISO_CGROUPS_MEM)
        oom_watch(a, e);
    return 0;
}

void isolation_recover(struct agent *a, struct agent_executor *e)
{
    struct isolation *iso = a->isolation;
    if (iso == NULL)
        return;
    struct container *c = e->container ? e->container : container_new(e);
    c->has_cgroups = iso->cgroups_on && cgroups_exists(&iso->cg, c->id);
    if (!c->has_cgroups) {
        isolation_update(a, e);
        return;
    }
    struct amounts m;
    container_amounts(e, &m);
    c->mem_limit_mb = m.has_mem_limit ? m.mem_limit : m.mem;
    if (iso->on & ISO_GPU_NVIDIA) {
        struct error err = {0};
        if (gpus_assign(iso, c, (size_t)m.gpus, &err) != 0)
            log_warn("%s", err.msg);
    }
    isolation_update(a, e);
    if (iso->on & ISO_CGROUPS_MEM) {
        oom_watch(a, e);
        /* An OOM while the agent was down waits (the killer is off). */
        isolation_check_limitation(a, e);
    }
}

int isolation_kill(struct agent *a, const char *container_id)
{
    struct isolation *iso = a->isolation;
    if (iso == NULL || !iso->cgroups_on || !cgroups_exists(&iso->cg, container_id))
        return 0;
    cgroups_kill_all(&iso->cg, container_id);
    return 1;
}

static void remove_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    remove_pending(arg, 0);
}

/* Retries removals; block: until done (or two seconds), at agent exit. */
static void remove_pending(struct agent *a, int block)
{
    struct isolation *iso = a->isolation;
    for (int round = 0; iso->n_removing > 0; round++) {
        size_t kept = 0;
        for (size_t i = 0; i < iso->n_removing; i++) {
            char *id = iso->removing[i];
            cgroups_kill_all(&iso->cg, id);
            if (cgroups_remove(&iso->cg, id) == -EBUSY && round < (block ? 2000 : 1)) {
                iso->removing[kept++] = id;
                continue;
            }
            if (cgroups_exists(&iso->cg, id))
                log_warn("cannot remove the cgroups of container %s", id);
            free(id);
        }
        iso->n_removing = kept;
        if (!block)
            break;
        if (kept > 0)
            usleep(1000);
    }
    if (iso->n_removing > 0 && !block) {
        if (iso->remove_timer == NULL)
            iso->remove_timer = evtimer_new(a->base, remove_timer_cb, a);
        struct timeval tv = {0, 10 * 1000};
        evtimer_add(iso->remove_timer, &tv);
    }
}

void isolation_cleanup_id(struct agent *a, const char *container_id)
{
    struct isolation *iso = a->isolation;
    if (iso == NULL)
        return;
    gpus_release(iso, container_id);
    if (!iso->cgroups_on || !cgroups_exists(&iso->cg, container_id))
        return;
    cgroups_kill_all(&iso->cg, container_id);
    if (cgroups_remove(&iso->cg, container_id) != -EBUSY)
        return;
    for (size_t i = 0; i < iso->n_removing; i++)
        if (strcmp(iso->removing[i], container_id) == 0)
            return;
    iso->removing = xrealloc(iso->removing, (iso->n_removing + 1) * sizeof(char *));
    iso->removing[iso->n_removing++] = xstrdup(container_id);
    remove_pending(a, 0);
}

static void container_free(struct container *c)
{
    if (c->oom_event != NULL)
        event_free(c->oom_event);
    if (c->oom_fd >= 0)
        close(c->oom_fd);
    free(c);
}

void isolation_cleanup(struct agent *a, struct agent_executor *e)
{
    struct container *c = e->container;
    if (c == NULL)
        return;
    e->container = NULL;
    if (c->has_cgroups)
        isolation_cleanup_id(a, c->id);
    else if (a->isolation != NULL)
        gpus_release(a->isolation, c->id);
    container_free(c);
}

void isolation_forget(struct agent_executor *e)
{
    if (e->container != NULL)
        container_free(e->container);
    e->container = NULL;
}

void isolation_cleanup_unknown(struct agent *a)
{
    struct isolation *iso = a->isolation;
    if (iso == NULL || !iso->cgroups_on)
        return;
    char **ids = NULL;
    size_t n = cgroups_list(&iso->cg, &ids);
    for (size_t i = 0; i < n; i++) {
        int known = 0;
        struct agent_framework *f, *ftmp;
        HASH_ITER(hh, a->frameworks, f, ftmp) {
            struct agent_executor *e, *etmp;
            HASH_ITER(hh, f->executors, e, etmp) {
                known |= strcmp(e->container_id, ids[i]) == 0 && e->state != EXECUTOR_TERMINATED;
            }
        }
        if (!known) {
            log_info("destroying orphaned container cgroup '%s/%s' that no checkpoint knows",
                     iso->cg.root, ids[i]);
            isolation_cleanup_id(a, ids[i]);
        }
        free(ids[i]);
    }
    free(ids);
}

/* ---- usage ---- */

static double now_secs(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static size_t count_lines(const struct cgroups *cg, enum cg_controller ctl, const char *id,
                          const char *file)
{
    char path[PATH_MAX];
    cgroups_path(cg, ctl, id, file, path, sizeof(path));
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return 0;
    size_t n = 0;
    int ch;
    while ((ch = fgetc(f)) != EOF)
        n += ch == '\n';
    fclose(f);
    return n;
}

static void cgroup_usage(const struct isolation *iso, const struct container *c,
                         Tepui__ResourceStatistics *st)
{
    const struct cgroups *cg = &iso->cg;
    uint64_t v = 0;
    enum cg_controller any = CG_N;
    for (int k = 0; k < CG_N && any == CG_N; k++)
        if ((cg->used & (1u << k)) && cg->version[k] == 1)
            any = (enum cg_controller)k;
    if (any != CG_N) {
        st->has_processes = 1;
        st->processes = (uint32_t)count_lines(cg, any, c->id, "cgroup.procs");
        st->has_threads = 1;
        st->threads = (uint32_t)count_lines(cg, any, c->id, "tasks");
    } else if (cg->v2_mount[0] != '\0') {
        st->has_processes = 1;
        st->processes = (uint32_t)count_lines(cg, CG_FREEZER, c->id, "cgroup.procs");
        st->has_threads = 1;
        st->threads = (uint32_t)count_lines(cg, CG_FREEZER, c->id, "cgroup.threads");
    }
    if (cg->used & (1u << CG_CPUACCT)) {
        if (cg->version[CG_CPUACCT] == 1) {
            /* cpuacct.stat counts USER_HZ ticks. */
            double hz = (double)sysconf(_SC_CLK_TCK);
            if (cgroups_read_key(cg, CG_CPUACCT, c->id, "cpuacct.stat", "user", &v) == 0) {
                st->has_cpus_user_time_secs = 1;
                st->cpus_user_time_secs = (double)v / hz;
            }
            if (cgroups_read_key(cg, CG_CPUACCT, c->id, "cpuacct.stat", "system", &v) == 0) {
                st->has_cpus_system_time_secs = 1;
                st->cpus_system_time_secs = (double)v / hz;
            }
        } else {
            if (cgroups_read_key(cg, CG_CPU, c->id, "cpu.stat", "user_usec", &v) == 0) {
                st->has_cpus_user_time_secs = 1;
                st->cpus_user_time_secs = (double)v / 1e6;
            }
            if (cgroups_read_key(cg, CG_CPU, c->id, "cpu.stat", "system_usec", &v) == 0) {
                st->has_cpus_system_time_secs = 1;
                st->cpus_system_time_secs = (double)v / 1e6;
            }
        }
    }
    if (cg->used & (1u << CG_CPU)) {
        if (cgroups_read_key(cg, CG_CPU, c->id, "cpu.stat", "nr_periods", &v) == 0) {
            st->has_cpus_nr_periods = 1;
            st->cpus_nr_periods = (uint32_t)v;
        }
        if (cgroups_read_key(cg, CG_CPU, c->id, "cpu.stat", "nr_throttled", &v) == 0) {
            st->has_cpus_nr_throttled = 1;
            st->cpus_nr_throttled = (uint32_t)v;
        }
        if (cgroups_read_key(cg, CG_CPU, c->id, "cpu.stat", "throttled_time", &v) == 0) {
            st->has_cpus_throttled_time_secs = 1;
            st->cpus_throttled_time_secs = (double)v / 1e9;
        } else if (cgroups_read_key(cg, CG_CPU, c->id, "cpu.stat", "throttled_usec", &v) == 0) {
            st->has_cpus_throttled_time_secs = 1;
            st->cpus_throttled_time_secs = (double)v / 1e6;
        }
    }
    if (cg->used & (1u << CG_MEMORY)) {
        int v1 = cg->version[CG_MEMORY] == 1;
        if (cgroups_read_u64(cg, CG_MEMORY, c->id, v1 ? "memory.usage_in_bytes"
                                                      : "memory.current", &v) == 0) {
            st->has_mem_total_bytes = 1;
            st->mem_total_bytes = v;
        }
        if (cgroups_read_u64(cg, CG_MEMORY, c->id, v1 ? "memory.limit_in_bytes" : "memory.max",
                             &v) == 0) {
            st->has_mem_limit_bytes = 1;
            st->mem_limit_bytes = v;
        }
        if (cgroups_read_u64(cg, CG_MEMORY, c->id, v1 ? "memory.soft_limit_in_bytes"
                                                      : "memory.low", &v) == 0) {
            st->has_mem_soft_limit_bytes = 1;
            st->mem_soft_limit_bytes = v;
        }
        static const struct {
            const char *v1, *v2;
            size_t off, has;
        } keys[] = {
#define KEY(a, b, f) {a, b, offsetof(Tepui__ResourceStatistics, f), \
                      offsetof(Tepui__ResourceStatistics, has_##f)}
            KEY("total_rss", "anon", mem_rss_bytes),
            KEY("total_cache", "file", mem_cache_bytes),
            KEY("total_cache", "file", mem_file_bytes),
            KEY("total_rss", "anon", mem_anon_bytes),
            KEY("total_mapped_file", "file_mapped", mem_mapped_file_bytes),
            KEY("total_swap", "swap", mem_swap_bytes),
            KEY("total_unevictable", "unevictable", mem_unevictable_bytes),
#undef KEY
        };
        for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
            if (cgroups_read_key(cg, CG_MEMORY, c->id, "memory.stat", v1 ? keys[k].v1 : keys[k].v2,
                                 &v) != 0)
                continue;
            *(uint64_t *)((char *)st + keys[k].off) = v;
            *(protobuf_c_boolean *)((char *)st + keys[k].has) = 1;
        }
    }
}

/* Without cgroups, as Mesos's posix isolators: the executor's process tree
 * from /proc. */
static void proc_usage(const struct agent_executor *e, Tepui__ResourceStatistics *st)
{
    pid_t *pids = NULL;
    size_t n = e->pid > 0 ? containers_process_tree(e->pid, &pids) : 0;
    double hz = (double)sysconf(_SC_CLK_TCK);
    long page = sysconf(_SC_PAGESIZE);
    unsigned long long utime = 0, stime = 0, rss = 0, threads = 0;
    uint32_t procs = 0;
    for (size_t i = 0; i < n; i++) {
        char path[64], buf[1024];
        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pids[i]);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        ssize_t r = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (r <= 0)
            continue;
        buf[r] = '\0';
        char *p = strrchr(buf, ')');
        unsigned long ut = 0, stt = 0;
        long nthreads = 0, rss_pages = 0;
        /* Fields after comm: state(3) ... utime(14) stime(15) ...
         * num_threads(20) ... rss(24). */
        if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d "
                                       "%*d %*d %*d %ld %*d %*u %*u %ld", &ut, &stt, &nthreads,
                                &rss_pages) != 4)
            continue;
        procs++;
        utime += ut;
        stime += stt;
        threads += (unsigned long long)nthreads;
        rss += (unsigned long long)rss_pages * (unsigned long long)page;
    }
    free(pids);
    st->has_processes = 1;
    st->processes = procs;
    st->has_threads = 1;
    st->threads = (uint32_t)threads;
    st->has_cpus_user_time_secs = 1;
    st->cpus_user_time_secs = (double)utime / hz;
    st->has_cpus_system_time_secs = 1;
    st->cpus_system_time_secs = (double)stime / hz;
    st->has_mem_rss_bytes = 1;
    st->mem_rss_bytes = rss;
}

int isolation_usage(struct agent *a, struct agent_executor *e, Tepui__ResourceStatistics *st)
{
    struct isolation *iso = a->isolation;
    struct container *c = e->container;
    st->timestamp = now_secs();
    if (c != NULL && c->has_cgroups)
        cgroup_usage(iso, c, st);
    else
        proc_usage(e, st);
    struct amounts m;
    container_amounts(e, &m);
    if (!st->has_cpus_limit) {
        st->has_cpus_limit = 1;
        st->cpus_limit = c != NULL && c->cpus_limit > 0 ? c->cpus_limit : m.cpus;
    }
    if (!st->has_mem_limit_bytes) {
        st->has_mem_limit_bytes = 1;
        st->mem_limit_bytes = (uint64_t)(m.mem * MB);
    }
    return 0;
}
