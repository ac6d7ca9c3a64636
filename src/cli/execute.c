/* tepui execute: a small framework that runs one command (or N instances of
 * it), a TaskInfo (--task) or a task group on the default executor
 * (--task_group) on a cluster, like mesos-execute: it prints each state
 * change as it happens, then each task's stdout and stderr from its sandbox,
 * and exits with the task's exit status (the worst of them). */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/clock.h"
#include "common/flags.h"
#include "common/log.h"
#include "common/resources.h"
#include "common/task_state.h"
#include "common/xalloc.h"
#include "ha/zk.h"
#include "tepui/scheduler.h"
#include "wire/json.h"
#include "wire/pb.h"

/* The ExecutorInfo mesos-execute makes for a task group: the default
 * executor, under this id, with these resources of its own. */
#define GROUP_EXECUTOR_ID "default-executor"
#define GROUP_EXECUTOR_RESOURCES "cpus:0.1;mem:32"

struct exec_task {
    char *id;
    char *executor_id;            /* NULL: a command task's, named for the task */
    int in_group;                 /* its sandbox is tasks/<id> below the executor's */
    char *agent_id;
    int launched;
    int done;
    task_state_t state;
    char *message;
    struct event *kill_timer;
    struct exec *ex;
};

struct exec {
    struct event_base *base;
    struct tepui_scheduler *sched;
    char master_host[256];
    int master_port;
    /* options */
    char *name, *command, *env, *resources_text, *role;
    int shell, checkpoint, partition_aware, instances, quiet;
    double kill_after;
    struct resources resources;
    Tepui__TaskInfo *task_info;         /* --task */
    Tepui__TaskGroupInfo *task_group;   /* --task_group */
    /* progress */
    struct exec_task *tasks;
    int n_launched, n_done;
    int suppressed;
    int exit_code;
    int finished;
    int subscribed;
    double subscribe_timeout;
    struct event *subscribe_timer;
};

static void finish(struct exec *ex, int code)
{
    if (!ex->finished)
        ex->exit_code = code;
    ex->finished = 1;
    event_base_loopbreak(ex->base);
}

/* ---- launching ---- */

static Tepui__Environment *parse_env(const char *text, struct error *err)
{
    json_error_t je;
    json_t *o = json_loads(text, 0, &je);
    if (o == NULL || !json_is_object(o)) {
        json_decref(o);
        error_set(err, -EINVAL, "--env must be a JSON object of strings");
        return NULL;
    }
    Tepui__Environment *env = xmalloc(sizeof(*env));
    tepui__environment__init(env);
    env->variables = xcalloc(json_object_size(o) + 1, sizeof(*env->variables));
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        Tepui__Environment__Variable *var = xmalloc(sizeof(*var));
        tepui__environment__variable__init(var);
        var->name = xstrdup(k);
        var->value = xstrdup(json_is_string(v) ? json_string_value(v) : "");
        env->variables[env->n_variables++] = var;
    }
    json_decref(o);
    return env;
}

static Tepui__TaskInfo *make_task(struct exec *ex, struct exec_task *t, const Tepui__Offer *o,
                                  const char *role)
{
    Tepui__TaskInfo *ti = xmalloc(sizeof(*ti));
    tepui__task_info__init(ti);
    ti->name = xstrdup(ex->name);
    ti->task_id = xmalloc(sizeof(*ti->task_id));
    tepui__task_id__init(ti->task_id);
    ti->task_id->value = xstrdup(t->id);
    ti->agent_id = PB_COPY(Tepui__AgentID, o->agent_id);
    struct resources r = RESOURCES_INIT;
    resources_copy(&r, &ex->resources);
    resources_set_allocation_role(&r, role);
    ti->resources = resources_to_proto(&r, &ti->n_resources);
    resources_free(&r);
    ti->command = xmalloc(sizeof(*ti->command));
    tepui__command_info__init(ti->command);
    ti->command->value = xstrdup(ex->command);
    ti->command->has_shell = 1;
    ti->command->shell = ex->shell;
    if (ex->env != NULL)
        ti->command->environment = parse_env(ex->env, NULL);
    return ti;
}

/* ---- --task and --task_group ---- */

