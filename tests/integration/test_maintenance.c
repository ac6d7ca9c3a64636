/* Maintenance and draining against a real master, agents and a scheduler:
 * the schedule in both encodings and through the classic endpoints, bad
 * schedules and machine lists, inverse offers and their answers in the
 * maintenance status, unavailability on offers, machines going DOWN and UP,
 * the schedule surviving a master restart, DRAIN_AGENT (with and without
 * mark_gone), DEACTIVATE_AGENT and REACTIVATE_AGENT. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "common/xalloc.h"
#include "harness.h"
#include "master.pb-c.h"
#include "wire/json.h"
#include "wire/pb.h"

#define EV(x) TEPUI__SCHEDULER__EVENT__TYPE__##x
#define ST(x) TEPUI__TASK_STATE__TASK_##x

#define HOST "maint-a.example"
#define MACHINE "{\"hostname\":\"" HOST "\",\"ip\":\"127.0.0.1\"}"
/* 2015-10-03, in the past: Mesos accepts unavailability that has begun. */
#define UNAVAILABILITY(start) \
    "{\"start\":{\"nanoseconds\":" start "},\"duration\":{\"nanoseconds\":3600000000000}}"
#define SCHEDULE_OF(machines, start) \
    "{\"windows\":[{\"machine_ids\":[" machines "],\"unavailability\":" UNAVAILABILITY(start) "}]}"
#define START_1 "1443830400000000000"
#define START_2 "1443834000000000000"

static const char *const agent_flags[] = {"--hostname=" HOST, NULL};
static const char *const master_flags[] = {"--allocation_interval=100ms", "--registry=sqlite",
                                           NULL};
