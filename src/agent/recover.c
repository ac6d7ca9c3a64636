/* Agent recovery, as Mesos's (docs/agent-recovery.md): a restarted agent
 * reads its checkpoint and, unless the machine rebooted or it was started
 * with --recover=cleanup, takes back its id, its frameworks, executors,
 * tasks and unacknowledged status updates. Executors that still run (the
 * checkpointed pid, if it still carries the container's id) get
 * --executor_reregistration_timeout to subscribe again; the others are gone
 * and their tasks end. The agent registers with the master once every
 * executor has re-subscribed or the timeout passed. --strict refuses a
 * checkpoint it cannot read in full; --reconfiguration_policy decides which
 * changes of --resources and --attributes a restart may make. What the
 * checkpoint holds and how it is stored is checkpoint.c's. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/checkpoint.h"
#include "agent/volumes.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "wire/pb.h"

#define LOG_COMPONENT "agent"

static void summary(const struct ckpt_state *st, struct buf *out)
{
    buf_printf(out, "agent %s, %zu framework(s), %zu executor(s), %zu task(s), %zu status "
               "update(s)", st->agent_id ? st->agent_id : "(no id)", st->n_frameworks,
               st->n_executors, st->n_tasks, st->n_updates);
}

/* Kills every checkpointed executor that still runs, and what it left. */
static void kill_all(struct agent *a, const struct ckpt_state *st)
{
    for (size_t i = 0; i < st->n_executors; i++)
        containers_kill_orphan(a, st->executors[i].container_id, st->executors[i].pid);
}

/* Forgets the checkpoint; the agent registers as a new one. */
static int start_afresh(struct agent *a, int set_aside, struct error *err)
{
    int rc = ckpt_reset(a, set_aside, err);
    if (rc != 0)
        return rc;
    log_info("registering as a new agent");
    return 0;
}

/* ---- agent info: what a restart may change (Mesos's compatibility.cpp) ---- */

static void attribute_text(const Tepui__Attribute *at, struct buf *b)
{
    if (at->scalar != NULL)
        buf_printf(b, "%g", at->scalar->value);
    else if (at->text != NULL)
        buf_append_str(b, at->text->value);
    else if (at->ranges != NULL) {
        buf_append_char(b, '[');
        for (size_t k = 0; k < at->ranges->n_range; k++)
            buf_printf(b, "%s%llu-%llu", k ? "," : "",
                       (unsigned long long)at->ranges->range[k]->begin,
                       (unsigned long long)at->ranges->range[k]->end);
        buf_append_char(b, ']');
    } else if (at->set != NULL) {
        buf_append_char(b, '{');
        for (size_t k = 0; k < at->set->n_item; k++)
            buf_printf(b, "%s%s", k ? "," : "", at->set->item[k]);
        buf_append_char(b, '}');
    }
}

static const Tepui__Attribute *attribute_find(const Tepui__AgentInfo *info, const char *name)
{
    for (size_t i = 0; i < info->n_attributes; i++)
        if (strcmp(info->attributes[i]->name, name) == 0)
            return info->attributes[i];
    return NULL;
}

static int ranges_within(const Tepui__Value__Ranges *in, const Tepui__Value__Ranges *out)
{
    for (size_t i = 0; i < in->n_range; i++) {
        int covered = 0;
        for (size_t k = 0; k < out->n_range && !covered; k++)
            covered = out->range[k]->begin <= in->range[i]->begin &&
                      in->range[i]->end <= out->range[k]->end;
        if (!covered)
            return 0;
    }
    return 1;
}

static int set_within(const Tepui__Value__Set *in, const Tepui__Value__Set *out)
{
    for (size_t i = 0; i < in->n_item; i++) {
        int found = 0;
        for (size_t k = 0; k < out->n_item && !found; k++)
            found = strcmp(in->item[i], out->item[k]) == 0;
        if (!found)
            return 0;
    }
    return 1;
}

/* Whether an attribute kept under the additive policy: same type, a
 * scalar or text unchanged, ranges and sets only grown. */