/* Reads JSON|@file (also file:///path or /path, as mesos-execute takes a
 * path) into a message; agent_id, which the offer fills in, may be left
 * out of each TaskInfo. */
static ProtobufCMessage *parse_json_flag(const char *flag, const char *value, int group,
                                         struct error *err)
{
    const char *path = value[0] == '@' ? value + 1
                       : strncmp(value, "file://", 7) == 0 ? value + 7
                       : value[0] == '/' ? value
                                         : NULL;
    json_error_t je;
    json_t *root = path != NULL ? json_load_file(path, 0, &je) : json_loads(value, 0, &je);
    if (root == NULL || !json_is_object(root)) {
        json_decref(root);
        error_set(err, -EINVAL, "--%s: %s%s%s", flag, path ? path : "",
                  path ? ": " : "", root == NULL ? je.text : "expected a JSON object");
        return NULL;
    }
    json_t *tasks = group ? json_object_get(root, "tasks") : NULL;
    size_t n = group ? json_array_size(tasks) : 1;
    for (size_t i = 0; i < n; i++) {
        json_t *t = group ? json_array_get(tasks, i) : root;
        if (json_is_object(t) && json_object_get(t, "agent_id") == NULL)
            json_object_set_new(t, "agent_id", json_pack("{s:s}", "value", ""));
    }
    ProtobufCMessage *m = wire_json_to_message(
        group ? &tepui__task_group_info__descriptor : &tepui__task_info__descriptor, root, err);
    json_decref(root);
    if (m == NULL)
        error_prefix(err, "--%s", flag);
    else if (group && ((Tepui__TaskGroupInfo *)m)->n_tasks == 0) {
        error_set(err, -EINVAL, "--%s: the task group has no tasks", flag);
        pb_free(m);
        m = NULL;
    }
    return m;
}

/* What the prepared task(s) need of an offer, their executor's included. */
static void prepared_resources(const struct exec *ex, struct resources *out)
{
    struct resources r = RESOURCES_INIT;
    size_t n = ex->task_group ? ex->task_group->n_tasks : 1;
    for (size_t i = 0; i < n; i++) {
        const Tepui__TaskInfo *t = ex->task_group ? ex->task_group->tasks[i] : ex->task_info;
        resources_from_proto(t->resources, t->n_resources, &r, NULL);
        resources_add(out, &r);
        resources_free(&r);
    }
    if (ex->task_group)
        resources_parse(GROUP_EXECUTOR_RESOURCES, NULL, &r, NULL);
    else if (ex->task_info->executor != NULL)
        resources_from_proto(ex->task_info->executor->resources,
                             ex->task_info->executor->n_resources, &r, NULL);
    resources_add(out, &r);
    resources_free(&r);
    resources_set_allocation_role(out, NULL);
}

