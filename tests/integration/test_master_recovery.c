/* Master fault tolerance against real daemons: a master restarted (killed or
 * stopped) recovers its agents from the registry and rebuilds its view from
 * their re-registrations while schedulers fail over onto it; an agent that
 * does not come back is marked unreachable after --agent_reregister_timeout
 * (reconciliation stays silent until then); MARK_AGENT_GONE through the
 * operator API ends an agent's tasks and refuses the agent for good, also
 * across restarts; a corrupt registry stops the master; registry GC; and the
 * operator API's read calls and bad requests in both encodings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <glob.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/xalloc.h"
#include "harness.h"
#include "master.pb-c.h"
#include "wire/json.h"
#include "wire/pb.h"

#define EV(x) TEPUI__SCHEDULER__EVENT__TYPE__##x
#define ST(x) TEPUI__TASK_STATE__TASK_##x
#define REASON(x) TEPUI__TASK_STATUS__REASON__REASON_##x

/* Agents resend unacknowledged updates soon after a failover. */
static const char *const agent_flags[] = {"--status_update_retry_interval=500ms", NULL};

struct fixture {
    struct h_cluster c;
    pid_t stopped;                /* a SIGSTOPped agent to resume at teardown */
    struct h_sched s[2];          /* [0] not partition-aware (JSON), [1] aware (protobuf) */
    char fw_id[2][256];
    char agent_id[256];
};

static int setup_with(void **state, const char *const *master_flags)
{
    struct fixture *f = calloc(1, sizeof(*f));
    h_cluster_init(&f->c);
    h_start_master(&f->c, master_flags);
    h_start_agent(&f->c, NULL, agent_flags);
    f->s[0].fd = f->s[1].fd = -1;
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_with(state, NULL);
}

static const char *const fast_pings[] = {"--agent_ping_timeout=200ms",
                                         "--max_agent_ping_timeouts=3", NULL};

static int setup_fast_pings(void **state)
{
    return setup_with(state, fast_pings);
}

static const char *const fast_gc[] = {"--agent_ping_timeout=200ms", "--max_agent_ping_timeouts=3",
                                      "--registry_gc_interval=200ms",
                                      "--registry_max_agent_age=1secs", NULL};

static int setup_fast_gc(void **state)
{
    return setup_with(state, fast_gc);
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    if (f->stopped > 0)
        kill(f->stopped, SIGCONT);
    h_sched_close(&f->s[0]);
    h_sched_close(&f->s[1]);
    h_cluster_destroy(&f->c);
    free(f);
    return 0;
}

/* ---- helpers ---- */

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

static const char *framework_info(int aware, const char *id)
{
    static char extra[2][512];
    char *e = extra[aware];
    snprintf(e, sizeof(extra[0]), "\"checkpoint\":true,\"failover_timeout\":3600%s%s%s%s",
             aware ? ",\"capabilities\":[{\"type\":\"PARTITION_AWARE\"}]" : "",
             id ? ",\"id\":{\"value\":\"" : "", id ? id : "", id ? "\"}" : "");
    return h_framework_json(aware ? "aware" : "plain", e);
}

static void subscribe(struct fixture *f, int i, const char *id)
{
    h_sched_close(&f->s[i]);
    int rc = h_sched_subscribe(&f->s[i], f->c.master.port, i ? WIRE_PROTOBUF : WIRE_JSON,
                               framework_info(i, id));
    if (rc != 200)
        h_dump_logs(&f->c);
    assert_int_equal(rc, 200);
    if (id != NULL)
        assert_string_equal(f->s[i].framework_id, id);
    char got[sizeof(f->fw_id[i])];
    snprintf(got, sizeof(got), "%s", f->s[i].framework_id);
    memcpy(f->fw_id[i], got, sizeof(got));
}

static void go_file(const struct fixture *f, const char *task_id, char *out, size_t n)
{
    snprintf(out, n, "%s/go-%s", f->c.root, task_id);
}

