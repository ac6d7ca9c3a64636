/* Faults against real daemons: agents that die, hang or disconnect,
 * schedulers that disconnect and fail over (or do not come back in time),
 * offers that time out, fair sharing between two frameworks, and teardown
 * of a framework with running tasks. Each test checks what the schedulers
 * see, what the master's endpoints say, and which processes still run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "harness.h"
#include "wire/pb.h"

#define RUNNING TEPUI__TASK_STATE__TASK_RUNNING
#define EV(x) TEPUI__SCHEDULER__EVENT__TYPE__##x

/* Mesos pings every --agent_ping_timeout and gives up after
 * --max_agent_ping_timeouts misses: 0.6 s here instead of 75 s. */
static const char *const fast_pings[] = {"--agent_ping_timeout=200ms",
                                         "--max_agent_ping_timeouts=3", NULL};

struct fixture {
    struct h_cluster c;
    /* Processes a test leaves behind on purpose (executors of a killed
     * agent) are killed at teardown. */
    pid_t strays[8];
    int n_strays;
    pid_t stopped;                /* a SIGSTOPped agent to resume */
};

static int setup_with(void **state, const char *const *master_flags)
{
    struct fixture *f = calloc(1, sizeof(*f));
    h_cluster_init(&f->c);
    h_start_master(&f->c, master_flags);
    h_start_agent(&f->c, NULL, NULL);
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_with(state, NULL);
}

static int setup_fast_pings(void **state)
{
    return setup_with(state, fast_pings);
}

static int setup_offer_timeout(void **state)
{
    static const char *const flags[] = {"--offer_timeout=500ms", NULL};
    return setup_with(state, flags);
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    if (f->stopped > 0)
        kill(f->stopped, SIGCONT);
    for (int i = 0; i < f->n_strays; i++)
        if (f->strays[i] > 0)
            kill(f->strays[i], SIGKILL);
    h_cluster_destroy(&f->c);
    free(f);
    return 0;
}

/* ---- processes ---- */

static int pid_alive(pid_t pid)
{
    if (kill(pid, 0) != 0)
        return 0;
    /* A zombie waiting for its reaper is gone too. */
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *fp = fopen(path, "r");
    if (fp == NULL)
        return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    const char *paren = strrchr(buf, ')');
    return paren == NULL || paren[1] == '\0' || paren[2] != 'Z';
}

static int pid_gone(void *arg)
{
    return !pid_alive(*(pid_t *)arg);
}

/* The task's process and its executor, as the task wrote them. */
struct task_pids {
    pid_t task, executor;
};

static void pidfile_path(const struct fixture *f, const char *task_id, char *out, size_t n)
{
    snprintf(out, n, "%s/%s.pid", f->c.root, task_id);
}

static int pidfile_written(void *arg)
{
    FILE *fp = fopen(arg, "r");
    if (fp == NULL)
        return 0;
    int a = 0, b = 0;
    int ok = fscanf(fp, "%d %d", &a, &b) == 2;
    fclose(fp);
    return ok;
}

static struct task_pids read_pids(const struct fixture *f, const char *task_id)
{
    char path[600];
    pidfile_path(f, task_id, path, sizeof(path));
    assert_true(h_wait_until(pidfile_written, path, 10));
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    int a = 0, b = 0;
    assert_int_equal(fscanf(fp, "%d %d", &a, &b), 2);
    fclose(fp);
    struct task_pids p = {(pid_t)a, (pid_t)b};
    assert_true(pid_alive(p.task));
    return p;
}

/* ---- scheduling ---- */

