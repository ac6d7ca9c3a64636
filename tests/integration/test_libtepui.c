/* A scheduler written on libtepui (include/tepui/scheduler.h), on a libevent
 * loop inside the test, against a real master and agent: it subscribes in
 * both encodings, launches command tasks from offers, acknowledges their
 * updates, reconciles, kills, messages and shuts down executors, suppresses
 * and revives, declines with filters, tears down, and rides out a master
 * restart with auto_reconnect. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <event2/event.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "harness.h"
#include "tepui/scheduler.h"
#include "wire/pb.h"

/* Generous: under ASan on two cores twenty executors start slowly. */
#define WAIT_SECS 30.0
#define N_TASKS 20
#define MAX_UPDATES 512
#define MAX_OFFERS 64

struct update {
    char task_id[64];
    char agent_id[128];
    int state;
    int reason;
    int has_uuid;
    char message[256];
};

struct done {
    int n;
    int status;
};

struct fixture {
    struct h_cluster c;
    char agent_id[128];            /* of the one agent */
    struct event_base *base;
    struct event *tick;
    struct tepui_scheduler *s;
    /* what the callbacks saw */
    int subscribed, disconnected, errors;
    char framework_id[256];
    char last_error[512];
    Tepui__Offer *offers[MAX_OFFERS];   /* copies, not yet used */
    size_t n_offers;
    int offer_events;
    struct update updates[MAX_UPDATES];
    size_t n_updates;
    int acks_sent, acks_answered, acks_ok;
};

/* ---- the loop ---- */

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

/* One turn of the loop, at most 50 ms, so that deadlines are checked. */
static void loop_step(struct fixture *f, double deadline)
{
    double left = deadline - clock_mono();
    if (left > 0.05)
        left = 0.05;
    if (left < 0)
        left = 0;
    struct timeval tv = {0, (suseconds_t)(left * 1e6)};
    event_add(f->tick, &tv);
    event_base_loop(f->base, EVLOOP_ONCE);
    /* A crashed daemon is a failure now, not after every deadline. */
    const char *died = h_daemon_died(&f->c);
    if (died != NULL) {
        h_dump_logs(&f->c);
        fail_msg("a daemon exited on its own; see %s", died);
    }
}

/* Runs the loop until cond holds or secs pass; evaluates to cond. */
#define AWAIT(f, cond, secs) \
    ({ \
        double deadline_ = clock_mono() + (secs); \
        while (!(cond) && clock_mono() < deadline_) \
            loop_step((f), deadline_); \
        (cond); \
    })

/* Runs the loop for secs whatever happens (to show that nothing does). */
static void run_for(struct fixture *f, double secs)
{
    double deadline = clock_mono() + secs;
    while (clock_mono() < deadline)
        loop_step(f, deadline);
}

/* ---- callbacks ---- */

static void on_subscribed(struct tepui_scheduler *s, const Tepui__Scheduler__Event__Subscribed *e,
                          void *arg)
{
    struct fixture *f = arg;
    (void)s;
    f->subscribed++;
    snprintf(f->framework_id, sizeof(f->framework_id), "%s", e->framework_id->value);
}

static void on_offers(struct tepui_scheduler *s, const Tepui__Scheduler__Event__Offers *e, void *arg)
{
    struct fixture *f = arg;
    (void)s;
    f->offer_events++;
    for (size_t i = 0; i < e->n_offers && f->n_offers < MAX_OFFERS; i++)
        f->offers[f->n_offers++] = PB_COPY(Tepui__Offer, e->offers[i]);
}

static void on_rescind(struct tepui_scheduler *s, const Tepui__Scheduler__Event__Rescind *e,
                       void *arg)
{
    struct fixture *f = arg;
    (void)s;
    for (size_t i = 0; i < f->n_offers; i++)
        if (strcmp(f->offers[i]->id->value, e->offer_id->value) == 0) {
            pb_free(f->offers[i]);
            f->offers[i] = f->offers[--f->n_offers];
            return;
        }
}

static void on_ack_done(struct tepui_scheduler *s, const struct tepui_call_result *r, void *arg)
{
    struct fixture *f = arg;
    (void)s;
    f->acks_answered++;
    f->acks_ok += r->status == 202;
}

