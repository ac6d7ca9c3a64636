/* A Mesos client library that tepui did not write runs unchanged against it:
 * tests/interop/mesosgo/scheduler.go, a scheduler written only with
 * mesos-go's v1 API (Debian's golang-github-mesos-mesos-go-dev), runs tasks
 * on a real master and two agents in JSON and in protobuf. It subscribes,
 * launches tasks that finish, fail and get killed, declines with a filter,
 * acknowledges, reconciles implicitly and explicitly and tears down; this
 * test checks what it saw and what the master's /state says afterwards. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define N_TASKS 3
#define COMMAND "echo hello from mesos-go"

struct fixture {
    struct h_cluster c;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    h_cluster_init(&f->c);
    h_start_master(&f->c, NULL);
    /* Two agents: the scheduler uses one offer and declines the other. */
    h_start_agent(&f->c, "cpus:2;mem:1024;disk:1024;ports:[31000-31099]", NULL);
    h_start_agent(&f->c, "cpus:2;mem:1024;disk:1024;ports:[32000-32099]", NULL);
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

/* ---- the scheduler's output ---- */

struct run {
    char out[65536];
    char framework_id[256];
};

static const char *go_scheduler(void)
{
    static char path[512];
    const char *dir = getenv("TEPUI_BUILD_DIR");
    snprintf(path, sizeof(path), "%s/tests/interop/mesosgo-scheduler", dir ? dir : "build");
    return path;
}

/* The line number (from 0) of the first line that is text, or starts with
 * text and a space; -1 when there is none. */
static int line_of(const char *out, const char *text)
{
    size_t n = strlen(text);
    int line = 0;
    for (const char *p = out; *p != '\0'; line++) {
        const char *end = strchr(p, '\n');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len >= n && strncmp(p, text, n) == 0 && (len == n || p[n] == ' '))
            return line;
        if (end == NULL)
            break;
        p = end + 1;
    }
    return -1;
}

static void dump(const struct fixture *f, const struct run *r)
{
    fprintf(stderr, "---- %s said:\n%s----\n", go_scheduler(), r->out);
    h_dump_logs(&f->c);
}

static void expect_line(const struct fixture *f, const struct run *r, const char *text)
{
    if (line_of(r->out, text) < 0) {
        dump(f, r);
        fail_msg("the mesos-go scheduler printed no line \"%s\"", text);
    }
}

/* Runs the mesos-go scheduler against the master; asserts it exited 0. */
static void run_scheduler(struct fixture *f, const char *codec, struct run *r)
{
    memset(r, 0, sizeof(*r));
    const char *bin = go_scheduler();
    if (access(bin, X_OK) != 0)
        fail_msg("%s is missing: install golang-go and golang-github-mesos-mesos-go-dev "
                 "(scripts/install-deps.sh does), then make %s", bin, bin);
    char master[128], name[64], tasks[16];
    snprintf(master, sizeof(master), "http://127.0.0.1:%d/api/v1/scheduler", f->c.master.port);
    snprintf(name, sizeof(name), "mesos-go-%s", codec);
    snprintf(tasks, sizeof(tasks), "%d", N_TASKS);
    const char *argv[] = {bin,        "-master", master, "-codec",   codec, "-tasks", tasks,
                          "-command", COMMAND,   "-name", name,      "-timeout", "40s", NULL};
    int status = h_run_capture(argv, r->out, sizeof(r->out), 50);
    if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        dump(f, r);
        fail_msg("the mesos-go scheduler (%s) %s %d", codec,
                 status == -1 ? "timed out" : WIFEXITED(status) ? "exited" : "died of signal",
                 status == -1 ? 50 : WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    }
    int sub = line_of(r->out, "SUBSCRIBED");
    if (sub < 0 || sscanf(strstr(r->out, "SUBSCRIBED ") + 11, "%255s", r->framework_id) != 1) {
        dump(f, r);
        fail_msg("no SUBSCRIBED line");
    }
}

/* What the scheduler saw: every task in the state it expects, acknowledged;
 * both reconciliations answered as Mesos answers them. */
static void check_output(const struct fixture *f, const struct run *r)
{
    /* Mesos starts the heartbeats with one right after SUBSCRIBED. */
    if (line_of(r->out, "HEARTBEAT") != line_of(r->out, "SUBSCRIBED") + 1) {
        dump(f, r);
        fail_msg("no HEARTBEAT right after SUBSCRIBED");
    }
    expect_line(f, r, "ACCEPT");
    expect_line(f, r, "DECLINE");
    for (int i = 0; i < N_TASKS; i++) {
        char line[128];
        snprintf(line, sizeof(line), "UPDATE task-%d TASK_RUNNING", i);
        expect_line(f, r, line);
        snprintf(line, sizeof(line), "UPDATE task-%d TASK_FINISHED", i);
        expect_line(f, r, line);
        snprintf(line, sizeof(line), "ACKNOWLEDGE task-%d TASK_FINISHED", i);
        expect_line(f, r, line);
    }
    expect_line(f, r, "UPDATE failer TASK_FAILED");
    expect_line(f, r, "ACKNOWLEDGE failer TASK_FAILED");
    expect_line(f, r, "UPDATE sleeper TASK_RUNNING");
    /* Implicit: only the running task, from the master, without uuid. */
    expect_line(f, r, "UPDATE sleeper TASK_RUNNING REASON_RECONCILIATION SOURCE_MASTER");
    expect_line(f, r, "RECONCILED implicit sleeper TASK_RUNNING");
    /* Explicit, PARTITION_AWARE: an acknowledged terminal task is forgotten
     * (its agent is registered: TASK_GONE); an unknown task with no agent
     * is TASK_UNKNOWN. */
    expect_line(f, r, "UPDATE task-0 TASK_GONE REASON_RECONCILIATION SOURCE_MASTER");
    expect_line(f, r, "RECONCILED explicit task-0 TASK_GONE");
    expect_line(f, r, "UPDATE no-such-task TASK_UNKNOWN REASON_RECONCILIATION SOURCE_MASTER");
    expect_line(f, r, "KILL sleeper");
    expect_line(f, r, "UPDATE sleeper TASK_KILLED");
    expect_line(f, r, "ACKNOWLEDGE sleeper TASK_KILLED");
    expect_line(f, r, "TEARDOWN");
    expect_line(f, r, "DONE");
    assert_int_equal(line_of(r->out, "ERROR"), -1);
    assert_int_equal(line_of(r->out, "FAIL"), -1);
}

