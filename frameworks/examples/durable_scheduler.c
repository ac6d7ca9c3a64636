/* An example scheduler that survives its own death: it keeps a journal of
 * its framework id, of every task it launches (before the ACCEPT goes out)
 * and of every terminal state it is told, so a new process started with the
 * same --state_dir takes the framework over (same framework id, within the
 * failover timeout), reconciles the tasks whose end it has not seen, and
 * goes on until all --tasks tasks have ended. The pattern every framework
 * needs for failover, and the chaos test's workload.
 *
 *   build/examples/durable_scheduler --master=127.0.0.1:5050 --state_dir=DIR --tasks=1000
 *
 * Each task runs --command with "%s" replaced by the task id. The journal
 * (DIR/journal) has lines "F <framework id>", "L <task> <agent id>" and
 * "T <task> <state>"; the scheduler exits 0 when every task has a T line. */
#include <errno.h>
#include <stdarg.h>
#include <event2/event.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uthash.h>

#include "common/clock.h"
#include "common/flags.h"
#include "common/log.h"
#include "common/task_state.h"
#include "common/xalloc.h"
#include "tepui/scheduler.h"
#include "wire/pb.h"

struct dtask {
    char *id;
    char *agent_id;            /* where it was launched */
    int launched;
    int ended;
    UT_hash_handle hh;
};

struct dsched {
    struct event_base *base;
    struct tepui_scheduler *sched;
    char *state_dir;
    char *command;
    int n_tasks;
    int next;                  /* next task number to launch */
    int ended;
    int journal;               /* fd */
    char framework_id[256];
    struct dtask *tasks;
    struct event *reconcile_timer;
    int max_in_flight;
};

static void journal(struct dsched *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void journal(struct dsched *d, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
    va_end(ap);
    line[n++] = '\n';
    /* Durable before anything that depends on it happens. */
    if (write(d->journal, line, (size_t)n) != n || fdatasync(d->journal) != 0) {
        fprintf(stderr, "durable_scheduler: cannot write the journal: %s\n", strerror(errno));
        exit(1);
    }
}

static struct dtask *task_get(struct dsched *d, const char *id)
{
    struct dtask *t = NULL;
    HASH_FIND_STR(d->tasks, id, t);
    if (t == NULL) {
        t = XNEW(struct dtask);
        t->id = xstrdup(id);
        HASH_ADD_KEYPTR(hh, d->tasks, t->id, strlen(t->id), t);
    }
    return t;
}

static void load_journal(struct dsched *d)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/journal", d->state_dir);
    FILE *f = fopen(path, "r");
    if (f != NULL) {
        char line[1024];
        while (fgets(line, sizeof(line), f) != NULL) {
            char a[512] = "", b[512] = "";
            if (line[0] == 'F' && sscanf(line, "F %255s", d->framework_id) == 1)
                continue;
            if (line[0] == 'L' && sscanf(line, "L %511s %511s", a, b) == 2) {
                struct dtask *t = task_get(d, a);
                t->launched = 1;
                free(t->agent_id);
                t->agent_id = xstrdup(b);
                int num = atoi(a + 1);
                if (num + 1 > d->next)
                    d->next = num + 1;
            } else if (line[0] == 'T' && sscanf(line, "T %511s %511s", a, b) == 2) {
                struct dtask *t = task_get(d, a);
                if (!t->ended)
                    d->ended++;
                t->ended = 1;
            }
        }
        fclose(f);
    }
    d->journal = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (d->journal < 0) {
        fprintf(stderr, "durable_scheduler: cannot open %s: %s\n", path, strerror(errno));
        exit(1);
    }
}

static int in_flight(struct dsched *d)
{
    return d->next - d->ended;
}

/* Asks about every task launched whose end we have not seen. */
static void reconcile(struct dsched *d)
{
    size_t n = 0;
    struct dtask *t, *tmp;
    HASH_ITER(hh, d->tasks, t, tmp) {
        if (t->launched && !t->ended)
            n++;
    }
    if (n == 0)
        return;
    const char **ids = xcalloc(n, sizeof(char *));
    const char **agents = xcalloc(n, sizeof(char *));
    size_t k = 0;
    HASH_ITER(hh, d->tasks, t, tmp) {
        if (t->launched && !t->ended) {
            ids[k] = t->id;
            agents[k] = t->agent_id;
            k++;
        }
    }
    tepui_scheduler_reconcile(d->sched, ids, agents, n, NULL, NULL);
    free(ids);
    free(agents);
}

