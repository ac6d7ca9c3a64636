/* The v1 scheduler API against a real master and agent: subscription in
 * both encodings, offers, declines with filters, suppress and revive,
 * reconciliation, teardown, and every malformed request answered with the
 * status code Mesos gives. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "wire/pb.h"

struct fixture {
    struct h_cluster c;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    h_cluster_init(&f->c);
    h_start_master(&f->c, NULL);
    h_start_agent(&f->c, NULL, NULL);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    h_cluster_destroy(&f->c);
    free(f);
    return 0;
}

static int post(int port, const char *headers, const char *body, struct h_response *r)
{
    int rc = h_http(port, "POST", "/api/v1/scheduler", headers, body, body ? strlen(body) : 0, r);
    assert_int_equal(rc, 0);
    return r->status;
}

static void subscribe_json_gives_subscribed_and_stream_id(void **state)
{
    struct fixture *f = *state;
    struct h_sched s;
    assert_int_equal(h_sched_subscribe(&s, f->c.master.port, WIRE_JSON, h_framework_json("t", NULL)),
                     200);
    assert_true(strlen(s.stream_id) > 0);
    assert_true(strlen(s.framework_id) > 0);
    h_sched_close(&s);
}

static void subscribed_is_followed_by_a_heartbeat_at_once(void **state)
{
    struct fixture *f = *state;
    struct h_sched s;
    assert_int_equal(
        h_sched_subscribe(&s, f->c.master.port, WIRE_PROTOBUF, h_framework_json("t", NULL)), 200);
    /* As in Mesos, whose heartbeater sends one at once: the next event, long
     * before the interval (15 s) passed. */
    Tepui__Scheduler__Event *ev = h_sched_next(&s, 0, 5);
    assert_non_null(ev);
    assert_int_equal(ev->type, TEPUI__SCHEDULER__EVENT__TYPE__HEARTBEAT);
    pb_free(ev);
    h_sched_close(&s);
}

static void subscribe_protobuf_gets_offers_of_the_agent(void **state)
{
    struct fixture *f = *state;
    struct h_sched s;
    assert_int_equal(
        h_sched_subscribe(&s, f->c.master.port, WIRE_PROTOBUF, h_framework_json("t", NULL)), 200);
    Tepui__Scheduler__Event *ev = h_sched_next(&s, TEPUI__SCHEDULER__EVENT__TYPE__OFFERS, 10);
    assert_non_null(ev);
    assert_int_equal(ev->offers->n_offers, 1);
    Tepui__Offer *o = ev->offers->offers[0];
    double cpus = 0;
    for (size_t i = 0; i < o->n_resources; i++)
        if (strcmp(o->resources[i]->name, "cpus") == 0)
            cpus = o->resources[i]->scalar->value;
    assert_true(cpus > 3.99 && cpus < 4.01);
    assert_string_equal(o->framework_id->value, s.framework_id);
    pb_free(ev);
    h_sched_close(&s);
}

static void declined_offer_is_filtered_until_revive(void **state)
{
    struct fixture *f = *state;
    struct h_sched s;
    h_sched_subscribe(&s, f->c.master.port, WIRE_JSON, h_framework_json("t", NULL));
    Tepui__Scheduler__Event *ev = h_sched_next(&s, TEPUI__SCHEDULER__EVENT__TYPE__OFFERS, 10);
    assert_non_null(ev);
    char call[512];
    snprintf(call, sizeof(call),
             "{\"type\":\"DECLINE\",\"decline\":{\"offer_ids\":[{\"value\":\"%s\"}],"
             "\"filters\":{\"refuse_seconds\":3600}}}",
             ev->offers->offers[0]->id->value);
    pb_free(ev);
    assert_int_equal(h_sched_call(&s, call, NULL), 202);
    /* Many allocation intervals (100 ms) pass without an offer. */
    assert_null(h_sched_next(&s, TEPUI__SCHEDULER__EVENT__TYPE__OFFERS, 1.5));
    assert_int_equal(h_sched_call(&s, "{\"type\":\"REVIVE\"}", NULL), 202);
    ev = h_sched_next(&s, TEPUI__SCHEDULER__EVENT__TYPE__OFFERS, 10);
    assert_non_null(ev);
    pb_free(ev);
    h_sched_close(&s);
}