static const char *const half_cpu =
    "[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":0.5}},"
    "{\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":{\"value\":32}}]";

/* Both frameworks subscribe and launch one task each that runs until
 * released; returns once both are RUNNING (acknowledged). */
static void start_two_frameworks(struct fixture *f)
{
    subscribe(f, 0, NULL);
    subscribe(f, 1, NULL);
    static const char *const ids[] = {"plain-task", "aware-task"};
    int launched[2] = {0};
    double deadline = clock_mono() + 30;
    while ((!launched[0] || !launched[1]) && clock_mono() < deadline) {
        for (int i = 0; i < 2; i++) {
            if (launched[i])
                continue;
            Tepui__Scheduler__Event *ev = h_sched_next(&f->s[i], EV(OFFERS), 0.05);
            if (ev == NULL)
                continue;
            char go[600], cmd[800];
            go_file(f, ids[i], go, sizeof(go));
            snprintf(cmd, sizeof(cmd), "while [ ! -e %s ]; do sleep 0.05; done", go);
            assert_int_equal(h_sched_launch(&f->s[i], ev->offers->offers[0], ids[i], cmd, half_cpu),
                             202);
            snprintf(f->agent_id, sizeof(f->agent_id), "%s",
                     ev->offers->offers[0]->agent_id->value);
            launched[i] = 1;
            pb_free(ev);
        }
    }
    assert_true(launched[0] && launched[1]);
    for (int i = 0; i < 2; i++) {
        Tepui__TaskStatus *st = h_sched_wait_state(&f->s[i], ids[i], ST(RUNNING), 20);
        assert_non_null(st);
        pb_free(st);
    }
}

static void release(const struct fixture *f, const char *task_id)
{
    char go[600];
    go_file(f, task_id, go, sizeof(go));
    int fd = open(go, O_WRONLY | O_CREAT, 0644);
    assert_true(fd >= 0);
    close(fd);
}

/* The next UPDATE of task_id (others are acknowledged on the way). */
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

static void reconcile(struct h_sched *s, const char *task_id, const char *agent_id)
{
    char call[768];
    if (agent_id != NULL)
        snprintf(call, sizeof(call),
                 "{\"type\":\"RECONCILE\",\"reconcile\":{\"tasks\":[{\"task_id\":"
                 "{\"value\":\"%s\"},\"agent_id\":{\"value\":\"%s\"}}]}}",
                 task_id, agent_id);
    else
        snprintf(call, sizeof(call),
                 "{\"type\":\"RECONCILE\",\"reconcile\":{\"tasks\":[{\"task_id\":"
                 "{\"value\":\"%s\"}}]}}",
                 task_id);
    assert_int_equal(h_sched_call(s, call, NULL), 202);
}

/* An explicit reconciliation's answer: the task's state and reason. */
static void expect_reconciled(struct h_sched *s, const char *task_id, const char *agent_id,
                              int state)
{
    reconcile(s, task_id, agent_id);
    Tepui__TaskStatus *st = next_update_of(s, task_id, 10);
    assert_non_null(st);
    assert_int_equal(st->state, state);
    assert_int_equal(st->reason, REASON(RECONCILIATION));
    assert_int_equal(st->source, TEPUI__TASK_STATUS__SOURCE__SOURCE_MASTER);
    assert_false(st->has_uuid);
    if (state == ST(UNREACHABLE)) {
        assert_non_null(st->unreachable_time);
        assert_true(st->unreachable_time->nanoseconds > 0);
    }
    pb_free(st);
}

static int count_of(int port, const char *key)
{
    json_t *st = h_get_json(port, "/state");
    int n;
    json_t *v = json_object_get(st, key);
    n = json_is_array(v) ? (int)json_array_size(v) : (int)json_integer_value(v);
    json_decref(st);
    return n;
}

struct agent_arg {
    struct fixture *f;
};

static int agent_is_active(void *arg)
{
    struct fixture *f = arg;
    json_t *st = h_get_json(f->c.master.port, "/state");
    json_t *sl = find_by_id(json_object_get(st, "slaves"), f->agent_id);
    int ok = sl != NULL && json_is_true(json_object_get(sl, "active"));
    json_decref(st);
    return ok;
}

static int unreachable_none(void *arg)
{
    struct fixture *f = arg;
    return count_of(f->c.master.port, "unreachable_slaves") == 0;
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

/* ---- the operator API ---- */

static const char *media(enum wire_format fmt)
{
    return fmt == WIRE_PROTOBUF ? WIRE_MEDIA_PROTOBUF : WIRE_MEDIA_JSON;
}

/* Posts a call given as JSON in fmt, asking for accept; returns the status. */
static int operator_call(int port, enum wire_format fmt, enum wire_format accept,
                         const char *call_json, struct h_response *out)
{
    struct buf body = BUF_INIT;
    if (fmt == WIRE_JSON) {
        buf_append_str(&body, call_json);
    } else {
        struct error err = {0};
        ProtobufCMessage *m = wire_json_decode(&tepui__master__call__descriptor, call_json,
                                               strlen(call_json), &err);
        assert_non_null(m);
        pb_pack_buf(m, &body);
        pb_free(m);
    }
    char headers[256];
    snprintf(headers, sizeof(headers), "Content-Type: %s\r\nAccept: %s\r\n", media(fmt),
             media(accept));
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

static void mark_gone(struct fixture *f, const char *agent_id)
{
    char call[512];
    snprintf(call, sizeof(call),
             "{\"type\":\"MARK_AGENT_GONE\",\"mark_agent_gone\":{\"agent_id\":{\"value\":\"%s\"}}}",
             agent_id);
    struct h_response r;
    assert_int_equal(operator_call(f->c.master.port, WIRE_JSON, WIRE_JSON, call, &r), 200);
    assert_int_equal(r.len, 0);
    h_response_free(&r);
}

/* A GET_* call's response, decoded. */
static Tepui__Master__Response *operator_get(int port, const char *type, enum wire_format fmt,
                                             enum wire_format accept)
{
    char call[128];
    snprintf(call, sizeof(call), "{\"type\":\"%s\"}", type);
    struct h_response r;
    assert_int_equal(operator_call(port, fmt, accept, call, &r), 200);
    char ct[128];
    assert_non_null(h_header(&r, "Content-Type", ct, sizeof(ct)));
    assert_non_null(strstr(ct, media(accept)));
    struct error err = {0};
    Tepui__Master__Response *resp = (Tepui__Master__Response *)wire_decode(
        &tepui__master__response__descriptor, accept, r.body, r.len, &err);
    if (resp == NULL)
        fprintf(stderr, "undecodable %s response: %s\n", type, err.msg);
    assert_non_null(resp);
    h_response_free(&r);
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value_by_name(
        &tepui__master__response__type__descriptor, type);
    assert_non_null(v);
    assert_true(resp->has_type);
    assert_int_equal(resp->type, v->value);
    return resp;
}

/* ---- a master that restarts ---- */

static int frameworks_recovered(void *arg)
{
    struct fixture *f = arg;
    json_t *st = h_get_json(f->c.master.port, "/state");
    int ok = 1;
    for (int i = 0; i < 2; i++) {
        json_t *fw = find_by_id(json_object_get(st, "frameworks"), f->fw_id[i]);
        ok = ok && fw != NULL && json_array_size(json_object_get(fw, "tasks")) == 1;
    }
    json_decref(st);
    return ok;
}

static int tasks_acknowledged(void *arg)
{
    struct fixture *f = arg;
    json_t *st = h_get_json(f->c.master.port, "/state");
    static const char *const ids[] = {"plain-task", "aware-task"};
    int ok = 1;
    for (int i = 0; i < 2; i++) {
        json_t *fw = find_by_id(json_object_get(st, "frameworks"), f->fw_id[i]);
        json_t *done = fw ? find_by_id(json_object_get(fw, "completed_tasks"), ids[i]) : NULL;
        ok = ok && fw != NULL && json_array_size(json_object_get(fw, "tasks")) == 0 &&
             done != NULL &&
             strcmp(json_string_value(json_object_get(done, "state")), "TASK_FINISHED") == 0;
    }
    json_decref(st);
    return ok;
}

static void restart_keeps_tasks_running(struct fixture *f, int sig)
{
    start_two_frameworks(f);
    h_restart_master(&f->c, sig, NULL);
    /* Schedulers see their streams end, as on a real failover. */
    for (int i = 0; i < 2; i++) {
        assert_null(h_sched_next(&f->s[i], EV(SUBSCRIBED), 5));
        assert_true(f->s[i].closed);
    }

    /* The agent comes back with its id and tasks; the registry listed it,
     * so it is re-admitted. Its frameworks show as recovered until their
     * schedulers subscribe again. */
    assert_true(h_wait_until(agent_is_active, f, 20));
    assert_int_equal(h_log_count(&f->c.master, "re-registered after the master failover"), 1);
    assert_true(h_wait_until(frameworks_recovered, f, 10));
    json_t *st = h_get_json(f->c.master.port, "/state");
    assert_int_equal(json_array_size(json_object_get(st, "recovered_slaves")), 0);
    for (int i = 0; i < 2; i++) {
        json_t *fw = find_by_id(json_object_get(st, "frameworks"), f->fw_id[i]);
        assert_true(json_is_true(json_object_get(fw, "recovered")));
        assert_true(json_is_false(json_object_get(fw, "active")));
        assert_true(json_is_false(json_object_get(fw, "connected")));
        json_t *task = json_array_get(json_object_get(fw, "tasks"), 0);
        assert_string_equal(json_string_value(json_object_get(task, "state")), "TASK_RUNNING");
    }
    json_decref(st);
    Tepui__Master__Response *resp =
        operator_get(f->c.master.port, "GET_FRAMEWORKS", WIRE_JSON, WIRE_JSON);
    assert_int_equal(resp->get_frameworks->n_frameworks, 2);
    assert_true(resp->get_frameworks->frameworks[0]->recovered);
    pb_free(resp);

    /* The schedulers fail over onto the new master with their ids. */
    subscribe(f, 0, f->fw_id[0]);
    subscribe(f, 1, f->fw_id[1]);
    st = h_get_json(f->c.master.port, "/state");
    for (int i = 0; i < 2; i++) {
        json_t *fw = find_by_id(json_object_get(st, "frameworks"), f->fw_id[i]);
        assert_true(json_is_false(json_object_get(fw, "recovered")));
        assert_true(json_is_true(json_object_get(fw, "active")));
    }
    json_decref(st);
    expect_reconciled(&f->s[0], "plain-task", f->agent_id, ST(RUNNING));
    expect_reconciled(&f->s[1], "aware-task", NULL, ST(RUNNING));
    /* Tasks the new master does not know, as Mesos's table answers. */
    expect_reconciled(&f->s[1], "never-launched", f->agent_id, ST(GONE));
    expect_reconciled(&f->s[1], "never-launched", "no-such-agent", ST(UNKNOWN));
    expect_reconciled(&f->s[0], "never-launched", f->agent_id, ST(LOST));
    expect_reconciled(&f->s[0], "never-launched", "no-such-agent", ST(LOST));

    /* The tasks finish normally; updates and acknowledgements flow. */
    static const char *const ids[] = {"plain-task", "aware-task"};
    for (int i = 0; i < 2; i++) {
        release(f, ids[i]);
        Tepui__TaskStatus *done = h_sched_wait_state(&f->s[i], ids[i], ST(FINISHED), 20);
        assert_non_null(done);
        assert_true(done->has_uuid);
        pb_free(done);
    }
    assert_true(h_wait_until(tasks_acknowledged, f, 10));
}

static void killed_master_recovers_agents_and_tasks_from_the_registry(void **state)
{
    restart_keeps_tasks_running(*state, SIGKILL);
}

static void stopped_master_recovers_agents_and_tasks_from_the_registry(void **state)
{
    restart_keeps_tasks_running(*state, SIGTERM);
}

/* ---- an agent that does not come back in time ---- */

static int failure_of(struct h_sched *s, const char *agent_id, double timeout)
{
    Tepui__Scheduler__Event *ev = h_sched_next(s, EV(FAILURE), timeout);
    if (ev == NULL)
        return 0;
    int ok = ev->failure->agent_id != NULL && strcmp(ev->failure->agent_id->value, agent_id) == 0;
    pb_free(ev);
    return ok;
}

static void missing_agent_is_unreachable_after_the_reregister_timeout(void **state)
{
    struct fixture *f = *state;
    start_two_frameworks(f);
    /* The agent hangs while the master fails over. */
    f->stopped = f->c.agents[0].pid;
    assert_int_equal(kill(f->stopped, SIGSTOP), 0);
    static const char *const timeout[] = {"--agent_reregister_timeout=6secs", NULL};
    h_restart_master(&f->c, SIGKILL, timeout);
    double elected = clock_mono();
    subscribe(f, 0, f->fw_id[0]);
    subscribe(f, 1, f->fw_id[1]);

    /* While it may still come back, the master lists it as recovered and
     * explicit reconciliation of its tasks gets no answer (Mesos): with its
     * id, or without an agent id at all. */
    json_t *st = h_get_json(f->c.master.port, "/state");
    json_t *rec = json_object_get(st, "recovered_slaves");
    assert_int_equal(json_array_size(rec), 1);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_array_get(rec, 0), "id"), "value")),
                        f->agent_id);
    json_decref(st);
    Tepui__Master__Response *resp =
        operator_get(f->c.master.port, "GET_AGENTS", WIRE_PROTOBUF, WIRE_PROTOBUF);
    assert_int_equal(resp->get_agents->n_agents, 0);
    assert_int_equal(resp->get_agents->n_recovered_agents, 1);
    assert_string_equal(resp->get_agents->recovered_agents[0]->id->value, f->agent_id);
    pb_free(resp);
    reconcile(&f->s[0], "plain-task", f->agent_id);
    reconcile(&f->s[1], "aware-task", NULL);
    assert_null(h_sched_next(&f->s[0], EV(UPDATE), 1));
    assert_null(h_sched_next(&f->s[1], EV(UPDATE), 0.1));
    assert_true(clock_mono() - elected < 5.5);

    /* Past the timeout: marked unreachable, frameworks told. */
    assert_true(failure_of(&f->s[0], f->agent_id, 15));
    assert_true(failure_of(&f->s[1], f->agent_id, 5));
    assert_true(clock_mono() - elected > 5);
    assert_int_equal(count_of(f->c.master.port, "unreachable_slaves"), 1);
    assert_int_equal(count_of(f->c.master.port, "recovered_slaves"), 0);
    assert_true(h_metric(f->c.master.port, "master/slaves_unreachable") == 1);
    expect_reconciled(&f->s[0], "plain-task", f->agent_id, ST(LOST));
    expect_reconciled(&f->s[1], "aware-task", f->agent_id, ST(UNREACHABLE));

    /* The partition heals: the agent is admitted again and its tasks come
     * back with their current state. */
    assert_int_equal(kill(f->stopped, SIGCONT), 0);
    f->stopped = 0;
    static const char *const ids[] = {"plain-task", "aware-task"};
    for (int i = 0; i < 2; i++) {
        Tepui__TaskStatus *back = next_update_of(&f->s[i], ids[i], 20);
        assert_non_null(back);
        assert_int_equal(back->state, ST(RUNNING));
        assert_int_equal(back->reason, REASON(AGENT_REREGISTERED));
        assert_false(back->has_uuid);
        pb_free(back);
    }
    assert_true(h_wait_until(unreachable_none, f, 5));
    assert_true(agent_is_active(f));
    for (int i = 0; i < 2; i++) {
        release(f, ids[i]);
        Tepui__TaskStatus *done = h_sched_wait_state(&f->s[i], ids[i], ST(FINISHED), 20);
        assert_non_null(done);
        pb_free(done);
    }
}