static const char *const half_cpu =
    "[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":0.5}},"
    "{\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":{\"value\":32}}]";

struct fixture {
    struct h_cluster c;
    struct h_sched s;
    char agent_id[256];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    h_cluster_init(&f->c);
    h_start_master(&f->c, master_flags);
    h_start_agent(&f->c, NULL, agent_flags);
    f->s.fd = -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    if (f->s.fd >= 0)
        h_sched_close(&f->s);
    h_cluster_destroy(&f->c);
    free(f);
    return 0;
}

/* ---- the operator API ---- */

static const char *media(enum wire_format fmt)
{
    return fmt == WIRE_PROTOBUF ? WIRE_MEDIA_PROTOBUF : WIRE_MEDIA_JSON;
}

/* Posts a call given as JSON, sent in fmt; returns the status, out (may be
 * NULL) gets the response. */
static int operator_call(int port, enum wire_format fmt, const char *call_json,
                         struct h_response *out)
{
    struct buf body = BUF_INIT;
    if (fmt == WIRE_JSON) {
        buf_append_str(&body, call_json);
    } else {
        struct error err = {0};
        ProtobufCMessage *m = wire_json_decode(&tepui__master__call__descriptor, call_json,
                                               strlen(call_json), &err);
        if (m == NULL)
            fprintf(stderr, "bad test call %s: %s\n", call_json, err.msg);
        assert_non_null(m);
        pb_pack_buf(m, &body);
        pb_free(m);
    }
    char headers[256];
    snprintf(headers, sizeof(headers), "Content-Type: %s\r\nAccept: %s\r\n", media(fmt),
             media(fmt));
    struct h_response r;
    assert_int_equal(h_http(port, "POST", "/api/v1", headers, body.data, body.len, &r), 0);
    buf_free(&body);
    int status = r.status;
    if (out != NULL)
        *out = r;
    else
        h_response_free(&r);
    return status;
}

static Tepui__Master__Response *operator_get(int port, const char *type, enum wire_format fmt)
{
    char call[128];
    snprintf(call, sizeof(call), "{\"type\":\"%s\"}", type);
    struct h_response r;
    assert_int_equal(operator_call(port, fmt, call, &r), 200);
    struct error err = {0};
    Tepui__Master__Response *resp = (Tepui__Master__Response *)wire_decode(
        &tepui__master__response__descriptor, fmt, r.body, r.len, &err);
    assert_non_null(resp);
    h_response_free(&r);
    return resp;
}

static void update_schedule(int port, enum wire_format fmt, const char *schedule)
{
    char *call = xasprintf("{\"type\":\"UPDATE_MAINTENANCE_SCHEDULE\","
                           "\"update_maintenance_schedule\":{\"schedule\":%s}}", schedule);
    struct h_response r;
    int status = operator_call(port, fmt, call, &r);
    if (status != 200)
        fprintf(stderr, "UPDATE_MAINTENANCE_SCHEDULE: %d %.*s\n", status, (int)r.len, r.body);
    assert_int_equal(status, 200);
    h_response_free(&r);
    free(call);
}

/* Sends a call and expects status with an error body containing needle. */
static void expect_refused(int port, const char *call, int status, const char *needle)
{
    struct h_response r;
    int got = operator_call(port, WIRE_JSON, call, &r);
    if (got != status || strstr(r.body ? r.body : "", needle) == NULL)
        fprintf(stderr, "%s -> %d %.*s (wanted %d '%s')\n", call, got, (int)r.len, r.body,
                status, needle);
    assert_int_equal(got, status);
    assert_non_null(strstr(r.body, needle));
    h_response_free(&r);
}

static int post_classic(int port, const char *path, const char *body, struct h_response *out)
{
    struct h_response r;
    assert_int_equal(h_http(port, "POST", path, "Content-Type: application/json\r\n", body,
                            strlen(body), &r), 0);
    int status = r.status;
    if (out != NULL)
        *out = r;
    else
        h_response_free(&r);
    return status;
}

static Tepui__Maintenance__ClusterStatus *maintenance_status(int port)
{
    Tepui__Master__Response *r = operator_get(port, "GET_MAINTENANCE_STATUS", WIRE_PROTOBUF);
    assert_non_null(r->get_maintenance_status);
    Tepui__Maintenance__ClusterStatus *cs =
        PB_COPY(Tepui__Maintenance__ClusterStatus, r->get_maintenance_status->status);
    pb_free(r);
    return cs;
}

static Tepui__Master__Response__GetAgents__Agent *find_agent(Tepui__Master__Response *r,
                                                           const char *id)
{
    for (size_t i = 0; i < r->get_agents->n_agents; i++)
        if (strcmp(r->get_agents->agents[i]->agent_info->id->value, id) == 0)
            return r->get_agents->agents[i];
    return NULL;
}

/* ---- a scheduler with one task ---- */

static void subscribe(struct fixture *f)
{
    assert_int_equal(h_sched_subscribe(&f->s, f->c.master.port, WIRE_PROTOBUF,
                                       h_framework_json("maint", NULL)),
                     200);
}

/* Subscribes and runs one long task on the agent. */
static void run_task(struct fixture *f, const char *task_id, const char *kill_policy)
{
    subscribe(f);
    Tepui__Scheduler__Event *ev = h_sched_next(&f->s, EV(OFFERS), 10);
    assert_non_null(ev);
    const Tepui__Offer *o = ev->offers->offers[0];
    snprintf(f->agent_id, sizeof(f->agent_id), "%s", o->agent_id->value);
    if (kill_policy == NULL) {
        assert_int_equal(h_sched_launch(&f->s, o, task_id, "sleep 600", half_cpu), 202);
    } else {
        char *call = xasprintf(
            "{\"type\":\"ACCEPT\",\"accept\":{\"offer_ids\":[{\"value\":\"%s\"}],"
            "\"operations\":[{\"type\":\"LAUNCH\",\"launch\":{\"task_infos\":[{"
            "\"name\":\"%s\",\"task_id\":{\"value\":\"%s\"},\"agent_id\":{\"value\":\"%s\"},"
            "\"resources\":%s,\"command\":{\"value\":\"trap '' TERM; sleep 600\"},"
            "\"kill_policy\":%s}]}}]}}",
            o->id->value, task_id, task_id, o->agent_id->value, half_cpu, kill_policy);
        assert_int_equal(h_sched_call(&f->s, call, NULL), 202);
        free(call);
    }
    pb_free(ev);
    Tepui__TaskStatus *st = h_sched_wait_state(&f->s, task_id, ST(RUNNING), 20);
    assert_non_null(st);
    pb_free(st);
}

static int pid_exited(pid_t pid)
{
    siginfo_t si;
    memset(&si, 0, sizeof(si));
    return waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid != 0;
}

static int agent_exited(void *arg)
{
    struct fixture *f = arg;
    return pid_exited(f->c.agents[0].pid);
}

/* Waits for agent 0 to exit by itself (refused by the master); it must
 * exit cleanly, as an agent told to shut down. */
static void expect_agent_exit(struct fixture *f)
{
    assert_true(h_wait_until(agent_exited, f, 20));
    int status = h_stop(&f->c.agents[0], SIGTERM);
    assert_true(WIFEXITED(status));
}

/* ---- tests ---- */

static void schedule_is_updated_and_read_in_json_protobuf_and_classic_endpoints(void **state)
{
    struct fixture *f = *state;
    int port = f->c.master.port;

    /* Empty at first, in both encodings and the classic endpoint. */
    Tepui__Master__Response *r = operator_get(port, "GET_MAINTENANCE_SCHEDULE", WIRE_JSON);
    assert_int_equal(r->get_maintenance_schedule->schedule->n_windows, 0);
    pb_free(r);
    json_t *j = h_get_json(port, "/maintenance/schedule");
    assert_true(json_is_object(j));
    json_decref(j);

    update_schedule(port, WIRE_JSON, SCHEDULE_OF(MACHINE ",{\"hostname\":\"other.example\"}",
                                                 START_1));
    r = operator_get(port, "GET_MAINTENANCE_SCHEDULE", WIRE_PROTOBUF);
    const Tepui__Maintenance__Schedule *s = r->get_maintenance_schedule->schedule;
    assert_int_equal(s->n_windows, 1);
    assert_int_equal(s->windows[0]->n_machine_ids, 2);
    assert_string_equal(s->windows[0]->machine_ids[0]->hostname, HOST);
    assert_string_equal(s->windows[0]->machine_ids[0]->ip, "127.0.0.1");
    assert_int_equal(s->windows[0]->unavailability->start->nanoseconds, 1443830400000000000LL);
    pb_free(r);

    /* Both machines are DRAINING. */
    Tepui__Maintenance__ClusterStatus *cs = maintenance_status(port);
    assert_int_equal(cs->n_draining_machines, 2);
    assert_int_equal(cs->n_down_machines, 0);
    pb_free(cs);

    /* The classic endpoint replaces it (protobuf update, classic read). */
    assert_int_equal(post_classic(port, "/maintenance/schedule",
                                  SCHEDULE_OF("{\"ip\":\"10.0.0.9\"}", START_2), NULL),
                     200);
    j = h_get_json(port, "/master/maintenance/schedule");
    json_t *ids = json_object_get(json_array_get(json_object_get(j, "windows"), 0), "machine_ids");
    assert_int_equal(json_array_size(ids), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(ids, 0), "ip")),
                        "10.0.0.9");
    json_decref(j);
    j = h_get_json(port, "/maintenance/status");
    assert_int_equal(json_array_size(json_object_get(j, "draining_machines")), 1);
    json_decref(j);

    /* An empty schedule cancels maintenance. */
    update_schedule(port, WIRE_PROTOBUF, "{}");
    cs = maintenance_status(port);
    assert_int_equal(cs->n_draining_machines, 0);
    pb_free(cs);
}