static void decline_without_filter_is_offered_again(void **state)
{
    struct fixture *f = *state;
    struct h_sched s;
    h_sched_subscribe(&s, f->c.master.port, WIRE_JSON, h_framework_json("t", NULL));
    Tepui__Scheduler__Event *ev = h_sched_next(&s, TEPUI__SCHEDULER__EVENT__TYPE__OFFERS, 10);
    assert_non_null(ev);
    char call[512];
    snprintf(call, sizeof(call),
             "{\"type\":\"DECLINE\",\"decline\":{\"offer_ids\":[{\"value\":\"%s\"}],"
             "\"filters\":{\"refuse_seconds\":0}}}",
             ev->offers->offers[0]->id->value);
    pb_free(ev);
    assert_int_equal(h_sched_call(&s, call, NULL), 202);
    ev = h_sched_next(&s, TEPUI__SCHEDULER__EVENT__TYPE__OFFERS, 10);
    assert_non_null(ev);
    pb_free(ev);
    h_sched_close(&s);
}

static void suppressed_framework_gets_no_offers_until_revive(void **state)
{
    struct fixture *f = *state;
    struct h_sched s;
    h_sched_subscribe(&s, f->c.master.port, WIRE_JSON, h_framework_json("t", NULL));
    Tepui__Scheduler__Event *ev = h_sched_next(&s, TEPUI__SCHEDULER__EVENT__TYPE__OFFERS, 10);
    assert_non_null(ev);
    char call[512];
    snprintf(call, sizeof(call),
             "{\"type\":\"DECLINE\",\"decline\":{\"offer_ids\":[{\"value\":\"%s\"}],"
             "\"filters\":{\"refuse_seconds\":0}}}",
             ev->offers->offers[0]->id->value);
    pb_free(ev);
    assert_int_equal(h_sched_call(&s, "{\"type\":\"SUPPRESS\"}", NULL), 202);
    assert_int_equal(h_sched_call(&s, call, NULL), 202);
    assert_null(h_sched_next(&s, TEPUI__SCHEDULER__EVENT__TYPE__OFFERS, 1.5));
    assert_int_equal(h_sched_call(&s, "{\"type\":\"REVIVE\",\"revive\":{\"roles\":[\"*\"]}}", NULL),
                     202);
    ev = h_sched_next(&s, TEPUI__SCHEDULER__EVENT__TYPE__OFFERS, 10);
    assert_non_null(ev);
    pb_free(ev);
    h_sched_close(&s);
}

static void reconcile_unknown_task_is_lost_or_unknown(void **state)
{
    struct fixture *f = *state;
    struct h_sched s, pa;
    h_sched_subscribe(&s, f->c.master.port, WIRE_JSON, h_framework_json("t", NULL));
    assert_int_equal(h_sched_call(&s,
                                  "{\"type\":\"RECONCILE\",\"reconcile\":{\"tasks\":[{\"task_id\":"
                                  "{\"value\":\"nope\"}}]}}", NULL), 202);
    Tepui__Scheduler__Event *ev = h_sched_next(&s, TEPUI__SCHEDULER__EVENT__TYPE__UPDATE, 10);
    assert_non_null(ev);
    assert_int_equal(ev->update->status->state, TEPUI__TASK_STATE__TASK_LOST);
    assert_int_equal(ev->update->status->reason, TEPUI__TASK_STATUS__REASON__REASON_RECONCILIATION);
    assert_false(ev->update->status->has_uuid);
    pb_free(ev);
    h_sched_close(&s);

    h_sched_subscribe(&pa, f->c.master.port, WIRE_PROTOBUF,
                      h_framework_json("pa", "\"capabilities\":[{\"type\":\"PARTITION_AWARE\"}]"));
    assert_int_equal(h_sched_call(&pa,
                                  "{\"type\":\"RECONCILE\",\"reconcile\":{\"tasks\":[{\"task_id\":"
                                  "{\"value\":\"nope\"}}]}}", NULL), 202);
    ev = h_sched_next(&pa, TEPUI__SCHEDULER__EVENT__TYPE__UPDATE, 10);
    assert_non_null(ev);
    assert_int_equal(ev->update->status->state, TEPUI__TASK_STATE__TASK_UNKNOWN);
    pb_free(ev);
    h_sched_close(&pa);
}

