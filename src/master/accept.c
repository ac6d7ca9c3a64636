/* ACCEPT: validating offers and the operations against them, in order:
 * RESERVE, UNRESERVE, CREATE and DESTROY change the offered resources (and
 * the agent's total) for the operations after them; LAUNCH / LAUNCH_GROUP
 * create tasks and send them to the agent. What was not used goes back to
 * the allocator with the framework's filter. Invalid tasks end in
 * TASK_ERROR, tasks on invalid offers in TASK_LOST (TASK_DROPPED for
 * partition-aware frameworks), and invalid resource operations are dropped
 * with their resources left in the offer, as in Mesos. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "master/health_validation.h"
#include "master/master.h"
#include "master/operations.h"
#include "wire/pb.h"

#define LOG_COMPONENT "master"

struct launch_ctx {
    struct framework *f;
    struct agent *agent;
    struct resources remaining;   /* offered minus what earlier tasks took */
    char **roles;                 /* roles of the accepted offers */
    size_t n_roles;
};

static void tasks_of_operations(const Tepui__Scheduler__Call__Accept *accept,
                                void (*fn)(const Tepui__TaskInfo *t, void *arg), void *arg)
{
    for (size_t i = 0; i < accept->n_operations; i++) {
        const Tepui__Offer__Operation *op = accept->operations[i];
        if (op->launch != NULL)
            for (size_t k = 0; k < op->launch->n_task_infos; k++)
                fn(op->launch->task_infos[k], arg);
        if (op->launch_group != NULL && op->launch_group->task_group != NULL)
            for (size_t k = 0; k < op->launch_group->task_group->n_tasks; k++)
                fn(op->launch_group->task_group->tasks[k], arg);
    }
}

struct drop_ctx {
    struct framework *f;
    const char *message;
};

static void drop_task(const Tepui__TaskInfo *t, void *arg)
{
    struct drop_ctx *d = arg;
    task_state_t st = d->f->partition_aware ? TEPUI__TASK_STATE__TASK_DROPPED
                                            : TEPUI__TASK_STATE__TASK_LOST;
    task_send_master_update(d->f, t->task_id->value, t->agent_id ? t->agent_id->value : NULL, st,
                            TEPUI__TASK_STATUS__REASON__REASON_INVALID_OFFERS, d->message);
}

static int validate_offers(struct framework *f, const Tepui__Scheduler__Call__Accept *accept,
                           struct agent **agent, struct error *err)
{
    struct master *m = f->master;
    *agent = NULL;
    if (accept->n_offer_ids == 0)
        return error_set(err, -EINVAL, "No offers specified");
    for (size_t i = 0; i < accept->n_offer_ids; i++) {
        const char *id = accept->offer_ids[i]->value;
        for (size_t j = 0; j < i; j++)
            if (strcmp(accept->offer_ids[j]->value, id) == 0)
                return error_set(err, -EINVAL, "Duplicate offer %s in the offer list", id);
        struct offer *o = offer_find(m, id);
        if (o == NULL)
            return error_set(err, -EINVAL, "Offer %s is no longer valid", id);
        if (o->framework != f)
            return error_set(err, -EINVAL, "Offer %s has invalid framework", id);
        if (*agent == NULL)
            *agent = o->agent;
        else if (*agent != o->agent)
            return error_set(err, -EINVAL, "Aggregated offers must belong to one single agent. "
                                           "Offer %s uses agent %s and agent %s", id,
                             o->agent->id, (*agent)->id);
    }
    if (!(*agent)->connected)
        return error_set(err, -EINVAL, "Agent %s is not connected", (*agent)->id);
    return 0;
}

/* Resources of a task as a role-allocated set: entries without
 * allocation_info get the offers' role (frameworks that predate
 * MULTI_ROLE send none); entries with one must name an offered role. */