static int attribute_kept(const Tepui__Attribute *old, const Tepui__Attribute *now)
{
    if (old->type != now->type)
        return 0;
    if (old->scalar != NULL)
        return now->scalar != NULL && old->scalar->value == now->scalar->value;
    if (old->text != NULL)
        return now->text != NULL && strcmp(old->text->value, now->text->value) == 0;
    if (old->ranges != NULL)
        return now->ranges != NULL && ranges_within(old->ranges, now->ranges);
    if (old->set != NULL)
        return now->set != NULL && set_within(old->set, now->set);
    return 1;
}

static int attribute_equal(const Tepui__Attribute *x, const Tepui__Attribute *y)
{
    struct buf bx = BUF_INIT, by = BUF_INIT;
    attribute_text(x, &bx);
    attribute_text(y, &by);
    int same = x->type == y->type && strcmp(buf_cstr(&bx), buf_cstr(&by)) == 0;
    buf_free(&bx);
    buf_free(&by);
    return same;
}

/* Appends to why each change from old to the agent's info that the policy
 * does not allow; returns how many. */
static int incompatibilities(struct agent *a, const Tepui__AgentInfo *old, struct buf *why)
{
    const Tepui__AgentInfo *now = a->info;
    int additive = strcmp(a->flags.reconfiguration_policy, "additive") == 0;
    int n = 0;
#define DIFF(...) do { buf_printf(why, "%s", n++ ? "; " : ""); buf_printf(why, __VA_ARGS__); } while (0)
    if (strcmp(old->hostname, now->hostname) != 0)
        DIFF("hostname changed from %s to %s", old->hostname, now->hostname);
    if ((old->has_port ? old->port : 5051) != (now->has_port ? now->port : 5051))
        DIFF("port changed from %d to %d", (int)old->port, (int)now->port);

    struct resources was = RESOURCES_INIT;
    if (resources_from_proto(old->resources, old->n_resources, &was, NULL) != 0) {
        DIFF("the checkpointed resources cannot be read");
    } else if (additive ? !resources_contains(&a->total, &was) : !resources_equal(&a->total, &was)) {
        struct buf bo = BUF_INIT, bn = BUF_INIT;
        resources_format(&was, &bo);
        resources_format(&a->total, &bn);
        DIFF("resources changed from %s to %s%s", buf_cstr(&bo), buf_cstr(&bn),
             additive ? " (not a superset)" : "");
        buf_free(&bo);
        buf_free(&bn);
    }
    resources_free(&was);

    for (size_t i = 0; i < old->n_attributes; i++) {
        const Tepui__Attribute *o = old->attributes[i];
        const Tepui__Attribute *c = attribute_find(now, o->name);
        struct buf bo = BUF_INIT, bn = BUF_INIT;
        attribute_text(o, &bo);
        if (c == NULL) {
            DIFF("attribute %s:%s removed", o->name, buf_cstr(&bo));
        } else if (additive ? !attribute_kept(o, c) : !attribute_equal(o, c)) {
            attribute_text(c, &bn);
            DIFF("attribute %s changed from %s to %s", o->name, buf_cstr(&bo), buf_cstr(&bn));
        }
        buf_free(&bo);
        buf_free(&bn);
    }
    for (size_t i = 0; i < now->n_attributes && !additive; i++) {
        if (attribute_find(old, now->attributes[i]->name) == NULL) {
            struct buf bn = BUF_INIT;
            attribute_text(now->attributes[i], &bn);
            DIFF("attribute %s:%s added", now->attributes[i]->name, buf_cstr(&bn));
            buf_free(&bn);
        }
    }
#undef DIFF
    return n;
}

/* ---- consistency of what was read ---- */

struct key_entry {
    char *key;
    size_t index;
    UT_hash_handle hh;
};

