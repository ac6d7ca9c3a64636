/* The task lifecycle on a real master, agent and command executor: states
 * and their order, exit statuses, kills and their escalation, reliable
 * status updates, reconciliation, resources coming back, the environment
 * and user a task runs with, the agent's /files endpoints, many tasks, an
 * executor that dies, and LAUNCH_GROUP validation (task groups that run are
 * test_task_groups.c's). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/task_state.h"
#include "common/xalloc.h"
#include "harness.h"
#include "wire/pb.h"

#define T_OFFERS TEPUI__SCHEDULER__EVENT__TYPE__OFFERS
#define T_UPDATE TEPUI__SCHEDULER__EVENT__TYPE__UPDATE

/* Generous: executors start slowly under the sanitizers. */
#define EVENT_TIMEOUT 20.0

/* A task that runs until the test creates the file "go" in its sandbox. */
#define WAIT_FOR_GO "while [ ! -e go ]; do sleep 0.05; done"

struct fixture {
    struct h_cluster c;
};

static int start_cluster(void **state, const char *const *agent_flags)
{
    struct fixture *f = calloc(1, sizeof(*f));
    h_cluster_init(&f->c);
    h_start_master(&f->c, NULL);
    h_start_agent(&f->c, NULL, agent_flags);
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return start_cluster(state, NULL);
}

/* Unacknowledged updates come back within a test's patience. */
static int setup_fast_retry(void **state)
{
    static const char *const flags[] = {"--status_update_retry_interval=300ms", NULL};
    return start_cluster(state, flags);
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    h_cluster_destroy(&f->c);
    free(f);
    return 0;
}

/* ---- scheduler helpers ---- */

static void subscribe(struct fixture *f, struct h_sched *s, enum wire_format fmt,
                      const char *framework_json)
{
    assert_int_equal(h_sched_subscribe(s, f->c.master.port, fmt,
                                       framework_json ? framework_json
                                                      : h_framework_json("tasks", NULL)),
                     200);
}

/* The next offer (the cluster has one agent, so one offer per event). */
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

static json_t *shell(const char *command)
{
    return json_pack("{s:s}", "value", command);
}

/* A TaskInfo on the offer's agent; takes command. */
static json_t *task_info(const Tepui__Offer *o, const char *id, json_t *command, double cpus,
                         double mem)
{
    return json_pack("{s:s,s:{s:s},s:{s:s},s:o,s:o}", "name", id, "task_id", "value", id,
                     "agent_id", "value", o->agent_id->value, "resources", resources(cpus, mem),
                     "command", command);
}

/* Sends a call given as JSON (taken); returns the HTTP status. */
static int call(struct h_sched *s, json_t *c)
{
    char *text = json_dumps(c, JSON_COMPACT);
    json_decref(c);
    int rc = h_sched_call(s, text, NULL);
    free(text);
    return rc;
}

/* Accepts the offer with the given operations (taken). */
static int accept_ops(struct h_sched *s, const Tepui__Offer *o, json_t *operations)
{
    return call(s, json_pack("{s:s,s:{s:[{s:s}],s:o,s:{s:f}}}", "type", "ACCEPT", "accept",
                             "offer_ids", "value", o->id->value, "operations", operations,
                             "filters", "refuse_seconds", 0.0));
}

/* Accepts the offer launching the tasks (a JSON array, taken). */
static int launch(struct h_sched *s, const Tepui__Offer *o, json_t *tasks)
{
    return accept_ops(s, o, json_pack("[{s:s,s:{s:o}}]", "type", "LAUNCH", "launch", "task_infos",
                                      tasks));
}

static int decline(struct h_sched *s, const Tepui__Offer *o)
{
    return call(s, json_pack("{s:s,s:{s:[{s:s}],s:{s:f}}}", "type", "DECLINE", "decline",
                             "offer_ids", "value", o->id->value, "filters", "refuse_seconds",
                             0.0));
}

static json_t *kill_policy(double grace_secs)
{
    return json_pack("{s:{s:I}}", "grace_period", "nanoseconds",
                     (json_int_t)(grace_secs * 1e9));
}

/* KILL; grace_secs < 0 sends no kill_policy. */
static int kill_task(struct h_sched *s, const char *task_id, const char *agent_id,
                     double grace_secs)
{
    json_t *k = json_pack("{s:{s:s},s:{s:s}}", "task_id", "value", task_id, "agent_id", "value",
                          agent_id);
    if (grace_secs >= 0)
        json_object_set_new(k, "kill_policy", kill_policy(grace_secs));
    return call(s, json_pack("{s:s,s:o}", "type", "KILL", "kill", k));
}

/* The next status update, not acknowledged (the caller's; pb_free). */
static Tepui__TaskStatus *next_update(struct h_sched *s, double timeout)
{
    Tepui__Scheduler__Event *ev = h_sched_next(s, T_UPDATE, timeout);
    if (ev == NULL)
        return NULL;
    Tepui__TaskStatus *st = PB_COPY(Tepui__TaskStatus, ev->update->status);
    pb_free(ev);
    return st;
}

/* Acknowledges every update on the way until task_id reaches a terminal
 * state; returns that status (asserts it comes). */
static Tepui__TaskStatus *wait_terminal(struct h_sched *s, const char *task_id)
{
    double deadline = clock_mono() + EVENT_TIMEOUT;
    for (;;) {
        Tepui__TaskStatus *st = next_update(s, deadline - clock_mono());
        assert_non_null(st);
        if (st->has_uuid)
            assert_int_equal(h_sched_ack(s, st), 202);
        if (strcmp(st->task_id->value, task_id) == 0 && task_state_is_terminal(st->state))
            return st;
        pb_free(st);
    }
}

/* Acknowledges every update on the way until task_id is RUNNING. */
static void wait_running(struct h_sched *s, const char *task_id)
{
    Tepui__TaskStatus *st = h_sched_wait_state(s, task_id, TEPUI__TASK_STATE__TASK_RUNNING,
                                               EVENT_TIMEOUT);
    assert_non_null(st);
    pb_free(st);
}

/* ---- sandboxes and processes ---- */

static char *sandbox_of(struct fixture *f, const struct h_sched *s, const char *task_id)
{
    /* A command task's executor has the task's id. */
    char *dir = h_agent_sandbox(&f->c, 0, s->framework_id, task_id);
    assert_non_null(dir);
    return dir;
}