static void bad_schedules_and_machine_lists_are_refused_with_400(void **state)
{
    struct fixture *f = *state;
    int port = f->c.master.port;
#define UPDATE(s) \
    "{\"type\":\"UPDATE_MAINTENANCE_SCHEDULE\",\"update_maintenance_schedule\":{\"schedule\":" s "}}"
    expect_refused(port, UPDATE("{\"windows\":[{\"machine_ids\":[],\"unavailability\":"
                                UNAVAILABILITY(START_1) "}]}"),
                   400, "List of machines in the maintenance window is empty");
    expect_refused(port, UPDATE(SCHEDULE_OF("{}", START_1)), 400,
                   "Both 'hostname' and 'ip' for a machine are empty");
    expect_refused(port, UPDATE(SCHEDULE_OF("{\"ip\":\"300.1.2.3\"}", START_1)), 400,
                   "Invalid IP address");
    /* Hostnames are not case-sensitive. */
    expect_refused(port, UPDATE(SCHEDULE_OF("{\"hostname\":\"A.example\"},{\"hostname\":\"a.EXAMPLE\"}",
                                            START_1)),
                   400, "appears more than once in the schedule");
    expect_refused(port, UPDATE("{\"windows\":[{\"machine_ids\":[" MACHINE "],\"unavailability\":"
                                "{\"start\":{\"nanoseconds\":1},\"duration\":{\"nanoseconds\":-1}}}]}"),
                   400, "Unavailability 'duration' is negative");
    expect_refused(port, "{\"type\":\"START_MAINTENANCE\",\"start_maintenance\":{\"machines\":[]}}",
                   400, "List of machines is empty");
    expect_refused(port, "{\"type\":\"START_MAINTENANCE\",\"start_maintenance\":{\"machines\":["
                         MACHINE "]}}",
                   400, "is not part of a maintenance schedule");
    /* Nothing was changed by the refusals. */
    Tepui__Master__Response *r = operator_get(port, "GET_MAINTENANCE_SCHEDULE", WIRE_JSON);
    assert_int_equal(r->get_maintenance_schedule->schedule->n_windows, 0);
    pb_free(r);

    update_schedule(port, WIRE_JSON, SCHEDULE_OF(MACHINE, START_1));
    expect_refused(port, "{\"type\":\"STOP_MAINTENANCE\",\"stop_maintenance\":{\"machines\":["
                         MACHINE "]}}",
                   400, "is not in DOWN mode and cannot be brought up");
    assert_int_equal(post_classic(port, "/machine/down", "[" MACHINE "]", NULL), 200);
    expect_refused(port, "{\"type\":\"START_MAINTENANCE\",\"start_maintenance\":{\"machines\":["
                         MACHINE "]}}",
                   400, "is not in DRAINING mode and cannot be brought down");
    expect_refused(port, UPDATE("{}"), 400, "is deactivated and cannot be removed from the schedule");

    struct h_response resp;
    assert_int_equal(post_classic(port, "/machine/up", "{\"hostname\":\"x\"}", &resp), 400);
    assert_non_null(strstr(resp.body, "array"));
    h_response_free(&resp);
    assert_int_equal(post_classic(port, "/machine/up", "[{\"hostname\":", NULL), 400);
    assert_int_equal(post_classic(port, "/maintenance/schedule", "{\"windows\":[{}]}", NULL), 400);
    assert_int_equal(h_http(port, "GET", "/machine/down", NULL, NULL, 0, &resp), 0);
    assert_int_equal(resp.status, 405);
    h_response_free(&resp);
    /* The agent of the DOWN machine exited: told to shut down. */
    expect_agent_exit(f);
#undef UPDATE
}

