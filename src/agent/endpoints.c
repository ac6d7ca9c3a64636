/* The agent's classic endpoints: /health, /version, /flags, /state,
 * /metrics/snapshot, and /files/{browse,read,download} for sandboxes. File
 * paths are resolved and must stay inside --work_dir, whatever '..' or
 * symlink tricks they try. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <dirent.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/fetcher.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "wire/json.h"

#define LOG_COMPONENT "agent"

/* Mesos reads at most 16 pages per /files/read call. */
#define MAX_READ_BYTES (16 * 4096)

static void health_handler(struct http_request *req, void *arg)
{
    (void)arg;
    if (http_require_get(req))
        http_respond_empty(req, 200);
}

static void version_handler(struct http_request *req, void *arg)
{
    (void)arg;
    if (!http_require_get(req))
        return;
    json_t *o = json_object();
    json_object_set_new(o, "version", json_string(TEPUI_VERSION));
    json_object_set_new(o, "git_sha", json_string(TEPUI_GIT_SHA));
    json_object_set_new(o, "build_date", json_string(__DATE__));
    http_respond_json(req, 200, o);
}

static void flags_handler(struct http_request *req, void *arg)
{
    struct agent *a = arg;
    if (!http_require_get(req))
        return;
    json_t *o = json_object();
    json_object_set_new(o, "flags", flags_to_json(a->flag_set));
    http_respond_json(req, 200, o);
}

static json_t *task_json(struct agent *a, const struct agent_executor *e, const struct agent_task *t)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(t->id));
    json_object_set_new(o, "name", json_string(t->info->name));
    json_object_set_new(o, "framework_id", json_string(e->framework->id));
    json_object_set_new(o, "executor_id", json_string(e->command_executor ? "" : e->id));
    json_object_set_new(o, "slave_id", json_string(a->id ? a->id : ""));
    json_object_set_new(o, "state", json_string(task_state_name(t->state)));
    struct resources r = RESOURCES_INIT;
    resources_from_proto(t->info->resources, t->info->n_resources, &r, NULL);
    json_object_set_new(o, "resources", resources_to_state_json(&r));
    if (r.n > 0 && r.v[0].allocation_role != NULL)
        json_object_set_new(o, "role", json_string(r.v[0].allocation_role));
    resources_free(&r);
    json_object_set_new(o, "statuses", json_array());
    return o;
}

static json_t *executor_json(struct agent *a, const struct agent_executor *e)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(e->id));
    json_object_set_new(o, "name", json_string(e->info->name ? e->info->name : ""));
    json_object_set_new(o, "source", json_string(e->info->source ? e->info->source : ""));
    json_object_set_new(o, "container", json_string(e->container_id));
    json_object_set_new(o, "directory", json_string(e->directory ? e->directory : ""));
    json_object_set_new(o, "type", json_string(e->command_executor ? "COMMAND" : "CUSTOM"));
    struct resources r = RESOURCES_INIT;
    resources_from_proto(e->info->resources, e->info->n_resources, &r, NULL);
    json_object_set_new(o, "resources", resources_to_state_json(&r));
    resources_free(&r);
    json_t *tasks = json_array(), *queued = json_array(), *done = json_array();
    const struct agent_task *t, *tmp;
    HASH_ITER(hh, e->tasks, t, tmp) {
        json_t *tj = task_json(a, e, t);
        if (task_state_is_terminal(t->state))
            json_array_append_new(done, tj);
        else if (!t->launched)
            json_array_append_new(queued, tj);
        else
            json_array_append_new(tasks, tj);
    }
    json_object_set_new(o, "tasks", tasks);
    json_object_set_new(o, "queued_tasks", queued);
    json_object_set_new(o, "completed_tasks", done);
    return o;
}

/* Mesos keeps 150 completed executors per framework; we keep this many in
 * all, oldest dropped first. */
#define MAX_COMPLETED_EXECUTORS 1000