/* A file of the task's sandbox, read through the agent's /files/read. */
static char *sandbox_read(struct fixture *f, const struct h_sched *s, const char *task_id,
                          const char *name)
{
    char *dir = sandbox_of(f, s, task_id);
    char *path = xasprintf("%s/%s", dir, name);
    char *data = h_agent_read_file(f->c.agents[0].port, path);
    if (data == NULL)
        fprintf(stderr, "cannot read %s through the agent\n", path);
    assert_non_null(data);
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

/* The pid the task wrote into the file "pid" of its sandbox. */
static pid_t task_pid(const char *sandbox)
{
    char *path = xasprintf("%s/pid", sandbox);
    assert_true(h_wait_until(pid_file_written, path, EVENT_TIMEOUT));
    FILE *fp = fopen(path, "r");
    int pid = 0;
    assert_int_equal(fscanf(fp, "%d", &pid), 1);
    fclose(fp);
    free(path);
    assert_true(pid > 1);
    return pid;
}

/* State letter and parent of a process from /proc; 0 when it is gone. */
static char proc_state(pid_t pid, pid_t *ppid)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    char *rp = strrchr(buf, ')');
    char state = 0;
    int parent = 0;
    if (rp == NULL || sscanf(rp + 1, " %c %d", &state, &parent) != 2)
        return 0;
    if (ppid != NULL)
        *ppid = parent;
    return state;
}

/* Alive: it exists and is not a zombie waiting for a reaper. */
static int pid_alive(pid_t pid)
{
    char st = proc_state(pid, NULL);
    return st != 0 && st != 'Z' && st != 'X';
}

/* Whether any live process is in the process group pgid: the command
 * executor starts each task as the leader of a group of its own, so this
 * covers what the task started too. */
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

/* ---- master state ---- */

static json_t *master_framework(struct fixture *f, const char *framework_id)
{
    json_t *st = h_get_json(f->c.master.port, "/state");
    size_t i;
    json_t *fw, *out = NULL;
    json_array_foreach(json_object_get(st, "frameworks"), i, fw) {
        if (strcmp(json_string_value(json_object_get(fw, "id")), framework_id) == 0)
            out = json_incref(fw);
    }
    json_decref(st);
    assert_non_null(out);
    return out;
}

/* The state of a task the master still tracks ("" when it does not). */
struct task_probe {
    struct fixture *f;
    const char *framework_id;
    const char *task_id;
    const char *want;
};

static int master_task_in_state(void *arg)
{
    struct task_probe *p = arg;
    json_t *fw = master_framework(p->f, p->framework_id);
    size_t i;
    json_t *t;
    int found = 0;
    json_array_foreach(json_object_get(fw, "tasks"), i, t) {
        if (strcmp(json_string_value(json_object_get(t, "id")), p->task_id) == 0)
            found = strcmp(json_string_value(json_object_get(t, "state")), p->want) == 0;
    }
    json_decref(fw);
    return found;
}

/* ---- 1. the normal path ---- */

static void runs_to_finished(struct fixture *f, enum wire_format fmt)
{
    struct h_sched s;
    subscribe(f, &s, fmt, NULL);
    Tepui__Offer *o = next_offer(&s);
    assert_int_equal(launch(&s, o, json_pack("[o]", task_info(o, "hello", shell("echo hello"), 0.1,
                                                               32))),
                     202);

    static const Tepui__TaskState order[] = {TEPUI__TASK_STATE__TASK_STARTING,
                                             TEPUI__TASK_STATE__TASK_RUNNING,
                                             TEPUI__TASK_STATE__TASK_FINISHED};
    for (size_t i = 0; i < 3; i++) {
        Tepui__TaskStatus *st = next_update(&s, EVENT_TIMEOUT);
        assert_non_null(st);
        assert_string_equal(st->task_id->value, "hello");
        assert_int_equal(st->state, order[i]);
        assert_true(st->has_uuid);
        assert_int_equal(st->uuid.len, 16);
        assert_true(st->has_source);
        assert_int_equal(st->source, TEPUI__TASK_STATUS__SOURCE__SOURCE_EXECUTOR);
        assert_non_null(st->agent_id);
        assert_string_equal(st->agent_id->value, o->agent_id->value);
        assert_non_null(st->executor_id);
        assert_string_equal(st->executor_id->value, "hello");
        if (order[i] == TEPUI__TASK_STATE__TASK_FINISHED)
            assert_string_equal(st->message, "Command exited with status 0");
        /* The next update waits for this acknowledgement. */
        assert_int_equal(h_sched_ack(&s, st), 202);
        pb_free(st);
    }
    char *out = sandbox_read(f, &s, "hello", "stdout");
    assert_string_equal(out, "hello\n");
    free(out);
    pb_free(o);
    h_sched_close(&s);
}

static void command_task_goes_starting_running_finished_json(void **state)
{
    runs_to_finished(*state, WIRE_JSON);
}

static void command_task_goes_starting_running_finished_protobuf(void **state)
{
    runs_to_finished(*state, WIRE_PROTOBUF);
}

/* ---- 2. failure ---- */

static void failing_command_is_task_failed_with_its_exit_status(void **state)
{
    struct fixture *f = *state;
    struct h_sched s;
    subscribe(f, &s, WIRE_JSON, NULL);
    Tepui__Offer *o = next_offer(&s);
    json_t *t = task_info(o, "fails", shell("exit 3"), 0.1, 32);
    assert_int_equal(launch(&s, o, json_pack("[o]", t)), 202);
    Tepui__TaskStatus *st = wait_terminal(&s, "fails");
    assert_int_equal(st->state, TEPUI__TASK_STATE__TASK_FAILED);
    assert_string_equal(st->message, "Command exited with status 3");
    assert_int_equal(st->source, TEPUI__TASK_STATUS__SOURCE__SOURCE_EXECUTOR);
    pb_free(st);
    pb_free(o);
    h_sched_close(&s);
}

/* ---- 3. kills ---- */

static void killed_task_is_task_killed_and_its_process_is_gone(void **state)
{
    struct fixture *f = *state;
    struct h_sched s;
    subscribe(f, &s, WIRE_JSON, NULL);
    Tepui__Offer *o = next_offer(&s);
    assert_int_equal(launch(&s, o, json_pack("[o]", task_info(o, "victim",
                                                               shell("echo $$ > pid; sleep 60"),
                                                               0.1, 32))),
                     202);
    wait_running(&s, "victim");
    char *dir = sandbox_of(f, &s, "victim");
    pid_t pid = task_pid(dir);
    assert_true(pid_alive(pid));

    assert_int_equal(kill_task(&s, "victim", o->agent_id->value, -1), 202);
    Tepui__TaskStatus *st = wait_terminal(&s, "victim");
    assert_int_equal(st->state, TEPUI__TASK_STATE__TASK_KILLED);
    assert_string_equal(st->message, "Command terminated with signal Terminated");
    /* The executor reaps the task before it reports it; the sleep it
     * started goes with it. */
    assert_false(pid_alive(pid));
    assert_true(h_wait_until(group_gone, &pid, EVENT_TIMEOUT));
    pb_free(st);
    free(dir);
    pb_free(o);
    h_sched_close(&s);
}

