/* Leader detection (detector.h): list the group with a watch, read the
 * lowest member's MasterInfo, tell the owner when the leader changes. A
 * lost session means no leader until a new session lists the group again,
 * as Mesos's detector reports None when its group's session expires. */
#include "ha/detector.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zookeeper/zookeeper.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "wire/json.h"
#include "wire/pb.h"

#define LOG_COMPONENT "detector"

/* A listing that failed for a reason other than the session is retried. */
#define RETRY_SECS 1.0

struct detector {
    struct zk *zk;
    int owns_zk;
    char path[512];
    detector_fn fn;
    void *arg;

    char **members;
    size_t n_members;
    int listed;
    int listing;                 /* a listing in flight */
    int relist;                  /* and another one wanted after it */
    int fetches;                 /* reads of the lowest member in flight */
    char *fetching;              /* the member the newest read is for */

    char *leader_node;           /* NULL: no leader */
    Tepui__MasterInfo *leader_info;
    struct detector_leader leader;

    struct event *retry_timer;
    int busy;
    int dead;
};

static void list(struct detector *d);

static void release(struct detector *d)
{
    if (d->owns_zk)
        zk_free(d->zk);
    else
        zk_cancel(d->zk, d);
    if (d->retry_timer != NULL)
        event_free(d->retry_timer);
    zk_strings_free(d->members, d->n_members);
    free(d->fetching);
    free(d->leader_node);
    pb_free(d->leader_info);
    free(d);
}

static void enter(struct detector *d) { d->busy++; }

/* Returns 1 when d is gone. */
static int leave(struct detector *d)
{
    if (--d->busy == 0 && d->dead) {
        release(d);
        return 1;
    }
    return d->dead;
}

void detector_free(struct detector *d)
{
    if (d == NULL || d->dead)
        return;
    d->dead = 1;
    if (d->busy == 0)
        release(d);
}

/* Where to reach a master: Mesos's clients use its address (or the ip
 * field, network byte order) rather than the hostname. */
static void fill_leader(struct detector_leader *l, const Tepui__MasterInfo *mi)
{
    memset(l, 0, sizeof(*l));
    l->info = mi;
    const Tepui__Address *a = mi->address;
    if (a != NULL && a->ip != NULL && a->ip[0] != '\0') {
        snprintf(l->host, sizeof(l->host), "%s", a->ip);
    } else if (mi->ip != 0) {
        struct in_addr in = {.s_addr = mi->ip};
        inet_ntop(AF_INET, &in, l->host, sizeof(l->host));
    } else if (mi->hostname != NULL) {
        snprintf(l->host, sizeof(l->host), "%s", mi->hostname);
    }
    l->port = a != NULL && a->port > 0 ? a->port : (int)mi->port;
    snprintf(l->hostname, sizeof(l->hostname), "%s",
             mi->hostname != NULL && mi->hostname[0] != '\0' ? mi->hostname : l->host);
}

/* Records the leader (info owned; both NULL: none) and tells the owner when
 * it changed. The owner's callback is the last thing done. */
static void set_leader(struct detector *d, const char *node, Tepui__MasterInfo *info)
{
    int same = (node == NULL && d->leader_node == NULL) ||
               (node != NULL && d->leader_node != NULL && strcmp(node, d->leader_node) == 0);
    if (same && (node == NULL || info == NULL)) {
        pb_free(info);
        return;
    }
    free(d->leader_node);
    pb_free(d->leader_info);
    d->leader_node = node != NULL ? xstrdup(node) : NULL;
    d->leader_info = info;
    if (info != NULL) {
        fill_leader(&d->leader, info);
        d->leader.node = d->leader_node;
        log_info("leading master is %s at %s:%d (%s)", info->id ? info->id : "?", d->leader.host,
                 d->leader.port, d->leader_node);
    } else {
        memset(&d->leader, 0, sizeof(d->leader));
        log_info("no leading master in %s", d->path);
    }
    if (same)
        return;   /* the same member re-read: nothing the owner must do */
    if (d->fn != NULL)
        d->fn(d->arg, info != NULL ? &d->leader : NULL);
}

static int is_member_name(const char *name, long long *seq)
{
    const char *u = strrchr(name, '_');
    const char *digits = u != NULL ? u + 1 : name;
    if (u != NULL && !(strncmp(name, DETECTOR_LABEL "_", sizeof(DETECTOR_LABEL)) == 0 ||
                       strncmp(name, "info_", 5) == 0))
        return 0;
    if (*digits == '\0')
        return 0;
    char *end = NULL;
    errno = 0;
    long long v = strtoll(digits, &end, 10);
    if (errno != 0 || *end != '\0' || v < 0)
        return 0;
    *seq = v;
    return 1;
}

