/* The master's classic read-only endpoints with Mesos's JSON shapes:
 * /health, /version, /flags, /state, /redirect and /metrics/snapshot (each
 * also under /master/). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "master/election.h"
#include "master/master.h"
#include "wire/json.h"

#define LOG_COMPONENT "master"

/* Protobuf messages inside /state keep the codec's JSON mapping. */
static json_t *pb_json(const void *msg)
{
    return wire_json_from_message((const ProtobufCMessage *)msg);
}

static json_t *attributes_json(Tepui__Attribute **v, size_t n)
{
    json_t *o = json_object();
    for (size_t i = 0; i < n; i++) {
        const Tepui__Attribute *a = v[i];
        json_t *val = NULL;
        if (a->scalar != NULL) {
            val = json_real(a->scalar->value);
        } else if (a->ranges != NULL) {
            struct buf b = BUF_INIT;
            buf_append_char(&b, '[');
            for (size_t k = 0; k < a->ranges->n_range; k++)
                buf_printf(&b, "%s%llu-%llu", k ? ", " : "",
                           (unsigned long long)a->ranges->range[k]->begin,
                           (unsigned long long)a->ranges->range[k]->end);
            buf_append_char(&b, ']');
            val = json_string(buf_cstr(&b));
            buf_free(&b);
        } else if (a->set != NULL) {
            struct buf b = BUF_INIT;
            buf_append_char(&b, '{');
            /* Mesos stringifies a set as "{a, b}". */
            for (size_t k = 0; k < a->set->n_item; k++)
                buf_printf(&b, "%s%s", k ? ", " : "", a->set->item[k]);
            buf_append_char(&b, '}');
            val = json_string(buf_cstr(&b));
            buf_free(&b);
        } else if (a->text != NULL) {
            val = json_string(a->text->value);
        }
        if (val != NULL)
            json_object_set_new(o, a->name, val);
    }
    return o;
}

static json_t *task_json(const Tepui__Task *t, const char *role)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(t->task_id->value));
    json_object_set_new(o, "name", json_string(t->name));
    json_object_set_new(o, "framework_id", json_string(t->framework_id->value));
    json_object_set_new(o, "executor_id", json_string(t->executor_id ? t->executor_id->value : ""));
    json_object_set_new(o, "slave_id", json_string(t->agent_id->value));
    json_object_set_new(o, "state", json_string(task_state_name(t->state)));
    struct resources r = RESOURCES_INIT;
    resources_from_proto(t->resources, t->n_resources, &r, NULL);
    json_object_set_new(o, "resources", resources_to_state_json(&r));
    if (role == NULL && r.n > 0)
        role = r.v[0].allocation_role;
    if (role != NULL)
        json_object_set_new(o, "role", json_string(role));
    /* role may point into r. */
    resources_free(&r);
    json_t *statuses = json_array();
    for (size_t i = 0; i < t->n_statuses; i++) {
        const Tepui__TaskStatus *s = t->statuses[i];
        json_t *so = json_object();
        json_object_set_new(so, "state", json_string(task_state_name(s->state)));
        json_object_set_new(so, "timestamp", json_real(s->has_timestamp ? s->timestamp : 0));
        if (s->has_healthy)
            json_object_set_new(so, "healthy", json_boolean(s->healthy));
        if (s->labels != NULL)
            json_object_set_new(so, "labels", pb_json(s->labels));
        if (s->container_status != NULL)
            json_object_set_new(so, "container_status", pb_json(s->container_status));
        json_array_append_new(statuses, so);
    }
    json_object_set_new(o, "statuses", statuses);
    if (t->labels != NULL) {
        /* /state shows labels as the bare array of {key, value}. */
        json_t *lj = pb_json(t->labels);
        json_t *arr = json_object_get(lj, "labels");
        json_object_set_new(o, "labels", arr ? json_incref(arr) : json_array());
        json_decref(lj);
    }
    if (t->discovery != NULL)
        json_object_set_new(o, "discovery", pb_json(t->discovery));
    if (t->container != NULL)
        json_object_set_new(o, "container", pb_json(t->container));
    if (t->health_check != NULL)
        json_object_set_new(o, "health_check", pb_json(t->health_check));
    if (t->kill_policy != NULL)
        json_object_set_new(o, "kill_policy", pb_json(t->kill_policy));
    if (t->user != NULL && t->user[0] != '\0')
        json_object_set_new(o, "user", json_string(t->user));
    return o;
}