/* The trap is set before the pid is written, in the shell that is the task
 * process itself. */
#define IGNORES_SIGTERM "trap '' TERM; echo $$ > pid; while true; do sleep 0.1; done"

/* Kills a task that ignores SIGTERM and checks that SIGKILL ended it
 * after about grace_secs. */
static void kill_and_expect_escalation(struct fixture *f, struct h_sched *s, const Tepui__Offer *o,
                                       const char *task_id, double kill_call_grace,
                                       double expected_grace)
{
    wait_running(s, task_id);
    char *dir = sandbox_of(f, s, task_id);
    pid_t pid = task_pid(dir);
    assert_true(pid_alive(pid));

    double start = clock_mono();
    assert_int_equal(kill_task(s, task_id, o->agent_id->value, kill_call_grace), 202);
    Tepui__TaskStatus *st = wait_terminal(s, task_id);
    double took = clock_mono() - start;
    assert_int_equal(st->state, TEPUI__TASK_STATE__TASK_KILLED);
    assert_string_equal(st->message, "Command terminated with signal Killed");
    /* SIGTERM was ignored for the grace period; SIGKILL came well before
     * the command executor's default of 3 s (or the task's longer one). */
    if (took < expected_grace - 0.1 || took > expected_grace + 1.5)
        fprintf(stderr, "the kill took %.2fs, expected about %.2fs\n", took, expected_grace);
    assert_true(took >= expected_grace - 0.1);
    assert_true(took <= expected_grace + 1.5);
    assert_false(pid_alive(pid));
    assert_true(h_wait_until(group_gone, &pid, EVENT_TIMEOUT));
    pb_free(st);
    free(dir);
}

static void kill_escalates_to_sigkill_after_the_kill_calls_grace_period(void **state)
{
    struct fixture *f = *state;
    struct h_sched s;
    subscribe(f, &s, WIRE_JSON, NULL);
    Tepui__Offer *o = next_offer(&s);
    /* The KILL call's policy wins over the task's own (60 s). */
    json_t *t = task_info(o, "stubborn", shell(IGNORES_SIGTERM), 0.1, 32);
    json_object_set_new(t, "kill_policy", kill_policy(60));
    assert_int_equal(launch(&s, o, json_pack("[o]", t)), 202);
    kill_and_expect_escalation(f, &s, o, "stubborn", 1.0, 1.0);
    pb_free(o);
    h_sched_close(&s);
}

static void kill_escalates_to_sigkill_after_the_tasks_kill_policy_grace(void **state)
{
    struct fixture *f = *state;
    struct h_sched s;
    subscribe(f, &s, WIRE_PROTOBUF, NULL);
    Tepui__Offer *o = next_offer(&s);
    json_t *t = task_info(o, "stubborn", shell(IGNORES_SIGTERM), 0.1, 32);
    json_object_set_new(t, "kill_policy", kill_policy(1.0));
    assert_int_equal(launch(&s, o, json_pack("[o]", t)), 202);
    kill_and_expect_escalation(f, &s, o, "stubborn", -1, 1.0);
    pb_free(o);
    h_sched_close(&s);
}

/* ---- 4. reliable status updates ---- */

static void unacknowledged_update_is_resent_and_holds_back_the_next(void **state)
{
    struct fixture *f = *state;
    struct h_sched s;
    subscribe(f, &s, WIRE_JSON, NULL);
    Tepui__Offer *o = next_offer(&s);
    assert_int_equal(launch(&s, o, json_pack("[o]", task_info(o, "slow", shell(WAIT_FOR_GO), 0.1,
                                                               32))),
                     202);
    Tepui__TaskStatus *st = next_update(&s, EVENT_TIMEOUT);
    assert_non_null(st);
    assert_int_equal(st->state, TEPUI__TASK_STATE__TASK_STARTING);
    assert_int_equal(h_sched_ack(&s, st), 202);
    pb_free(st);

    /* RUNNING is not acknowledged: it comes again, with the same uuid. */
    Tepui__TaskStatus *running = next_update(&s, EVENT_TIMEOUT);
    assert_non_null(running);
    assert_int_equal(running->state, TEPUI__TASK_STATE__TASK_RUNNING);
    st = next_update(&s, EVENT_TIMEOUT);
    assert_non_null(st);
    assert_int_equal(st->state, TEPUI__TASK_STATE__TASK_RUNNING);
    assert_int_equal(st->uuid.len, running->uuid.len);
    assert_memory_equal(st->uuid.data, running->uuid.data, running->uuid.len);
    pb_free(st);

    /* The task finishes; the master learns it from the next resend (its
     * latest_state), but the scheduler keeps getting RUNNING only. */
    char *dir = sandbox_of(f, &s, "slow");
    touch(dir, "go");
    struct task_probe p = {f, s.framework_id, "slow", "TASK_FINISHED"};
    assert_true(h_wait_until(master_task_in_state, &p, EVENT_TIMEOUT));
    double known = clock_mono();
    for (;;) {
        st = next_update(&s, EVENT_TIMEOUT);
        assert_non_null(st);
        assert_int_equal(st->state, TEPUI__TASK_STATE__TASK_RUNNING);
        assert_memory_equal(st->uuid.data, running->uuid.data, running->uuid.len);
        pb_free(st);
        /* One resent well after the agent had FINISHED queued. */
        if (clock_mono() - known > 0.25)
            break;
    }

    /* Once RUNNING is acknowledged, FINISHED comes. */
    assert_int_equal(h_sched_ack(&s, running), 202);
    for (;;) {
        st = next_update(&s, EVENT_TIMEOUT);
        assert_non_null(st);
        if (st->state == TEPUI__TASK_STATE__TASK_FINISHED)
            break;
        /* A resend already on its way when the acknowledgement went out. */
        assert_int_equal(st->state, TEPUI__TASK_STATE__TASK_RUNNING);
        assert_memory_equal(st->uuid.data, running->uuid.data, running->uuid.len);
        pb_free(st);
    }
    assert_true(st->has_uuid);
    assert_memory_not_equal(st->uuid.data, running->uuid.data, running->uuid.len);
    assert_int_equal(h_sched_ack(&s, st), 202);
    pb_free(st);
    pb_free(running);
    free(dir);
    pb_free(o);
    h_sched_close(&s);
}

/* Mesos answers reconciliation with the state of the update in flight to
 * the scheduler (Task.status_update_state), not with a newer state the
 * scheduler has not been told yet. */
