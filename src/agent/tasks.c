/* Tasks on the agent: running what the master sends (starting an executor
 * on the first task that needs it, queueing tasks until it subscribes),
 * kills, shutdowns, framework messages, the agent's own status updates, and
 * what becomes of tasks when their executor is gone. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "agent/agent.h"
#include "agent/checkpoint.h"
#include "agent/fetcher.h"
#include "agent/volumes.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/uuid.h"
#include "common/xalloc.h"
#include "wire/pb.h"

#define LOG_COMPONENT "agent"

static int framework_partition_aware(const struct agent_framework *f)
{
    for (size_t i = 0; i < f->info->n_capabilities; i++)
        if (f->info->capabilities[i]->has_type &&
            f->info->capabilities[i]->type ==
                TEPUI__FRAMEWORK_INFO__CAPABILITY__TYPE__PARTITION_AWARE)
            return 1;
    return 0;
}

void tasks_drain_rewrite(const struct agent *a, Tepui__TaskStatus *st)
{
    if (!a->draining || !task_state_is_terminal(st->state))
        return;
    st->has_reason = 1;
    st->reason = TEPUI__TASK_STATUS__REASON__REASON_AGENT_DRAINING;
    if (a->draining == 2 && st->state == TEPUI__TASK_STATE__TASK_KILLED)
        st->state = TEPUI__TASK_STATE__TASK_GONE_BY_OPERATOR;
}

/* Draining ends with the agent's last task (Mesos's agent forgets its
 * drain config then). */
static void drain_check_done(struct agent *a)
{
    struct agent_framework *f, *ftmp;
    HASH_ITER(hh, a->frameworks, f, ftmp) {
        struct agent_executor *e, *etmp;
        HASH_ITER(hh, f->executors, e, etmp) {
            if (e->tasks != NULL || e->n_queued_groups > 0)
                return;
        }
    }
    a->draining = 0;
}

void tasks_agent_update(struct agent *a, struct agent_executor *e, struct agent_task *t,
                        task_state_t state, Tepui__TaskStatus__Reason reason, const char *message)
{
    Tepui__TaskStatus st = TEPUI__TASK_STATUS__INIT;
    Tepui__AgentID aid = TEPUI__AGENT_ID__INIT;
    struct uuid u;
    uuid_random(&u);
    st.task_id = t->info->task_id;
    st.state = state;
    st.has_source = 1;
    st.source = TEPUI__TASK_STATUS__SOURCE__SOURCE_AGENT;
    st.has_reason = 1;
    st.reason = reason;
    st.message = (char *)message;
    st.has_timestamp = 1;
    st.timestamp = clock_wall();
    st.has_uuid = 1;
    st.uuid.data = u.b;
    st.uuid.len = sizeof(u.b);
    if (a->id != NULL) {
        aid.value = a->id;
        st.agent_id = &aid;
    }
    st.executor_id = e->info->executor_id;
    tasks_drain_rewrite(a, &st);
    state = st.state;
    reason = st.reason;
    t->state = state;
    log_info("task %s of framework %s is %s (%s): %s", t->id, e->framework->id,
             task_state_name(state), task_reason_name(reason), message);
    updates_add(a, e->framework->id, &st);
}

static void task_free(struct agent_task *t)
{
    pb_free(t->info);
    free(t->id);
    free(t);
}

/* Drops a task from its executor, and from the checkpoint. */
static void task_forget(struct agent *a, struct agent_executor *e, struct agent_task *t)
{
    ckpt_task_remove(a, t);
    HASH_DEL(e->tasks, t);
    task_free(t);
    containers_update(a, e);
    volumes_release(a, e);
}

/* Tells the master a custom executor is gone (it then gives the executor's
 * resources back and tells the scheduler); command executors are the
 * agent's own business. */
