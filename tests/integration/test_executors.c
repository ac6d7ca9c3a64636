/* Custom executors: an executor written in C on libtepui that runs tasks as
 * threads (frameworks/examples/thread_executor.c) is started by the agent on
 * its first task and reused for later ones; its resources are accounted;
 * messages go both ways; its loss, early exit or failure to subscribe ends
 * its tasks with Mesos's states and reasons; it cannot speak for tasks that
 * are not its own. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/xalloc.h"
#include "harness.h"
#include "wire/base64.h"
#include "wire/pb.h"

#define EV(t) TEPUI__SCHEDULER__EVENT__TYPE__##t
#define ST(s) TEPUI__TASK_STATE__TASK_##s

struct fixture {
    struct h_cluster c;
};

static int setup_with(void **state, const char *const *agent_flags)
{
    struct fixture *f = calloc(1, sizeof(*f));
    h_cluster_init(&f->c);
    h_start_master(&f->c, NULL);
    h_start_agent(&f->c, "cpus:4;mem:4096;disk:4096;ports:[31000-31099]", agent_flags);
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_with(state, NULL);
}

static int setup_short_registration(void **state)
{
    static const char *const flags[] = {"--executor_registration_timeout=1secs", NULL};
    return setup_with(state, flags);
}

static int setup_fast_heartbeats(void **state)
{
    static const char *const flags[] = {"--executor_heartbeat_interval=200ms", NULL};
    return setup_with(state, flags);
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    h_cluster_destroy(&f->c);
    free(f);
    return 0;
}

static const char *thread_executor(void)
{
    static char path[600];
    const char *dir = getenv("TEPUI_BUILD_DIR");
    char rel[500];
    snprintf(rel, sizeof(rel), "%s/examples/thread_executor", dir ? dir : "build");
    if (realpath(rel, path) == NULL)
        snprintf(path, sizeof(path), "%s", rel);
    return path;
}

/* An ExecutorInfo in JSON: id, command (shell or not), resources. */
static char *executor_json(const char *id, const char *command, int shell)
{
    return xasprintf("{\"executor_id\":{\"value\":\"%s\"},\"type\":\"CUSTOM\","
                     "\"command\":{\"value\":\"%s\",\"shell\":%s},"
                     "\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":0.5}},"
                     "{\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":{\"value\":64}}]}",
                     id, command, shell ? "true" : "false");
}