static json_t *capabilities_json(const Tepui__FrameworkInfo *fi)
{
    json_t *a = json_array();
    for (size_t i = 0; i < fi->n_capabilities; i++) {
        if (!fi->capabilities[i]->has_type)
            continue;
        const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
            &tepui__framework_info__capability__type__descriptor, fi->capabilities[i]->type);
        if (v != NULL)
            json_array_append_new(a, json_string(v->name));
    }
    return a;
}

static json_t *framework_json(const struct framework *f, int completed)
{
    const Tepui__FrameworkInfo *fi = f->info;
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(f->id));
    json_object_set_new(o, "name", json_string(fi->name));
    json_object_set_new(o, "pid", json_string(""));
    json_object_set_new(o, "used_resources", resources_to_state_json(&f->used));
    json_object_set_new(o, "offered_resources", resources_to_state_json(&f->offered));
    json_object_set_new(o, "capabilities", capabilities_json(fi));
    json_object_set_new(o, "hostname", json_string(fi->hostname ? fi->hostname : ""));
    json_object_set_new(o, "webui_url", json_string(fi->webui_url ? fi->webui_url : ""));
    json_object_set_new(o, "active", json_boolean(f->active));
    json_object_set_new(o, "connected", json_boolean(f->connected));
    json_object_set_new(o, "recovered", json_boolean(f->recovered));
    json_object_set_new(o, "user", json_string(fi->user));
    json_object_set_new(o, "failover_timeout",
                        json_real(fi->has_failover_timeout ? fi->failover_timeout : 0));
    json_object_set_new(o, "checkpoint", json_boolean(fi->has_checkpoint && fi->checkpoint));
    json_object_set_new(o, "role", json_string(f->n_roles ? f->roles[0] : "*"));
    json_t *roles = json_array();
    for (size_t i = 0; i < f->n_roles; i++)
        json_array_append_new(roles, json_string(f->roles[i]));
    json_object_set_new(o, "roles", roles);
    json_object_set_new(o, "registered_time", json_real(f->registered_time));
    json_object_set_new(o, "unregistered_time", json_real(f->unregistered_time));
    if (f->reregistered_time > 0)
        json_object_set_new(o, "reregistered_time", json_real(f->reregistered_time));
    if (fi->principal != NULL)
        json_object_set_new(o, "principal", json_string(fi->principal));
    struct resources total = RESOURCES_INIT;
    resources_copy(&total, &f->used);
    resources_add(&total, &f->offered);
    json_object_set_new(o, "resources", resources_to_state_json(&total));
    resources_free(&total);

    json_t *tasks = json_array();
    if (!completed) {
        struct task *t, *tmp;
        HASH_ITER(hh, f->tasks, t, tmp) {
            json_array_append_new(tasks, task_json(t->info, t->role));
        }
    }
    json_object_set_new(o, "tasks", tasks);
    /* Tasks of a removed agent that went UNREACHABLE (partition-aware
     * frameworks) are kept with the completed ones but, as in Mesos, listed
     * apart: they may come back. */
    json_t *unreachable = json_array();
    json_t *done = json_array();
    for (size_t i = 0; i < f->completed.n; i++) {
        const Tepui__Task *ct = f->completed.v[i];
        json_array_append_new(ct->state == TEPUI__TASK_STATE__TASK_UNREACHABLE ? unreachable : done,
                              task_json(ct, NULL));
    }
    json_object_set_new(o, "unreachable_tasks", unreachable);
    json_object_set_new(o, "completed_tasks", done);
    json_t *offers = json_array();
    const struct offer *of;
    TAILQ_FOREACH(of, &f->offers, framework_link) {
        json_t *oo = json_object();
        json_object_set_new(oo, "id", json_string(of->id));
        json_object_set_new(oo, "framework_id", json_string(f->id));
        json_object_set_new(oo, "slave_id", json_string(of->agent->id));
        json_object_set_new(oo, "resources", resources_to_state_json(&of->resources));
        json_t *ai = json_object();
        json_object_set_new(ai, "role", json_string(of->role));
        json_object_set_new(oo, "allocation_info", ai);
        json_array_append_new(offers, oo);
    }
    json_object_set_new(o, "offers", offers);
    json_object_set_new(o, "executors", json_array());
    return o;
}