static void report_exit(struct agent *a, struct agent_executor *e, int has_status, int wait_status)
{
    if (e->command_executor || e->exit_reported)
        return;
    e->exit_reported = 1;
    if (wait_status == -1)
        has_status = 0;   /* a recovered executor: its status was not ours to see */
    Tepui__Internal__AgentCall call = TEPUI__INTERNAL__AGENT_CALL__INIT;
    Tepui__Internal__AgentCall__ExecutorExited ex = TEPUI__INTERNAL__AGENT_CALL__EXECUTOR_EXITED__INIT;
    ex.framework_id = e->framework->info->id;
    ex.executor_id = e->info->executor_id;
    ex.has_status = has_status;
    ex.status = wait_status;
    call.has_type = 1;
    call.type = TEPUI__INTERNAL__AGENT_CALL__TYPE__EXECUTOR_EXITED;
    call.executor_exited = &ex;
    master_link_send(a, &call);
}

void tasks_executor_free(struct agent *a, struct agent_executor *e)
{
    struct agent_framework *f = e->framework;
    report_exit(a, e, 0, 0);
    fetcher_forget(a, e);
    endpoints_record_completed(a, e);
    ckpt_executor_remove(a, e);
    ckpt_cancel(a, e);
    containers_unwatch(e);
    containers_release(a, e);
    if (e->recovered)
        recover_executor_gone(a, e);
    struct agent_task *t, *tmp;
    HASH_ITER(hh, e->tasks, t, tmp) {
        HASH_DEL(e->tasks, t);
        task_free(t);
    }
    for (size_t i = 0; i < e->n_queued_groups; i++)
        pb_free(e->queued_groups[i]);
    free(e->queued_groups);
    if (e->registration_timer)
        event_free(e->registration_timer);
    if (e->shutdown_timer)
        event_free(e->shutdown_timer);
    if (e->stream)
        http_stream_close(e->stream);
    HASH_DEL(f->executors, e);
    pb_free(e->info);
    free(e->directory);
    free(e->reason_message);
    buf_free(&e->deferred);
    free(e->id);
    free(e);
    agent_release_framework_if_idle(a, f);
}

/* ---- executors ---- */

/* The ExecutorInfo of the command executor Mesos generates for a command
 * task: executor id = task id, the task's resources, a descriptive name. */
static Tepui__ExecutorInfo *command_executor_info(struct agent *a, const Tepui__FrameworkInfo *fi,
                                                  const Tepui__TaskInfo *task)
{
    Tepui__ExecutorInfo *e = xmalloc(sizeof(*e));
    tepui__executor_info__init(e);
    e->has_type = 1;
    e->type = TEPUI__EXECUTOR_INFO__TYPE__CUSTOM;
    e->executor_id = xmalloc(sizeof(*e->executor_id));
    tepui__executor_id__init(e->executor_id);
    e->executor_id->value = xstrdup(task->task_id->value);
    e->framework_id = PB_COPY(Tepui__FrameworkID, fi->id);
    const char *cmd = task->command && task->command->value ? task->command->value : "";
    e->name = xasprintf("Command Executor (Task: %s) (Command: sh -c '%.60s%s')",
                        task->task_id->value, cmd, strlen(cmd) > 60 ? "..." : "");
    e->source = xstrdup(task->task_id->value);
    e->command = xmalloc(sizeof(*e->command));
    tepui__command_info__init(e->command);
    e->command->value = xstrdup(a->executor_path);
    e->command->has_shell = 1;
    e->command->shell = 0;
    e->command->arguments = xcalloc(2, sizeof(char *));
    e->command->arguments[0] = xstrdup(a->executor_path);
    e->command->n_arguments = 1;
    /* The executor switches users itself when it runs as root; it must
     * know when the agent was told not to. */
    if (!a->flags.switch_user)
        e->command->arguments[e->command->n_arguments++] = xstrdup("--no-switch_user");
    if (task->command != NULL && task->command->user != NULL)
        e->command->user = xstrdup(task->command->user);
    /* As Mesos: the task's URIs are fetched into the executor's sandbox. */
    if (task->command != NULL && task->command->n_uris > 0) {
        e->command->uris = xcalloc(task->command->n_uris, sizeof(*e->command->uris));
        for (size_t i = 0; i < task->command->n_uris; i++)
            e->command->uris[i] = PB_COPY(Tepui__CommandInfo__URI, task->command->uris[i]);
        e->command->n_uris = task->command->n_uris;
    }
    /* As Mesos: the task's container goes with its executor (an image's
     * rootfs is provisioned for it). */
    if (task->container != NULL)
        e->container = PB_COPY(Tepui__ContainerInfo, task->container);
    e->n_resources = task->n_resources;
    e->resources = xcalloc(task->n_resources ? task->n_resources : 1, sizeof(*e->resources));
    for (size_t i = 0; i < task->n_resources; i++)
        e->resources[i] = PB_COPY(Tepui__Resource, task->resources[i]);
    return e;
}