/* ---- MARK_AGENT_GONE ---- */

static void expect_gone_updates(struct fixture *f)
{
    /* Not partition-aware: LOST (REASON_AGENT_REMOVED); aware:
     * GONE_BY_OPERATOR (REASON_AGENT_REMOVED_BY_OPERATOR). Best effort. */
    Tepui__TaskStatus *st = next_update_of(&f->s[0], "plain-task", 10);
    assert_non_null(st);
    assert_int_equal(st->state, ST(LOST));
    assert_int_equal(st->reason, REASON(AGENT_REMOVED));
    assert_string_equal(st->message, "Agent has been marked gone");
    assert_false(st->has_uuid);
    pb_free(st);
    st = next_update_of(&f->s[1], "aware-task", 10);
    assert_non_null(st);
    assert_int_equal(st->state, ST(GONE_BY_OPERATOR));
    assert_int_equal(st->reason, REASON(AGENT_REMOVED_BY_OPERATOR));
    assert_false(st->has_uuid);
    pb_free(st);
}

static void marked_gone_agent_is_shut_down_and_stays_gone(void **state)
{
    struct fixture *f = *state;
    start_two_frameworks(f);
    mark_gone(f, f->agent_id);
    expect_gone_updates(f);
    assert_true(failure_of(&f->s[0], f->agent_id, 5));
    assert_true(failure_of(&f->s[1], f->agent_id, 5));

    /* The agent is told to shut down, and does. */
    assert_true(h_wait_until(agent_exited, f, 15));
    assert_int_equal(
        h_log_count(&f->c.agents[0], "the master refuses this agent: Agent has been marked gone"),
        1);
    int status = h_stop(&f->c.agents[0], SIGTERM);
    assert_true(WIFEXITED(status));

    /* Idempotent; the agent is no more; its tasks are gone for good. */
    mark_gone(f, f->agent_id);
    Tepui__Master__Response *resp =
        operator_get(f->c.master.port, "GET_AGENTS", WIRE_JSON, WIRE_JSON);
    assert_int_equal(resp->get_agents->n_agents, 0);
    pb_free(resp);
    resp = operator_get(f->c.master.port, "GET_TASKS", WIRE_JSON, WIRE_PROTOBUF);
    assert_int_equal(resp->get_tasks->n_tasks, 0);
    assert_int_equal(resp->get_tasks->n_completed_tasks, 2);
    pb_free(resp);
    assert_true(h_metric(f->c.master.port, "master/tasks_gone_by_operator") == 1);
    expect_reconciled(&f->s[0], "plain-task", f->agent_id, ST(LOST));
    expect_reconciled(&f->s[1], "aware-task", f->agent_id, ST(GONE_BY_OPERATOR));

    /* The registry keeps it gone across a restart. */
    h_restart_master(&f->c, SIGTERM, NULL);
    subscribe(f, 0, f->fw_id[0]);
    subscribe(f, 1, f->fw_id[1]);
    expect_reconciled(&f->s[1], "aware-task", f->agent_id, ST(GONE_BY_OPERATOR));
    expect_reconciled(&f->s[0], "plain-task", f->agent_id, ST(LOST));
    assert_int_equal(h_log_count(&f->c.master, "recovered 0 admitted, 0 unreachable and 1 gone"),
                     1);
}

