/* Reservations against real daemons: a static reservation is offered only
 * to its role; RESERVE and UNRESERVE offer operations change what later
 * offers carry (with operation feedback); the operator's v1 calls (JSON and
 * protobuf) and classic /reserve and /unreserve endpoints, and their errors;
 * reservations survive a master failover (SQLite registry) and an agent
 * restart. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "harness.h"
#include "master.pb-c.h"
#include "wire/pb.h"

#define EV(x) TEPUI__SCHEDULER__EVENT__TYPE__##x

static const char *const master_flags[] = {"--allocation_interval=50ms", NULL};

struct fixture {
    struct h_cluster c;
    struct h_sched s[2];
    char agent_id[256];
};

static int teardown(void **state)
{
    struct fixture *f = *state;
    for (int i = 0; i < 2; i++)
        if (f->s[i].fd >= 0)
            h_sched_close(&f->s[i]);
    h_cluster_destroy(&f->c);
    free(f);
    return 0;
}

static struct fixture *start(void **state, const char *const *mflags, const char *resources)
{
    struct fixture *f = calloc(1, sizeof(*f));
    *state = f;
    f->s[0].fd = f->s[1].fd = -1;
    h_cluster_init(&f->c);
    h_start_master(&f->c, mflags);
    h_start_agent(&f->c, resources, NULL);
    json_t *st = h_get_json(f->c.master.port, "/state");
    json_t *agents = json_object_get(st, "slaves");
    assert_int_equal(json_array_size(agents), 1);
    snprintf(f->agent_id, sizeof(f->agent_id), "%s",
             json_string_value(json_object_get(json_array_get(agents, 0), "id")));
    json_decref(st);
    return f;
}

/* The agent's reserved_resources[role][name] in the master's /state. */
static double state_reserved(int port, const char *role, const char *name)
{
    json_t *st = h_get_json(port, "/state");
    json_t *a = json_array_get(json_object_get(st, "slaves"), 0);
    json_t *r = json_object_get(json_object_get(json_object_get(a, "reserved_resources"), role),
                                name);
    double v = r ? json_number_value(r) : 0.0;
    json_decref(st);
    return v;
}

struct reserved_wait {
    int port;
    const char *role;
    double want;
};

static int reserved_is(void *arg)
{
    struct reserved_wait *w = arg;
    return state_reserved(w->port, w->role, "cpus") == w->want;
}

/* Scalar name in an offer: reserved to role (NULL: unreserved). */
static double offer_scalar(const Tepui__Offer *o, const char *name, const char *role)
{
    double v = 0;
    for (size_t i = 0; i < o->n_resources; i++) {
        const Tepui__Resource *r = o->resources[i];
        const char *rrole = r->n_reservations > 0 ? r->reservations[r->n_reservations - 1]->role
                                                  : NULL;
        if (strcmp(r->name, name) != 0 || r->scalar == NULL)
            continue;
        if ((role == NULL && rrole == NULL) || (role && rrole && strcmp(role, rrole) == 0))
            v += r->scalar->value;
    }
    return v;
}

/* The next offer (the first of an OFFERS event). */
static Tepui__Offer *next_offer(struct h_sched *s, Tepui__Scheduler__Event **ev)
{
    *ev = h_sched_next(s, EV(OFFERS), 10);
    assert_non_null(*ev);
    assert_true((*ev)->offers->n_offers > 0);
    return (*ev)->offers->offers[0];
}

/* Declines with no filter, so the next cycle offers everything again. */
static void decline(struct h_sched *s, const Tepui__Offer *o)
{
    char *call = xasprintf("{\"type\":\"DECLINE\",\"decline\":{\"offer_ids\":[{\"value\":\"%s\"}],"
                           "\"filters\":{\"refuse_seconds\":0}}}", o->id->value);
    assert_int_equal(h_sched_call(s, call, NULL), 202);
    free(call);
}

static int operator_call(int port, const char *json, struct h_response *r)
{
    return h_http(port, "POST", "/api/v1", "Content-Type: application/json\r\n", json,
                  strlen(json), r);
}

static int operator_status(int port, const char *json, char *body, size_t n)
{
    struct h_response r = {0};
    assert_int_equal(operator_call(port, json, &r), 0);
    int status = r.status;
    if (body != NULL)
        snprintf(body, n, "%s", r.body ? r.body : "");
    h_response_free(&r);
    return status;
}

