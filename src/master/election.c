/* Leader election for several masters (election.h). Each master adds an
 * ephemeral sequential member "<path>/json.info_" holding its MasterInfo in
 * JSON (Mesos's format, so Mesos tools can read it) and watches the group
 * through a detector; the lowest member leads. A leader whose session is
 * lost stops leading at once, and contends again on its next session
 * (Mesos aborts the process instead; the brief asks for a clean resume). */
#include "master/election.h"

#include <errno.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zookeeper/zookeeper.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "ha/detector.h"
#include "master/master.h"
#include "wire/json.h"

#define LOG_COMPONENT "master"

/* After a failed creation of our member, or a failed start as leader. */
#define RETRY_SECS 1.0

struct election {
    struct event_base *base;
    struct zk_url url;
    struct zk *zk;
    struct detector *detector;
    struct master *m;
    char *own_node;              /* our member, NULL while not contending */
    int own_seen;                /* own_node was in a listing of the group */
    char *stale_node;            /* our member of a lost session */
    int contending;              /* its creation is under way */
    struct event *retry_timer;
};

static void contend(struct election *e);

struct zk *election_zk(struct election *e) { return e->zk; }
const char *election_path(const struct election *e) { return e->url.path; }

static void retry_later(struct election *e)
{
    struct timeval tv = clock_timeval(RETRY_SECS);
    evtimer_add(e->retry_timer, &tv);
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    contend(arg);
}

static void withdraw(struct election *e)
{
    if (e->own_node == NULL)
        return;
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", e->url.path, e->own_node);
    zk_delete(e->zk, e, path, NULL, NULL);
    free(e->own_node);
    e->own_node = NULL;
}

/* Compares what the group says with what this master does. */
static void check_leadership(struct election *e)
{
    struct master *m = e->m;
    if (m == NULL)
        return;
    const struct detector_leader *l = detector_leader(e->detector);
    int elected = l != NULL && e->own_node != NULL && strcmp(l->node, e->own_node) == 0;
    if (elected && !m->leading) {
        log_info("elected the leading master (%s/%s)", e->url.path, e->own_node);
        struct error err = {0};
        if (master_become_leader(m, &err) != 0) {
            /* Let another master try; this one contends again later. */
            log_error("cannot act as the leading master: %s; withdrawing for %gs", err.msg,
                      RETRY_SECS);
            withdraw(e);
            retry_later(e);
        }
    } else if (!elected && m->leading) {
        log_warn("no longer the leading master: %s leads now",
                 l != NULL && l->info->id != NULL ? l->info->id : "none");
        master_stop_leading(m);
    }
    /* Our member vanished while the session lives (deleted by hand). A
     * listing made before our member was created lacks it too: only a
     * member once listed can have left. */
    if (e->own_node != NULL && detector_listed(e->detector) &&
        detector_has_member(e->detector, e->own_node))
        e->own_seen = 1;
    if (e->own_node != NULL && e->own_seen && detector_listed(e->detector) &&
        !detector_has_member(e->detector, e->own_node) && zk_is_connected(e->zk)) {
        log_warn("our member %s left the group; contending again", e->own_node);
        free(e->own_node);
        e->own_node = NULL;
        contend(e);
    }
}

static void leader_cb(void *arg, const struct detector_leader *leader)
{
    (void)leader;
    check_leadership(arg);
}

static void on_created(void *arg, int rc, const char *data, size_t len)
{
    struct election *e = arg;
    (void)len;
    e->contending = 0;
    if (rc != ZOK) {
        log_warn("cannot join the masters' group in %s: %s", e->url.path, zk_error_name(rc));
        retry_later(e);
        return;
    }
    const char *slash = strrchr(data, '/');
    free(e->own_node);
    e->own_node = xstrdup(slash != NULL ? slash + 1 : data);
    e->own_seen = 0;
    log_info("contending for leadership as %s/%s", e->url.path, e->own_node);
    detector_refresh(e->detector);
}

static void on_parents(void *arg, int rc, const char *data, size_t len)
{
    struct election *e = arg;
    (void)data;
    (void)len;
    if (rc != ZOK) {
        e->contending = 0;
        log_warn("cannot create %s in ZooKeeper: %s", e->url.path, zk_error_name(rc));
        retry_later(e);
        return;
    }
    struct buf json = BUF_INIT;
    wire_json_encode(&e->m->info->base, &json);
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s_", e->url.path, DETECTOR_LABEL);
    zk_create(e->zk, e, path, json.data, json.len, ZOO_EPHEMERAL | ZOO_SEQUENCE, on_created, e);
    buf_free(&json);
}