void endpoints_record_completed(struct agent *a, const struct agent_executor *e)
{
    if (a->completed_executors == NULL)
        a->completed_executors = json_array();
    json_t *rec = json_object();
    json_object_set_new(rec, "framework_id", json_string(e->framework->id));
    json_object_set_new(rec, "framework_name", json_string(e->framework->info->name));
    json_object_set_new(rec, "executor", executor_json(a, e));
    json_array_append_new(a->completed_executors, rec);
    if (json_array_size(a->completed_executors) > MAX_COMPLETED_EXECUTORS)
        json_array_remove(a->completed_executors, 0);
}

static json_t *completed_of(struct agent *a, const char *framework_id)
{
    json_t *out = json_array();
    size_t i;
    json_t *rec;
    json_array_foreach(a->completed_executors, i, rec) {
        if (strcmp(json_string_value(json_object_get(rec, "framework_id")), framework_id) == 0)
            json_array_append(out, json_object_get(rec, "executor"));
    }
    return out;
}

static void state_handler(struct http_request *req, void *arg)
{
    struct agent *a = arg;
    if (!http_require_get(req))
        return;
    json_t *o = json_object();
    json_object_set_new(o, "version", json_string(TEPUI_VERSION));
    json_object_set_new(o, "git_sha", json_string(TEPUI_GIT_SHA));
    json_object_set_new(o, "build_date", json_string(__DATE__));
    json_object_set_new(o, "start_time", json_real(a->start_time));
    json_object_set_new(o, "id", json_string(a->id ? a->id : ""));
    char pid[320];
    snprintf(pid, sizeof(pid), "slave(1)@%s:%d", a->ip, a->port);
    json_object_set_new(o, "pid", json_string(pid));
    json_object_set_new(o, "hostname", json_string(a->hostname));
    json_object_set_new(o, "resources", resources_to_state_json(&a->total));
    json_t *attrs = json_object();
    for (size_t i = 0; i < a->info->n_attributes; i++) {
        const Tepui__Attribute *at = a->info->attributes[i];
        if (at->scalar)
            json_object_set_new(attrs, at->name, json_real(at->scalar->value));
        else if (at->text)
            json_object_set_new(attrs, at->name, json_string(at->text->value));
        else if (at->ranges || at->set) {
            /* As the master's /state (Mesos's model): "[1-5, 7-9]", "{a, b}". */
            struct buf b = BUF_INIT;
            buf_append_char(&b, at->ranges ? '[' : '{');
            for (size_t k = 0; at->ranges && k < at->ranges->n_range; k++)
                buf_printf(&b, "%s%llu-%llu", k ? ", " : "",
                           (unsigned long long)at->ranges->range[k]->begin,
                           (unsigned long long)at->ranges->range[k]->end);
            for (size_t k = 0; at->set && k < at->set->n_item; k++)
                buf_printf(&b, "%s%s", k ? ", " : "", at->set->item[k]);
            buf_append_char(&b, at->ranges ? ']' : '}');
            json_object_set_new(attrs, at->name, json_string(buf_cstr(&b)));
            buf_free(&b);
        }
    }
    json_object_set_new(o, "attributes", attrs);
    if (a->master_info != NULL)
        json_object_set_new(o, "master_hostname", json_string(a->master_info->hostname));
    json_object_set_new(o, "flags", flags_to_json(a->flag_set));
    json_t *fws = json_array();
    const struct agent_framework *f, *ftmp;
    HASH_ITER(hh, a->frameworks, f, ftmp) {
        json_t *fo = json_object();
        json_object_set_new(fo, "id", json_string(f->id));
        json_object_set_new(fo, "name", json_string(f->info->name));
        json_object_set_new(fo, "user", json_string(f->info->user));
        json_object_set_new(fo, "failover_timeout",
                            json_real(f->info->has_failover_timeout ? f->info->failover_timeout : 0));
        json_object_set_new(fo, "checkpoint",
                            json_boolean(f->info->has_checkpoint && f->info->checkpoint));
        json_object_set_new(fo, "hostname", json_string(f->info->hostname ? f->info->hostname : ""));
        json_t *execs = json_array();
        const struct agent_executor *e, *etmp;
        HASH_ITER(hh, f->executors, e, etmp) {
            json_array_append_new(execs, executor_json(a, e));
        }
        json_object_set_new(fo, "executors", execs);
        json_object_set_new(fo, "completed_executors", completed_of(a, f->id));
        json_array_append_new(fws, fo);
    }
    json_object_set_new(o, "frameworks", fws);
    /* Frameworks that are gone but whose executors are remembered. */
    json_t *done = json_array();
    size_t i;
    json_t *rec;
    json_array_foreach(a->completed_executors, i, rec) {
        const char *fid = json_string_value(json_object_get(rec, "framework_id"));
        if (agent_find_framework(a, fid) != NULL)
            continue;
        int seen = 0;
        size_t k;
        json_t *d;
        json_array_foreach(done, k, d) {
            seen |= strcmp(json_string_value(json_object_get(d, "id")), fid) == 0;
        }
        if (seen)
            continue;
        json_t *fo = json_object();
        json_object_set_new(fo, "id", json_string(fid));
        json_object_set_new(fo, "name", json_incref(json_object_get(rec, "framework_name")));
        json_object_set_new(fo, "executors", json_array());
        json_object_set_new(fo, "completed_executors", completed_of(a, fid));
        json_array_append_new(done, fo);
    }
    json_object_set_new(o, "completed_frameworks", done);
    http_respond_json(req, 200, o);
}