static int form_post(int port, const char *path, const char *form)
{
    struct h_response r = {0};
    assert_int_equal(h_http(port, "POST", path,
                            "Content-Type: application/x-www-form-urlencoded\r\n", form,
                            strlen(form), &r), 0);
    int status = r.status;
    h_response_free(&r);
    return status;
}

#define WEB_CPUS(n)                                                                           \
    "[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":" #n "},"                  \
    "\"reservations\":[{\"type\":\"DYNAMIC\",\"role\":\"web\",\"principal\":\"ops\"}]}]"

/* ---- static reservations ---- */

static void static_reservation_is_offered_only_to_its_role(void **state)
{
    struct fixture *f = start(state, master_flags, "cpus:1;mem:512;cpus(web):2;mem(web):256");
    int port = f->c.master.port;
    assert_true(state_reserved(port, "web", "cpus") == 2.0);
    assert_true(state_reserved(port, "web", "mem") == 256.0);

    /* A framework of another role sees only the unreserved part. */
    assert_int_equal(h_sched_subscribe(&f->s[0], port, WIRE_JSON,
                                       h_framework_json("db", "\"role\":\"db\"")), 200);
    Tepui__Scheduler__Event *ev;
    Tepui__Offer *o = next_offer(&f->s[0], &ev);
    assert_true(offer_scalar(o, "cpus", NULL) == 1.0);
    assert_true(offer_scalar(o, "cpus", "web") == 0.0);
    pb_free(ev);

    /* The web framework is offered the reservation. */
    assert_int_equal(h_sched_subscribe(&f->s[1], port, WIRE_PROTOBUF,
                                       h_framework_json("web", "\"role\":\"web\"")), 200);
    o = next_offer(&f->s[1], &ev);
    assert_true(offer_scalar(o, "cpus", "web") == 2.0);
    assert_true(offer_scalar(o, "mem", "web") == 256.0);
    pb_free(ev);
}

/* ---- RESERVE / UNRESERVE in ACCEPT ---- */

static void offer_reserve_then_unreserve(void **state)
{
    struct fixture *f = start(state, master_flags, "cpus:2;mem:512");
    int port = f->c.master.port;
    struct h_sched *s = &f->s[0];
    assert_int_equal(h_sched_subscribe(s, port, WIRE_JSON,
                                       h_framework_json("web", "\"role\":\"web\","
                                                               "\"principal\":\"ops\"")), 200);
    Tepui__Scheduler__Event *ev;
    Tepui__Offer *o = next_offer(s, &ev);
    char *call = xasprintf(
        "{\"type\":\"ACCEPT\",\"accept\":{\"offer_ids\":[{\"value\":\"%s\"}],\"operations\":["
        "{\"type\":\"RESERVE\",\"id\":{\"value\":\"op-1\"},\"reserve\":{\"resources\":" WEB_CPUS(1)
        "}}],\"filters\":{\"refuse_seconds\":0}}}", o->id->value);
    assert_int_equal(h_sched_call(s, call, NULL), 202);
    free(call);
    pb_free(ev);

    /* Operation feedback, then offers carrying the reservation. */
    ev = h_sched_next(s, EV(UPDATE_OPERATION_STATUS), 10);
    assert_non_null(ev);
    assert_string_equal(ev->update_operation_status->status->operation_id->value, "op-1");
    assert_int_equal(ev->update_operation_status->status->state,
                     TEPUI__OPERATION_STATE__OPERATION_FINISHED);
    pb_free(ev);
    o = next_offer(s, &ev);
    assert_true(offer_scalar(o, "cpus", "web") == 1.0);
    assert_true(offer_scalar(o, "cpus", NULL) == 1.0);
    assert_true(state_reserved(port, "web", "cpus") == 1.0);

    /* Unreserving more than is reserved is dropped; the offer's resources
     * come back (with no filter) unchanged. */
    call = xasprintf(
        "{\"type\":\"ACCEPT\",\"accept\":{\"offer_ids\":[{\"value\":\"%s\"}],\"operations\":["
        "{\"type\":\"UNRESERVE\",\"id\":{\"value\":\"op-2\"},\"unreserve\":{\"resources\":"
        WEB_CPUS(2) "}}],\"filters\":{\"refuse_seconds\":0}}}", o->id->value);
    assert_int_equal(h_sched_call(s, call, NULL), 202);
    free(call);
    pb_free(ev);
    ev = h_sched_next(s, EV(UPDATE_OPERATION_STATUS), 10);
    assert_non_null(ev);
    assert_int_equal(ev->update_operation_status->status->state,
                     TEPUI__OPERATION_STATE__OPERATION_ERROR);
    assert_non_null(strstr(ev->update_operation_status->status->message, "not available"));
    pb_free(ev);
    o = next_offer(s, &ev);
    assert_true(offer_scalar(o, "cpus", "web") == 1.0);

    /* A valid UNRESERVE gives it back. */
    call = xasprintf(
        "{\"type\":\"ACCEPT\",\"accept\":{\"offer_ids\":[{\"value\":\"%s\"}],\"operations\":["
        "{\"type\":\"UNRESERVE\",\"unreserve\":{\"resources\":" WEB_CPUS(1) "}}],"
        "\"filters\":{\"refuse_seconds\":0}}}", o->id->value);
    assert_int_equal(h_sched_call(s, call, NULL), 202);
    free(call);
    pb_free(ev);
    o = next_offer(s, &ev);
    assert_true(offer_scalar(o, "cpus", "web") == 0.0);
    assert_true(offer_scalar(o, "cpus", NULL) == 2.0);
    pb_free(ev);
    assert_true(state_reserved(port, "web", "cpus") == 0.0);
}