/* Accepts the offer with the prepared task or group, on its agent. */
static void launch_prepared(struct exec *ex, struct tepui_scheduler *s, const Tepui__Offer *o,
                            const char *role)
{
    Tepui__OfferID *ids[1] = {o->id};
    Tepui__Filters filters = TEPUI__FILTERS__INIT;
    filters.has_refuse_seconds = 1;
    Tepui__Offer__Operation op = TEPUI__OFFER__OPERATION__INIT;
    Tepui__Offer__Operation *ops[1] = {&op};
    op.has_type = 1;
    if (ex->task_info != NULL) {
        Tepui__TaskInfo *t = PB_COPY(Tepui__TaskInfo, ex->task_info);
        pb_free(t->agent_id);
        t->agent_id = PB_COPY(Tepui__AgentID, o->agent_id);
        Tepui__Offer__Operation__Launch launch = TEPUI__OFFER__OPERATION__LAUNCH__INIT;
        launch.task_infos = &t;
        launch.n_task_infos = 1;
        op.type = TEPUI__OFFER__OPERATION__TYPE__LAUNCH;
        op.launch = &launch;
        tepui_scheduler_accept(s, ids, 1, ops, 1, &filters, NULL, NULL);
        if (!ex->quiet)
            printf("Submitted task '%s' to agent '%s'\n", t->name, o->agent_id->value);
        pb_free(t);
    } else {
        Tepui__TaskGroupInfo *g = PB_COPY(Tepui__TaskGroupInfo, ex->task_group);
        for (size_t i = 0; i < g->n_tasks; i++) {
            pb_free(g->tasks[i]->agent_id);
            g->tasks[i]->agent_id = PB_COPY(Tepui__AgentID, o->agent_id);
        }
        Tepui__ExecutorInfo e = TEPUI__EXECUTOR_INFO__INIT;
        Tepui__ExecutorID eid = TEPUI__EXECUTOR_ID__INIT;
        eid.value = GROUP_EXECUTOR_ID;
        e.executor_id = &eid;
        e.has_type = 1;
        e.type = TEPUI__EXECUTOR_INFO__TYPE__DEFAULT;
        struct resources er = RESOURCES_INIT;
        resources_parse(GROUP_EXECUTOR_RESOURCES, NULL, &er, NULL);
        resources_set_allocation_role(&er, role);
        e.resources = resources_to_proto(&er, &e.n_resources);
        resources_free(&er);
        Tepui__Offer__Operation__LaunchGroup lg = TEPUI__OFFER__OPERATION__LAUNCH_GROUP__INIT;
        lg.executor = &e;
        lg.task_group = g;
        op.type = TEPUI__OFFER__OPERATION__TYPE__LAUNCH_GROUP;
        op.launch_group = &lg;
        tepui_scheduler_accept(s, ids, 1, ops, 1, &filters, NULL, NULL);
        if (!ex->quiet) {
            printf("Submitted task group with tasks [ ");
            for (size_t i = 0; i < g->n_tasks; i++)
                printf("%s%s", i ? ", " : "", g->tasks[i]->task_id->value);
            printf(" ] to agent '%s'\n", o->agent_id->value);
        }
        resources_proto_free(e.resources, e.n_resources);
        pb_free(g);
    }
    for (int i = 0; i < ex->instances; i++) {
        ex->tasks[i].launched = 1;
        ex->tasks[i].agent_id = xstrdup(o->agent_id->value);
    }
    ex->n_launched = ex->instances;
}

static void on_offers(struct tepui_scheduler *s, const Tepui__Scheduler__Event__Offers *e, void *arg)
{
    struct exec *ex = arg;
    for (size_t i = 0; i < e->n_offers; i++) {
        const Tepui__Offer *o = e->offers[i];
        struct resources avail = RESOURCES_INIT;
        resources_from_proto(o->resources, o->n_resources, &avail, NULL);
        resources_set_allocation_role(&avail, NULL);
        const char *role = o->allocation_info && o->allocation_info->role ? o->allocation_info->role
                                                                           : "*";
        Tepui__TaskInfo **infos = NULL;
        size_t n = 0;
        if (ex->task_info != NULL || ex->task_group != NULL) {
            /* All at once, on one agent. */
            struct resources need = RESOURCES_INIT;
            prepared_resources(ex, &need);
            int fits = ex->n_launched == 0 && resources_contains(&avail, &need);
            resources_free(&need);
            if (fits) {
                resources_free(&avail);
                launch_prepared(ex, s, o, role);
                continue;
            }
        }
        while (ex->task_info == NULL && ex->task_group == NULL && ex->n_launched < ex->instances &&
               resources_contains(&avail, &ex->resources)) {
            struct exec_task *t = &ex->tasks[ex->n_launched++];
            t->launched = 1;
            t->agent_id = xstrdup(o->agent_id->value);
            infos = xrealloc(infos, (n + 1) * sizeof(*infos));
            infos[n++] = make_task(ex, t, o, role);
            resources_subtract(&avail, &ex->resources);
        }
        resources_free(&avail);
        Tepui__OfferID *ids[1] = {o->id};
        Tepui__Filters filters = TEPUI__FILTERS__INIT;
        filters.has_refuse_seconds = 1;
        if (n == 0) {
            /* Nothing (more) to run here. */
            filters.refuse_seconds = ex->n_launched < ex->instances ? 1 : 3600;
            tepui_scheduler_decline(s, ids, 1, &filters, NULL, NULL);
            continue;
        }
        Tepui__Offer__Operation op = TEPUI__OFFER__OPERATION__INIT;
        Tepui__Offer__Operation__Launch launch = TEPUI__OFFER__OPERATION__LAUNCH__INIT;
        launch.task_infos = infos;
        launch.n_task_infos = n;
        op.has_type = 1;
        op.type = TEPUI__OFFER__OPERATION__TYPE__LAUNCH;
        op.launch = &launch;
        Tepui__Offer__Operation *ops[1] = {&op};
        filters.refuse_seconds = 0;
        tepui_scheduler_accept(s, ids, 1, ops, 1, &filters, NULL, NULL);
        for (size_t k = 0; k < n; k++) {
            if (!ex->quiet)
                printf("Submitted task '%s' to agent '%s'\n", infos[k]->task_id->value,
                       o->agent_id->value);
            pb_free(infos[k]);
        }
        free(infos);
    }
    if (ex->n_launched == ex->instances && !ex->suppressed) {
        ex->suppressed = 1;
        tepui_scheduler_suppress(s, NULL, 0, NULL, NULL);
    }
    fflush(stdout);
}