static void on_update(struct tepui_scheduler *s, const Tepui__Scheduler__Event__Update *e, void *arg)
{
    struct fixture *f = arg;
    const Tepui__TaskStatus *st = e->status;
    if (f->n_updates < MAX_UPDATES) {
        struct update *u = &f->updates[f->n_updates++];
        snprintf(u->task_id, sizeof(u->task_id), "%s", st->task_id->value);
        snprintf(u->agent_id, sizeof(u->agent_id), "%s", st->agent_id ? st->agent_id->value : "");
        u->state = (int)st->state;
        u->reason = st->has_reason ? (int)st->reason : -1;
        u->has_uuid = st->has_uuid;
        snprintf(u->message, sizeof(u->message), "%s", st->message ? st->message : "");
    }
    /* Only updates with a uuid are acknowledged (reconciliation's are not). */
    if (st->has_uuid && st->agent_id != NULL) {
        int rc = tepui_scheduler_acknowledge(s, st->agent_id->value, st->task_id->value,
                                             st->uuid.data, st->uuid.len, on_ack_done, f);
        assert_int_equal(rc, 0);
        f->acks_sent++;
    }
}

static void on_error(struct tepui_scheduler *s, const char *message, void *arg)
{
    struct fixture *f = arg;
    (void)s;
    f->errors++;
    snprintf(f->last_error, sizeof(f->last_error), "%s", message);
}

static void on_disconnected(struct tepui_scheduler *s, const char *why, void *arg)
{
    struct fixture *f = arg;
    (void)s;
    (void)why;
    f->disconnected++;
}

static void on_done(struct tepui_scheduler *s, const struct tepui_call_result *r, void *arg)
{
    struct done *d = arg;
    (void)s;
    d->n++;
    d->status = r->status;
}

/* ---- fixture ---- */

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    h_cluster_init(&f->c);
    h_start_master(&f->c, NULL);
    h_start_agent(&f->c, NULL, NULL);
    json_t *st = h_get_json(f->c.master.port, "/state");
    snprintf(f->agent_id, sizeof(f->agent_id), "%s",
             json_string_value(json_object_get(json_array_get(json_object_get(st, "slaves"), 0),
                                               "id")));
    json_decref(st);
    f->base = event_base_new();
    f->tick = evtimer_new(f->base, tick_cb, f);
    /* The library's progress lines would bury cmocka's. */
    log_set_level(LOG_LEVEL_WARN);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    tepui_scheduler_free(f->s);
    /* Connections are released on the loop's next turn. */
    event_base_loop(f->base, EVLOOP_NONBLOCK);
    for (size_t i = 0; i < f->n_offers; i++)
        pb_free(f->offers[i]);
    event_free(f->tick);
    event_base_free(f->base);
    h_cluster_destroy(&f->c);
    free(f);
    return 0;
}

struct sched_opts {
    enum tepui_format format;
    int partition_aware;
    int auto_reconnect;
};

/* Creates and starts the scheduler; waits until it is subscribed. */
static void sched_start(struct fixture *f, const struct sched_opts *o)
{
    Tepui__FrameworkInfo fi = TEPUI__FRAMEWORK_INFO__INIT;
    struct passwd *pw = getpwuid(getuid());
    fi.user = pw ? pw->pw_name : "root";
    fi.name = "libtepui-test";
    Tepui__FrameworkInfo__Capability cap = TEPUI__FRAMEWORK_INFO__CAPABILITY__INIT;
    Tepui__FrameworkInfo__Capability *caps[1] = {&cap};
    if (o->partition_aware) {
        cap.has_type = 1;
        cap.type = TEPUI__FRAMEWORK_INFO__CAPABILITY__TYPE__PARTITION_AWARE;
        fi.capabilities = caps;
        fi.n_capabilities = 1;
    }
    char master[64];
    snprintf(master, sizeof(master), "127.0.0.1:%d", f->c.master.port);
    struct tepui_scheduler_options opts = {
        .master = master,
        .format = o->format,
        .auto_reconnect = o->auto_reconnect,
        .backoff_min_secs = 0.1,
        .backoff_max_secs = 0.5,
    };
    struct tepui_scheduler_callbacks cb = {
        .subscribed = on_subscribed,
        .offers = on_offers,
        .rescind = on_rescind,
        .update = on_update,
        .error = on_error,
        .disconnected = on_disconnected,
    };
    f->s = tepui_scheduler_new(f->base, &fi, &opts, &cb, f);
    assert_non_null(f->s);
    assert_int_equal(tepui_scheduler_start(f->s), 0);
    if (!AWAIT(f, f->subscribed > 0, WAIT_SECS)) {
        h_dump_logs(&f->c);
        fail_msg("not subscribed within %gs (errors: %d, %s)", WAIT_SECS, f->errors, f->last_error);
    }
    assert_string_equal(tepui_scheduler_framework_id(f->s), f->framework_id);
    assert_non_null(tepui_scheduler_stream_id(f->s));
    assert_true(tepui_scheduler_is_subscribed(f->s));
}