static int task_resources(struct launch_ctx *c, Tepui__Resource *const *v, size_t n,
                          struct resources *out, const char **role, struct error *err)
{
    int rc = resources_from_proto(v, n, out, err);
    if (rc != 0)
        return rc;
    *role = c->roles[0];
    for (size_t i = 0; i < out->n; i++) {
        const char *r = out->v[i].allocation_role;
        if (r == NULL)
            continue;
        int offered = 0;
        for (size_t k = 0; k < c->n_roles; k++)
            if (strcmp(c->roles[k], r) == 0) {
                offered = 1;
                /* The offers' copy: out's entries are freed below. */
                *role = c->roles[k];
            }
        if (!offered)
            return error_set(err, -EINVAL, "Resources are allocated to role '%s', which none of "
                                           "the offers is", r);
    }
    for (size_t i = 0; i < out->n; i++)
        if (out->v[i].allocation_role == NULL) {
            free(out->v[i].allocation_role);
            out->v[i].allocation_role = xstrdup(*role);
        }
    /* Entries may now be mergeable: rebuild so they are unique. */
    struct resources merged = RESOURCES_INIT;
    resources_add(&merged, out);
    resources_free(out);
    *out = merged;
    return 0;
}

static int validate_command(const Tepui__CommandInfo *cmd, const char *what, struct error *err)
{
    int shell = !cmd->has_shell || cmd->shell;
    if (shell && (cmd->value == NULL || cmd->value[0] == '\0'))
        return error_set(err, -EINVAL, "%s: a shell command needs 'value'", what);
    if (!shell && (cmd->value == NULL || cmd->value[0] == '\0'))
        return error_set(err, -EINVAL, "%s: a non-shell command needs 'value' (the program to run)",
                         what);
    for (size_t i = 0; i < cmd->n_uris; i++)
        if (cmd->uris[i]->value == NULL || cmd->uris[i]->value[0] == '\0')
            return error_set(err, -EINVAL, "%s: URI %zu has no value", what, i);
    return 0;
}

static int validate_executor(struct launch_ctx *c, const Tepui__ExecutorInfo *e, struct error *err)
{
    if (master_validate_id("ExecutorID", e->executor_id->value, err) != 0)
        return -EINVAL;
    if (e->framework_id != NULL && strcmp(e->framework_id->value, c->f->id) != 0)
        return error_set(err, -EINVAL, "ExecutorInfo has an invalid FrameworkID (actual: %s, "
                                       "expected: %s)", e->framework_id->value, c->f->id);
    int is_default = e->has_type && e->type == TEPUI__EXECUTOR_INFO__TYPE__DEFAULT;
    if (!is_default && e->command == NULL)
        return error_set(err, -EINVAL, "Executor '%s' is of type CUSTOM but has no command",
                         e->executor_id->value);
    if (is_default && e->command != NULL)
        return error_set(err, -EINVAL, "Executor '%s' is of type DEFAULT and must not have a command",
                         e->executor_id->value);
    if (e->command != NULL && validate_command(e->command, "ExecutorInfo.command", err) != 0)
        return -EINVAL;
    return 0;
}

/* An executor id that already runs on the agent must come with the same
 * ExecutorInfo, as Mesos requires. */
static int executor_compatible(const struct agent *a, const char *framework_id,
                               const Tepui__ExecutorInfo *e)
{
    for (size_t i = 0; i < a->n_executors; i++) {
        const Tepui__ExecutorInfo *known = a->executors[i].re->info;
        if (strcmp(a->executors[i].re->framework_id->value, framework_id) != 0 ||
            strcmp(known->executor_id->value, e->executor_id->value) != 0)
            continue;
        /* Compare everything but the framework id, which the master fills. */
        Tepui__ExecutorInfo x = *known, y = *e;
        x.framework_id = y.framework_id = NULL;
        struct buf bx = BUF_INIT, by = BUF_INIT;
        pb_pack_buf(&x.base, &bx);
        pb_pack_buf(&y.base, &by);
        int same = bx.len == by.len && memcmp(buf_cstr(&bx), buf_cstr(&by), bx.len) == 0;
        buf_free(&bx);
        buf_free(&by);
        return same;
    }
    return 1;
}