static void inverse_offers_are_answered_and_shown_in_the_maintenance_status(void **state)
{
    struct fixture *f = *state;
    int port = f->c.master.port;
    run_task(f, "t1", NULL);
    update_schedule(port, WIRE_JSON, SCHEDULE_OF(MACHINE, START_1));

    Tepui__Scheduler__Event *ev = h_sched_next(&f->s, EV(INVERSE_OFFERS), 10);
    assert_non_null(ev);
    assert_int_equal(ev->inverse_offers->n_inverse_offers, 1);
    const Tepui__InverseOffer *io = ev->inverse_offers->inverse_offers[0];
    assert_string_equal(io->agent_id->value, f->agent_id);
    assert_string_equal(io->framework_id->value, f->s.framework_id);
    assert_int_equal(io->unavailability->start->nanoseconds, 1443830400000000000LL);
    char id[256];
    snprintf(id, sizeof(id), "%s", io->id->value);
    pb_free(ev);

    /* Declined, with a short filter: the status shows it. */
    char call[512];
    snprintf(call, sizeof(call),
             "{\"type\":\"DECLINE_INVERSE_OFFERS\",\"decline_inverse_offers\":{"
             "\"inverse_offer_ids\":[{\"value\":\"%s\"}],\"filters\":{\"refuse_seconds\":0.2}}}",
             id);
    assert_int_equal(h_sched_call(&f->s, call, NULL), 202);
    Tepui__Maintenance__ClusterStatus *cs = maintenance_status(port);
    assert_int_equal(cs->n_draining_machines, 1);
    assert_int_equal(cs->draining_machines[0]->n_statuses, 1);
    const Tepui__Allocator__InverseOfferStatus *st = cs->draining_machines[0]->statuses[0];
    assert_int_equal(st->status, TEPUI__ALLOCATOR__INVERSE_OFFER_STATUS__STATUS__DECLINE);
    assert_string_equal(st->framework_id->value, f->s.framework_id);
    pb_free(cs);

    /* Asked again once the filter expires; accepted this time. */
    ev = h_sched_next(&f->s, EV(INVERSE_OFFERS), 10);
    assert_non_null(ev);
    snprintf(id, sizeof(id), "%s", ev->inverse_offers->inverse_offers[0]->id->value);
    pb_free(ev);
    snprintf(call, sizeof(call),
             "{\"type\":\"ACCEPT_INVERSE_OFFERS\",\"accept_inverse_offers\":{"
             "\"inverse_offer_ids\":[{\"value\":\"%s\"}],\"filters\":{\"refuse_seconds\":0.2}}}",
             id);
    assert_int_equal(h_sched_call(&f->s, call, NULL), 202);
    cs = maintenance_status(port);
    assert_int_equal(cs->draining_machines[0]->statuses[0]->status,
                     TEPUI__ALLOCATOR__INVERSE_OFFER_STATUS__STATUS__ACCEPT);
    pb_free(cs);

    /* A new inverse offer is outstanding; a new schedule rescinds it. */
    ev = h_sched_next(&f->s, EV(INVERSE_OFFERS), 10);
    assert_non_null(ev);
    snprintf(id, sizeof(id), "%s", ev->inverse_offers->inverse_offers[0]->id->value);
    pb_free(ev);
    update_schedule(port, WIRE_PROTOBUF, SCHEDULE_OF(MACHINE, START_2));
    ev = h_sched_next(&f->s, EV(RESCIND_INVERSE_OFFER), 10);
    assert_non_null(ev);
    assert_string_equal(ev->rescind_inverse_offer->inverse_offer_id->value, id);
    pb_free(ev);
    /* What was said about the old schedule is forgotten. */
    cs = maintenance_status(port);
    assert_int_equal(cs->draining_machines[0]->n_statuses, 0);
    pb_free(cs);
    ev = h_sched_next(&f->s, EV(INVERSE_OFFERS), 10);
    assert_non_null(ev);
    assert_int_equal(ev->inverse_offers->inverse_offers[0]->unavailability->start->nanoseconds,
                     1443834000000000000LL);
    pb_free(ev);
    /* A stale id is ignored (202, as Mesos). */
    assert_int_equal(h_sched_call(&f->s, call, NULL), 202);
}

