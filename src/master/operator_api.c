/* POST /api/v1 (also /master/api/v1): the Mesos v1 operator API, in JSON
 * and protobuf. The read calls GET_HEALTH, GET_FLAGS, GET_VERSION,
 * GET_MASTER, GET_AGENTS, GET_FRAMEWORKS and GET_TASKS, and MARK_AGENT_GONE;
 * maintenance and draining calls go to maintenance.c; the other calls are answered 501 until they are built (not: pretended).
 * Validation and status codes as Mesos's Master::Http::api. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "http/api.h"
#include "master.pb-c.h"
#include "master/election.h"
#include "master/maintenance.h"
#include "master/master.h"
#include "master/quota.h"
#include "wire/pb.h"

#define LOG_COMPONENT "master"

typedef Tepui__Master__Call Call;
typedef Tepui__Master__Response Response;

/* ---- validation ---- */

/* Calls that need their message (Mesos's validation::master::call). */
static const struct {
    Tepui__Master__Call__Type type;
    const char *field;
} required_fields[] = {
    {TEPUI__MASTER__CALL__TYPE__GET_METRICS, "get_metrics"},
    {TEPUI__MASTER__CALL__TYPE__SET_LOGGING_LEVEL, "set_logging_level"},
    {TEPUI__MASTER__CALL__TYPE__LIST_FILES, "list_files"},
    {TEPUI__MASTER__CALL__TYPE__READ_FILE, "read_file"},
    {TEPUI__MASTER__CALL__TYPE__UPDATE_WEIGHTS, "update_weights"},
    {TEPUI__MASTER__CALL__TYPE__RESERVE_RESOURCES, "reserve_resources"},
    {TEPUI__MASTER__CALL__TYPE__UNRESERVE_RESOURCES, "unreserve_resources"},
    {TEPUI__MASTER__CALL__TYPE__CREATE_VOLUMES, "create_volumes"},
    {TEPUI__MASTER__CALL__TYPE__DESTROY_VOLUMES, "destroy_volumes"},
    {TEPUI__MASTER__CALL__TYPE__GROW_VOLUME, "grow_volume"},
    {TEPUI__MASTER__CALL__TYPE__SHRINK_VOLUME, "shrink_volume"},
    {TEPUI__MASTER__CALL__TYPE__UPDATE_MAINTENANCE_SCHEDULE, "update_maintenance_schedule"},
    {TEPUI__MASTER__CALL__TYPE__START_MAINTENANCE, "start_maintenance"},
    {TEPUI__MASTER__CALL__TYPE__STOP_MAINTENANCE, "stop_maintenance"},
    {TEPUI__MASTER__CALL__TYPE__DRAIN_AGENT, "drain_agent"},
    {TEPUI__MASTER__CALL__TYPE__DEACTIVATE_AGENT, "deactivate_agent"},
    {TEPUI__MASTER__CALL__TYPE__REACTIVATE_AGENT, "reactivate_agent"},
    {TEPUI__MASTER__CALL__TYPE__UPDATE_QUOTA, "update_quota"},
    {TEPUI__MASTER__CALL__TYPE__SET_QUOTA, "set_quota"},
    {TEPUI__MASTER__CALL__TYPE__REMOVE_QUOTA, "remove_quota"},
    {TEPUI__MASTER__CALL__TYPE__TEARDOWN, "teardown"},
    {TEPUI__MASTER__CALL__TYPE__MARK_AGENT_GONE, "mark_agent_gone"},
};

static int validate_call(const Call *call, struct error *err)
{
    if (!call->has_type)
        return error_set(err, -EINVAL, "Expecting 'type' to be present");
    for (size_t i = 0; i < sizeof(required_fields) / sizeof(required_fields[0]); i++) {
        if (required_fields[i].type != call->type)
            continue;
        const ProtobufCFieldDescriptor *fd = protobuf_c_message_descriptor_get_field_by_name(
            call->base.descriptor, required_fields[i].field);
        if (fd != NULL && *(void *const *)((const char *)call + fd->offset) == NULL)
            return error_set(err, -EINVAL, "Expecting '%s' to be present",
                             required_fields[i].field);
    }
    return 0;
}