static const char *const one_cpu =
    "[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1}},"
    "{\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":{\"value\":32}}]";

static double offer_scalar(const Tepui__Offer *o, const char *name)
{
    double v = 0;
    for (size_t i = 0; i < o->n_resources; i++)
        if (strcmp(o->resources[i]->name, name) == 0 && o->resources[i]->scalar != NULL)
            v += o->resources[i]->scalar->value;
    return v;
}

/* Launches a long task (cpus 1) that records its pid and its executor's. */
static void launch_sleeper(struct fixture *f, struct h_sched *s, const Tepui__Offer *o,
                           const char *task_id)
{
    char path[600], cmd[800];
    pidfile_path(f, task_id, path, sizeof(path));
    snprintf(cmd, sizeof(cmd), "echo $$ $PPID > %s; exec sleep 60", path);
    assert_int_equal(h_sched_launch(s, o, task_id, cmd, one_cpu), 202);
}

/* Several schedulers compete for one agent: whoever is offered it launches
 * its task; the rest of the agent goes to the next. Returns when each has
 * its task RUNNING. */
static void launch_one_each(struct fixture *f, struct h_sched *s, const char *const *task_ids,
                            int n)
{
    int launched[4] = {0};
    int left = n;
    double deadline = clock_mono() + 30;
    while (left > 0 && clock_mono() < deadline) {
        for (int i = 0; i < n; i++) {
            if (launched[i])
                continue;
            Tepui__Scheduler__Event *ev = h_sched_next(&s[i], EV(OFFERS), 0.05);
            if (ev == NULL)
                continue;
            launch_sleeper(f, &s[i], ev->offers->offers[0], task_ids[i]);
            launched[i] = 1;
            left--;
            pb_free(ev);
        }
    }
    assert_int_equal(left, 0);
    for (int i = 0; i < n; i++) {
        Tepui__TaskStatus *st = h_sched_wait_state(&s[i], task_ids[i], RUNNING, 20);
        assert_non_null(st);
        pb_free(st);
    }
}

/* Waits for the next UPDATE of task_id (acknowledging others on the way). */
static Tepui__TaskStatus *next_update_of(struct h_sched *s, const char *task_id, double timeout)
{
    double deadline = clock_mono() + timeout;
    for (;;) {
        double left = deadline - clock_mono();
        if (left <= 0)
            return NULL;
        Tepui__Scheduler__Event *ev = h_sched_next(s, EV(UPDATE), left);
        if (ev == NULL)
            return NULL;
        Tepui__TaskStatus *st = ev->update->status;
        if (strcmp(st->task_id->value, task_id) == 0) {
            Tepui__TaskStatus *copy = PB_COPY(Tepui__TaskStatus, st);
            pb_free(ev);
            return copy;
        }
        h_sched_ack(s, st);
        pb_free(ev);
    }
}

static const char *agent_id_of_master_state(int port)
{
    static char id[256];
    json_t *st = h_get_json(port, "/state");
    json_t *sl = json_array_get(json_object_get(st, "slaves"), 0);
    assert_non_null(sl);
    snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(sl, "id")));
    json_decref(st);
    return id;
}

static json_t *find_by_id(json_t *array, const char *id)
{
    size_t i;
    json_t *v;
    json_array_foreach(array, i, v) {
        const char *vid = json_string_value(json_object_get(v, "id"));
        if (vid != NULL && strcmp(vid, id) == 0)
            return v;
    }
    return NULL;
}

static double metric(int port, const char *key)
{
    json_t *m = h_get_json(port, "/metrics/snapshot");
    json_t *v = json_object_get(m, key);
    assert_non_null(v);
    double d = json_number_value(v);
    json_decref(m);
    return d;
}

/* ---- agent loss ---- */

/* Two frameworks (one partition-aware), each with a task on the one agent,
 * and whichever is offered the rest of the agent holds that offer. */
struct two_frameworks {
    struct h_sched s[2];
    struct task_pids pids[2];
    int offer_holder;             /* index into s, -1 if none */
    char offer_id[256];
    char agent_id[256];
};

static void start_two_frameworks(struct fixture *f, struct two_frameworks *t)
{
    /* Checkpointing frameworks: Mesos then waits for the ping timeout
     * before it acts on a lost agent (without checkpointing it would
     * declare their tasks LOST as soon as the connection broke). */
    assert_int_equal(h_sched_subscribe(&t->s[0], f->c.master.port, WIRE_JSON,
                                       h_framework_json("plain", "\"checkpoint\":true")),
                     200);
    assert_int_equal(
        h_sched_subscribe(&t->s[1], f->c.master.port, WIRE_PROTOBUF,
                          h_framework_json("aware", "\"checkpoint\":true,\"capabilities\":"
                                                    "[{\"type\":\"PARTITION_AWARE\"}]")),
        200);
    static const char *const ids[] = {"plain-task", "aware-task"};
    launch_one_each(f, t->s, ids, 2);
    t->pids[0] = read_pids(f, ids[0]);
    t->pids[1] = read_pids(f, ids[1]);
    snprintf(t->agent_id, sizeof(t->agent_id), "%s", agent_id_of_master_state(f->c.master.port));
    /* The agent's remaining 2 cpus are offered to one of them. */
    t->offer_holder = -1;
    double deadline = clock_mono() + 10;
    while (t->offer_holder < 0 && clock_mono() < deadline) {
        for (int i = 0; i < 2 && t->offer_holder < 0; i++) {
            Tepui__Scheduler__Event *ev = h_sched_next(&t->s[i], EV(OFFERS), 0.05);
            if (ev == NULL)
                continue;
            t->offer_holder = i;
            snprintf(t->offer_id, sizeof(t->offer_id), "%s", ev->offers->offers[0]->id->value);
            pb_free(ev);
        }
    }
    assert_true(t->offer_holder >= 0);
}