static void registration_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct agent_executor *e = arg;
    (void)fd;
    (void)what;
    if (e->state != EXECUTOR_LAUNCHING)
        return;
    log_warn("executor %s of framework %s did not subscribe in time; destroying it", e->id,
             e->framework->id);
    e->reason_set = 1;
    e->reason = TEPUI__TASK_STATUS__REASON__REASON_EXECUTOR_REGISTRATION_TIMEOUT;
    free(e->reason_message);
    e->reason_message = xstrdup("Executor did not register within the registration timeout");
    containers_destroy(e->agent, e);
}

/* Starts the executor's process; its registration timeout runs from now. */
static int executor_launch(struct agent *a, struct agent_executor *e, struct error *err)
{
    if (containers_launch(a, e, err) != 0)
        return -1;
    a->metrics.executors_registering++;
    e->registration_timer = evtimer_new(a->base, registration_timeout, e);
    double t = a->flags.executor_registration_timeout;
    struct timeval tv = clock_timeval(t);
    evtimer_add(e->registration_timer, &tv);
    return 0;
}

static struct agent_executor *executor_start(struct agent *a, struct agent_framework *f,
                                             Tepui__ExecutorInfo *info, int command_executor,
                                             struct error *err)
{
    struct agent_executor *e = XNEW(struct agent_executor);
    e->id = xstrdup(info->executor_id->value);
    e->agent = a;
    e->framework = f;
    e->info = info;
    e->command_executor = command_executor;
    e->state = EXECUTOR_LAUNCHING;
    e->pidfd = -1;
    struct uuid u;
    uuid_random(&u);
    uuid_format(&u, e->container_id);
    HASH_ADD_KEYPTR(hh, f->executors, e->id, strlen(e->id), e);
    if (agent_framework_checkpoints(f))
        ckpt_executor(a, e);
    /* Its URIs are fetched into the sandbox first (tasks wait as for a
     * subscription); the launch goes on in tasks_executor_fetched. */
    int fetching = fetcher_start(a, e, err);
    if (fetching < 0 || (fetching == 0 && executor_launch(a, e, err) != 0))
        e->state = EXECUTOR_TERMINATED;
    return e;
}

void tasks_executor_fetched(struct agent *a, struct agent_executor *e)
{
    struct error err = {0};
    if (executor_launch(a, e, &err) == 0)
        return;
    e->reason_set = 1;
    e->reason = TEPUI__TASK_STATUS__REASON__REASON_CONTAINER_LAUNCH_FAILED;
    free(e->reason_message);
    e->reason_message = xasprintf("Failed to launch container: %s", err.msg);
    tasks_executor_terminated(a, e, 0);
}

/* ---- running tasks ---- */