static const char *call_name(const Call *call)
{
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
        &tepui__master__call__type__descriptor, call->type);
    return v != NULL ? v->name : "?";
}

/* ---- building responses (owned, freed with pb_free) ---- */

static Tepui__TimeInfo *time_info(double seconds)
{
    Tepui__TimeInfo *t = xmalloc(sizeof(*t));
    tepui__time_info__init(t);
    t->nanoseconds = (int64_t)(seconds * 1e9);
    return t;
}

Response *operator_response_new(Tepui__Master__Response__Type type)
{
    Response *r = xmalloc(sizeof(*r));
    tepui__master__response__init(r);
    r->has_type = 1;
    r->type = type;
    return r;
}

void operator_respond(struct http_request *req, enum wire_format fmt, Response *r)
{
    struct buf body = BUF_INIT;
    wire_encode(&r->base, fmt, &body);
    http_respond_buf(req, 200, wire_format_media_type(fmt), &body);
    buf_free(&body);
    pb_free(r);
}

static Response *get_health(void)
{
    Response *r = operator_response_new(TEPUI__MASTER__RESPONSE__TYPE__GET_HEALTH);
    r->get_health = xmalloc(sizeof(*r->get_health));
    tepui__master__response__get_health__init(r->get_health);
    r->get_health->healthy = 1;
    return r;
}

static Response *get_flags(struct master *m)
{
    Response *r = operator_response_new(TEPUI__MASTER__RESPONSE__TYPE__GET_FLAGS);
    Tepui__Master__Response__GetFlags *g = xmalloc(sizeof(*g));
    tepui__master__response__get_flags__init(g);
    json_t *flags = flags_to_json(m->flag_set);
    g->flags = xcalloc(json_object_size(flags) + 1, sizeof(*g->flags));
    const char *name;
    json_t *value;
    json_object_foreach(flags, name, value) {
        Tepui__Flag *fl = xmalloc(sizeof(*fl));
        tepui__flag__init(fl);
        fl->name = xstrdup(name);
        fl->value = xstrdup(json_string_value(value) ? json_string_value(value) : "");
        g->flags[g->n_flags++] = fl;
    }
    json_decref(flags);
    r->get_flags = g;
    return r;
}

static Response *get_version(void)
{
    Response *r = operator_response_new(TEPUI__MASTER__RESPONSE__TYPE__GET_VERSION);
    Tepui__Master__Response__GetVersion *g = xmalloc(sizeof(*g));
    tepui__master__response__get_version__init(g);
    Tepui__VersionInfo *v = xmalloc(sizeof(*v));
    tepui__version_info__init(v);
    v->version = xstrdup(TEPUI_VERSION);
    v->git_sha = xstrdup(TEPUI_GIT_SHA);
    v->build_date = xstrdup(__DATE__);
    v->has_build_time = 1;
    v->build_time = 0;
    v->build_user = xstrdup("");
    g->version_info = v;
    r->get_version = g;
    return r;
}

static Response *get_master(struct master *m)
{
    Response *r = operator_response_new(TEPUI__MASTER__RESPONSE__TYPE__GET_MASTER);
    Tepui__Master__Response__GetMaster *g = xmalloc(sizeof(*g));
    tepui__master__response__get_master__init(g);
    g->master_info = PB_COPY(Tepui__MasterInfo, m->info);
    g->has_start_time = 1;
    g->start_time = m->start_time;
    g->has_elected_time = 1;
    g->elected_time = m->elected_time;
    r->get_master = g;
    return r;
}

