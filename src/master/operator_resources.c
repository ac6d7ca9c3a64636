/* Reservations and persistent volumes on the master's side: applying an
 * operation to an agent's total and telling the agent (which checkpoints
 * it), and the operator's ways to ask for one: the v1 calls
 * RESERVE_RESOURCES, UNRESERVE_RESOURCES, CREATE_VOLUMES, DESTROY_VOLUMES
 * and the classic /reserve, /unreserve, /create-volumes, /destroy-volumes
 * endpoints (form-encoded slaveId and a JSON array), answered as Mesos
 * answers them: 202 done, 400 invalid, 409 not available. The arithmetic
 * and its validation are operations.c's. */
#include <errno.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "master/election.h"
#include "master/master.h"
#include "master/operations.h"
#include "wire/json.h"
#include "wire/pb.h"

#define LOG_COMPONENT "master"

void operator_resources_send_total(struct agent *a)
{
    Tepui__Internal__AgentEvent ev = TEPUI__INTERNAL__AGENT_EVENT__INIT;
    Tepui__Internal__CheckpointedResources cr = TEPUI__INTERNAL__CHECKPOINTED_RESOURCES__INIT;
    cr.resources = resources_to_proto(&a->total, &cr.n_resources);
    ev.has_type = 1;
    ev.type = TEPUI__INTERNAL__AGENT_EVENT__TYPE__CHECKPOINT_RESOURCES;
    ev.checkpoint_resources = &cr;
    agent_send_event(a, &ev);
    resources_proto_free(cr.resources, cr.n_resources);
}

int operator_resources_apply(struct agent *a, const struct operation *plain, struct error *err)
{
    int rc = operation_apply(&a->total, plain, err);
    if (rc != 0)
        return rc;
    struct buf what = BUF_INIT;
    resources_format(&plain->produced, &what);
    log_info("agent %s: applied %s, now %s", a->id, operation_kind_name(plain->kind),
             buf_cstr(&what));
    buf_free(&what);
    operator_resources_send_total(a);
    return 0;
}

/* Free on the agent: neither used by tasks and executors nor offered. */
static void agent_free_resources(const struct agent *a, struct resources *out)
{
    struct resources taken = RESOURCES_INIT;
    resources_copy(&taken, &a->used);
    resources_add(&taken, &a->offered);
    resources_set_allocation_role(&taken, NULL);
    resources_copy(out, &a->total);
    resources_subtract(out, &taken);
    resources_free(&taken);
}

/* The operator's operation on one agent; answers the request. */
static void operate(struct master *m, struct http_request *req, enum operation_kind kind,
                    const char *agent_id, Tepui__Resource *const *v, size_t n,
                    Tepui__Resource *const *source, size_t n_source)
{
    struct error err = {0};
    struct operation op, plain;
    struct resources avail = RESOURCES_INIT;
    resources_init(&plain.consumed);
    resources_init(&plain.produced);
    struct agent *a = agent_id ? master_find_agent(m, agent_id) : NULL;
    if (a == NULL) {
        http_respond_error(req, 400, "No agent found with specified ID '%s'",
                           agent_id ? agent_id : "");
        resources_init(&op.consumed);
        resources_init(&op.produced);
        goto out;
    }
    struct operation_actor by_operator = {0};
    if (operation_build(kind, v, n, source, n_source, &by_operator, &op, &err) != 0) {
        http_respond_error(req, 400, "%s", err.msg);
        goto out;
    }
    operation_unallocated(&op, &plain);
    char id[300];
    if (kind == OPERATION_CREATE &&
        operation_volume_overlap(&plain.produced, &a->total, id, sizeof(id))) {
        http_respond_error(req, 400, "Invalid CREATE operation: persistent volume id '%s' is "
                                     "already in use on agent %s", id, a->id);
        goto out;
    }
    if (!a->connected) {
        http_respond_error(req, 409, "Agent %s is not connected", a->id);
        goto out;
    }
    if (kind == OPERATION_DESTROY) {
        struct resources used = RESOURCES_INIT;
        resources_copy(&used, &a->used);
        resources_set_allocation_role(&used, NULL);
        int busy = operation_volume_overlap(&plain.consumed, &used, id, sizeof(id));
        resources_free(&used);
        if (busy) {
            http_respond_error(req, 409, "Persistent volume '%s' is in use by a task or "
                                         "executor", id);
            goto out;
        }
    }
    /* As Mesos: offers on the agent are rescinded, one at a time, until
     * what the operation needs is free. */
    agent_free_resources(a, &avail);
    struct offer *o;
    while (!resources_contains(&avail, &plain.consumed) && (o = TAILQ_FIRST(&a->offers)) != NULL) {
        offer_rescind(o, 1);
        agent_free_resources(a, &avail);
    }
    if (!resources_contains(&avail, &plain.consumed)) {
        struct buf want = BUF_INIT, have = BUF_INIT;
        resources_format(&plain.consumed, &want);
        resources_format(&avail, &have);
        http_respond_error(req, 409, "Invalid %s operation: %s is not available on agent %s "
                                     "(free: %s)", operation_kind_name(kind), buf_cstr(&want),
                           a->id, buf_cstr(&have));
        buf_free(&want);
        buf_free(&have);
        goto out;
    }
    if (operator_resources_apply(a, &plain, &err) != 0) {
        http_respond_error(req, 409, "%s", err.msg);
        goto out;
    }
    allocator_update_agent_total(m->allocator, a->id, &a->total);
    http_respond_empty(req, 202);
out:
    resources_free(&avail);
    operation_free(&op);
    operation_free(&plain);
}