/* ---- updates ---- */

static void kill_cb(evutil_socket_t fd, short what, void *arg)
{
    struct exec_task *t = arg;
    (void)fd;
    (void)what;
    if (t->done)
        return;
    printf("Killing task '%s' (--kill_after elapsed)\n", t->id);
    fflush(stdout);
    tepui_scheduler_kill(t->ex->sched, t->id, t->agent_id, NULL, NULL, NULL);
}

static struct exec_task *find_task(struct exec *ex, const char *id)
{
    for (int i = 0; i < ex->instances; i++)
        if (strcmp(ex->tasks[i].id, id) == 0)
            return &ex->tasks[i];
    return NULL;
}

static void on_update(struct tepui_scheduler *s, const Tepui__Scheduler__Event__Update *e, void *arg)
{
    struct exec *ex = arg;
    const Tepui__TaskStatus *st = e->status;
    printf("Received status update %s for task '%s'\n", task_state_name(st->state),
           st->task_id->value);
    if (st->message != NULL && st->message[0] != '\0')
        printf("  message: '%s'\n", st->message);
    if (st->has_source)
        printf("  source: %s\n", task_source_name(st->source));
    if (st->has_reason)
        printf("  reason: %s\n", task_reason_name(st->reason));
    fflush(stdout);
    if (st->has_uuid && st->agent_id != NULL)
        tepui_scheduler_acknowledge(s, st->agent_id->value, st->task_id->value, st->uuid.data,
                                    st->uuid.len, NULL, NULL);
    struct exec_task *t = find_task(ex, st->task_id->value);
    if (t == NULL || t->done)
        return;
    t->state = st->state;
    if (st->state == TEPUI__TASK_STATE__TASK_RUNNING && ex->kill_after > 0 && t->kill_timer == NULL) {
        t->kill_timer = evtimer_new(ex->base, kill_cb, t);
        double d = ex->kill_after;
        struct timeval tv = clock_timeval(d);
        evtimer_add(t->kill_timer, &tv);
    }
    if (task_state_is_terminal(st->state)) {
        t->done = 1;
        free(t->message);
        t->message = xstrdup(st->message ? st->message : "");
        if (++ex->n_done == ex->instances)
            finish(ex, 0);
    }
}

static void on_subscribed(struct tepui_scheduler *s, const Tepui__Scheduler__Event__Subscribed *e,
                          void *arg)
{
    struct exec *ex = arg;
    (void)s;
    ex->subscribed = 1;
    if (!ex->quiet)
        printf("Subscribed with ID %s\n", e->framework_id->value);
    fflush(stdout);
}

/* Without a master to talk to, retrying forever would leave the user
 * staring at nothing. */
static void subscribe_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    struct exec *ex = arg;
    (void)fd;
    (void)what;
    if (ex->subscribed)
        return;
    fprintf(stderr, "tepui execute: could not subscribe to the master within %g seconds\n",
            ex->subscribe_timeout);
    finish(ex, 1);
}

static void on_error(struct tepui_scheduler *s, const char *message, void *arg)
{
    (void)s;
    fprintf(stderr, "tepui execute: the master reports an error: %s\n", message);
    finish(arg, 1);
}