static Response *get_agents(struct master *m)
{
    Response *r = operator_response_new(TEPUI__MASTER__RESPONSE__TYPE__GET_AGENTS);
    Tepui__Master__Response__GetAgents *g = xmalloc(sizeof(*g));
    tepui__master__response__get_agents__init(g);
    g->agents = xcalloc(HASH_COUNT(m->agents) + 1, sizeof(*g->agents));
    struct agent *a, *atmp;
    HASH_ITER(hh, m->agents, a, atmp) {
        Tepui__Master__Response__GetAgents__Agent *ga = xmalloc(sizeof(*ga));
        tepui__master__response__get_agents__agent__init(ga);
        ga->agent_info = PB_COPY(Tepui__AgentInfo, a->info);
        ga->active = a->active;
        ga->has_deactivated = 1;
        ga->deactivated = maintenance_agent_deactivated(m, a->id);
        ga->drain_info = maintenance_drain_info(m, a->id);
        ga->version = xstrdup(a->version ? a->version : "");
        ga->pid = xstrdup(a->pid ? a->pid : "");
        ga->registered_time = time_info(a->registered_time);
        if (a->reregistered_time > 0)
            ga->reregistered_time = time_info(a->reregistered_time);
        ga->total_resources = resources_to_proto(&a->total, &ga->n_total_resources);
        ga->allocated_resources = resources_to_proto(&a->used, &ga->n_allocated_resources);
        ga->offered_resources = resources_to_proto(&a->offered, &ga->n_offered_resources);
        g->agents[g->n_agents++] = ga;
    }
    /* Listed by the registry, not re-registered yet since the failover. */
    g->recovered_agents = xcalloc(HASH_COUNT(m->recovered) + 1, sizeof(*g->recovered_agents));
    struct recovered_agent *ra, *rtmp;
    HASH_ITER(hh, m->recovered, ra, rtmp) {
        if (ra->info != NULL)
            g->recovered_agents[g->n_recovered_agents++] = PB_COPY(Tepui__AgentInfo, ra->info);
    }
    r->get_agents = g;
    return r;
}

static Tepui__Offer *offer_proto(const struct offer *o)
{
    Tepui__Offer *po = xmalloc(sizeof(*po));
    tepui__offer__init(po);
    po->id = xmalloc(sizeof(*po->id));
    tepui__offer_id__init(po->id);
    po->id->value = xstrdup(o->id);
    po->framework_id = PB_COPY(Tepui__FrameworkID, o->framework->info->id);
    po->agent_id = PB_COPY(Tepui__AgentID, o->agent->info->id);
    po->hostname = xstrdup(o->agent->info->hostname);
    po->resources = resources_to_proto(&o->resources, &po->n_resources);
    po->allocation_info = xmalloc(sizeof(*po->allocation_info));
    tepui__resource__allocation_info__init(po->allocation_info);
    po->allocation_info->role = xstrdup(o->role);
    return po;
}

static Tepui__Master__Response__GetFrameworks__Framework *framework_proto(const struct framework *f)
{
    Tepui__Master__Response__GetFrameworks__Framework *gf = xmalloc(sizeof(*gf));
    tepui__master__response__get_frameworks__framework__init(gf);
    gf->framework_info = PB_COPY(Tepui__FrameworkInfo, f->info);
    gf->active = f->active;
    gf->connected = f->connected;
    gf->recovered = f->recovered;
    if (f->registered_time > 0)
        gf->registered_time = time_info(f->registered_time);
    if (f->reregistered_time > 0)
        gf->reregistered_time = time_info(f->reregistered_time);
    if (f->unregistered_time > 0)
        gf->unregistered_time = time_info(f->unregistered_time);
    size_t n = 0;
    const struct offer *o;
    TAILQ_FOREACH(o, &f->offers, framework_link)
        n++;
    gf->offers = xcalloc(n + 1, sizeof(*gf->offers));
    TAILQ_FOREACH(o, &f->offers, framework_link)
        gf->offers[gf->n_offers++] = offer_proto(o);
    gf->inverse_offers = maintenance_framework_inverse_offers(f, &gf->n_inverse_offers);
    gf->allocated_resources = resources_to_proto(&f->used, &gf->n_allocated_resources);
    gf->offered_resources = resources_to_proto(&f->offered, &gf->n_offered_resources);
    return gf;
}