static void resubscription_fails_over_the_old_stream(void **state)
{
    struct fixture *f = *state;
    struct h_sched a, b;
    h_sched_subscribe(&a, f->c.master.port, WIRE_JSON,
                      h_framework_json("t", "\"failover_timeout\":60"));
    char extra[512];
    snprintf(extra, sizeof(extra), "\"failover_timeout\":60,\"id\":{\"value\":\"%s\"}", a.framework_id);
    assert_int_equal(h_sched_subscribe(&b, f->c.master.port, WIRE_JSON, h_framework_json("t", extra)),
                     200);
    assert_string_equal(a.framework_id, b.framework_id);
    Tepui__Scheduler__Event *ev = h_sched_next(&a, TEPUI__SCHEDULER__EVENT__TYPE__ERROR, 10);
    assert_non_null(ev);
    assert_string_equal(ev->error->message, "Framework failed over");
    pb_free(ev);
    /* The old stream id no longer works; the new one does. */
    assert_int_equal(h_sched_call(&a, "{\"type\":\"REVIVE\"}", NULL), 400);
    assert_int_equal(h_sched_call(&b, "{\"type\":\"REVIVE\"}", NULL), 202);
    h_sched_close(&a);
    h_sched_close(&b);
}

static void teardown_removes_the_framework(void **state)
{
    struct fixture *f = *state;
    struct h_sched s;
    h_sched_subscribe(&s, f->c.master.port, WIRE_JSON, h_framework_json("t", NULL));
    assert_int_equal(h_sched_call(&s, "{\"type\":\"TEARDOWN\"}", NULL), 202);
    json_t *st = h_get_json(f->c.master.port, "/state");
    assert_int_equal(json_array_size(json_object_get(st, "frameworks")), 0);
    json_t *done = json_object_get(st, "completed_frameworks");
    assert_int_equal(json_array_size(done), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(done, 0), "id")),
                        s.framework_id);
    json_decref(st);
    /* Subscribing again with its id is refused. */
    struct h_sched again;
    char extra[512];
    snprintf(extra, sizeof(extra), "\"id\":{\"value\":\"%s\"}", s.framework_id);
    int rc = h_sched_subscribe(&again, f->c.master.port, WIRE_JSON, h_framework_json("t", extra));
    assert_int_not_equal(rc, 200);
    h_sched_close(&again);
    h_sched_close(&s);
}

/* ---- bad input ---- */