static void reserve_for_a_foreign_role_is_dropped(void **state)
{
    struct fixture *f = start(state, master_flags, "cpus:2;mem:512");
    int port = f->c.master.port;
    struct h_sched *s = &f->s[0];
    assert_int_equal(h_sched_subscribe(s, port, WIRE_PROTOBUF,
                                       h_framework_json("db", "\"role\":\"db\"")), 200);
    Tepui__Scheduler__Event *ev;
    Tepui__Offer *o = next_offer(s, &ev);
    char *call = xasprintf(
        "{\"type\":\"ACCEPT\",\"accept\":{\"offer_ids\":[{\"value\":\"%s\"}],\"operations\":["
        "{\"type\":\"RESERVE\",\"id\":{\"value\":\"x\"},\"reserve\":{\"resources\":" WEB_CPUS(1)
        "}}],\"filters\":{\"refuse_seconds\":0}}}", o->id->value);
    assert_int_equal(h_sched_call(s, call, NULL), 202);
    free(call);
    pb_free(ev);
    ev = h_sched_next(s, EV(UPDATE_OPERATION_STATUS), 10);
    assert_non_null(ev);
    assert_int_equal(ev->update_operation_status->status->state,
                     TEPUI__OPERATION_STATE__OPERATION_ERROR);
    assert_non_null(strstr(ev->update_operation_status->status->message, "roles"));
    pb_free(ev);
    o = next_offer(s, &ev);
    assert_true(offer_scalar(o, "cpus", NULL) == 2.0);
    pb_free(ev);
    assert_true(state_reserved(port, "web", "cpus") == 0.0);
}

/* ---- the operator ---- */