int tasks_mount_volumes(struct agent *a, struct agent_executor *e, struct agent_task *t)
{
    struct error err = {0};
    if (volumes_mount_task(a, e, t->info, &err) == 0)
        return 0;
    /* As Mesos, when the containerizer's update fails before the launch. */
    char msg[600];
    snprintf(msg, sizeof(msg), "Failed to update the container: %s", err.msg);
    tasks_agent_update(a, e, t, TEPUI__TASK_STATE__TASK_FAILED,
                       TEPUI__TASK_STATUS__REASON__REASON_CONTAINER_UPDATE_FAILED, msg);
    return -1;
}

/* A task the executor will run (launched: it is handed over in this
 * turn), checkpointed before anything goes to the executor. group names
 * the task group it came in, if any. */
static struct agent_task *task_add(struct agent *a, struct agent_executor *e,
                                   const Tepui__TaskInfo *info, int launched, const char *group)
{
    struct agent_task *t = XNEW(struct agent_task);
    t->info = PB_COPY(Tepui__TaskInfo, info);
    t->id = xstrdup(info->task_id->value);
    t->executor = e;
    t->state = TEPUI__TASK_STATE__TASK_STAGING;
    t->launched = launched;
    HASH_ADD_KEYPTR(hh, e->tasks, t->id, strlen(t->id), t);
    if (agent_framework_checkpoints(e->framework))
        ckpt_task(a, e, t, group);
    containers_update(a, e);
    return t;
}

void tasks_run(struct agent *a, const Tepui__Internal__AgentEvent__RunTask *rt)
{
    struct error err = {0};
    struct agent_framework *f = agent_get_framework(a, rt->framework);
    f->shutting_down = 0;
    const Tepui__TaskInfo *task = rt->task;
    const char *executor_id = rt->executor ? rt->executor->executor_id->value : task->task_id->value;
    log_info("got task %s of framework %s for executor %s", task->task_id->value, f->id,
             executor_id);
    a->metrics.launched_tasks++;

    struct agent_executor *e = NULL;
    HASH_FIND_STR(f->executors, executor_id, e);
    if (e != NULL && (e->state == EXECUTOR_TERMINATING || e->state == EXECUTOR_TERMINATED)) {
        struct agent_task *t = task_add(a, e, task, 0, NULL);
        tasks_agent_update(a, e, t,
                           framework_partition_aware(f) ? TEPUI__TASK_STATE__TASK_DROPPED
                                                        : TEPUI__TASK_STATE__TASK_LOST,
                           TEPUI__TASK_STATUS__REASON__REASON_EXECUTOR_TERMINATED,
                           "Executor is terminating");
        task_forget(a, e, t);
        return;
    }
    if (e == NULL) {
        Tepui__ExecutorInfo *info = rt->executor ? PB_COPY(Tepui__ExecutorInfo, rt->executor)
                                                 : command_executor_info(a, rt->framework, task);
        if (info->framework_id == NULL)
            info->framework_id = PB_COPY(Tepui__FrameworkID, rt->framework->id);
        e = executor_start(a, f, info, rt->executor == NULL, &err);
        if (e->state == EXECUTOR_TERMINATED) {
            struct agent_task *t = task_add(a, e, task, 0, NULL);
            char msg[600];
            snprintf(msg, sizeof(msg), "Failed to launch container: %s", err.msg);
            tasks_agent_update(a, e, t, TEPUI__TASK_STATE__TASK_FAILED,
                               TEPUI__TASK_STATUS__REASON__REASON_CONTAINER_LAUNCH_FAILED, msg);
            tasks_executor_free(a, e);
            return;
        }
    }
    struct agent_task *t = task_add(a, e, task, e->state == EXECUTOR_RUNNING, NULL);
    if (e->state == EXECUTOR_RUNNING) {
        if (tasks_mount_volumes(a, e, t) != 0)
            return;
        Tepui__Executor__Event ev = TEPUI__EXECUTOR__EVENT__INIT;
        Tepui__Executor__Event__Launch l = TEPUI__EXECUTOR__EVENT__LAUNCH__INIT;
        l.task = t->info;
        ev.has_type = 1;
        ev.type = TEPUI__EXECUTOR__EVENT__TYPE__LAUNCH;
        ev.launch = &l;
        executor_send_event(e, &ev);
    }
}