static int key_add(struct key_entry **table, const char *a, const char *b, size_t index)
{
    char *key = xasprintf("%s\n%s", a, b ? b : "");
    struct key_entry *k = NULL;
    HASH_FIND_STR(*table, key, k);
    if (k != NULL) {
        free(key);
        return -1;
    }
    k = XNEW(struct key_entry);
    k->key = key;
    k->index = index;
    HASH_ADD_KEYPTR(hh, *table, k->key, strlen(k->key), k);
    return 0;
}

static int key_has(struct key_entry *table, const char *a, const char *b)
{
    char *key = xasprintf("%s\n%s", a, b ? b : "");
    struct key_entry *k = NULL;
    HASH_FIND_STR(table, key, k);
    free(key);
    return k != NULL;
}

static void keys_free(struct key_entry **table)
{
    struct key_entry *k, *tmp;
    HASH_ITER(hh, *table, k, tmp) {
        HASH_DEL(*table, k);
        free(k->key);
        free(k);
    }
}

struct usable {
    char *frameworks, *executors, *tasks;
};

/* Marks the rows that hang together; adds a problem for each that does not
 * (an executor without its framework, a task without its executor, a
 * duplicate, an agent without its id or info). */
static void check_consistency(struct ckpt_state *st, struct usable *u)
{
    u->frameworks = xcalloc(st->n_frameworks + 1, 1);
    u->executors = xcalloc(st->n_executors + 1, 1);
    u->tasks = xcalloc(st->n_tasks + 1, 1);
    int anything = st->n_frameworks || st->n_executors || st->n_tasks || st->n_updates;
    if (st->agent_id == NULL && (anything || st->agent_info != NULL))
        ckpt_state_add_problem(st, "the agent's id is missing");
    if (st->agent_id != NULL && st->agent_info == NULL)
        ckpt_state_add_problem(st, "the agent's AgentInfo is missing");
    if (st->agent_id != NULL && st->boot_id == NULL)
        ckpt_state_add_problem(st, "the boot id is missing");

    struct key_entry *fws = NULL, *execs = NULL, *tasks = NULL;
    for (size_t i = 0; i < st->n_frameworks; i++) {
        const char *id = st->frameworks[i].info->id->value;
        if (key_add(&fws, id, NULL, i) != 0)
            ckpt_state_add_problem(st, "framework %s is checkpointed twice", id);
        else
            u->frameworks[i] = 1;
    }
    for (size_t i = 0; i < st->n_executors; i++) {
        const struct ckpt_executor *e = &st->executors[i];
        const char *id = e->info->executor_id->value;
        if (!key_has(fws, e->framework_id, NULL))
            ckpt_state_add_problem(st, "executor %s of framework %s has no framework "
                                   "checkpointed", id, e->framework_id);
        else if (key_add(&execs, e->framework_id, id, i) != 0)
            ckpt_state_add_problem(st, "executor %s of framework %s is checkpointed twice", id,
                                   e->framework_id);
        else
            u->executors[i] = 1;
    }
    for (size_t i = 0; i < st->n_tasks; i++) {
        const struct ckpt_task *t = &st->tasks[i];
        const char *id = t->info->task_id->value;
        if (!key_has(execs, t->framework_id, t->executor_id))
            ckpt_state_add_problem(st, "task %s of framework %s has no executor %s checkpointed",
                                   id, t->framework_id, t->executor_id);
        else if (key_add(&tasks, t->framework_id, id, i) != 0)
            ckpt_state_add_problem(st, "task %s of framework %s is checkpointed twice", id,
                                   t->framework_id);
        else
            u->tasks[i] = 1;
    }
    keys_free(&fws);
    keys_free(&execs);
    keys_free(&tasks);
}

/* ---- rebuilding ---- */

/* Queued task groups, rebuilt from their tasks' rows (which name the group
 * by its first task). */
struct group_key {
    struct agent_executor *e;
    const char *key;
    Tepui__TaskGroupInfo *g;
};