/* ---- what the master says afterwards ---- */

static const char *str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static json_t *find_by_id(json_t *array, const char *id)
{
    size_t i;
    json_t *v;
    json_array_foreach(array, i, v)
        if (strcmp(str(v, "id"), id) == 0)
            return v;
    return NULL;
}

static const char *expected_state(const char *task_id)
{
    if (strcmp(task_id, "failer") == 0)
        return "TASK_FAILED";
    if (strcmp(task_id, "sleeper") == 0)
        return "TASK_KILLED";
    return "TASK_FINISHED";
}

static void check_state(struct fixture *f, const struct run *r, const char *name)
{
    json_t *st = h_get_json(f->c.master.port, "/state");
    assert_null(find_by_id(json_object_get(st, "frameworks"), r->framework_id));
    json_t *fw = find_by_id(json_object_get(st, "completed_frameworks"), r->framework_id);
    assert_non_null(fw);
    assert_string_equal(str(fw, "name"), name);
    assert_false(json_is_true(json_object_get(fw, "active")));
    json_t *caps = json_object_get(fw, "capabilities");
    assert_int_equal(json_array_size(caps), 1);
    assert_string_equal(json_string_value(json_array_get(caps, 0)), "PARTITION_AWARE");
    assert_int_equal(json_array_size(json_object_get(fw, "tasks")), 0);

    json_t *done = json_object_get(fw, "completed_tasks");
    assert_int_equal(json_array_size(done), N_TASKS + 2);
    size_t i;
    json_t *t;
    json_array_foreach(done, i, t) {
        const char *id = str(t, "id");
        if (strcmp(str(t, "state"), expected_state(id)) != 0) {
            dump(f, r);
            fail_msg("task %s is %s in /state, expected %s", id, str(t, "state"), expected_state(id));
        }
        assert_string_equal(str(t, "framework_id"), r->framework_id);
        assert_string_equal(str(t, "name"), id);
        json_t *res = json_object_get(t, "resources");
        double cpus = json_number_value(json_object_get(res, "cpus"));
        double mem = json_number_value(json_object_get(res, "mem"));
        assert_true(cpus > 0.099 && cpus < 0.101);
        assert_true(mem > 31.9 && mem < 32.1);
    }
    for (int k = 0; k < N_TASKS; k++) {
        char id[32];
        snprintf(id, sizeof(id), "task-%d", k);
        assert_non_null(find_by_id(done, id));
    }
    assert_non_null(find_by_id(done, "failer"));
    assert_non_null(find_by_id(done, "sleeper"));

    /* Everything was given back. */
    json_t *agent;
    json_array_foreach(json_object_get(st, "slaves"), i, agent) {
        json_t *used = json_object_get(agent, "used_resources");
        assert_true(json_number_value(json_object_get(used, "cpus")) < 0.001);
        json_t *offered = json_object_get(agent, "offered_resources");
        assert_true(json_number_value(json_object_get(offered, "cpus")) < 0.001);
    }
    json_decref(st);

    /* The command really ran: its output is in its sandbox. */
    char *data = NULL;
    for (int a = 0; a < f->c.n_agents && data == NULL; a++) {
        char *dir = h_agent_sandbox(&f->c, a, r->framework_id, "task-0");
        if (dir == NULL)
            continue;
        char path[1024];
        snprintf(path, sizeof(path), "%s/stdout", dir);
        data = h_agent_read_file(f->c.agents[a].port, path);
        free(dir);
    }
    assert_non_null(data);
    assert_non_null(strstr(data, "hello from mesos-go"));
    free(data);
}

/* ---- tests ---- */

static void mesos_go_scheduler_runs_tasks_over_json(void **state)
{
    struct fixture *f = *state;
    static struct run r;
    run_scheduler(f, "json", &r);
    check_output(f, &r);
    check_state(f, &r, "mesos-go-json");
}

static void mesos_go_scheduler_runs_tasks_over_protobuf(void **state)
{
    struct fixture *f = *state;
    static struct run r;
    run_scheduler(f, "protobuf", &r);
    check_output(f, &r);
    check_state(f, &r, "mesos-go-protobuf");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(mesos_go_scheduler_runs_tasks_over_json, setup, teardown),
        cmocka_unit_test_setup_teardown(mesos_go_scheduler_runs_tasks_over_protobuf, setup,
                                        teardown),
    };
    if (getenv("TEST_FILTER"))
        cmocka_set_test_filter(getenv("TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