/* The oldest unused offer (the caller's, pb_free it); fails after secs. */
static Tepui__Offer *take_offer(struct fixture *f, double secs)
{
    if (!AWAIT(f, f->n_offers > 0, secs))
        fail_msg("no offer within %gs", secs);
    Tepui__Offer *o = f->offers[0];
    memmove(&f->offers[0], &f->offers[1], (f->n_offers - 1) * sizeof(f->offers[0]));
    f->n_offers--;
    return o;
}

static void drop_offers(struct fixture *f)
{
    for (size_t i = 0; i < f->n_offers; i++)
        pb_free(f->offers[i]);
    f->n_offers = 0;
}

static const char *state_name(int state)
{
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&tepui__task_state__descriptor, state);
    return v != NULL ? v->name : "?";
}

/* The first update of task_id in state (any state: -1); NULL if none yet. */
static const struct update *find_update(const struct fixture *f, const char *task_id, int state)
{
    for (size_t i = 0; i < f->n_updates; i++)
        if (strcmp(f->updates[i].task_id, task_id) == 0 &&
            (state < 0 || f->updates[i].state == state))
            return &f->updates[i];
    return NULL;
}

/* The latest terminal update of task_id, NULL if none yet. */
static const struct update *terminal_update(const struct fixture *f, const char *task_id)
{
    for (size_t i = f->n_updates; i-- > 0;) {
        const struct update *u = &f->updates[i];
        if (strcmp(u->task_id, task_id) != 0)
            continue;
        switch (u->state) {
        case TEPUI__TASK_STATE__TASK_FINISHED:
        case TEPUI__TASK_STATE__TASK_FAILED:
        case TEPUI__TASK_STATE__TASK_KILLED:
        case TEPUI__TASK_STATE__TASK_ERROR:
        case TEPUI__TASK_STATE__TASK_LOST:
        case TEPUI__TASK_STATE__TASK_DROPPED:
        case TEPUI__TASK_STATE__TASK_GONE:
        case TEPUI__TASK_STATE__TASK_GONE_BY_OPERATOR:
            return u;
        default:
            break;
        }
    }
    return NULL;
}

static void dump_updates(const struct fixture *f)
{
    for (size_t i = 0; i < f->n_updates; i++)
        fprintf(stderr, "  update %zu: %s %s%s '%s'\n", i, f->updates[i].task_id,
                state_name(f->updates[i].state), f->updates[i].has_uuid ? "" : " (no uuid)",
                f->updates[i].message);
}

/* Waits for an update of task_id in state. */
static const struct update *await_state(struct fixture *f, const char *task_id, int state,
                                        double secs)
{
    if (!AWAIT(f, find_update(f, task_id, state) != NULL, secs)) {
        dump_updates(f);
        h_dump_logs(&f->c);
        fail_msg("task %s: no %s within %gs", task_id, state_name(state), secs);
    }
    return find_update(f, task_id, state);
}

/* Waits until every acknowledgement sent so far was answered 202. */
static void await_acks(struct fixture *f)
{
    assert_true(AWAIT(f, f->acks_answered == f->acks_sent, WAIT_SECS));
    assert_int_equal(f->acks_ok, f->acks_sent);
}

/* Waits for a call's answer and returns its status. */
static int await_done(struct fixture *f, struct done *d)
{
    if (!AWAIT(f, d->n > 0, WAIT_SECS))
        fail_msg("a call was not answered within %gs", WAIT_SECS);
    return d->status;
}

/* Accepts offer with one LAUNCH of n command tasks "<prefix>-<i>" running
 * command; role (may be NULL) goes into the resources' allocation_info. */