void tasks_run_group(struct agent *a, const Tepui__Internal__AgentEvent__RunTaskGroup *rg)
{
    struct error err = {0};
    struct agent_framework *f = agent_get_framework(a, rg->framework);
    f->shutting_down = 0;
    const char *executor_id = rg->executor->executor_id->value;
    struct agent_executor *e = NULL;
    HASH_FIND_STR(f->executors, executor_id, e);
    if (e != NULL && (e->state == EXECUTOR_TERMINATING || e->state == EXECUTOR_TERMINATED)) {
        for (size_t i = 0; i < rg->task_group->n_tasks; i++) {
            struct agent_task *t = task_add(a, e, rg->task_group->tasks[i], 0, NULL);
            tasks_agent_update(a, e, t,
                               framework_partition_aware(f) ? TEPUI__TASK_STATE__TASK_DROPPED
                                                            : TEPUI__TASK_STATE__TASK_LOST,
                               TEPUI__TASK_STATUS__REASON__REASON_EXECUTOR_TERMINATED,
                               "Executor is terminating");
            task_forget(a, e, t);
        }
        return;
    }
    if (e == NULL) {
        Tepui__ExecutorInfo *info = PB_COPY(Tepui__ExecutorInfo, rg->executor);
        if (info->framework_id == NULL)
            info->framework_id = PB_COPY(Tepui__FrameworkID, rg->framework->id);
        /* A DEFAULT executor without a command is ours (see containers.c);
         * its ExecutorInfo stays as the framework gave it, which is what the
         * agent reports when it re-registers. */
        e = executor_start(a, f, info, 0, &err);
        if (e->state == EXECUTOR_TERMINATED) {
            char msg[600];
            snprintf(msg, sizeof(msg), "Failed to launch container: %s", err.msg);
            for (size_t i = 0; i < rg->task_group->n_tasks; i++) {
                struct agent_task *t = task_add(a, e, rg->task_group->tasks[i], 0, NULL);
                tasks_agent_update(a, e, t, TEPUI__TASK_STATE__TASK_FAILED,
                                   TEPUI__TASK_STATUS__REASON__REASON_CONTAINER_LAUNCH_FAILED, msg);
            }
            tasks_executor_free(a, e);
            return;
        }
    }
    /* A group queued for the executor's subscription is checkpointed as
     * one (named by its first task), to be queued again by recovery. */
    int running = e->state == EXECUTOR_RUNNING;
    const char *group = rg->task_group->n_tasks > 0 ? rg->task_group->tasks[0]->task_id->value
                                                    : NULL;
    int mounted = 1;
    for (size_t i = 0; i < rg->task_group->n_tasks; i++) {
        struct agent_task *t = task_add(a, e, rg->task_group->tasks[i], running,
                                        running ? NULL : group);
        if (running && mounted && tasks_mount_volumes(a, e, t) != 0)
            mounted = 0;
    }
    if (!mounted) {
        /* A group runs whole or not at all. */
        for (size_t i = 0; i < rg->task_group->n_tasks; i++) {
            struct agent_task *t = NULL;
            HASH_FIND_STR(e->tasks, rg->task_group->tasks[i]->task_id->value, t);
            if (t != NULL && !task_state_is_terminal(t->state))
                tasks_agent_update(a, e, t, TEPUI__TASK_STATE__TASK_FAILED,
                                   TEPUI__TASK_STATUS__REASON__REASON_CONTAINER_UPDATE_FAILED,
                                   "Failed to update the container: another task of its group "
                                   "could not get its persistent volumes");
        }
        volumes_release(a, e);
        return;
    }
    if (e->state == EXECUTOR_RUNNING) {
        Tepui__Executor__Event ev = TEPUI__EXECUTOR__EVENT__INIT;
        Tepui__Executor__Event__LaunchGroup lg = TEPUI__EXECUTOR__EVENT__LAUNCH_GROUP__INIT;
        lg.task_group = rg->task_group;
        ev.has_type = 1;
        ev.type = TEPUI__EXECUTOR__EVENT__TYPE__LAUNCH_GROUP;
        ev.launch_group = &lg;
        executor_send_event(e, &ev);
    } else {
        e->queued_groups = xrealloc(e->queued_groups,
                                    (e->n_queued_groups + 1) * sizeof(*e->queued_groups));
        e->queued_groups[e->n_queued_groups++] = PB_COPY(Tepui__TaskGroupInfo, rg->task_group);
    }
}