static void reconciliation_answers_the_state_of_the_update_in_flight(void **state)
{
    struct fixture *f = *state;
    struct h_sched s;
    subscribe(f, &s, WIRE_JSON, NULL);
    Tepui__Offer *o = next_offer(&s);
    assert_int_equal(launch(&s, o, json_pack("[o]", task_info(o, "slow", shell(WAIT_FOR_GO), 0.1,
                                                               32))),
                     202);
    Tepui__TaskStatus *st = next_update(&s, EVENT_TIMEOUT);
    assert_non_null(st);
    assert_int_equal(st->state, TEPUI__TASK_STATE__TASK_STARTING);
    assert_int_equal(h_sched_ack(&s, st), 202);
    pb_free(st);
    Tepui__TaskStatus *running = next_update(&s, EVENT_TIMEOUT);
    assert_non_null(running);
    assert_int_equal(running->state, TEPUI__TASK_STATE__TASK_RUNNING);

    char *dir = sandbox_of(f, &s, "slow");
    touch(dir, "go");
    struct task_probe p = {f, s.framework_id, "slow", "TASK_FINISHED"};
    assert_true(h_wait_until(master_task_in_state, &p, EVENT_TIMEOUT));

    char *explicit_call = xasprintf("{\"type\":\"RECONCILE\",\"reconcile\":{\"tasks\":["
                                    "{\"task_id\":{\"value\":\"slow\"},"
                                    "\"agent_id\":{\"value\":\"%s\"}}]}}",
                                    o->agent_id->value);
    assert_int_equal(h_sched_call(&s, explicit_call, NULL), 202);
    assert_int_equal(h_sched_call(&s, "{\"type\":\"RECONCILE\",\"reconcile\":{}}", NULL), 202);
    free(explicit_call);
    int answers = 0;
    while (answers < 2) {
        st = next_update(&s, EVENT_TIMEOUT);
        assert_non_null(st);
        if (st->has_uuid) {
            /* A resend of the unacknowledged RUNNING. */
            assert_int_equal(st->state, TEPUI__TASK_STATE__TASK_RUNNING);
        } else {
            assert_int_equal(st->reason, TEPUI__TASK_STATUS__REASON__REASON_RECONCILIATION);
            assert_string_equal(st->task_id->value, "slow");
            assert_int_equal(st->state, TEPUI__TASK_STATE__TASK_RUNNING);
            answers++;
        }
        pb_free(st);
    }
    assert_int_equal(h_sched_ack(&s, running), 202);
    st = wait_terminal(&s, "slow");
    assert_int_equal(st->state, TEPUI__TASK_STATE__TASK_FINISHED);
    pb_free(st);
    pb_free(running);
    free(dir);
    pb_free(o);
    h_sched_close(&s);
}

/* ---- 5. reconciliation ---- */

static void explicit_reconciliation_answers_the_latest_state_without_uuid(void **state)
{
    struct fixture *f = *state;
    struct h_sched s;
    subscribe(f, &s, WIRE_PROTOBUF, NULL);
    Tepui__Offer *o = next_offer(&s);
    assert_int_equal(launch(&s, o, json_pack("[o]", task_info(o, "live", shell(WAIT_FOR_GO), 0.1,
                                                               32))),
                     202);
    wait_running(&s, "live");
    char *c = xasprintf("{\"type\":\"RECONCILE\",\"reconcile\":{\"tasks\":[{\"task_id\":"
                        "{\"value\":\"live\"},\"agent_id\":{\"value\":\"%s\"}}]}}",
                        o->agent_id->value);
    assert_int_equal(h_sched_call(&s, c, NULL), 202);
    free(c);
    Tepui__TaskStatus *st = next_update(&s, EVENT_TIMEOUT);
    assert_non_null(st);
    assert_string_equal(st->task_id->value, "live");
    assert_int_equal(st->state, TEPUI__TASK_STATE__TASK_RUNNING);
    assert_int_equal(st->reason, TEPUI__TASK_STATUS__REASON__REASON_RECONCILIATION);
    assert_int_equal(st->source, TEPUI__TASK_STATUS__SOURCE__SOURCE_MASTER);
    assert_false(st->has_uuid);
    assert_non_null(st->agent_id);
    assert_string_equal(st->agent_id->value, o->agent_id->value);
    pb_free(st);
    pb_free(o);
    h_sched_close(&s);
}

static void implicit_reconciliation_answers_every_live_task(void **state)
{
    struct fixture *f = *state;
    struct h_sched s;
    subscribe(f, &s, WIRE_JSON, NULL);
    Tepui__Offer *o = next_offer(&s);
    assert_int_equal(launch(&s, o, json_pack("[o,o,o]",
                                             task_info(o, "live1", shell(WAIT_FOR_GO), 0.1, 32),
                                             task_info(o, "live2", shell(WAIT_FOR_GO), 0.1, 32),
                                             task_info(o, "done", shell("true"), 0.1, 32))),
                     202);
    /* Everything acknowledged: live1 and live2 RUNNING, done FINISHED. */
    int running = 0, finished = 0;
    while (running < 2 || finished < 1) {
        Tepui__TaskStatus *st = next_update(&s, EVENT_TIMEOUT);
        assert_non_null(st);
        assert_true(st->has_uuid);
        assert_int_equal(h_sched_ack(&s, st), 202);
        running += st->state == TEPUI__TASK_STATE__TASK_RUNNING &&
                   strncmp(st->task_id->value, "live", 4) == 0;
        finished += st->state == TEPUI__TASK_STATE__TASK_FINISHED &&
                    strcmp(st->task_id->value, "done") == 0;
        assert_false(strncmp(st->task_id->value, "live", 4) == 0 &&
                     task_state_is_terminal(st->state));
        pb_free(st);
    }

    /* Events come in the order the master handles the calls: an explicit
     * reconciliation of an unknown task marks the end of the answers. */
    assert_int_equal(
        h_sched_call(&s, "{\"type\":\"RECONCILE\",\"reconcile\":{\"tasks\":[]}}", NULL), 202);
    assert_int_equal(h_sched_call(&s,
                                  "{\"type\":\"RECONCILE\",\"reconcile\":{\"tasks\":[{\"task_id\":"
                                  "{\"value\":\"marker\"}}]}}", NULL),
                     202);
    int seen1 = 0, seen2 = 0;
    for (;;) {
        Tepui__TaskStatus *st = next_update(&s, EVENT_TIMEOUT);
        assert_non_null(st);
        assert_false(st->has_uuid);
        assert_int_equal(st->reason, TEPUI__TASK_STATUS__REASON__REASON_RECONCILIATION);
        if (strcmp(st->task_id->value, "marker") == 0) {
            pb_free(st);
            break;
        }
        assert_int_equal(st->state, TEPUI__TASK_STATE__TASK_RUNNING);
        seen1 += strcmp(st->task_id->value, "live1") == 0;
        seen2 += strcmp(st->task_id->value, "live2") == 0;
        /* The acknowledged finished task is not among them. */
        assert_string_not_equal(st->task_id->value, "done");
        pb_free(st);
    }
    assert_int_equal(seen1, 1);
    assert_int_equal(seen2, 1);
    pb_free(o);
    h_sched_close(&s);
}

