/* The ZooKeeper session (zk.h): libzookeeper-mt's threads complete
 * operations and deliver watch events; each becomes a record on a queue
 * that the owner's loop drains when an eventfd wakes it. Session events are
 * turned into STARTED / RECONNECTED / DISCONNECTED / SESSION_LOST, with the
 * local expiry Mesos applies when the server cannot be reached. */
#include "ha/zk.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/queue.h>
#include <time.h>
#include <unistd.h>
#include <zookeeper/zookeeper.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"

#define LOG_COMPONENT "zk"

/* A handle that cannot be created (a host name that does not resolve), or
 * whose authentication failed, is tried again after this long. */
#define REOPEN_DELAY_SECS 1.0

enum op_kind { OP_DATA, OP_CHILDREN, OP_WATCH, OP_SESSION };

/* An operation in flight or a completion/event waiting for the loop. */
struct zk_op {
    LIST_ENTRY(zk_op) pending;       /* in flight (loop side) */
    STAILQ_ENTRY(zk_op) queued;      /* waiting for the loop */
    struct zk *zk;
    unsigned generation;             /* of the handle it belongs to */
    enum op_kind kind;
    void *owner;
    zk_data_fn data_done;
    zk_children_fn children_done;
    void *arg;
    int cancelled;
    int exists_ok;                   /* ZNODEEXISTS counts as ZOK */
    int in_queue;                    /* under zk->lock */
    int rc;
    char *data;
    size_t len;
    char **names;
    size_t n_names;
    int type, state;                 /* events */
    char *path;
};
LIST_HEAD(zk_op_list, zk_op);
STAILQ_HEAD(zk_op_queue, zk_op);

/* The context of one zookeeper handle (its watcher's). */
struct zk_handle_ctx {
    struct zk *zk;
    unsigned generation;
};

struct zk {
    struct event_base *base;
    struct zk_url url;
    double requested_timeout;
    double negotiated_timeout;
    struct zk_callbacks cb;
    void *arg;

    zhandle_t *zh;
    struct zk_handle_ctx *ctx;
    unsigned generation;
    int64_t session_id;              /* 0: no session yet */
    int connected;

    struct event *wakeup_ev;
    int wakeup_fd;
    struct event *expiry_timer;      /* local session expiry while disconnected */
    struct event *reopen_timer;

    pthread_mutex_t lock;            /* queue and in_queue flags */
    struct zk_op_queue queue;
    struct zk_op_list in_flight;     /* loop side only */

    int dispatching;
    int dead;
};

int zk_url_is(const char *text) { return text != NULL && strncmp(text, "zk://", 5) == 0; }

int zk_url_parse(const char *text, struct zk_url *out, struct error *err)
{
    memset(out, 0, sizeof(*out));
    if (!zk_url_is(text))
        return error_set(err, -EINVAL, "'%s' is not a zk://host:port/path URL", text ? text : "");
    const char *p = text + 5;
    const char *slash = strchr(p, '/');
    if (slash == NULL || slash == p || slash[1] == '\0')
        return error_set(err, -EINVAL, "'%s' needs hosts and a path: zk://host:port/path", text);
    const char *at = memchr(p, '@', (size_t)(slash - p));
    if (at != NULL) {
        if ((size_t)(at - p) >= sizeof(out->auth) || memchr(p, ':', (size_t)(at - p)) == NULL)
            return error_set(err, -EINVAL, "'%s': credentials must be user:password@", text);
        memcpy(out->auth, p, (size_t)(at - p));
        p = at + 1;
    }
    size_t hl = (size_t)(slash - p);
    if (hl == 0 || hl >= sizeof(out->hosts))
        return error_set(err, -EINVAL, "'%s': bad host list", text);
    memcpy(out->hosts, p, hl);
    /* Every host needs a port, ZooKeeper's client has no default. */
    for (const char *h = out->hosts;;) {
        const char *end = strchr(h, ',');
        size_t n = end ? (size_t)(end - h) : strlen(h);
        const char *colon = memrchr(h, ':', n);
        if (n == 0 || colon == NULL || colon == h || colon + 1 == h + n)
            return error_set(err, -EINVAL, "'%s': each host must be host:port", text);
        for (const char *d = colon + 1; d < h + n; d++)
            if (*d < '0' || *d > '9')
                return error_set(err, -EINVAL, "'%s': bad port", text);
        if (end == NULL)
            break;
        h = end + 1;
    }
    size_t pl = strlen(slash);
    while (pl > 1 && slash[pl - 1] == '/')
        pl--;
    if (pl >= sizeof(out->path))
        return error_set(err, -EINVAL, "'%s': path too long", text);
    memcpy(out->path, slash, pl);
    if (strcmp(out->path, "/") == 0)
        return error_set(err, -EINVAL, "'%s': the path must name a znode (zk://host:port/mesos)", text);
    if (strstr(out->path, "//") != NULL)
        return error_set(err, -EINVAL, "'%s': empty path component", text);
    return 0;
}

