/* An example custom executor on libtepui that runs each task as work for a
 * pool of threads instead of a process: the shape of executors that run
 * tasks their own way (a thread, a queue item). The agent starts it on the
 * first task that names its ExecutorInfo and reuses it for later tasks.
 *
 * What a task does is said by its TaskInfo.data (text):
 *   "sleep:SECONDS"   sleep that long, then finish
 *   "fail:MESSAGE"    end TASK_FAILED with the message
 *   "crash"           the whole executor exits at once (tests executor loss)
 *   anything else     finish at once
 * A task is killed (TASK_KILLED) when a KILL arrives before it is done.
 * Framework messages are echoed back to the scheduler, prefixed "echo:".
 * With the label quiet=1 on a task, the executor skips TASK_RUNNING and
 * sends only the terminal update (the benchmark's tiny tasks).
 *
 * Threads never touch the library: they hand finished work back to the
 * event loop through a pipe. */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "tepui/executor.h"
#include "wire/pb.h"

#define LOG_COMPONENT "thread-executor"
#define WORKERS 4

struct job {
    char *task_id;
    char *data;
    int quiet;
    int killed;            /* set on the loop; read by the worker */
    int failed;
    char *message;
    struct job *next;      /* queue, or finished list */
};

struct state {
    struct event_base *base;
    struct tepui_executor *lib;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct job *queue, *queue_tail;
    int stopping;
    pthread_t workers[WORKERS];
    int done_pipe[2];      /* worker -> loop: struct job * */
    struct event *done_ev;
    struct job **live;     /* jobs not yet finished, for kills */
    size_t n_live, cap_live;
    int shutting_down;
    size_t unacked_terminal;
};

static void send_state(struct state *s, const char *task_id, Tepui__TaskState st,
                       const char *message)
{
    Tepui__TaskStatus status = TEPUI__TASK_STATUS__INIT;
    Tepui__TaskID tid = TEPUI__TASK_ID__INIT;
    tid.value = (char *)task_id;
    status.task_id = &tid;
    status.state = st;
    status.message = (char *)message;
    struct error err = {0};
    if (tepui_executor_update(s->lib, &status, &err) != 0)
        log_error("cannot send an update for task %s: %s", task_id, err.msg);
}

static void *worker_main(void *arg)
{
    struct state *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        while (s->queue == NULL && !s->stopping)
            pthread_cond_wait(&s->cv, &s->mu);
        if (s->queue == NULL) {
            pthread_mutex_unlock(&s->mu);
            return NULL;
        }
        struct job *j = s->queue;
        s->queue = j->next;
        if (s->queue == NULL)
            s->queue_tail = NULL;
        pthread_mutex_unlock(&s->mu);

        if (strncmp(j->data, "sleep:", 6) == 0) {
            double secs = atof(j->data + 6);
            /* Sleep in slices so a kill ends the work early. */
            while (secs > 0 && !__atomic_load_n(&j->killed, __ATOMIC_ACQUIRE)) {
                double slice = secs > 0.05 ? 0.05 : secs;
                struct timespec ts = {(time_t)slice, (long)((slice - (double)(time_t)slice) * 1e9)};
                nanosleep(&ts, NULL);
                secs -= slice;
            }
        } else if (strncmp(j->data, "fail:", 5) == 0) {
            j->failed = 1;
            j->message = xstrdup(j->data + 5);
        }
        ssize_t w = write(s->done_pipe[1], &j, sizeof(j));
        (void)w;
    }
}

static void remove_live(struct state *s, struct job *j)
{
    for (size_t i = 0; i < s->n_live; i++)
        if (s->live[i] == j) {
            s->live[i] = s->live[--s->n_live];
            return;
        }
}

static void job_free(struct job *j)
{
    free(j->task_id);
    free(j->data);
    free(j->message);
    free(j);
}

static void on_done(evutil_socket_t fd, short what, void *arg)
{
    struct state *s = arg;
    (void)what;
    struct job *j;
    while (read(fd, &j, sizeof(j)) == (ssize_t)sizeof(j)) {
        remove_live(s, j);
        if (j->killed)
            send_state(s, j->task_id, TEPUI__TASK_STATE__TASK_KILLED, "Killed by the scheduler");
        else if (j->failed)
            send_state(s, j->task_id, TEPUI__TASK_STATE__TASK_FAILED, j->message);
        else
            send_state(s, j->task_id, TEPUI__TASK_STATE__TASK_FINISHED, NULL);
        s->unacked_terminal++;
        job_free(j);
    }
}

static int label_is(const Tepui__TaskInfo *t, const char *key, const char *value)
{
    if (t->labels == NULL)
        return 0;
    for (size_t i = 0; i < t->labels->n_labels; i++)
        if (strcmp(t->labels->labels[i]->key, key) == 0 && t->labels->labels[i]->value != NULL &&
            strcmp(t->labels->labels[i]->value, value) == 0)
            return 1;
    return 0;
}