static void launch(struct fixture *f, const Tepui__Offer *offer, const char *prefix, int n,
                   const char *command, const char *role)
{
    Tepui__TaskInfo *tasks[N_TASKS];
    assert_true(n <= N_TASKS);
    for (int i = 0; i < n; i++) {
        char id[64];
        if (n == 1)
            snprintf(id, sizeof(id), "%s", prefix);
        else
            snprintf(id, sizeof(id), "%s-%d", prefix, i);
        tasks[i] = tepui_task_command_new(id, id, offer->agent_id->value, command, 0.1, 32, role);
        assert_non_null(tasks[i]);
    }
    Tepui__Offer__Operation *op = tepui_operation_launch_new(tasks, (size_t)n);
    assert_non_null(op);
    for (int i = 0; i < n; i++)
        tepui_message_free(tasks[i]);
    Tepui__OfferID *ids[1] = {offer->id};
    Tepui__Filters filters = TEPUI__FILTERS__INIT;
    filters.has_refuse_seconds = 1;
    filters.refuse_seconds = 0;
    struct done d = {0};
    assert_int_equal(tepui_scheduler_accept(f->s, ids, 1, &op, 1, &filters, on_done, &d), 0);
    tepui_message_free(op);
    assert_int_equal(await_done(f, &d), 202);
}

/* Launches one task on the next offer and waits until it runs. */
static void launch_running(struct fixture *f, const char *task_id, const char *command)
{
    Tepui__Offer *o = take_offer(f, WAIT_SECS);
    launch(f, o, task_id, 1, command, NULL);
    pb_free(o);
    await_state(f, task_id, TEPUI__TASK_STATE__TASK_RUNNING, WAIT_SECS);
}

static int count_state(const struct fixture *f, const char *prefix, int state)
{
    int n = 0;
    for (size_t i = 0; i < f->n_updates; i++)
        n += strncmp(f->updates[i].task_id, prefix, strlen(prefix)) == 0 &&
             f->updates[i].state == state;
    return n;
}

/* ---- launching ---- */

static void run_twenty_tasks(void **state, enum tepui_format format, const char *role)
{
    struct fixture *f = *state;
    sched_start(f, &(struct sched_opts){.format = format});
    Tepui__Offer *o = take_offer(f, WAIT_SECS);
    assert_string_equal(o->framework_id->value, f->framework_id);
    assert_string_equal(o->agent_id->value, f->agent_id);
    launch(f, o, "t", N_TASKS, "echo hello from $MESOS_EXECUTOR_ID", role);
    pb_free(o);

    if (!AWAIT(f, count_state(f, "t-", TEPUI__TASK_STATE__TASK_FINISHED) == N_TASKS, WAIT_SECS)) {
        dump_updates(f);
        h_dump_logs(&f->c);
        fail_msg("%d of %d tasks finished", count_state(f, "t-", TEPUI__TASK_STATE__TASK_FINISHED),
                 N_TASKS);
    }
    for (int i = 0; i < N_TASKS; i++) {
        char id[32];
        snprintf(id, sizeof(id), "t-%d", i);
        /* Each ran before it finished, and nothing came after. */
        const struct update *running = find_update(f, id, TEPUI__TASK_STATE__TASK_RUNNING);
        const struct update *finished = find_update(f, id, TEPUI__TASK_STATE__TASK_FINISHED);
        assert_non_null(running);
        assert_true(running < finished);
        assert_ptr_equal(terminal_update(f, id), finished);
        assert_true(finished->has_uuid);
        assert_string_equal(finished->agent_id, f->agent_id);
        assert_string_equal(finished->message, "Command exited with status 0");
    }
    assert_int_equal(count_state(f, "t-", TEPUI__TASK_STATE__TASK_FAILED), 0);
    await_acks(f);

    /* Acknowledged, the tasks are completed at the master. */
    json_t *st = h_get_json(f->c.master.port, "/state");
    json_t *fw = json_array_get(json_object_get(st, "frameworks"), 0);
    assert_string_equal(json_string_value(json_object_get(fw, "id")), f->framework_id);
    assert_int_equal(json_array_size(json_object_get(fw, "tasks")), 0);
    json_t *done = json_object_get(fw, "completed_tasks");
    assert_int_equal(json_array_size(done), N_TASKS);
    size_t i;
    json_t *t;
    json_array_foreach(done, i, t)
        assert_string_equal(json_string_value(json_object_get(t, "state")), "TASK_FINISHED");
    json_decref(st);

    /* The task's output is in its sandbox. */
    char *dir = h_agent_sandbox(&f->c, 0, f->framework_id, "t-7");
    assert_non_null(dir);
    char path[1024];
    snprintf(path, sizeof(path), "%s/stdout", dir);
    char *out = h_agent_read_file(f->c.agents[0].port, path);
    assert_non_null(out);
    assert_string_equal(out, "hello from t-7\n");
    free(out);
    free(dir);
}