const char *zk_session_event_name(enum zk_session_event ev)
{
    switch (ev) {
    case ZK_SESSION_STARTED: return "session started";
    case ZK_RECONNECTED: return "reconnected";
    case ZK_DISCONNECTED: return "disconnected";
    case ZK_SESSION_LOST: return "session lost";
    }
    return "?";
}

const char *zk_error_name(int rc) { return zerror(rc); }

int zk_is_connected(const struct zk *zk) { return zk != NULL && zk->connected; }

struct event_base *zk_base(const struct zk *zk) { return zk->base; }
long long zk_session_id(const struct zk *zk) { return (long long)zk->session_id; }

double zk_session_timeout(const struct zk *zk)
{
    return zk->negotiated_timeout > 0 ? zk->negotiated_timeout : zk->requested_timeout;
}

/* ---- the queue (any thread) ---- */

static void op_free(struct zk_op *op)
{
    free(op->data);
    for (size_t i = 0; i < op->n_names; i++)
        free(op->names[i]);
    free(op->names);
    free(op->path);
    free(op);
}

static void enqueue(struct zk *zk, struct zk_op *op)
{
    pthread_mutex_lock(&zk->lock);
    int was_empty = STAILQ_EMPTY(&zk->queue);
    op->in_queue = 1;
    STAILQ_INSERT_TAIL(&zk->queue, op, queued);
    pthread_mutex_unlock(&zk->lock);
    if (was_empty) {
        uint64_t one = 1;
        ssize_t w = write(zk->wakeup_fd, &one, sizeof(one));
        (void)w;
    }
}

/* ---- completions (libzookeeper's completion thread) ---- */

static void data_completion(int rc, const char *value, int len, const struct Stat *stat,
                            const void *data)
{
    struct zk_op *op = (struct zk_op *)data;
    (void)stat;
    op->rc = rc;
    if (rc == ZOK && value != NULL && len >= 0) {
        op->data = xmalloc((size_t)len + 1);
        memcpy(op->data, value, (size_t)len);
        op->data[len] = '\0';
        op->len = (size_t)len;
    }
    enqueue(op->zk, op);
}

static void string_completion(int rc, const char *value, const void *data)
{
    struct zk_op *op = (struct zk_op *)data;
    op->rc = rc;
    if (rc == ZOK && value != NULL) {
        op->data = xstrdup(value);
        op->len = strlen(value);
    }
    enqueue(op->zk, op);
}

static void void_completion(int rc, const void *data)
{
    struct zk_op *op = (struct zk_op *)data;
    op->rc = rc;
    enqueue(op->zk, op);
}

static void stat_completion(int rc, const struct Stat *stat, const void *data)
{
    (void)stat;
    void_completion(rc, data);
}

static void strings_completion(int rc, const struct String_vector *strings, const void *data)
{
    struct zk_op *op = (struct zk_op *)data;
    op->rc = rc;
    if (rc == ZOK && strings != NULL && strings->count > 0) {
        op->names = xcalloc((size_t)strings->count, sizeof(char *));
        for (int i = 0; i < strings->count; i++)
            op->names[i] = xstrdup(strings->data[i]);
        op->n_names = (size_t)strings->count;
    }
    enqueue(op->zk, op);
}

