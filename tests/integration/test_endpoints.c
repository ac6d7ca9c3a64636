/* The classic endpoints of a real master and agent: /state with Mesos's JSON
 * shape, attributes, /metrics/snapshot, /health, /version, /flags,
 * /redirect, the agent's /state and resource detection, startup errors of
 * both daemons, and malformed calls to the internal agent API. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "internal.pb-c.h"
#include "wire/pb.h"

struct fixture {
    struct h_cluster c;
};

/* A master only: each test starts the agents it needs. */
static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    h_cluster_init(&f->c);
    static const char *const flags[] = {"--cluster=tepui-test", NULL};
    h_start_master(&f->c, flags);
    *state = f;
    return 0;
}

/* Nothing started: for tests that run the programs themselves. */
static int setup_empty(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    h_cluster_init(&f->c);
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

/* ---- helpers ---- */

/* Asserts that o has key of the given kind: 's' string, 'n' number,
 * 'b' boolean, 'o' object, 'a' array; returns the value. */
static json_t *need(json_t *o, const char *key, char kind)
{
    json_t *v = json_object_get(o, key);
    int ok = v != NULL;
    if (ok) {
        switch (kind) {
        case 's': ok = json_is_string(v); break;
        case 'n': ok = json_is_number(v); break;
        case 'b': ok = json_is_boolean(v); break;
        case 'o': ok = json_is_object(v); break;
        case 'a': ok = json_is_array(v); break;
        default: ok = 0;
        }
    }
    if (!ok) {
        char *text = json_dumps(o, JSON_COMPACT);
        fprintf(stderr, "expected key '%s' of kind '%c' in %.2000s\n", key, kind, text);
        free(text);
    }
    assert_true(ok);
    return v;
}

static const char *str_of(json_t *o, const char *key)
{
    return json_string_value(need(o, key, 's'));
}

static double num_of(json_t *o, const char *key)
{
    return json_number_value(need(o, key, 'n'));
}

/* A resources object as /state shows it: scalars as numbers, ports as a
 * "[a-b]" string. */
static void check_resources_shape(json_t *r, int with_ports)
{
    need(r, "cpus", 'n');
    need(r, "mem", 'n');
    need(r, "disk", 'n');
    need(r, "gpus", 'n');
    if (with_ports) {
        const char *ports = str_of(r, "ports");
        assert_true(ports[0] == '[' && ports[strlen(ports) - 1] == ']' && strchr(ports, '-'));
    }
}

/* Launches command as task_id on the next offer and waits for RUNNING (or
 * for want_state when it is not TASK_RUNNING). */
static void launch_and_wait(struct h_sched *s, const char *task_id, const char *command,
                            int want_state)
{
    Tepui__Scheduler__Event *ev = h_sched_next(s, TEPUI__SCHEDULER__EVENT__TYPE__OFFERS, 10);
    assert_non_null(ev);
    assert_int_equal(h_sched_launch(s, ev->offers->offers[0], task_id, command, NULL), 202);
    pb_free(ev);
    Tepui__TaskStatus *st = h_sched_wait_state(s, task_id, want_state, 20);
    assert_non_null(st);
    pb_free(st);
}

static json_t *first_of(json_t *o, const char *array_key)
{
    json_t *a = need(o, array_key, 'a');
    assert_true(json_array_size(a) >= 1);
    return json_array_get(a, 0);
}

/* ---- master /state ---- */

static void master_state_has_the_mesos_shape(void **state)
{
    struct fixture *f = *state;
    h_start_agent(&f->c, NULL, NULL);
    struct h_sched s;
    assert_int_equal(h_sched_subscribe(&s, f->c.master.port, WIRE_JSON,
                                       h_framework_json("shape", "\"failover_timeout\":30")),
                     200);
    launch_and_wait(&s, "sleeper", "sleep 60", TEPUI__TASK_STATE__TASK_RUNNING);
    /* The rest of the agent is offered again; held offers keep /state still. */
    Tepui__Scheduler__Event *ev = h_sched_next(&s, TEPUI__SCHEDULER__EVENT__TYPE__OFFERS, 10);
    assert_non_null(ev);
    pb_free(ev);

    json_t *st = h_get_json(f->c.master.port, "/state");
    str_of(st, "version");
    str_of(st, "git_sha");
    str_of(st, "build_date");
    assert_true(num_of(st, "start_time") > 0);
    assert_true(num_of(st, "elected_time") > 0);
    str_of(st, "id");
    char pid[128];
    snprintf(pid, sizeof(pid), "master@127.0.0.1:%d", f->c.master.port);
    assert_string_equal(str_of(st, "pid"), pid);
    str_of(st, "hostname");
    assert_int_equal((int)num_of(st, "activated_slaves"), 1);
    assert_int_equal((int)num_of(st, "deactivated_slaves"), 0);
    assert_int_equal((int)num_of(st, "unreachable_slaves"), 0);
    assert_string_equal(str_of(st, "leader"), pid);
    json_t *li = need(st, "leader_info", 'o');
    assert_string_equal(str_of(li, "id"), str_of(st, "id"));
    assert_int_equal((int)num_of(li, "port"), f->c.master.port);
    json_t *fl = need(st, "flags", 'o');
    assert_string_equal(str_of(fl, "cluster"), "tepui-test");
    need(st, "completed_frameworks", 'a');
    need(st, "orphan_tasks", 'a');
    need(st, "unregistered_frameworks", 'a');

    json_t *sl = first_of(st, "slaves");
    const char *agent_id = str_of(sl, "id");
    char apid[128];
    snprintf(apid, sizeof(apid), "slave(1)@127.0.0.1:%d", f->c.agents[0].port);
    assert_string_equal(str_of(sl, "pid"), apid);
    str_of(sl, "hostname");
    assert_int_equal((int)num_of(sl, "port"), f->c.agents[0].port);
    json_t *res = need(sl, "resources", 'o');
    check_resources_shape(res, 1);
    assert_true(num_of(res, "cpus") == 4);
    assert_true(num_of(res, "mem") == 4096);
    assert_string_equal(str_of(res, "ports"), "[31000-31099]");
    json_t *used = need(sl, "used_resources", 'o');
    check_resources_shape(used, 0);
    assert_true(num_of(used, "cpus") > 0.09 && num_of(used, "cpus") < 0.11);
    check_resources_shape(need(sl, "offered_resources", 'o'), 0);
    need(sl, "reserved_resources", 'o');
    check_resources_shape(need(sl, "unreserved_resources", 'o'), 1);
    need(sl, "attributes", 'o');
    assert_true(json_is_true(need(sl, "active", 'b')));
    str_of(sl, "version");
    assert_true(num_of(sl, "registered_time") > 0);

    json_t *fw = first_of(st, "frameworks");
    assert_string_equal(str_of(fw, "id"), s.framework_id);
    assert_string_equal(str_of(fw, "name"), "shape");
    str_of(fw, "user");
    assert_true(json_is_true(need(fw, "active", 'b')));
    assert_true(json_is_true(need(fw, "connected", 'b')));
    assert_string_equal(str_of(fw, "role"), "*");
    json_t *roles = need(fw, "roles", 'a');
    assert_int_equal(json_array_size(roles), 1);
    assert_string_equal(json_string_value(json_array_get(roles, 0)), "*");
    assert_true(num_of(fw, "failover_timeout") == 30);
    assert_true(json_is_false(need(fw, "checkpoint", 'b')));
    check_resources_shape(need(fw, "used_resources", 'o'), 0);
    check_resources_shape(need(fw, "offered_resources", 'o'), 0);
    check_resources_shape(need(fw, "resources", 'o'), 0);
    need(fw, "completed_tasks", 'a');
    need(fw, "capabilities", 'a');
    assert_true(num_of(fw, "registered_time") > 0);
    json_t *offer = first_of(fw, "offers");
    str_of(offer, "id");
    assert_string_equal(str_of(offer, "slave_id"), agent_id);
    check_resources_shape(need(offer, "resources", 'o'), 1);

    json_t *task = first_of(fw, "tasks");
    assert_string_equal(str_of(task, "id"), "sleeper");
    assert_string_equal(str_of(task, "name"), "sleeper");
    assert_string_equal(str_of(task, "framework_id"), s.framework_id);
    str_of(task, "executor_id");
    assert_string_equal(str_of(task, "slave_id"), agent_id);
    assert_string_equal(str_of(task, "state"), "TASK_RUNNING");
    json_t *tres = need(task, "resources", 'o');
    check_resources_shape(tres, 0);
    assert_true(num_of(tres, "mem") == 32);
    assert_string_equal(str_of(task, "role"), "*");
    json_t *statuses = need(task, "statuses", 'a');
    assert_true(json_array_size(statuses) >= 1);
    json_t *last = json_array_get(statuses, json_array_size(statuses) - 1);
    assert_string_equal(str_of(last, "state"), "TASK_RUNNING");
    assert_true(num_of(last, "timestamp") > 0);

    /* /master/state is the same document (nothing changes in between while
     * the framework holds its offer). */
    json_t *again = h_get_json(f->c.master.port, "/master/state");
    if (!json_equal(st, again)) {
        json_decref(st);
        st = h_get_json(f->c.master.port, "/state");
    }
    assert_true(json_equal(st, again));
    json_decref(again);
    json_decref(st);
    h_sched_close(&s);
}

/* ---- attributes ---- */

static void agent_attributes_appear_in_state_and_offers(void **state)
{
    struct fixture *f = *state;
    static const char *const flags[] = {"--attributes=rack:r1;zone:2;ports:[1-5];tags:{a,b}",
                                        NULL};
    h_start_agent(&f->c, NULL, flags);

    /* As Mesos's model(Attributes): text, number, ranges and set strings. */
    json_t *st = h_get_json(f->c.master.port, "/state");
    json_t *attrs = need(first_of(st, "slaves"), "attributes", 'o');
    assert_string_equal(str_of(attrs, "rack"), "r1");
    assert_true(num_of(attrs, "zone") == 2);
    assert_string_equal(str_of(attrs, "ports"), "[1-5]");
    assert_string_equal(str_of(attrs, "tags"), "{a, b}");
    assert_int_equal(json_object_size(attrs), 4);

    /* The agent's own /state shows them the same way. */
    json_t *ast = h_get_json(f->c.agents[0].port, "/state");
    assert_true(json_equal(need(ast, "attributes", 'o'), attrs));
    json_decref(ast);
    json_decref(st);

    struct h_sched s;
    assert_int_equal(
        h_sched_subscribe(&s, f->c.master.port, WIRE_PROTOBUF, h_framework_json("attrs", NULL)),
        200);
    Tepui__Scheduler__Event *ev = h_sched_next(&s, TEPUI__SCHEDULER__EVENT__TYPE__OFFERS, 10);
    assert_non_null(ev);
    const Tepui__Offer *o = ev->offers->offers[0];
    assert_int_equal(o->n_attributes, 4);
    int seen = 0;
    for (size_t i = 0; i < o->n_attributes; i++) {
        const Tepui__Attribute *a = o->attributes[i];
        if (strcmp(a->name, "rack") == 0) {
            assert_int_equal(a->type, TEPUI__VALUE__TYPE__TEXT);
            assert_string_equal(a->text->value, "r1");
            seen |= 1;
        } else if (strcmp(a->name, "zone") == 0) {
            assert_int_equal(a->type, TEPUI__VALUE__TYPE__SCALAR);
            assert_true(a->scalar->value == 2);
            seen |= 2;
        } else if (strcmp(a->name, "ports") == 0) {
            assert_int_equal(a->type, TEPUI__VALUE__TYPE__RANGES);
            assert_int_equal(a->ranges->n_range, 1);
            assert_int_equal(a->ranges->range[0]->begin, 1);
            assert_int_equal(a->ranges->range[0]->end, 5);
            seen |= 4;
        } else if (strcmp(a->name, "tags") == 0) {
            assert_int_equal(a->type, TEPUI__VALUE__TYPE__SET);
            assert_int_equal(a->set->n_item, 2);
            assert_string_equal(a->set->item[0], "a");
            assert_string_equal(a->set->item[1], "b");
            seen |= 8;
        }
    }
    assert_int_equal(seen, 15);
    pb_free(ev);
    h_sched_close(&s);
}

/* ---- /metrics/snapshot ---- */

static json_t *metrics(int port)
{
    json_t *m = h_get_json(port, "/metrics/snapshot");
    assert_true(json_is_object(m));
    const char *key;
    json_t *v;
    json_object_foreach(m, key, v) {
        if (!json_is_number(v))
            fprintf(stderr, "metric %s is not a number\n", key);
        assert_true(json_is_number(v));
    }
    return m;
}

struct runs_arg {
    int port;
    double above;
};

static int allocation_runs_above(void *arg)
{
    struct runs_arg *r = arg;
    json_t *m = metrics(r->port);
    double v = num_of(m, "allocator/mesos/allocation_runs");
    json_decref(m);
    return v > r->above;
}

static void metrics_snapshot_is_flat_numbers_that_follow_tasks(void **state)
{
    struct fixture *f = *state;
    h_start_agent(&f->c, NULL, NULL);
    int port = f->c.master.port;

    json_t *m = metrics(port);
    assert_true(num_of(m, "master/uptime_secs") >= 0);
    assert_true(num_of(m, "master/elected") == 1);
    assert_true(num_of(m, "master/slaves_active") == 1);
    assert_true(num_of(m, "master/frameworks_active") == 0);
    assert_true(num_of(m, "master/tasks_running") == 0);
    assert_true(num_of(m, "master/tasks_finished") == 0);
    assert_true(num_of(m, "master/cpus_total") == 4);
    assert_true(num_of(m, "master/cpus_used") == 0);
    assert_true(num_of(m, "master/mem_total") == 4096);
    struct runs_arg ra = {port, num_of(m, "allocator/mesos/allocation_runs")};
    json_decref(m);
    /* Allocation runs every interval (100 ms here). */
    assert_true(h_wait_until(allocation_runs_above, &ra, 10));

    struct h_sched s;
    assert_int_equal(h_sched_subscribe(&s, port, WIRE_JSON, h_framework_json("metrics", NULL)), 200);
    launch_and_wait(&s, "runner", "sleep 60", TEPUI__TASK_STATE__TASK_RUNNING);
    m = metrics(port);
    assert_true(num_of(m, "master/frameworks_active") == 1);
    assert_true(num_of(m, "master/tasks_running") == 1);
    assert_true(num_of(m, "master/cpus_used") > 0.09 && num_of(m, "master/cpus_used") < 0.11);
    assert_true(num_of(m, "master/mem_used") == 32);
    json_decref(m);

    launch_and_wait(&s, "quick", "true", TEPUI__TASK_STATE__TASK_FINISHED);
    m = metrics(port);
    assert_true(num_of(m, "master/tasks_finished") == 1);
    assert_true(num_of(m, "master/tasks_running") == 1);
    json_decref(m);
    h_sched_close(&s);
}

/* ---- small endpoints ---- */

static int status_of(int port, const char *method, const char *path, struct h_response *r)
{
    assert_int_equal(h_http(port, method, path, NULL, NULL, 0, r), 0);
    return r->status;
}

static void simple_endpoints_answer_like_mesos(void **state)
{
    struct fixture *f = *state;
    int port = f->c.master.port;
    struct h_response r;

    assert_int_equal(status_of(port, "GET", "/health", &r), 200);
    assert_int_equal(r.len, 0);
    h_response_free(&r);

    json_t *v = h_get_json(port, "/version");
    assert_true(strlen(str_of(v, "version")) > 0);
    str_of(v, "git_sha");
    json_decref(v);

    json_t *fl = h_get_json(port, "/flags");
    json_t *flags = need(fl, "flags", 'o');
    assert_string_equal(str_of(flags, "cluster"), "tepui-test");
    assert_string_equal(str_of(flags, "allocation_interval"), "100ms");
    assert_string_equal(str_of(flags, "ip"), "127.0.0.1");
    json_decref(fl);

    /* A lone master leads: /redirect points at itself, "//host:port". */
    json_t *st = h_get_json(port, "/state");
    char want[512];
    snprintf(want, sizeof(want), "//%s:%d", str_of(st, "hostname"), port);
    json_decref(st);
    assert_int_equal(status_of(port, "GET", "/redirect", &r), 307);
    char loc[512];
    assert_non_null(h_header(&r, "Location", loc, sizeof(loc)));
    assert_string_equal(loc, want);
    h_response_free(&r);
    assert_int_equal(status_of(port, "GET", "/master/redirect", &r), 307);
    h_response_free(&r);

    assert_int_equal(status_of(port, "GET", "/api/v1/scheduler", &r), 405);
    char allow[64];
    assert_non_null(h_header(&r, "Allow", allow, sizeof(allow)));
    assert_non_null(strstr(allow, "POST"));
    h_response_free(&r);
    assert_int_equal(status_of(port, "POST", "/state", &r), 405);
    h_response_free(&r);
    assert_int_equal(status_of(port, "DELETE", "/metrics/snapshot", &r), 405);
    h_response_free(&r);
    assert_int_equal(status_of(port, "GET", "/no/such/endpoint", &r), 404);
    h_response_free(&r);
    assert_int_equal(status_of(port, "GET", "/master/health", &r), 200);
    h_response_free(&r);
}

/* ---- the agent's endpoints ---- */

static void agent_state_lists_frameworks_executors_and_tasks(void **state)
{
    struct fixture *f = *state;
    static const char *const flags[] = {"--attributes=rack:r2", NULL};
    h_start_agent(&f->c, "cpus:2;mem:1024;disk:2048;ports:[31000-31009]", flags);
    int aport = f->c.agents[0].port;
    struct h_response r;
    assert_int_equal(status_of(aport, "GET", "/health", &r), 200);
    h_response_free(&r);
    json_t *fl = h_get_json(aport, "/flags");
    assert_string_equal(str_of(need(fl, "flags", 'o'), "resources"),
                        "cpus:2;mem:1024;disk:2048;ports:[31000-31009]");
    json_decref(fl);

    struct h_sched s;
    assert_int_equal(
        h_sched_subscribe(&s, f->c.master.port, WIRE_JSON, h_framework_json("agent-state", NULL)),
        200);
    launch_and_wait(&s, "resident", "sleep 60", TEPUI__TASK_STATE__TASK_RUNNING);

    json_t *mst = h_get_json(f->c.master.port, "/state");
    const char *agent_id = str_of(first_of(mst, "slaves"), "id");
    json_t *st = h_get_json(aport, "/state");
    assert_string_equal(str_of(st, "id"), agent_id);
    char pid[128];
    snprintf(pid, sizeof(pid), "slave(1)@127.0.0.1:%d", aport);
    assert_string_equal(str_of(st, "pid"), pid);
    str_of(st, "hostname");
    json_t *res = need(st, "resources", 'o');
    check_resources_shape(res, 1);
    assert_true(num_of(res, "cpus") == 2);
    assert_string_equal(str_of(res, "ports"), "[31000-31009]");
    assert_string_equal(str_of(need(st, "attributes", 'o'), "rack"), "r2");
    need(st, "flags", 'o');
    json_t *fw = first_of(st, "frameworks");
    assert_string_equal(str_of(fw, "id"), s.framework_id);
    json_t *ex = first_of(fw, "executors");
    str_of(ex, "id");
    const char *dir = str_of(ex, "directory");
    struct stat sb;
    assert_int_equal(stat(dir, &sb), 0);
    assert_true(S_ISDIR(sb.st_mode));
    assert_non_null(strstr(dir, f->c.agents[0].dir));
    json_t *task = first_of(ex, "tasks");
    assert_string_equal(str_of(task, "id"), "resident");
    assert_string_equal(str_of(task, "state"), "TASK_RUNNING");
    assert_string_equal(str_of(task, "framework_id"), s.framework_id);
    assert_string_equal(str_of(task, "slave_id"), agent_id);
    json_decref(st);
    json_decref(mst);
    h_sched_close(&s);
}

static void agent_detects_resources_when_not_given(void **state)
{
    struct fixture *f = *state;
    /* An empty --resources means none given. */
    h_start_agent(&f->c, "", NULL);
    json_t *st = h_get_json(f->c.agents[0].port, "/state");
    json_t *res = need(st, "resources", 'o');
    assert_true(num_of(res, "cpus") == (double)sysconf(_SC_NPROCESSORS_ONLN));
    assert_true(num_of(res, "mem") > 0);
    assert_true(num_of(res, "disk") > 0);
    assert_string_equal(str_of(res, "ports"), "[31000-32000]");
    /* The master sees the same. */
    json_t *mst = h_get_json(f->c.master.port, "/state");
    assert_true(json_equal(need(first_of(mst, "slaves"), "resources", 'o'), res));
    json_decref(mst);
    json_decref(st);
}

static void agent_fills_in_missing_standard_resources(void **state)
{
    struct fixture *f = *state;
    h_start_agent(&f->c, "cpus:2", NULL);
    json_t *st = h_get_json(f->c.master.port, "/state");
    json_t *res = need(first_of(st, "slaves"), "resources", 'o');
    assert_true(num_of(res, "cpus") == 2);
    assert_true(num_of(res, "mem") > 0);
    assert_true(num_of(res, "disk") > 0);
    assert_string_equal(str_of(res, "ports"), "[31000-32000]");
    json_decref(st);
}

/* ---- startup errors ---- */

/* Runs a program that must refuse to start: it exits 1 or 2 at once (not
 * with a sanitizer's status) and says what is wrong. */
static void refuses(const char *const *argv, const char *needle1, const char *needle2)
{
    char out[8192];
    int status = h_run_capture(argv, out, sizeof(out), 20);
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (status == -1 || (code != 1 && code != 2) || strstr(out, needle1) == NULL ||
        (needle2 != NULL && strstr(out, needle2) == NULL))
        fprintf(stderr, "%s %s: status %d, output:\n%s\n", argv[0], argv[1], status, out);
    assert_true(status != -1);
    assert_true(code == 1 || code == 2);
    assert_non_null(strstr(out, needle1));
    if (needle2 != NULL)
        assert_non_null(strstr(out, needle2));
}

static void agent_startup_errors_name_the_problem(void **state)
{
    struct fixture *f = *state;
    char wd[600];
    snprintf(wd, sizeof(wd), "--work_dir=%s/agent", f->c.root);
    const char *agent = h_bin("tepui-agent");
    /* Nothing listens on port 1: an agent that started would keep retrying. */
    const char *master = "--master=127.0.0.1:1";

    const char *neg[] = {agent, master, wd, "--resources=cpus:-1", NULL};
    refuses(neg, "--resources", "cpus");
    const char *nan[] = {agent, master, wd, "--resources=cpus:abc", NULL};
    refuses(nan, "--resources", "abc");
    const char *noval[] = {agent, master, wd, "--attributes=rack", NULL};
    refuses(noval, "--attributes", "rack");
    const char *range[] = {agent, master, wd, "--attributes=ports:[5-1]", NULL};
    refuses(range, "--attributes", "5-1");
    const char *no_wd[] = {agent, master, NULL};
    refuses(no_wd, "--work_dir", NULL);
    const char *no_master[] = {agent, wd, NULL};
    refuses(no_master, "--master", NULL);
    const char *unknown[] = {agent, master, wd, "--no_such_flag=1", NULL};
    refuses(unknown, "no_such_flag", NULL);
}

static void master_startup_errors_name_the_problem(void **state)
{
    (void)state;
    const char *master = h_bin("tepui-master");
    const char *unknown[] = {master, "--ip=127.0.0.1", "--port=0", "--no_such_flag=1", NULL};
    refuses(unknown, "no_such_flag", NULL);
    const char *port[] = {master, "--ip=127.0.0.1", "--port=abc", NULL};
    refuses(port, "port", "abc");
    const char *dur[] = {master, "--ip=127.0.0.1", "--port=0", "--offer_timeout=soon", NULL};
    refuses(dur, "offer_timeout", "soon");
}

/* ---- the internal agent API ---- */

static int post_agent_api(int port, const char *content_type, const void *body, size_t len)
{
    char headers[256];
    snprintf(headers, sizeof(headers), "Content-Type: %s\r\n", content_type);
    struct h_response r;
    assert_int_equal(h_http(port, "POST", "/internal/agent", headers, body, len, &r), 0);
    int status = r.status;
    h_response_free(&r);
    return status;
}

static void internal_agent_api_rejects_bad_requests(void **state)
{
    struct fixture *f = *state;
    h_start_agent(&f->c, NULL, NULL);
    int port = f->c.master.port;

    assert_int_equal(post_agent_api(port, "application/json", "{}", 2), 415);
    static const char garbage[] = "\xff\xff\xff\xff garbage";
    assert_int_equal(post_agent_api(port, "application/x-protobuf", garbage, sizeof(garbage) - 1),
                     400);

    /* A well-formed call from an agent the master does not know. */
    Tepui__Internal__AgentCall call = TEPUI__INTERNAL__AGENT_CALL__INIT;
    Tepui__Internal__AgentCall__Pong pong = TEPUI__INTERNAL__AGENT_CALL__PONG__INIT;
    Tepui__AgentID aid = TEPUI__AGENT_ID__INIT;
    aid.value = "no-such-agent";
    call.agent_id = &aid;
    call.has_type = 1;
    call.type = TEPUI__INTERNAL__AGENT_CALL__TYPE__PONG;
    call.pong = &pong;
    struct buf body = BUF_INIT;
    pb_pack_buf(&call.base, &body);
    assert_int_equal(post_agent_api(port, "application/x-protobuf", body.data, body.len), 404);
    buf_free(&body);

    /* A call without a type. */
    Tepui__Internal__AgentCall untyped = TEPUI__INTERNAL__AGENT_CALL__INIT;
    pb_pack_buf(&untyped.base, &body);
    assert_int_equal(post_agent_api(port, "application/x-protobuf", body.data, body.len), 400);
    buf_free(&body);

    struct h_response r;
    assert_int_equal(status_of(port, "GET", "/internal/agent", &r), 405);
    h_response_free(&r);

    /* The master keeps serving, and the real agent is still registered. */
    assert_int_equal(status_of(port, "GET", "/health", &r), 200);
    h_response_free(&r);
    json_t *st = h_get_json(port, "/state");
    assert_int_equal((int)num_of(st, "activated_slaves"), 1);
    json_decref(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(master_state_has_the_mesos_shape, setup, teardown),
        cmocka_unit_test_setup_teardown(agent_attributes_appear_in_state_and_offers, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(metrics_snapshot_is_flat_numbers_that_follow_tasks, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(simple_endpoints_answer_like_mesos, setup, teardown),
        cmocka_unit_test_setup_teardown(agent_state_lists_frameworks_executors_and_tasks, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(agent_detects_resources_when_not_given, setup, teardown),
        cmocka_unit_test_setup_teardown(agent_fills_in_missing_standard_resources, setup, teardown),
        cmocka_unit_test_setup_teardown(agent_startup_errors_name_the_problem, setup_empty,
                                        teardown),
        cmocka_unit_test_setup_teardown(master_startup_errors_name_the_problem, setup_empty,
                                        teardown),
        cmocka_unit_test_setup_teardown(internal_agent_api_rejects_bad_requests, setup, teardown),
    };
    if (getenv("TEST_FILTER"))
        cmocka_set_test_filter(getenv("TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
