/* Launch benchmark: a scheduler on libtepui that launches N short command
 * tasks as fast as offers allow and prints the throughput and the latency
 * from ACCEPT to TASK_RUNNING and to TASK_FINISHED (p50, p99).
 *
 *   build/bench/launch --master=127.0.0.1:5050 --tasks=2000 [--checkpoint]
 *   [--image=NAME]   (the command runs inside a container image)
 *
 * bench/launch.sh runs it against a fresh master and agent and compares it
 * with Slurm and with the machine's raw process-spawn rate. */
#include <math.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/flags.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "tepui/scheduler.h"
#include "wire/pb.h"

struct task_times {
    int64_t accepted, running, finished;
};

struct bench {
    struct event_base *base;
    struct tepui_scheduler *sched;
    int tasks;
    double cpus, mem;
    char *command;
    int window;                 /* tasks in flight at most (0: no limit) */
    Tepui__ExecutorInfo *executor;   /* custom executor mode: tasks are its work items */
    char *image;                /* a DOCKER image the command runs in, or NULL */
    int launched, finished, failed;
    struct task_times *t;
    int64_t first_accept, last_finish;
    int suppressed;
    /* Offers kept while the window is full: the master may give resources
     * back (and offer them) before the scheduler sees the task's end. */
    Tepui__Offer **held;
    size_t n_held;
};

static void use_offer(struct bench *b, const Tepui__Offer *o);

static int task_index(const char *id)
{
    return (int)strtol(id + 1, NULL, 10);
}

/* Turns a command task into a work item of the custom executor: no process
 * per task, only the control plane (and only the terminal update). */
static void make_executor_task(struct bench *b, Tepui__TaskInfo *t)
{
    pb_free(t->command);
    t->command = NULL;
    t->executor = PB_COPY(Tepui__ExecutorInfo, b->executor);
    t->has_data = 1;
    t->data.data = (uint8_t *)xstrdup("done");
    t->data.len = 4;
    Tepui__Label quiet = TEPUI__LABEL__INIT;
    Tepui__Label *lp = &quiet;
    Tepui__Labels labels = TEPUI__LABELS__INIT;
    quiet.key = "quiet";
    quiet.value = "1";
    labels.labels = &lp;
    labels.n_labels = 1;
    t->labels = PB_COPY(Tepui__Labels, &labels);
}

/* Runs a command task inside an image, as Mesos's unified containerizer
 * (ContainerInfo MESOS with a DOCKER image). */
static void set_image(Tepui__TaskInfo *t, const char *image)
{
    Tepui__Image__Docker docker = TEPUI__IMAGE__DOCKER__INIT;
    Tepui__Image img = TEPUI__IMAGE__INIT;
    Tepui__ContainerInfo__MesosInfo mesos = TEPUI__CONTAINER_INFO__MESOS_INFO__INIT;
    Tepui__ContainerInfo c = TEPUI__CONTAINER_INFO__INIT;
    docker.name = (char *)image;
    img.type = TEPUI__IMAGE__TYPE__DOCKER;
    img.docker = &docker;
    mesos.image = &img;
    c.type = TEPUI__CONTAINER_INFO__TYPE__MESOS;
    c.mesos = &mesos;
    t->container = PB_COPY(Tepui__ContainerInfo, &c);
}

static void use_offer(struct bench *b, const Tepui__Offer *o)
{
    struct tepui_scheduler *s = b->sched;
    double cpus = 0, mem = 0;
    for (size_t k = 0; k < o->n_resources; k++) {
        if (strcmp(o->resources[k]->name, "cpus") == 0 && o->resources[k]->scalar)
            cpus += o->resources[k]->scalar->value;
        if (strcmp(o->resources[k]->name, "mem") == 0 && o->resources[k]->scalar)
            mem += o->resources[k]->scalar->value;
    }
    int fit = (int)fmin(floor(cpus / b->cpus + 1e-9), floor(mem / b->mem + 1e-9));
    int n = b->tasks - b->launched;
    if (n > fit)
        n = fit;
    if (b->window > 0 && n > b->window - (b->launched - b->finished))
        n = b->window - (b->launched - b->finished);
    Tepui__OfferID *ids[1] = {o->id};
    Tepui__Filters filters = TEPUI__FILTERS__INIT;
    filters.has_refuse_seconds = 1;
    filters.refuse_seconds = 0;
    if (n <= 0 && b->launched < b->tasks) {
        b->held = xrealloc(b->held, (b->n_held + 1) * sizeof(*b->held));
        b->held[b->n_held++] = PB_COPY(Tepui__Offer, o);
        return;
    }
    if (n <= 0) {
        tepui_scheduler_decline(s, ids, 1, &filters, NULL, NULL);
        return;
    }
    Tepui__TaskInfo **infos = xcalloc((size_t)n, sizeof(*infos));
    const char *role = o->allocation_info ? o->allocation_info->role : "*";
    int64_t now = clock_mono_ns();
    for (int k = 0; k < n; k++) {
        char id[32];
        snprintf(id, sizeof(id), "t%d", b->launched);
        b->t[b->launched].accepted = now;
        b->launched++;
        infos[k] = tepui_task_command_new(id, id, o->agent_id->value, b->command, b->cpus, b->mem,
                                          role);
        if (b->executor != NULL)
            make_executor_task(b, infos[k]);
        else if (b->image != NULL && b->image[0] != '\0')
            set_image(infos[k], b->image);
    }
    if (b->first_accept == 0)
        b->first_accept = now;
    Tepui__Offer__Operation *op = tepui_operation_launch_new(infos, (size_t)n);
    Tepui__Offer__Operation *ops[1] = {op};
    tepui_scheduler_accept(s, ids, 1, ops, 1, &filters, NULL, NULL);
    tepui_message_free(op);
    for (int k = 0; k < n; k++)
        tepui_message_free(infos[k]);
    free(infos);
    if (b->launched == b->tasks && !b->suppressed) {
        b->suppressed = 1;
        tepui_scheduler_suppress(s, NULL, 0, NULL, NULL);
    }
}

