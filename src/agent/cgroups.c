/* Control groups: detection of the v1 and v2 hierarchies, and the files of
 * tepui's container cgroups. Limits and their meaning live in isolators.c;
 * this file knows paths, reads, writes, kills and removals. */
#include "agent/cgroups.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/xalloc.h"

static const char *const names[CG_N] = {"cpu", "cpuacct", "memory", "pids", "devices", "freezer"};

const char *cgroups_controller_name(enum cg_controller c)
{
    return names[c];
}

static int has_option(const char *opts, const char *name)
{
    size_t len = strlen(name);
    for (const char *p = opts; p != NULL && *p; ) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        if (n == len && strncmp(p, name, len) == 0)
            return 1;
        p = comma ? comma + 1 : NULL;
    }
    return 0;
}

static int under(const char *dir, const char *prefix)
{
    size_t n = strlen(prefix);
    while (n > 1 && prefix[n - 1] == '/')
        n--;
    return strncmp(dir, prefix, n) == 0 && (dir[n] == '\0' || dir[n] == '/');
}

int cgroups_detect(struct cgroups *cg, const char *hierarchy, const char *root, struct error *err)
{
    memset(cg, 0, sizeof(*cg));
    if (root == NULL || root[0] == '\0' || strstr(root, "..") != NULL || root[0] == '/')
        return error_set(err, -EINVAL, "--cgroups_root must be a relative name, not '%s'",
                         root ? root : "");
    snprintf(cg->root, sizeof(cg->root), "%s", root);
    FILE *f = fopen("/proc/self/mounts", "re");
    if (f == NULL)
        return error_set(err, -errno, "cannot read /proc/self/mounts: %s", strerror(errno));
    char line[4096];
    while (fgets(line, sizeof(line), f) != NULL) {
        char dev[256], dir[256], type[64], opts[1024];
        if (sscanf(line, "%255s %255s %63s %1023s", dev, dir, type, opts) != 4)
            continue;
        if (!under(dir, hierarchy))
            continue;
        if (strcmp(type, "cgroup2") == 0 && cg->v2_mount[0] == '\0') {
            snprintf(cg->v2_mount, sizeof(cg->v2_mount), "%s", dir);
        } else if (strcmp(type, "cgroup") == 0) {
            for (int c = 0; c < CG_N; c++) {
                if (has_option(opts, names[c]) && cg->version[c] == 0) {
                    cg->version[c] = 1;
                    snprintf(cg->mount[c], sizeof(cg->mount[c]), "%s", dir);
                }
            }
        }
    }
    fclose(f);
    if (cg->v2_mount[0] != '\0') {
        char path[PATH_MAX + 32], have[512] = "";
        snprintf(path, sizeof(path), "%s/cgroup.controllers", cg->v2_mount);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            ssize_t r = read(fd, have, sizeof(have) - 1);
            have[r > 0 ? r : 0] = '\0';
            close(fd);
        }
        for (char *p = have; *p; p++)
            if (*p == ' ' || *p == '\n')
                *p = ',';
        for (int c = 0; c < CG_N; c++) {
            if (cg->version[c] != 0)
                continue;
            /* cpu.stat and cgroup.kill/cgroup.freeze are core files on v2:
             * cpuacct and freezer need no controller there. Devices are
             * eBPF programs on v2, which tepui does not attach. */
            int core = c == CG_CPUACCT || c == CG_FREEZER;
            if (c != CG_DEVICES && (core || has_option(have, names[c]))) {
                cg->version[c] = 2;
                snprintf(cg->mount[c], sizeof(cg->mount[c]), "%s", cg->v2_mount);
            }
        }
    }
    return 0;
}

void cgroups_path(const struct cgroups *cg, enum cg_controller c, const char *id, const char *file,
                  char *out, size_t n)
{
    snprintf(out, n, "%s/%s%s%s%s%s", cg->mount[c], cg->root, id ? "/" : "", id ? id : "",
             file ? "/" : "", file ? file : "");
}

/* The distinct hierarchies containers use (co-mounted controllers share
 * one), as controllers naming them. */
static size_t hierarchies(const struct cgroups *cg, enum cg_controller *out)
{
    size_t n = 0;
    for (int c = 0; c < CG_N; c++) {
        if (!(cg->used & (1u << c)) || cg->version[c] == 0)
            continue;
        int seen = 0;
        for (size_t k = 0; k < n && !seen; k++)
            seen = strcmp(cg->mount[out[k]], cg->mount[c]) == 0;
        if (!seen)
            out[n++] = (enum cg_controller)c;
    }
    return n;
}