static void offers_of_a_draining_machine_carry_its_unavailability(void **state)
{
    struct fixture *f = *state;
    subscribe(f);
    Tepui__Scheduler__Event *ev = h_sched_next(&f->s, EV(OFFERS), 10);
    assert_non_null(ev);
    assert_null(ev->offers->offers[0]->unavailability);
    pb_free(ev);
    /* The outstanding offer is rescinded and made again with it. */
    update_schedule(f->c.master.port, WIRE_JSON, SCHEDULE_OF("{\"hostname\":\"MAINT-A.example\"}",
                                                             START_1));
    ev = h_sched_next(&f->s, EV(RESCIND), 10);
    assert_non_null(ev);
    pb_free(ev);
    ev = h_sched_next(&f->s, EV(OFFERS), 10);
    assert_non_null(ev);
    const Tepui__Unavailability *u = ev->offers->offers[0]->unavailability;
    assert_non_null(u);
    assert_int_equal(u->start->nanoseconds, 1443830400000000000LL);
    assert_int_equal(u->duration->nanoseconds, 3600000000000LL);
    pb_free(ev);
}

static int agent_listed(void *arg)
{
    struct fixture *f = arg;
    json_t *j = h_get_json(f->c.master.port, "/state");
    int n = (int)json_array_size(json_object_get(j, "slaves"));
    json_decref(j);
    return n == 1;
}

static void machine_down_removes_its_agent_and_up_lets_it_register_again(void **state)
{
    struct fixture *f = *state;
    int port = f->c.master.port;
    run_task(f, "t1", NULL);
    update_schedule(port, WIRE_JSON, SCHEDULE_OF(MACHINE, START_1));
    assert_int_equal(operator_call(port, WIRE_PROTOBUF,
                                   "{\"type\":\"START_MAINTENANCE\",\"start_maintenance\":{"
                                   "\"machines\":[" MACHINE "]}}",
                                   NULL),
                     200);
    Tepui__TaskStatus *st = h_sched_wait_state(&f->s, "t1", ST(LOST), 10);
    assert_non_null(st);
    assert_int_equal(st->reason, TEPUI__TASK_STATUS__REASON__REASON_AGENT_REMOVED);
    pb_free(st);
    expect_agent_exit(f);
    Tepui__Maintenance__ClusterStatus *cs = maintenance_status(port);
    assert_int_equal(cs->n_draining_machines, 0);
    assert_int_equal(cs->n_down_machines, 1);
    assert_string_equal(cs->down_machines[0]->hostname, HOST);
    pb_free(cs);
    json_t *j = h_get_json(port, "/state");
    assert_int_equal(json_array_size(json_object_get(j, "slaves")), 0);
    json_decref(j);

    /* Refused while its machine is DOWN: it exits again. */
    if (h_restart_agent(&f->c, 0, NULL, agent_flags) == 0)
        expect_agent_exit(f);
    else
        h_stop(&f->c.agents[0], SIGTERM);
    assert_true(h_log_count(&f->c.master, "Machine is DOWN") >= 1);

    /* UP: out of the schedule, and the agent registers. */
    assert_int_equal(post_classic(port, "/machine/up", "[" MACHINE "]", NULL), 200);
    Tepui__Master__Response *r = operator_get(port, "GET_MAINTENANCE_SCHEDULE", WIRE_JSON);
    assert_int_equal(r->get_maintenance_schedule->schedule->n_windows, 0);
    pb_free(r);
    assert_int_equal(h_restart_agent(&f->c, 0, NULL, agent_flags), 0);
    assert_true(h_wait_until(agent_listed, f, 20));
}