static void watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
    struct zk_handle_ctx *hc = ctx;
    (void)zh;
    if (hc == NULL)
        return;
    struct zk_op *op = XNEW(struct zk_op);
    op->zk = hc->zk;
    op->generation = hc->generation;
    op->kind = type == ZOO_SESSION_EVENT ? OP_SESSION : OP_WATCH;
    op->type = type;
    op->state = state;
    op->path = xstrdup(path != NULL ? path : "");
    enqueue(hc->zk, op);
}

static void zk_log(const char *message)
{
    log_debug("libzookeeper: %s", message);
}

/* ---- the handle (loop thread) ---- */

static void notify(struct zk *zk, enum zk_session_event ev)
{
    if (!zk->dead && zk->cb.session != NULL)
        zk->cb.session(zk, ev, zk->arg);
}

static void reopen_cb(evutil_socket_t fd, short what, void *arg);

static void open_handle(struct zk *zk)
{
    zk->generation++;
    zk->ctx = XNEW(struct zk_handle_ctx);
    zk->ctx->zk = zk;
    zk->ctx->generation = zk->generation;
    int timeout_ms = (int)(zk->requested_timeout * 1000);
    zk->zh = zookeeper_init2(zk->url.hosts, watcher, timeout_ms, NULL, zk->ctx, 0, zk_log);
    if (zk->zh == NULL) {
        log_warn("cannot set up a ZooKeeper session with %s: %s; trying again", zk->url.hosts,
                 strerror(errno));
        free(zk->ctx);
        zk->ctx = NULL;
        struct timeval tv = clock_timeval(REOPEN_DELAY_SECS);
        evtimer_add(zk->reopen_timer, &tv);
        return;
    }
    if (zk->url.auth[0] != '\0')
        zoo_add_auth(zk->zh, "digest", zk->url.auth, (int)strlen(zk->url.auth), NULL, NULL);
}

static void reopen_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct zk *zk = arg;
    if (!zk->dead && zk->zh == NULL)
        open_handle(zk);
}

/* Closes the current handle. Once zookeeper_close returns its threads are
 * gone; operations it never completed fail with ZSESSIONEXPIRED. */
static void close_handle(struct zk *zk)
{
    if (zk->zh != NULL) {
        zookeeper_close(zk->zh);
        zk->zh = NULL;
    }
    free(zk->ctx);
    zk->ctx = NULL;
    struct zk_op *op, *next;
    for (op = LIST_FIRST(&zk->in_flight); op != NULL; op = next) {
        next = LIST_NEXT(op, pending);
        pthread_mutex_lock(&zk->lock);
        int queued = op->in_queue;
        pthread_mutex_unlock(&zk->lock);
        if (!queued) {
            op->rc = ZSESSIONEXPIRED;
            enqueue(zk, op);
        }
    }
}

/* The session is gone: a new one is set up at once, or after a pause when
 * trying again at once would fail the same way (authentication). */
static void session_lost(struct zk *zk, const char *why, int pause)
{
    int had_session = zk->session_id != 0;
    log_warn("ZooKeeper session 0x%llx with %s lost: %s", (unsigned long long)zk->session_id,
             zk->url.hosts, why);
    evtimer_del(zk->expiry_timer);
    close_handle(zk);
    zk->session_id = 0;
    zk->connected = 0;
    if (pause) {
        struct timeval tv = clock_timeval(REOPEN_DELAY_SECS);
        evtimer_add(zk->reopen_timer, &tv);
    } else {
        open_handle(zk);
    }
    if (had_session)
        notify(zk, ZK_SESSION_LOST);
}

static void expiry_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct zk *zk = arg;
    if (zk->dead || zk->connected)
        return;
    /* The server tells of an expiry only once it is reachable again, which
     * may be much later: a leader must not keep leading meanwhile. */
    session_lost(zk, "not reconnected within the session timeout", 0);
}