static int write_file(const char *path, const char *value)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t len = (ssize_t)strlen(value);
    int rc = write(fd, value, (size_t)len) == len ? 0 : -errno;
    close(fd);
    return rc;
}

int cgroups_prepare_root(struct cgroups *cg, struct error *err)
{
    enum cg_controller hs[CG_N];
    size_t n = hierarchies(cg, hs);
    char path[PATH_MAX];
    int v2 = 0;
    for (size_t i = 0; i < n; i++) {
        v2 |= cg->version[hs[i]] == 2;
        cgroups_path(cg, hs[i], NULL, NULL, path, sizeof(path));
        if (mkdir(path, 0755) != 0 && errno != EEXIST)
            return error_set(err, -errno, "cannot create cgroup %s: %s", path, strerror(errno));
    }
    if (v2) {
        /* Controllers must be enabled from the top down to reach the root's
         * children. */
        char enable[128] = "";
        static const enum cg_controller v2c[] = {CG_CPU, CG_MEMORY, CG_PIDS};
        for (size_t i = 0; i < sizeof(v2c) / sizeof(v2c[0]); i++)
            if ((cg->used & (1u << v2c[i])) && cg->version[v2c[i]] == 2)
                snprintf(enable + strlen(enable), sizeof(enable) - strlen(enable), "%s+%s",
                         enable[0] ? " " : "", names[v2c[i]]);
        if (enable[0] != '\0') {
            snprintf(path, sizeof(path), "%s/cgroup.subtree_control", cg->v2_mount);
            int rc = write_file(path, enable);
            char below[PATH_MAX + 200];
            snprintf(below, sizeof(below), "%s/%s/cgroup.subtree_control", cg->v2_mount, cg->root);
            if (rc == 0)
                rc = write_file(below, enable);
            if (rc != 0)
                return error_set(err, rc, "cannot enable the cgroup v2 controllers '%s' in %s: %s",
                                 enable, cg->v2_mount, strerror(-rc));
        }
    }
    return 0;
}

int cgroups_create(const struct cgroups *cg, const char *id, struct error *err)
{
    enum cg_controller hs[CG_N];
    size_t n = hierarchies(cg, hs);
    char path[PATH_MAX];
    for (size_t i = 0; i < n; i++) {
        cgroups_path(cg, hs[i], id, NULL, path, sizeof(path));
        if (mkdir(path, 0755) != 0 && errno != EEXIST)
            return error_set(err, -errno, "cannot create cgroup %s: %s", path, strerror(errno));
    }
    return 0;
}

int cgroups_exists(const struct cgroups *cg, const char *id)
{
    enum cg_controller hs[CG_N];
    size_t n = hierarchies(cg, hs);
    char path[PATH_MAX];
    for (size_t i = 0; i < n; i++) {
        cgroups_path(cg, hs[i], id, NULL, path, sizeof(path));
        if (access(path, F_OK) == 0)
            return 1;
    }
    return 0;
}

size_t cgroups_open_procs(const struct cgroups *cg, const char *id, int *fds)
{
    enum cg_controller hs[CG_N];
    size_t n = hierarchies(cg, hs), k = 0;
    char path[PATH_MAX];
    for (size_t i = 0; i < n; i++) {
        cgroups_path(cg, hs[i], id, "cgroup.procs", path, sizeof(path));
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd >= 0)
            fds[k++] = fd;
    }
    return k;
}

int cgroups_write(const struct cgroups *cg, enum cg_controller c, const char *id, const char *file,
                  const char *value)
{
    char path[PATH_MAX];
    cgroups_path(cg, c, id, file, path, sizeof(path));
    return write_file(path, value);
}

ssize_t cgroups_read(const struct cgroups *cg, enum cg_controller c, const char *id,
                     const char *file, char *out, size_t n)
{
    char path[PATH_MAX];
    cgroups_path(cg, c, id, file, path, sizeof(path));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t len = 0;
    ssize_t r;
    while (len + 1 < n && (r = read(fd, out + len, n - 1 - len)) > 0)
        len += (size_t)r;
    close(fd);
    out[len] = '\0';
    return (ssize_t)len;
}

int cgroups_read_u64(const struct cgroups *cg, enum cg_controller c, const char *id,
                     const char *file, uint64_t *out)
{
    char buf[64];
    ssize_t r = cgroups_read(cg, c, id, file, buf, sizeof(buf));
    if (r < 0)
        return (int)r;
    if (strncmp(buf, "max", 3) == 0) {
        *out = UINT64_MAX;
        return 0;
    }
    char *end = NULL;
    *out = strtoull(buf, &end, 10);
    return end == buf ? -EINVAL : 0;
}