static json_t *agent_json(const struct agent *a)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(a->id));
    json_object_set_new(o, "pid", json_string(a->pid ? a->pid : ""));
    json_object_set_new(o, "hostname", json_string(a->info->hostname));
    json_object_set_new(o, "port", json_integer(a->info->has_port ? a->info->port : 5051));
    json_object_set_new(o, "registered_time", json_real(a->registered_time));
    if (a->reregistered_time > 0)
        json_object_set_new(o, "reregistered_time", json_real(a->reregistered_time));
    json_object_set_new(o, "resources", resources_to_state_json(&a->total));
    json_object_set_new(o, "used_resources", resources_to_state_json(&a->used));
    json_object_set_new(o, "offered_resources", resources_to_state_json(&a->offered));
    struct resources unreserved = RESOURCES_INIT;
    resources_unreserved(&a->total, &unreserved);
    json_object_set_new(o, "unreserved_resources", resources_to_state_json(&unreserved));
    resources_free(&unreserved);
    json_t *reserved = json_object();
    for (size_t i = 0; i < a->total.n; i++) {
        const char *role = a->total.v[i].reservation_role;
        if (role == NULL || json_object_get(reserved, role) != NULL)
            continue;
        struct resources r = RESOURCES_INIT;
        resources_reserved_to(&a->total, role, &r);
        json_object_set_new(reserved, role, resources_to_state_json(&r));
        resources_free(&r);
    }
    json_object_set_new(o, "reserved_resources", reserved);
    json_object_set_new(o, "attributes", attributes_json(a->info->attributes, a->info->n_attributes));
    json_object_set_new(o, "active", json_boolean(a->active));
    json_object_set_new(o, "deactivated", json_boolean(!a->active));
    json_object_set_new(o, "version", json_string(a->version ? a->version : ""));
    json_object_set_new(o, "capabilities", json_array());
    return o;
}

static void state_handler(struct http_request *req, void *arg)
{
    struct master *m = arg;
    if (!http_require_get(req))
        return;
    /* As Mesos: only the leader answers /state. */
    if (master_redirect_unless_leading(m, req))
        return;
    json_t *o = json_object();
    json_object_set_new(o, "version", json_string(TEPUI_VERSION));
    json_object_set_new(o, "git_sha", json_string(TEPUI_GIT_SHA));
    json_object_set_new(o, "build_date", json_string(__DATE__));
    json_object_set_new(o, "build_time", json_real(0));
    json_object_set_new(o, "build_user", json_string(""));
    json_object_set_new(o, "start_time", json_real(m->start_time));
    json_object_set_new(o, "elected_time", json_real(m->elected_time));
    json_object_set_new(o, "id", json_string(m->id));
    json_object_set_new(o, "pid", json_string(m->pid));
    json_object_set_new(o, "hostname", json_string(m->hostname));
    if (m->flags.cluster != NULL)
        json_object_set_new(o, "cluster", json_string(m->flags.cluster));
    size_t active = 0, inactive = 0;
    json_t *slaves = json_array();
    struct agent *a, *atmp;
    HASH_ITER(hh, m->agents, a, atmp) {
        if (a->active)
            active++;
        else
            inactive++;
        json_array_append_new(slaves, agent_json(a));
    }
    json_object_set_new(o, "activated_slaves", json_integer((json_int_t)active));
    json_object_set_new(o, "deactivated_slaves", json_integer((json_int_t)inactive));
    json_object_set_new(o, "unreachable_slaves", json_integer((json_int_t)HASH_COUNT(m->unreachable)));
    json_object_set_new(o, "leader", json_string(m->pid));
    json_object_set_new(o, "leader_info", pb_json(m->info));
    json_object_set_new(o, "flags", flags_to_json(m->flag_set));
    json_object_set_new(o, "slaves", slaves);
    /* Agents the registry lists that have not re-registered since the
     * failover (Mesos shows their SlaveInfo). */
    json_t *recovered = json_array();
    struct recovered_agent *r, *rtmp;
    HASH_ITER(hh, m->recovered, r, rtmp) {
        json_array_append_new(recovered, r->info != NULL ? pb_json(r->info) : json_object());
    }
    json_object_set_new(o, "recovered_slaves", recovered);
    json_t *fws = json_array();
    struct framework *f, *ftmp;
    HASH_ITER(hh, m->frameworks, f, ftmp) {
        json_array_append_new(fws, framework_json(f, 0));
    }
    json_object_set_new(o, "frameworks", fws);
    json_t *done = json_array();
    for (size_t i = 0; i < m->n_completed_frameworks; i++)
        json_array_append_new(done, framework_json(m->completed_frameworks[i], 1));
    json_object_set_new(o, "completed_frameworks", done);
    json_object_set_new(o, "orphan_tasks", json_array());
    json_object_set_new(o, "unregistered_frameworks", json_array());
    http_respond_json(req, 200, o);
}

static void health_handler(struct http_request *req, void *arg)
{
    (void)arg;
    if (!http_require_get(req))
        return;
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
    json_object_set_new(o, "build_time", json_real(0));
    json_object_set_new(o, "build_user", json_string(""));
    http_respond_json(req, 200, o);
}