/* What both frameworks and the master's endpoints show once the agent is
 * removed for missing its pings. */
static void expect_agent_removed(struct fixture *f, struct two_frameworks *t)
{
    /* Not partition-aware: TASK_LOST, best effort (no uuid). */
    Tepui__TaskStatus *st = next_update_of(&t->s[0], "plain-task", 15);
    assert_non_null(st);
    assert_int_equal(st->state, TEPUI__TASK_STATE__TASK_LOST);
    assert_int_equal(st->reason, TEPUI__TASK_STATUS__REASON__REASON_AGENT_REMOVED);
    assert_int_equal(st->source, TEPUI__TASK_STATUS__SOURCE__SOURCE_MASTER);
    assert_false(st->has_uuid);
    assert_string_equal(st->agent_id->value, t->agent_id);
    pb_free(st);
    /* Partition-aware: TASK_UNREACHABLE with the time it became so. */
    st = next_update_of(&t->s[1], "aware-task", 15);
    assert_non_null(st);
    assert_int_equal(st->state, TEPUI__TASK_STATE__TASK_UNREACHABLE);
    assert_int_equal(st->reason, TEPUI__TASK_STATUS__REASON__REASON_AGENT_REMOVED);
    assert_false(st->has_uuid);
    assert_non_null(st->unreachable_time);
    assert_true(st->unreachable_time->nanoseconds > 0);
    pb_free(st);
    for (int i = 0; i < 2; i++) {
        Tepui__Scheduler__Event *ev = h_sched_next(&t->s[i], EV(FAILURE), 10);
        assert_non_null(ev);
        assert_non_null(ev->failure->agent_id);
        assert_string_equal(ev->failure->agent_id->value, t->agent_id);
        assert_null(ev->failure->executor_id);
        pb_free(ev);
    }

    json_t *state = h_get_json(f->c.master.port, "/state");
    assert_int_equal(json_array_size(json_object_get(state, "slaves")), 0);
    assert_int_equal(json_integer_value(json_object_get(state, "activated_slaves")), 0);
    assert_int_equal(json_integer_value(json_object_get(state, "unreachable_slaves")), 1);
    json_t *fws = json_object_get(state, "frameworks");
    json_t *plain = find_by_id(fws, t->s[0].framework_id);
    json_t *aware = find_by_id(fws, t->s[1].framework_id);
    assert_non_null(plain);
    assert_non_null(aware);
    assert_int_equal(json_array_size(json_object_get(plain, "tasks")), 0);
    assert_int_equal(json_array_size(json_object_get(aware, "tasks")), 0);
    json_t *lost = find_by_id(json_object_get(plain, "completed_tasks"), "plain-task");
    assert_non_null(lost);
    assert_string_equal(json_string_value(json_object_get(lost, "state")), "TASK_LOST");
    /* Mesos lists unreachable tasks apart from completed ones. */
    json_t *unreachable = find_by_id(json_object_get(aware, "unreachable_tasks"), "aware-task");
    assert_non_null(unreachable);
    assert_string_equal(json_string_value(json_object_get(unreachable, "state")),
                        "TASK_UNREACHABLE");
    assert_null(find_by_id(json_object_get(aware, "completed_tasks"), "aware-task"));
    json_decref(state);

    assert_true(metric(f->c.master.port, "master/slave_removals") == 1);
    assert_true(metric(f->c.master.port, "master/slaves_unreachable") == 1);
    assert_true(metric(f->c.master.port, "master/tasks_lost") == 1);
    assert_true(metric(f->c.master.port, "master/tasks_unreachable") == 1);
}