static void on_launch(struct tepui_executor *e, const Tepui__TaskInfo *task, void *arg)
{
    struct state *s = arg;
    (void)e;
    struct job *j = XNEW(struct job);
    j->task_id = xstrdup(task->task_id->value);
    j->data = task->has_data ? xstrndup((const char *)task->data.data, task->data.len) : xstrdup("");
    j->quiet = label_is(task, "quiet", "1");
    if (strcmp(j->data, "crash") == 0) {
        log_warn("task %s asks the executor to crash", j->task_id);
        _exit(3);
    }
    if (!j->quiet)
        send_state(s, j->task_id, TEPUI__TASK_STATE__TASK_RUNNING, NULL);
    if (s->n_live == s->cap_live) {
        s->cap_live = s->cap_live ? s->cap_live * 2 : 64;
        s->live = xrealloc(s->live, s->cap_live * sizeof(*s->live));
    }
    s->live[s->n_live++] = j;
    pthread_mutex_lock(&s->mu);
    if (s->queue_tail)
        s->queue_tail->next = j;
    else
        s->queue = j;
    s->queue_tail = j;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static void on_kill(struct tepui_executor *e, const Tepui__TaskID *task_id,
                    const Tepui__KillPolicy *policy, void *arg)
{
    struct state *s = arg;
    (void)e;
    (void)policy;
    for (size_t i = 0; i < s->n_live; i++)
        if (strcmp(s->live[i]->task_id, task_id->value) == 0)
            __atomic_store_n(&s->live[i]->killed, 1, __ATOMIC_RELEASE);
}

static void on_message(struct tepui_executor *e, const uint8_t *data, size_t len, void *arg)
{
    (void)arg;
    char *reply = xmalloc(len + 5);
    memcpy(reply, "echo:", 5);
    memcpy(reply + 5, data, len);
    tepui_executor_message(e, reply, len + 5);
    free(reply);
}

static void maybe_exit(struct state *s)
{
    if (s->shutting_down && s->n_live == 0 && tepui_executor_unacknowledged_updates(s->lib) == 0)
        event_base_loopbreak(s->base);
}

static void on_acknowledged(struct tepui_executor *e, const Tepui__TaskID *task_id,
                            const uint8_t *uuid, size_t len, const Tepui__TaskStatus *st, void *arg)
{
    (void)e;
    (void)task_id;
    (void)uuid;
    (void)len;
    (void)st;
    maybe_exit(arg);
}

static void on_shutdown(struct tepui_executor *e, void *arg)
{
    struct state *s = arg;
    (void)e;
    s->shutting_down = 1;
    for (size_t i = 0; i < s->n_live; i++)
        __atomic_store_n(&s->live[i]->killed, 1, __ATOMIC_RELEASE);
    maybe_exit(s);
}

static void on_disconnected(struct tepui_executor *e, const char *why, void *arg)
{
    struct state *s = arg;
    (void)e;
    log_warn("the agent is gone (%s); exiting", why);
    event_base_loopbreak(s->base);
}

int main(void)
{
    struct state s = {0};
    struct tepui_executor_options opts = {0};
    struct error err = {0};
    log_set_level(LOG_LEVEL_WARN);
    if (tepui_executor_options_from_env(&opts, &err) != 0) {
        fprintf(stderr, "thread-executor: %s\n", err.msg);
        return 2;
    }
    s.base = event_base_new();
    pthread_mutex_init(&s.mu, NULL);
    pthread_cond_init(&s.cv, NULL);
    if (pipe2(s.done_pipe, O_NONBLOCK | O_CLOEXEC) != 0) {
        perror("pipe2");
        return 1;
    }
    s.done_ev = event_new(s.base, s.done_pipe[0], EV_READ | EV_PERSIST, on_done, &s);
    event_add(s.done_ev, NULL);
    for (int i = 0; i < WORKERS; i++)
        pthread_create(&s.workers[i], NULL, worker_main, &s);

    struct tepui_executor_callbacks cbs = {
        .launch = on_launch,
        .kill = on_kill,
        .message = on_message,
        .acknowledged = on_acknowledged,
        .shutdown = on_shutdown,
        .disconnected = on_disconnected,
    };
    s.lib = tepui_executor_new(s.base, &opts, &cbs, &s, &err);
    if (s.lib == NULL) {
        fprintf(stderr, "thread-executor: %s\n", err.msg);
        return 1;
    }
    event_base_dispatch(s.base);

    pthread_mutex_lock(&s.mu);
    s.stopping = 1;
    pthread_cond_broadcast(&s.cv);
    pthread_mutex_unlock(&s.mu);
    for (int i = 0; i < WORKERS; i++)
        pthread_join(s.workers[i], NULL);
    struct job *j;
    while (read(s.done_pipe[0], &j, sizeof(j)) == (ssize_t)sizeof(j))
        job_free(j);
    for (size_t i = 0; i < s.n_live; i++)
        if (s.live[i] != NULL) {
            /* Jobs still queued were never taken by a worker. */
            int queued = 0;
            for (struct job *q = s.queue; q != NULL; q = q->next)
                queued |= q == s.live[i];
            if (queued)
                job_free(s.live[i]);
        }
    free(s.live);
    tepui_executor_free(s.lib);
    event_base_loop(s.base, EVLOOP_NONBLOCK);
    event_free(s.done_ev);
    close(s.done_pipe[0]);
    close(s.done_pipe[1]);
    event_base_free(s.base);
    tepui_executor_options_clear(&opts);
    return 0;
}