static void reconcile_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct dsched *d = arg;
    if (tepui_scheduler_is_subscribed(d->sched))
        reconcile(d);
}

static void on_subscribed(struct tepui_scheduler *s, const Tepui__Scheduler__Event__Subscribed *e,
                          void *arg)
{
    struct dsched *d = arg;
    (void)s;
    if (strcmp(d->framework_id, e->framework_id->value) != 0) {
        snprintf(d->framework_id, sizeof(d->framework_id), "%s", e->framework_id->value);
        journal(d, "F %s", d->framework_id);
    }
    fprintf(stderr, "durable_scheduler: subscribed as %s; %d of %d tasks ended\n", d->framework_id,
            d->ended, d->n_tasks);
    reconcile(d);
    tepui_scheduler_revive(d->sched, NULL, 0, NULL, NULL);
}

static void on_offers(struct tepui_scheduler *s, const Tepui__Scheduler__Event__Offers *e, void *arg)
{
    struct dsched *d = arg;
    for (size_t i = 0; i < e->n_offers; i++) {
        const Tepui__Offer *o = e->offers[i];
        double cpus = 0, mem = 0;
        for (size_t k = 0; k < o->n_resources; k++) {
            if (o->resources[k]->scalar == NULL)
                continue;
            if (strcmp(o->resources[k]->name, "cpus") == 0)
                cpus += o->resources[k]->scalar->value;
            if (strcmp(o->resources[k]->name, "mem") == 0)
                mem += o->resources[k]->scalar->value;
        }
        Tepui__TaskInfo **infos = NULL;
        size_t n = 0;
        const char *role = o->allocation_info ? o->allocation_info->role : "*";
        while (d->next < d->n_tasks && cpus >= 0.1 && mem >= 16 && in_flight(d) < d->max_in_flight) {
            char id[32], cmd[1024];
            snprintf(id, sizeof(id), "t%d", d->next++);
            snprintf(cmd, sizeof(cmd), d->command, id);
            struct dtask *t = task_get(d, id);
            t->launched = 1;
            t->agent_id = xstrdup(o->agent_id->value);
            journal(d, "L %s %s", id, o->agent_id->value);
            infos = xrealloc(infos, (n + 1) * sizeof(*infos));
            infos[n++] = tepui_task_command_new(id, id, o->agent_id->value, cmd, 0.1, 16, role);
            cpus -= 0.1;
            mem -= 16;
        }
        Tepui__OfferID *ids[1] = {o->id};
        Tepui__Filters filters = TEPUI__FILTERS__INIT;
        filters.has_refuse_seconds = 1;
        filters.refuse_seconds = 0.5;
        if (n == 0) {
            tepui_scheduler_decline(s, ids, 1, &filters, NULL, NULL);
            continue;
        }
        Tepui__Offer__Operation *op = tepui_operation_launch_new(infos, n);
        Tepui__Offer__Operation *ops[1] = {op};
        tepui_scheduler_accept(s, ids, 1, ops, 1, &filters, NULL, NULL);
        tepui_message_free(op);
        for (size_t k = 0; k < n; k++)
            tepui_message_free(infos[k]);
        free(infos);
    }
}

static void on_update(struct tepui_scheduler *s, const Tepui__Scheduler__Event__Update *e, void *arg)
{
    struct dsched *d = arg;
    const Tepui__TaskStatus *st = e->status;
    struct dtask *t = task_get(d, st->task_id->value);
    if (task_state_is_terminal(st->state) && !t->ended) {
        /* Journaled before the acknowledgement: if we die in between, the
         * update comes again and finds the task ended. */
        journal(d, "T %s %s", t->id, task_state_name(st->state));
        t->ended = 1;
        d->ended++;
    }
    if (st->has_uuid)
        tepui_scheduler_acknowledge(s, st->agent_id->value, st->task_id->value, st->uuid.data,
                                    st->uuid.len, NULL, NULL);
    if (d->ended >= d->n_tasks)
        event_base_loopbreak(d->base);
}