static void protobuf_scheduler_runs_twenty_tasks_to_finished(void **state)
{
    run_twenty_tasks(state, TEPUI_FORMAT_PROTOBUF, NULL);
}

/* JSON both ways; the tasks' resources name their role (allocation_info),
 * as MULTI_ROLE frameworks and `tepui execute` send them. */
static void json_scheduler_runs_twenty_tasks_with_allocated_resources(void **state)
{
    run_twenty_tasks(state, TEPUI_FORMAT_JSON, "*");
}

/* ---- reconciliation ---- */

static void reconcile_finished_task(void **state, int partition_aware, int expected)
{
    struct fixture *f = *state;
    sched_start(f, &(struct sched_opts){.format = TEPUI_FORMAT_PROTOBUF,
                                        .partition_aware = partition_aware});
    Tepui__Offer *o = take_offer(f, WAIT_SECS);
    launch(f, o, "done", 1, "true", NULL);
    pb_free(o);
    await_state(f, "done", TEPUI__TASK_STATE__TASK_FINISHED, WAIT_SECS);
    /* Once FINISHED is acknowledged the master forgets the task. */
    await_acks(f);
    size_t before = f->n_updates;

    const char *tasks[] = {"done"};
    const char *agents[] = {f->agent_id};
    struct done d = {0};
    assert_int_equal(tepui_scheduler_reconcile(f->s, tasks, agents, 1, on_done, &d), 0);
    assert_int_equal(await_done(f, &d), 202);
    assert_true(AWAIT(f, f->n_updates > before, WAIT_SECS));
    const struct update *u = &f->updates[before];
    assert_string_equal(u->task_id, "done");
    if (u->state != expected)
        fail_msg("reconciliation answered %s, expected %s", state_name(u->state),
                 state_name(expected));
    assert_int_equal(u->reason, TEPUI__TASK_STATUS__REASON__REASON_RECONCILIATION);
    assert_false(u->has_uuid);
    assert_string_equal(u->agent_id, f->agent_id);

    /* Without the agent, the task is unknown (partition-aware) or lost. */
    before = f->n_updates;
    struct done d2 = {0};
    assert_int_equal(tepui_scheduler_reconcile(f->s, tasks, NULL, 1, on_done, &d2), 0);
    assert_int_equal(await_done(f, &d2), 202);
    assert_true(AWAIT(f, f->n_updates > before, WAIT_SECS));
    assert_int_equal(f->updates[before].state, partition_aware ? TEPUI__TASK_STATE__TASK_UNKNOWN
                                                               : TEPUI__TASK_STATE__TASK_LOST);
    /* Nothing to acknowledge: no update of reconciliation carries a uuid. */
    assert_int_equal(f->acks_sent, f->acks_answered);
}

static void reconcile_of_acknowledged_finished_task_is_gone_when_partition_aware(void **state)
{
    reconcile_finished_task(state, 1, TEPUI__TASK_STATE__TASK_GONE);
}

static void reconcile_of_acknowledged_finished_task_is_lost_otherwise(void **state)
{
    reconcile_finished_task(state, 0, TEPUI__TASK_STATE__TASK_LOST);
}

static void implicit_reconcile_reports_the_running_task(void **state)
{
    struct fixture *f = *state;
    sched_start(f, &(struct sched_opts){.format = TEPUI_FORMAT_JSON, .partition_aware = 1});
    launch_running(f, "long", "sleep 60");
    await_acks(f);
    size_t before = f->n_updates;
    struct done d = {0};
    assert_int_equal(tepui_scheduler_reconcile(f->s, NULL, NULL, 0, on_done, &d), 0);
    assert_int_equal(await_done(f, &d), 202);
    assert_true(AWAIT(f, f->n_updates > before, WAIT_SECS));
    const struct update *u = &f->updates[before];
    assert_string_equal(u->task_id, "long");
    assert_int_equal(u->state, TEPUI__TASK_STATE__TASK_RUNNING);
    assert_int_equal(u->reason, TEPUI__TASK_STATUS__REASON__REASON_RECONCILIATION);
    assert_false(u->has_uuid);
}

/* ---- kill, message, shutdown ---- */