int cgroups_read_key(const struct cgroups *cg, enum cg_controller c, const char *id,
                     const char *file, const char *key, uint64_t *out)
{
    char buf[8192];
    if (cgroups_read(cg, c, id, file, buf, sizeof(buf)) < 0)
        return -ENOENT;
    size_t len = strlen(key);
    for (char *line = buf; line != NULL && *line; ) {
        char *nl = strchr(line, '\n');
        if (strncmp(line, key, len) == 0 && line[len] == ' ') {
            *out = strtoull(line + len + 1, NULL, 10);
            return 0;
        }
        line = nl ? nl + 1 : NULL;
    }
    return -ENOENT;
}

size_t cgroups_pids(const struct cgroups *cg, const char *id, pid_t **out)
{
    enum cg_controller hs[CG_N];
    size_t nh = hierarchies(cg, hs), n = 0, cap = 16;
    pid_t *pids = xmalloc(cap * sizeof(pid_t));
    char path[PATH_MAX];
    for (size_t i = 0; i < nh; i++) {
        cgroups_path(cg, hs[i], id, "cgroup.procs", path, sizeof(path));
        FILE *f = fopen(path, "re");
        if (f == NULL)
            continue;
        long pid;
        while (fscanf(f, "%ld", &pid) == 1) {
            int seen = 0;
            for (size_t k = 0; k < n && !seen; k++)
                seen = pids[k] == (pid_t)pid;
            if (seen)
                continue;
            if (n == cap) {
                cap *= 2;
                pids = xrealloc(pids, cap * sizeof(pid_t));
            }
            pids[n++] = (pid_t)pid;
        }
        fclose(f);
    }
    *out = pids;
    return n;
}

static size_t kill_listed(const struct cgroups *cg, const char *id)
{
    pid_t *pids = NULL;
    size_t n = cgroups_pids(cg, id, &pids);
    for (size_t i = 0; i < n; i++)
        kill(pids[i], SIGKILL);
    free(pids);
    return n;
}

void cgroups_kill_all(const struct cgroups *cg, const char *id)
{
    if ((cg->used & (1u << CG_FREEZER)) && cg->version[CG_FREEZER] == 2 &&
        cgroups_write(cg, CG_FREEZER, id, "cgroup.kill", "1") == 0)
        return;
    if ((cg->used & (1u << CG_FREEZER)) && cg->version[CG_FREEZER] == 1 &&
        cgroups_write(cg, CG_FREEZER, id, "freezer.state", "FROZEN") == 0) {
        /* Freezing is usually done at once; a process in an uninterruptible
         * sleep delays it. SIGKILL is queued either way, and delivered when
         * the cgroup thaws. */
        char state[32] = "";
        for (int i = 0; i < 200; i++) {
            cgroups_read(cg, CG_FREEZER, id, "freezer.state", state, sizeof(state));
            if (strncmp(state, "FROZEN", 6) == 0)
                break;
            struct timespec ts = {0, 500 * 1000};
            nanosleep(&ts, NULL);
        }
        kill_listed(cg, id);
        cgroups_write(cg, CG_FREEZER, id, "freezer.state", "THAWED");
        return;
    }
    /* Without a freezer a process may fork between the listing and the
     * kill: passes repeat while they find something. */
    for (int pass = 0; pass < 20 && kill_listed(cg, id) > 0; pass++)
        ;
}

int cgroups_remove(const struct cgroups *cg, const char *id)
{
    enum cg_controller hs[CG_N];
    size_t n = hierarchies(cg, hs);
    char path[PATH_MAX];
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        cgroups_path(cg, hs[i], id, NULL, path, sizeof(path));
        if (rmdir(path) != 0 && errno != ENOENT)
            rc = -errno;
    }
    return rc;
}

size_t cgroups_list(const struct cgroups *cg, char ***out)
{
    enum cg_controller hs[CG_N];
    size_t nh = hierarchies(cg, hs), n = 0;
    char **ids = NULL;
    char path[PATH_MAX];
    for (size_t i = 0; i < nh; i++) {
        cgroups_path(cg, hs[i], NULL, NULL, path, sizeof(path));
        DIR *d = opendir(path);
        if (d == NULL)
            continue;
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (de->d_type != DT_DIR || de->d_name[0] == '.')
                continue;
            int seen = 0;
            for (size_t k = 0; k < n && !seen; k++)
                seen = strcmp(ids[k], de->d_name) == 0;
            if (seen)
                continue;
            ids = xrealloc(ids, (n + 1) * sizeof(char *));
            ids[n++] = xstrdup(de->d_name);
        }
        closedir(d);
    }
    *out = ids;
    return n;
}