static void gone_agent_that_comes_back_is_refused(void **state)
{
    struct fixture *f = *state;
    start_two_frameworks(f);
    /* Partitioned: unreachable after missed pings. */
    f->stopped = f->c.agents[0].pid;
    assert_int_equal(kill(f->stopped, SIGSTOP), 0);
    Tepui__TaskStatus *st = next_update_of(&f->s[1], "aware-task", 15);
    assert_non_null(st);
    assert_int_equal(st->state, ST(UNREACHABLE));
    pb_free(st);

    /* The operator asserts it will not come back. */
    mark_gone(f, f->agent_id);
    st = next_update_of(&f->s[1], "aware-task", 10);
    assert_non_null(st);
    assert_int_equal(st->state, ST(GONE_BY_OPERATOR));
    assert_int_equal(st->reason, REASON(AGENT_REMOVED_BY_OPERATOR));
    pb_free(st);
    assert_int_equal(count_of(f->c.master.port, "unreachable_slaves"), 0);
    json_t *state_json = h_get_json(f->c.master.port, "/state");
    json_t *fw = find_by_id(json_object_get(state_json, "frameworks"), f->fw_id[1]);
    assert_int_equal(json_array_size(json_object_get(fw, "unreachable_tasks")), 0);
    json_t *done = find_by_id(json_object_get(fw, "completed_tasks"), "aware-task");
    assert_string_equal(json_string_value(json_object_get(done, "state")),
                        "TASK_GONE_BY_OPERATOR");
    json_decref(state_json);

    /* A new master (the registry says gone); then the partition heals:
     * the agent is refused and shuts down. */
    h_restart_master(&f->c, SIGKILL, fast_pings);
    assert_int_equal(kill(f->stopped, SIGCONT), 0);
    f->stopped = 0;
    assert_true(h_wait_until(agent_exited, f, 20));
    assert_int_equal(
        h_log_count(&f->c.agents[0], "the master refuses this agent: Agent has been marked gone"),
        1);
    assert_true(h_log_count(&f->c.master, "it has been marked gone") >= 1);
    assert_int_equal(count_of(f->c.master.port, "slaves"), 0);
    h_stop(&f->c.agents[0], SIGTERM);
}