static int agent_drain_state(struct fixture *f, int *deactivated)
{
    Tepui__Master__Response *r = operator_get(f->c.master.port, "GET_AGENTS", WIRE_JSON);
    Tepui__Master__Response__GetAgents__Agent *a = find_agent(r, f->agent_id);
    int state = -1;
    if (a != NULL) {
        state = a->drain_info != NULL ? (int)a->drain_info->state : 0;
        if (deactivated != NULL)
            *deactivated = a->has_deactivated && a->deactivated;
    }
    pb_free(r);
    return state;
}

static int drained(void *arg)
{
    return agent_drain_state(arg, NULL) == TEPUI__DRAIN_STATE__DRAINED;
}

static int agent_gone(void *arg)
{
    return agent_drain_state(arg, NULL) == -1;
}

static int agent_reregistered(void *arg)
{
    struct fixture *f = arg;
    return agent_drain_state(f, NULL) != -1;
}

static void schedule_and_down_machines_survive_a_master_restart(void **state)
{
    struct fixture *f = *state;
    int port = f->c.master.port;
    update_schedule(port, WIRE_JSON,
                    "{\"windows\":[{\"machine_ids\":[" MACHINE "],\"unavailability\":"
                    UNAVAILABILITY(START_1) "},{\"machine_ids\":[{\"hostname\":\"b.example\"}],"
                    "\"unavailability\":" UNAVAILABILITY(START_2) "}]}");
    assert_int_equal(post_classic(port, "/machine/down", "[{\"hostname\":\"b.example\"}]", NULL),
                     200);
    /* A deactivated agent stays so when it re-registers with the new master. */
    Tepui__Master__Response *r = operator_get(port, "GET_AGENTS", WIRE_JSON);
    assert_int_equal(r->get_agents->n_agents, 1);
    snprintf(f->agent_id, sizeof(f->agent_id), "%s",
             r->get_agents->agents[0]->agent_info->id->value);
    pb_free(r);
    char call[512];
    snprintf(call, sizeof(call),
             "{\"type\":\"DEACTIVATE_AGENT\",\"deactivate_agent\":{\"agent_id\":{\"value\":\"%s\"}}}",
             f->agent_id);
    assert_int_equal(operator_call(port, WIRE_JSON, call, NULL), 200);
    h_restart_master(&f->c, SIGTERM, master_flags);
    assert_true(h_wait_until(agent_reregistered, f, 20));
    int deactivated = 0;
    assert_int_equal(agent_drain_state(f, &deactivated), 0);
    assert_true(deactivated);
    json_t *j = h_get_json(port, "/state");
    assert_int_equal(json_integer_value(json_object_get(j, "deactivated_slaves")), 1);
    json_decref(j);

    r = operator_get(port, "GET_MAINTENANCE_SCHEDULE", WIRE_PROTOBUF);
    const Tepui__Maintenance__Schedule *s = r->get_maintenance_schedule->schedule;
    assert_int_equal(s->n_windows, 2);
    assert_string_equal(s->windows[1]->machine_ids[0]->hostname, "b.example");
    assert_int_equal(s->windows[1]->unavailability->start->nanoseconds, 1443834000000000000LL);
    pb_free(r);
    Tepui__Maintenance__ClusterStatus *cs = maintenance_status(port);
    assert_int_equal(cs->n_draining_machines, 1);
    assert_string_equal(cs->draining_machines[0]->id->hostname, HOST);
    assert_int_equal(cs->n_down_machines, 1);
    assert_string_equal(cs->down_machines[0]->hostname, "b.example");
    pb_free(cs);
}