static Response *get_frameworks(struct master *m)
{
    Response *r = operator_response_new(TEPUI__MASTER__RESPONSE__TYPE__GET_FRAMEWORKS);
    Tepui__Master__Response__GetFrameworks *g = xmalloc(sizeof(*g));
    tepui__master__response__get_frameworks__init(g);
    g->frameworks = xcalloc(HASH_COUNT(m->frameworks) + 1, sizeof(*g->frameworks));
    struct framework *f, *ftmp;
    HASH_ITER(hh, m->frameworks, f, ftmp) {
        g->frameworks[g->n_frameworks++] = framework_proto(f);
    }
    g->completed_frameworks = xcalloc(m->n_completed_frameworks + 1,
                                      sizeof(*g->completed_frameworks));
    for (size_t i = 0; i < m->n_completed_frameworks; i++)
        g->completed_frameworks[g->n_completed_frameworks++] =
            framework_proto(m->completed_frameworks[i]);
    r->get_frameworks = g;
    return r;
}

struct task_lists {
    Tepui__Task **tasks, **unreachable, **completed;
    size_t n_tasks, n_unreachable, n_completed;
    size_t cap_tasks, cap_unreachable, cap_completed;
};

static void push_task(Tepui__Task ***v, size_t *n, size_t *cap, const Tepui__Task *t)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        *v = xrealloc(*v, *cap * sizeof(**v));
    }
    (*v)[(*n)++] = PB_COPY(Tepui__Task, t);
}

static void framework_tasks(struct task_lists *l, const struct framework *f, int live)
{
    if (live) {
        const struct task *t, *ttmp;
        HASH_ITER(hh, f->tasks, t, ttmp) {
            push_task(&l->tasks, &l->n_tasks, &l->cap_tasks, t->info);
        }
    }
    /* Tasks of unreachable agents are kept with the completed ones, and
     * listed apart as Mesos does. */
    for (size_t i = 0; i < f->completed.n; i++) {
        const Tepui__Task *t = f->completed.v[i];
        if (t->state == TEPUI__TASK_STATE__TASK_UNREACHABLE)
            push_task(&l->unreachable, &l->n_unreachable, &l->cap_unreachable, t);
        else
            push_task(&l->completed, &l->n_completed, &l->cap_completed, t);
    }
}

static Response *get_tasks(struct master *m)
{
    Response *r = operator_response_new(TEPUI__MASTER__RESPONSE__TYPE__GET_TASKS);
    Tepui__Master__Response__GetTasks *g = xmalloc(sizeof(*g));
    tepui__master__response__get_tasks__init(g);
    struct task_lists l = {0};
    struct framework *f, *ftmp;
    HASH_ITER(hh, m->frameworks, f, ftmp) {
        framework_tasks(&l, f, 1);
    }
    for (size_t i = 0; i < m->n_completed_frameworks; i++)
        framework_tasks(&l, m->completed_frameworks[i], 0);
    g->tasks = l.tasks;
    g->n_tasks = l.n_tasks;
    g->unreachable_tasks = l.unreachable;
    g->n_unreachable_tasks = l.n_unreachable;
    g->completed_tasks = l.completed;
    g->n_completed_tasks = l.n_completed;
    r->get_tasks = g;
    return r;
}

/* ---- the endpoint ---- */

static void mark_agent_gone(struct master *m, struct http_request *req, const Call *call)
{
    const char *id = call->mark_agent_gone->agent_id->value;
    int rc = agent_mark_gone(m, id);
    if (rc == -ENOENT) {
        http_respond_error(req, 404, "Agent '%s' not found", id);
        return;
    }
    master_answer_when_durable(m, req);
}