static void on_session_state(struct zk *zk, int state)
{
    if (state == ZOO_CONNECTED_STATE || state == ZOO_READONLY_STATE) {
        evtimer_del(zk->expiry_timer);
        const clientid_t *cid = zoo_client_id(zk->zh);
        int64_t sid = cid != NULL ? cid->client_id : 0;
        int recv = zoo_recv_timeout(zk->zh);
        if (recv > 0)
            zk->negotiated_timeout = recv / 1000.0;
        int was = zk->connected;
        zk->connected = 1;
        if (sid != zk->session_id) {
            zk->session_id = sid;
            log_info("ZooKeeper session 0x%llx with %s (timeout %gs)", (unsigned long long)sid,
                     zk->url.hosts, zk->negotiated_timeout);
            notify(zk, ZK_SESSION_STARTED);
        } else if (!was) {
            log_info("reconnected to ZooKeeper (session 0x%llx)", (unsigned long long)sid);
            notify(zk, ZK_RECONNECTED);
        }
    } else if (state == ZOO_CONNECTING_STATE || state == ZOO_ASSOCIATING_STATE) {
        if (zk->connected) {
            zk->connected = 0;
            log_warn("lost the connection to ZooKeeper (session 0x%llx); reconnecting",
                     (unsigned long long)zk->session_id);
            struct timeval tv = clock_timeval(zk_session_timeout(zk));
            evtimer_add(zk->expiry_timer, &tv);
            notify(zk, ZK_DISCONNECTED);
        }
    } else if (state == ZOO_EXPIRED_SESSION_STATE) {
        session_lost(zk, "expired", 0);
    } else if (state == ZOO_AUTH_FAILED_STATE) {
        log_error("ZooKeeper authentication failed for %s", zk->url.hosts);
        session_lost(zk, "authentication failed", 1);
    }
}

static void destroy(struct zk *zk)
{
    struct zk_op *op;
    while ((op = LIST_FIRST(&zk->in_flight)) != NULL) {
        LIST_REMOVE(op, pending);
        if (!op->in_queue)
            op_free(op);
    }
    while ((op = STAILQ_FIRST(&zk->queue)) != NULL) {
        STAILQ_REMOVE_HEAD(&zk->queue, queued);
        op_free(op);
    }
    event_free(zk->wakeup_ev);
    event_free(zk->expiry_timer);
    event_free(zk->reopen_timer);
    close(zk->wakeup_fd);
    pthread_mutex_destroy(&zk->lock);
    free(zk);
}

static void deliver(struct zk *zk, struct zk_op *op)
{
    switch (op->kind) {
    case OP_SESSION:
        if (op->generation == zk->generation && zk->zh != NULL)
            on_session_state(zk, op->state);
        break;
    case OP_WATCH:
        if (op->generation == zk->generation && op->type != ZOO_NOTWATCHING_EVENT &&
            zk->cb.watch != NULL)
            zk->cb.watch(zk, op->type, op->path, zk->arg);
        break;
    case OP_DATA:
        if (op->exists_ok && op->rc == ZNODEEXISTS)
            op->rc = ZOK;
        if (!op->cancelled && op->data_done != NULL)
            op->data_done(op->arg, op->rc, op->data, op->len);
        break;
    case OP_CHILDREN:
        if (!op->cancelled && op->children_done != NULL)
            op->children_done(op->arg, op->rc, op->names, op->n_names);
        break;
    }
}

static void wakeup_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct zk *zk = arg;
    uint64_t v;
    ssize_t r = read(fd, &v, sizeof(v));
    (void)r;
    struct zk_op_queue batch = STAILQ_HEAD_INITIALIZER(batch);
    pthread_mutex_lock(&zk->lock);
    STAILQ_CONCAT(&batch, &zk->queue);
    pthread_mutex_unlock(&zk->lock);
    /* Operations stay on the in-flight list until delivered, so that a
     * callback can still cancel those behind it. */
    struct zk_op *op;
    zk->dispatching++;
    while ((op = STAILQ_FIRST(&batch)) != NULL) {
        STAILQ_REMOVE_HEAD(&batch, queued);
        if (op->kind == OP_DATA || op->kind == OP_CHILDREN)
            LIST_REMOVE(op, pending);
        if (!zk->dead)
            deliver(zk, op);
        op_free(op);
    }
    if (--zk->dispatching == 0 && zk->dead)
        destroy(zk);
}

