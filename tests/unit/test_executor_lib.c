/* The executor library without an agent: options from the agent's
 * environment, the bookkeeping of unacknowledged tasks and updates that a
 * re-SUBSCRIBE carries, retry timing; and the command executor's pure parts
 * (argv, environment, user, Mesos's exit messages, kill escalation). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "common/buf.h"
#include "executor/command.h"
#include "lib/executor_internal.h"
#include "tepui/executor.h"
#include "wire/codec.h"
#include "wire/pb.h"

/* ---- options from the environment ---- */

static const char *const agent_env[] = {
    "MESOS_AGENT_ENDPOINT", "127.0.0.1:5051",
    "MESOS_FRAMEWORK_ID", "fw-1",
    "MESOS_EXECUTOR_ID", "exec-1",
    "MESOS_DIRECTORY", "/var/lib/tepui/sandbox",
    "MESOS_SANDBOX", "/mnt/mesos/sandbox",
    "MESOS_CHECKPOINT", "1",
    "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", "7secs",
    "MESOS_RECOVERY_TIMEOUT", "15mins",
    "MESOS_SUBSCRIPTION_BACKOFF_MAX", "250ms",
};

static const char *const other_env[] = {"MESOS_SLAVE_PID", "MESOS_SLAVE_ID",
                                        "MESOS_EXECUTOR_AUTHENTICATION_TOKEN"};

static int set_agent_env(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(agent_env) / sizeof(agent_env[0]); i += 2)
        setenv(agent_env[i], agent_env[i + 1], 1);
    for (size_t i = 0; i < sizeof(other_env) / sizeof(other_env[0]); i++)
        unsetenv(other_env[i]);
    return 0;
}

static void options_from_env_reads_the_agent_environment(void **state)
{
    struct tepui_executor_options o;
    struct error err = {0};
    (void)state;
    assert_int_equal(tepui_executor_options_from_env(&o, &err), 0);
    assert_string_equal(o.agent_endpoint, "127.0.0.1:5051");
    assert_string_equal(o.framework_id, "fw-1");
    assert_string_equal(o.executor_id, "exec-1");
    assert_string_equal(o.directory, "/var/lib/tepui/sandbox");
    assert_string_equal(o.sandbox, "/mnt/mesos/sandbox");
    assert_null(o.api_path);
    assert_null(o.authentication_token);
    assert_true(o.checkpoint);
    assert_true(o.shutdown_grace_period == 7.0);
    assert_true(o.recovery_timeout == 900.0);
    assert_true(o.subscription_backoff_max == 0.25);
    assert_int_equal(o.format, TEPUI_EXECUTOR_PROTOBUF);
    tepui_executor_options_clear(&o);
}

static void options_from_env_names_each_missing_variable(void **state)
{
    static const char *const required[] = {"MESOS_AGENT_ENDPOINT", "MESOS_FRAMEWORK_ID",
                                           "MESOS_EXECUTOR_ID"};
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
        struct tepui_executor_options o;
        struct error err = {0};
        set_agent_env(state);
        unsetenv(required[i]);
        assert_int_equal(tepui_executor_options_from_env(&o, &err), -EINVAL);
        assert_non_null(strstr(err.msg, required[i]));
        assert_null(o.framework_id);   /* cleared on failure */
    }
}

static void checkpointing_requires_recovery_timeout_and_backoff(void **state)
{
    struct tepui_executor_options o;
    struct error err = {0};
    (void)state;
    unsetenv("MESOS_RECOVERY_TIMEOUT");
    assert_int_equal(tepui_executor_options_from_env(&o, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "MESOS_RECOVERY_TIMEOUT"));

    setenv("MESOS_RECOVERY_TIMEOUT", "1mins", 1);
    unsetenv("MESOS_SUBSCRIPTION_BACKOFF_MAX");
    assert_int_equal(tepui_executor_options_from_env(&o, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "MESOS_SUBSCRIPTION_BACKOFF_MAX"));

    /* Without checkpointing neither is needed. */
    setenv("MESOS_CHECKPOINT", "0", 1);
    unsetenv("MESOS_RECOVERY_TIMEOUT");
    assert_int_equal(tepui_executor_options_from_env(&o, &err), 0);
    assert_false(o.checkpoint);
    tepui_executor_options_clear(&o);
}