static void drain_agent_kills_tasks_within_the_grace_and_reaches_drained(void **state)
{
    struct fixture *f = *state;
    /* The task ignores SIGTERM and asks for 60 s: only the cap ends it soon. */
    run_task(f, "t1", "{\"grace_period\":{\"nanoseconds\":60000000000}}");
    char call[512];
    snprintf(call, sizeof(call),
             "{\"type\":\"DRAIN_AGENT\",\"drain_agent\":{\"agent_id\":{\"value\":\"%s\"},"
             "\"max_grace_period\":{\"seconds\":1}}}",
             f->agent_id);
    assert_int_equal(operator_call(f->c.master.port, WIRE_PROTOBUF, call, NULL), 200);
    int deactivated = 0;
    assert_int_equal(agent_drain_state(f, &deactivated), TEPUI__DRAIN_STATE__DRAINING);
    assert_true(deactivated);
    Tepui__TaskStatus *st = h_sched_wait_state(&f->s, "t1", ST(KILLED), 20);
    assert_non_null(st);
    /* The agent says why, as Mesos's agent does while it drains. */
    assert_true(st->has_reason);
    assert_int_equal(st->reason, TEPUI__TASK_STATUS__REASON__REASON_AGENT_DRAINING);
    pb_free(st);
    assert_true(h_wait_until(drained, f, 10));
    /* Drained agents get no offers. */
    assert_int_equal(h_sched_call(&f->s, "{\"type\":\"REVIVE\"}", NULL), 202);
    Tepui__Scheduler__Event *ev = h_sched_next(&f->s, EV(OFFERS), 1);
    assert_null(ev);
}

static void drain_agent_with_mark_gone_marks_it_gone_once_drained(void **state)
{
    struct fixture *f = *state;
    run_task(f, "t1", NULL);
    char call[512];
    snprintf(call, sizeof(call),
             "{\"type\":\"DRAIN_AGENT\",\"drain_agent\":{\"agent_id\":{\"value\":\"%s\"},"
             "\"mark_gone\":true}}",
             f->agent_id);
    assert_int_equal(operator_call(f->c.master.port, WIRE_JSON, call, NULL), 200);
    /* With mark_gone the killed task is gone by the operator (Mesos). */
    Tepui__TaskStatus *st = h_sched_wait_state(&f->s, "t1", ST(GONE_BY_OPERATOR), 20);
    assert_non_null(st);
    assert_int_equal(st->reason, TEPUI__TASK_STATUS__REASON__REASON_AGENT_DRAINING);
    pb_free(st);
    assert_true(h_wait_until(agent_gone, f, 10));
    expect_agent_exit(f);
    /* Gone for good: draining it again is refused. */
    expect_refused(f->c.master.port, call, 400, "marked gone");
}

/* Takes the next offer, declines it; the start of its unavailability, 0
 * when it has none. */
static int64_t next_offer_unavailable(struct fixture *f)
{
    Tepui__Scheduler__Event *ev = h_sched_next(&f->s, EV(OFFERS), 10);
    assert_non_null(ev);
    const Tepui__Offer *o = ev->offers->offers[0];
    int64_t has = o->unavailability != NULL ? o->unavailability->start->nanoseconds : 0;
    char *call = xasprintf("{\"type\":\"DECLINE\",\"decline\":{\"offer_ids\":[{\"value\":"
                           "\"%s\"}],\"filters\":{\"refuse_seconds\":0}}}", o->id->value);
    assert_int_equal(h_sched_call(&f->s, call, NULL), 202);
    free(call);
    pb_free(ev);
    return has;
}