struct zk *zk_new(struct event_base *base, const struct zk_url *url, double session_timeout,
                  const struct zk_callbacks *cb, void *arg, struct error *err)
{
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd < 0) {
        error_set(err, -errno, "eventfd: %s", strerror(errno));
        return NULL;
    }
    struct zk *zk = XNEW(struct zk);
    zk->base = base;
    zk->url = *url;
    zk->requested_timeout = session_timeout > 0 ? session_timeout : 10.0;
    if (cb != NULL)
        zk->cb = *cb;
    zk->arg = arg;
    zk->wakeup_fd = fd;
    pthread_mutex_init(&zk->lock, NULL);
    STAILQ_INIT(&zk->queue);
    LIST_INIT(&zk->in_flight);
    zk->wakeup_ev = event_new(base, fd, EV_READ | EV_PERSIST, wakeup_cb, zk);
    event_add(zk->wakeup_ev, NULL);
    zk->expiry_timer = evtimer_new(base, expiry_cb, zk);
    zk->reopen_timer = evtimer_new(base, reopen_cb, zk);
    zoo_set_debug_level(log_get_level() <= LOG_LEVEL_DEBUG ? ZOO_LOG_LEVEL_INFO
                                                           : ZOO_LOG_LEVEL_WARN);
    open_handle(zk);
    return zk;
}

void zk_free(struct zk *zk)
{
    if (zk == NULL || zk->dead)
        return;
    zk->dead = 1;
    /* A connected handle closes its session: our ephemeral nodes vanish now
     * rather than after the session timeout. */
    close_handle(zk);
    evtimer_del(zk->expiry_timer);
    evtimer_del(zk->reopen_timer);
    if (zk->dispatching == 0)
        destroy(zk);
}

/* ---- asynchronous operations (loop thread) ---- */

static struct zk_op *op_new(struct zk *zk, void *owner, enum op_kind kind, void *arg)
{
    struct zk_op *op = XNEW(struct zk_op);
    op->zk = zk;
    op->generation = zk->generation;
    op->kind = kind;
    op->owner = owner;
    op->arg = arg;
    LIST_INSERT_HEAD(&zk->in_flight, op, pending);
    return op;
}

/* The library refused the call: the failure still arrives asynchronously. */
static void op_submitted(struct zk *zk, struct zk_op *op, int rc)
{
    if (rc == ZOK)
        return;
    op->rc = rc;
    enqueue(zk, op);
}

void zk_create(struct zk *zk, void *owner, const char *path, const void *data, size_t len,
               int flags, zk_data_fn done, void *arg)
{
    struct zk_op *op = op_new(zk, owner, OP_DATA, arg);
    op->data_done = done;
    int rc = zk->zh == NULL ? ZINVALIDSTATE
                            : zoo_acreate(zk->zh, path, data, data != NULL ? (int)len : -1,
                                          &ZOO_OPEN_ACL_UNSAFE, flags, string_completion, op);
    op_submitted(zk, op, rc);
}

void zk_create_parents(struct zk *zk, void *owner, const char *path, zk_data_fn done, void *arg)
{
    /* One create per level, pipelined: a session's requests are handled in
     * order, so the last one fails only when a level could not be made. */
    char *copy = xstrdup(path);
    for (char *s = strchr(copy + 1, '/'); s != NULL; s = strchr(s + 1, '/')) {
        *s = '\0';
        struct zk_op *op = op_new(zk, owner, OP_DATA, NULL);
        int rc = zk->zh == NULL ? ZINVALIDSTATE
                                : zoo_acreate(zk->zh, copy, NULL, -1, &ZOO_OPEN_ACL_UNSAFE, 0,
                                              string_completion, op);
        op_submitted(zk, op, rc);
        *s = '/';
    }
    free(copy);
    struct zk_op *op = op_new(zk, owner, OP_DATA, arg);
    op->data_done = done;
    op->exists_ok = 1;
    int rc = zk->zh == NULL ? ZINVALIDSTATE
                            : zoo_acreate(zk->zh, path, NULL, -1, &ZOO_OPEN_ACL_UNSAFE, 0,
                                          string_completion, op);
    op_submitted(zk, op, rc);
}

