/* The status update manager: one ordered stream per task. Only the head of a
 * stream is in flight to the master; it is resent with a doubling backoff
 * (10 s to 10 min in Mesos) until the scheduler's acknowledgement of its
 * uuid comes back, and only then is the next update sent. Each forwarded
 * update carries the newest state queued behind it (latest_state) so the
 * master can account for a finished task early. Updates of frameworks that
 * checkpoint are checkpointed as they are added and forgotten there when
 * acknowledged; a restarted agent puts them back (updates_recover) and
 * sends them again with their uuids. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/checkpoint.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/uuid.h"
#include "common/xalloc.h"
#include "wire/pb.h"

#define LOG_COMPONENT "agent"

#define MAX_RETRY_SECS 600.0
/* uuids remembered per stream to drop duplicates resent by an executor. */
#define SEEN_UUIDS 16

struct update_stream {
    char *key;                      /* "<framework id>/<task id>" */
    char *framework_id;
    char *task_id;
    Tepui__TaskStatus **queue;      /* queue[0] is the head, in flight */
    int64_t *seqs;                  /* their checkpoint rows (0: not checkpointed) */
    size_t n, cap;
    struct event *retry_timer;
    double backoff;
    int in_batch;                   /* its head is in the agent's next batch */
    uint8_t seen[SEEN_UUIDS][16];
    size_t n_seen;
    struct agent *agent;
    UT_hash_handle hh;
};

static char *stream_key(const char *framework_id, const char *task_id)
{
    return xasprintf("%s/%s", framework_id, task_id);
}

static struct update_stream *stream_find(struct agent *a, const char *framework_id,
                                         const char *task_id)
{
    char *key = stream_key(framework_id, task_id);
    struct update_stream *s = NULL;
    HASH_FIND_STR(a->updates, key, s);
    free(key);
    return s;
}

static void stream_free(struct agent *a, struct update_stream *s)
{
    HASH_DEL(a->updates, s);
    for (size_t i = 0; i < s->n; i++)
        pb_free(s->queue[i]);
    free(s->queue);
    free(s->seqs);
    if (s->retry_timer)
        event_free(s->retry_timer);
    free(s->key);
    free(s->framework_id);
    free(s->task_id);
    free(s);
}

static void forward_head(struct update_stream *s);

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
    struct update_stream *s = arg;
    (void)fd;
    (void)what;
    if (s->n == 0)
        return;
    log_info("resending status update %s for task %s of framework %s (no acknowledgement yet)",
             task_state_name(s->queue[0]->state), s->task_id, s->framework_id);
    s->backoff *= 2;
    if (s->backoff > MAX_RETRY_SECS)
        s->backoff = MAX_RETRY_SECS;
    forward_head(s);
}

/* Heads to forward go out together at the end of the loop's turn: one POST
 * carries every update that turn produced. */
static void send_batch(void *arg)
{
    struct agent *a = arg;
    a->batch.waiting = 0;
    size_t n = a->batch.n;
    if (n == 0)
        return;
    Tepui__Internal__StatusUpdate *ups = xcalloc(n, sizeof(*ups));
    Tepui__Internal__StatusUpdate **upp = xcalloc(n, sizeof(*upp));
    Tepui__FrameworkID *fids = xcalloc(n, sizeof(*fids));
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        struct update_stream *s = NULL;
        HASH_FIND_STR(a->updates, a->batch.keys[i], s);
        free(a->batch.keys[i]);
        if (s == NULL || !s->in_batch || s->n == 0)
            continue;   /* acknowledged or dropped meanwhile */
        s->in_batch = 0;
        tepui__framework_id__init(&fids[k]);
        fids[k].value = s->framework_id;
        tepui__internal__status_update__init(&ups[k]);
        ups[k].framework_id = &fids[k];
        ups[k].status = s->queue[0];
        ups[k].has_latest_state = 1;
        ups[k].latest_state = s->queue[s->n - 1]->state;
        upp[k] = &ups[k];
        k++;
    }
    a->batch.n = 0;
    if (k > 0) {
        Tepui__Internal__AgentCall call = TEPUI__INTERNAL__AGENT_CALL__INIT;
        call.has_type = 1;
        call.type = TEPUI__INTERNAL__AGENT_CALL__TYPE__STATUS_UPDATE;
        call.status_updates = upp;
        call.n_status_updates = k;
        master_link_send(a, &call);
    }
    free(ups);
    free(upp);
    free(fids);
}