static void on_offers(struct tepui_scheduler *s, const Tepui__Scheduler__Event__Offers *e, void *arg)
{
    (void)s;
    for (size_t i = 0; i < e->n_offers; i++)
        use_offer(arg, e->offers[i]);
}

/* A slot in the window opened: held offers are used first. */
static void use_held(struct bench *b)
{
    while (b->n_held > 0 && (b->window == 0 || b->launched - b->finished < b->window)) {
        Tepui__Offer *o = b->held[--b->n_held];
        use_offer(b, o);
        pb_free(o);
    }
}

static void on_update(struct tepui_scheduler *s, const Tepui__Scheduler__Event__Update *e, void *arg)
{
    struct bench *b = arg;
    const Tepui__TaskStatus *st = e->status;
    if (st->has_uuid)
        tepui_scheduler_acknowledge(s, st->agent_id->value, st->task_id->value, st->uuid.data,
                                    st->uuid.len, NULL, NULL);
    int i = task_index(st->task_id->value);
    if (i < 0 || i >= b->tasks)
        return;
    int64_t now = clock_mono_ns();
    if (st->state == TEPUI__TASK_STATE__TASK_RUNNING && b->t[i].running == 0)
        b->t[i].running = now;
    if (st->state == TEPUI__TASK_STATE__TASK_FINISHED || st->state == TEPUI__TASK_STATE__TASK_FAILED ||
        st->state == TEPUI__TASK_STATE__TASK_LOST || st->state == TEPUI__TASK_STATE__TASK_ERROR ||
        st->state == TEPUI__TASK_STATE__TASK_KILLED || st->state == TEPUI__TASK_STATE__TASK_DROPPED) {
        if (b->t[i].finished != 0)
            return;
        b->t[i].finished = now;
        b->last_finish = now;
        if (st->state != TEPUI__TASK_STATE__TASK_FINISHED) {
            if (b->failed++ < 5)
                fprintf(stderr, "task %s ended %d: %s\n", st->task_id->value, (int)st->state,
                        st->message ? st->message : "");
        }
        if (++b->finished == b->tasks)
            event_base_loopbreak(b->base);
        else
            use_held(b);
    }
}