/* ---- registry GC ---- */

static void registry_gc_forgets_old_unreachable_agents(void **state)
{
    struct fixture *f = *state;
    start_two_frameworks(f);
    f->stopped = f->c.agents[0].pid;
    assert_int_equal(kill(f->stopped, SIGSTOP), 0);
    Tepui__TaskStatus *st = next_update_of(&f->s[1], "aware-task", 15);
    assert_non_null(st);
    assert_int_equal(st->state, ST(UNREACHABLE));
    pb_free(st);
    st = next_update_of(&f->s[0], "plain-task", 15);
    assert_non_null(st);
    assert_int_equal(st->state, ST(LOST));
    pb_free(st);
    /* Older than --registry_max_agent_age: forgotten, with its tasks. */
    assert_true(h_wait_until(unreachable_none, f, 10));
    json_t *state_json = h_get_json(f->c.master.port, "/state");
    json_t *fw = find_by_id(json_object_get(state_json, "frameworks"), f->fw_id[1]);
    assert_int_equal(json_array_size(json_object_get(fw, "unreachable_tasks")), 0);
    json_decref(state_json);
    expect_reconciled(&f->s[1], "aware-task", f->agent_id, ST(UNKNOWN));
    expect_reconciled(&f->s[0], "plain-task", f->agent_id, ST(LOST));
}