static void killed_agent_loses_tasks_after_ping_timeouts(void **state)
{
    struct fixture *f = *state;
    struct two_frameworks t;
    start_two_frameworks(f, &t);
    /* A killed agent leaves its executors behind (they wait for it to
     * recover); they go at teardown. */
    f->strays[f->n_strays++] = t.pids[0].executor;
    f->strays[f->n_strays++] = t.pids[1].executor;
    f->strays[f->n_strays++] = t.pids[0].task;
    f->strays[f->n_strays++] = t.pids[1].task;

    h_stop(&f->c.agents[0], SIGKILL);
    expect_agent_removed(f, &t);
    h_sched_close(&t.s[0]);
    h_sched_close(&t.s[1]);
}

static void hung_agent_loses_tasks_and_offers_after_ping_timeouts(void **state)
{
    struct fixture *f = *state;
    struct two_frameworks t;
    start_two_frameworks(f, &t);

    /* The agent stops answering but its connection stays open. */
    f->stopped = f->c.agents[0].pid;
    assert_int_equal(kill(f->stopped, SIGSTOP), 0);
    Tepui__Scheduler__Event *ev = h_sched_next(&t.s[t.offer_holder], EV(RESCIND), 15);
    assert_non_null(ev);
    assert_string_equal(ev->rescind->offer_id->value, t.offer_id);
    pb_free(ev);
    expect_agent_removed(f, &t);
    /* Resumed, it is stopped gracefully (with its tasks) at teardown. */
    assert_int_equal(kill(f->stopped, SIGCONT), 0);
    f->stopped = 0;
    h_sched_close(&t.s[0]);
    h_sched_close(&t.s[1]);
}

struct agent_back_arg {
    int port;
};

static int agent_is_back(void *arg)
{
    struct agent_back_arg *a = arg;
    json_t *st = h_get_json(a->port, "/state");
    int ok = json_integer_value(json_object_get(st, "activated_slaves")) == 1 &&
             json_integer_value(json_object_get(st, "unreachable_slaves")) == 0;
    json_decref(st);
    return ok;
}

static void unreachable_agent_that_returns_brings_its_tasks_back(void **state)
{
    struct fixture *f = *state;
    struct two_frameworks t;
    start_two_frameworks(f, &t);
    f->stopped = f->c.agents[0].pid;
    assert_int_equal(kill(f->stopped, SIGSTOP), 0);
    expect_agent_removed(f, &t);

    /* The partition heals: the agent re-registers with its id and tasks. */
    assert_int_equal(kill(f->stopped, SIGCONT), 0);
    f->stopped = 0;
    static const char *const ids[] = {"plain-task", "aware-task"};
    for (int i = 0; i < 2; i++) {
        Tepui__TaskStatus *st = next_update_of(&t.s[i], ids[i], 15);
        assert_non_null(st);
        assert_int_equal(st->state, RUNNING);
        assert_int_equal(st->reason, TEPUI__TASK_STATUS__REASON__REASON_AGENT_REREGISTERED);
        assert_false(st->has_uuid);
        pb_free(st);
    }
    struct agent_back_arg back = {f->c.master.port};
    assert_true(h_wait_until(agent_is_back, &back, 10));
    json_t *state_json = h_get_json(f->c.master.port, "/state");
    json_t *fws = json_object_get(state_json, "frameworks");
    for (int i = 0; i < 2; i++) {
        json_t *fw = find_by_id(fws, t.s[i].framework_id);
        assert_non_null(fw);
        json_t *task = find_by_id(json_object_get(fw, "tasks"), ids[i]);
        assert_non_null(task);
        assert_string_equal(json_string_value(json_object_get(task, "state")), "TASK_RUNNING");
        /* Listed once: no longer completed or unreachable. */
        assert_null(find_by_id(json_object_get(fw, "completed_tasks"), ids[i]));
        assert_null(find_by_id(json_object_get(fw, "unreachable_tasks"), ids[i]));
    }
    json_decref(state_json);
    assert_true(metric(f->c.master.port, "master/tasks_running") == 2);
    assert_true(metric(f->c.master.port, "master/tasks_unreachable") == 0);
    assert_true(pid_alive(t.pids[0].task) && pid_alive(t.pids[1].task));
    h_sched_close(&t.s[0]);
    h_sched_close(&t.s[1]);
}