static void flush_batch(evutil_socket_t fd, short what, void *arg)
{
    struct agent *a = arg;
    (void)fd;
    (void)what;
    if (a->batch.n == 0 || a->batch.waiting)
        return;
    /* Nothing leaves the agent that it could forget: updates the turn
     * checkpointed go once they are committed. */
    if (ckpt_pending(a)) {
        a->batch.waiting = 1;
        ckpt_after_commit(a, send_batch, a);
        return;
    }
    send_batch(a);
}

static void forward_head(struct update_stream *s)
{
    struct agent *a = s->agent;
    if (s->n == 0)
        return;
    if (a->batch.flush == NULL)
        a->batch.flush = event_new(a->base, -1, 0, flush_batch, a);
    if (!s->in_batch) {
        s->in_batch = 1;
        if (a->batch.n == a->batch.cap) {
            a->batch.cap = a->batch.cap ? a->batch.cap * 2 : 64;
            a->batch.keys = xrealloc(a->batch.keys, a->batch.cap * sizeof(char *));
        }
        a->batch.keys[a->batch.n++] = xstrdup(s->key);
        if (a->batch.n == 1)
            event_active(a->batch.flush, EV_TIMEOUT, 0);
    }

    if (s->retry_timer == NULL)
        s->retry_timer = evtimer_new(a->base, retry_cb, s);
    double d = s->backoff;
    struct timeval tv = clock_timeval(d);
    evtimer_add(s->retry_timer, &tv);
}

static struct update_stream *stream_get(struct agent *a, const char *framework_id,
                                        const Tepui__TaskStatus *status)
{
    struct update_stream *s = stream_find(a, framework_id, status->task_id->value);
    if (s == NULL) {
        s = XNEW(struct update_stream);
        s->agent = a;
        s->framework_id = xstrdup(framework_id);
        s->task_id = xstrdup(status->task_id->value);
        s->key = stream_key(framework_id, status->task_id->value);
        s->backoff = a->flags.status_update_retry_interval;
        HASH_ADD_KEYPTR(hh, a->updates, s->key, strlen(s->key), s);
    }
    return s;
}

static void stream_append(struct update_stream *s, Tepui__TaskStatus *status, int64_t seq)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 4;
        s->queue = xrealloc(s->queue, s->cap * sizeof(*s->queue));
        s->seqs = xrealloc(s->seqs, s->cap * sizeof(*s->seqs));
    }
    s->seqs[s->n] = seq;
    s->queue[s->n++] = status;
}

static void stream_remember(struct update_stream *s, const Tepui__TaskStatus *status)
{
    if (status->has_uuid && status->uuid.len == 16) {
        memcpy(s->seen[s->n_seen % SEEN_UUIDS], status->uuid.data, 16);
        s->n_seen++;
    }
}

int updates_add(struct agent *a, const char *framework_id, const Tepui__TaskStatus *status)
{
    struct update_stream *s = stream_get(a, framework_id, status);
    if (status->has_uuid && status->uuid.len == 16) {
        for (size_t i = 0; i < s->n_seen && i < SEEN_UUIDS; i++)
            if (memcmp(s->seen[i], status->uuid.data, 16) == 0)
                return -EEXIST;
        stream_remember(s, status);
    }
    struct agent_framework *f = agent_find_framework(a, framework_id);
    int64_t seq = f != NULL && agent_framework_checkpoints(f)
                      ? ckpt_update(a, framework_id, status) : 0;
    stream_append(s, PB_COPY(Tepui__TaskStatus, status), seq);
    a->metrics.valid_status_updates++;
    if (s->n == 1) {
        s->backoff = a->flags.status_update_retry_interval;
        forward_head(s);
    }
    return 0;
}

static void log_acknowledged(void *arg)
{
    char *line = arg;
    log_debug("%s", line);
    free(line);
}