/* ---- a corrupt registry ---- */

/* Runs a master on the fixture's work dir; it must exit at once. */
static int run_master(struct fixture *f, const char *extra, char *out, size_t n)
{
    char wd[700];
    snprintf(wd, sizeof(wd), "--work_dir=%s", f->c.master.dir);
    const char *argv[] = {h_bin("tepui-master"), "--ip=127.0.0.1", "--port=0", wd, extra, NULL};
    return h_run_capture(argv, out, n, 20);
}

static void corrupt_registry_stops_the_master_with_a_clear_message(void **state)
{
    struct fixture *f = *state;
    int status = h_stop(&f->c.agents[0], SIGTERM);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    status = h_stop(&f->c.master, SIGTERM);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    /* A page of the agents table is damaged. */
    char path[700];
    snprintf(path, sizeof(path), "%s/registry.db", f->c.master.dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT rootpage FROM sqlite_master WHERE name = "
                                            "'agents'", -1, &q, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    int page = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    char junk[4096];
    memset(junk, 0x5A, sizeof(junk));
    assert_int_equal(pwrite(fd, junk, sizeof(junk), (off_t)(page - 1) * 4096),
                     (ssize_t)sizeof(junk));
    close(fd);
    char out[8192];
    status = run_master(f, "--logging_level=INFO", out, sizeof(out));
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 1);
    assert_non_null(strstr(out, "is corrupt"));
    assert_non_null(strstr(out, "can be recovered: 0 agent entries"));
    assert_non_null(strstr(out, "cannot be recovered: whatever the damaged pages"));
    assert_non_null(strstr(out, "--no-registry_strict"));

    /* Not a database at all. */
    fd = open(path, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
    close(fd);
    status = run_master(f, "--logging_level=INFO", out, sizeof(out));
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 1);
    assert_non_null(strstr(out, "is not a SQLite database"));
    assert_non_null(strstr(out, "none of it can be recovered"));
    assert_non_null(strstr(out, "refusing to start on a corrupt registry"));

    /* Told to go on: it keeps what it can and sets the file aside. */
    static const char *const lenient[] = {"--no-registry_strict", NULL};
    h_start_master(&f->c, lenient);
    assert_int_equal(h_log_count(&f->c.master, "keeping what can be recovered"), 1);
    char pattern[700];
    snprintf(pattern, sizeof(pattern), "%s/registry.db.corrupt-*", f->c.master.dir);
    glob_t g;
    assert_int_equal(glob(pattern, 0, NULL, &g), 0);
    assert_int_equal(g.gl_pathc, 1);
    globfree(&g);
}