static Tepui__MasterInfo *parse_info(const char *node, const char *data, size_t len)
{
    struct error err = {0};
    if (strncmp(node, DETECTOR_LABEL "_", sizeof(DETECTOR_LABEL)) == 0) {
        Tepui__MasterInfo *mi = (Tepui__MasterInfo *)wire_json_decode(
            &tepui__master_info__descriptor, data, len, &err);
        if (mi == NULL)
            log_warn("cannot parse the MasterInfo of %s: %s", node, err.msg);
        return mi;
    }
    Tepui__MasterInfo *mi = tepui__master_info__unpack(NULL, len, (const uint8_t *)data);
    if (mi == NULL)
        log_warn("cannot parse the MasterInfo (protobuf) of %s", node);
    return mi;
}

static void retry_later(struct detector *d)
{
    struct timeval tv = clock_timeval(RETRY_SECS);
    evtimer_add(d->retry_timer, &tv);
}

static int session_error(int rc)
{
    return rc == ZCONNECTIONLOSS || rc == ZSESSIONEXPIRED || rc == ZSESSIONMOVED ||
           rc == ZCLOSING || rc == ZINVALIDSTATE || rc == ZOPERATIONTIMEOUT;
}

static void on_data(void *arg, int rc, const char *data, size_t len)
{
    struct detector *d = arg;
    d->fetches--;
    if (d->dead || d->fetches > 0 || d->fetching == NULL)
        return;   /* a newer read is under way */
    enter(d);
    char *node = d->fetching;
    d->fetching = NULL;
    if (rc == ZNONODE) {
        list(d);   /* it went away meanwhile */
    } else if (rc != ZOK) {
        log_warn("cannot read %s/%s: %s", d->path, node, zk_error_name(rc));
        if (!session_error(rc))
            retry_later(d);
    } else {
        Tepui__MasterInfo *mi = parse_info(node, data, len);
        set_leader(d, mi != NULL ? node : NULL, mi);
    }
    free(node);
    leave(d);
}

static void on_exists(void *arg, int rc, const char *data, size_t len)
{
    struct detector *d = arg;
    (void)data;
    (void)len;
    /* Created meanwhile: the watch did not fire, list now. */
    if (!d->dead && rc == ZOK)
        list(d);
}

static void on_children(void *arg, int rc, char *const *names, size_t n)
{
    struct detector *d = arg;
    d->listing = 0;
    if (d->dead)
        return;
    enter(d);
    if (d->relist) {
        d->relist = 0;
        list(d);
        goto out;
    }
    if (rc != ZOK && rc != ZNONODE) {
        log_warn("cannot list %s: %s", d->path, zk_error_name(rc));
        /* A session problem is followed by a session event, which lists. */
        if (!session_error(rc))
            retry_later(d);
        goto out;
    }
    zk_strings_free(d->members, d->n_members);
    d->members = NULL;
    d->n_members = 0;
    d->listed = 1;
    const char *lowest = NULL;
    long long lowest_seq = 0;
    if (rc == ZNONODE) {
        /* No master has ever run here: wait for the path. */
        zk_exists(d->zk, d, d->path, 1, on_exists, d);
    } else if (n > 0) {
        d->members = xcalloc(n, sizeof(char *));
        for (size_t i = 0; i < n; i++) {
            long long seq;
            if (!is_member_name(names[i], &seq))
                continue;
            d->members[d->n_members++] = xstrdup(names[i]);
            if (lowest == NULL || seq < lowest_seq) {
                lowest = d->members[d->n_members - 1];
                lowest_seq = seq;
            }
        }
    }
    if (lowest == NULL) {
        set_leader(d, NULL, NULL);
        goto out;
    }
    if (d->leader_node != NULL && strcmp(d->leader_node, lowest) == 0 && d->fetching == NULL)
        goto out;   /* unchanged */
    free(d->fetching);
    d->fetching = xstrdup(lowest);
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", d->path, lowest);
    d->fetches++;
    zk_get(d->zk, d, path, 0, on_data, d);
out:
    leave(d);
}

static void list(struct detector *d)
{
    if (d->listing) {
        d->relist = 1;
        return;
    }
    d->listing = 1;
    zk_children(d->zk, d, d->path, 1, on_children, d);
}

void detector_refresh(struct detector *d) { list(d); }

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct detector *d = arg;
    if (!d->dead && zk_is_connected(d->zk))
        list(d);
}