static void operator_reserve_and_unreserve_in_every_form(void **state)
{
    struct fixture *f = start(state, master_flags, "cpus:4;mem:1024");
    int port = f->c.master.port;
    char body[1024];

    /* v1 JSON. */
    char *json = xasprintf("{\"type\":\"RESERVE_RESOURCES\",\"reserve_resources\":{\"agent_id\":"
                           "{\"value\":\"%s\"},\"resources\":" WEB_CPUS(2) "}}", f->agent_id);
    assert_int_equal(operator_status(port, json, body, sizeof(body)), 202);
    free(json);
    assert_true(state_reserved(port, "web", "cpus") == 2.0);

    /* v1 protobuf: UNRESERVE one of them. */
    Tepui__Master__Call call = TEPUI__MASTER__CALL__INIT;
    Tepui__Master__Call__UnreserveResources ur = TEPUI__MASTER__CALL__UNRESERVE_RESOURCES__INIT;
    Tepui__AgentID aid = TEPUI__AGENT_ID__INIT;
    Tepui__Resource res = TEPUI__RESOURCE__INIT;
    Tepui__Value__Scalar one = TEPUI__VALUE__SCALAR__INIT;
    Tepui__Resource__ReservationInfo ri = TEPUI__RESOURCE__RESERVATION_INFO__INIT;
    Tepui__Resource__ReservationInfo *stack[1] = {&ri};
    Tepui__Resource *list[1] = {&res};
    aid.value = f->agent_id;
    one.value = 1;
    ri.has_type = 1;
    ri.type = TEPUI__RESOURCE__RESERVATION_INFO__TYPE__DYNAMIC;
    ri.role = "web";
    ri.principal = "ops";
    res.name = "cpus";
    res.type = TEPUI__VALUE__TYPE__SCALAR;
    res.scalar = &one;
    res.n_reservations = 1;
    res.reservations = stack;
    ur.agent_id = &aid;
    ur.n_resources = 1;
    ur.resources = list;
    call.has_type = 1;
    call.type = TEPUI__MASTER__CALL__TYPE__UNRESERVE_RESOURCES;
    call.unreserve_resources = &ur;
    size_t len = protobuf_c_message_get_packed_size(&call.base);
    uint8_t *packed = malloc(len);
    protobuf_c_message_pack(&call.base, packed);
    struct h_response r = {0};
    assert_int_equal(h_http(port, "POST", "/api/v1", "Content-Type: application/x-protobuf\r\n",
                            packed, len, &r), 0);
    assert_int_equal(r.status, 202);
    h_response_free(&r);
    free(packed);
    assert_true(state_reserved(port, "web", "cpus") == 1.0);

    /* Classic endpoints: form-encoded slaveId and a JSON array. */
    char *form = xasprintf("slaveId=%s&resources=%s", f->agent_id,
                           "%5B%7B%22name%22%3A%22cpus%22%2C%22type%22%3A%22SCALAR%22%2C%22scalar"
                           "%22%3A%7B%22value%22%3A1%7D%2C%22role%22%3A%22web%22%2C%22reservation"
                           "%22%3A%7B%22principal%22%3A%22ops%22%7D%7D%5D");
    assert_int_equal(form_post(port, "/master/reserve", form), 202);
    assert_true(state_reserved(port, "web", "cpus") == 2.0);
    assert_int_equal(form_post(port, "/unreserve", form), 202);
    assert_int_equal(form_post(port, "/unreserve", form), 202);
    assert_true(state_reserved(port, "web", "cpus") == 0.0);
    /* Nothing left to unreserve: 409. */
    assert_int_equal(form_post(port, "/unreserve", form), 409);
    free(form);

    /* GET_AGENTS shows the reservation in the total. */
    json = xasprintf("{\"type\":\"RESERVE_RESOURCES\",\"reserve_resources\":{\"agent_id\":"
                     "{\"value\":\"%s\"},\"resources\":" WEB_CPUS(3) "}}", f->agent_id);
    assert_int_equal(operator_status(port, json, body, sizeof(body)), 202);
    free(json);
    assert_int_equal(operator_call(port, "{\"type\":\"GET_AGENTS\"}", &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"role\":\"web\""));
    h_response_free(&r);
}