/* Validates one task against the remaining offered resources and takes its
 * resources (and a new executor's, returned in exec_res) from them. */
static int launch_validate(struct launch_ctx *c, const Tepui__TaskInfo *t,
                           const Tepui__ExecutorInfo *group_executor, struct resources *res,
                           const char **role, struct resources *exec_res, struct error *err)
{
    struct framework *f = c->f;
    if (master_validate_id("TaskID", t->task_id->value, err) != 0)
        return -EINVAL;
    if (task_find(f, t->task_id->value) != NULL)
        return error_set(err, -EINVAL, "Task has duplicate ID: %s", t->task_id->value);
    if (strcmp(t->agent_id->value, c->agent->id) != 0)
        return error_set(err, -EINVAL, "Task uses invalid agent: %s", t->agent_id->value);
    const Tepui__ExecutorInfo *executor = group_executor ? group_executor : t->executor;
    if (group_executor != NULL) {
        if (t->executor != NULL)
            return error_set(err, -EINVAL, "Task '%s' in a task group must not have an executor",
                             t->task_id->value);
        if (t->command == NULL)
            return error_set(err, -EINVAL, "Task '%s' in a task group needs a command",
                             t->task_id->value);
    } else if ((t->command == NULL) == (t->executor == NULL)) {
        return error_set(err, -EINVAL, "Task should have at least one (but not both) of "
                                       "CommandInfo or ExecutorInfo present");
    }
    /* With a container image, a non-shell command may leave 'value' out: the
     * image's Entrypoint and Cmd run (Mesos's docker runtime isolator). */
    const Tepui__ContainerInfo *ci = t->container;
    int image_command = t->command != NULL && t->command->has_shell && !t->command->shell &&
                        t->command->value == NULL && ci != NULL &&
                        (ci->docker != NULL || (ci->mesos != NULL && ci->mesos->image != NULL));
    if (t->command != NULL && !image_command &&
        validate_command(t->command, "TaskInfo.command", err) != 0)
        return -EINVAL;
    if (executor != NULL && validate_executor(c, executor, err) != 0)
        return -EINVAL;
    if (executor != NULL && group_executor == NULL &&
        !executor_compatible(c->agent, f->id, executor))
        return error_set(err, -EINVAL, "ExecutorInfo is not compatible with ExecutorInfo of "
                                       "existing executor '%s'", executor->executor_id->value);
    if (t->kill_policy != NULL && t->kill_policy->grace_period != NULL &&
        t->kill_policy->grace_period->nanoseconds < 0)
        return error_set(err, -EINVAL, "Task's 'kill_policy.grace_period' must be non-negative");
    if (health_validate_task(t, err) != 0)
        return -EINVAL;

    if (task_resources(c, t->resources, t->n_resources, res, role, err) != 0)
        return error_prefix(err, "Task '%s' has invalid resources", t->task_id->value);
    struct resources total = RESOURCES_INIT;
    resources_copy(&total, res);
    int new_executor = executor != NULL &&
                       !agent_has_executor(c->agent, f->id, executor->executor_id->value);
    if (new_executor && group_executor == NULL) {
        struct resources er = RESOURCES_INIT;
        const char *erole = NULL;
        if (task_resources(c, executor->resources, executor->n_resources, &er, &erole, err) != 0) {
            resources_free(&er);
            resources_free(&total);
            return error_prefix(err, "Executor '%s' has invalid resources",
                                executor->executor_id->value);
        }
        resources_add(&total, &er);
        if (exec_res != NULL)
            resources_copy(exec_res, &er);
        resources_free(&er);
    }
    if (resources_empty(&total)) {
        resources_free(&total);
        return error_set(err, -EINVAL, "Task '%s' uses no resources", t->task_id->value);
    }
    if (!resources_contains(&c->remaining, &total)) {
        struct buf want = BUF_INIT, have = BUF_INIT;
        resources_format(&total, &want);
        resources_format(&c->remaining, &have);
        error_set(err, -EINVAL, "Task '%s' uses more resources %s than available %s",
                  t->task_id->value, buf_cstr(&want), buf_cstr(&have));
        buf_free(&want);
        buf_free(&have);
        resources_free(&total);
        return -EINVAL;
    }
    resources_subtract(&c->remaining, &total);
    resources_free(&total);
    return 0;
}