void detector_session_event(struct detector *d, enum zk_session_event ev)
{
    if (d == NULL || d->dead)
        return;
    enter(d);
    switch (ev) {
    case ZK_SESSION_STARTED:
    case ZK_RECONNECTED:
        list(d);
        break;
    case ZK_DISCONNECTED:
        /* The session may survive: keep the leader until it is lost. */
        break;
    case ZK_SESSION_LOST:
        zk_strings_free(d->members, d->n_members);
        d->members = NULL;
        d->n_members = 0;
        d->listed = 0;
        d->listing = 0;
        d->relist = 0;
        free(d->fetching);
        d->fetching = NULL;
        set_leader(d, NULL, NULL);
        break;
    }
    leave(d);
}

void detector_watch_event(struct detector *d, int type, const char *path)
{
    if (d == NULL || d->dead)
        return;
    (void)type;
    if (strcmp(path, d->path) == 0)
        list(d);
}

static void own_session_cb(struct zk *zk, enum zk_session_event ev, void *arg)
{
    (void)zk;
    detector_session_event(arg, ev);
}

static void own_watch_cb(struct zk *zk, int type, const char *path, void *arg)
{
    (void)zk;
    detector_watch_event(arg, type, path);
}

static struct detector *detector_alloc(struct event_base *base, const char *path, detector_fn fn,
                                       void *arg)
{
    struct detector *d = XNEW(struct detector);
    snprintf(d->path, sizeof(d->path), "%s", path);
    d->fn = fn;
    d->arg = arg;
    d->retry_timer = evtimer_new(base, retry_cb, d);
    return d;
}

struct detector *detector_new(struct event_base *base, const char *url, double session_timeout,
                              detector_fn fn, void *arg, struct error *err)
{
    struct zk_url u;
    if (zk_url_parse(url, &u, err) != 0)
        return NULL;
    struct detector *d = detector_alloc(base, u.path, fn, arg);
    static const struct zk_callbacks cbs = {own_session_cb, own_watch_cb};
    d->zk = zk_new(base, &u, session_timeout, &cbs, d, err);
    if (d->zk == NULL) {
        event_free(d->retry_timer);
        free(d);
        return NULL;
    }
    d->owns_zk = 1;
    return d;
}

struct detector *detector_new_on(struct zk *zk, const char *path, detector_fn fn, void *arg)
{
    struct detector *d = detector_alloc(zk_base(zk), path, fn, arg);
    d->zk = zk;
    if (zk_is_connected(zk))
        list(d);
    return d;
}

const struct detector_leader *detector_leader(const struct detector *d)
{
    return d != NULL && d->leader_info != NULL ? &d->leader : NULL;
}

int detector_has_member(const struct detector *d, const char *node)
{
    for (size_t i = 0; d != NULL && node != NULL && i < d->n_members; i++)
        if (strcmp(d->members[i], node) == 0)
            return 1;
    return 0;
}

int detector_listed(const struct detector *d) { return d != NULL && d->listed; }

/* ---- one-shot resolution ---- */

struct resolve {
    struct event_base *base;
    char host[256];
    int port;
    int found;
};

static void resolve_fn(void *arg, const struct detector_leader *leader)
{
    struct resolve *r = arg;
    if (leader == NULL || leader->host[0] == '\0' || leader->port <= 0)
        return;
    snprintf(r->host, sizeof(r->host), "%s", leader->host);
    r->port = leader->port;
    r->found = 1;
    event_base_loopbreak(r->base);
}

int detector_resolve(const char *url, double timeout, char *host, size_t n, int *port,
                     struct error *err)
{
    struct resolve r = {0};
    r.base = event_base_new();
    if (r.base == NULL)
        return error_set(err, -ENOMEM, "cannot create an event loop");
    struct detector *d = detector_new(r.base, url, timeout > 10 ? 10 : timeout, resolve_fn, &r,
                                      err);
    int rc = 0;
    if (d == NULL) {
        rc = -EINVAL;
        goto out;
    }
    struct timeval tv = clock_timeval(timeout);
    event_base_loopexit(r.base, &tv);
    event_base_dispatch(r.base);
    detector_free(d);
    if (!r.found) {
        rc = error_set(err, -ETIMEDOUT, "no leading master found in %s within %g seconds", url,
                       timeout);
        goto out;
    }
    snprintf(host, n, "%s", r.host);
    *port = r.port;
out:
    event_base_loop(r.base, EVLOOP_NONBLOCK);
    event_base_free(r.base);
    return rc;
}