void zk_delete(struct zk *zk, void *owner, const char *path, zk_data_fn done, void *arg)
{
    struct zk_op *op = op_new(zk, owner, OP_DATA, arg);
    op->data_done = done;
    int rc = zk->zh == NULL ? ZINVALIDSTATE : zoo_adelete(zk->zh, path, -1, void_completion, op);
    op_submitted(zk, op, rc);
}

void zk_get(struct zk *zk, void *owner, const char *path, int watch, zk_data_fn done, void *arg)
{
    struct zk_op *op = op_new(zk, owner, OP_DATA, arg);
    op->data_done = done;
    int rc = zk->zh == NULL ? ZINVALIDSTATE
                            : zoo_aget(zk->zh, path, watch, data_completion, op);
    op_submitted(zk, op, rc);
}

void zk_set(struct zk *zk, void *owner, const char *path, const void *data, size_t len,
            zk_data_fn done, void *arg)
{
    struct zk_op *op = op_new(zk, owner, OP_DATA, arg);
    op->data_done = done;
    int rc = zk->zh == NULL ? ZINVALIDSTATE
                            : zoo_aset(zk->zh, path, data, (int)len, -1, stat_completion, op);
    op_submitted(zk, op, rc);
}

void zk_exists(struct zk *zk, void *owner, const char *path, int watch, zk_data_fn done,
               void *arg)
{
    struct zk_op *op = op_new(zk, owner, OP_DATA, arg);
    op->data_done = done;
    int rc = zk->zh == NULL ? ZINVALIDSTATE
                            : zoo_aexists(zk->zh, path, watch, stat_completion, op);
    op_submitted(zk, op, rc);
}

void zk_children(struct zk *zk, void *owner, const char *path, int watch, zk_children_fn done,
                 void *arg)
{
    struct zk_op *op = op_new(zk, owner, OP_CHILDREN, arg);
    op->children_done = done;
    int rc = zk->zh == NULL ? ZINVALIDSTATE
                            : zoo_aget_children(zk->zh, path, watch, strings_completion, op);
    op_submitted(zk, op, rc);
}

void zk_cancel(struct zk *zk, void *owner)
{
    if (zk == NULL || owner == NULL)
        return;
    struct zk_op *op;
    LIST_FOREACH(op, &zk->in_flight, pending)
        if (op->owner == owner)
            op->cancelled = 1;
}

/* ---- blocking reads ---- */

struct sync_batch {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs;                /* the waiter and every operation in flight */
    size_t remaining;
    int rc;                  /* first failure */
    char **names;
    size_t n_names;
    char **values;
    size_t *lens;
    struct sync_slot {
        struct sync_batch *b;
        size_t index;
    } *slots;
    size_t n;
};

static void batch_put(struct sync_batch *b)
{
    /* Called with b->mu held; releases it. */
    int last = --b->refs == 0;
    pthread_mutex_unlock(&b->mu);
    if (!last)
        return;
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->cv);
    zk_strings_free(b->names, b->n_names);
    zk_strings_free(b->values, b->n);
    free(b->lens);
    free(b->slots);
    free(b);
}

static void sync_children_done(int rc, const struct String_vector *strings, const void *data)
{
    struct sync_batch *b = (struct sync_batch *)data;
    pthread_mutex_lock(&b->mu);
    b->rc = rc;
    if (rc == ZOK && strings != NULL && strings->count > 0) {
        b->names = xcalloc((size_t)strings->count, sizeof(char *));
        for (int i = 0; i < strings->count; i++)
            b->names[i] = xstrdup(strings->data[i]);
        b->n_names = (size_t)strings->count;
    }
    b->remaining--;
    pthread_cond_signal(&b->cv);
    batch_put(b);
}

static void sync_get_done(int rc, const char *value, int len, const struct Stat *stat,
                          const void *data)
{
    (void)stat;
    struct sync_slot *slot = (struct sync_slot *)data;
    struct sync_batch *b = slot->b;
    pthread_mutex_lock(&b->mu);
    if (rc == ZOK) {
        size_t n = value != NULL && len > 0 ? (size_t)len : 0;
        b->values[slot->index] = xmalloc(n + 1);
        if (n > 0)
            memcpy(b->values[slot->index], value, n);
        b->values[slot->index][n] = '\0';
        b->lens[slot->index] = n;
    } else if (rc != ZNONODE && b->rc == ZOK) {
        b->rc = rc;
    }
    b->remaining--;
    pthread_cond_signal(&b->cv);
    batch_put(b);
}