static void agent_disconnect_rescinds_its_offers_at_once(void **state)
{
    struct fixture *f = *state;
    struct h_sched s;
    assert_int_equal(
        h_sched_subscribe(&s, f->c.master.port, WIRE_JSON, h_framework_json("rescind", NULL)),
        200);
    Tepui__Scheduler__Event *ev = h_sched_next(&s, EV(OFFERS), 10);
    assert_non_null(ev);
    char offer_id[256];
    snprintf(offer_id, sizeof(offer_id), "%s", ev->offers->offers[0]->id->value);
    pb_free(ev);

    /* Default ping timeouts (75 s in all): only the broken connection
     * can explain a prompt rescind. */
    double start = clock_mono();
    h_stop(&f->c.agents[0], SIGKILL);
    ev = h_sched_next(&s, EV(RESCIND), 10);
    assert_non_null(ev);
    assert_string_equal(ev->rescind->offer_id->value, offer_id);
    pb_free(ev);
    assert_true(clock_mono() - start < 10);

    /* The agent is deactivated, not removed; nothing is offered. */
    json_t *st = h_get_json(f->c.master.port, "/state");
    assert_int_equal(json_integer_value(json_object_get(st, "activated_slaves")), 0);
    assert_int_equal(json_integer_value(json_object_get(st, "deactivated_slaves")), 1);
    json_t *sl = json_array_get(json_object_get(st, "slaves"), 0);
    assert_non_null(sl);
    assert_true(json_is_false(json_object_get(sl, "active")));
    json_decref(st);
    assert_true(metric(f->c.master.port, "master/slave_removals") == 0);
    assert_null(h_sched_next(&s, EV(OFFERS), 0.5));
    h_sched_close(&s);
}

/* ---- framework failover ---- */

struct framework_arg {
    int port;
    const char *id;
    int want_connected;
};

static void non_checkpointing_tasks_are_lost_when_their_agent_disconnects(void **state)
{
    struct fixture *f = *state;
    struct h_sched s;
    assert_int_equal(h_sched_subscribe(&s, f->c.master.port, WIRE_JSON,
                                       h_framework_json("no-checkpoint", NULL)), 200);
    Tepui__Scheduler__Event *ev = h_sched_next(&s, EV(OFFERS), 10);
    assert_non_null(ev);
    launch_sleeper(f, &s, ev->offers->offers[0], "nc1");
    pb_free(ev);
    Tepui__TaskStatus *st = h_sched_wait_state(&s, "nc1", RUNNING, 20);
    assert_non_null(st);
    pb_free(st);
    struct task_pids pids = read_pids(f, "nc1");
    f->strays[f->n_strays++] = pids.executor;
    f->strays[f->n_strays++] = pids.task;

    /* The ping timeout is 75 s: the loss comes from the broken connection. */
    h_stop(&f->c.agents[0], SIGKILL);
    st = next_update_of(&s, "nc1", 10);
    assert_non_null(st);
    assert_int_equal(st->state, TEPUI__TASK_STATE__TASK_LOST);
    assert_int_equal(st->reason, TEPUI__TASK_STATUS__REASON__REASON_AGENT_DISCONNECTED);
    assert_false(st->has_uuid);
    pb_free(st);
    json_t *state_json = h_get_json(f->c.master.port, "/state");
    json_t *fw = json_array_get(json_object_get(state_json, "frameworks"), 0);
    assert_int_equal(json_array_size(json_object_get(fw, "tasks")), 0);
    /* The agent itself is only deactivated, not removed. */
    assert_int_equal(json_array_size(json_object_get(state_json, "slaves")), 1);
    json_decref(state_json);
    h_sched_close(&s);
}

static int framework_connected_is(void *arg)
{
    struct framework_arg *a = arg;
    json_t *st = h_get_json(a->port, "/state");
    json_t *fw = find_by_id(json_object_get(st, "frameworks"), a->id);
    int ok = fw != NULL && json_is_true(json_object_get(fw, "connected")) == a->want_connected;
    json_decref(st);
    return ok;
}

static int framework_completed(void *arg)
{
    struct framework_arg *a = arg;
    json_t *st = h_get_json(a->port, "/state");
    int ok = find_by_id(json_object_get(st, "completed_frameworks"), a->id) != NULL &&
             find_by_id(json_object_get(st, "frameworks"), a->id) == NULL;
    json_decref(st);
    return ok;
}