static void send_run_task(struct launch_ctx *c, const Tepui__TaskInfo *t,
                          const struct resources *res)
{
    Tepui__TaskInfo copy = *t;
    copy.resources = resources_to_proto(res, &copy.n_resources);
    Tepui__Internal__AgentEvent ev = TEPUI__INTERNAL__AGENT_EVENT__INIT;
    Tepui__Internal__AgentEvent__RunTask rt = TEPUI__INTERNAL__AGENT_EVENT__RUN_TASK__INIT;
    rt.framework = c->f->info;
    rt.task = &copy;
    Tepui__ExecutorInfo exec;
    if (t->executor != NULL) {
        exec = *t->executor;
        if (exec.framework_id == NULL)
            exec.framework_id = c->f->info->id;
        rt.executor = &exec;
        copy.executor = &exec;
    }
    ev.has_type = 1;
    ev.type = TEPUI__INTERNAL__AGENT_EVENT__TYPE__RUN_TASK;
    ev.run_task = &rt;
    agent_send_event(c->agent, &ev);
    resources_proto_free(copy.resources, copy.n_resources);
}

static void launch(struct launch_ctx *c, const Tepui__Offer__Operation__Launch *op)
{
    struct framework *f = c->f;
    for (size_t i = 0; i < op->n_task_infos; i++) {
        const Tepui__TaskInfo *t = op->task_infos[i];
        struct error err = {0};
        struct resources res = RESOURCES_INIT, exec_res = RESOURCES_INIT;
        const char *role = NULL;
        if (launch_validate(c, t, NULL, &res, &role, &exec_res, &err) != 0) {
            log_info("framework %s: task %s is invalid: %s", f->id, t->task_id->value, err.msg);
            task_send_master_update(f, t->task_id->value, c->agent->id, TEPUI__TASK_STATE__TASK_ERROR,
                                    TEPUI__TASK_STATUS__REASON__REASON_TASK_INVALID, err.msg);
            resources_free(&res);
            resources_free(&exec_res);
            continue;
        }
        struct task *task = task_create(f, c->agent, t, &res, role,
                                        t->executor ? t->executor->executor_id : NULL);
        if (t->executor != NULL)
            agent_add_executor(c->agent, f->info->id, t->executor, &exec_res);
        resources_free(&exec_res);
        log_info("launching task %s of framework %s on agent %s", task->id, f->id, c->agent->id);
        send_run_task(c, t, &res);
        resources_free(&res);
    }
}