static void operator_bad_requests_are_refused(void **state)
{
    struct fixture *f = start(state, master_flags, "cpus:2;mem:512");
    int port = f->c.master.port;
    char body[1024];
    char *json;

    /* More than the agent has: 409. */
    json = xasprintf("{\"type\":\"RESERVE_RESOURCES\",\"reserve_resources\":{\"agent_id\":"
                     "{\"value\":\"%s\"},\"resources\":" WEB_CPUS(8) "}}", f->agent_id);
    assert_int_equal(operator_status(port, json, body, sizeof(body)), 409);
    assert_non_null(strstr(body, "not available"));
    free(json);
    /* An unknown agent: 400. */
    assert_int_equal(operator_status(port, "{\"type\":\"RESERVE_RESOURCES\",\"reserve_resources\":"
                                           "{\"agent_id\":{\"value\":\"nope\"},\"resources\":"
                                           WEB_CPUS(1) "}}", body, sizeof(body)), 400);
    assert_non_null(strstr(body, "No agent"));
    /* An invalid role: 400. */
    json = xasprintf("{\"type\":\"RESERVE_RESOURCES\",\"reserve_resources\":{\"agent_id\":"
                     "{\"value\":\"%s\"},\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\","
                     "\"scalar\":{\"value\":1},\"reservations\":[{\"type\":\"DYNAMIC\","
                     "\"role\":\"-bad\"}]}]}}", f->agent_id);
    assert_int_equal(operator_status(port, json, body, sizeof(body)), 400);
    free(json);
    /* No reservation at all: 400. */
    json = xasprintf("{\"type\":\"RESERVE_RESOURCES\",\"reserve_resources\":{\"agent_id\":"
                     "{\"value\":\"%s\"},\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\","
                     "\"scalar\":{\"value\":1}}]}}", f->agent_id);
    assert_int_equal(operator_status(port, json, body, sizeof(body)), 400);
    free(json);
    /* Unreserving what is not reserved: 409. */
    json = xasprintf("{\"type\":\"UNRESERVE_RESOURCES\",\"unreserve_resources\":{\"agent_id\":"
                     "{\"value\":\"%s\"},\"resources\":" WEB_CPUS(1) "}}", f->agent_id);
    assert_int_equal(operator_status(port, json, body, sizeof(body)), 409);
    free(json);
    /* Missing fields. */
    assert_int_equal(operator_status(port, "{\"type\":\"RESERVE_RESOURCES\"}", body,
                                     sizeof(body)), 400);
    /* Classic endpoint mistakes. */
    assert_int_equal(form_post(port, "/reserve", "resources=%5B%5D"), 400);
    char *form = xasprintf("slaveId=%s&resources=%%7Bnot-json", f->agent_id);
    assert_int_equal(form_post(port, "/reserve", form), 400);
    free(form);
    form = xasprintf("slaveId=%s", f->agent_id);
    assert_int_equal(form_post(port, "/reserve", form), 400);
    free(form);
    struct h_response r = {0};
    assert_int_equal(h_http(port, "GET", "/reserve", "", NULL, 0, &r), 0);
    assert_int_equal(r.status, 405);
    h_response_free(&r);
    /* Nothing changed, and the master is still fine. */
    assert_true(state_reserved(port, "web", "cpus") == 0.0);
}

/* ---- restarts ---- */

static const char *const sqlite_flags[] = {"--allocation_interval=50ms", "--registry=sqlite",
                                           NULL};

static void reservations_survive_master_and_agent_restarts(void **state)
{
    struct fixture *f = start(state, sqlite_flags, "cpus:2;mem:512");
    int port = f->c.master.port;
    char *json = xasprintf("{\"type\":\"RESERVE_RESOURCES\",\"reserve_resources\":{\"agent_id\":"
                           "{\"value\":\"%s\"},\"resources\":" WEB_CPUS(1) "}}", f->agent_id);
    assert_int_equal(operator_status(port, json, NULL, 0), 202);
    free(json);
    struct reserved_wait w = {port, "web", 1.0};
    assert_true(h_wait_until(reserved_is, &w, 5));

    /* The master fails over: the agent brings its reservation back. */
    h_restart_master(&f->c, SIGKILL, sqlite_flags);
    assert_true(h_wait_until(reserved_is, &w, 15));

    /* The agent restarts: its checkpoint keeps it. */
    h_stop(&f->c.agents[0], SIGTERM);
    assert_int_equal(h_restart_agent(&f->c, 0, "cpus:2;mem:512", NULL), 0);
    assert_true(h_wait_until(reserved_is, &w, 15));

    /* And the reservation is still offered to its role. */
    assert_int_equal(h_sched_subscribe(&f->s[0], port, WIRE_JSON,
                                       h_framework_json("web", "\"role\":\"web\"")), 200);
    Tepui__Scheduler__Event *ev;
    Tepui__Offer *o = next_offer(&f->s[0], &ev);
    assert_true(offer_scalar(o, "cpus", "web") == 1.0);
    assert_true(offer_scalar(o, "cpus", NULL) == 1.0);
    decline(&f->s[0], o);
    pb_free(ev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(static_reservation_is_offered_only_to_its_role, teardown),
        cmocka_unit_test_teardown(offer_reserve_then_unreserve, teardown),
        cmocka_unit_test_teardown(reserve_for_a_foreign_role_is_dropped, teardown),
        cmocka_unit_test_teardown(operator_reserve_and_unreserve_in_every_form, teardown),
        cmocka_unit_test_teardown(operator_bad_requests_are_refused, teardown),
        cmocka_unit_test_teardown(reservations_survive_master_and_agent_restarts, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