/* Subscribes with a framework id (and extra fields). */
static int resubscribe(struct h_sched *s, int port, const char *id, const char *extra)
{
    char fields[512];
    snprintf(fields, sizeof(fields), "\"id\":{\"value\":\"%s\"}%s%s", id, extra ? "," : "",
             extra ? extra : "");
    return h_sched_subscribe(s, port, WIRE_JSON, h_framework_json("failover", fields));
}

static void one_task(struct fixture *f, struct h_sched *s, const char *task_id)
{
    const char *ids[] = {task_id};
    launch_one_each(f, s, ids, 1);
}

static void disconnected_framework_keeps_tasks_until_it_fails_over(void **state)
{
    struct fixture *f = *state;
    int port = f->c.master.port;
    struct h_sched s;
    assert_int_equal(h_sched_subscribe(&s, port, WIRE_JSON,
                                       h_framework_json("failover", "\"failover_timeout\":60")),
                     200);
    one_task(f, &s, "survivor");
    struct task_pids pids = read_pids(f, "survivor");
    char id[256];
    snprintf(id, sizeof(id), "%s", s.framework_id);
    h_sched_close(&s);

    struct framework_arg fa = {port, id, 0};
    assert_true(h_wait_until(framework_connected_is, &fa, 10));
    json_t *st = h_get_json(port, "/state");
    json_t *fw = find_by_id(json_object_get(st, "frameworks"), id);
    assert_true(json_is_false(json_object_get(fw, "active")));
    json_t *task = find_by_id(json_object_get(fw, "tasks"), "survivor");
    assert_non_null(task);
    assert_string_equal(json_string_value(json_object_get(task, "state")), "TASK_RUNNING");
    json_decref(st);
    assert_true(pid_alive(pids.task));

    /* The scheduler comes back with its id within the timeout. */
    assert_int_equal(resubscribe(&s, port, id, "\"failover_timeout\":60"), 200);
    assert_string_equal(s.framework_id, id);
    fa.want_connected = 1;
    assert_true(framework_connected_is(&fa));
    char kill_call[512];
    snprintf(kill_call, sizeof(kill_call),
             "{\"type\":\"KILL\",\"kill\":{\"task_id\":{\"value\":\"survivor\"}}}");
    assert_int_equal(h_sched_call(&s, kill_call, NULL), 202);
    Tepui__TaskStatus *killed = h_sched_wait_state(&s, "survivor", TEPUI__TASK_STATE__TASK_KILLED,
                                                   20);
    assert_non_null(killed);
    pb_free(killed);
    assert_true(h_wait_until(pid_gone, &pids.task, 10));
    h_sched_close(&s);
}

static int agent_runs_task(int agent_port, const char *task_id)
{
    json_t *st = h_get_json(agent_port, "/state");
    int found = 0;
    size_t i, k;
    json_t *fw, *ex;
    json_array_foreach(json_object_get(st, "frameworks"), i, fw) {
        json_array_foreach(json_object_get(fw, "executors"), k, ex) {
            json_t *t = find_by_id(json_object_get(ex, "tasks"), task_id);
            if (t != NULL &&
                strcmp(json_string_value(json_object_get(t, "state")), "TASK_RUNNING") == 0)
                found = 1;
        }
    }
    json_decref(st);
    return found;
}

static void expired_failover_timeout_removes_the_framework(void **state)
{
    struct fixture *f = *state;
    int port = f->c.master.port;
    struct h_sched s;
    assert_int_equal(h_sched_subscribe(&s, port, WIRE_JSON,
                                       h_framework_json("failover", "\"failover_timeout\":1")),
                     200);
    one_task(f, &s, "orphan");
    struct task_pids pids = read_pids(f, "orphan");
    char id[256];
    snprintf(id, sizeof(id), "%s", s.framework_id);
    h_sched_close(&s);

    struct framework_arg fa = {port, id, 0};
    assert_true(h_wait_until(framework_completed, &fa, 10));
    json_t *st = h_get_json(port, "/state");
    json_t *fw = find_by_id(json_object_get(st, "completed_frameworks"), id);
    json_t *task = find_by_id(json_object_get(fw, "completed_tasks"), "orphan");
    assert_non_null(task);
    assert_string_equal(json_string_value(json_object_get(task, "state")), "TASK_KILLED");
    json_decref(st);
    assert_true(h_wait_until(pid_gone, &pids.task, 15));
    assert_false(agent_runs_task(f->c.agents[0].port, "orphan"));

    /* Too late to come back. */
    int rc = resubscribe(&s, port, id, "\"failover_timeout\":1");
    assert_int_not_equal(rc, 200);
    if (rc == -1) {
        /* The stream opened (200) but carried an ERROR instead of
         * SUBSCRIBED. */
        Tepui__Scheduler__Event *ev = h_sched_next(&s, EV(ERROR), 1);
        assert_non_null(ev);
        assert_string_equal(ev->error->message, "Framework has been removed");
        pb_free(ev);
    }
    h_sched_close(&s);
}