static struct sync_batch *batch_new(size_t n_ops)
{
    struct sync_batch *b = XNEW(struct sync_batch);
    pthread_mutex_init(&b->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&b->cv, &ca);
    pthread_condattr_destroy(&ca);
    b->refs = 1;
    b->remaining = n_ops;
    b->rc = ZOK;
    return b;
}

/* Waits for the batch's operations; returns ZOK, their first failure, or
 * ZOPERATIONTIMEOUT. Drops the waiter's reference. */
static int batch_wait(struct zk *zk, struct sync_batch *b)
{
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    double secs = zk_session_timeout(zk) + 1.0;
    deadline.tv_sec += (time_t)secs;
    deadline.tv_nsec += (long)((secs - (double)(time_t)secs) * 1e9);
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&b->mu);
    int timed_out = 0;
    while (b->remaining > 0 && !timed_out)
        timed_out = pthread_cond_timedwait(&b->cv, &b->mu, &deadline) == ETIMEDOUT;
    return b->remaining > 0 ? ZOPERATIONTIMEOUT : b->rc;
}

int zk_sync_children(struct zk *zk, const char *path, char ***names, size_t *n,
                     struct error *err)
{
    *names = NULL;
    *n = 0;
    if (zk->zh == NULL || !zk->connected)
        return error_set(err, -ENOTCONN, "not connected to ZooKeeper");
    struct sync_batch *b = batch_new(1);
    b->refs++;
    int rc = zoo_aget_children(zk->zh, path, 0, sync_children_done, b);
    if (rc != ZOK) {
        pthread_mutex_lock(&b->mu);
        b->refs--;
        b->remaining--;
        b->rc = rc;
        pthread_mutex_unlock(&b->mu);
    }
    rc = batch_wait(zk, b);   /* holds b->mu */
    if (rc == ZOK) {
        *names = b->names;
        *n = b->n_names;
        b->names = NULL;
        b->n_names = 0;
    }
    batch_put(b);
    if (rc != ZOK)
        return error_set(err, rc == ZNONODE ? -ENOENT : -EIO, "listing %s: %s", path, zerror(rc));
    return 0;
}

int zk_sync_get_many(struct zk *zk, char *const *paths, size_t n, char ***values, size_t **lens,
                     struct error *err)
{
    *values = NULL;
    *lens = NULL;
    if (zk->zh == NULL || !zk->connected)
        return error_set(err, -ENOTCONN, "not connected to ZooKeeper");
    struct sync_batch *b = batch_new(n);
    b->n = n;
    b->values = xcalloc(n ? n : 1, sizeof(char *));
    b->lens = xcalloc(n ? n : 1, sizeof(size_t));
    b->slots = xcalloc(n ? n : 1, sizeof(*b->slots));
    for (size_t i = 0; i < n; i++) {
        b->slots[i].b = b;
        b->slots[i].index = i;
        pthread_mutex_lock(&b->mu);
        b->refs++;
        pthread_mutex_unlock(&b->mu);
        int rc = zoo_aget(zk->zh, paths[i], 0, sync_get_done, &b->slots[i]);
        if (rc != ZOK) {
            pthread_mutex_lock(&b->mu);
            b->refs--;
            b->remaining--;
            if (b->rc == ZOK)
                b->rc = rc;
            pthread_mutex_unlock(&b->mu);
        }
    }
    int rc = batch_wait(zk, b);   /* holds b->mu */
    if (rc == ZOK) {
        *values = b->values;
        *lens = b->lens;
        b->values = NULL;
        b->lens = NULL;
        b->n = 0;
    }
    batch_put(b);
    if (rc != ZOK)
        return error_set(err, -EIO, "reading %zu znodes: %s", n, zerror(rc));
    return 0;
}

void zk_strings_free(char **v, size_t n)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}