static void machine_ids_match_agents_on_the_fields_they_give(void **state)
{
    struct fixture *f = *state;
    subscribe(f);
    assert_false(next_offer_unavailable(f));
    /* Hostname and IP given: both must match; the IP here does not. */
    update_schedule(f->c.master.port, WIRE_JSON,
                    SCHEDULE_OF("{\"hostname\":\"" HOST "\",\"ip\":\"10.9.9.9\"}", START_1));
    assert_false(next_offer_unavailable(f));
    /* Only the IP given: it alone matches. */
    update_schedule(f->c.master.port, WIRE_JSON,
                    SCHEDULE_OF("{\"ip\":\"127.0.0.1\"}", START_1));
    int seen = 0;
    for (int i = 0; i < 5 && !seen; i++)
        seen = next_offer_unavailable(f) == 1443830400000000000LL;
    assert_true(seen);
    /* Both given and both matching (the hostname without regard to case). */
    update_schedule(f->c.master.port, WIRE_JSON,
                    SCHEDULE_OF("{\"hostname\":\"Maint-A.example\",\"ip\":\"127.0.0.1\"}",
                                START_2));
    seen = 0;
    for (int i = 0; i < 5 && !seen; i++)
        seen = next_offer_unavailable(f) == 1443834000000000000LL;
    assert_true(seen);
}

static void deactivate_stops_offers_and_reactivate_resumes_them(void **state)
{
    struct fixture *f = *state;
    int port = f->c.master.port;
    subscribe(f);
    Tepui__Scheduler__Event *ev = h_sched_next(&f->s, EV(OFFERS), 10);
    assert_non_null(ev);
    snprintf(f->agent_id, sizeof(f->agent_id), "%s", ev->offers->offers[0]->agent_id->value);
    pb_free(ev);

    char call[512];
    snprintf(call, sizeof(call),
             "{\"type\":\"REACTIVATE_AGENT\",\"reactivate_agent\":{\"agent_id\":{\"value\":\"%s\"}}}",
             f->agent_id);
    expect_refused(port, call, 400, "is not deactivated");

    snprintf(call, sizeof(call),
             "{\"type\":\"DEACTIVATE_AGENT\",\"deactivate_agent\":{\"agent_id\":{\"value\":\"%s\"}}}",
             f->agent_id);
    assert_int_equal(operator_call(port, WIRE_JSON, call, NULL), 200);
    ev = h_sched_next(&f->s, EV(RESCIND), 10);
    assert_non_null(ev);
    pb_free(ev);
    int deactivated = 0;
    assert_int_equal(agent_drain_state(f, &deactivated), 0);
    assert_true(deactivated);
    assert_int_equal(h_sched_call(&f->s, "{\"type\":\"REVIVE\"}", NULL), 202);
    assert_null(h_sched_next(&f->s, EV(OFFERS), 1));

    snprintf(call, sizeof(call),
             "{\"type\":\"REACTIVATE_AGENT\",\"reactivate_agent\":{\"agent_id\":{\"value\":\"%s\"}}}",
             f->agent_id);
    assert_int_equal(operator_call(port, WIRE_PROTOBUF, call, NULL), 200);
    ev = h_sched_next(&f->s, EV(OFFERS), 10);
    assert_non_null(ev);
    pb_free(ev);
    assert_int_equal(agent_drain_state(f, &deactivated), 0);
    assert_false(deactivated);
}

static void draining_calls_for_unknown_agents_are_refused(void **state)
{
    struct fixture *f = *state;
    int port = f->c.master.port;
    expect_refused(port,
                   "{\"type\":\"DRAIN_AGENT\",\"drain_agent\":{\"agent_id\":{\"value\":\"nope\"}}}",
                   404, "not found");
    expect_refused(port,
                   "{\"type\":\"DEACTIVATE_AGENT\",\"deactivate_agent\":{\"agent_id\":"
                   "{\"value\":\"nope\"}}}",
                   404, "not found");
    expect_refused(port, "{\"type\":\"DRAIN_AGENT\"}", 400, "drain_agent");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            schedule_is_updated_and_read_in_json_protobuf_and_classic_endpoints, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_schedules_and_machine_lists_are_refused_with_400,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            inverse_offers_are_answered_and_shown_in_the_maintenance_status, setup, teardown),
        cmocka_unit_test_setup_teardown(offers_of_a_draining_machine_carry_its_unavailability,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            machine_down_removes_its_agent_and_up_lets_it_register_again, setup, teardown),
        cmocka_unit_test_setup_teardown(schedule_and_down_machines_survive_a_master_restart, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            drain_agent_kills_tasks_within_the_grace_and_reaches_drained, setup, teardown),
        cmocka_unit_test_setup_teardown(drain_agent_with_mark_gone_marks_it_gone_once_drained,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(deactivate_stops_offers_and_reactivate_resumes_them, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(machine_ids_match_agents_on_the_fields_they_give, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(draining_calls_for_unknown_agents_are_refused, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