static void contend(struct election *e)
{
    if (e->m == NULL || e->contending || e->own_node != NULL || !zk_is_connected(e->zk))
        return;
    e->contending = 1;
    if (e->stale_node != NULL) {
        /* The member of our lost session may outlive it on the server for
         * a session timeout (a server that restarts restores sessions):
         * it must not keep the leadership from everyone meanwhile. */
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", e->url.path, e->stale_node);
        zk_delete(e->zk, e, path, NULL, NULL);
        free(e->stale_node);
        e->stale_node = NULL;
    }
    zk_create_parents(e->zk, e, e->url.path, on_parents, e);
}

static void session_cb(struct zk *zk, enum zk_session_event ev, void *arg)
{
    struct election *e = arg;
    (void)zk;
    if (ev == ZK_SESSION_LOST) {
        /* What was under way belonged to the old session. */
        zk_cancel(e->zk, e);
        e->contending = 0;
        if (e->own_node != NULL) {
            free(e->stale_node);
            e->stale_node = e->own_node;
            e->own_node = NULL;
        }
        if (e->m != NULL && e->m->leading) {
            log_warn("lost the ZooKeeper session: no longer the leading master");
            master_stop_leading(e->m);
        }
    }
    detector_session_event(e->detector, ev);
    if (ev == ZK_SESSION_STARTED)
        contend(e);
}

static void watch_cb(struct zk *zk, int type, const char *path, void *arg)
{
    struct election *e = arg;
    (void)zk;
    detector_watch_event(e->detector, type, path);
}

struct election *election_new(struct event_base *base, const char *zk_url, double session_timeout,
                              struct error *err)
{
    struct election *e = XNEW(struct election);
    e->base = base;
    if (zk_url_parse(zk_url, &e->url, err) != 0) {
        error_prefix(err, "--zk");
        free(e);
        return NULL;
    }
    static const struct zk_callbacks cbs = {session_cb, watch_cb};
    e->zk = zk_new(base, &e->url, session_timeout, &cbs, e, err);
    if (e->zk == NULL) {
        free(e);
        return NULL;
    }
    e->detector = detector_new_on(e->zk, e->url.path, leader_cb, e);
    e->retry_timer = evtimer_new(base, retry_cb, e);
    return e;
}

void election_start(struct election *e, struct master *m)
{
    e->m = m;
    m->election = e;
    log_info("electing the leading master through ZooKeeper %s%s", e->url.hosts, e->url.path);
    contend(e);
}

void election_free(struct election *e)
{
    if (e == NULL)
        return;
    detector_free(e->detector);
    /* Closing the session removes our member at once. */
    zk_free(e->zk);
    event_free(e->retry_timer);
    free(e->own_node);
    free(e->stale_node);
    free(e);
}

/* ---- redirects ---- */

/* The leader another master should send clients to; NULL when none is
 * known (or the group names this master while it does not lead yet). */
static const struct detector_leader *other_leader(const struct master *m)
{
    if (m->election == NULL)
        return NULL;
    const struct detector_leader *l = detector_leader(m->election->detector);
    if (l == NULL || l->port <= 0)
        return NULL;
    if (l->info->id != NULL && strcmp(l->info->id, m->id) == 0)
        return NULL;
    return l;
}

int master_redirect_unless_leading(struct master *m, struct http_request *req)
{
    /* A single master (no --zk) always leads. */
    if (m->election == NULL || m->leading)
        return 0;
    const struct detector_leader *l = other_leader(m);
    if (l == NULL) {
        http_respond_error(req, 503, "No leader elected");
        return 1;
    }
    const char *uri = evhttp_request_get_uri(req->ev);
    char loc[1024];
    snprintf(loc, sizeof(loc), "//%s:%d%s", l->hostname, l->port,
             uri != NULL && uri[0] == '/' ? uri : req->path);
    log_debug("redirecting %s to the leading master at %s", req->path, loc);
    http_response_header(req, "Location", loc);
    http_respond_empty(req, 307);
    return 1;
}

void master_redirect_to_leader(struct master *m, struct http_request *req)
{
    char loc[600];
    if (m->election == NULL || m->leading) {
        snprintf(loc, sizeof(loc), "//%s:%d", m->hostname, m->port);
    } else {
        const struct detector_leader *l = other_leader(m);
        if (l == NULL) {
            http_respond_error(req, 503, "No leader elected");
            return;
        }
        snprintf(loc, sizeof(loc), "//%s:%d", l->hostname, l->port);
    }
    http_response_header(req, "Location", loc);
    http_respond_empty(req, 307);
}