/* ---- operator API ---- */

static void operator_api_answers_read_calls_in_both_encodings(void **state)
{
    struct fixture *f = *state;
    start_two_frameworks(f);
    int port = f->c.master.port;
    json_t *st = h_get_json(port, "/state");
    const char *master_id = json_string_value(json_object_get(st, "id"));
    static const enum wire_format pairs[][2] = {
        {WIRE_JSON, WIRE_JSON}, {WIRE_PROTOBUF, WIRE_PROTOBUF}, {WIRE_JSON, WIRE_PROTOBUF},
        {WIRE_PROTOBUF, WIRE_JSON}};
    for (size_t p = 0; p < sizeof(pairs) / sizeof(pairs[0]); p++) {
        enum wire_format in = pairs[p][0], out = pairs[p][1];
        Tepui__Master__Response *r = operator_get(port, "GET_HEALTH", in, out);
        assert_true(r->get_health->healthy);
        pb_free(r);

        r = operator_get(port, "GET_FLAGS", in, out);
        int seen = 0;
        for (size_t i = 0; i < r->get_flags->n_flags; i++)
            if (strcmp(r->get_flags->flags[i]->name, "work_dir") == 0) {
                assert_string_equal(r->get_flags->flags[i]->value, f->c.master.dir);
                seen = 1;
            }
        assert_true(seen);
        pb_free(r);

        r = operator_get(port, "GET_VERSION", in, out);
        assert_string_equal(r->get_version->version_info->version,
                            json_string_value(json_object_get(st, "version")));
        pb_free(r);

        r = operator_get(port, "GET_MASTER", in, out);
        assert_string_equal(r->get_master->master_info->id, master_id);
        assert_true(r->get_master->has_elected_time);
        pb_free(r);

        r = operator_get(port, "GET_AGENTS", in, out);
        assert_int_equal(r->get_agents->n_agents, 1);
        assert_string_equal(r->get_agents->agents[0]->agent_info->id->value, f->agent_id);
        assert_true(r->get_agents->agents[0]->active);
        assert_int_equal(r->get_agents->n_recovered_agents, 0);
        pb_free(r);

        r = operator_get(port, "GET_FRAMEWORKS", in, out);
        assert_int_equal(r->get_frameworks->n_frameworks, 2);
        for (size_t i = 0; i < 2; i++) {
            assert_true(r->get_frameworks->frameworks[i]->active);
            assert_true(r->get_frameworks->frameworks[i]->connected);
            assert_false(r->get_frameworks->frameworks[i]->recovered);
        }
        pb_free(r);

        r = operator_get(port, "GET_TASKS", in, out);
        assert_int_equal(r->get_tasks->n_tasks, 2);
        for (size_t i = 0; i < 2; i++)
            assert_int_equal(r->get_tasks->tasks[i]->state, ST(RUNNING));
        pb_free(r);
    }
    json_decref(st);

    /* The same under /master. */
    struct h_response r;
    const char *health = "{\"type\":\"GET_HEALTH\"}";
    assert_int_equal(h_http(port, "POST", "/master/api/v1", "Content-Type: application/json\r\n",
                            health, strlen(health), &r),
                     0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"healthy\":true"));
    h_response_free(&r);
    release(f, "plain-task");
    release(f, "aware-task");
}