/* ---- 6. resources ---- */

static void offers_lack_a_running_tasks_resources_and_regain_them_after(void **state)
{
    struct fixture *f = *state;
    struct h_sched s;
    subscribe(f, &s, WIRE_JSON, NULL);
    Tepui__Offer *o = next_offer(&s);
    assert_true(offer_scalar(o, "cpus") > 3.99 && offer_scalar(o, "cpus") < 4.01);
    json_t *t = task_info(o, "hog", shell(WAIT_FOR_GO), 1, 128);
    assert_int_equal(launch(&s, o, json_pack("[o]", t)), 202);
    wait_running(&s, "hog");

    /* The rest of the agent: total minus the task's resources. */
    Tepui__Offer *rest = next_offer(&s);
    assert_true(offer_scalar(rest, "cpus") > 2.99 && offer_scalar(rest, "cpus") < 3.01);
    assert_true(offer_scalar(rest, "mem") > 3967.9 && offer_scalar(rest, "mem") < 3968.1);
    assert_true(offer_scalar(rest, "disk") > 4095.9);

    /* No offers while the task ends, so the next one shows what came back. */
    assert_int_equal(h_sched_call(&s, "{\"type\":\"SUPPRESS\"}", NULL), 202);
    assert_int_equal(decline(&s, rest), 202);
    char *dir = sandbox_of(f, &s, "hog");
    touch(dir, "go");
    /* Resources come back with the terminal update, before (and whether
     * or not) the scheduler acknowledges it. */
    Tepui__TaskStatus *st = next_update(&s, EVENT_TIMEOUT);
    assert_non_null(st);
    assert_int_equal(st->state, TEPUI__TASK_STATE__TASK_FINISHED);
    assert_int_equal(h_sched_call(&s, "{\"type\":\"REVIVE\"}", NULL), 202);

    Tepui__Offer *whole = next_offer(&s);
    assert_true(offer_scalar(whole, "cpus") > 3.99 && offer_scalar(whole, "cpus") < 4.01);
    assert_true(offer_scalar(whole, "mem") > 4095.9 && offer_scalar(whole, "mem") < 4096.1);
    assert_true(offer_scalar(whole, "disk") > 4095.9);
    assert_int_equal(h_sched_ack(&s, st), 202);
    pb_free(st);
    pb_free(whole);
    pb_free(rest);
    free(dir);
    pb_free(o);
    h_sched_close(&s);
}

/* ---- 7. environment and commands ---- */

static int has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
        if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
            return 1;
    return 0;
}

static void task_sees_the_mesos_environment_and_its_own_variables(void **state)
{
    struct fixture *f = *state;
    struct h_sched s;
    subscribe(f, &s, WIRE_JSON, NULL);
    Tepui__Offer *o = next_offer(&s);
    json_t *cmd = json_pack("{s:s,s:{s:[{s:s,s:s},{s:s,s:s}]}}", "value", "env", "environment",
                            "variables", "name", "GREETING", "value", "hello world", "name",
                            "EMPTY_ONE", "value", "");
    assert_int_equal(launch(&s, o, json_pack("[o]", task_info(o, "env-task", cmd, 0.1, 32))), 202);
    Tepui__TaskStatus *st = wait_terminal(&s, "env-task");
    assert_int_equal(st->state, TEPUI__TASK_STATE__TASK_FINISHED);
    pb_free(st);

    char *dir = sandbox_of(f, &s, "env-task");
    char *out = sandbox_read(f, &s, "env-task", "stdout");
    char line[1024];
    snprintf(line, sizeof(line), "MESOS_SANDBOX=%s", dir);
    assert_true(has_line(out, line));
    snprintf(line, sizeof(line), "MESOS_FRAMEWORK_ID=%s", s.framework_id);
    assert_true(has_line(out, line));
    assert_true(has_line(out, "MESOS_EXECUTOR_ID=env-task"));
    assert_true(has_line(out, "GREETING=hello world"));
    assert_true(has_line(out, "EMPTY_ONE="));
    /* The executor's credential stays with the executor. */
    assert_null(strstr(out, "MESOS_EXECUTOR_AUTHENTICATION_TOKEN"));
    free(out);
    free(dir);
    pb_free(o);
    h_sched_close(&s);
}

static void non_shell_command_runs_with_its_arguments(void **state)
{
    struct fixture *f = *state;
    struct h_sched s;
    subscribe(f, &s, WIRE_PROTOBUF, NULL);
    Tepui__Offer *o = next_offer(&s);
    json_t *cmd = json_pack("{s:b,s:s,s:[s,s,s]}", "shell", 0, "value", "/bin/echo", "arguments",
                            "echo", "a", "b");
    assert_int_equal(launch(&s, o, json_pack("[o]", task_info(o, "argv", cmd, 0.1, 32))), 202);
    Tepui__TaskStatus *st = wait_terminal(&s, "argv");
    assert_int_equal(st->state, TEPUI__TASK_STATE__TASK_FINISHED);
    pb_free(st);
    char *out = sandbox_read(f, &s, "argv", "stdout");
    assert_string_equal(out, "a b\n");
    free(out);
    pb_free(o);
    h_sched_close(&s);
}

/* ---- 8. users ---- */

static void task_runs_as_the_frameworks_user(void **state)
{
    struct fixture *f = *state;
    if (geteuid() != 0) {
        fprintf(stderr, "skipped: switching users needs the agent to run as root\n");
        skip();
    }
    /* Another user must be able to reach the sandbox, as under /var/lib. */
    assert_int_equal(chmod(f->c.root, 0755), 0);
    struct h_sched s;
    subscribe(f, &s, WIRE_JSON, "{\"user\":\"nobody\",\"name\":\"as-nobody\"}");
    Tepui__Offer *o = next_offer(&s);
    assert_int_equal(launch(&s, o, json_pack("[o]", task_info(o, "who", shell("id -un"), 0.1, 32))),
                     202);
    Tepui__TaskStatus *st = wait_terminal(&s, "who");
    if (st->state != TEPUI__TASK_STATE__TASK_FINISHED)
        fprintf(stderr, "task ended %d: %s\n", st->state, st->message ? st->message : "");
    assert_int_equal(st->state, TEPUI__TASK_STATE__TASK_FINISHED);
    pb_free(st);
    char *out = sandbox_read(f, &s, "who", "stdout");
    assert_string_equal(out, "nobody\n");
    free(out);
    pb_free(o);
    h_sched_close(&s);
}