static void killed_long_task_ends_task_killed(void **state)
{
    struct fixture *f = *state;
    sched_start(f, &(struct sched_opts){.format = TEPUI_FORMAT_PROTOBUF});
    launch_running(f, "long", "sleep 60");
    double start = clock_mono();
    struct done d = {0};
    assert_int_equal(tepui_scheduler_kill(f->s, "long", f->agent_id, NULL, on_done, &d), 0);
    assert_int_equal(await_done(f, &d), 202);
    await_state(f, "long", TEPUI__TASK_STATE__TASK_KILLED, WAIT_SECS);
    assert_ptr_equal(terminal_update(f, "long"), find_update(f, "long", TEPUI__TASK_STATE__TASK_KILLED));
    /* Killed, not left to sleep its minute. */
    assert_true(clock_mono() - start < 30);
    await_acks(f);
}

static void message_to_an_executor_is_accepted_and_delivered(void **state)
{
    struct fixture *f = *state;
    sched_start(f, &(struct sched_opts){.format = TEPUI_FORMAT_JSON});
    launch_running(f, "listener", "sleep 60");
    /* A command task's executor has the task's id. */
    struct done d = {0};
    assert_int_equal(tepui_scheduler_message(f->s, f->agent_id, "listener", "ping", 4, on_done, &d),
                     0);
    assert_int_equal(await_done(f, &d), 202);
    /* And one for an executor the agent does not run. */
    struct done d2 = {0};
    assert_int_equal(tepui_scheduler_message(f->s, f->agent_id, "nobody", "ping", 4, on_done, &d2),
                     0);
    assert_int_equal(await_done(f, &d2), 202);
    assert_true(h_metric(f->c.master.port, "master/valid_framework_to_executor_messages") == 2);
    /* The agent drops the second only: it has the first one's executor.
     * (The command executor ignores messages; its task runs on.) */
    assert_true(AWAIT(f, h_log_count(&f->c.agents[0], "dropping a message for executor nobody") == 1,
                      WAIT_SECS));
    assert_int_equal(h_log_count(&f->c.agents[0], "dropping a message for executor listener"), 0);
    assert_null(terminal_update(f, "listener"));
    /* A message for an agent the master does not know is accepted and
     * counted as invalid. */
    struct done d3 = {0};
    assert_int_equal(tepui_scheduler_message(f->s, "no-such-agent", "listener", "x", 1, on_done, &d3),
                     0);
    assert_int_equal(await_done(f, &d3), 202);
    assert_true(h_metric(f->c.master.port, "master/invalid_framework_to_executor_messages") == 1);
    /* The task still answers a kill. */
    assert_int_equal(tepui_scheduler_kill(f->s, "listener", f->agent_id, NULL, NULL, NULL), 0);
    await_state(f, "listener", TEPUI__TASK_STATE__TASK_KILLED, WAIT_SECS);
    await_acks(f);
}

static void shutdown_of_an_executor_kills_its_task(void **state)
{
    struct fixture *f = *state;
    sched_start(f, &(struct sched_opts){.format = TEPUI_FORMAT_PROTOBUF});
    launch_running(f, "victim", "sleep 60");
    double start = clock_mono();
    struct done d = {0};
    assert_int_equal(tepui_scheduler_shutdown(f->s, "victim", f->agent_id, on_done, &d), 0);
    assert_int_equal(await_done(f, &d), 202);
    if (!AWAIT(f, terminal_update(f, "victim") != NULL, WAIT_SECS)) {
        dump_updates(f);
        h_dump_logs(&f->c);
        fail_msg("the task did not end after SHUTDOWN of its executor");
    }
    /* The command executor kills its task as for a KILL, as Mesos's does. */
    const struct update *u = terminal_update(f, "victim");
    if (u->state != TEPUI__TASK_STATE__TASK_KILLED)
        fail_msg("task ended %s ('%s'), expected TASK_KILLED", state_name(u->state), u->message);
    assert_true(clock_mono() - start < 30);
    await_acks(f);
    /* The executor is gone from the agent. */
    json_t *st = h_get_json(f->c.agents[0].port, "/state");
    json_t *fw = json_array_get(json_object_get(st, "frameworks"), 0);
    size_t running = fw != NULL ? json_array_size(json_object_get(fw, "executors")) : 0;
    json_decref(st);
    if (running > 0) {
        /* It may still be exiting: give it the deadline. */
        double deadline = clock_mono() + WAIT_SECS;
        while (running > 0 && clock_mono() < deadline) {
            run_for(f, 0.05);
            st = h_get_json(f->c.agents[0].port, "/state");
            fw = json_array_get(json_object_get(st, "frameworks"), 0);
            running = fw != NULL ? json_array_size(json_object_get(fw, "executors")) : 0;
            json_decref(st);
        }
    }
    assert_int_equal(running, 0);
}

/* ---- offers: suppress, revive, decline ---- */