/* Launches one task on an offer with an executor; data is the task's work. */
static int launch_with_executor(struct h_sched *s, const Tepui__Offer *o, const char *task_id,
                                const char *executor, const char *data)
{
    struct buf b64 = BUF_INIT;
    base64_encode(&b64, data, strlen(data));
    char *call = xasprintf(
        "{\"type\":\"ACCEPT\",\"accept\":{\"offer_ids\":[{\"value\":\"%s\"}],"
        "\"operations\":[{\"type\":\"LAUNCH\",\"launch\":{\"task_infos\":[{\"name\":\"%s\","
        "\"task_id\":{\"value\":\"%s\"},\"agent_id\":{\"value\":\"%s\"},\"data\":\"%s\","
        "\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1}},"
        "{\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":{\"value\":128}}],"
        "\"executor\":%s}]}}],\"filters\":{\"refuse_seconds\":0}}}",
        o->id->value, task_id, task_id, o->agent_id->value, buf_cstr(&b64), executor);
    buf_free(&b64);
    int rc = h_sched_call(s, call, NULL);
    free(call);
    return rc;
}

static double offered(const Tepui__Offer *o, const char *name)
{
    double v = 0;
    for (size_t i = 0; i < o->n_resources; i++)
        if (strcmp(o->resources[i]->name, name) == 0 && o->resources[i]->scalar)
            v += o->resources[i]->scalar->value;
    return v;
}

static Tepui__Offer *next_offer(struct h_sched *s)
{
    Tepui__Scheduler__Event *ev = h_sched_next(s, EV(OFFERS), 15);
    assert_non_null(ev);
    Tepui__Offer *o = PB_COPY(Tepui__Offer, ev->offers->offers[0]);
    pb_free(ev);
    return o;
}

static void executor_is_started_once_and_reused_for_later_tasks(void **state)
{
    struct fixture *f = *state;
    struct h_sched s;
    h_sched_subscribe(&s, f->c.master.port, WIRE_JSON, h_framework_json("ex", NULL));
    char *exec = executor_json("threads", thread_executor(), 0);
    Tepui__Offer *o = next_offer(&s);
    assert_int_equal(launch_with_executor(&s, o, "a", exec, "sleep:1"), 202);
    pb_free(o);
    Tepui__TaskStatus *st = h_sched_wait_state(&s, "a", ST(RUNNING), 20);
    assert_non_null(st);
    assert_string_equal(st->executor_id->value, "threads");
    pb_free(st);
    /* While a runs, the agent offers what a and its executor leave. */
    o = next_offer(&s);
    assert_true(offered(o, "cpus") > 2.49 && offered(o, "cpus") < 2.51);
    assert_true(offered(o, "mem") > 3903 && offered(o, "mem") < 3905);
    /* The offer says the executor already runs there. */
    assert_int_equal(o->n_executor_ids, 1);
    assert_string_equal(o->executor_ids[0]->value, "threads");
    assert_int_equal(launch_with_executor(&s, o, "b", exec, "done"), 202);
    pb_free(o);
    st = h_sched_wait_state(&s, "b", ST(FINISHED), 20);
    assert_non_null(st);
    pb_free(st);
    st = h_sched_wait_state(&s, "a", ST(FINISHED), 20);
    assert_non_null(st);
    pb_free(st);
    /* One executor ran both: one sandbox run, listed once. */
    json_t *as = h_get_json(f->c.agents[0].port, "/state");
    json_t *fw = json_array_get(json_object_get(as, "frameworks"), 0);
    assert_int_equal(json_array_size(json_object_get(fw, "executors")), 1);
    json_t *ex = json_array_get(json_object_get(fw, "executors"), 0);
    assert_string_equal(json_string_value(json_object_get(ex, "id")), "threads");
    json_decref(as);
    free(exec);
    h_sched_close(&s);
}

static void executor_resources_come_back_when_it_shuts_down(void **state)
{
    struct fixture *f = *state;
    struct h_sched s;
    h_sched_subscribe(&s, f->c.master.port, WIRE_JSON, h_framework_json("ex", NULL));
    char *exec = executor_json("threads", thread_executor(), 0);
    Tepui__Offer *o = next_offer(&s);
    char agent_id[256];
    snprintf(agent_id, sizeof(agent_id), "%s", o->agent_id->value);
    assert_int_equal(launch_with_executor(&s, o, "a", exec, "done"), 202);
    pb_free(o);
    Tepui__TaskStatus *st = h_sched_wait_state(&s, "a", ST(FINISHED), 20);
    assert_non_null(st);
    pb_free(st);
    /* The task is done but its executor still holds its 0.5 cpus. */
    o = next_offer(&s);
    assert_true(offered(o, "cpus") > 3.49 && offered(o, "cpus") < 3.51);
    char call[1024];
    snprintf(call, sizeof(call),
             "{\"type\":\"DECLINE\",\"decline\":{\"offer_ids\":[{\"value\":\"%s\"}],"
             "\"filters\":{\"refuse_seconds\":0}}}", o->id->value);
    pb_free(o);
    assert_int_equal(h_sched_call(&s, call, NULL), 202);
    snprintf(call, sizeof(call),
             "{\"type\":\"SHUTDOWN\",\"shutdown\":{\"executor_id\":{\"value\":\"threads\"},"
             "\"agent_id\":{\"value\":\"%s\"}}}", agent_id);
    assert_int_equal(h_sched_call(&s, call, NULL), 202);
    /* Its exit reaches the scheduler as FAILURE, and its resources return. */
    Tepui__Scheduler__Event *ev = h_sched_next(&s, EV(FAILURE), 20);
    assert_non_null(ev);
    assert_string_equal(ev->failure->executor_id->value, "threads");
    pb_free(ev);
    double deadline = clock_mono() + 20;
    int whole = 0;
    while (!whole && clock_mono() < deadline) {
        o = next_offer(&s);
        whole = offered(o, "cpus") > 3.99;
        snprintf(call, sizeof(call),
                 "{\"type\":\"DECLINE\",\"decline\":{\"offer_ids\":[{\"value\":\"%s\"}],"
                 "\"filters\":{\"refuse_seconds\":0}}}", o->id->value);
        pb_free(o);
        h_sched_call(&s, call, NULL);
    }
    assert_true(whole);
    json_t *ms = h_get_json(f->c.master.port, "/state");
    json_t *fw = json_array_get(json_object_get(ms, "frameworks"), 0);
    assert_true(json_number_value(json_object_get(json_object_get(fw, "used_resources"), "cpus")) <
                0.001);
    json_decref(ms);
    free(exec);
    h_sched_close(&s);
}

static void messages_go_both_ways(void **state)
{
    struct fixture *f = *state;
    struct h_sched s;
    h_sched_subscribe(&s, f->c.master.port, WIRE_PROTOBUF, h_framework_json("ex", NULL));
    char *exec = executor_json("threads", thread_executor(), 0);
    Tepui__Offer *o = next_offer(&s);
    char agent_id[256];
    snprintf(agent_id, sizeof(agent_id), "%s", o->agent_id->value);
    assert_int_equal(launch_with_executor(&s, o, "a", exec, "sleep:30"), 202);
    pb_free(o);
    Tepui__TaskStatus *st = h_sched_wait_state(&s, "a", ST(RUNNING), 20);
    assert_non_null(st);
    pb_free(st);
    char call[1024];
    snprintf(call, sizeof(call),
             "{\"type\":\"MESSAGE\",\"message\":{\"agent_id\":{\"value\":\"%s\"},"
             "\"executor_id\":{\"value\":\"threads\"},\"data\":\"cGluZw==\"}}", agent_id);
    assert_int_equal(h_sched_call(&s, call, NULL), 202);
    Tepui__Scheduler__Event *ev = h_sched_next(&s, EV(MESSAGE), 20);
    assert_non_null(ev);
    assert_string_equal(ev->message->executor_id->value, "threads");
    assert_string_equal(ev->message->agent_id->value, agent_id);
    assert_int_equal(ev->message->data.len, 9);
    assert_memory_equal(ev->message->data.data, "echo:ping", 9);
    pb_free(ev);
    snprintf(call, sizeof(call),
             "{\"type\":\"KILL\",\"kill\":{\"task_id\":{\"value\":\"a\"}}}");
    assert_int_equal(h_sched_call(&s, call, NULL), 202);
    st = h_sched_wait_state(&s, "a", ST(KILLED), 20);
    assert_non_null(st);
    pb_free(st);
    free(exec);
    h_sched_close(&s);
}

static void executor_crash_loses_its_tasks(void **state)
{
    struct fixture *f = *state;
    struct h_sched s, pa;
    h_sched_subscribe(&s, f->c.master.port, WIRE_JSON, h_framework_json("ex", NULL));
    char *exec = executor_json("threads", thread_executor(), 0);
    Tepui__Offer *o = next_offer(&s);
    assert_int_equal(launch_with_executor(&s, o, "slow", exec, "sleep:30"), 202);
    pb_free(o);
    Tepui__TaskStatus *st = h_sched_wait_state(&s, "slow", ST(RUNNING), 20);
    assert_non_null(st);
    pb_free(st);
    o = next_offer(&s);
    assert_int_equal(launch_with_executor(&s, o, "boom", exec, "crash"), 202);
    pb_free(o);
    /* Both tasks of the executor end: LOST for a framework that is not
     * partition-aware, with the executor's end as the reason. */
    st = h_sched_wait_state(&s, "slow", ST(LOST), 20);
    assert_non_null(st);
    assert_int_equal(st->reason, TEPUI__TASK_STATUS__REASON__REASON_EXECUTOR_TERMINATED);
    assert_int_equal(st->source, TEPUI__TASK_STATUS__SOURCE__SOURCE_AGENT);
    pb_free(st);
    Tepui__Scheduler__Event *ev = h_sched_next(&s, EV(FAILURE), 20);
    assert_non_null(ev);
    assert_true(ev->failure->has_status);
    pb_free(ev);
    h_sched_close(&s);

    /* Partition-aware frameworks get TASK_GONE instead. */
    h_sched_subscribe(&pa, f->c.master.port, WIRE_JSON,
                      h_framework_json("pa", "\"capabilities\":[{\"type\":\"PARTITION_AWARE\"}]"));
    o = next_offer(&pa);
    assert_int_equal(launch_with_executor(&pa, o, "boom2", exec, "crash"), 202);
    pb_free(o);
    st = h_sched_wait_state(&pa, "boom2", ST(GONE), 20);
    assert_non_null(st);
    assert_int_equal(st->reason, TEPUI__TASK_STATUS__REASON__REASON_EXECUTOR_TERMINATED);
    pb_free(st);
    free(exec);
    h_sched_close(&pa);
}

static void executor_that_exits_at_once_loses_its_task(void **state)
{
    struct fixture *f = *state;
    struct h_sched s;
    h_sched_subscribe(&s, f->c.master.port, WIRE_JSON, h_framework_json("ex", NULL));
    char *exec = executor_json("quitter", "exit 0", 1);
    Tepui__Offer *o = next_offer(&s);
    assert_int_equal(launch_with_executor(&s, o, "t", exec, "done"), 202);
    pb_free(o);
    Tepui__TaskStatus *st = h_sched_wait_state(&s, "t", ST(LOST), 20);
    assert_non_null(st);
    assert_int_equal(st->reason, TEPUI__TASK_STATUS__REASON__REASON_EXECUTOR_TERMINATED);
    assert_non_null(strstr(st->message, "exited with status 0"));
    pb_free(st);
    free(exec);
    h_sched_close(&s);
}

static void executor_that_never_subscribes_fails_its_task(void **state)
{
    struct fixture *f = *state;
    struct h_sched s;
    h_sched_subscribe(&s, f->c.master.port, WIRE_JSON, h_framework_json("ex", NULL));
    char *exec = executor_json("sleeper", "sleep 60", 1);
    Tepui__Offer *o = next_offer(&s);
    assert_int_equal(launch_with_executor(&s, o, "t", exec, "done"), 202);
    pb_free(o);
    Tepui__TaskStatus *st = h_sched_wait_state(&s, "t", ST(FAILED), 20);
    assert_non_null(st);
    assert_int_equal(st->reason,
                     TEPUI__TASK_STATUS__REASON__REASON_EXECUTOR_REGISTRATION_TIMEOUT);
    pb_free(st);
    free(exec);
    h_sched_close(&s);
}

static void executor_cannot_speak_for_other_tasks_or_with_bad_uuids(void **state)
{
    struct fixture *f = *state;
    struct h_sched s;
    h_sched_subscribe(&s, f->c.master.port, WIRE_JSON, h_framework_json("ex", NULL));
    char *exec = executor_json("threads", thread_executor(), 0);
    Tepui__Offer *o = next_offer(&s);
    assert_int_equal(launch_with_executor(&s, o, "mine", exec, "sleep:30"), 202);
    pb_free(o);
    Tepui__TaskStatus *st = h_sched_wait_state(&s, "mine", ST(RUNNING), 20);
    assert_non_null(st);
    pb_free(st);
    /* Calls in the executor's name on its agent. */
    struct h_response r;
    char body[1024];
    const char *headers = "Content-Type: application/json\r\n";
    snprintf(body, sizeof(body),
             "{\"type\":\"UPDATE\",\"framework_id\":{\"value\":\"%s\"},\"executor_id\":{\"value\":"
             "\"threads\"},\"update\":{\"status\":{\"task_id\":{\"value\":\"not-mine\"},"
             "\"state\":\"TASK_FINISHED\",\"uuid\":\"AAECAwQFBgcICQoLDA0ODw==\"}}}",
             s.framework_id);
    assert_int_equal(h_http(f->c.agents[0].port, "POST", "/api/v1/executor", headers, body,
                            strlen(body), &r), 0);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "not-mine"));
    h_response_free(&r);
    snprintf(body, sizeof(body),
             "{\"type\":\"UPDATE\",\"framework_id\":{\"value\":\"%s\"},\"executor_id\":{\"value\":"
             "\"threads\"},\"update\":{\"status\":{\"task_id\":{\"value\":\"mine\"},"
             "\"state\":\"TASK_FINISHED\",\"uuid\":\"AAEC\"}}}",
             s.framework_id);
    assert_int_equal(h_http(f->c.agents[0].port, "POST", "/api/v1/executor", headers, body,
                            strlen(body), &r), 0);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "uuid"));
    h_response_free(&r);
    /* An executor the agent does not know. */
    snprintf(body, sizeof(body),
             "{\"type\":\"HEARTBEAT\",\"framework_id\":{\"value\":\"%s\"},\"executor_id\":{\"value\":"
             "\"nobody\"}}", s.framework_id);
    assert_int_equal(h_http(f->c.agents[0].port, "POST", "/api/v1/executor", headers, body,
                            strlen(body), &r), 0);
    assert_int_equal(r.status, 202);
    h_response_free(&r);
    snprintf(body, sizeof(body),
             "{\"type\":\"MESSAGE\",\"framework_id\":{\"value\":\"%s\"},\"executor_id\":{\"value\":"
             "\"nobody\"},\"message\":{\"data\":\"eA==\"}}", s.framework_id);
    assert_int_equal(h_http(f->c.agents[0].port, "POST", "/api/v1/executor", headers, body,
                            strlen(body), &r), 0);
    assert_int_equal(r.status, 400);
    h_response_free(&r);
    /* The real task is untouched and still answers a kill. */
    assert_int_equal(h_sched_call(&s, "{\"type\":\"KILL\",\"kill\":{\"task_id\":{\"value\":\"mine\"}}}",
                                  NULL), 202);
    st = h_sched_wait_state(&s, "mine", ST(KILLED), 20);
    assert_non_null(st);
    pb_free(st);
    free(exec);
    h_sched_close(&s);
}

