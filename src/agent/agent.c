/* The agent's lifetime and its bookkeeping of frameworks, executors and
 * tasks; --resources and --attributes; detecting the machine's resources. */
#include "agent/agent.h"
#include "agent/checkpoint.h"
#include "agent/fetcher.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "ha/zk.h"
#include "wire/pb.h"

#define LOG_COMPONENT "agent"

/* ---- attributes ---- */

static Tepui__Attribute *attribute_new(const char *name, const char *value, struct error *err)
{
    Tepui__Attribute *at = xmalloc(sizeof(*at));
    tepui__attribute__init(at);
    at->name = xstrdup(name);
    size_t n = strlen(value);
    char *end = NULL;
    double d = strtod(value, &end);
    if (n > 0 && end == value + n && isfinite(d)) {
        at->type = TEPUI__VALUE__TYPE__SCALAR;
        at->scalar = xmalloc(sizeof(*at->scalar));
        tepui__value__scalar__init(at->scalar);
        at->scalar->value = d;
    } else if (n >= 2 && value[0] == '[' && value[n - 1] == ']') {
        at->type = TEPUI__VALUE__TYPE__RANGES;
        at->ranges = xmalloc(sizeof(*at->ranges));
        tepui__value__ranges__init(at->ranges);
        char *copy = xstrndup(value + 1, n - 2);
        char *save = NULL;
        for (char *p = strtok_r(copy, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
            unsigned long long b, e;
            if (sscanf(p, " %llu - %llu", &b, &e) != 2 || b > e) {
                /* p points into copy: report before freeing it. */
                error_set(err, -EINVAL, "--attributes: attribute '%s': bad range '%s'", name, p);
                free(copy);
                pb_free(at);
                return NULL;
            }
            Tepui__Value__Range *r = xmalloc(sizeof(*r));
            tepui__value__range__init(r);
            r->begin = b;
            r->end = e;
            at->ranges->range = xrealloc(at->ranges->range, (at->ranges->n_range + 1) * sizeof(r));
            at->ranges->range[at->ranges->n_range++] = r;
        }
        free(copy);
    } else if (n >= 2 && value[0] == '{' && value[n - 1] == '}') {
        at->type = TEPUI__VALUE__TYPE__SET;
        at->set = xmalloc(sizeof(*at->set));
        tepui__value__set__init(at->set);
        char *copy = xstrndup(value + 1, n - 2);
        char *save = NULL;
        for (char *p = strtok_r(copy, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
            while (*p == ' ')
                p++;
            at->set->item = xrealloc(at->set->item, (at->set->n_item + 1) * sizeof(char *));
            at->set->item[at->set->n_item++] = xstrdup(p);
        }
        free(copy);
    } else {
        at->type = TEPUI__VALUE__TYPE__TEXT;
        at->text = xmalloc(sizeof(*at->text));
        tepui__value__text__init(at->text);
        at->text->value = xstrdup(value);
    }
    return at;
}

int agent_parse_attributes(const char *text, Tepui__Attribute ***out, size_t *n,
                           struct error *err)
{
    *out = NULL;
    *n = 0;
    if (text == NULL || text[0] == '\0')
        return 0;
    char *copy = xstrdup(text);
    char *save = NULL;
    int rc = 0;
    for (char *item = strtok_r(copy, ";", &save); item; item = strtok_r(NULL, ";", &save)) {
        char *colon = strchr(item, ':');
        if (colon == NULL || colon == item) {
            rc = error_set(err, -EINVAL, "--attributes: expected NAME:VALUE, got '%s'", item);
            break;
        }
        *colon = '\0';
        Tepui__Attribute *at = attribute_new(item, colon + 1, err);
        if (at == NULL) {
            rc = -EINVAL;
            break;
        }
        *out = xrealloc(*out, (*n + 1) * sizeof(**out));
        (*out)[(*n)++] = at;
    }
    free(copy);
    if (rc != 0) {
        agent_free_attributes(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

void agent_free_attributes(Tepui__Attribute **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        pb_free(v[i]);
    free(v);
}

/* ---- resources of the machine ---- */

void agent_detect_resources(const char *work_dir, struct resources *out)
{
    /* As Mesos: all cores; memory less 1 GB (half when under 2 GB); disk of
     * the work dir's filesystem less 5 GB (half when under 10 GB); the
     * ports 31000-32000. */
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    struct sysinfo si;
    double mem_mb = 0;
    if (sysinfo(&si) == 0)
        mem_mb = (double)si.totalram * si.mem_unit / (1024.0 * 1024.0);
    mem_mb = mem_mb >= 2048 ? mem_mb - 1024 : mem_mb / 2;
    double disk_mb = 0;
    struct statvfs sv;
    if (statvfs(work_dir, &sv) == 0)
        disk_mb = (double)sv.f_blocks * sv.f_frsize / (1024.0 * 1024.0);
    disk_mb = disk_mb >= 10240 ? disk_mb - 5120 : disk_mb / 2;
    char text[256];
    snprintf(text, sizeof(text), "cpus:%ld;mem:%.0f;disk:%.0f;ports:[31000-32000]",
             cpus > 0 ? cpus : 1, floor(mem_mb), floor(disk_mb));
    resources_parse(text, NULL, out, NULL);
}

/* ---- frameworks, executors, tasks ---- */

struct agent_framework *agent_find_framework(struct agent *a, const char *id)
{
    struct agent_framework *f = NULL;
    HASH_FIND_STR(a->frameworks, id, f);
    return f;
}

int agent_framework_checkpoints(const struct agent_framework *f)
{
    return f->info->has_checkpoint && f->info->checkpoint;
}

/* Whether two messages pack to the same bytes. */
static int same_message(const ProtobufCMessage *x, const ProtobufCMessage *y)
{
    size_t n = protobuf_c_message_get_packed_size(x);
    if (n != protobuf_c_message_get_packed_size(y))
        return 0;
    struct buf bx = BUF_INIT, by = BUF_INIT;
    pb_pack_buf(x, &bx);
    pb_pack_buf(y, &by);
    int same = n == 0 || memcmp(bx.data, by.data, n) == 0;
    buf_free(&bx);
    buf_free(&by);
    return same;
}

struct agent_framework *agent_get_framework(struct agent *a, const Tepui__FrameworkInfo *info)
{
    struct agent_framework *f = agent_find_framework(a, info->id->value);
    if (f != NULL) {
        /* Every task carries its FrameworkInfo: only a change is written. */
        if (same_message(&f->info->base, &info->base))
            return f;
        pb_free(f->info);
        f->info = PB_COPY(Tepui__FrameworkInfo, info);
        if (agent_framework_checkpoints(f))
            ckpt_framework(a, f);
        return f;
    }
    f = XNEW(struct agent_framework);
    f->id = xstrdup(info->id->value);
    f->info = PB_COPY(Tepui__FrameworkInfo, info);
    HASH_ADD_KEYPTR(hh, a->frameworks, f->id, strlen(f->id), f);
    if (agent_framework_checkpoints(f))
        ckpt_framework(a, f);
    return f;
}

struct agent_executor *agent_find_executor(struct agent *a, const char *framework_id,
                                           const char *executor_id)
{
    struct agent_framework *f = agent_find_framework(a, framework_id);
    if (f == NULL)
        return NULL;
    struct agent_executor *e = NULL;
    HASH_FIND_STR(f->executors, executor_id, e);
    return e;
}

struct agent_task *agent_find_task(struct agent *a, const char *framework_id, const char *task_id,
                                   struct agent_executor **executor)
{
    struct agent_framework *f = agent_find_framework(a, framework_id);
    if (f == NULL)
        return NULL;
    struct agent_executor *e, *tmp;
    HASH_ITER(hh, f->executors, e, tmp) {
        struct agent_task *t = NULL;
        HASH_FIND_STR(e->tasks, task_id, t);
        if (t != NULL) {
            if (executor != NULL)
                *executor = e;
            return t;
        }
    }
    return NULL;
}

void agent_release_framework_if_idle(struct agent *a, struct agent_framework *f)
{
    if (f->executors != NULL)
        return;
    ckpt_framework_remove(a, f);
    HASH_DEL(a->frameworks, f);
    pb_free(f->info);
    free(f->id);
    free(f);
}

/* ---- lifetime ---- */

struct agent *agent_new(struct event_base *base, struct agent_flags *flags, struct flag_set *fs,
                        struct error *err)
{
    struct agent *a = XNEW(struct agent);
    a->base = base;
    a->flags = *flags;
    a->flag_set = fs;
    a->start_time = clock_wall();
    snprintf(a->ip, sizeof(a->ip), "%s", flags->ip);
    if (flags->hostname != NULL && flags->hostname[0] != '\0')
        snprintf(a->hostname, sizeof(a->hostname), "%s", flags->hostname);
    else if (gethostname(a->hostname, sizeof(a->hostname)) != 0)
        snprintf(a->hostname, sizeof(a->hostname), "%s", flags->ip);

    if (strcmp(flags->recover, "reconnect") != 0 && strcmp(flags->recover, "cleanup") != 0) {
        error_set(err, -EINVAL, "--recover must be 'reconnect' or 'cleanup', not '%s'",
                  flags->recover);
        goto fail;
    }
    if (strcmp(flags->reconfiguration_policy, "equal") != 0 &&
        strcmp(flags->reconfiguration_policy, "additive") != 0) {
        error_set(err, -EINVAL, "--reconfiguration_policy must be 'equal' or 'additive', not '%s'",
                  flags->reconfiguration_policy);
        goto fail;
    }
    /* Mesos's bound: executors wait at most --recovery_timeout anyway. */
    if (flags->executor_reregistration_timeout > 15 * 60) {
        error_set(err, -EINVAL, "--executor_reregistration_timeout must not exceed 15mins");
        goto fail;
    }
    int rc = fs_mkdirs(flags->work_dir);
    if (rc != 0) {
        error_set(err, rc, "cannot create --work_dir %s: %s", flags->work_dir, strerror(-rc));
        goto fail;
    }
    /* A zk:// master is found through ZooKeeper (master_link.c). */
    if (zk_url_is(flags->master) ? zk_url_parse(flags->master, &(struct zk_url){0}, err) != 0
                                 : http_endpoint_parse(flags->master, 5050, &a->master_ep, err) != 0) {
        error_prefix(err, "--master");
        goto fail;
    }
    resources_init(&a->total);
    if (flags->resources != NULL && flags->resources[0] != '\0') {
        const char *role = flags->default_role && strcmp(flags->default_role, "*") != 0
                               ? flags->default_role : NULL;
        if (resources_parse(flags->resources, role, &a->total, err) != 0) {
            error_prefix(err, "--resources");
            goto fail;
        }
        /* Missing standard resources are detected, as Mesos does. */
        struct resources detected = RESOURCES_INIT;
        agent_detect_resources(flags->work_dir, &detected);
        for (size_t i = 0; i < detected.n; i++) {
            int have = 0;
            for (size_t k = 0; k < a->total.n && !have; k++)
                have = strcmp(a->total.v[k].name, detected.v[i].name) == 0;
            if (!have)
                resources_add_one(&a->total, &detected.v[i]);
        }
        resources_free(&detected);
    } else {
        agent_detect_resources(flags->work_dir, &a->total);
    }

    Tepui__AgentInfo *info = xmalloc(sizeof(*info));
    tepui__agent_info__init(info);
    info->hostname = xstrdup(a->hostname);
    info->has_port = 1;
    info->resources = resources_to_proto(&a->total, &info->n_resources);
    if (agent_parse_attributes(flags->attributes, &info->attributes, &info->n_attributes, err) != 0) {
        pb_free(info);
        goto fail;
    }
    a->info = info;

    if (flags->launcher_dir != NULL && flags->launcher_dir[0] != '\0') {
        a->executor_path = xasprintf("%s/tepui-executor", flags->launcher_dir);
    } else {
        /* Beside our own binary. */
        char self[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        if (n <= 0) {
            error_set(err, -errno, "cannot find the agent binary; set --launcher_dir");
            goto fail;
        }
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash)
            *slash = '\0';
        a->executor_path = xasprintf("%s/tepui-executor", self);
    }
    if (access(a->executor_path, X_OK) != 0) {
        error_set(err, -ENOENT, "the command executor %s is not executable (see --launcher_dir)",
                  a->executor_path);
        goto fail;
    }
    return a;
fail:
    resources_free(&a->total);
    free(a->executor_path);
    free(a);
    return NULL;
}

int agent_start(struct agent *a, struct error *err)
{
    struct http_server_options ho = {
        .max_body_bytes = (size_t)a->flags.max_body_size,
        .max_header_bytes = 64 * 1024,
        .idle_timeout_secs = 300,
    };
    a->http = http_server_new(a->base, &ho);
    int rc = http_server_bind(a->http, a->ip, a->flags.port, &a->port, err);
    if (rc != 0)
        return rc;
    a->info->port = a->port;
    executor_api_routes(a);
    endpoints_routes(a);
    if ((rc = containers_init(a, err)) != 0)
        return rc;
    if ((rc = fetcher_init(a, err)) != 0)
        return rc;
    struct buf res = BUF_INIT;
    resources_format(&a->total, &res);
    log_info("agent listening on %s:%d with resources %s", a->ip, a->port, buf_cstr(&res));
    buf_free(&res);
    /* What an earlier run left comes back before the agent registers. */
    if ((rc = recover_start(a, err)) < 0)
        return rc;
    if (rc == 0)
        master_link_start(a);
    return 0;
}

void agent_free(struct agent *a)
{
    if (a == NULL)
        return;
    master_link_stop(a);
    executor_api_stop(a);
    recover_stop(a);
    /* What is pending becomes durable; nothing is written after this, so
     * forgetting executors below keeps them in the checkpoint. */
    ckpt_close(a);
    containers_fini(a);
    fetcher_fini(a);
    updates_free_all(a);
    json_decref(a->completed_executors);
    http_server_free(a->http);
    pb_free(a->info);
    pb_free(a->master_info);
    pb_free(a->default_executor_command);
    resources_free(&a->total);
    free(a->executor_path);
    free(a->id);
    free(a);
}