static int post(int port, const char *method, const char *headers, const char *body,
                struct h_response *r)
{
    assert_int_equal(h_http(port, method, "/api/v1", headers, body, body ? strlen(body) : 0, r), 0);
    return r->status;
}

static void operator_api_rejects_bad_requests(void **state)
{
    struct fixture *f = *state;
    int port = f->c.master.port;
    const char *json = "Content-Type: application/json\r\n";
    struct h_response r;
    char allow[32];

    assert_int_equal(post(port, "GET", NULL, NULL, &r), 405);
    assert_non_null(h_header(&r, "Allow", allow, sizeof(allow)));
    assert_string_equal(allow, "POST");
    h_response_free(&r);
    assert_int_equal(post(port, "POST", NULL, "{\"type\":\"GET_HEALTH\"}", &r), 400);
    assert_non_null(strstr(r.body, "Content-Type"));
    h_response_free(&r);
    assert_int_equal(post(port, "POST", "Content-Type: text/plain\r\n", "GET_HEALTH", &r), 415);
    h_response_free(&r);
    assert_int_equal(post(port, "POST", json, "{\"type\":", &r), 400);
    h_response_free(&r);
    assert_int_equal(post(port, "POST", "Content-Type: application/x-protobuf\r\n",
                          "\xff\xff\xff", &r),
                     400);
    h_response_free(&r);
    assert_int_equal(post(port, "POST", json, "{}", &r), 400);
    assert_non_null(strstr(r.body, "Expecting 'type' to be present"));
    h_response_free(&r);
    assert_int_equal(post(port, "POST", json, "{\"type\":\"MARK_AGENT_GONE\"}", &r), 400);
    assert_non_null(strstr(r.body, "Expecting 'mark_agent_gone' to be present"));
    h_response_free(&r);
    assert_int_equal(
        post(port, "POST", json, "{\"type\":\"MARK_AGENT_GONE\",\"mark_agent_gone\":{}}", &r), 400);
    h_response_free(&r);
    assert_int_equal(post(port, "POST", json,
                          "{\"type\":\"MARK_AGENT_GONE\",\"mark_agent_gone\":{\"agent_id\":"
                          "{\"value\":\"no-such-agent\"}}}",
                          &r),
                     404);
    assert_non_null(strstr(r.body, "no-such-agent"));
    h_response_free(&r);
    assert_int_equal(post(port, "POST", "Content-Type: application/json\r\nAccept: text/html\r\n",
                          "{\"type\":\"GET_HEALTH\"}", &r),
                     406);
    h_response_free(&r);
    assert_int_equal(post(port, "POST", json, "{\"type\":\"UNKNOWN\"}", &r), 501);
    h_response_free(&r);
    assert_int_equal(post(port, "POST", json, "{\"type\":\"GET_STATE\"}", &r), 501);
    assert_non_null(strstr(r.body, "not implemented yet"));
    h_response_free(&r);
    assert_int_equal(post(port, "POST", json,
                          "{\"type\":\"TEARDOWN\",\"teardown\":{\"framework_id\":"
                          "{\"value\":\"x\"}}}",
                          &r),
                     501);
    h_response_free(&r);
    /* Nothing was marked gone by any of it. */
    assert_int_equal(count_of(port, "slaves"), 1);
}

int main(void)
{
#define T(name, s) cmocka_unit_test_setup_teardown(name, s, teardown)
    const struct CMUnitTest tests[] = {
        T(killed_master_recovers_agents_and_tasks_from_the_registry, setup),
        T(stopped_master_recovers_agents_and_tasks_from_the_registry, setup),
        T(missing_agent_is_unreachable_after_the_reregister_timeout, setup),
        T(marked_gone_agent_is_shut_down_and_stays_gone, setup),
        T(gone_agent_that_comes_back_is_refused, setup_fast_pings),
        T(registry_gc_forgets_old_unreachable_agents, setup_fast_gc),
        T(corrupt_registry_stops_the_master_with_a_clear_message, setup),
        T(operator_api_answers_read_calls_in_both_encodings, setup),
        T(operator_api_rejects_bad_requests, setup),
    };
#undef T
    if (getenv("TEST_FILTER"))
        cmocka_set_test_filter(getenv("TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