static void launch_group(struct launch_ctx *c, const Tepui__Offer__Operation__LaunchGroup *op)
{
    struct framework *f = c->f;
    const Tepui__TaskGroupInfo *g = op->task_group;
    struct error err = {0};
    size_t n = g ? g->n_tasks : 0;
    struct resources *res = xcalloc(n ? n : 1, sizeof(*res));
    const char **roles = xcalloc(n ? n : 1, sizeof(*roles));
    struct resources saved = RESOURCES_INIT, exec_res = RESOURCES_INIT;
    resources_copy(&saved, &c->remaining);
    int rc = 0;

    if (op->executor == NULL) {
        rc = error_set(&err, -EINVAL, "LAUNCH_GROUP needs an executor");
    } else if (n == 0) {
        rc = error_set(&err, -EINVAL, "The task group must contain at least one task");
    } else if (validate_executor(c, op->executor, &err) != 0) {
        rc = -EINVAL;
    } else if (!executor_compatible(c->agent, f->id, op->executor)) {
        rc = error_set(&err, -EINVAL, "ExecutorInfo is not compatible with ExecutorInfo of "
                                      "existing executor '%s'", op->executor->executor_id->value);
    } else if (!agent_has_executor(c->agent, f->id, op->executor->executor_id->value)) {
        const char *erole = NULL;
        rc = task_resources(c, op->executor->resources, op->executor->n_resources, &exec_res,
                            &erole, &err);
        if (rc == 0 && !resources_contains(&c->remaining, &exec_res))
            rc = error_set(&err, -EINVAL, "Executor '%s' uses more resources than available",
                           op->executor->executor_id->value);
        if (rc == 0)
            resources_subtract(&c->remaining, &exec_res);
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        for (size_t j = 0; j < i; j++)
            if (strcmp(g->tasks[i]->task_id->value, g->tasks[j]->task_id->value) == 0)
                rc = error_set(&err, -EINVAL, "Duplicate task %s in the task group",
                               g->tasks[i]->task_id->value);
        if (rc == 0)
            rc = launch_validate(c, g->tasks[i], op->executor, &res[i], &roles[i], NULL, &err);
    }

    if (rc != 0) {
        /* All or nothing: every task of the group fails together. */
        resources_free(&c->remaining);
        c->remaining = saved;
        log_info("framework %s: task group is invalid: %s", f->id, err.msg);
        for (size_t i = 0; i < n; i++)
            task_send_master_update(f, g->tasks[i]->task_id->value, c->agent->id,
                                    TEPUI__TASK_STATE__TASK_ERROR,
                                    TEPUI__TASK_STATUS__REASON__REASON_TASK_GROUP_INVALID, err.msg);
        goto out;
    }
    resources_free(&saved);

    Tepui__TaskGroupInfo group = *g;
    group.tasks = xcalloc(n, sizeof(*group.tasks));
    Tepui__TaskInfo *copies = xcalloc(n, sizeof(*copies));
    for (size_t i = 0; i < n; i++) {
        task_create(f, c->agent, g->tasks[i], &res[i], roles[i], op->executor->executor_id);
        copies[i] = *g->tasks[i];
        copies[i].resources = resources_to_proto(&res[i], &copies[i].n_resources);
        group.tasks[i] = &copies[i];
    }
    Tepui__ExecutorInfo exec = *op->executor;
    if (exec.framework_id == NULL)
        exec.framework_id = f->info->id;
    agent_add_executor(c->agent, f->info->id, &exec, &exec_res);
    Tepui__Internal__AgentEvent ev = TEPUI__INTERNAL__AGENT_EVENT__INIT;
    Tepui__Internal__AgentEvent__RunTaskGroup rg = TEPUI__INTERNAL__AGENT_EVENT__RUN_TASK_GROUP__INIT;
    rg.framework = f->info;
    rg.executor = &exec;
    rg.task_group = &group;
    ev.has_type = 1;
    ev.type = TEPUI__INTERNAL__AGENT_EVENT__TYPE__RUN_TASK_GROUP;
    ev.run_task_group = &rg;
    log_info("launching a group of %zu task(s) of framework %s on agent %s with executor %s", n,
             f->id, c->agent->id, exec.executor_id->value);
    agent_send_event(c->agent, &ev);
    for (size_t i = 0; i < n; i++)
        resources_proto_free(copies[i].resources, copies[i].n_resources);
    free(copies);
    free(group.tasks);
out:
    resources_free(&exec_res);
    for (size_t i = 0; i < n; i++)
        resources_free(&res[i]);
    free(res);
    free(roles);
}

/* Operation feedback (an operation with an id): the framework hears how
 * its operation ended. Speculative operations finish at once, so there is
 * no uuid to acknowledge, as Mesos does for operations on an agent's
 * default resources. */