static void queue_in_group(struct group_key **keys, size_t *n, struct agent_executor *e,
                           const char *key, const Tepui__TaskInfo *info)
{
    Tepui__TaskGroupInfo *g = NULL;
    for (size_t i = 0; i < *n && g == NULL; i++)
        if ((*keys)[i].e == e && strcmp((*keys)[i].key, key) == 0)
            g = (*keys)[i].g;
    if (g == NULL) {
        g = xmalloc(sizeof(*g));
        tepui__task_group_info__init(g);
        e->queued_groups = xrealloc(e->queued_groups,
                                    (e->n_queued_groups + 1) * sizeof(*e->queued_groups));
        e->queued_groups[e->n_queued_groups++] = g;
        *keys = xrealloc(*keys, (*n + 1) * sizeof(**keys));
        (*keys)[(*n)++] = (struct group_key){e, key, g};
    }
    g->tasks = xrealloc(g->tasks, (g->n_tasks + 1) * sizeof(*g->tasks));
    g->tasks[g->n_tasks++] = PB_COPY(Tepui__TaskInfo, info);
}

/* The group key of a queued task (its group's first task), or NULL. */
static const char *group_of(const struct agent_executor *e, const char *task_id)
{
    for (size_t i = 0; i < e->n_queued_groups; i++)
        for (size_t k = 0; k < e->queued_groups[i]->n_tasks; k++)
            if (strcmp(e->queued_groups[i]->tasks[k]->task_id->value, task_id) == 0)
                return e->queued_groups[i]->tasks[0]->task_id->value;
    return NULL;
}

static void rebuild(struct agent *a, struct ckpt_state *st, const struct usable *u)
{
    for (size_t i = 0; i < st->n_frameworks; i++) {
        if (!u->frameworks[i])
            continue;
        struct agent_framework *f = XNEW(struct agent_framework);
        f->info = st->frameworks[i].info;
        st->frameworks[i].info = NULL;
        f->id = xstrdup(f->info->id->value);
        f->ckpt_seq = st->frameworks[i].seq;
        HASH_ADD_KEYPTR(hh, a->frameworks, f->id, strlen(f->id), f);
    }
    for (size_t i = 0; i < st->n_executors; i++) {
        if (!u->executors[i])
            continue;
        struct ckpt_executor *ce = &st->executors[i];
        struct agent_framework *f = agent_find_framework(a, ce->framework_id);
        struct agent_executor *e = XNEW(struct agent_executor);
        e->agent = a;
        e->framework = f;
        e->info = ce->info;
        ce->info = NULL;
        e->id = xstrdup(e->info->executor_id->value);
        snprintf(e->container_id, sizeof(e->container_id), "%s", ce->container_id);
        e->directory = ce->directory;
        ce->directory = NULL;
        e->command_executor = ce->command_executor;
        e->state = EXECUTOR_LAUNCHING;
        e->pid = ce->pid;
        e->pidfd = -1;
        e->adopted = 1;
        e->ckpt_seq = ce->seq;
        HASH_ADD_KEYPTR(hh, f->executors, e->id, strlen(e->id), e);
    }
    /* Queued groups come back in the order their tasks were checkpointed. */
    struct group_key *keys = NULL;
    size_t n_keys = 0;
    for (size_t i = 0; i < st->n_tasks; i++) {
        if (!u->tasks[i])
            continue;
        struct ckpt_task *ct = &st->tasks[i];
        struct agent_executor *e = agent_find_executor(a, ct->framework_id, ct->executor_id);
        struct agent_task *t = XNEW(struct agent_task);
        t->info = ct->info;
        ct->info = NULL;
        t->id = xstrdup(t->info->task_id->value);
        t->executor = e;
        t->state = (task_state_t)ct->state;
        t->launched = ct->launched;
        t->ckpt_seq = ct->seq;
        HASH_ADD_KEYPTR(hh, e->tasks, t->id, strlen(t->id), t);
        if (!t->launched && ct->group != NULL)
            queue_in_group(&keys, &n_keys, e, ct->group, t->info);
    }
    free(keys);
    /* A task's state is its newest update's, acknowledged or not. */
    for (size_t i = 0; i < st->n_updates; i++) {
        struct ckpt_update *cu = &st->updates[i];
        struct agent_task *t = agent_find_task(a, cu->framework_id, cu->status->task_id->value,
                                               NULL);
        if (t != NULL && !task_state_is_terminal(t->state))
            t->state = cu->status->state;
        updates_recover(a, cu->framework_id, cu->status, cu->seq);
        cu->status = NULL;
    }
}