static void subscribed_executors_get_heartbeats(void **state)
{
    struct fixture *f = *state;
    struct h_sched s;
    h_sched_subscribe(&s, f->c.master.port, WIRE_JSON, h_framework_json("ex", NULL));
    char *exec = executor_json("threads", thread_executor(), 0);
    Tepui__Offer *o = next_offer(&s);
    assert_int_equal(launch_with_executor(&s, o, "a", exec, "sleep:30"), 202);
    pb_free(o);
    Tepui__TaskStatus *st = h_sched_wait_state(&s, "a", ST(RUNNING), 20);
    assert_non_null(st);
    pb_free(st);
    /* A subscription in the executor's name gets SUBSCRIBED, then HEARTBEATs. */
    char body[512];
    snprintf(body, sizeof(body),
             "{\"type\":\"SUBSCRIBE\",\"framework_id\":{\"value\":\"%s\"},\"executor_id\":"
             "{\"value\":\"threads\"},\"subscribe\":{}}", s.framework_id);
    char *got = NULL;
    h_http_stream_read(f->c.agents[0].port, "/api/v1/executor",
                       "Content-Type: application/json\r\nAccept: application/json\r\n", body, 1.5,
                       &got);
    assert_non_null(strstr(got, "\"SUBSCRIBED\""));
    const char *hb = strstr(got, "\"HEARTBEAT\"");
    assert_non_null(hb);
    assert_non_null(strstr(hb + 1, "\"HEARTBEAT\""));
    free(got);
    free(exec);
    h_sched_close(&s);
}