static void send_operation_status(struct launch_ctx *c, const Tepui__Offer__Operation *op,
                                  Tepui__OperationState state, const char *message,
                                  const struct resources *converted)
{
    if (op->id == NULL)
        return;
    Tepui__Scheduler__Event ev = TEPUI__SCHEDULER__EVENT__INIT;
    Tepui__Scheduler__Event__UpdateOperationStatus u =
        TEPUI__SCHEDULER__EVENT__UPDATE_OPERATION_STATUS__INIT;
    Tepui__OperationStatus st = TEPUI__OPERATION_STATUS__INIT;
    st.operation_id = op->id;
    st.state = state;
    st.message = (char *)message;
    st.agent_id = c->agent->info->id;
    if (converted != NULL)
        st.converted_resources = resources_to_proto(converted, &st.n_converted_resources);
    u.status = &st;
    ev.has_type = 1;
    ev.type = TEPUI__SCHEDULER__EVENT__TYPE__UPDATE_OPERATION_STATUS;
    ev.update_operation_status = &u;
    framework_send_event(c->f, &ev);
    resources_proto_free(st.converted_resources, st.n_converted_resources);
}

static int framework_capable(const struct framework *f, Tepui__FrameworkInfo__Capability__Type t)
{
    for (size_t i = 0; i < f->info->n_capabilities; i++)
        if (f->info->capabilities[i]->has_type && f->info->capabilities[i]->type == t)
            return 1;
    return 0;
}

/* Entries without allocation_info get the offers' role (frameworks that
 * predate MULTI_ROLE send none); the others must name an offered role. */
static int allocate_to_offers(struct launch_ctx *c, struct resources *r, struct error *err)
{
    struct resources out = RESOURCES_INIT;
    for (size_t i = 0; i < r->n; i++) {
        struct resource *x = &r->v[i];
        if (x->allocation_role == NULL) {
            const char *role = c->roles[0];
            /* A reservation for one of the offers' roles is for that one. */
            for (size_t k = 0; k < c->n_roles && x->reservation_role; k++)
                if (strcmp(c->roles[k], x->reservation_role) == 0)
                    role = c->roles[k];
            x->allocation_role = xstrdup(role);
        } else {
            int offered = 0;
            for (size_t k = 0; k < c->n_roles; k++)
                offered |= strcmp(c->roles[k], x->allocation_role) == 0;
            if (!offered) {
                resources_free(&out);
                return error_set(err, -EINVAL, "Resources are allocated to role '%s', which "
                                               "none of the offers is", x->allocation_role);
            }
        }
    }
    resources_add(&out, r);
    resources_free(r);
    *r = out;
    return 0;
}

/* RESERVE, UNRESERVE, CREATE, DESTROY: applied to what is offered (so the
 * operations after it see the result), to the agent's total and to the
 * allocator's books; an invalid one is dropped and changes nothing. */
static void apply_resource_operation(struct launch_ctx *c, const Tepui__Offer__Operation *op)
{
    struct framework *f = c->f;
    struct master *m = f->master;
    struct error err = {0};
    struct operation o, plain;
    resources_init(&plain.consumed);
    resources_init(&plain.produced);
    struct operation_actor who = {
        .roles = f->roles,
        .n_roles = f->n_roles,
        .principal = f->info->principal,
        .refinement = framework_capable(
            f, TEPUI__FRAMEWORK_INFO__CAPABILITY__TYPE__RESERVATION_REFINEMENT),
        .shared = framework_capable(f, TEPUI__FRAMEWORK_INFO__CAPABILITY__TYPE__SHARED_RESOURCES),
    };
    int rc = operation_from_offer_operation(op, &who, &o, &err);
    if (rc == 0)
        rc = allocate_to_offers(c, &o.consumed, &err);
    if (rc == 0)
        rc = allocate_to_offers(c, &o.produced, &err);
    if (rc == 0 && o.kind == OPERATION_CREATE) {
        char id[300];
        if (operation_volume_overlap(&o.produced, &c->agent->total, id, sizeof(id)))
            rc = error_set(&err, -EEXIST, "Invalid CREATE operation: persistent volume id '%s' "
                                          "is already in use on agent %s", id, c->agent->id);
    }
    if (rc == 0)
        rc = operation_apply(&c->remaining, &o, &err);
    if (rc == 0) {
        operation_unallocated(&o, &plain);
        rc = operator_resources_apply(c->agent, &plain, &err);
        if (rc != 0) {
            /* The offer held it, so the total must: undo and report. */
            log_error("framework %s: agent %s's total disagrees with its offers: %s", f->id,
                      c->agent->id, err.msg);
            resources_subtract(&c->remaining, &o.produced);
            resources_add(&c->remaining, &o.consumed);
        }
    }
    if (rc != 0) {
        log_info("framework %s: dropping an offer operation on agent %s: %s", f->id,
                 c->agent->id, err.msg);
        send_operation_status(c, op, TEPUI__OPERATION_STATE__OPERATION_ERROR, err.msg, NULL);
        goto out;
    }
    allocator_update_allocation(m->allocator, f->id, c->agent->id, &o.consumed, &o.produced);
    log_info("framework %s: %s on agent %s done", f->id, operation_kind_name(o.kind),
             c->agent->id);
    send_operation_status(c, op, TEPUI__OPERATION_STATE__OPERATION_FINISHED, NULL, &o.produced);
out:
    operation_free(&o);
    operation_free(&plain);
}