/* After a damaged checkpoint: what was recovered goes into a new file. */
static int rewrite(struct agent *a, struct error *err)
{
    int rc = ckpt_reset(a, 1, err);
    if (rc != 0)
        return rc;
    ckpt_agent(a);
    struct agent_framework *f, *ftmp;
    HASH_ITER(hh, a->frameworks, f, ftmp) {
        f->ckpt_seq = 0;
        ckpt_framework(a, f);
        struct agent_executor *e, *etmp;
        HASH_ITER(hh, f->executors, e, etmp) {
            e->ckpt_seq = 0;
            ckpt_executor(a, e);
            struct agent_task *t, *ttmp;
            HASH_ITER(hh, e->tasks, t, ttmp) {
                ckpt_task(a, e, t, t->launched ? NULL : group_of(e, t->id));
            }
        }
    }
    updates_checkpoint_all(a);
    ckpt_sync(a);
    return 0;
}

/* ---- waiting for executors ---- */

static void recovery_finish(struct agent *a)
{
    if (!a->recovering)
        return;
    a->recovering = 0;
    if (a->reregistration_timer != NULL)
        evtimer_del(a->reregistration_timer);
    a->metrics.recovery_time_secs = clock_mono() - a->recovery_started;
    log_info("recovery finished in %.3f s", a->metrics.recovery_time_secs);
    master_link_start(a);
}

static void reregistration_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct agent *a = arg;
    (void)fd;
    (void)what;
    char limit[32];
    flags_format_duration(a->flags.executor_reregistration_timeout, limit, sizeof(limit));
    struct agent_framework *f, *ftmp;
    HASH_ITER(hh, a->frameworks, f, ftmp) {
        struct agent_executor *e, *etmp;
        HASH_ITER(hh, f->executors, e, etmp) {
            if (!e->recovered)
                continue;
            log_warn("executor %s of framework %s did not re-subscribe within %s; destroying it",
                     e->id, f->id, limit);
            e->recovered = 0;
            e->reason_set = 1;
            e->reason = TEPUI__TASK_STATUS__REASON__REASON_EXECUTOR_REREGISTRATION_TIMEOUT;
            free(e->reason_message);
            e->reason_message = xasprintf("Executor did not reregister within %s", limit);
            e->state = EXECUTOR_TERMINATING;
            /* Its end comes from its pidfd. */
            containers_destroy(a, e);
        }
    }
    a->awaiting_executors = 0;
    recovery_finish(a);
}

void recover_executor_subscribed(struct agent *a, struct agent_executor *e,
                                 const Tepui__Executor__Call__Subscribe *s)
{
    e->recovered = 0;
    if (a->awaiting_executors > 0)
        a->awaiting_executors--;
    log_info("executor %s of framework %s re-subscribed after the agent's restart", e->id,
             e->framework->id);
    /* As Mesos: a task the agent handed over that is still STAGING and
     * that the executor does not know never reached it. */
    int pa = 0;
    for (size_t i = 0; i < e->framework->info->n_capabilities; i++)
        pa |= e->framework->info->capabilities[i]->has_type &&
              e->framework->info->capabilities[i]->type ==
                  TEPUI__FRAMEWORK_INFO__CAPABILITY__TYPE__PARTITION_AWARE;
    struct agent_task *t, *tmp;
    HASH_ITER(hh, e->tasks, t, tmp) {
        if (!t->launched || t->state != TEPUI__TASK_STATE__TASK_STAGING)
            continue;
        int known = 0;
        for (size_t i = 0; i < s->n_unacknowledged_tasks && !known; i++)
            known = strcmp(s->unacknowledged_tasks[i]->task_id->value, t->id) == 0;
        if (!known)
            tasks_agent_update(a, e, t,
                               pa ? TEPUI__TASK_STATE__TASK_DROPPED : TEPUI__TASK_STATE__TASK_LOST,
                               TEPUI__TASK_STATUS__REASON__REASON_AGENT_RESTARTED,
                               "Task launched during agent restart");
    }
    /* A command executor has one task: without it, it has nothing to do
     * (Mesos shuts such executors down too). */
    if (e->command_executor && e->tasks == NULL && e->n_queued_groups == 0) {
        log_warn("shutting down executor %s of framework %s: it has no task the agent knows of",
                 e->id, e->framework->id);
        containers_shutdown(a, e);
    }
    if (a->recovering && a->awaiting_executors == 0)
        recovery_finish(a);
}