static void malformed_requests_get_mesos_status_codes(void **state)
{
    struct fixture *f = *state;
    int port = f->c.master.port;
    struct h_response r;
    const char *sub = "{\"type\":\"SUBSCRIBE\",\"subscribe\":{\"framework_info\":"
                      "{\"user\":\"u\",\"name\":\"n\"}}}";

    assert_int_equal(post(port, "", sub, &r), 400);                       /* no Content-Type */
    assert_non_null(strstr(r.body, "Content-Type"));
    h_response_free(&r);
    assert_int_equal(post(port, "Content-Type: text/plain\r\n", sub, &r), 415);
    h_response_free(&r);
    assert_int_equal(post(port, "Content-Type: application/json\r\n", "{\"type\":", &r), 400);
    h_response_free(&r);
    assert_int_equal(post(port, "Content-Type: application/json\r\n", "[1,2]", &r), 400);
    h_response_free(&r);
    /* Wrong type for a field: the message names it. */
    assert_int_equal(post(port, "Content-Type: application/json\r\n",
                          "{\"type\":\"SUBSCRIBE\",\"subscribe\":{\"framework_info\":"
                          "{\"user\":\"u\",\"name\":7}}}", &r), 400);
    assert_non_null(strstr(r.body, "name"));
    h_response_free(&r);
    /* Missing required field. */
    assert_int_equal(post(port, "Content-Type: application/json\r\n",
                          "{\"type\":\"SUBSCRIBE\",\"subscribe\":{\"framework_info\":{\"name\":\"n\"}}}",
                          &r), 400);
    assert_non_null(strstr(r.body, "user"));
    h_response_free(&r);
    assert_int_equal(post(port, "Content-Type: application/x-protobuf\r\n", "\xff\xff\xff garbage", &r),
                     400);
    h_response_free(&r);
    assert_int_equal(post(port, "Content-Type: application/json\r\nAccept: text/html\r\n", sub, &r),
                     406);
    h_response_free(&r);
    assert_int_equal(post(port, "Content-Type: application/json\r\nMesos-Stream-Id: abc\r\n", sub, &r),
                     400);
    h_response_free(&r);
    assert_int_equal(h_http(port, "GET", "/api/v1/scheduler", NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 405);
    h_response_free(&r);
    /* A call for a framework that never subscribed. */
    assert_int_equal(post(port, "Content-Type: application/json\r\nMesos-Stream-Id: x\r\n",
                          "{\"type\":\"REVIVE\",\"framework_id\":{\"value\":\"nope\"}}", &r), 400);
    assert_non_null(strstr(r.body, "Framework"));
    h_response_free(&r);
    /* No type / no framework id. */
    assert_int_equal(post(port, "Content-Type: application/json\r\n", "{}", &r), 400);
    h_response_free(&r);
    assert_int_equal(post(port, "Content-Type: application/json\r\n", "{\"type\":\"REVIVE\"}", &r), 400);
    h_response_free(&r);
    /* An oversized body. */
    size_t big = 17u * 1024 * 1024;
    char *huge = malloc(big + 1);
    memset(huge, ' ', big);
    huge[big] = '\0';
    assert_int_equal(h_http(port, "POST", "/api/v1/scheduler", "Content-Type: application/json\r\n",
                            huge, big, &r), 0);
    assert_int_equal(r.status, 413);
    h_response_free(&r);
    free(huge);
    /* An oversized header block. */
    char *big_header = malloc(100 * 1024 + 64);
    strcpy(big_header, "Content-Type: application/json\r\nX-Big: ");
    size_t at = strlen(big_header);
    memset(big_header + at, 'a', 100 * 1024);
    strcpy(big_header + at + 100 * 1024, "\r\n");
    assert_int_equal(post(port, big_header, sub, &r), 400);
    h_response_free(&r);
    free(big_header);
    /* The master is still serving. */
    assert_int_equal(h_http(port, "GET", "/health", NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    h_response_free(&r);
}

static void calls_need_the_right_stream_id(void **state)
{
    struct fixture *f = *state;
    struct h_sched s;
    h_sched_subscribe(&s, f->c.master.port, WIRE_JSON, h_framework_json("t", NULL));
    struct h_response r;
    char body[512];
    snprintf(body, sizeof(body), "{\"type\":\"REVIVE\",\"framework_id\":{\"value\":\"%s\"}}",
             s.framework_id);
    assert_int_equal(post(f->c.master.port, "Content-Type: application/json\r\n", body, &r), 400);
    assert_non_null(strstr(r.body, "Mesos-Stream-Id"));
    h_response_free(&r);
    assert_int_equal(post(f->c.master.port,
                          "Content-Type: application/json\r\nMesos-Stream-Id: wrong\r\n", body, &r),
                     400);
    h_response_free(&r);
    /* An invalid acknowledgement uuid. */
    assert_int_equal(h_sched_call(&s,
                                  "{\"type\":\"ACKNOWLEDGE\",\"acknowledge\":{\"agent_id\":{\"value\":"
                                  "\"a\"},\"task_id\":{\"value\":\"t\"},\"uuid\":\"AAAA\"}}", NULL),
                     400);
    /* Invalid base64. */
    assert_int_equal(h_sched_call(&s,
                                  "{\"type\":\"ACKNOWLEDGE\",\"acknowledge\":{\"agent_id\":{\"value\":"
                                  "\"a\"},\"task_id\":{\"value\":\"t\"},\"uuid\":\"!!\"}}", NULL),
                     400);
    h_sched_close(&s);
}

static int framework_disconnected(void *arg)
{
    int port = *(int *)arg;
    json_t *st = h_get_json(port, "/state");
    json_t *fw = json_array_get(json_object_get(st, "frameworks"), 0);
    int gone = fw != NULL && json_is_false(json_object_get(fw, "connected"));
    json_decref(st);
    return gone;
}

static void calls_of_a_disconnected_framework_are_forbidden(void **state)
{
    struct fixture *f = *state;
    struct h_sched s;
    h_sched_subscribe(&s, f->c.master.port, WIRE_JSON,
                      h_framework_json("t", "\"failover_timeout\":60"));
    char body[512], headers[512];
    snprintf(body, sizeof(body), "{\"type\":\"REVIVE\",\"framework_id\":{\"value\":\"%s\"}}",
             s.framework_id);
    snprintf(headers, sizeof(headers), "Content-Type: application/json\r\nMesos-Stream-Id: %s\r\n",
             s.stream_id);
    h_sched_close(&s);
    assert_true(h_wait_until(framework_disconnected, &f->c.master.port, 10));
    struct h_response r;
    assert_int_equal(post(f->c.master.port, headers, body, &r), 403);
    assert_non_null(strstr(r.body, "not subscribed"));
    h_response_free(&r);
}

static void unknown_offer_loses_its_tasks(void **state)
{
    struct fixture *f = *state;
    struct h_sched s;
    h_sched_subscribe(&s, f->c.master.port, WIRE_JSON, h_framework_json("t", NULL));
    assert_int_equal(
        h_sched_call(&s,
                     "{\"type\":\"ACCEPT\",\"accept\":{\"offer_ids\":[{\"value\":\"no-such-offer\"}],"
                     "\"operations\":[{\"type\":\"LAUNCH\",\"launch\":{\"task_infos\":[{\"name\":\"x\","
                     "\"task_id\":{\"value\":\"x1\"},\"agent_id\":{\"value\":\"a\"},"
                     "\"command\":{\"value\":\"true\"}}]}}]}}", NULL),
        202);
    Tepui__Scheduler__Event *ev = h_sched_next(&s, TEPUI__SCHEDULER__EVENT__TYPE__UPDATE, 10);
    assert_non_null(ev);
    assert_int_equal(ev->update->status->state, TEPUI__TASK_STATE__TASK_LOST);
    assert_int_equal(ev->update->status->reason, TEPUI__TASK_STATUS__REASON__REASON_INVALID_OFFERS);
    pb_free(ev);
    h_sched_close(&s);
}

static void task_beyond_offer_or_duplicate_is_task_error(void **state)
{
    struct fixture *f = *state;
    struct h_sched s;
    h_sched_subscribe(&s, f->c.master.port, WIRE_PROTOBUF, h_framework_json("t", NULL));
    Tepui__Scheduler__Event *ev = h_sched_next(&s, TEPUI__SCHEDULER__EVENT__TYPE__OFFERS, 10);
    assert_non_null(ev);
    assert_int_equal(h_sched_launch(&s, ev->offers->offers[0], "big", "true",
                                    "[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":64}}]"),
                     202);
    pb_free(ev);
    Tepui__Scheduler__Event *up = h_sched_next(&s, TEPUI__SCHEDULER__EVENT__TYPE__UPDATE, 10);
    assert_non_null(up);
    assert_int_equal(up->update->status->state, TEPUI__TASK_STATE__TASK_ERROR);
    assert_int_equal(up->update->status->reason, TEPUI__TASK_STATUS__REASON__REASON_TASK_INVALID);
    assert_non_null(strstr(up->update->status->message, "more resources"));
    pb_free(up);

    /* Two tasks with one id in one launch: the second is an error. */
    ev = h_sched_next(&s, TEPUI__SCHEDULER__EVENT__TYPE__OFFERS, 10);
    assert_non_null(ev);
    char call[2048];
    snprintf(call, sizeof(call),
             "{\"type\":\"ACCEPT\",\"accept\":{\"offer_ids\":[{\"value\":\"%s\"}],"
             "\"operations\":[{\"type\":\"LAUNCH\",\"launch\":{\"task_infos\":["
             "{\"name\":\"d\",\"task_id\":{\"value\":\"dup\"},\"agent_id\":{\"value\":\"%s\"},"
             "\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":0.1}}],"
             "\"command\":{\"value\":\"sleep 30\"}},"
             "{\"name\":\"d\",\"task_id\":{\"value\":\"dup\"},\"agent_id\":{\"value\":\"%s\"},"
             "\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":0.1}}],"
             "\"command\":{\"value\":\"sleep 30\"}},"
             "{\"name\":\"bad/id\",\"task_id\":{\"value\":\"bad/id\"},\"agent_id\":{\"value\":\"%s\"},"
             "\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":0.1}}],"
             "\"command\":{\"value\":\"true\"}}"
             "]}}]}}",
             ev->offers->offers[0]->id->value, ev->offers->offers[0]->agent_id->value,
             ev->offers->offers[0]->agent_id->value, ev->offers->offers[0]->agent_id->value);
    pb_free(ev);
    assert_int_equal(h_sched_call(&s, call, NULL), 202);
    int errors = 0;
    for (int i = 0; i < 4 && errors < 2; i++) {
        up = h_sched_next(&s, TEPUI__SCHEDULER__EVENT__TYPE__UPDATE, 10);
        assert_non_null(up);
        if (up->update->status->state == TEPUI__TASK_STATE__TASK_ERROR)
            errors++;
        pb_free(up);
    }
    assert_int_equal(errors, 2);
    h_sched_close(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(subscribe_json_gives_subscribed_and_stream_id, setup, teardown),
        cmocka_unit_test_setup_teardown(subscribed_is_followed_by_a_heartbeat_at_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(subscribe_protobuf_gets_offers_of_the_agent, setup, teardown),
        cmocka_unit_test_setup_teardown(declined_offer_is_filtered_until_revive, setup, teardown),
        cmocka_unit_test_setup_teardown(decline_without_filter_is_offered_again, setup, teardown),
        cmocka_unit_test_setup_teardown(suppressed_framework_gets_no_offers_until_revive, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(reconcile_unknown_task_is_lost_or_unknown, setup, teardown),
        cmocka_unit_test_setup_teardown(resubscription_fails_over_the_old_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(teardown_removes_the_framework, setup, teardown),
        cmocka_unit_test_setup_teardown(malformed_requests_get_mesos_status_codes, setup, teardown),
        cmocka_unit_test_setup_teardown(calls_need_the_right_stream_id, setup, teardown),
        cmocka_unit_test_setup_teardown(calls_of_a_disconnected_framework_are_forbidden, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(unknown_offer_loses_its_tasks, setup, teardown),
        cmocka_unit_test_setup_teardown(task_beyond_offer_or_duplicate_is_task_error, setup, teardown),
    };
    if (getenv("TEST_FILTER"))
        cmocka_set_test_filter(getenv("TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