void accept_offers(struct framework *f, const Tepui__Scheduler__Call__Accept *accept)
{
    struct master *m = f->master;
    struct error err = {0};
    struct agent *agent = NULL;

    if (validate_offers(f, accept, &agent, &err) != 0) {
        log_info("framework %s accepted invalid offers: %s", f->id, err.msg);
        struct drop_ctx d = {f, NULL};
        char msg[600];
        snprintf(msg, sizeof(msg), "Task launched with invalid offers: %s", err.msg);
        d.message = msg;
        tasks_of_operations(accept, drop_task, &d);
        /* The offers that were valid go back, with no filter. */
        Tepui__Filters none = TEPUI__FILTERS__INIT;
        none.has_refuse_seconds = 1;
        none.refuse_seconds = 0;
        master_decline_offers(f, accept->offer_ids, accept->n_offer_ids, &none);
        return;
    }

    struct launch_ctx c = {.f = f, .agent = agent};
    resources_init(&c.remaining);
    c.roles = xcalloc(accept->n_offer_ids, sizeof(char *));
    for (size_t i = 0; i < accept->n_offer_ids; i++) {
        struct offer *o = offer_find(m, accept->offer_ids[i]->value);
        resources_add(&c.remaining, &o->resources);
        int seen = 0;
        for (size_t k = 0; k < c.n_roles; k++)
            seen |= strcmp(c.roles[k], o->role) == 0;
        if (!seen)
            c.roles[c.n_roles++] = xstrdup(o->role);
        offer_discard(o);
        m->metrics.offers_accepted++;
    }

    for (size_t i = 0; i < accept->n_operations; i++) {
        const Tepui__Offer__Operation *op = accept->operations[i];
        Tepui__Offer__Operation__Type type = op->has_type ? op->type
                                                          : TEPUI__OFFER__OPERATION__TYPE__UNKNOWN;
        switch (type) {
        case TEPUI__OFFER__OPERATION__TYPE__LAUNCH:
            if (op->launch != NULL)
                launch(&c, op->launch);
            break;
        case TEPUI__OFFER__OPERATION__TYPE__LAUNCH_GROUP:
            if (op->launch_group != NULL)
                launch_group(&c, op->launch_group);
            break;
        case TEPUI__OFFER__OPERATION__TYPE__RESERVE:
        case TEPUI__OFFER__OPERATION__TYPE__UNRESERVE:
        case TEPUI__OFFER__OPERATION__TYPE__CREATE:
        case TEPUI__OFFER__OPERATION__TYPE__DESTROY:
            apply_resource_operation(&c, op);
            break;
        default:
            log_warn("framework %s: offer operation type %d is not supported yet; ignored", f->id,
                     (int)type);
            break;
        }
    }

    /* What no operation used goes back with the framework's filter. */
    if (!resources_empty(&c.remaining))
        allocator_recover(m->allocator, f->id, agent->id, &c.remaining,
                          master_refuse_seconds(accept->filters));
    resources_free(&c.remaining);
    for (size_t k = 0; k < c.n_roles; k++)
        free(c.roles[k]);
    free(c.roles);
}