void recover_executor_gone(struct agent *a, struct agent_executor *e)
{
    if (!e->recovered)
        return;
    e->recovered = 0;
    if (a->awaiting_executors > 0)
        a->awaiting_executors--;
    if (a->recovering && a->awaiting_executors == 0)
        recovery_finish(a);
}

void recover_stop(struct agent *a)
{
    a->recovering = 0;
    if (a->reregistration_timer != NULL)
        event_free(a->reregistration_timer);
    a->reregistration_timer = NULL;
}

/* ---- the procedure ---- */

static void log_problems(const struct ckpt_state *st, int fatal)
{
    for (size_t i = 0; i < st->n_problems; i++) {
        if (fatal)
            log_error("checkpoint: %s", st->problems[i]);
        else
            log_warn("checkpoint: %s (not recovered)", st->problems[i]);
    }
}

static int refuse(struct agent *a, const struct ckpt_state *st, struct error *err)
{
    log_problems(st, 1);
    struct buf got = BUF_INIT;
    summary(st, &got);
    error_set(err, -EINVAL,
              "refusing to start: the checkpoint %s cannot be recovered in full (%zu problem(s), "
              "the first: %s). It could recover: %s. Start with --no-strict to recover what can "
              "be, or with --recover=cleanup to kill its executors and register as a new agent",
              ckpt_path(a), st->n_problems, st->problems[0], buf_cstr(&got));
    buf_free(&got);
    return -EINVAL;
}

/* Takes the executors back: those still running wait for their
 * re-subscription, the others are gone. Returns how many wait. */
static size_t reattach_all(struct agent *a)
{
    size_t waiting = 0;
    struct agent_framework *f, *ftmp;
    HASH_ITER(hh, a->frameworks, f, ftmp) {
        struct agent_executor *e, *etmp;
        HASH_ITER(hh, f->executors, e, etmp) {
            if (containers_reattach(a, e)) {
                e->recovered = 1;
                waiting++;
                log_info("executor %s of framework %s still runs (pid %d); waiting for it to "
                         "re-subscribe", e->id, f->id, (int)e->pid);
                continue;
            }
            log_warn("executor %s of framework %s ended while the agent was down", e->id, f->id);
            containers_kill_orphan(a, e->container_id, 0);
            e->pid = 0;
            tasks_executor_terminated(a, e, -1);
        }
    }
    return waiting;
}