/* ---- kills and shutdowns ---- */

static int executor_idle(const struct agent_executor *e)
{
    return e->tasks == NULL && e->n_queued_groups == 0;
}

void tasks_kill(struct agent *a, const Tepui__Internal__AgentEvent__KillTask *kt)
{
    struct agent_executor *e = NULL;
    struct agent_task *t = agent_find_task(a, kt->framework_id->value, kt->task_id->value, &e);
    if (t == NULL) {
        log_warn("asked to kill task %s of framework %s, which this agent does not run",
                 kt->task_id->value, kt->framework_id->value);
        return;
    }
    if (kt->has_agent_draining && kt->agent_draining)
        a->draining = kt->has_mark_gone && kt->mark_gone ? 2 : 1;
    if (task_state_is_terminal(t->state))
        return;
    t->kill_requested = 1;
    if (!t->launched) {
        /* Never reached its executor: it ends here. */
        tasks_agent_update(a, e, t, TEPUI__TASK_STATE__TASK_KILLED,
                           TEPUI__TASK_STATUS__REASON__REASON_TASK_KILLED_DURING_LAUNCH,
                           "Killed before delivery to the executor");
        for (size_t i = 0; i < e->n_queued_groups; i++) {
            Tepui__TaskGroupInfo *g = e->queued_groups[i];
            for (size_t k = 0; k < g->n_tasks; k++) {
                if (strcmp(g->tasks[k]->task_id->value, t->id) == 0) {
                    /* Killing one task of a group kills the group. */
                    for (size_t j = 0; j < g->n_tasks; j++) {
                        struct agent_task *other = NULL;
                        HASH_FIND_STR(e->tasks, g->tasks[j]->task_id->value, other);
                        if (other != NULL && !task_state_is_terminal(other->state))
                            tasks_agent_update(a, e, other, TEPUI__TASK_STATE__TASK_KILLED,
                                               TEPUI__TASK_STATUS__REASON__REASON_TASK_KILLED_DURING_LAUNCH,
                                               "Killed before delivery to the executor");
                    }
                }
            }
        }
        int live = 0;
        struct agent_task *o, *tmp;
        HASH_ITER(hh, e->tasks, o, tmp) {
            live |= !task_state_is_terminal(o->state);
        }
        if (!live)
            containers_shutdown(a, e);
        return;
    }
    if (e->state != EXECUTOR_RUNNING)
        return;
    Tepui__Executor__Event ev = TEPUI__EXECUTOR__EVENT__INIT;
    Tepui__Executor__Event__Kill k = TEPUI__EXECUTOR__EVENT__KILL__INIT;
    k.task_id = kt->task_id;
    k.kill_policy = kt->kill_policy;
    ev.has_type = 1;
    ev.type = TEPUI__EXECUTOR__EVENT__TYPE__KILL;
    ev.kill = &k;
    executor_send_event(e, &ev);
}

void tasks_shutdown_framework(struct agent *a, const char *framework_id)
{
    struct agent_framework *f = agent_find_framework(a, framework_id);
    updates_drop_framework(a, framework_id);
    if (f == NULL)
        return;
    log_info("shutting down framework %s", framework_id);
    f->shutting_down = 1;
    struct agent_executor *e, *tmp;
    HASH_ITER(hh, f->executors, e, tmp) {
        containers_shutdown(a, e);
    }
}