void updates_acknowledged(struct agent *a, const char *framework_id, const char *task_id,
                          const uint8_t *uuid, size_t len)
{
    struct update_stream *s = stream_find(a, framework_id, task_id);
    if (s == NULL || s->n == 0) {
        log_debug("acknowledgement for task %s of framework %s without pending updates", task_id,
                  framework_id);
        return;
    }
    Tepui__TaskStatus *head = s->queue[0];
    if (!head->has_uuid || head->uuid.len != len || memcmp(head->uuid.data, uuid, len) != 0) {
        /* Mesos ignores an acknowledgement that is not for the head. */
        log_warn("ignoring an acknowledgement for task %s of framework %s: it is not for the "
                 "update in flight", task_id, framework_id);
        return;
    }
    task_state_t state = head->state;
    ckpt_update_remove(a, s->seqs[0]);
    /* Logged once the removal is durable: from then on a restart does not
     * resend it (tests wait for this line before killing the agent). */
    char *line = xasprintf("status update %s of task %s of framework %s acknowledged",
                           task_state_name(state), task_id, framework_id);
    ckpt_after_commit(a, log_acknowledged, line);
    pb_free(head);
    memmove(&s->queue[0], &s->queue[1], (s->n - 1) * sizeof(*s->queue));
    memmove(&s->seqs[0], &s->seqs[1], (s->n - 1) * sizeof(*s->seqs));
    s->n--;
    if (s->retry_timer)
        evtimer_del(s->retry_timer);
    int done = task_state_is_terminal(state);
    if (done || s->n == 0) {
        if (done && s->n > 0)
            log_warn("dropping %zu update(s) queued after the terminal update of task %s", s->n,
                     task_id);
        for (size_t i = 0; i < s->n; i++)
            ckpt_update_remove(a, s->seqs[i]);
        stream_free(a, s);
    } else {
        s->backoff = a->flags.status_update_retry_interval;
        forward_head(s);
    }
    tasks_update_acknowledged(a, framework_id, task_id, state);
}

void updates_resend_all(struct agent *a)
{
    struct update_stream *s, *tmp;
    HASH_ITER(hh, a->updates, s, tmp) {
        s->backoff = a->flags.status_update_retry_interval;
        forward_head(s);
    }
}

void updates_recover(struct agent *a, const char *framework_id, Tepui__TaskStatus *status,
                     int64_t seq)
{
    struct update_stream *s = stream_get(a, framework_id, status);
    stream_remember(s, status);
    stream_append(s, status, seq);
}

void updates_checkpoint_all(struct agent *a)
{
    struct update_stream *s, *tmp;
    HASH_ITER(hh, a->updates, s, tmp) {
        struct agent_framework *f = agent_find_framework(a, s->framework_id);
        for (size_t i = 0; i < s->n; i++)
            s->seqs[i] = s->seqs[i] != 0 || (f != NULL && agent_framework_checkpoints(f))
                             ? ckpt_update(a, s->framework_id, s->queue[i]) : 0;
    }
}

void updates_drop_framework(struct agent *a, const char *framework_id)
{
    struct update_stream *s, *tmp;
    HASH_ITER(hh, a->updates, s, tmp) {
        if (strcmp(s->framework_id, framework_id) != 0)
            continue;
        for (size_t i = 0; i < s->n; i++)
            ckpt_update_remove(a, s->seqs[i]);
        stream_free(a, s);
    }
}

int updates_pending(struct agent *a, const char *framework_id, const char *task_id)
{
    struct update_stream *s = stream_find(a, framework_id, task_id);
    return s != NULL && s->n > 0;
}

void updates_free_all(struct agent *a)
{
    struct update_stream *s, *tmp;
    HASH_ITER(hh, a->updates, s, tmp) {
        stream_free(a, s);
    }
    for (size_t i = 0; i < a->batch.n; i++)
        free(a->batch.keys[i]);
    free(a->batch.keys);
    a->batch.keys = NULL;
    a->batch.n = a->batch.cap = 0;
    if (a->batch.flush != NULL)
        event_free(a->batch.flush);
    a->batch.flush = NULL;
}