static void task_of_an_unknown_user_fails_naming_the_user(void **state)
{
    struct fixture *f = *state;
    struct h_sched s;
    subscribe(f, &s, WIRE_JSON, "{\"user\":\"tepui-no-such-user\",\"name\":\"ghost\"}");
    Tepui__Offer *o = next_offer(&s);
    assert_int_equal(launch(&s, o, json_pack("[o]", task_info(o, "ghost", shell("true"), 0.1, 32))),
                     202);
    Tepui__TaskStatus *st = wait_terminal(&s, "ghost");
    assert_int_equal(st->state, TEPUI__TASK_STATE__TASK_FAILED);
    assert_non_null(st->message);
    assert_non_null(strstr(st->message, "tepui-no-such-user"));
    pb_free(st);
    pb_free(o);
    h_sched_close(&s);
}

/* ---- 9. the agent's /files ---- */

static int get(struct fixture *f, const char *url, struct h_response *r)
{
    assert_int_equal(h_http(f->c.agents[0].port, "GET", url, NULL, NULL, 0, r), 0);
    return r->status;
}

/* The request is refused (404, or 400) and nothing of /etc/passwd or the
 * planted secret comes back. */
static void expect_refused(struct fixture *f, const char *url)
{
    struct h_response r;
    int status = get(f, url, &r);
    if (status != 404 && status != 400)
        fprintf(stderr, "%s answered %d: %.200s\n", url, status, r.body);
    assert_true(status == 404 || status == 400);
    assert_null(strstr(r.body, "root:"));
    assert_null(strstr(r.body, "not-for-you"));
    h_response_free(&r);
}

static void files_endpoints_refuse_paths_outside_the_work_dir(void **state)
{
    struct fixture *f = *state;
    struct h_sched s;
    subscribe(f, &s, WIRE_JSON, NULL);
    Tepui__Offer *o = next_offer(&s);
    assert_int_equal(launch(&s, o, json_pack("[o]", task_info(o, "sly",
                                                               shell("ln -s /etc/passwd leak; "
                                                                     "ln -s / root; echo ok"),
                                                               0.1, 32))),
                     202);
    Tepui__TaskStatus *st = wait_terminal(&s, "sly");
    assert_int_equal(st->state, TEPUI__TASK_STATE__TASK_FINISHED);
    pb_free(st);
    char *dir = sandbox_of(f, &s, "sly");
    const char *work_dir = f->c.agents[0].dir;
    /* A sibling of the work dir whose name starts with it. */
    char *sibling = xasprintf("%sx", work_dir);
    assert_int_equal(mkdir(sibling, 0755), 0);
    char *secret = xasprintf("%s/secret", sibling);
    FILE *fp = fopen(secret, "w");
    assert_non_null(fp);
    fputs("not-for-you\n", fp);
    fclose(fp);

    static const char *const endpoints[] = {"read", "download", "browse"};
    static const char *const tricks[] = {
        "%s/../../../../../../../../../../etc/passwd",
        "%s/leak",
        "%s/root/etc/passwd",
        "%s/root/etc",
        "/etc/passwd%%00%s/stdout",
        "%s/stdout%%00/../../../../../../../../../../etc/passwd",
        "%%2Fetc%%2Fpasswd%%00%s",
        "%s/..%%2F..%%2F..%%2F..%%2F..%%2F..%%2F..%%2F..%%2F..%%2F..%%2Fetc%%2Fpasswd",
    };
    for (size_t e = 0; e < 3; e++) {
        for (size_t i = 0; i < sizeof(tricks) / sizeof(tricks[0]); i++) {
            char path[2048], url[2400];
            snprintf(path, sizeof(path), tricks[i], dir);
            snprintf(url, sizeof(url), "/files/%s?path=%s", endpoints[e], path);
            expect_refused(f, url);
        }
        char url[2400];
        snprintf(url, sizeof(url), "/files/%s?path=%s/secret", endpoints[e], sibling);
        expect_refused(f, url);
        snprintf(url, sizeof(url), "/files/%s?path=%s/../../../../../../../..%s/secret",
                 endpoints[e], work_dir, sibling);
        expect_refused(f, url);
    }
    /* What is inside still reads. */
    char *out = sandbox_read(f, &s, "sly", "stdout");
    assert_string_equal(out, "ok\n");
    free(out);
    free(secret);
    free(sibling);
    free(dir);
    pb_free(o);
    h_sched_close(&s);
}

static json_t *browse_entry(json_t *list, const char *path)
{
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e) {
        if (strcmp(json_string_value(json_object_get(e, "path")), path) == 0)
            return e;
    }
    return NULL;
}

static void files_endpoints_browse_read_and_download_a_sandbox(void **state)
{
    struct fixture *f = *state;
    struct h_sched s;
    subscribe(f, &s, WIRE_JSON, NULL);
    Tepui__Offer *o = next_offer(&s);
    json_t *t = task_info(o, "files",
                          shell("printf 'line1\\nline2\\n'; printf '\\001\\002\\377\\000z' > blob"),
                          0.1, 32);
    assert_int_equal(launch(&s, o, json_pack("[o]", t)), 202);
    Tepui__TaskStatus *st = wait_terminal(&s, "files");
    assert_int_equal(st->state, TEPUI__TASK_STATE__TASK_FINISHED);
    pb_free(st);
    char *dir = sandbox_of(f, &s, "files");
    char url[2400], path[2048];
    struct h_response r;

    /* browse: the sandbox's files, with their sizes. */
    snprintf(url, sizeof(url), "/files/browse?path=%s", dir);
    assert_int_equal(get(f, url, &r), 200);
    json_t *list = json_loadb(r.body, r.len, 0, NULL);
    h_response_free(&r);
    assert_true(json_is_array(list));
    snprintf(path, sizeof(path), "%s/stdout", dir);
    json_t *e = browse_entry(list, path);
    assert_non_null(e);
    assert_int_equal(json_integer_value(json_object_get(e, "size")), 12);
    snprintf(path, sizeof(path), "%s/stderr", dir);
    assert_non_null(browse_entry(list, path));
    snprintf(path, sizeof(path), "%s/blob", dir);
    e = browse_entry(list, path);
    assert_non_null(e);
    assert_int_equal(json_integer_value(json_object_get(e, "size")), 5);
    json_decref(list);

    /* read: offset -1 gives the size; offset and length give a slice. */
    snprintf(url, sizeof(url), "/files/read?path=%s/stdout&offset=-1", dir);
    assert_int_equal(get(f, url, &r), 200);
    json_t *j = json_loadb(r.body, r.len, 0, NULL);
    h_response_free(&r);
    assert_int_equal(json_integer_value(json_object_get(j, "offset")), 12);
    assert_string_equal(json_string_value(json_object_get(j, "data")), "");
    json_decref(j);
    snprintf(url, sizeof(url), "/files/read?path=%s/stdout&offset=6&length=5", dir);
    assert_int_equal(get(f, url, &r), 200);
    j = json_loadb(r.body, r.len, 0, NULL);
    h_response_free(&r);
    assert_int_equal(json_integer_value(json_object_get(j, "offset")), 6);
    assert_string_equal(json_string_value(json_object_get(j, "data")), "line2");
    json_decref(j);

    /* download: the raw bytes. */
    snprintf(url, sizeof(url), "/files/download?path=%s/blob", dir);
    assert_int_equal(get(f, url, &r), 200);
    assert_int_equal(r.len, 5);
    assert_memory_equal(r.body, "\001\002\377\000z", 5);
    char type[128];
    assert_non_null(h_header(&r, "Content-Type", type, sizeof(type)));
    assert_string_equal(type, "application/octet-stream");
    h_response_free(&r);

    /* A directory cannot be read or downloaded; a missing path is 400; a
     * missing file 404. */
    snprintf(url, sizeof(url), "/files/read?path=%s", dir);
    assert_int_equal(get(f, url, &r), 400);
    h_response_free(&r);
    snprintf(url, sizeof(url), "/files/download?path=%s", dir);
    assert_int_equal(get(f, url, &r), 400);
    h_response_free(&r);
    assert_int_equal(get(f, "/files/read", &r), 400);
    h_response_free(&r);
    snprintf(url, sizeof(url), "/files/read?path=%s/nope", dir);
    assert_int_equal(get(f, url, &r), 404);
    h_response_free(&r);
    free(dir);
    pb_free(o);
    h_sched_close(&s);
}