void tasks_shutdown_executor(struct agent *a, const char *framework_id, const char *executor_id)
{
    struct agent_executor *e = agent_find_executor(a, framework_id, executor_id);
    if (e == NULL) {
        log_warn("asked to shut down unknown executor %s of framework %s", executor_id,
                 framework_id);
        return;
    }
    containers_shutdown(a, e);
}

void tasks_framework_message(struct agent *a,
                             const Tepui__Internal__AgentEvent__FrameworkMessage *fm)
{
    struct agent_executor *e = agent_find_executor(a, fm->framework_id->value,
                                                   fm->executor_id->value);
    if (e == NULL || e->state != EXECUTOR_RUNNING) {
        log_warn("dropping a message for executor %s of framework %s: it is not running",
                 fm->executor_id->value, fm->framework_id->value);
        return;
    }
    Tepui__Executor__Event ev = TEPUI__EXECUTOR__EVENT__INIT;
    Tepui__Executor__Event__Message m = TEPUI__EXECUTOR__EVENT__MESSAGE__INIT;
    m.data = fm->data;
    ev.has_type = 1;
    ev.type = TEPUI__EXECUTOR__EVENT__TYPE__MESSAGE;
    ev.message = &m;
    executor_send_event(e, &ev);
}

void tasks_update_acknowledged(struct agent *a, const char *framework_id, const char *task_id,
                               task_state_t state)
{
    struct agent_executor *e = NULL;
    struct agent_task *t = agent_find_task(a, framework_id, task_id, &e);
    if (t == NULL)
        return;
    if (!task_state_is_terminal(state)) {
        /* What a restarted agent reports once no update of it is left. */
        ckpt_task_state(a, t, (int)state);
        return;
    }
    task_forget(a, e, t);
    if (a->draining)
        drain_check_done(a);
    /* An executor that is gone is forgotten with its last task (a default
     * executor exits once its tasks are over, before they are
     * acknowledged); a later task for its id starts a new one. */
    if (executor_idle(e) && e->state == EXECUTOR_TERMINATED)
        tasks_executor_free(a, e);
}

void tasks_executor_terminated(struct agent *a, struct agent_executor *e, int wait_status)
{
    struct agent_framework *f = e->framework;
    char status_text[128];
    if (wait_status == -1)
        snprintf(status_text, sizeof(status_text), "ended (its exit status is unknown to the "
                 "restarted agent)");
    else if (WIFEXITED(wait_status))
        snprintf(status_text, sizeof(status_text), "exited with status %d",
                 WEXITSTATUS(wait_status));
    else if (WIFSIGNALED(wait_status))
        snprintf(status_text, sizeof(status_text), "terminated by signal %s",
                 strsignal(WTERMSIG(wait_status)));
    else
        snprintf(status_text, sizeof(status_text), "ended (status %d)", wait_status);
    log_info("executor %s of framework %s %s", e->id, f->id, status_text);
    e->state = EXECUTOR_TERMINATED;
    a->metrics.executors_terminated++;
    if (e->stream != NULL) {
        http_stream_close(e->stream);
        e->stream = NULL;
    }

    /* Tasks it left unfinished end here, unless the framework is going away
     * (nobody would acknowledge the updates). */
    struct agent_task *t, *tmp;
    HASH_ITER(hh, e->tasks, t, tmp) {
        if (task_state_is_terminal(t->state) || f->shutting_down)
            continue;
        task_state_t st;
        int lost = !e->command_executor && !e->reason_set;
        /* As Mesos: an executor that did not come back after the agent's
         * restart was killed by the agent, its tasks may have run on. */
        lost |= e->reason_set &&
                e->reason == TEPUI__TASK_STATUS__REASON__REASON_EXECUTOR_REREGISTRATION_TIMEOUT;
        if (!lost)
            st = TEPUI__TASK_STATE__TASK_FAILED;
        else
            st = framework_partition_aware(f) ? TEPUI__TASK_STATE__TASK_GONE
                                              : TEPUI__TASK_STATE__TASK_LOST;
        if (t->kill_requested && !e->reason_set)
            st = TEPUI__TASK_STATE__TASK_KILLED;
        char msg[1024];
        /* A container that never started says why on its own. */
        if (e->reason_set && e->reason_message != NULL &&
            (e->reason == TEPUI__TASK_STATUS__REASON__REASON_CONTAINER_LAUNCH_FAILED ||
             e->reason == TEPUI__TASK_STATUS__REASON__REASON_CONTAINER_LIMITATION_MEMORY))
            snprintf(msg, sizeof(msg), "%s", e->reason_message);
        else
            snprintf(msg, sizeof(msg), "%s: executor %s",
                     e->reason_message ? e->reason_message : "Executor terminated", status_text);
        tasks_agent_update(a, e, t, st,
                           e->reason_set ? e->reason
                                         : TEPUI__TASK_STATUS__REASON__REASON_EXECUTOR_TERMINATED,
                           msg);
    }

    report_exit(a, e, 1, wait_status);
    /* Its record goes once no task of it awaits an acknowledgement. */
    HASH_ITER(hh, e->tasks, t, tmp) {
        if (!updates_pending(a, f->id, t->id))
            task_forget(a, e, t);
    }
    if (e->tasks == NULL || f->shutting_down)
        tasks_executor_free(a, e);
}