static void metrics_handler(struct http_request *req, void *arg)
{
    struct agent *a = arg;
    if (!http_require_get(req))
        return;
    json_t *o = json_object();
    json_object_set_new(o, "slave/uptime_secs", json_real(clock_wall() - a->start_time));
    json_object_set_new(o, "slave/registered", json_real(a->link == LINK_REGISTERED));
    size_t n_fw = 0, n_exec = 0, by_state[16] = {0};
    const struct agent_framework *f, *ftmp;
    HASH_ITER(hh, a->frameworks, f, ftmp) {
        n_fw++;
        const struct agent_executor *e, *etmp;
        HASH_ITER(hh, f->executors, e, etmp) {
            n_exec++;
            const struct agent_task *t, *ttmp;
            HASH_ITER(hh, e->tasks, t, ttmp) {
                if ((unsigned)t->state < 16)
                    by_state[t->state]++;
            }
        }
    }
    json_object_set_new(o, "slave/frameworks_active", json_real((double)n_fw));
    json_object_set_new(o, "slave/executors_running", json_real((double)n_exec));
    json_object_set_new(o, "slave/executors_terminated",
                        json_real((double)a->metrics.executors_terminated));
    json_object_set_new(o, "slave/tasks_staging",
                        json_real((double)by_state[TEPUI__TASK_STATE__TASK_STAGING]));
    json_object_set_new(o, "slave/tasks_starting",
                        json_real((double)by_state[TEPUI__TASK_STATE__TASK_STARTING]));
    json_object_set_new(o, "slave/tasks_running",
                        json_real((double)by_state[TEPUI__TASK_STATE__TASK_RUNNING]));
    json_object_set_new(o, "slave/tasks_killing",
                        json_real((double)by_state[TEPUI__TASK_STATE__TASK_KILLING]));
    json_object_set_new(o, "slave/valid_status_updates",
                        json_real((double)a->metrics.valid_status_updates));
    json_object_set_new(o, "slave/invalid_status_updates",
                        json_real((double)a->metrics.invalid_status_updates));
    json_object_set_new(o, "slave/launched_tasks", json_real((double)a->metrics.launched_tasks));
    json_object_set_new(o, "slave/recovery_errors", json_real((double)a->metrics.recovery_errors));
    json_object_set_new(o, "slave/recovery_time_secs", json_real(a->metrics.recovery_time_secs));
    fetcher_metrics(a, o);
    static const char *names[] = {"cpus", "mem", "disk", "gpus"};
    for (size_t i = 0; i < 4; i++) {
        char key[64];
        snprintf(key, sizeof(key), "slave/%s_total", names[i]);
        json_object_set_new(o, key,
                            json_real(resources_scalar_to_double(resources_scalar(&a->total, names[i]))));
    }
    http_respond_json(req, 200, o);
}

/* ---- files ---- */

/* Query decoding cuts a value at an encoded NUL ("%00"), so such a path
 * would name some other file than the one asked for: it is refused. Answers
 * 400 and returns 1 when the request has one. */