int recover_start(struct agent *a, struct error *err)
{
    a->recovery_started = clock_mono();
    int cleanup = strcmp(a->flags.recover, "cleanup") == 0;
    struct error open_err = {0};
    if (ckpt_open(a, &open_err) != 0) {
        if (a->ckpt == NULL || (a->flags.strict && !cleanup))
            return error_set(err, open_err.code ? open_err.code : -EIO,
                             "refusing to start: %s. Start with --no-strict to register as a "
                             "new agent (the damaged file is kept aside)", open_err.msg);
        log_error("%s: nothing can be recovered from it", open_err.msg);
        a->metrics.recovery_errors++;
        return start_afresh(a, 1, err);
    }
    struct ckpt_state st;
    ckpt_load(a, &st);
    int rc = 0;
    struct usable u = {0};
    char boot_id[64];
    ckpt_read_boot_id(boot_id, sizeof(boot_id));
    int empty = st.agent_id == NULL && st.agent_info == NULL && st.n_frameworks == 0 &&
                st.n_executors == 0 && st.n_tasks == 0 && st.n_updates == 0 &&
                st.n_problems == 0;
    if (empty) {
        log_info("no checkpoint in %s: this is a new agent", ckpt_path(a));
        goto out;
    }
    struct buf got = BUF_INIT;
    summary(&st, &got);
    log_info("recovering from %s: %s", ckpt_path(a), buf_cstr(&got));
    buf_free(&got);

    if (cleanup) {
        log_info("--recover=cleanup: killing the executors of the previous run");
        log_problems(&st, 0);
        kill_all(a, &st);
        rc = start_afresh(a, st.n_problems > 0, err);
        goto out;
    }
    if (st.boot_id != NULL && boot_id[0] != '\0' && strcmp(st.boot_id, boot_id) != 0) {
        /* Its executors went with the machine; a process with a reused pid
         * is not taken for one (kill_all checks the container id). */
        log_info("the machine rebooted since the agent's last run (boot id %s, now %s)",
                 st.boot_id, boot_id);
        log_problems(&st, 0);
        kill_all(a, &st);
        rc = start_afresh(a, st.n_problems > 0, err);
        goto out;
    }
    check_consistency(&st, &u);
    if (st.n_problems > 0 && a->flags.strict) {
        rc = refuse(a, &st, err);
        goto out;
    }
    if (st.agent_id == NULL || st.agent_info == NULL) {
        log_problems(&st, 0);
        log_warn("the agent's identity cannot be recovered: killing the executors of the "
                 "previous run");
        a->metrics.recovery_errors += st.n_problems;
        kill_all(a, &st);
        rc = start_afresh(a, 1, err);
        goto out;
    }
    struct buf why = BUF_INIT;
    if (incompatibilities(a, st.agent_info, &why) > 0) {
        log_error("old agent info: hostname %s, port %d; new: hostname %s, port %d",
                  st.agent_info->hostname, (int)st.agent_info->port, a->info->hostname,
                  (int)a->info->port);
        rc = error_set(err, -EINVAL,
                       "Incompatible agent info detected (--reconfiguration_policy=%s): %s. "
                       "To keep the agent id, restore the flags (or use a more permissive "
                       "--reconfiguration_policy); to start as a new agent, remove %s",
                       a->flags.reconfiguration_policy, buf_cstr(&why), ckpt_path(a));
        buf_free(&why);
        goto out;
    }
    buf_free(&why);

    /* The agent is who it was. */
    a->id = xstrdup(st.agent_id);
    a->info->id = xmalloc(sizeof(*a->info->id));
    tepui__agent_id__init(a->info->id);
    a->info->id->value = xstrdup(st.agent_id);
    volumes_recover(a, st.agent_info, st.resources);
    rebuild(a, &st, &u);
    if (st.n_problems > 0) {
        log_problems(&st, 0);
        a->metrics.recovery_errors += st.n_problems;
        if ((rc = rewrite(a, err)) != 0)
            goto out;
    }
    size_t waiting = reattach_all(a);
    a->awaiting_executors = waiting;
    log_info("recovered agent %s: %zu executor(s) to re-subscribe", a->id, waiting);
    if (waiting > 0) {
        a->recovering = 1;
        a->reregistration_timer = evtimer_new(a->base, reregistration_timeout, a);
        struct timeval tv = clock_timeval(a->flags.executor_reregistration_timeout);
        evtimer_add(a->reregistration_timer, &tv);
        rc = 1;
    } else {
        a->metrics.recovery_time_secs = clock_mono() - a->recovery_started;
    }
out:
    /* As Mesos: container cgroups that no checkpoint knows are destroyed. */
    if (rc >= 0)
        containers_cleanup_unknown(a);
    free(u.frameworks);
    free(u.executors);
    free(u.tasks);
    ckpt_state_free(&st);
    return rc;
}