/* ---- reporting ---- */

void tasks_report(struct agent *a, Tepui__Internal__AgentCall__Subscribe *s)
{
    size_t nf = HASH_COUNT(a->frameworks);
    s->frameworks = xcalloc(nf ? nf : 1, sizeof(*s->frameworks));
    struct agent_framework *f, *ftmp;
    HASH_ITER(hh, a->frameworks, f, ftmp) {
        s->frameworks[s->n_frameworks++] = f->info;
        struct agent_executor *e, *etmp;
        HASH_ITER(hh, f->executors, e, etmp) {
            if (!e->command_executor) {
                Tepui__Internal__RunningExecutor *re = xmalloc(sizeof(*re));
                tepui__internal__running_executor__init(re);
                re->framework_id = f->info->id;
                re->info = e->info;
                s->executors = xrealloc(s->executors, (s->n_executors + 1) * sizeof(re));
                s->executors[s->n_executors++] = re;
            }
            struct agent_task *t, *ttmp;
            HASH_ITER(hh, e->tasks, t, ttmp) {
                Tepui__Task *pt = xmalloc(sizeof(*pt));
                tepui__task__init(pt);
                pt->name = t->info->name;
                pt->task_id = t->info->task_id;
                pt->framework_id = f->info->id;
                pt->executor_id = e->info->executor_id;
                pt->agent_id = a->info->id;
                pt->state = t->state;
                pt->resources = t->info->resources;
                pt->n_resources = t->info->n_resources;
                pt->labels = t->info->labels;
                pt->container = t->info->container;
                pt->discovery = t->info->discovery;
                pt->health_check = t->info->health_check;
                pt->kill_policy = t->info->kill_policy;
                s->tasks = xrealloc(s->tasks, (s->n_tasks + 1) * sizeof(pt));
                s->tasks[s->n_tasks++] = pt;
            }
        }
    }
}

void tasks_report_free(Tepui__Internal__AgentCall__Subscribe *s)
{
    /* Everything is borrowed but the arrays and wrappers. */
    for (size_t i = 0; i < s->n_executors; i++)
        free(s->executors[i]);
    for (size_t i = 0; i < s->n_tasks; i++)
        free(s->tasks[i]);
    free(s->executors);
    free(s->tasks);
    free(s->frameworks);
    s->executors = NULL;
    s->tasks = NULL;
    s->frameworks = NULL;
    s->n_executors = s->n_tasks = s->n_frameworks = 0;
}