static void shutdown_grace_period_defaults_and_must_parse(void **state)
{
    struct tepui_executor_options o;
    struct error err = {0};
    (void)state;
    unsetenv("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD");
    assert_int_equal(tepui_executor_options_from_env(&o, &err), 0);
    assert_true(o.shutdown_grace_period == 5.0);
    tepui_executor_options_clear(&o);

    setenv("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", "500ms", 1);
    assert_int_equal(tepui_executor_options_from_env(&o, &err), 0);
    assert_true(o.shutdown_grace_period == 0.5);
    tepui_executor_options_clear(&o);

    setenv("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", "5fortnights", 1);
    assert_int_equal(tepui_executor_options_from_env(&o, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD"));
    assert_non_null(strstr(err.msg, "5fortnights"));
}

static void malformed_agent_endpoint_is_named(void **state)
{
    struct tepui_executor_options o;
    struct error err = {0};
    (void)state;
    setenv("MESOS_AGENT_ENDPOINT", "127.0.0.1:notaport", 1);
    assert_int_equal(tepui_executor_options_from_env(&o, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "MESOS_AGENT_ENDPOINT"));
}

static void libprocess_agent_pid_gives_endpoint_and_path(void **state)
{
    struct tepui_executor_options o;
    struct error err = {0};
    (void)state;
    unsetenv("MESOS_AGENT_ENDPOINT");
    setenv("MESOS_SLAVE_PID", "slave(1)@10.0.0.7:5051", 1);
    setenv("MESOS_EXECUTOR_AUTHENTICATION_TOKEN", "jwt", 1);
    assert_int_equal(tepui_executor_options_from_env(&o, &err), 0);
    assert_string_equal(o.agent_endpoint, "10.0.0.7:5051");
    assert_string_equal(o.api_path, "/slave(1)/api/v1/executor");
    assert_string_equal(o.authentication_token, "jwt");
    tepui_executor_options_clear(&o);
}

/* ---- the executor handle, never connected ---- */

struct fixture {
    struct event_base *base;
    struct tepui_executor *e;
    int launches;
    int acks;
    Tepui__TaskState acked_state;
    int acked_unknown;
    int free_in_callback;
};

static void on_launch(struct tepui_executor *e, const Tepui__TaskInfo *task, void *arg)
{
    struct fixture *f = arg;
    (void)task;
    f->launches++;
    if (f->free_in_callback) {
        tepui_executor_free(e);
        f->e = NULL;
    }
}

static void on_acknowledged(struct tepui_executor *e, const Tepui__TaskID *task_id,
                            const uint8_t *uuid, size_t uuid_len, const Tepui__TaskStatus *status,
                            void *arg)
{
    struct fixture *f = arg;
    (void)task_id;
    (void)uuid;
    (void)uuid_len;
    f->acks++;
    if (status != NULL)
        f->acked_state = status->state;
    else
        f->acked_unknown++;
    if (f->free_in_callback) {
        tepui_executor_free(e);
        f->e = NULL;
    }
}

static int setup_executor(void **state)
{
    static const struct tepui_executor_callbacks cbs = {
        .launch = on_launch,
        .acknowledged = on_acknowledged,
    };
    struct fixture *f = calloc(1, sizeof(*f));
    struct tepui_executor_options o = {
        .agent_endpoint = "127.0.0.1:1",   /* never contacted: the loop does not run */
        .framework_id = "fw-1",
        .executor_id = "exec-1",
    };
    f->base = event_base_new();
    f->e = tepui_executor_new(f->base, &o, &cbs, f, NULL);
    assert_non_null(f->e);
    *state = f;
    return 0;
}

static int teardown_executor(void **state)
{
    struct fixture *f = *state;
    tepui_executor_free(f->e);
    event_base_loop(f->base, EVLOOP_NONBLOCK);
    event_base_free(f->base);
    free(f);
    return 0;
}

static void launch(struct fixture *f, const char *task_id)
{
    Tepui__TaskID id = TEPUI__TASK_ID__INIT;
    Tepui__AgentID agent = TEPUI__AGENT_ID__INIT;
    Tepui__TaskInfo task = TEPUI__TASK_INFO__INIT;
    Tepui__Executor__Event__Launch l = TEPUI__EXECUTOR__EVENT__LAUNCH__INIT;
    Tepui__Executor__Event ev = TEPUI__EXECUTOR__EVENT__INIT;
    id.value = (char *)task_id;
    agent.value = "agent-1";
    task.name = "sleeper";
    task.task_id = &id;
    task.agent_id = &agent;
    l.task = &task;
    ev.has_type = 1;
    ev.type = TEPUI__EXECUTOR__EVENT__TYPE__LAUNCH;
    ev.launch = &l;
    executor_handle_event(f->e, &ev);
}

static void acknowledge(struct fixture *f, const char *task_id, const ProtobufCBinaryData *uuid)
{
    Tepui__TaskID id = TEPUI__TASK_ID__INIT;
    Tepui__Executor__Event__Acknowledged a = TEPUI__EXECUTOR__EVENT__ACKNOWLEDGED__INIT;
    Tepui__Executor__Event ev = TEPUI__EXECUTOR__EVENT__INIT;
    id.value = (char *)task_id;
    a.task_id = &id;
    a.uuid = *uuid;
    ev.has_type = 1;
    ev.type = TEPUI__EXECUTOR__EVENT__TYPE__ACKNOWLEDGED;
    ev.acknowledged = &a;
    executor_handle_event(f->e, &ev);
}

static int update(struct fixture *f, const char *task_id, Tepui__TaskState state)
{
    Tepui__TaskID id = TEPUI__TASK_ID__INIT;
    Tepui__TaskStatus st = TEPUI__TASK_STATUS__INIT;
    id.value = (char *)task_id;
    st.task_id = &id;
    st.state = state;
    return tepui_executor_update(f->e, &st, NULL);
}

static Tepui__Executor__Call *subscribe_call(struct fixture *f, enum wire_format fmt)
{
    struct buf b = BUF_INIT;
    struct error err = {0};
    executor_encode_subscribe(f->e, fmt, &b);
    Tepui__Executor__Call *call = (Tepui__Executor__Call *)wire_decode(
        &tepui__executor__call__descriptor, fmt, b.data, b.len, &err);
    buf_free(&b);
    assert_non_null(call);
    assert_int_equal(call->type, TEPUI__EXECUTOR__CALL__TYPE__SUBSCRIBE);
    assert_string_equal(call->framework_id->value, "fw-1");
    assert_string_equal(call->executor_id->value, "exec-1");
    assert_non_null(call->subscribe);
    return call;
}

static void first_subscribe_carries_nothing(void **state)
{
    struct fixture *f = *state;
    Tepui__Executor__Call *call = subscribe_call(f, WIRE_PROTOBUF);
    assert_int_equal(call->subscribe->n_unacknowledged_tasks, 0);
    assert_int_equal(call->subscribe->n_unacknowledged_updates, 0);
    pb_free(call);
}

static void subscribe_carries_unacknowledged_tasks_and_updates(void **state)
{
    struct fixture *f = *state;
    launch(f, "task-1");
    assert_int_equal(f->launches, 1);
    assert_int_equal(update(f, "task-1", TEPUI__TASK_STATE__TASK_STARTING), 0);
    assert_int_equal(update(f, "task-1", TEPUI__TASK_STATE__TASK_RUNNING), 0);
    assert_int_equal(tepui_executor_unacknowledged_updates(f->e), 2);
    assert_int_equal(executor_unacknowledged_tasks(f->e), 1);

    Tepui__Executor__Call *call = subscribe_call(f, WIRE_PROTOBUF);
    const Tepui__Executor__Call__Subscribe *s = call->subscribe;
    assert_int_equal(s->n_unacknowledged_tasks, 1);
    assert_string_equal(s->unacknowledged_tasks[0]->task_id->value, "task-1");
    assert_string_equal(s->unacknowledged_tasks[0]->name, "sleeper");
    assert_int_equal(s->n_unacknowledged_updates, 2);
    /* In the order they were made, with the fields the library fills. */
    assert_int_equal(s->unacknowledged_updates[0]->status->state, TEPUI__TASK_STATE__TASK_STARTING);
    assert_int_equal(s->unacknowledged_updates[1]->status->state, TEPUI__TASK_STATE__TASK_RUNNING);
    for (size_t i = 0; i < 2; i++) {
        const Tepui__TaskStatus *st = s->unacknowledged_updates[i]->status;
        assert_string_equal(st->task_id->value, "task-1");
        assert_true(st->has_uuid);
        assert_int_equal(st->uuid.len, 16);
        assert_true(st->has_source);
        assert_int_equal(st->source, TEPUI__TASK_STATUS__SOURCE__SOURCE_EXECUTOR);
        assert_string_equal(st->executor_id->value, "exec-1");
        assert_true(st->has_timestamp && st->timestamp > 1e9);
    }
    assert_memory_not_equal(s->unacknowledged_updates[0]->status->uuid.data,
                            s->unacknowledged_updates[1]->status->uuid.data, 16);
    pb_free(call);
}

static void acknowledgement_releases_the_update_and_its_task(void **state)
{
    struct fixture *f = *state;
    launch(f, "task-1");
    update(f, "task-1", TEPUI__TASK_STATE__TASK_STARTING);
    update(f, "task-1", TEPUI__TASK_STATE__TASK_RUNNING);
    Tepui__Executor__Call *call = subscribe_call(f, WIRE_PROTOBUF);
    ProtobufCBinaryData first = call->subscribe->unacknowledged_updates[0]->status->uuid;

    acknowledge(f, "task-1", &first);
    pb_free(call);
    assert_int_equal(f->acks, 1);
    assert_int_equal(f->acked_state, TEPUI__TASK_STATE__TASK_STARTING);
    assert_int_equal(tepui_executor_unacknowledged_updates(f->e), 1);
    /* One acknowledged update acknowledges the task. */
    assert_int_equal(executor_unacknowledged_tasks(f->e), 0);

    call = subscribe_call(f, WIRE_PROTOBUF);
    assert_int_equal(call->subscribe->n_unacknowledged_tasks, 0);
    assert_int_equal(call->subscribe->n_unacknowledged_updates, 1);
    assert_int_equal(call->subscribe->unacknowledged_updates[0]->status->state,
                     TEPUI__TASK_STATE__TASK_RUNNING);
    pb_free(call);
}

static void acknowledgement_of_unknown_uuid_changes_nothing(void **state)
{
    struct fixture *f = *state;
    uint8_t bogus[16] = {1, 2, 3};
    ProtobufCBinaryData uuid = {sizeof(bogus), bogus};
    launch(f, "task-1");
    update(f, "task-1", TEPUI__TASK_STATE__TASK_RUNNING);
    acknowledge(f, "task-1", &uuid);
    assert_int_equal(f->acks, 1);
    assert_int_equal(f->acked_unknown, 1);
    assert_int_equal(tepui_executor_unacknowledged_updates(f->e), 1);
    assert_int_equal(executor_unacknowledged_tasks(f->e), 1);
}

static void subscribe_in_json_carries_the_same(void **state)
{
    struct fixture *f = *state;
    launch(f, "task-9");
    update(f, "task-9", TEPUI__TASK_STATE__TASK_FAILED);
    Tepui__Executor__Call *call = subscribe_call(f, WIRE_JSON);
    assert_int_equal(call->subscribe->n_unacknowledged_tasks, 1);
    assert_int_equal(call->subscribe->n_unacknowledged_updates, 1);
    const Tepui__TaskStatus *st = call->subscribe->unacknowledged_updates[0]->status;
    assert_int_equal(st->state, TEPUI__TASK_STATE__TASK_FAILED);
    assert_int_equal(st->uuid.len, 16);
    pb_free(call);
}

static void update_rejects_staging_and_a_missing_task_id(void **state)
{
    struct fixture *f = *state;
    struct error err = {0};
    Tepui__TaskStatus st = TEPUI__TASK_STATUS__INIT;
    st.state = TEPUI__TASK_STATE__TASK_RUNNING;
    assert_int_equal(tepui_executor_update(f->e, &st, &err), -EINVAL);
    assert_int_equal(update(f, "task-1", TEPUI__TASK_STATE__TASK_STAGING), -EINVAL);
    assert_int_equal(tepui_executor_unacknowledged_updates(f->e), 0);
}

static void update_keeps_a_timestamp_the_caller_set(void **state)
{
    struct fixture *f = *state;
    Tepui__TaskID id = TEPUI__TASK_ID__INIT;
    Tepui__TaskStatus st = TEPUI__TASK_STATUS__INIT;
    id.value = "task-1";
    st.task_id = &id;
    st.state = TEPUI__TASK_STATE__TASK_RUNNING;
    st.has_timestamp = 1;
    st.timestamp = 1234.5;
    st.message = "hello";
    assert_int_equal(tepui_executor_update(f->e, &st, NULL), 0);
    Tepui__Executor__Call *call = subscribe_call(f, WIRE_PROTOBUF);
    const Tepui__TaskStatus *sent = call->subscribe->unacknowledged_updates[0]->status;
    assert_true(sent->timestamp == 1234.5);
    assert_string_equal(sent->message, "hello");
    pb_free(call);
}

static void free_from_inside_a_callback_is_safe(void **state)
{
    struct fixture *f = *state;
    launch(f, "task-1");
    update(f, "task-1", TEPUI__TASK_STATE__TASK_RUNNING);
    Tepui__Executor__Call *call = subscribe_call(f, WIRE_PROTOBUF);
    f->free_in_callback = 1;
    acknowledge(f, "task-1", &call->subscribe->unacknowledged_updates[0]->status->uuid);
    pb_free(call);
    assert_int_equal(f->acks, 1);
    assert_null(f->e);   /* freed by the callback; teardown frees NULL */
}

static void new_rejects_options_without_ids(void **state)
{
    struct event_base *base = event_base_new();
    struct error err = {0};
    struct tepui_executor_options o = {.agent_endpoint = "127.0.0.1:5051", .framework_id = "f"};
    (void)state;
    assert_null(tepui_executor_new(base, &o, NULL, NULL, &err));
    assert_non_null(strstr(err.msg, "MESOS_EXECUTOR_ID"));
    o.executor_id = "e";
    o.agent_endpoint = NULL;
    assert_null(tepui_executor_new(base, &o, NULL, NULL, &err));
    assert_non_null(strstr(err.msg, "MESOS_AGENT_ENDPOINT"));
    event_base_free(base);
}

static void resubscription_waits_within_the_backoff_cap(void **state)
{
    struct tepui_executor_options o = {.checkpoint = 1, .subscription_backoff_max = 2.0};
    (void)state;
    /* Connection failures: a random part of the cap, as Mesos's library. */
    assert_true(executor_retry_delay(&o, 0, 0.5) == 1.0);
    assert_true(executor_retry_delay(&o, 0, 1.0) == 2.0);
    assert_true(executor_retry_delay(&o, 0, 0.0) > 0);   /* never a busy loop */
    /* A refused SUBSCRIBE (503 while the agent recovers): every second... */
    assert_true(executor_retry_delay(&o, 503, 0.9) == 1.0);
    /* ...or sooner, so every retry interval stays within the cap. */
    o.subscription_backoff_max = 0.25;
    assert_true(executor_retry_delay(&o, 503, 0.9) == 0.25);
    assert_true(executor_retry_delay(&o, 0, 1.0) == 0.25);
}

/* ---- the command executor's pure parts ---- */

static void shell_command_runs_through_sh(void **state)
{
    Tepui__CommandInfo cmd = TEPUI__COMMAND_INFO__INIT;
    (void)state;
    cmd.value = "echo hello && sleep 1";
    char **argv = command_argv(&cmd, "t", NULL);
    assert_non_null(argv);
    assert_string_equal(argv[0], "/bin/sh");
    assert_string_equal(argv[1], "-c");
    assert_string_equal(argv[2], "echo hello && sleep 1");
    assert_null(argv[3]);
    command_strv_free(argv);
}

static void plain_command_takes_arguments_as_argv(void **state)
{
    Tepui__CommandInfo cmd = TEPUI__COMMAND_INFO__INIT;
    char *args[] = {"sleeper", "100"};
    (void)state;
    cmd.has_shell = 1;
    cmd.shell = 0;
    cmd.value = "/bin/sleep";
    cmd.n_arguments = 2;
    cmd.arguments = args;
    char **argv = command_argv(&cmd, "t", NULL);
    assert_string_equal(argv[0], "sleeper");   /* arguments[0] is argv[0] */
    assert_string_equal(argv[1], "100");
    assert_null(argv[2]);
    command_strv_free(argv);

    cmd.n_arguments = 0;
    argv = command_argv(&cmd, "t", NULL);
    assert_string_equal(argv[0], "/bin/sleep");
    assert_null(argv[1]);
    command_strv_free(argv);
}

static void command_without_value_fails_in_mesos_words(void **state)
{
    Tepui__CommandInfo cmd = TEPUI__COMMAND_INFO__INIT;
    struct error err = {0};
    (void)state;
    assert_null(command_argv(&cmd, "task-7", &err));
    assert_string_equal(err.msg, "Shell command of task 'task-7' is not specified");
    cmd.has_shell = 1;
    cmd.shell = 0;
    assert_null(command_argv(&cmd, "task-7", &err));
    assert_string_equal(err.msg, "Executable of task 'task-7' is not specified");
}

static Tepui__TaskInfo *task_with_env(Tepui__Environment__Variable **vars, size_t n)
{
    Tepui__TaskInfo t = TEPUI__TASK_INFO__INIT;
    Tepui__TaskID id = TEPUI__TASK_ID__INIT;
    Tepui__AgentID agent = TEPUI__AGENT_ID__INIT;
    Tepui__CommandInfo cmd = TEPUI__COMMAND_INFO__INIT;
    Tepui__Environment env = TEPUI__ENVIRONMENT__INIT;
    Tepui__Resource r = TEPUI__RESOURCE__INIT;
    Tepui__Resource__AllocationInfo alloc = TEPUI__RESOURCE__ALLOCATION_INFO__INIT;
    Tepui__Value__Scalar scalar = TEPUI__VALUE__SCALAR__INIT;
    Tepui__Resource *rs[] = {&r};
    id.value = "task-1";
    agent.value = "agent-1";
    cmd.value = "env";
    env.n_variables = n;
    env.variables = vars;
    cmd.environment = &env;
    r.name = "cpus";
    r.type = TEPUI__VALUE__TYPE__SCALAR;
    scalar.value = 1;
    r.scalar = &scalar;
    alloc.role = "analytics";
    r.allocation_info = &alloc;
    t.name = "t";
    t.task_id = &id;
    t.agent_id = &agent;
    t.command = &cmd;
    t.n_resources = 1;
    t.resources = rs;
    return PB_COPY(Tepui__TaskInfo, &t);
}

static void environment_overrides_in_place_and_appends(void **state)
{
    Tepui__Environment__Variable a = TEPUI__ENVIRONMENT__VARIABLE__INIT;
    Tepui__Environment__Variable b = TEPUI__ENVIRONMENT__VARIABLE__INIT;
    Tepui__Environment__Variable *vars[] = {&a, &b};
    char *base[] = {"A=1", "MESOS_SANDBOX=/mnt/mesos/sandbox",
                    "MESOS_EXECUTOR_AUTHENTICATION_TOKEN=secret", "Z=9", NULL};
    (void)state;
    a.name = "A";
    a.value = "2";
    b.name = "B";
    b.value = "3";
    Tepui__TaskInfo *task = task_with_env(vars, 2);
    char **env = command_environment(base, task, "/ignored", NULL);
    assert_non_null(env);
    assert_string_equal(env[0], "A=2");
    assert_string_equal(env[1], "MESOS_SANDBOX=/mnt/mesos/sandbox");
    assert_string_equal(env[2], "Z=9");
    assert_string_equal(env[3], "B=3");
    assert_string_equal(env[4], "MESOS_ALLOCATION_ROLE=analytics");
    assert_null(env[5]);
    assert_null(command_env_get(env, "MESOS_EXECUTOR_AUTHENTICATION_TOKEN"));
    command_strv_free(env);
    pb_free(task);
}

static void sandbox_variable_is_set_when_the_agent_did_not(void **state)
{
    char *base[] = {"PATH=/usr/bin", NULL};
    (void)state;
    Tepui__TaskInfo *task = task_with_env(NULL, 0);
    char **env = command_environment(base, task, "/var/sandbox", NULL);
    assert_string_equal(command_env_get(env, "MESOS_SANDBOX"), "/var/sandbox");
    assert_string_equal(command_env_get(env, "PATH"), "/usr/bin");
    command_strv_free(env);
    pb_free(task);
}

/* The default executor points MESOS_SANDBOX at each task's own sandbox. */
static void env_set_replaces_in_place_or_appends(void **state)
{
    char *base[] = {"A=1", "MESOS_SANDBOX=/executor", "Z=9", NULL};
    (void)state;
    Tepui__TaskInfo *task = task_with_env(NULL, 0);
    char **env = command_environment(base, task, NULL, NULL);
    env = command_env_set(env, "MESOS_SANDBOX", "/executor/tasks/t1");
    env = command_env_set(env, "NEW", "x");
    assert_string_equal(env[0], "A=1");
    assert_string_equal(env[1], "MESOS_SANDBOX=/executor/tasks/t1");
    assert_string_equal(env[2], "Z=9");
    assert_string_equal(command_env_get(env, "NEW"), "x");
    assert_string_equal(command_env_get(env, "MESOS_ALLOCATION_ROLE"), "analytics");
    assert_null(env[5]);
    command_strv_free(env);
    pb_free(task);
}

static void secret_environment_variable_fails_the_task(void **state)
{
    Tepui__Environment__Variable s = TEPUI__ENVIRONMENT__VARIABLE__INIT;
    Tepui__Environment__Variable *vars[] = {&s};
    char *base[] = {NULL};
    struct error err = {0};
    (void)state;
    s.name = "DB_PASSWORD";
    s.has_type = 1;
    s.type = TEPUI__ENVIRONMENT__VARIABLE__TYPE__SECRET;
    Tepui__TaskInfo *task = task_with_env(vars, 1);
    assert_null(command_environment(base, task, NULL, &err));
    assert_non_null(strstr(err.msg, "DB_PASSWORD"));
    assert_non_null(strstr(err.msg, "secret"));
    pb_free(task);
}

static void task_user_is_the_command_user_else_the_framework_user(void **state)
{
    Tepui__CommandInfo cmd = TEPUI__COMMAND_INFO__INIT;
    Tepui__FrameworkInfo fw = TEPUI__FRAMEWORK_INFO__INIT;
    (void)state;
    fw.user = "alice";
    assert_string_equal(command_user(&cmd, &fw), "alice");
    cmd.user = "bob";
    assert_string_equal(command_user(&cmd, &fw), "bob");
    cmd.user = NULL;
    fw.user = "";
    assert_null(command_user(&cmd, &fw));
    assert_null(command_user(&cmd, NULL));
}

static void exit_messages_match_mesos(void **state)
{
    static const struct {
        int status;
        const char *message;
    } cases[] = {
        {W_EXITCODE(0, 0), "Command exited with status 0"},
        {W_EXITCODE(3, 0), "Command exited with status 3"},
        {W_EXITCODE(0, SIGKILL), "Command terminated with signal Killed"},
        {W_EXITCODE(0, SIGTERM), "Command terminated with signal Terminated"},
        {W_EXITCODE(0, SIGSEGV) | WCOREFLAG,
         "Command terminated with signal Segmentation fault (core dumped)"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *m = command_wait_message(cases[i].status);
        assert_string_equal(m, cases[i].message);
        free(m);
    }
}

static void final_state_follows_how_the_command_ended(void **state)
{
    (void)state;
    assert_int_equal(command_wait_state(W_EXITCODE(0, 0), 0), TEPUI__TASK_STATE__TASK_FINISHED);
    assert_int_equal(command_wait_state(W_EXITCODE(1, 0), 0), TEPUI__TASK_STATE__TASK_FAILED);
    assert_int_equal(command_wait_state(W_EXITCODE(0, SIGKILL), 0), TEPUI__TASK_STATE__TASK_FAILED);
    /* Killed by us: TASK_KILLED however it ended. */
    assert_int_equal(command_wait_state(W_EXITCODE(0, SIGTERM), 1), TEPUI__TASK_STATE__TASK_KILLED);
    assert_int_equal(command_wait_state(W_EXITCODE(0, 0), 1), TEPUI__TASK_STATE__TASK_KILLED);
}

static void kill_grace_prefers_the_kill_policy_then_the_task_then_3s(void **state)
{
    Tepui__DurationInfo d1 = TEPUI__DURATION_INFO__INIT, d2 = TEPUI__DURATION_INFO__INIT;
    Tepui__KillPolicy event = TEPUI__KILL_POLICY__INIT, task = TEPUI__KILL_POLICY__INIT;
    (void)state;
    d1.nanoseconds = 1500000000;
    d2.nanoseconds = 10000000000;
    assert_true(command_kill_grace_period(NULL, NULL) == 3.0);
    task.grace_period = &d2;
    assert_true(command_kill_grace_period(NULL, &task) == 10.0);
    assert_true(command_kill_grace_period(&event, &task) == 10.0);   /* no grace in it */
    event.grace_period = &d1;
    assert_true(command_kill_grace_period(&event, &task) == 1.5);
}

static void second_kill_may_shorten_the_grace_period_but_not_extend_it(void **state)
{
    (void)state;
    /* Killed at t=100 with 20s: SIGKILL due at 120. */
    assert_true(command_kill_deadline(100, 120, 30) == 120);   /* longer: no-op */
    assert_true(command_kill_deadline(100, 120, 20) == 120);   /* a retry: no-op */
    assert_true(command_kill_deadline(100, 120, 5) == 105);    /* shorter: 5s after the first */
    assert_true(command_kill_deadline(100, 120, 0) == 100);    /* now */
}

static void shutdown_kills_within_the_executor_grace_period(void **state)
{
    (void)state;
    assert_true(command_shutdown_grace_period(5.0) == 4.0);
    assert_true(command_shutdown_grace_period(0.5) == 0.0);
}

static void task_killing_is_sent_only_to_frameworks_that_can_take_it(void **state)
{
    Tepui__FrameworkInfo fw = TEPUI__FRAMEWORK_INFO__INIT;
    Tepui__FrameworkInfo__Capability cap = TEPUI__FRAMEWORK_INFO__CAPABILITY__INIT;
    Tepui__FrameworkInfo__Capability *caps[] = {&cap};
    const Tepui__FrameworkInfo__Capability__Type killing =
        TEPUI__FRAMEWORK_INFO__CAPABILITY__TYPE__TASK_KILLING_STATE;
    (void)state;
    assert_false(command_framework_has_capability(NULL, killing));
    assert_false(command_framework_has_capability(&fw, killing));
    cap.has_type = 1;
    cap.type = TEPUI__FRAMEWORK_INFO__CAPABILITY__TYPE__PARTITION_AWARE;
    fw.n_capabilities = 1;
    fw.capabilities = caps;
    assert_false(command_framework_has_capability(&fw, killing));
    cap.type = killing;
    assert_true(command_framework_has_capability(&fw, killing));
}

static void only_check_results_carry_the_latest_check_and_health(void **state)
{
    const Tepui__TaskStatus__Reason health =
        TEPUI__TASK_STATUS__REASON__REASON_TASK_HEALTH_CHECK_STATUS_UPDATED;
    const Tepui__TaskStatus__Reason check =
        TEPUI__TASK_STATUS__REASON__REASON_TASK_CHECK_STATUS_UPDATED;
    (void)state;
    assert_true(command_is_check_update(TEPUI__TASK_STATE__TASK_RUNNING, 1, health));
    assert_true(command_is_check_update(TEPUI__TASK_STATE__TASK_RUNNING, 1, check));
    /* The state updates carry the check's type without a result. */
    assert_false(command_is_check_update(TEPUI__TASK_STATE__TASK_RUNNING, 0, health));
    assert_false(command_is_check_update(TEPUI__TASK_STATE__TASK_KILLED, 1, health));
    assert_false(command_is_check_update(TEPUI__TASK_STATE__TASK_RUNNING, 1,
                                         TEPUI__TASK_STATUS__REASON__REASON_COMMAND_EXECUTOR_FAILED));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(options_from_env_reads_the_agent_environment, set_agent_env),
        cmocka_unit_test_setup(options_from_env_names_each_missing_variable, set_agent_env),
        cmocka_unit_test_setup(checkpointing_requires_recovery_timeout_and_backoff, set_agent_env),
        cmocka_unit_test_setup(shutdown_grace_period_defaults_and_must_parse, set_agent_env),
        cmocka_unit_test_setup(malformed_agent_endpoint_is_named, set_agent_env),
        cmocka_unit_test_setup(libprocess_agent_pid_gives_endpoint_and_path, set_agent_env),
        cmocka_unit_test_setup_teardown(first_subscribe_carries_nothing, setup_executor,
                                        teardown_executor),
        cmocka_unit_test_setup_teardown(subscribe_carries_unacknowledged_tasks_and_updates,
                                        setup_executor, teardown_executor),
        cmocka_unit_test_setup_teardown(acknowledgement_releases_the_update_and_its_task,
                                        setup_executor, teardown_executor),
        cmocka_unit_test_setup_teardown(acknowledgement_of_unknown_uuid_changes_nothing,
                                        setup_executor, teardown_executor),
        cmocka_unit_test_setup_teardown(subscribe_in_json_carries_the_same, setup_executor,
                                        teardown_executor),
        cmocka_unit_test_setup_teardown(update_rejects_staging_and_a_missing_task_id,
                                        setup_executor, teardown_executor),
        cmocka_unit_test_setup_teardown(update_keeps_a_timestamp_the_caller_set, setup_executor,
                                        teardown_executor),
        cmocka_unit_test_setup_teardown(free_from_inside_a_callback_is_safe, setup_executor,
                                        teardown_executor),
        cmocka_unit_test(new_rejects_options_without_ids),
        cmocka_unit_test(resubscription_waits_within_the_backoff_cap),
        cmocka_unit_test(shell_command_runs_through_sh),
        cmocka_unit_test(plain_command_takes_arguments_as_argv),
        cmocka_unit_test(command_without_value_fails_in_mesos_words),
        cmocka_unit_test(environment_overrides_in_place_and_appends),
        cmocka_unit_test(sandbox_variable_is_set_when_the_agent_did_not),
        cmocka_unit_test(env_set_replaces_in_place_or_appends),
        cmocka_unit_test(secret_environment_variable_fails_the_task),
        cmocka_unit_test(task_user_is_the_command_user_else_the_framework_user),
        cmocka_unit_test(exit_messages_match_mesos),
        cmocka_unit_test(final_state_follows_how_the_command_ended),
        cmocka_unit_test(kill_grace_prefers_the_kill_policy_then_the_task_then_3s),
        cmocka_unit_test(second_kill_may_shorten_the_grace_period_but_not_extend_it),
        cmocka_unit_test(shutdown_kills_within_the_executor_grace_period),
        cmocka_unit_test(task_killing_is_sent_only_to_frameworks_that_can_take_it),
        cmocka_unit_test(only_check_results_carry_the_latest_check_and_health),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