static int refuse_nul_path(struct http_request *req)
{
    if (req->query == NULL || strstr(req->query, "%00") == NULL)
        return 0;
    http_respond_error(req, 400, "Failed to parse 'path': it contains a NUL byte");
    return 1;
}

/* Resolves a requested path; returns a malloc'd real path inside the work
 * dir, or NULL (with *code set to 400 or 404). */
static char *resolve_path(struct agent *a, const char *path, int *code)
{
    if (path == NULL || path[0] == '\0') {
        *code = 400;
        return NULL;
    }
    char root[PATH_MAX], real[PATH_MAX];
    if (realpath(a->flags.work_dir, root) == NULL || realpath(path, real) == NULL) {
        *code = 404;
        return NULL;
    }
    size_t n = strlen(root);
    if (strncmp(real, root, n) != 0 || (real[n] != '/' && real[n] != '\0')) {
        *code = 404;
        return NULL;
    }
    return xstrdup(real);
}

static void mode_string(mode_t m, char out[11])
{
    out[0] = S_ISDIR(m) ? 'd' : S_ISLNK(m) ? 'l' : '-';
    static const char rwx[] = "rwxrwxrwx";
    for (int i = 0; i < 9; i++)
        out[i + 1] = (m & (1u << (8 - i))) ? rwx[i] : '-';
    out[10] = '\0';
}

static json_t *file_info_json(const char *path, const struct stat *st)
{
    json_t *o = json_object();
    char mode[11];
    mode_string(st->st_mode, mode);
    struct passwd *pw = getpwuid(st->st_uid);
    struct group *gr = getgrgid(st->st_gid);
    json_object_set_new(o, "path", json_string(path));
    json_object_set_new(o, "mode", json_string(mode));
    json_object_set_new(o, "nlink", json_integer((json_int_t)st->st_nlink));
    json_object_set_new(o, "uid", json_string(pw ? pw->pw_name : ""));
    json_object_set_new(o, "gid", json_string(gr ? gr->gr_name : ""));
    json_object_set_new(o, "size", json_integer((json_int_t)st->st_size));
    json_object_set_new(o, "mtime", json_integer((json_int_t)st->st_mtime));
    return o;
}

static void browse_handler(struct http_request *req, void *arg)
{
    struct agent *a = arg;
    if (!http_require_get(req) || refuse_nul_path(req))
        return;
    int code = 0;
    const char *p = http_request_query_param(req, "path");
    char *real = resolve_path(a, p, &code);
    if (real == NULL) {
        http_respond_error(req, code, code == 400 ? "Expecting 'path' to be present"
                                                   : "File not found");
        return;
    }
    struct stat st;
    if (stat(real, &st) != 0 || !S_ISDIR(st.st_mode)) {
        free(real);
        http_respond_error(req, 404, "'%s' is not a directory", p);
        return;
    }
    DIR *d = opendir(real);
    json_t *arr = json_array();
    if (d != NULL) {
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            char child[PATH_MAX];
            if (snprintf(child, sizeof(child), "%s/%s", real, de->d_name) >= (int)sizeof(child))
                continue;
            struct stat cs;
            if (lstat(child, &cs) == 0)
                json_array_append_new(arr, file_info_json(child, &cs));
        }
        closedir(d);
    }
    free(real);
    http_respond_json(req, 200, arr);
}

/* JSON strings must be UTF-8: invalid bytes of a file become U+FFFD. */
static json_t *utf8_string(const char *s, size_t n)
{
    json_t *whole = json_stringn(s, n);
    if (whole != NULL)
        return whole;
    struct buf b = BUF_INIT;
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        int ok = len > 0 && i + len <= n && c != 0;
        for (size_t k = 1; ok && k < len; k++)
            ok = ((unsigned char)s[i + k] & 0xc0) == 0x80;
        if (ok && len > 1) {
            json_t *probe = json_stringn(s + i, len);
            ok = probe != NULL;
            json_decref(probe);
        }
        if (ok) {
            buf_append(&b, s + i, len);
            i += len;
        } else {
            buf_append(&b, "\xef\xbf\xbd", 3);
            i++;
        }
    }
    json_t *j = json_stringn(b.data ? b.data : "", b.len);
    buf_free(&b);
    return j ? j : json_string("");
}

