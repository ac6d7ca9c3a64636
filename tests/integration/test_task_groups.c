/* Task groups on the default executor (`tepui-executor --task_group`) with
 * a real master and agent: every task of a group runs, each in its own
 * sandbox below the executor's; a task that fails takes its group down and
 * so does a KILL of one task; an executor runs a second group and keeps its
 * groups apart; the executor's resources are accounted while it runs; and
 * `tepui execute --task_group` / `--task` run them end to end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/task_state.h"
#include "common/xalloc.h"
#include "harness.h"
#include "wire/pb.h"

#define T_OFFERS TEPUI__SCHEDULER__EVENT__TYPE__OFFERS
#define T_UPDATE TEPUI__SCHEDULER__EVENT__TYPE__UPDATE
#define ST(s) TEPUI__TASK_STATE__TASK_##s

/* Generous: executors start slowly under the sanitizers. */
#define EVENT_TIMEOUT 20.0

/* A task that writes its pid (its process group) to "pid" in its sandbox
 * and runs until the test creates "go" there; then it exits with CODE. */
#define WAIT_FOR_GO(code) \
    "echo $$ > pid; while [ ! -e go ]; do sleep 0.05; done; exit " #code

#define EXECUTOR_ID "group-executor"

struct fixture {
    struct h_cluster c;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    h_cluster_init(&f->c);
    h_start_master(&f->c, NULL);
    h_start_agent(&f->c, "cpus:4;mem:4096;disk:4096;ports:[31000-31099]", NULL);
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

/* ---- scheduler helpers ---- */

static void subscribe(struct fixture *f, struct h_sched *s, const char *extra_fields)
{
    assert_int_equal(h_sched_subscribe(s, f->c.master.port, WIRE_JSON,
                                       h_framework_json("groups", extra_fields)),
                     200);
}

static Tepui__Offer *next_offer(struct h_sched *s)
{
    Tepui__Scheduler__Event *ev = h_sched_next(s, T_OFFERS, EVENT_TIMEOUT);
    assert_non_null(ev);
    assert_int_equal(ev->offers->n_offers, 1);
    Tepui__Offer *o = PB_COPY(Tepui__Offer, ev->offers->offers[0]);
    pb_free(ev);
    return o;
}

static double offer_scalar(const Tepui__Offer *o, const char *name)
{
    double v = 0;
    for (size_t i = 0; i < o->n_resources; i++)
        if (strcmp(o->resources[i]->name, name) == 0 && o->resources[i]->scalar != NULL)
            v += o->resources[i]->scalar->value;
    return v;
}

static json_t *resources(double cpus, double mem)
{
    return json_pack("[{s:s,s:s,s:{s:f}},{s:s,s:s,s:{s:f}}]", "name", "cpus", "type", "SCALAR",
                     "scalar", "value", cpus, "name", "mem", "type", "SCALAR", "scalar", "value",
                     mem);
}

/* A TaskInfo running a shell command on the offer's agent. */
static json_t *task_info(const Tepui__Offer *o, const char *id, const char *command)
{
    return json_pack("{s:s,s:{s:s},s:{s:s},s:o,s:{s:s}}", "name", id, "task_id", "value", id,
                     "agent_id", "value", o->agent_id->value, "resources", resources(0.5, 64),
                     "command", "value", command);
}

/* The default executor's ExecutorInfo; the same JSON each time, as a
 * second group on a running executor must name it identically. */
static json_t *default_executor(void)
{
    return json_pack("{s:s,s:{s:s},s:o}", "type", "DEFAULT", "executor_id", "value", EXECUTOR_ID,
                     "resources", resources(0.1, 32));
}

static int call(struct h_sched *s, json_t *c)
{
    char *text = json_dumps(c, JSON_COMPACT);
    json_decref(c);
    int rc = h_sched_call(s, text, NULL);
    free(text);
    return rc;
}

/* Accepts the offer with one LAUNCH_GROUP of tasks (a JSON array, taken). */
static int launch_group(struct h_sched *s, const Tepui__Offer *o, json_t *tasks)
{
    json_t *op = json_pack("{s:s,s:{s:o,s:{s:o}}}", "type", "LAUNCH_GROUP", "launch_group",
                           "executor", default_executor(), "task_group", "tasks", tasks);
    return call(s, json_pack("{s:s,s:{s:[{s:s}],s:[o],s:{s:f}}}", "type", "ACCEPT", "accept",
                             "offer_ids", "value", o->id->value, "operations", op, "filters",
                             "refuse_seconds", 0.0));
}

static int kill_task(struct h_sched *s, const char *task_id, const char *agent_id,
                     double grace_secs)
{
    return call(s, json_pack("{s:s,s:{s:{s:s},s:{s:s},s:{s:{s:I}}}}", "type", "KILL", "kill",
                             "task_id", "value", task_id, "agent_id", "value", agent_id,
                             "kill_policy", "grace_period", "nanoseconds",
                             (json_int_t)(grace_secs * 1e9)));
}

/* ---- following several tasks ---- */

#define MAX_STATES 8

struct history {
    const char *id;
    int states[MAX_STATES];
    int n;
    char *message;            /* of the terminal update */
    char executor_id[64];
};

/* Acknowledges every update until each task of h (n of them) is terminal,
 * recording the states each went through. */
static void follow(struct h_sched *s, struct history *h, size_t n)
{
    double deadline = clock_mono() + EVENT_TIMEOUT;
    size_t ended = 0;
    while (ended < n) {
        Tepui__Scheduler__Event *ev = h_sched_next(s, T_UPDATE, deadline - clock_mono());
        assert_non_null(ev);
        const Tepui__TaskStatus *st = ev->update->status;
        if (st->has_uuid)
            assert_int_equal(h_sched_ack(s, st), 202);
        for (size_t i = 0; i < n; i++) {
            if (strcmp(h[i].id, st->task_id->value) != 0)
                continue;
            assert_true(h[i].n < MAX_STATES);
            h[i].states[h[i].n++] = st->state;
            if (st->executor_id != NULL)
                snprintf(h[i].executor_id, sizeof(h[i].executor_id), "%s", st->executor_id->value);
            if (task_state_is_terminal(st->state)) {
                h[i].message = xstrdup(st->message ? st->message : "");
                ended++;
            }
        }
        pb_free(ev);
    }
}

static void history_free(struct history *h, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(h[i].message);
}

/* Asserts the states a task went through, in order (n of them). */
static void assert_states(const struct history *h, const int *want, int n)
{
    if (h->n != n)
        fail_msg("task %s went through %d states, expected %d (last %s)", h->id, h->n, n,
                 h->n ? task_state_name(h->states[h->n - 1]) : "none");
    for (int i = 0; i < n; i++)
        if (h->states[i] != want[i])
            fail_msg("task %s: state %d is %s, expected %s", h->id, i,
                     task_state_name(h->states[i]), task_state_name(want[i]));
}

/* Waits until every task of ids (NULL-terminated) is RUNNING,
 * acknowledging what comes on the way. */
static void wait_running(struct h_sched *s, const char *const *ids)
{
    double deadline = clock_mono() + EVENT_TIMEOUT;
    size_t n = 0, seen = 0;
    while (ids[n] != NULL)
        n++;
    int *running = calloc(n, sizeof(*running));
    while (seen < n) {
        Tepui__Scheduler__Event *ev = h_sched_next(s, T_UPDATE, deadline - clock_mono());
        assert_non_null(ev);
        const Tepui__TaskStatus *st = ev->update->status;
        if (st->has_uuid)
            assert_int_equal(h_sched_ack(s, st), 202);
        for (size_t i = 0; i < n; i++)
            if (strcmp(ids[i], st->task_id->value) == 0 && st->state == ST(RUNNING) &&
                !running[i]) {
                running[i] = 1;
                seen++;
            }
        pb_free(ev);
    }
    free(running);
}

/* ---- sandboxes and processes ---- */

struct sandbox_wait {
    struct fixture *f;
    const struct h_sched *s;
    char *dir;
};

static int sandbox_known(void *arg)
{
    struct sandbox_wait *w = arg;
    w->dir = h_agent_sandbox(&w->f->c, 0, w->s->framework_id, EXECUTOR_ID);
    return w->dir != NULL;
}

/* The executor's sandbox, once the agent lists it (an ACCEPT's 202 comes
 * before the group reaches the agent). */
static char *executor_sandbox(struct fixture *f, const struct h_sched *s)
{
    struct sandbox_wait w = {f, s, NULL};
    assert_true(h_wait_until(sandbox_known, &w, EVENT_TIMEOUT));
    return w.dir;
}

static char *task_sandbox(struct fixture *f, const struct h_sched *s, const char *task_id)
{
    char *dir = executor_sandbox(f, s);
    char *out = xasprintf("%s/tasks/%s", dir, task_id);
    free(dir);
    return out;
}

/* A file of a task's sandbox, read through the agent's /files/read. */
static char *task_file(struct fixture *f, const struct h_sched *s, const char *task_id,
                       const char *name)
{
    char *dir = task_sandbox(f, s, task_id);
    char *path = xasprintf("%s/%s", dir, name);
    char *data = h_agent_read_file(f->c.agents[0].port, path);
    if (data == NULL)
        fail_msg("cannot read %s through the agent", path);
    free(path);
    free(dir);
    return data;
}

static void touch(const char *dir, const char *name)
{
    char *path = xasprintf("%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT, 0644);
    assert_true(fd >= 0);
    close(fd);
    free(path);
}

static void touch_go(struct fixture *f, const struct h_sched *s, const char *task_id)
{
    char *dir = task_sandbox(f, s, task_id);
    touch(dir, "go");
    free(dir);
}

static int pid_file_written(void *arg)
{
    FILE *fp = fopen(arg, "r");
    if (fp == NULL)
        return 0;
    char line[32] = "";
    int ok = fgets(line, sizeof(line), fp) != NULL && strchr(line, '\n') != NULL;
    fclose(fp);
    return ok;
}

/* The pid a task wrote to "pid" in its sandbox: its process group. */
static pid_t task_pid(struct fixture *f, const struct h_sched *s, const char *task_id)
{
    char *dir = task_sandbox(f, s, task_id);
    char *path = xasprintf("%s/pid", dir);
    assert_true(h_wait_until(pid_file_written, path, EVENT_TIMEOUT));
    FILE *fp = fopen(path, "r");
    int pid = 0;
    assert_int_equal(fscanf(fp, "%d", &pid), 1);
    fclose(fp);
    free(path);
    free(dir);
    assert_true(pid > 1);
    return pid;
}

/* Whether any live process is in the process group pgid. */
static int group_alive(pid_t pgid)
{
    DIR *d = opendir("/proc");
    assert_non_null(d);
    int alive = 0;
    struct dirent *de;
    while (!alive && (de = readdir(d)) != NULL) {
        char *end = NULL;
        long pid = strtol(de->d_name, &end, 10);
        if (end == de->d_name || *end != '\0')
            continue;
        char path[64], buf[512];
        snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
        int fd = open(path, O_RDONLY);
        if (fd < 0)
            continue;
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n <= 0)
            continue;
        buf[n] = '\0';
        char *rp = strrchr(buf, ')');
        char state = 0;
        int ppid = 0, pgrp = 0;
        if (rp != NULL && sscanf(rp + 1, " %c %d %d", &state, &ppid, &pgrp) == 3)
            alive = pgrp == pgid && state != 'Z' && state != 'X';
    }
    closedir(d);
    return alive;
}

static int group_gone(void *arg)
{
    return !group_alive(*(pid_t *)arg);
}

/* The executor has ended: the agent lists it among the completed ones. */
struct executor_probe {
    struct fixture *f;
    const char *framework_id;
};

static int executor_completed(void *arg)
{
    struct executor_probe *p = arg;
    json_t *st = h_get_json(p->f->c.agents[0].port, "/state");
    static const char *lists[] = {"frameworks", "completed_frameworks"};
    int running = 0, completed = 0;
    for (size_t l = 0; l < 2; l++) {
        size_t i, k;
        json_t *fw, *e;
        json_array_foreach(json_object_get(st, lists[l]), i, fw) {
            if (strcmp(json_string_value(json_object_get(fw, "id")), p->framework_id) != 0)
                continue;
            json_array_foreach(json_object_get(fw, "executors"), k, e)
                running += strcmp(json_string_value(json_object_get(e, "id")), EXECUTOR_ID) == 0;
            json_array_foreach(json_object_get(fw, "completed_executors"), k, e)
                completed += strcmp(json_string_value(json_object_get(e, "id")), EXECUTOR_ID) == 0;
        }
    }
    json_decref(st);
    return running == 0 && completed > 0;
}

static void assert_executor_ends(struct fixture *f, const struct h_sched *s)
{
    struct executor_probe p = {f, s->framework_id};
    assert_true(h_wait_until(executor_completed, &p, EVENT_TIMEOUT));
}

/* ---- 1. a group runs ---- */

static void group_of_three_tasks_all_finish_and_the_executor_exits(void **state)
{
    struct fixture *f = *state;
    struct h_sched s;
    subscribe(f, &s, NULL);
    Tepui__Offer *o = next_offer(&s);
    assert_int_equal(launch_group(&s, o, json_pack("[o,o,o]", task_info(o, "t1", "true"),
                                                   task_info(o, "t2", "sleep 0.2"),
                                                   task_info(o, "t3", "echo three"))),
                     202);
    struct history h[3] = {{.id = "t1"}, {.id = "t2"}, {.id = "t3"}};
    follow(&s, h, 3);
    static const int want[] = {ST(STARTING), ST(RUNNING), ST(FINISHED)};
    for (size_t i = 0; i < 3; i++) {
        assert_states(&h[i], want, 3);
        assert_string_equal(h[i].message, "Command exited with status 0");
        assert_string_equal(h[i].executor_id, EXECUTOR_ID);
    }
    history_free(h, 3);
    /* With every update acknowledged, the executor is done. */
    assert_executor_ends(f, &s);
    pb_free(o);
    h_sched_close(&s);
}

static void each_task_has_its_own_sandbox_with_its_output(void **state)
{
    struct fixture *f = *state;
    struct h_sched s;
    subscribe(f, &s, NULL);
    Tepui__Offer *o = next_offer(&s);
    const char *cmd = "echo out-$MESOS_TASK_ID_X; echo err >&2; echo \"sandbox=$MESOS_SANDBOX\"; "
                      "echo \"cwd=$(pwd)\"";
    json_t *a = task_info(o, "a", cmd), *b = task_info(o, "b", cmd);
    /* Each task's own environment variable names it. */
    json_object_set_new(json_object_get(a, "command"), "environment",
                        json_pack("{s:[{s:s,s:s}]}", "variables", "name", "MESOS_TASK_ID_X",
                                  "value", "a"));
    json_object_set_new(json_object_get(b, "command"), "environment",
                        json_pack("{s:[{s:s,s:s}]}", "variables", "name", "MESOS_TASK_ID_X",
                                  "value", "b"));
    assert_int_equal(launch_group(&s, o, json_pack("[o,o]", a, b)), 202);
    struct history h[2] = {{.id = "a"}, {.id = "b"}};
    follow(&s, h, 2);
    assert_int_equal(h[0].states[h[0].n - 1], ST(FINISHED));
    assert_int_equal(h[1].states[h[1].n - 1], ST(FINISHED));
    history_free(h, 2);

    static const char *const ids[] = {"a", "b"};
    for (size_t i = 0; i < 2; i++) {
        char *dir = task_sandbox(f, &s, ids[i]);
        char *want = xasprintf("out-%s\nsandbox=%s\ncwd=%s\n", ids[i], dir, dir);
        char *out = task_file(f, &s, ids[i], "stdout");
        assert_string_equal(out, want);
        char *err = task_file(f, &s, ids[i], "stderr");
        assert_string_equal(err, "err\n");
        free(err);
        free(out);
        free(want);
        free(dir);
    }
    /* The executor's own stdout has none of it. */
    char *edir = executor_sandbox(f, &s);
    char *path = xasprintf("%s/stdout", edir);
    char *eout = h_agent_read_file(f->c.agents[0].port, path);
    assert_non_null(eout);
    assert_null(strstr(eout, "out-"));
    free(eout);
    free(path);
    free(edir);
    pb_free(o);
    h_sched_close(&s);
}

/* ---- 2. a group ends together ---- */

static void failing_task_fails_and_the_rest_of_its_group_is_killed(void **state)
{
    struct fixture *f = *state;
    struct h_sched s;
    subscribe(f, &s, NULL);
    Tepui__Offer *o = next_offer(&s);
    assert_int_equal(launch_group(&s, o, json_pack("[o,o,o]", task_info(o, "bad", WAIT_FOR_GO(1)),
                                                   task_info(o, "ok1", WAIT_FOR_GO(0)),
                                                   task_info(o, "ok2", WAIT_FOR_GO(0)))),
                     202);
    wait_running(&s, (const char *[]){"bad", "ok1", "ok2", NULL});
    pid_t pids[3] = {task_pid(f, &s, "bad"), task_pid(f, &s, "ok1"), task_pid(f, &s, "ok2")};
    touch_go(f, &s, "bad");

    struct history h[3] = {{.id = "bad"}, {.id = "ok1"}, {.id = "ok2"}};
    follow(&s, h, 3);
    assert_int_equal(h[0].states[h[0].n - 1], ST(FAILED));
    assert_string_equal(h[0].message, "Command exited with status 1");
    for (size_t i = 1; i < 3; i++) {
        assert_int_equal(h[i].states[h[i].n - 1], ST(KILLED));
        /* No TASK_KILLING for a framework without TASK_KILLING_STATE. */
        for (int k = 0; k < h[i].n; k++)
            assert_int_not_equal(h[i].states[k], ST(KILLING));
    }
    history_free(h, 3);
    for (size_t i = 0; i < 3; i++)
        assert_true(h_wait_until(group_gone, &pids[i], EVENT_TIMEOUT));
    assert_executor_ends(f, &s);
    pb_free(o);
    h_sched_close(&s);
}

static void finished_task_leaves_the_rest_of_its_group_running(void **state)
{
    struct fixture *f = *state;
    struct h_sched s;
    subscribe(f, &s, NULL);
    Tepui__Offer *o = next_offer(&s);
    assert_int_equal(launch_group(&s, o, json_pack("[o,o]", task_info(o, "quick", "true"),
                                                   task_info(o, "slow", WAIT_FOR_GO(0)))),
                     202);
    Tepui__TaskStatus *st = h_sched_wait_state(&s, "quick", ST(FINISHED), EVENT_TIMEOUT);
    assert_non_null(st);
    pb_free(st);
    pid_t pid = task_pid(f, &s, "slow");
    /* Give a wrong kill time to happen. */
    usleep(500 * 1000);
    assert_true(group_alive(pid));
    touch_go(f, &s, "slow");
    st = h_sched_wait_state(&s, "slow", ST(FINISHED), EVENT_TIMEOUT);
    assert_non_null(st);
    pb_free(st);
    assert_executor_ends(f, &s);
    pb_free(o);
    h_sched_close(&s);
}

static void kill_of_one_task_kills_its_whole_group(void **state)
{
    struct fixture *f = *state;
    struct h_sched s;
    subscribe(f, &s, "\"capabilities\":[{\"type\":\"TASK_KILLING_STATE\"}]");
    Tepui__Offer *o = next_offer(&s);
    /* "stubborn" ignores SIGTERM: only the escalation to SIGKILL ends it. */
    assert_int_equal(launch_group(&s, o, json_pack("[o,o,o]", task_info(o, "k1", WAIT_FOR_GO(0)),
                                                   task_info(o, "k2", WAIT_FOR_GO(0)),
                                                   task_info(o, "stubborn",
                                                             "trap '' TERM; " WAIT_FOR_GO(0)))),
                     202);
    pid_t pids[3] = {task_pid(f, &s, "k1"), task_pid(f, &s, "k2"), task_pid(f, &s, "stubborn")};
    wait_running(&s, (const char *[]){"k1", "k2", "stubborn", NULL});
    double start = clock_mono();
    assert_int_equal(kill_task(&s, "k2", o->agent_id->value, 1.0), 202);

    struct history h[3] = {{.id = "k1"}, {.id = "k2"}, {.id = "stubborn"}};
    follow(&s, h, 3);
    static const int want[] = {ST(KILLING), ST(KILLED)};
    for (size_t i = 0; i < 3; i++)
        assert_states(&h[i], want, 2);
    /* The KILL's grace period held for the stubborn one, then SIGKILL. */
    assert_true(clock_mono() - start >= 0.9);
    assert_true(clock_mono() - start < 10);
    history_free(h, 3);
    for (size_t i = 0; i < 3; i++)
        assert_true(h_wait_until(group_gone, &pids[i], EVENT_TIMEOUT));
    assert_executor_ends(f, &s);
    pb_free(o);
    h_sched_close(&s);
}

static void teardown_shuts_the_executor_down_with_every_task(void **state)
{
    struct fixture *f = *state;
    struct h_sched s;
    subscribe(f, &s, NULL);
    Tepui__Offer *o = next_offer(&s);
    assert_int_equal(launch_group(&s, o, json_pack("[o,o]", task_info(o, "d1", WAIT_FOR_GO(0)),
                                                   task_info(o, "d2",
                                                             "trap '' TERM; " WAIT_FOR_GO(0)))),
                     202);
    wait_running(&s, (const char *[]){"d1", "d2", NULL});
    pid_t pids[2] = {task_pid(f, &s, "d1"), task_pid(f, &s, "d2")};
    assert_int_equal(h_sched_call(&s, "{\"type\":\"TEARDOWN\"}", NULL), 202);
    /* SHUTDOWN reaches the executor, which kills both (the stubborn one
     * with SIGKILL within its shutdown grace period) and exits. */
    for (size_t i = 0; i < 2; i++)
        assert_true(h_wait_until(group_gone, &pids[i], EVENT_TIMEOUT));
    assert_executor_ends(f, &s);
    pb_free(o);
    h_sched_close(&s);
}

/* ---- 3. several groups on one executor ---- */

static void second_group_runs_on_the_same_executor_and_fails_alone(void **state)
{
    struct fixture *f = *state;
    struct h_sched s;
    subscribe(f, &s, NULL);
    Tepui__Offer *o = next_offer(&s);
    assert_int_equal(launch_group(&s, o, json_pack("[o]", task_info(o, "first", WAIT_FOR_GO(0)))),
                     202);
    wait_running(&s, (const char *[]){"first", NULL});
    pid_t first = task_pid(f, &s, "first");
    char *sandbox_before = executor_sandbox(f, &s);
    pb_free(o);

    /* The second group names the running executor: it is not started again
     * and its resources are not taken again. */
    o = next_offer(&s);
    assert_int_equal(launch_group(&s, o, json_pack("[o,o]", task_info(o, "second", WAIT_FOR_GO(3)),
                                                   task_info(o, "third", WAIT_FOR_GO(0)))),
                     202);
    wait_running(&s, (const char *[]){"second", "third", NULL});
    char *sandbox_after = executor_sandbox(f, &s);
    assert_string_equal(sandbox_before, sandbox_after);
    pid_t third = task_pid(f, &s, "third");

    /* A failure in the second group kills only the second group. */
    touch_go(f, &s, "second");
    struct history h[2] = {{.id = "second"}, {.id = "third"}};
    follow(&s, h, 2);
    assert_int_equal(h[0].states[h[0].n - 1], ST(FAILED));
    assert_string_equal(h[0].message, "Command exited with status 3");
    assert_int_equal(h[1].states[h[1].n - 1], ST(KILLED));
    assert_string_equal(h[0].executor_id, EXECUTOR_ID);
    history_free(h, 2);
    assert_true(h_wait_until(group_gone, &third, EVENT_TIMEOUT));
    assert_true(group_alive(first));

    touch_go(f, &s, "first");
    Tepui__TaskStatus *st = h_sched_wait_state(&s, "first", ST(FINISHED), EVENT_TIMEOUT);
    assert_non_null(st);
    assert_string_equal(st->executor_id->value, EXECUTOR_ID);
    pb_free(st);
    assert_executor_ends(f, &s);
    /* One executor ran all three, each task in its own sandbox below it. */
    json_t *ag = h_get_json(f->c.agents[0].port, "/state");
    char *dump = json_dumps(ag, JSON_COMPACT);
    assert_non_null(strstr(dump, sandbox_before));
    json_decref(ag);
    free(dump);
    static const char *const ids[] = {"first", "second", "third"};
    for (size_t i = 0; i < 3; i++) {
        char *path = xasprintf("%s/tasks/%s/stdout", sandbox_before, ids[i]);
        assert_int_equal(access(path, F_OK), 0);
        free(path);
    }
    free(sandbox_before);
    free(sandbox_after);
    pb_free(o);
    h_sched_close(&s);
}

/* ---- 4. resources ---- */

static void offers_lack_the_groups_and_executors_resources_while_it_runs(void **state)
{
    struct fixture *f = *state;
    struct h_sched s;
    subscribe(f, &s, NULL);
    Tepui__Offer *o = next_offer(&s);
    assert_true(offer_scalar(o, "cpus") > 3.99 && offer_scalar(o, "cpus") < 4.01);
    assert_int_equal(launch_group(&s, o, json_pack("[o,o]", task_info(o, "r1", WAIT_FOR_GO(0)),
                                                   task_info(o, "r2", WAIT_FOR_GO(0)))),
                     202);
    wait_running(&s, (const char *[]){"r1", "r2", NULL});

    /* Two tasks of 0.5 cpus and 64 MB, and the executor's 0.1 and 32. */
    Tepui__Offer *rest = next_offer(&s);
    assert_true(offer_scalar(rest, "cpus") > 2.89 && offer_scalar(rest, "cpus") < 2.91);
    assert_true(offer_scalar(rest, "mem") > 3935.9 && offer_scalar(rest, "mem") < 3936.1);

    assert_int_equal(h_sched_call(&s, "{\"type\":\"SUPPRESS\"}", NULL), 202);
    assert_int_equal(call(&s, json_pack("{s:s,s:{s:[{s:s}],s:{s:f}}}", "type", "DECLINE",
                                        "decline", "offer_ids", "value", rest->id->value,
                                        "filters", "refuse_seconds", 0.0)),
                     202);
    touch_go(f, &s, "r1");
    touch_go(f, &s, "r2");
    struct history h[2] = {{.id = "r1"}, {.id = "r2"}};
    follow(&s, h, 2);
    history_free(h, 2);
    /* Once the executor is gone, its share comes back too. */
    assert_executor_ends(f, &s);
    assert_int_equal(h_sched_call(&s, "{\"type\":\"REVIVE\"}", NULL), 202);
    Tepui__Offer *whole = NULL;
    double deadline = clock_mono() + EVENT_TIMEOUT;
    while (clock_mono() < deadline) {
        whole = next_offer(&s);
        if (offer_scalar(whole, "cpus") > 3.99)
            break;
        /* An offer made before the executor's exit was reported. */
        assert_int_equal(call(&s, json_pack("{s:s,s:{s:[{s:s}],s:{s:f}}}", "type", "DECLINE",
                                            "decline", "offer_ids", "value", whole->id->value,
                                            "filters", "refuse_seconds", 0.0)),
                         202);
        pb_free(whole);
        whole = NULL;
    }
    assert_non_null(whole);
    assert_true(offer_scalar(whole, "cpus") > 3.99 && offer_scalar(whole, "cpus") < 4.01);
    assert_true(offer_scalar(whole, "mem") > 4095.9 && offer_scalar(whole, "mem") < 4096.1);
    pb_free(whole);
    pb_free(rest);
    pb_free(o);
    h_sched_close(&s);
}

/* ---- 5. tepui execute ---- */

/* Runs the CLI; returns its exit code (-1 on a timeout or a signal). */
static int execute(char *out, size_t n, const char *const *args)
{
    const char *argv[16] = {h_bin("tepui"), "execute"};
    size_t i = 2;
    for (const char *const *a = args; *a != NULL && i < 15; a++)
        argv[i++] = *a;
    argv[i] = NULL;
    int status = h_run_capture(argv, out, n, 60);
    if (status == -1 || !WIFEXITED(status)) {
        fprintf(stderr, "tepui execute timed out or died:\n%s\n", out);
        return -1;
    }
    return WEXITSTATUS(status);
}

#define assert_contains(text, needle) \
    do { \
        const char *t_ = (text), *n_ = (needle); \
        if (strstr(t_, n_) == NULL) \
            fail_msg("expected \"%s\" in:\n%s", n_, t_); \
    } while (0)

static void execute_task_group_from_a_file_runs_every_task(void **state)
{
    struct fixture *f = *state;
    char master[64], path[600], flag[700];
    snprintf(master, sizeof(master), "--master=127.0.0.1:%d", f->c.master.port);
    snprintf(path, sizeof(path), "%s/group.json", f->c.root);
    /* As mesos-execute takes it: no agent_id, no executor. */
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("{\"tasks\":["
          "{\"name\":\"one\",\"task_id\":{\"value\":\"one\"},"
          "\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":0.1}},"
          "{\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":{\"value\":32}}],"
          "\"command\":{\"value\":\"echo first task\"}},"
          "{\"name\":\"two\",\"task_id\":{\"value\":\"two\"},\"agent_id\":{\"value\":\"\"},"
          "\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":0.1}},"
          "{\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":{\"value\":32}}],"
          "\"command\":{\"value\":\"echo second task\"}}]}",
          fp);
    fclose(fp);
    snprintf(flag, sizeof(flag), "--task_group=@%s", path);
    char out[16384];
    int code = execute(out, sizeof(out), (const char *[]){master, flag, NULL});
    if (code != 0)
        fail_msg("tepui execute exited %d:\n%s", code, out);
    assert_contains(out, "Submitted task group with tasks [ one, two ] to agent");
    assert_contains(out, "Received status update TASK_RUNNING for task 'one'");
    assert_contains(out, "Received status update TASK_FINISHED for task 'one'");
    assert_contains(out, "Received status update TASK_FINISHED for task 'two'");
    assert_contains(out, "---- stdout of task 'one' ----\nfirst task\n");
    assert_contains(out, "---- stdout of task 'two' ----\nsecond task\n");

    /* A failing group: the failure's exit status, the other task killed. */
    snprintf(flag, sizeof(flag),
             "--task_group={\"tasks\":["
             "{\"name\":\"f1\",\"task_id\":{\"value\":\"f1\"},"
             "\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":0.1}}],"
             "\"command\":{\"value\":\"sleep 0.5; exit 4\"}},"
             "{\"name\":\"f2\",\"task_id\":{\"value\":\"f2\"},"
             "\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":0.1}}],"
             "\"command\":{\"value\":\"sleep 60\"}}]}");
    code = execute(out, sizeof(out), (const char *[]){master, flag, NULL});
    if (code != 4)
        fail_msg("tepui execute exited %d, expected 4:\n%s", code, out);
    assert_contains(out, "Received status update TASK_FAILED for task 'f1'");
    assert_contains(out, "Received status update TASK_KILLED for task 'f2'");

    /* Bad input is refused before anything runs. */
    code = execute(out, sizeof(out), (const char *[]){master, "--task_group={\"tasks\":[]}", NULL});
    assert_int_equal(code, 2);
    assert_contains(out, "no tasks");
    code = execute(out, sizeof(out),
                   (const char *[]){master, "--task_group={\"tasks\":[{\"name\":\"x\"}]}", NULL});
    assert_int_equal(code, 2);
    assert_contains(out, "task_id");
    code = execute(out, sizeof(out), (const char *[]){master, "--task_group=@/nonexistent", NULL});
    assert_int_equal(code, 2);
    code = execute(out, sizeof(out),
                   (const char *[]){master, "--task={}", "--task_group={}", NULL});
    assert_int_equal(code, 2);
    code = execute(out, sizeof(out), (const char *[]){master, "--task={}", "--name=x", NULL});
    assert_int_equal(code, 2);
}