static void framework_without_failover_timeout_is_removed_on_disconnect(void **state)
{
    struct fixture *f = *state;
    int port = f->c.master.port;
    struct h_sched s;
    assert_int_equal(h_sched_subscribe(&s, port, WIRE_JSON, h_framework_json("once", NULL)), 200);
    one_task(f, &s, "ephemeral");
    struct task_pids pids = read_pids(f, "ephemeral");
    char id[256];
    snprintf(id, sizeof(id), "%s", s.framework_id);
    h_sched_close(&s);

    /* At once: the only wait is for the master to see the closed stream. */
    struct framework_arg fa = {port, id, 0};
    assert_true(h_wait_until(framework_completed, &fa, 3));
    assert_true(h_wait_until(pid_gone, &pids.task, 15));
    assert_true(metric(port, "master/frameworks_removed") == 1);
}

/* ---- offers ---- */

static void unused_offer_is_rescinded_after_offer_timeout_and_offered_again(void **state)
{
    struct fixture *f = *state;
    struct h_sched s;
    assert_int_equal(
        h_sched_subscribe(&s, f->c.master.port, WIRE_JSON, h_framework_json("slow", NULL)), 200);
    Tepui__Scheduler__Event *ev = h_sched_next(&s, EV(OFFERS), 10);
    assert_non_null(ev);
    Tepui__Offer *first = PB_COPY(Tepui__Offer, ev->offers->offers[0]);
    pb_free(ev);

    ev = h_sched_next(&s, EV(RESCIND), 10);
    assert_non_null(ev);
    assert_string_equal(ev->rescind->offer_id->value, first->id->value);
    pb_free(ev);
    ev = h_sched_next(&s, EV(OFFERS), 10);
    assert_non_null(ev);
    assert_string_not_equal(ev->offers->offers[0]->id->value, first->id->value);
    assert_true(offer_scalar(ev->offers->offers[0], "cpus") == 4);
    pb_free(ev);

    /* The rescinded offer can no longer be used. */
    assert_int_equal(h_sched_launch(&s, first, "late", "true", NULL), 202);
    Tepui__TaskStatus *st = next_update_of(&s, "late", 10);
    assert_non_null(st);
    assert_int_equal(st->state, TEPUI__TASK_STATE__TASK_LOST);
    assert_int_equal(st->reason, TEPUI__TASK_STATUS__REASON__REASON_INVALID_OFFERS);
    pb_free(st);
    pb_free(first);
    assert_true(metric(f->c.master.port, "master/offers_rescinded") >= 1);
    h_sched_close(&s);
}