/* ---- 10. many tasks ---- */

#define MANY 50
#define PER_OFFER 20

static void fifty_short_tasks_all_finish_and_are_completed(void **state)
{
    struct fixture *f = *state;
    struct h_sched s;
    subscribe(f, &s, WIRE_PROTOBUF, NULL);
    int launched = 0, offers = 0;
    while (launched < MANY) {
        Tepui__Offer *o = next_offer(&s);
        /* As many as the offer holds (the first tasks may still run). */
        int fit = (int)(offer_scalar(o, "cpus") / 0.1 + 1e-6);
        if (fit > (int)(offer_scalar(o, "mem") / 32))
            fit = (int)(offer_scalar(o, "mem") / 32);
        if (fit > PER_OFFER)
            fit = PER_OFFER;
        if (fit == 0) {
            assert_int_equal(decline(&s, o), 202);
            pb_free(o);
            continue;
        }
        offers++;
        json_t *tasks = json_array();
        for (int i = 0; i < fit && launched < MANY; i++, launched++) {
            char id[32];
            snprintf(id, sizeof(id), "short-%02d", launched);
            json_array_append_new(tasks, task_info(o, id, shell("true"), 0.1, 32));
        }
        assert_int_equal(launch(&s, o, tasks), 202);
        pb_free(o);
    }
    assert_true(offers >= 3);

    int finished[MANY] = {0}, n_finished = 0;
    double deadline = clock_mono() + 90;
    while (n_finished < MANY) {
        Tepui__TaskStatus *st = next_update(&s, deadline - clock_mono());
        assert_non_null(st);
        if (!st->has_uuid || (task_state_is_terminal(st->state) &&
                              st->state != TEPUI__TASK_STATE__TASK_FINISHED))
            fprintf(stderr, "%s ended %d (reason %d): %s\n", st->task_id->value, st->state,
                    st->reason, st->message ? st->message : "");
        assert_true(st->has_uuid);
        assert_int_equal(h_sched_ack(&s, st), 202);
        if (task_state_is_terminal(st->state)) {
            assert_int_equal(st->state, TEPUI__TASK_STATE__TASK_FINISHED);
            int k = atoi(st->task_id->value + strlen("short-"));
            assert_true(k >= 0 && k < MANY);
            assert_int_equal(finished[k], 0);
            finished[k] = 1;
            n_finished++;
        }
        pb_free(st);
    }

    /* Acknowledged terminal tasks are the master's completed tasks. */
    json_t *fw = master_framework(f, s.framework_id);
    assert_int_equal(json_array_size(json_object_get(fw, "tasks")), 0);
    json_t *done = json_object_get(fw, "completed_tasks");
    assert_int_equal(json_array_size(done), MANY);
    size_t i;
    json_t *t;
    json_array_foreach(done, i, t) {
        assert_string_equal(json_string_value(json_object_get(t, "state")), "TASK_FINISHED");
    }
    json_decref(fw);
    assert_true(h_metric(f->c.master.port, "master/tasks_finished") == MANY);
    h_sched_close(&s);
}

/* ---- 11. an executor that dies ---- */

static void task_of_a_killed_executor_fails_with_executor_terminated(void **state)
{
    struct fixture *f = *state;
    struct h_sched s;
    subscribe(f, &s, WIRE_JSON, NULL);
    Tepui__Offer *o = next_offer(&s);
    assert_int_equal(launch(&s, o, json_pack("[o]", task_info(o, "orphan",
                                                               shell("echo $$ > pid; sleep 60"),
                                                               0.1, 32))),
                     202);
    wait_running(&s, "orphan");
    char *dir = sandbox_of(f, &s, "orphan");
    pid_t pid = task_pid(dir);
    pid_t executor = 0;
    assert_true(proc_state(pid, &executor) != 0);
    /* The task's parent is the command executor. */
    char path[64], cmdline[512] = "";
    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)executor);
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    size_t n = fread(cmdline, 1, sizeof(cmdline) - 1, fp);
    fclose(fp);
    cmdline[n] = '\0';
    assert_non_null(strstr(cmdline, "tepui-executor"));

    assert_int_equal(kill(executor, SIGKILL), 0);
    Tepui__TaskStatus *st = wait_terminal(&s, "orphan");
    assert_int_equal(st->state, TEPUI__TASK_STATE__TASK_FAILED);
    assert_true(st->has_reason);
    assert_int_equal(st->reason, TEPUI__TASK_STATUS__REASON__REASON_EXECUTOR_TERMINATED);
    assert_int_equal(st->source, TEPUI__TASK_STATUS__SOURCE__SOURCE_AGENT);
    pb_free(st);
    /* Neither the task nor what it started outlives its executor. */
    assert_true(h_wait_until(group_gone, &pid, EVENT_TIMEOUT));
    free(dir);
    pb_free(o);
    h_sched_close(&s);
}

/* ---- 12. LAUNCH_GROUP validation ---- */

static json_t *group_op(json_t *executor, json_t *tasks)
{
    json_t *lg = json_pack("{s:{s:o}}", "task_group", "tasks", tasks);
    if (executor != NULL)
        json_object_set_new(lg, "executor", executor);
    return json_pack("[{s:s,s:o}]", "type", "LAUNCH_GROUP", "launch_group", lg);
}

static json_t *default_executor(const char *id)
{
    return json_pack("{s:s,s:{s:s},s:o}", "type", "DEFAULT", "executor_id", "value", id,
                     "resources", resources(0.1, 32));
}