static void execute_task_runs_a_command_task_info(void **state)
{
    struct fixture *f = *state;
    char master[64];
    snprintf(master, sizeof(master), "--master=127.0.0.1:%d", f->c.master.port);
    const char *task = "--task={\"name\":\"single\",\"task_id\":{\"value\":\"single\"},"
                       "\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":0.2}},"
                       "{\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":{\"value\":32}}],"
                       "\"command\":{\"value\":\"echo from a TaskInfo; exit 0\"}}";
    char out[16384];
    int code = execute(out, sizeof(out), (const char *[]){master, task, NULL});
    if (code != 0)
        fail_msg("tepui execute exited %d:\n%s", code, out);
    assert_contains(out, "Submitted task 'single' to agent");
    assert_contains(out, "Received status update TASK_FINISHED for task 'single'");
    assert_contains(out, "---- stdout of task 'single' ----\nfrom a TaskInfo\n");
}

/* A TaskInfo may bring its own executor: the example thread executor. */
static void execute_task_with_an_executor_runs_on_that_executor(void **state)
{
    struct fixture *f = *state;
    char master[64], exe[600], rel[500];
    snprintf(master, sizeof(master), "--master=127.0.0.1:%d", f->c.master.port);
    const char *dir = getenv("TEPUI_BUILD_DIR");
    snprintf(rel, sizeof(rel), "%s/examples/thread_executor", dir ? dir : "build");
    if (realpath(rel, exe) == NULL)
        skip();
    char *task = xasprintf(
        "--task={\"name\":\"custom\",\"task_id\":{\"value\":\"custom\"},"
        "\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":0.2}}],"
        "\"executor\":{\"executor_id\":{\"value\":\"threads\"},"
        "\"command\":{\"value\":\"%s\",\"shell\":false},"
        "\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":0.1}},"
        "{\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":{\"value\":32}}]}}",
        exe);
    char out[16384];
    int code = execute(out, sizeof(out), (const char *[]){master, task, NULL});
    free(task);
    if (code != 0)
        fail_msg("tepui execute exited %d:\n%s", code, out);
    assert_contains(out, "Received status update TASK_FINISHED for task 'custom'");
    /* Its output is looked for in the executor's sandbox, which exists. */
    assert_null(strstr(out, "cannot find the sandbox"));
    json_t *st = h_get_json(f->c.agents[0].port, "/state");
    char *dump = json_dumps(st, JSON_COMPACT);
    assert_non_null(strstr(dump, "\"id\":\"threads\""));
    free(dump);
    json_decref(st);
}

#define TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(group_of_three_tasks_all_finish_and_the_executor_exits),
        TEST(each_task_has_its_own_sandbox_with_its_output),
        TEST(failing_task_fails_and_the_rest_of_its_group_is_killed),
        TEST(finished_task_leaves_the_rest_of_its_group_running),
        TEST(kill_of_one_task_kills_its_whole_group),
        TEST(teardown_shuts_the_executor_down_with_every_task),
        TEST(second_group_runs_on_the_same_executor_and_fails_alone),
        TEST(offers_lack_the_groups_and_executors_resources_while_it_runs),
        TEST(execute_task_group_from_a_file_runs_every_task),
        TEST(execute_task_runs_a_command_task_info),
        TEST(execute_task_with_an_executor_runs_on_that_executor),
    };
    if (getenv("TEST_FILTER"))
        cmocka_set_test_filter(getenv("TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