static void suppressed_scheduler_gets_no_offers_until_revive(void **state)
{
    struct fixture *f = *state;
    sched_start(f, &(struct sched_opts){.format = TEPUI_FORMAT_PROTOBUF});
    Tepui__Offer *o = take_offer(f, WAIT_SECS);
    struct done sup = {0}, dec = {0};
    assert_int_equal(tepui_scheduler_suppress(f->s, NULL, 0, on_done, &sup), 0);
    assert_int_equal(await_done(f, &sup), 202);
    Tepui__OfferID *ids[1] = {o->id};
    Tepui__Filters none = TEPUI__FILTERS__INIT;
    none.has_refuse_seconds = 1;
    none.refuse_seconds = 0;
    assert_int_equal(tepui_scheduler_decline(f->s, ids, 1, &none, on_done, &dec), 0);
    assert_int_equal(await_done(f, &dec), 202);
    pb_free(o);
    drop_offers(f);
    int events = f->offer_events;
    /* Many allocation intervals (100 ms) pass without an offer. */
    run_for(f, 1.5);
    assert_int_equal(f->offer_events, events);
    struct done rev = {0};
    const char *roles[] = {"*"};
    assert_int_equal(tepui_scheduler_revive(f->s, roles, 1, on_done, &rev), 0);
    assert_int_equal(await_done(f, &rev), 202);
    o = take_offer(f, WAIT_SECS);
    assert_string_equal(o->agent_id->value, f->agent_id);
    pb_free(o);
}

static void declined_offer_stays_away_for_the_filter_or_until_revive(void **state)
{
    struct fixture *f = *state;
    sched_start(f, &(struct sched_opts){.format = TEPUI_FORMAT_JSON});
    /* A long filter: no offer until REVIVE clears it. */
    Tepui__Offer *o = take_offer(f, WAIT_SECS);
    Tepui__OfferID *ids[1] = {o->id};
    Tepui__Filters hour = TEPUI__FILTERS__INIT;
    hour.has_refuse_seconds = 1;
    hour.refuse_seconds = 3600;
    struct done d = {0};
    assert_int_equal(tepui_scheduler_decline(f->s, ids, 1, &hour, on_done, &d), 0);
    assert_int_equal(await_done(f, &d), 202);
    pb_free(o);
    drop_offers(f);
    int events = f->offer_events;
    run_for(f, 1.5);
    assert_int_equal(f->offer_events, events);
    assert_int_equal(tepui_scheduler_revive(f->s, NULL, 0, NULL, NULL), 0);
    o = take_offer(f, WAIT_SECS);

    /* A filter of 2 s: the agent comes back on its own, not before. */
    ids[0] = o->id;
    Tepui__Filters brief = TEPUI__FILTERS__INIT;
    brief.has_refuse_seconds = 1;
    brief.refuse_seconds = 2;
    struct done d2 = {0};
    double declined_at = clock_mono();
    assert_int_equal(tepui_scheduler_decline(f->s, ids, 1, &brief, on_done, &d2), 0);
    pb_free(o);
    assert_int_equal(await_done(f, &d2), 202);
    drop_offers(f);
    o = take_offer(f, WAIT_SECS);
    double after = clock_mono() - declined_at;
    if (after < 1.9)
        fail_msg("offered again after %.2fs, within the 2s filter", after);
    pb_free(o);
}

/* ---- teardown ---- */