static void operator_api(struct http_request *req, void *arg)
{
    struct master *m = arg;
    if (master_redirect_unless_leading(m, req))
        return;
    Call *call = (Call *)http_api_decode(req, &tepui__master__call__descriptor, 0, NULL);
    if (call == NULL)
        return;
    struct error err = {0};
    if (validate_call(call, &err) != 0) {
        http_respond_error(req, 400, "Failed to validate master::Call: %s", err.msg);
        goto out;
    }
    enum wire_format fmt = wire_format_from_accept(http_request_header(req, "Accept"));
    if (fmt == 0) {
        http_respond_error(req, 406, "Expecting 'Accept' to allow '%s' or '%s'",
                           WIRE_MEDIA_PROTOBUF, WIRE_MEDIA_JSON);
        goto out;
    }
    log_info("processing operator call %s", call_name(call));
    switch (call->type) {
    case TEPUI__MASTER__CALL__TYPE__UNKNOWN:
        http_respond_empty(req, 501);
        break;
    case TEPUI__MASTER__CALL__TYPE__GET_HEALTH:
        operator_respond(req, fmt, get_health());
        break;
    case TEPUI__MASTER__CALL__TYPE__GET_FLAGS:
        operator_respond(req, fmt, get_flags(m));
        break;
    case TEPUI__MASTER__CALL__TYPE__GET_VERSION:
        operator_respond(req, fmt, get_version());
        break;
    case TEPUI__MASTER__CALL__TYPE__GET_MASTER:
        operator_respond(req, fmt, get_master(m));
        break;
    case TEPUI__MASTER__CALL__TYPE__GET_AGENTS:
        operator_respond(req, fmt, get_agents(m));
        break;
    case TEPUI__MASTER__CALL__TYPE__GET_FRAMEWORKS:
        operator_respond(req, fmt, get_frameworks(m));
        break;
    case TEPUI__MASTER__CALL__TYPE__GET_TASKS:
        operator_respond(req, fmt, get_tasks(m));
        break;
    case TEPUI__MASTER__CALL__TYPE__MARK_AGENT_GONE:
        mark_agent_gone(m, req, call);
        break;
    case TEPUI__MASTER__CALL__TYPE__GET_MAINTENANCE_STATUS:
    case TEPUI__MASTER__CALL__TYPE__GET_MAINTENANCE_SCHEDULE:
    case TEPUI__MASTER__CALL__TYPE__UPDATE_MAINTENANCE_SCHEDULE:
    case TEPUI__MASTER__CALL__TYPE__START_MAINTENANCE:
    case TEPUI__MASTER__CALL__TYPE__STOP_MAINTENANCE:
    case TEPUI__MASTER__CALL__TYPE__DRAIN_AGENT:
    case TEPUI__MASTER__CALL__TYPE__DEACTIVATE_AGENT:
    case TEPUI__MASTER__CALL__TYPE__REACTIVATE_AGENT:
        maintenance_operator_call(m, req, call, fmt);
        break;
    case TEPUI__MASTER__CALL__TYPE__RESERVE_RESOURCES:
    case TEPUI__MASTER__CALL__TYPE__UNRESERVE_RESOURCES:
    case TEPUI__MASTER__CALL__TYPE__CREATE_VOLUMES:
    case TEPUI__MASTER__CALL__TYPE__DESTROY_VOLUMES:
        operator_resources_call(m, req, call);
        break;
    case TEPUI__MASTER__CALL__TYPE__GET_ROLES:
        quota_get_roles(m, req, fmt);
        break;
    case TEPUI__MASTER__CALL__TYPE__GET_WEIGHTS:
        quota_get_weights(m, req, fmt);
        break;
    case TEPUI__MASTER__CALL__TYPE__UPDATE_WEIGHTS:
        quota_update_weights(m, req, call->update_weights);
        break;
    case TEPUI__MASTER__CALL__TYPE__GET_QUOTA:
        quota_get_quota(m, req, fmt);
        break;
    case TEPUI__MASTER__CALL__TYPE__UPDATE_QUOTA:
        quota_update_quota(m, req, call->update_quota);
        break;
    case TEPUI__MASTER__CALL__TYPE__SET_QUOTA:
        quota_set_quota(m, req, call->set_quota->quota_request);
        break;
    case TEPUI__MASTER__CALL__TYPE__REMOVE_QUOTA:
        quota_remove_quota(m, req, call->remove_quota->role);
        break;
    default:
        /* GET_STATE, weights, quota, maintenance, reservations, volumes,
         * SUBSCRIBE, ...: a later issue. */
        http_respond_error(req, 501, "Operator call %s is not implemented yet", call_name(call));
        break;
    }
out:
    pb_free(call);
}

void operator_api_routes(struct master *m)
{
    http_server_route(m->http, "/api/v1", operator_api, m);
    http_server_route(m->http, "/master/api/v1", operator_api, m);
    operator_resources_routes(m);
    maintenance_routes(m);
}