static void on_disconnected(struct tepui_scheduler *s, const char *why, void *arg)
{
    struct exec *ex = arg;
    (void)s;
    if (ex->finished)
        return;
    fprintf(stderr, "tepui execute: disconnected from the master: %s (retrying)\n", why);
}

static void on_failure(struct tepui_scheduler *s, const Tepui__Scheduler__Event__Failure *e,
                       void *arg)
{
    (void)s;
    (void)arg;
    if (e->agent_id != NULL && e->executor_id == NULL)
        printf("Agent '%s' was lost\n", e->agent_id->value);
    fflush(stdout);
}

/* ---- output ---- */

/* Finds the sandbox of a task through the master's and the agent's /state:
 * its executor's (a command task's executor has the task's id), or below it
 * for a task of a group. */
static char *find_sandbox(struct exec *ex, struct exec_task *t, char *agent_host, size_t n,
                          int *agent_port)
{
    if (ex->master_port == 0 &&
        cli_split_hostport(tepui_scheduler_leader(ex->sched), 5050, ex->master_host,
                           sizeof(ex->master_host), &ex->master_port) != 0)
        return NULL;
    json_t *ms = cli_get_json(ex->master_host, ex->master_port, "/state");
    if (ms == NULL)
        return NULL;
    const char *pid = NULL;
    size_t i;
    json_t *slave;
    json_array_foreach(json_object_get(ms, "slaves"), i, slave) {
        if (strcmp(json_string_value(json_object_get(slave, "id")), t->agent_id) == 0)
            pid = json_string_value(json_object_get(slave, "pid"));
    }
    char *dir = NULL;
    const char *at = pid ? strchr(pid, '@') : NULL;
    if (at != NULL && cli_split_hostport(at + 1, 5051, agent_host, n, agent_port) == 0) {
        json_t *as = cli_get_json(agent_host, *agent_port, "/state");
        const char *kinds[] = {"frameworks", "completed_frameworks"};
        for (int k = 0; as != NULL && k < 2 && dir == NULL; k++) {
            size_t fi;
            json_t *fw;
            json_array_foreach(json_object_get(as, kinds[k]), fi, fw) {
                const char *lists[] = {"executors", "completed_executors"};
                for (int l = 0; l < 2 && dir == NULL; l++) {
                    size_t ei;
                    json_t *e;
                    json_array_foreach(json_object_get(fw, lists[l]), ei, e) {
                        const char *id = json_string_value(json_object_get(e, "id"));
                        const char *want = t->executor_id ? t->executor_id : t->id;
                        if (dir == NULL && id != NULL && strcmp(id, want) == 0)
                            dir = t->in_group
                                      ? xasprintf("%s/tasks/%s", json_string_value(json_object_get(
                                                                     e, "directory")),
                                                  t->id)
                                      : xstrdup(json_string_value(json_object_get(e, "directory")));
                    }
                }
            }
        }
        json_decref(as);
    }
    json_decref(ms);
    return dir;
}

static void print_file(const char *host, int port, const char *dir, const char *file,
                       const char *task_id)
{
    long long offset = 0;
    int printed_header = 0;
    for (;;) {
        char *path = xasprintf("%s/%s", dir, file);
        struct buf query = BUF_INIT;
        buf_append_str(&query, "/files/read?path=");
        for (const char *p = path; *p; p++) {
            if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                strchr("/-_.~", *p) != NULL)
                buf_append_char(&query, *p);
            else
                buf_printf(&query, "%%%02X", (unsigned char)*p);
        }
        buf_printf(&query, "&offset=%lld&length=65536", offset);
        free(path);
        json_t *r = cli_get_json(host, port, buf_cstr(&query));
        buf_free(&query);
        if (r == NULL)
            return;
        const char *data = json_string_value(json_object_get(r, "data"));
        size_t len = data ? strlen(data) : 0;
        if (len > 0) {
            if (!printed_header) {
                printf("---- %s of task '%s' ----\n", file, task_id);
                printed_header = 1;
            }
            fwrite(data, 1, len, stdout);
        }
        json_decref(r);
        if (len < 65536)
            break;
        offset += (long long)len;
    }
    fflush(stdout);
}