static void on_error(struct tepui_scheduler *s, const char *message, void *arg)
{
    (void)s;
    fprintf(stderr, "launch: error from the master: %s\n", message);
    event_base_loopbreak(((struct bench *)arg)->base);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static double pct(int64_t *v, int n, double p)
{
    if (n == 0)
        return NAN;
    int i = (int)ceil(p / 100.0 * n) - 1;
    if (i < 0)
        i = 0;
    return (double)v[i] / 1e6;
}

int main(int argc, char **argv)
{
    struct bench b = {0};
    char *master = NULL;
    double timeout = 0;
    char *executor_path = NULL;
    int checkpoint = 0;
    struct flag_def defs[] = {
        {"master", FLAG_STRING, &master, "127.0.0.1:5050", "The master"},
        {"tasks", FLAG_INT, &b.tasks, "1000", "Number of tasks"},
        {"cpus", FLAG_DOUBLE, &b.cpus, "0.01", "cpus per task"},
        {"mem", FLAG_DOUBLE, &b.mem, "1", "mem (MB) per task"},
        {"command", FLAG_STRING, &b.command, "true", "The command each task runs"},
        {"executor", FLAG_STRING, &executor_path, NULL,
         "Run tasks as work items of this custom executor (e.g. build/examples/thread_executor)"},
        {"window", FLAG_INT, &b.window, "0",
         "Tasks in flight at most (0: as many as the offers hold)"},
        {"timeout", FLAG_DURATION, &timeout, "300secs", "Give up after this long"},
        {"checkpoint", FLAG_BOOL, &checkpoint, "false",
         "Whether the framework checkpoints (agents keep its tasks and updates on disk)"},
        {"image", FLAG_STRING, &b.image, NULL,
         "Run each command inside this container image (a DOCKER image, name[:tag])"},
    };
    struct flag_set fs = {.program = "launch", .defs = defs, .n = sizeof(defs) / sizeof(defs[0])};
    struct error err = {0};
    int rc = flags_parse(&fs, argc, argv, NULL, NULL, &err);
    if (rc != 0) {
        if (rc < 0)
            fprintf(stderr, "launch: %s\n", err.msg);
        return rc < 0 ? 2 : 0;
    }
    log_set_level(LOG_LEVEL_WARN);
    b.t = xcalloc((size_t)b.tasks, sizeof(*b.t));
    if (executor_path != NULL) {
        Tepui__ExecutorInfo e = TEPUI__EXECUTOR_INFO__INIT;
        Tepui__ExecutorID eid = TEPUI__EXECUTOR_ID__INIT;
        Tepui__CommandInfo cmd = TEPUI__COMMAND_INFO__INIT;
        eid.value = "bench-threads";
        cmd.value = executor_path;
        cmd.has_shell = 1;
        cmd.shell = 0;
        e.executor_id = &eid;
        e.command = &cmd;
        e.has_type = 1;
        e.type = TEPUI__EXECUTOR_INFO__TYPE__CUSTOM;
        b.executor = PB_COPY(Tepui__ExecutorInfo, &e);
    }
    b.base = event_base_new();

    Tepui__FrameworkInfo fi = TEPUI__FRAMEWORK_INFO__INIT;
    struct passwd *pw = getpwuid(getuid());
    fi.user = pw ? pw->pw_name : "root";
    fi.name = "launch-benchmark";
    fi.has_checkpoint = 1;
    fi.checkpoint = checkpoint;
    struct tepui_scheduler_options so = {.master = master, .format = TEPUI_FORMAT_PROTOBUF};
    struct tepui_scheduler_callbacks cb = {.offers = on_offers, .update = on_update,
                                           .error = on_error};
    b.sched = tepui_scheduler_new(b.base, &fi, &so, &cb, &b);
    if (b.sched == NULL || tepui_scheduler_start(b.sched) != 0) {
        fprintf(stderr, "launch: cannot subscribe to %s\n", master);
        return 1;
    }
    struct timeval tv = {(time_t)timeout, 0};
    event_base_loopexit(b.base, &tv);
    event_base_dispatch(b.base);

    int64_t *to_running = xcalloc((size_t)b.tasks, sizeof(int64_t));
    int64_t *to_finished = xcalloc((size_t)b.tasks, sizeof(int64_t));
    int nr = 0, nf = 0;
    for (int i = 0; i < b.tasks; i++) {
        if (b.t[i].running)
            to_running[nr++] = b.t[i].running - b.t[i].accepted;
        if (b.t[i].finished)
            to_finished[nf++] = b.t[i].finished - b.t[i].accepted;
    }
    qsort(to_running, (size_t)nr, sizeof(int64_t), cmp_i64);
    qsort(to_finished, (size_t)nf, sizeof(int64_t), cmp_i64);
    double secs = (double)(b.last_finish - b.first_accept) / 1e9;
    printf("tasks: %d launched, %d finished (%d not FINISHED)\n", b.launched, b.finished, b.failed);
    printf("throughput: %.1f tasks/s (%d tasks in %.2f s, first ACCEPT to last terminal update)\n",
           secs > 0 ? b.finished / secs : 0, b.finished, secs);
    printf("ACCEPT->RUNNING ms: p50 %.2f p99 %.2f max %.2f\n", pct(to_running, nr, 50),
           pct(to_running, nr, 99), nr ? (double)to_running[nr - 1] / 1e6 : NAN);
    printf("ACCEPT->FINISHED ms: p50 %.2f p99 %.2f max %.2f\n", pct(to_finished, nf, 50),
           pct(to_finished, nf, 99), nf ? (double)to_finished[nf - 1] / 1e6 : NAN);

    tepui_scheduler_teardown(b.sched, NULL, NULL);
    struct timeval tv2 = {0, 300 * 1000};
    event_base_loopexit(b.base, &tv2);
    event_base_dispatch(b.base);
    tepui_scheduler_free(b.sched);
    event_base_loop(b.base, EVLOOP_NONBLOCK);
    event_base_free(b.base);
    for (size_t i = 0; i < b.n_held; i++)
        pb_free(b.held[i]);
    free(b.held);
    pb_free(b.executor);
    free(to_running);
    free(to_finished);
    free(b.t);
    flags_free(&fs);
    return b.finished == b.tasks ? 0 : 1;
}