static void incompatible_executor_info_for_a_running_executor_is_task_error(void **state)
{
    struct fixture *f = *state;
    struct h_sched s;
    h_sched_subscribe(&s, f->c.master.port, WIRE_JSON, h_framework_json("ex", NULL));
    char *exec = executor_json("threads", thread_executor(), 0);
    char *other = executor_json("threads", "/bin/other-executor", 0);
    Tepui__Offer *o = next_offer(&s);
    assert_int_equal(launch_with_executor(&s, o, "a", exec, "sleep:30"), 202);
    pb_free(o);
    Tepui__TaskStatus *st = h_sched_wait_state(&s, "a", ST(RUNNING), 20);
    assert_non_null(st);
    pb_free(st);
    o = next_offer(&s);
    assert_int_equal(launch_with_executor(&s, o, "b", other, "done"), 202);
    pb_free(o);
    st = h_sched_wait_state(&s, "b", ST(ERROR), 20);
    assert_non_null(st);
    assert_non_null(strstr(st->message, "not compatible"));
    pb_free(st);
    free(exec);
    free(other);
    h_sched_close(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(executor_is_started_once_and_reused_for_later_tasks, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(executor_resources_come_back_when_it_shuts_down, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(messages_go_both_ways, setup, teardown),
        cmocka_unit_test_setup_teardown(executor_crash_loses_its_tasks, setup, teardown),
        cmocka_unit_test_setup_teardown(executor_that_exits_at_once_loses_its_task, setup, teardown),
        cmocka_unit_test_setup_teardown(executor_that_never_subscribes_fails_its_task,
                                        setup_short_registration, teardown),
        cmocka_unit_test_setup_teardown(executor_cannot_speak_for_other_tasks_or_with_bad_uuids,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            incompatible_executor_info_for_a_running_executor_is_task_error, setup, teardown),
        cmocka_unit_test_setup_teardown(subscribed_executors_get_heartbeats, setup_fast_heartbeats,
                                        teardown),
    };
    if (getenv("TEST_FILTER"))
        cmocka_set_test_filter(getenv("TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