/* Every task named in ids gets TASK_ERROR with REASON_TASK_GROUP_INVALID
 * (counts[i] updates each), and no other update comes before them. */
static void expect_group_invalid(struct h_sched *s, const char *const *ids, const int *counts,
                                 size_t n)
{
    int want = 0, got[8] = {0};
    for (size_t i = 0; i < n; i++)
        want += counts[i];
    for (int k = 0; k < want; k++) {
        Tepui__TaskStatus *st = next_update(s, EVENT_TIMEOUT);
        assert_non_null(st);
        assert_int_equal(st->state, TEPUI__TASK_STATE__TASK_ERROR);
        assert_int_equal(st->reason, TEPUI__TASK_STATUS__REASON__REASON_TASK_GROUP_INVALID);
        assert_int_equal(st->source, TEPUI__TASK_STATUS__SOURCE__SOURCE_MASTER);
        assert_false(st->has_uuid);
        size_t i = 0;
        while (i < n && strcmp(ids[i], st->task_id->value) != 0)
            i++;
        assert_true(i < n);
        got[i]++;
        pb_free(st);
    }
    for (size_t i = 0; i < n; i++)
        assert_int_equal(got[i], counts[i]);
}

/* Two tasks running "true" for a group; the second asks for cpus2. */
static json_t *two_tasks(const Tepui__Offer *o, const char *id1, const char *id2, double cpus2)
{
    return json_pack("[o,o]", task_info(o, id1, shell("true"), 0.1, 32),
                     task_info(o, id2, shell("true"), cpus2, 32));
}

static void launch_group_validation_errors_fail_every_task_of_the_group(void **state)
{
    struct fixture *f = *state;
    struct h_sched s;
    subscribe(f, &s, WIRE_JSON, NULL);

    /* No executor: LaunchGroup.executor is a required field, so the call
     * itself is malformed (400, as Mesos), and no task is created. */
    Tepui__Offer *o = next_offer(&s);
    json_t *c = json_pack("{s:s,s:{s:[{s:s}],s:o}}", "type", "ACCEPT", "accept", "offer_ids",
                          "value", o->id->value, "operations",
                          group_op(NULL, two_tasks(o, "a0", "a00", 0.1)));
    char *text = json_dumps(c, JSON_COMPACT);
    json_decref(c);
    struct h_response r;
    assert_int_equal(h_sched_call(&s, text, &r), 400);
    assert_non_null(strstr(r.body, "executor"));
    h_response_free(&r);
    free(text);
    /* An executor that is neither DEFAULT nor has a command. */
    json_t *untyped = json_pack("{s:{s:s},s:o}", "executor_id", "value", "e1", "resources",
                                resources(0.1, 32));
    assert_int_equal(accept_ops(&s, o, group_op(untyped, two_tasks(o, "a1", "a2", 0.1))), 202);
    expect_group_invalid(&s, (const char *[]){"a1", "a2"}, (const int[]){1, 1}, 2);
    pb_free(o);

    /* Duplicate task ids within the group. */
    o = next_offer(&s);
    assert_int_equal(accept_ops(&s, o, group_op(default_executor("e2"),
                                                two_tasks(o, "b1", "b1", 0.1))),
                     202);
    expect_group_invalid(&s, (const char *[]){"b1"}, (const int[]){2}, 1);
    pb_free(o);

    /* One task beyond the offer fails the valid one too. */
    o = next_offer(&s);
    assert_int_equal(accept_ops(&s, o, group_op(default_executor("e3"),
                                                two_tasks(o, "c1", "c2", 64))),
                     202);
    expect_group_invalid(&s, (const char *[]){"c1", "c2"}, (const int[]){1, 1}, 2);
    pb_free(o);

    /* An empty group launches nothing; then a group with one bad task shows
     * that no update came for the empty one. */
    o = next_offer(&s);
    assert_int_equal(accept_ops(&s, o, group_op(default_executor("e4"), json_array())), 202);
    pb_free(o);
    o = next_offer(&s);
    /* Everything came back each time. */
    assert_true(offer_scalar(o, "cpus") > 3.99 && offer_scalar(o, "cpus") < 4.01);
    json_t *bad = json_pack("[o]", task_info(o, "d1", shell(""), 0.1, 32));
    assert_int_equal(accept_ops(&s, o, group_op(default_executor("e5"), bad)), 202);
    expect_group_invalid(&s, (const char *[]){"d1"}, (const int[]){1}, 1);
    pb_free(o);

    /* None of it reached the master's tasks or the agent. */
    json_t *fw = master_framework(f, s.framework_id);
    assert_int_equal(json_array_size(json_object_get(fw, "tasks")), 0);
    json_decref(fw);
    json_t *ag = h_get_json(f->c.agents[0].port, "/state");
    assert_int_equal(json_array_size(json_object_get(ag, "frameworks")), 0);
    json_decref(ag);
    o = next_offer(&s);
    assert_true(offer_scalar(o, "cpus") > 3.99 && offer_scalar(o, "cpus") < 4.01);
    pb_free(o);
    h_sched_close(&s);
}

#define TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
#define TEST_RETRY(fn) cmocka_unit_test_setup_teardown(fn, setup_fast_retry, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(command_task_goes_starting_running_finished_json),
        TEST(command_task_goes_starting_running_finished_protobuf),
        TEST(failing_command_is_task_failed_with_its_exit_status),
        TEST(killed_task_is_task_killed_and_its_process_is_gone),
        TEST(kill_escalates_to_sigkill_after_the_kill_calls_grace_period),
        TEST(kill_escalates_to_sigkill_after_the_tasks_kill_policy_grace),
        TEST_RETRY(unacknowledged_update_is_resent_and_holds_back_the_next),
        TEST_RETRY(reconciliation_answers_the_state_of_the_update_in_flight),
        TEST(explicit_reconciliation_answers_the_latest_state_without_uuid),
        TEST(implicit_reconciliation_answers_every_live_task),
        TEST(offers_lack_a_running_tasks_resources_and_regain_them_after),
        TEST(task_sees_the_mesos_environment_and_its_own_variables),
        TEST(non_shell_command_runs_with_its_arguments),
        TEST(task_runs_as_the_frameworks_user),
        TEST(task_of_an_unknown_user_fails_naming_the_user),
        TEST(files_endpoints_refuse_paths_outside_the_work_dir),
        TEST(files_endpoints_browse_read_and_download_a_sandbox),
        TEST(fifty_short_tasks_all_finish_and_are_completed),
        TEST(task_of_a_killed_executor_fails_with_executor_terminated),
        TEST(launch_group_validation_errors_fail_every_task_of_the_group),
    };
    if (getenv("TEST_FILTER"))
        cmocka_set_test_filter(getenv("TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