static int exit_status_of(const struct exec_task *t)
{
    if (t->state == TEPUI__TASK_STATE__TASK_FINISHED)
        return 0;
    int code = 0;
    const char *p = t->message ? strstr(t->message, "exited with status ") : NULL;
    if (p != NULL && sscanf(p, "exited with status %d", &code) == 1 && code != 0)
        return code;
    return 1;
}

int cli_execute(int argc, char **argv)
{
    struct exec ex = {0};
    char *master = NULL, *content_type = NULL, *capabilities = NULL;
    char *task_flag = NULL, *task_group_flag = NULL;
    int framework_checkpoint = 1;
    struct flag_def defs[] = {
        {"master", FLAG_STRING, &master, NULL,
         "The master: HOST:PORT, or zk://host:port[,host:port...]/path (required)"},
        {"name", FLAG_STRING, &ex.name, NULL, "Name of the task (required without --task[_group])"},
        {"command", FLAG_STRING, &ex.command, NULL,
         "Command to run (required without --task[_group])"},
        {"task", FLAG_STRING, &task_flag, NULL,
         "A TaskInfo to run, as JSON or @FILE (agent_id and the agent are filled in; it may "
         "name an ExecutorInfo)"},
        {"task_group", FLAG_STRING, &task_group_flag, NULL,
         "A TaskGroupInfo to run on the default executor, as JSON or @FILE (the executor, "
         "'" GROUP_EXECUTOR_ID "' with " GROUP_EXECUTOR_RESOURCES ", is added)"},
        {"shell", FLAG_BOOL, &ex.shell, "true", "Run the command with /bin/sh -c"},
        {"env", FLAG_STRING, &ex.env, NULL, "Environment of the task as a JSON object"},
        {"resources", FLAG_STRING, &ex.resources_text, "cpus:1;mem:128",
         "Resources of each task"},
        {"role", FLAG_STRING, &ex.role, "*", "Role the framework subscribes with"},
        {"instances", FLAG_INT, &ex.instances, "1", "How many copies of the task to run"},
        {"kill_after", FLAG_DURATION, &ex.kill_after, "0secs",
         "Kill each task this long after it starts running (0: never)"},
        {"checkpoint", FLAG_BOOL, &framework_checkpoint, "true",
         "Whether the framework checkpoints (its tasks survive agent restarts)"},
        {"partition_aware", FLAG_BOOL, &ex.partition_aware, "true",
         "Whether the framework is PARTITION_AWARE"},
        {"framework_capabilities", FLAG_STRING, &capabilities, NULL,
         "Extra capabilities, comma-separated (e.g. TASK_KILLING_STATE)"},
        {"content_type", FLAG_STRING, &content_type, "protobuf",
         "Encoding spoken to the master: protobuf or json"},
        {"quiet", FLAG_BOOL, &ex.quiet, "false", "Print only status updates and output"},
        {"subscribe_timeout", FLAG_DURATION, &ex.subscribe_timeout, "30secs",
         "Give up when the master does not accept the framework within this long"},
    };
    struct flag_set fs = {.program = "tepui execute",
                          .summary = "Runs a command as a task on a cluster and prints its output.",
                          .defs = defs, .n = sizeof(defs) / sizeof(defs[0])};
    struct error err = {0};
    int rc = flags_parse(&fs, argc, argv, NULL, NULL, &err);
    if (rc != 0) {
        if (rc < 0)
            fprintf(stderr, "tepui execute: %s\n", err.msg);
        flags_free(&fs);
        return rc < 0 ? 2 : 0;
    }
    ex.checkpoint = framework_checkpoint;
    /* The library's own progress lines would drown the task's. */
    log_set_level(LOG_LEVEL_WARN);
    if (task_flag != NULL || task_group_flag != NULL) {
        const char *bad = task_flag && task_group_flag ? "--task and --task_group together"
                          : ex.name     ? "--name"
                          : ex.command  ? "--command"
                          : ex.env      ? "--env"
                          : ex.instances != 1 ? "--instances"
                                              : NULL;
        if (bad != NULL) {
            fprintf(stderr, "tepui execute: %s cannot be used with --task or --task_group\n",
                    bad);
            flags_free(&fs);
            return 2;
        }
    } else if (master == NULL || ex.name == NULL || ex.command == NULL) {
        fprintf(stderr, "tepui execute: --master, --name and --command (or --task or "
                        "--task_group) are required (see --help)\n");
        flags_free(&fs);
        return 2;
    }
    if (master == NULL) {
        fprintf(stderr, "tepui execute: --master is required (see --help)\n");
        flags_free(&fs);
        return 2;
    }
    if (ex.instances < 1) {
        fprintf(stderr, "tepui execute: --instances must be at least 1\n");
        flags_free(&fs);
        return 2;
    }
    /* A zk:// master is found by libtepui; its address is known once subscribed. */
    if (!zk_url_is(master) &&
        cli_split_hostport(master, 5050, ex.master_host, sizeof(ex.master_host), &ex.master_port) != 0) {
        fprintf(stderr, "tepui execute: bad --master '%s'\n", master);
        flags_free(&fs);
        return 2;
    }
    resources_init(&ex.resources);
    if (resources_parse(ex.resources_text, NULL, &ex.resources, &err) != 0) {
        fprintf(stderr, "tepui execute: --resources: %s\n", err.msg);
        flags_free(&fs);
        return 2;
    }
    if (ex.env != NULL) {
        Tepui__Environment *probe = parse_env(ex.env, &err);
        if (probe == NULL) {
            fprintf(stderr, "tepui execute: %s\n", err.msg);
            resources_free(&ex.resources);
            flags_free(&fs);
            return 2;
        }
        pb_free(probe);
    }
    if (task_flag != NULL || task_group_flag != NULL) {
        ProtobufCMessage *m = parse_json_flag(task_flag ? "task" : "task_group",
                                              task_flag ? task_flag : task_group_flag,
                                              task_group_flag != NULL, &err);
        if (m == NULL) {
            fprintf(stderr, "tepui execute: %s\n", err.msg);
            resources_free(&ex.resources);
            flags_free(&fs);
            return 2;
        }
        if (task_flag != NULL)
            ex.task_info = (Tepui__TaskInfo *)m;
        else
            ex.task_group = (Tepui__TaskGroupInfo *)m;
        ex.instances = ex.task_group ? (int)ex.task_group->n_tasks : 1;
    }
    ex.tasks = xcalloc((size_t)ex.instances, sizeof(*ex.tasks));
    for (int i = 0; i < ex.instances; i++) {
        struct exec_task *t = &ex.tasks[i];
        t->ex = &ex;
        if (ex.task_group != NULL) {
            t->id = xstrdup(ex.task_group->tasks[i]->task_id->value);
            t->executor_id = xstrdup(GROUP_EXECUTOR_ID);
            t->in_group = 1;
        } else if (ex.task_info != NULL) {
            t->id = xstrdup(ex.task_info->task_id->value);
            if (ex.task_info->executor != NULL)
                t->executor_id = xstrdup(ex.task_info->executor->executor_id->value);
        } else {
            t->id = ex.instances == 1 ? xstrdup(ex.name) : xasprintf("%s-%d", ex.name, i);
        }
    }

    /* The framework. */
    Tepui__FrameworkInfo fi = TEPUI__FRAMEWORK_INFO__INIT;
    struct passwd *pw = getpwuid(getuid());
    fi.user = pw ? pw->pw_name : "root";
    char fname[512];
    snprintf(fname, sizeof(fname), "tepui-execute instance: %s",
             ex.task_group ? "task group" : ex.task_info ? ex.task_info->name : ex.name);
    fi.name = fname;
    fi.role = ex.role;
    fi.has_checkpoint = 1;
    fi.checkpoint = ex.checkpoint;
    Tepui__FrameworkInfo__Capability caps[8];
    Tepui__FrameworkInfo__Capability *capp[8];
    size_t n_caps = 0;
    if (ex.partition_aware) {
        tepui__framework_info__capability__init(&caps[n_caps]);
        caps[n_caps].has_type = 1;
        caps[n_caps].type = TEPUI__FRAMEWORK_INFO__CAPABILITY__TYPE__PARTITION_AWARE;
        capp[n_caps] = &caps[n_caps];
        n_caps++;
    }
    if (capabilities != NULL) {
        char *copy = xstrdup(capabilities), *save = NULL;
        for (char *c = strtok_r(copy, ",", &save); c && n_caps < 8; c = strtok_r(NULL, ",", &save)) {
            const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value_by_name(
                &tepui__framework_info__capability__type__descriptor, c);
            if (v == NULL) {
                fprintf(stderr, "tepui execute: unknown capability '%s'\n", c);
                free(copy);
                for (int i = 0; i < ex.instances; i++) {
                    free(ex.tasks[i].id);
                    free(ex.tasks[i].executor_id);
                }
                free(ex.tasks);
                pb_free(ex.task_info);
                pb_free(ex.task_group);
                resources_free(&ex.resources);
                flags_free(&fs);
                return 2;
            }
            tepui__framework_info__capability__init(&caps[n_caps]);
            caps[n_caps].has_type = 1;
            caps[n_caps].type = v->value;
            capp[n_caps] = &caps[n_caps];
            n_caps++;
        }
        free(copy);
    }
    fi.capabilities = capp;
    fi.n_capabilities = n_caps;

    struct tepui_scheduler_options so = {
        .master = master,
        .format = strcmp(content_type, "json") == 0 ? TEPUI_FORMAT_JSON : TEPUI_FORMAT_PROTOBUF,
        .auto_reconnect = 1,
    };
    struct tepui_scheduler_callbacks cb = {
        .subscribed = on_subscribed,
        .offers = on_offers,
        .update = on_update,
        .error = on_error,
        .disconnected = on_disconnected,
        .failure = on_failure,
    };
    ex.base = event_base_new();
    ex.sched = tepui_scheduler_new(ex.base, &fi, &so, &cb, &ex);
    if (ex.sched == NULL || tepui_scheduler_start(ex.sched) != 0) {
        fprintf(stderr, "tepui execute: cannot reach the master at %s\n", master);
        ex.exit_code = 1;
    } else {
        ex.subscribe_timer = evtimer_new(ex.base, subscribe_timeout_cb, &ex);
        struct timeval stv = clock_timeval(ex.subscribe_timeout);
        evtimer_add(ex.subscribe_timer, &stv);
        event_base_dispatch(ex.base);
    }

    if (ex.exit_code == 0) {
        /* Each task's output, then the exit status of the worst one. */
        for (int i = 0; i < ex.instances; i++) {
            struct exec_task *t = &ex.tasks[i];
            if (!t->launched)
                continue;
            char host[256];
            int port = 0;
            char *dir = find_sandbox(&ex, t, host, sizeof(host), &port);
            if (dir == NULL) {
                fprintf(stderr, "tepui execute: cannot find the sandbox of task '%s'\n", t->id);
                continue;
            }
            print_file(host, port, dir, "stdout", t->id);
            print_file(host, port, dir, "stderr", t->id);
            free(dir);
        }
        for (int i = 0; i < ex.instances; i++) {
            int code = exit_status_of(&ex.tasks[i]);
            if (code > ex.exit_code)
                ex.exit_code = code;
        }
    }
    if (ex.sched != NULL) {
        /* The framework goes away with us. */
        if (tepui_scheduler_is_subscribed(ex.sched))
            tepui_scheduler_teardown(ex.sched, NULL, NULL);
        struct timeval tv = {0, 300 * 1000};
        event_base_loopexit(ex.base, &tv);
        event_base_dispatch(ex.base);
        tepui_scheduler_free(ex.sched);
        /* Its connections are released on the loop's next turn. */
        event_base_loop(ex.base, EVLOOP_NONBLOCK);
    }
    for (int i = 0; i < ex.instances; i++) {
        if (ex.tasks[i].kill_timer)
            event_free(ex.tasks[i].kill_timer);
        free(ex.tasks[i].id);
        free(ex.tasks[i].executor_id);
        free(ex.tasks[i].agent_id);
        free(ex.tasks[i].message);
    }
    free(ex.tasks);
    pb_free(ex.task_info);
    pb_free(ex.task_group);
    if (ex.subscribe_timer != NULL)
        event_free(ex.subscribe_timer);
    event_base_free(ex.base);
    resources_free(&ex.resources);
    flags_free(&fs);
    return ex.exit_code;
}