static void two_frameworks_share_an_agent_fairly(void **state)
{
    struct fixture *f = *state;
    struct h_sched s[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(h_sched_subscribe(&s[i], f->c.master.port, WIRE_JSON,
                                           h_framework_json(i ? "drf-b" : "drf-a", NULL)),
                         200);
    /* Each launches one cpus:1 task per offer that has a cpu, holds the
     * other offers (declines nothing) and keeps its tasks running. */
    int launched[2] = {0}, running[2] = {0};
    double deadline = clock_mono() + 60;
    while (running[0] + running[1] < 4 && clock_mono() < deadline) {
        for (int i = 0; i < 2; i++) {
            Tepui__Scheduler__Event *ev = h_sched_next(&s[i], 0, 0.05);
            if (ev == NULL)
                continue;
            if (ev->type == EV(OFFERS)) {
                for (size_t k = 0; k < ev->offers->n_offers; k++) {
                    const Tepui__Offer *o = ev->offers->offers[k];
                    if (offer_scalar(o, "cpus") < 1)
                        continue;
                    char id[64];
                    snprintf(id, sizeof(id), "drf-%d-%d", i, launched[i]++);
                    assert_int_equal(h_sched_launch(&s[i], o, id, "sleep 60", one_cpu), 202);
                }
            } else if (ev->type == EV(UPDATE)) {
                Tepui__TaskStatus *st = ev->update->status;
                h_sched_ack(&s[i], st);
                assert_true(st->state == RUNNING || st->state == TEPUI__TASK_STATE__TASK_STARTING);
                if (st->state == RUNNING)
                    running[i]++;
            }
            pb_free(ev);
        }
    }
    /* DRF: equal dominant shares (2 of 4 cpus each). */
    assert_int_equal(running[0], 2);
    assert_int_equal(running[1], 2);
    assert_int_equal(launched[0], 2);
    assert_int_equal(launched[1], 2);
    json_t *st = h_get_json(f->c.master.port, "/state");
    for (int i = 0; i < 2; i++) {
        json_t *fw = find_by_id(json_object_get(st, "frameworks"), s[i].framework_id);
        assert_non_null(fw);
        assert_int_equal(json_array_size(json_object_get(fw, "tasks")), 2);
        assert_true(json_number_value(json_object_get(json_object_get(fw, "used_resources"),
                                                      "cpus")) == 2);
    }
    json_decref(st);
    h_sched_close(&s[0]);
    h_sched_close(&s[1]);
}

/* ---- teardown ---- */

static void teardown_kills_running_tasks_and_completes_the_framework(void **state)
{
    struct fixture *f = *state;
    int port = f->c.master.port;
    struct h_sched s;
    assert_int_equal(h_sched_subscribe(&s, port, WIRE_JSON, h_framework_json("doomed", NULL)),
                     200);
    one_task(f, &s, "doomed-1");
    one_task(f, &s, "doomed-2");
    struct task_pids p1 = read_pids(f, "doomed-1"), p2 = read_pids(f, "doomed-2");

    assert_int_equal(h_sched_call(&s, "{\"type\":\"TEARDOWN\"}", NULL), 202);
    assert_true(h_wait_until(pid_gone, &p1.task, 15));
    assert_true(h_wait_until(pid_gone, &p2.task, 15));
    assert_true(h_wait_until(pid_gone, &p1.executor, 15));
    assert_true(h_wait_until(pid_gone, &p2.executor, 15));
    assert_false(agent_runs_task(f->c.agents[0].port, "doomed-1"));
    assert_false(agent_runs_task(f->c.agents[0].port, "doomed-2"));

    json_t *st = h_get_json(port, "/state");
    assert_null(find_by_id(json_object_get(st, "frameworks"), s.framework_id));
    json_t *fw = find_by_id(json_object_get(st, "completed_frameworks"), s.framework_id);
    assert_non_null(fw);
    json_t *done = json_object_get(fw, "completed_tasks");
    for (int i = 1; i <= 2; i++) {
        char id[32];
        snprintf(id, sizeof(id), "doomed-%d", i);
        json_t *t = find_by_id(done, id);
        assert_non_null(t);
        assert_string_equal(json_string_value(json_object_get(t, "state")), "TASK_KILLED");
    }
    /* Its resources are free again. */
    json_t *sl = json_array_get(json_object_get(st, "slaves"), 0);
    assert_true(json_number_value(json_object_get(json_object_get(sl, "used_resources"), "cpus")) ==
                0);
    json_decref(st);
    h_sched_close(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(killed_agent_loses_tasks_after_ping_timeouts,
                                        setup_fast_pings, teardown),
        cmocka_unit_test_setup_teardown(hung_agent_loses_tasks_and_offers_after_ping_timeouts,
                                        setup_fast_pings, teardown),
        cmocka_unit_test_setup_teardown(unreachable_agent_that_returns_brings_its_tasks_back,
                                        setup_fast_pings, teardown),
        cmocka_unit_test_setup_teardown(agent_disconnect_rescinds_its_offers_at_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(non_checkpointing_tasks_are_lost_when_their_agent_disconnects,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(disconnected_framework_keeps_tasks_until_it_fails_over,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(expired_failover_timeout_removes_the_framework, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(framework_without_failover_timeout_is_removed_on_disconnect,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            unused_offer_is_rescinded_after_offer_timeout_and_offered_again, setup_offer_timeout,
            teardown),
        cmocka_unit_test_setup_teardown(two_frameworks_share_an_agent_fairly, setup, teardown),
        cmocka_unit_test_setup_teardown(teardown_kills_running_tasks_and_completes_the_framework,
                                        setup, teardown),
    };
    if (getenv("TEST_FILTER"))
        cmocka_set_test_filter(getenv("TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