static void flags_handler(struct http_request *req, void *arg)
{
    struct master *m = arg;
    if (!http_require_get(req))
        return;
    json_t *o = json_object();
    json_object_set_new(o, "flags", flags_to_json(m->flag_set));
    http_respond_json(req, 200, o);
}

static void redirect_handler(struct http_request *req, void *arg)
{
    master_redirect_to_leader(arg, req);
}

static void add_resource_metrics(json_t *o, const char *name, const struct master *m)
{
    int64_t total = 0, used = 0;
    const struct agent *a, *atmp;
    HASH_ITER(hh, m->agents, a, atmp) {
        total += resources_scalar(&a->total, name);
        used += resources_scalar(&a->used, name);
    }
    char key[96];
    double t = resources_scalar_to_double(total), u = resources_scalar_to_double(used);
    snprintf(key, sizeof(key), "master/%s_total", name);
    json_object_set_new(o, key, json_real(t));
    snprintf(key, sizeof(key), "master/%s_used", name);
    json_object_set_new(o, key, json_real(u));
    snprintf(key, sizeof(key), "master/%s_percent", name);
    json_object_set_new(o, key, json_real(t > 0 ? u / t : 0));
}

static void metrics_handler(struct http_request *req, void *arg)
{
    struct master *m = arg;
    if (!http_require_get(req))
        return;
    json_t *o = json_object();
    const struct master_metrics *mm = &m->metrics;
    json_object_set_new(o, "master/uptime_secs", json_real(clock_wall() - m->start_time));
    json_object_set_new(o, "master/elected",
                        json_real(m->election == NULL || m->leading ? 1 : 0));

    size_t agents_active = 0, agents_connected = 0, n_agents = 0;
    struct agent *a, *atmp;
    HASH_ITER(hh, m->agents, a, atmp) {
        n_agents++;
        agents_active += a->active;
        agents_connected += a->connected;
    }
    json_object_set_new(o, "master/slaves_active", json_real((double)agents_active));
    json_object_set_new(o, "master/slaves_inactive", json_real((double)(n_agents - agents_active)));
    json_object_set_new(o, "master/slaves_connected", json_real((double)agents_connected));
    json_object_set_new(o, "master/slaves_disconnected",
                        json_real((double)(n_agents - agents_connected)));
    json_object_set_new(o, "master/slaves_unreachable",
                        json_real((double)HASH_COUNT(m->unreachable)));
    json_object_set_new(o, "master/slave_registrations", json_real((double)mm->agent_registrations));
    json_object_set_new(o, "master/slave_reregistrations",
                        json_real((double)mm->agent_reregistrations));
    json_object_set_new(o, "master/slave_removals", json_real((double)mm->agent_removals));
    json_object_set_new(o, "master/slave_unreachable_completed",
                        json_real((double)mm->agent_removals_unhealthy));

    size_t fw_active = 0, fw_connected = 0, n_fw = 0;
    size_t by_state[16] = {0};
    struct framework *f, *ftmp;
    HASH_ITER(hh, m->frameworks, f, ftmp) {
        n_fw++;
        fw_active += f->active;
        fw_connected += f->connected;
        struct task *t, *ttmp;
        HASH_ITER(hh, f->tasks, t, ttmp) {
            if ((unsigned)t->info->state < 16)
                by_state[t->info->state]++;
        }
        /* Unreachable tasks live among the completed ones. */
        for (size_t i = 0; i < f->completed.n; i++)
            if (f->completed.v[i]->state == TEPUI__TASK_STATE__TASK_UNREACHABLE)
                by_state[TEPUI__TASK_STATE__TASK_UNREACHABLE]++;
    }
    json_object_set_new(o, "master/frameworks_active", json_real((double)fw_active));
    json_object_set_new(o, "master/frameworks_inactive", json_real((double)(n_fw - fw_active)));
    json_object_set_new(o, "master/frameworks_connected", json_real((double)fw_connected));
    json_object_set_new(o, "master/frameworks_disconnected",
                        json_real((double)(n_fw - fw_connected)));
    json_object_set_new(o, "master/outstanding_offers", json_real((double)HASH_COUNT(m->offers)));

    /* Gauges of live tasks, counters of terminal transitions, by state. */
    static const struct { const char *key; task_state_t s; int gauge; } states[] = {
        {"master/tasks_staging", TEPUI__TASK_STATE__TASK_STAGING, 1},
        {"master/tasks_starting", TEPUI__TASK_STATE__TASK_STARTING, 1},
        {"master/tasks_running", TEPUI__TASK_STATE__TASK_RUNNING, 1},
        {"master/tasks_killing", TEPUI__TASK_STATE__TASK_KILLING, 1},
        {"master/tasks_unreachable", TEPUI__TASK_STATE__TASK_UNREACHABLE, 1},
        {"master/tasks_finished", TEPUI__TASK_STATE__TASK_FINISHED, 0},
        {"master/tasks_failed", TEPUI__TASK_STATE__TASK_FAILED, 0},
        {"master/tasks_killed", TEPUI__TASK_STATE__TASK_KILLED, 0},
        {"master/tasks_lost", TEPUI__TASK_STATE__TASK_LOST, 0},
        {"master/tasks_error", TEPUI__TASK_STATE__TASK_ERROR, 0},
        {"master/tasks_dropped", TEPUI__TASK_STATE__TASK_DROPPED, 0},
        {"master/tasks_gone", TEPUI__TASK_STATE__TASK_GONE, 0},
        {"master/tasks_gone_by_operator", TEPUI__TASK_STATE__TASK_GONE_BY_OPERATOR, 0},
    };
    for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
        double v = states[i].gauge ? (double)by_state[states[i].s]
                                   : (double)mm->tasks_by_state[states[i].s];
        json_object_set_new(o, states[i].key, json_real(v));
    }
    json_object_set_new(o, "master/valid_status_updates", json_real((double)mm->valid_status_updates));
    json_object_set_new(o, "master/invalid_status_updates",
                        json_real((double)mm->invalid_status_updates));
    json_object_set_new(o, "master/valid_framework_to_executor_messages",
                        json_real((double)mm->valid_framework_to_executor_messages));
    json_object_set_new(o, "master/invalid_framework_to_executor_messages",
                        json_real((double)mm->invalid_framework_to_executor_messages));
    json_object_set_new(o, "master/valid_executor_to_framework_messages",
                        json_real((double)mm->valid_executor_to_framework_messages));
    json_object_set_new(o, "master/invalid_executor_to_framework_messages",
                        json_real((double)mm->invalid_executor_to_framework_messages));
    json_object_set_new(o, "master/messages_scheduler_calls",
                        json_real((double)mm->messages_scheduler_calls));
    json_object_set_new(o, "master/dropped_messages", json_real((double)mm->dropped_messages));
    json_object_set_new(o, "master/frameworks_removed", json_real((double)mm->frameworks_removed));
    json_object_set_new(o, "master/offers_sent", json_real((double)mm->offers_sent));
    json_object_set_new(o, "master/offers_declined", json_real((double)mm->offers_declined));
    json_object_set_new(o, "master/offers_accepted", json_real((double)mm->offers_accepted));
    json_object_set_new(o, "master/offers_rescinded", json_real((double)mm->offers_rescinded));
    add_resource_metrics(o, "cpus", m);
    add_resource_metrics(o, "mem", m);
    add_resource_metrics(o, "disk", m);
    add_resource_metrics(o, "gpus", m);

    const struct allocator_metrics *am = allocator_get_metrics(m->allocator);
    json_object_set_new(o, "allocator/mesos/allocation_runs", json_real((double)am->allocation_runs));
    json_object_set_new(o, "allocator/mesos/allocation_run_ms", json_real(am->last_run_ms));

    struct sysinfo si;
    if (sysinfo(&si) == 0) {
        json_object_set_new(o, "system/cpus_total", json_real((double)sysconf(_SC_NPROCESSORS_ONLN)));
        json_object_set_new(o, "system/mem_total_bytes",
                            json_real((double)si.totalram * si.mem_unit));
        json_object_set_new(o, "system/mem_free_bytes", json_real((double)si.freeram * si.mem_unit));
        json_object_set_new(o, "system/load_1min", json_real(si.loads[0] / 65536.0));
        json_object_set_new(o, "system/load_5min", json_real(si.loads[1] / 65536.0));
        json_object_set_new(o, "system/load_15min", json_real(si.loads[2] / 65536.0));
    }
    http_respond_json(req, 200, o);
}

void state_routes(struct master *m)
{
    static const struct { const char *path; http_handler_fn fn; } routes[] = {
        {"/state", state_handler},           {"/state.json", state_handler},
        {"/health", health_handler},         {"/version", version_handler},
        {"/flags", flags_handler},           {"/redirect", redirect_handler},
        {"/metrics/snapshot", metrics_handler},
    };
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        char alias[128];
        http_server_route(m->http, routes[i].path, routes[i].fn, m);
        snprintf(alias, sizeof(alias), "/master%s", routes[i].path);
        http_server_route(m->http, alias, routes[i].fn, m);
    }
}