static void read_handler(struct http_request *req, void *arg)
{
    struct agent *a = arg;
    if (!http_require_get(req) || refuse_nul_path(req))
        return;
    int code = 0;
    const char *p = http_request_query_param(req, "path");
    const char *off_s = http_request_query_param(req, "offset");
    const char *len_s = http_request_query_param(req, "length");
    long long offset = -1, length = MAX_READ_BYTES;
    char *end = NULL;
    if (off_s != NULL) {
        offset = strtoll(off_s, &end, 10);
        if (end == off_s || *end != '\0' || offset < -1) {
            http_respond_error(req, 400, "Failed to parse offset: '%s'", off_s);
            return;
        }
    }
    if (len_s != NULL) {
        length = strtoll(len_s, &end, 10);
        if (end == len_s || *end != '\0' || length < -1) {
            http_respond_error(req, 400, "Failed to parse length: '%s'", len_s);
            return;
        }
        if (length == -1 || length > MAX_READ_BYTES)
            length = MAX_READ_BYTES;
    }
    char *real = resolve_path(a, p, &code);
    if (real == NULL) {
        http_respond_error(req, code, code == 400 ? "Expecting 'path' to be present"
                                                   : "File not found");
        return;
    }
    int fd = open(real, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        if (fd >= 0)
            close(fd);
        free(real);
        http_respond_error(req, 404, "File not found");
        return;
    }
    free(real);
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        http_respond_error(req, 400, "Cannot read a directory");
        return;
    }
    json_t *o = json_object();
    if (offset == -1) {
        /* Mesos: offset -1 asks for the size only. */
        json_object_set_new(o, "offset", json_integer((json_int_t)st.st_size));
        json_object_set_new(o, "data", json_string(""));
    } else {
        char *data = xmalloc((size_t)length + 1);
        ssize_t got = pread(fd, data, (size_t)length, (off_t)offset);
        if (got < 0)
            got = 0;
        json_object_set_new(o, "offset", json_integer((json_int_t)offset));
        json_object_set_new(o, "data", utf8_string(data, (size_t)got));
        free(data);
    }
    close(fd);
    http_respond_json(req, 200, o);
}

static void download_handler(struct http_request *req, void *arg)
{
    struct agent *a = arg;
    if (!http_require_get(req) || refuse_nul_path(req))
        return;
    int code = 0;
    char *real = resolve_path(a, http_request_query_param(req, "path"), &code);
    if (real == NULL) {
        http_respond_error(req, code, code == 400 ? "Expecting 'path' to be present"
                                                   : "File not found");
        return;
    }
    struct stat st;
    int fd = open(real, O_RDONLY | O_CLOEXEC);
    free(real);
    if (fd < 0 || fstat(fd, &st) != 0) {
        if (fd >= 0)
            close(fd);
        http_respond_error(req, 404, "File not found");
        return;
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        http_respond_error(req, 400, "Cannot download a directory");
        return;
    }
    /* The file goes out with sendfile; the descriptor is libevent's now. */
    http_respond_file(req, "application/octet-stream", fd, (size_t)st.st_size);
}

void endpoints_routes(struct agent *a)
{
    static const struct { const char *path; http_handler_fn fn; } routes[] = {
        {"/health", health_handler},       {"/version", version_handler},
        {"/flags", flags_handler},         {"/state", state_handler},
        {"/state.json", state_handler},    {"/metrics/snapshot", metrics_handler},
        {"/files/browse", browse_handler}, {"/files/read", read_handler},
        {"/files/download", download_handler},
        {"/monitor/statistics", monitor_statistics_handler},
        {"/monitor/statistics.json", monitor_statistics_handler},
    };
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        char alias[128];
        http_server_route(a->http, routes[i].path, routes[i].fn, a);
        snprintf(alias, sizeof(alias), "/slave(1)%s", routes[i].path);
        http_server_route(a->http, alias, routes[i].fn, a);
    }
}