int operator_resources_call(struct master *m, struct http_request *req,
                            const Tepui__Master__Call *call)
{
    switch (call->type) {
    case TEPUI__MASTER__CALL__TYPE__RESERVE_RESOURCES: {
        const Tepui__Master__Call__ReserveResources *r = call->reserve_resources;
        operate(m, req, OPERATION_RESERVE, r->agent_id->value, r->resources, r->n_resources,
                r->source, r->n_source);
        return 1;
    }
    case TEPUI__MASTER__CALL__TYPE__UNRESERVE_RESOURCES: {
        const Tepui__Master__Call__UnreserveResources *r = call->unreserve_resources;
        operate(m, req, OPERATION_UNRESERVE, r->agent_id->value, r->resources, r->n_resources,
                NULL, 0);
        return 1;
    }
    case TEPUI__MASTER__CALL__TYPE__CREATE_VOLUMES: {
        const Tepui__Master__Call__CreateVolumes *c = call->create_volumes;
        operate(m, req, OPERATION_CREATE, c->agent_id->value, c->volumes, c->n_volumes, NULL, 0);
        return 1;
    }
    case TEPUI__MASTER__CALL__TYPE__DESTROY_VOLUMES: {
        const Tepui__Master__Call__DestroyVolumes *d = call->destroy_volumes;
        operate(m, req, OPERATION_DESTROY, d->agent_id->value, d->volumes, d->n_volumes, NULL, 0);
        return 1;
    }
    default:
        return 0;
    }
}

/* ---- classic endpoints ---- */

struct classic {
    const char *path;
    enum operation_kind kind;
    const char *field;        /* the form field with the JSON array */
};

static const struct classic classics[] = {
    {"/reserve", OPERATION_RESERVE, "resources"},
    {"/unreserve", OPERATION_UNRESERVE, "resources"},
    {"/create-volumes", OPERATION_CREATE, "volumes"},
    {"/destroy-volumes", OPERATION_DESTROY, "volumes"},
};

static void classic_endpoint(struct http_request *req, void *arg)
{
    struct master *m = arg;
    if (master_redirect_unless_leading(m, req))
        return;
    const struct classic *c = NULL;
    for (size_t i = 0; i < sizeof(classics) / sizeof(classics[0]); i++)
        if (strcmp(req->path, classics[i].path) == 0 ||
            (strncmp(req->path, "/master", 7) == 0 && strcmp(req->path + 7, classics[i].path) == 0))
            c = &classics[i];
    if (c == NULL) {
        http_respond_error(req, 404, "No such endpoint");
        return;
    }
    if (req->method != EVHTTP_REQ_POST) {
        http_respond_method_not_allowed(req, "POST");
        return;
    }
    struct evkeyvalq form;
    TAILQ_INIT(&form);
    json_t *list = NULL, *wrapper = NULL;
    Tepui__Offer__Operation__Unreserve *parsed = NULL;
    if (evhttp_parse_query_str(req->body ? req->body : "", &form) != 0) {
        http_respond_error(req, 400, "Unable to decode the form body");
        goto out;
    }
    const char *agent_id = evhttp_find_header(&form, "slaveId");
    if (agent_id == NULL)
        agent_id = evhttp_find_header(&form, "agentId");
    const char *text = evhttp_find_header(&form, c->field);
    if (agent_id == NULL || agent_id[0] == '\0') {
        http_respond_error(req, 400, "Missing 'slaveId' query parameter in the request body");
        goto out;
    }
    if (text == NULL) {
        http_respond_error(req, 400, "Missing '%s' query parameter in the request body",
                           c->field);
        goto out;
    }
    json_error_t jerr;
    list = json_loads(text, JSON_DECODE_ANY, &jerr);
    if (list == NULL || !json_is_array(list)) {
        http_respond_error(req, 400, "Error in parsing '%s' query parameter in the request "
                                     "body: expected a JSON array of Resource objects%s%s",
                           c->field, list == NULL ? ": " : "", list == NULL ? jerr.text : "");
        goto out;
    }
    /* Unreserve is just "repeated Resource resources". */
    wrapper = json_pack("{sO}", "resources", list);
    struct error err = {0};
    parsed = (Tepui__Offer__Operation__Unreserve *)wire_json_to_message(
        &tepui__offer__operation__unreserve__descriptor, wrapper, &err);
    if (parsed == NULL) {
        http_respond_error(req, 400, "Error in parsing '%s' query parameter in the request "
                                     "body: %s", c->field, err.msg);
        goto out;
    }
    operate(m, req, c->kind, agent_id, parsed->resources, parsed->n_resources, NULL, 0);
out:
    if (parsed != NULL)
        protobuf_c_message_free_unpacked(&parsed->base, NULL);
    json_decref(wrapper);
    json_decref(list);
    evhttp_clear_headers(&form);
}

void operator_resources_routes(struct master *m)
{
    for (size_t i = 0; i < sizeof(classics) / sizeof(classics[0]); i++) {
        char path[64];
        http_server_route(m->http, classics[i].path, classic_endpoint, m);
        snprintf(path, sizeof(path), "/master%s", classics[i].path);
        http_server_route(m->http, path, classic_endpoint, m);
    }
}