static void teardown_kills_tasks_and_ends_the_subscription(void **state)
{
    struct fixture *f = *state;
    sched_start(f, &(struct sched_opts){.format = TEPUI_FORMAT_PROTOBUF, .auto_reconnect = 1});
    launch_running(f, "doomed", "sleep 60");
    await_acks(f);
    char id[256];
    snprintf(id, sizeof(id), "%s", f->framework_id);
    struct done d = {0};
    assert_int_equal(tepui_scheduler_teardown(f->s, on_done, &d), 0);
    assert_int_equal(await_done(f, &d), 202);
    /* The stream ends; auto_reconnect does not bring the framework back. */
    assert_true(AWAIT(f, f->disconnected > 0, WAIT_SECS));
    assert_false(tepui_scheduler_is_subscribed(f->s));
    assert_null(tepui_scheduler_framework_id(f->s));
    run_for(f, 0.5);
    assert_int_equal(f->subscribed, 1);
    assert_int_equal(f->errors, 0);
    /* Calls are refused locally now. */
    assert_int_equal(tepui_scheduler_revive(f->s, NULL, 0, NULL, NULL), -ENOTCONN);

    json_t *st = h_get_json(f->c.master.port, "/state");
    assert_int_equal(json_array_size(json_object_get(st, "frameworks")), 0);
    json_t *fw = json_array_get(json_object_get(st, "completed_frameworks"), 0);
    assert_non_null(fw);
    assert_string_equal(json_string_value(json_object_get(fw, "id")), id);
    json_t *task = json_array_get(json_object_get(fw, "completed_tasks"), 0);
    assert_non_null(task);
    assert_string_equal(json_string_value(json_object_get(task, "id")), "doomed");
    assert_string_equal(json_string_value(json_object_get(task, "state")), "TASK_KILLED");
    json_decref(st);
    /* The agent kills the executor: no framework is left running there. */
    double deadline = clock_mono() + WAIT_SECS;
    size_t left;
    do {
        run_for(f, 0.05);
        json_t *as = h_get_json(f->c.agents[0].port, "/state");
        left = json_array_size(json_object_get(as, "frameworks"));
        json_decref(as);
    } while (left > 0 && clock_mono() < deadline);
    assert_int_equal(left, 0);
}

/* ---- a master restart ---- */

static int agent_active(void *arg)
{
    struct fixture *f = arg;
    json_t *st = h_get_json(f->c.master.port, "/state");
    int n = (int)json_integer_value(json_object_get(st, "activated_slaves"));
    json_decref(st);
    return n == 1;
}

static void restarted_master_gets_the_same_framework_and_offers_resume(void **state)
{
    struct fixture *f = *state;
    sched_start(f, &(struct sched_opts){.format = TEPUI_FORMAT_JSON, .auto_reconnect = 1});
    Tepui__Offer *o = take_offer(f, WAIT_SECS);
    pb_free(o);
    char id[256];
    snprintf(id, sizeof(id), "%s", f->framework_id);
    int port = f->c.master.port;

    /* The master dies without a word. */
    h_stop(&f->c.master, SIGKILL);
    assert_true(AWAIT(f, f->disconnected > 0, WAIT_SECS));
    assert_false(tepui_scheduler_is_subscribed(f->s));
    drop_offers(f);
    /* Calls are dropped while there is no subscription. */
    assert_int_equal(tepui_scheduler_revive(f->s, NULL, 0, NULL, NULL), -ENOTCONN);

    /* A new master where the old one was: the library subscribes again
     * with the framework's id, and the new master adopts it. */
    h_start_master_on_port(&f->c, port, NULL);
    if (!AWAIT(f, f->subscribed > 1, WAIT_SECS)) {
        h_dump_logs(&f->c);
        fail_msg("no re-subscription within %gs", WAIT_SECS);
    }
    assert_int_equal(f->subscribed, 2);
    assert_int_equal(f->disconnected, 1);
    assert_int_equal(f->errors, 0);
    assert_string_equal(f->framework_id, id);
    assert_string_equal(tepui_scheduler_framework_id(f->s), id);

    /* The agent comes back by itself, with its id, and is offered again. */
    assert_true(h_wait_until(agent_active, f, WAIT_SECS));
    o = take_offer(f, WAIT_SECS);
    assert_string_equal(o->agent_id->value, f->agent_id);
    assert_string_equal(o->framework_id->value, id);
    /* And tasks run as before. */
    launch(f, o, "after", 1, "true", NULL);
    pb_free(o);
    await_state(f, "after", TEPUI__TASK_STATE__TASK_FINISHED, WAIT_SECS);
    await_acks(f);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(protobuf_scheduler_runs_twenty_tasks_to_finished),
        T(json_scheduler_runs_twenty_tasks_with_allocated_resources),
        T(reconcile_of_acknowledged_finished_task_is_gone_when_partition_aware),
        T(reconcile_of_acknowledged_finished_task_is_lost_otherwise),
        T(implicit_reconcile_reports_the_running_task),
        T(killed_long_task_ends_task_killed),
        T(message_to_an_executor_is_accepted_and_delivered),
        T(shutdown_of_an_executor_kills_its_task),
        T(suppressed_scheduler_gets_no_offers_until_revive),
        T(declined_offer_stays_away_for_the_filter_or_until_revive),
        T(teardown_kills_tasks_and_ends_the_subscription),
        T(restarted_master_gets_the_same_framework_and_offers_resume),
    };
#undef T
    if (getenv("TEST_FILTER"))
        cmocka_set_test_filter(getenv("TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