static void on_error(struct tepui_scheduler *s, const char *message, void *arg)
{
    (void)s;
    fprintf(stderr, "durable_scheduler: error from the master: %s\n", message);
    event_base_loopbreak(((struct dsched *)arg)->base);
}

int main(int argc, char **argv)
{
    struct dsched d = {0};
    char *master = NULL;
    double failover_timeout = 0;
    struct flag_def defs[] = {
        {"master", FLAG_STRING, &master, "127.0.0.1:5050", "The master (HOST:PORT or zk://...)"},
        {"state_dir", FLAG_STRING, &d.state_dir, NULL, "Where the journal lives (required)"},
        {"tasks", FLAG_INT, &d.n_tasks, "100", "How many tasks to run"},
        {"max_in_flight", FLAG_INT, &d.max_in_flight, "50", "Tasks launched but not ended at most"},
        {"command", FLAG_STRING, &d.command, "true", "Each task's command (%s: the task id)"},
        {"failover_timeout", FLAG_DURATION, &failover_timeout, "1hrs",
         "How long the master keeps the framework while no scheduler is connected"},
    };
    struct flag_set fs = {.program = "durable_scheduler", .defs = defs,
                          .n = sizeof(defs) / sizeof(defs[0])};
    struct error err = {0};
    int rc = flags_parse(&fs, argc, argv, NULL, NULL, &err);
    if (rc != 0 || d.state_dir == NULL) {
        fprintf(stderr, "durable_scheduler: %s\n", rc ? err.msg : "--state_dir is required");
        return 2;
    }
    log_set_level(LOG_LEVEL_WARN);
    load_journal(&d);
    if (d.ended >= d.n_tasks) {
        printf("all %d tasks ended\n", d.n_tasks);
        return 0;
    }

    Tepui__FrameworkInfo fi = TEPUI__FRAMEWORK_INFO__INIT;
    Tepui__FrameworkID fid = TEPUI__FRAMEWORK_ID__INIT;
    struct passwd *pw = getpwuid(getuid());
    fi.user = pw ? pw->pw_name : "root";
    fi.name = "durable-scheduler";
    fi.has_failover_timeout = 1;
    fi.failover_timeout = failover_timeout;
    fi.has_checkpoint = 1;
    fi.checkpoint = 1;
    Tepui__FrameworkInfo__Capability pa = TEPUI__FRAMEWORK_INFO__CAPABILITY__INIT;
    Tepui__FrameworkInfo__Capability *caps[1] = {&pa};
    pa.has_type = 1;
    pa.type = TEPUI__FRAMEWORK_INFO__CAPABILITY__TYPE__PARTITION_AWARE;
    fi.capabilities = caps;
    fi.n_capabilities = 1;
    if (d.framework_id[0] != '\0') {
        fid.value = d.framework_id;
        fi.id = &fid;
    }
    d.base = event_base_new();
    struct tepui_scheduler_options so = {.master = master, .auto_reconnect = 1,
                                         .backoff_max_secs = 2};
    struct tepui_scheduler_callbacks cb = {.subscribed = on_subscribed, .offers = on_offers,
                                           .update = on_update, .error = on_error};
    d.sched = tepui_scheduler_new(d.base, &fi, &so, &cb, &d);
    if (d.sched == NULL || tepui_scheduler_start(d.sched) != 0) {
        fprintf(stderr, "durable_scheduler: cannot start\n");
        return 1;
    }
    /* Unanswered reconciliation (an agent still recovering) is asked again. */
    d.reconcile_timer = event_new(d.base, -1, EV_PERSIST, reconcile_cb, &d);
    struct timeval tv = {5, 0};
    event_add(d.reconcile_timer, &tv);
    event_base_dispatch(d.base);

    int done = d.ended >= d.n_tasks;
    printf("%s: %d of %d tasks ended\n", done ? "done" : "stopped", d.ended, d.n_tasks);
    tepui_scheduler_free(d.sched);
    event_free(d.reconcile_timer);
    event_base_loop(d.base, EVLOOP_NONBLOCK);
    event_base_free(d.base);
    struct dtask *t, *tmp;
    HASH_ITER(hh, d.tasks, t, tmp) {
        HASH_DEL(d.tasks, t);
        free(t->id);
        free(t->agent_id);
        free(t);
    }
    close(d.journal);
    flags_free(&fs);
    return done ? 0 : 1;
}
