/* The scheduler library (include/tepui/scheduler.h): the SUBSCRIBE stream and
 * its RecordIO decoding, liveness by heartbeats, re-subscription with backoff,
 * redirects to the leading master, leader detection through ZooKeeper for a
 * zk:// master, and calls on a keep-alive connection.
 * It keeps no offer or task state and never retries a call on its own. */
#include "tepui/scheduler.h"

#include <errno.h>
#include <event2/http.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "common/clock.h"
#include "common/buf.h"
#include "common/error.h"
#include "common/log.h"
#include "common/uuid.h"
#include "common/xalloc.h"
#include "ha/detector.h"
#include "http/client.h"
#include "wire/codec.h"
#include "wire/pb.h"
#include "wire/recordio.h"

#define LOG_COMPONENT "scheduler"

#define SCHEDULER_API_PATH "/api/v1/scheduler"
/* One event may carry offers for thousands of agents; anything bigger than
 * this is a broken or hostile stream. */
#define MAX_EVENT_BYTES (64u << 20)
/* Mesos caps Mesos-Stream-Id at 128 bytes. */
#define MAX_STREAM_ID 128
/* A redirect loop between masters that each think the other leads. */
#define MAX_REDIRECTS 5
#define DEFAULT_CALL_TIMEOUT_SECS 10.0
#define DEFAULT_BACKOFF_MIN_SECS 0.5
#define DEFAULT_BACKOFF_MAX_SECS 15.0
#define DEFAULT_MISSED_HEARTBEATS 5
/* When SUBSCRIBED names no interval: Mesos's DEFAULT_HEARTBEAT_INTERVAL. */
#define DEFAULT_HEARTBEAT_SECS 15.0
/* Of the session with ZooKeeper for a zk:// master: Mesos's default. */
#define ZK_SESSION_TIMEOUT_SECS 10.0

enum sched_state {
    SCHED_IDLE,          /* not started, stopped, or given up */
    SCHED_CONNECTING,    /* SUBSCRIBE sent, no answer yet */
    SCHED_CONNECTED,     /* 200 received, waiting for SUBSCRIBED */
    SCHED_SUBSCRIBED,
    SCHED_BACKOFF,       /* waiting to try again */
};

struct endpoint {
    char host[256];
    int port;
    char path[512];      /* of the scheduler API on that master */
};

/* A keep-alive connection to one master, shared by the calls sent there. */
struct peer {
    LIST_ENTRY(peer) link;
    char host[256];
    int port;
    struct http_client *client;
    int refs;
    int stale;           /* from an earlier subscription: no new calls */
};

struct pending_call {
    TAILQ_ENTRY(pending_call) link;
    struct tepui_scheduler *s;
    struct peer *peer;
    struct http_call *http;
    struct buf body;                  /* kept to resend after a redirect */
    char path[512];
    char stream_id[MAX_STREAM_ID + 1];
    int redirects;
    Tepui__Scheduler__Call__Type type;
    Tepui__FrameworkInfo *new_info;   /* UPDATE_FRAMEWORK: adopted on success */
    tepui_call_done_fn done;
    void *arg;
};

struct tepui_scheduler {
    struct event_base *base;
    struct tepui_scheduler_callbacks cb;
    void *arg;
    Tepui__FrameworkInfo *info;       /* owned; id set once subscribed */
    enum wire_format format;          /* what we send and ask for */
    enum wire_format stream_format;   /* what the stream answered in */
    int auto_reconnect;
    double call_timeout;
    double backoff_min, backoff_max;
    int max_missed_heartbeats;

    struct endpoint master;           /* as configured, or as last detected */
    struct endpoint leader;           /* where SUBSCRIBE goes now */
    char *zk_url;                     /* a zk:// master: found by the detector */
    struct detector *detector;
    int have_leader;                  /* the detector names one (master is it) */
    char leader_text[300];            /* "host:port" for tepui_scheduler_leader */
    int redirects;                    /* consecutive SUBSCRIBE redirects */

    enum sched_state state;
    struct http_client_stream *stream;
    struct recordio_reader reader;
    char stream_id[MAX_STREAM_ID + 1];
    char *location;                   /* of a 307 answer to SUBSCRIBE */
    int announced;                    /* connected ran; disconnected owed */
    int teardown_sent;                /* the stream's end is expected */
    double heartbeat_interval;        /* 0 until SUBSCRIBED */
    struct event *liveness_timer;     /* heartbeats (or the answer) overdue */
    struct event *backoff_timer;      /* next SUBSCRIBE attempt */
    int attempt;                      /* failed attempts since SUBSCRIBED */
    uint64_t rng;

    struct peer *peer;                /* calls go here: the leader */
    LIST_HEAD(, peer) peers;
    TAILQ_HEAD(, pending_call) calls;

    /* Entry points from the loop hold busy; a free requested meanwhile
     * (from a user callback) is carried out when the last one returns. */
    int busy;
    int dead;
};

static const struct http_stream_callbacks stream_callbacks;
static int subscribe_now(struct tepui_scheduler *s, const char **why);

/* ---- small helpers ---- */

static void enter(struct tepui_scheduler *s) { s->busy++; }
static void release(struct tepui_scheduler *s);

/* Returns 1 when s is gone and the caller must not touch it. */
static int leave(struct tepui_scheduler *s)
{
    if (--s->busy == 0 && s->dead) {
        release(s);
        return 1;
    }
    return 0;
}

static struct timeval tv_from(double secs)
{
    if (!(secs > 0))
        secs = 0;
    struct timeval tv = clock_timeval(secs);
    return tv;
}

/* xorshift64*: jitter only, no need for anything stronger. */
static double random_unit(struct tepui_scheduler *s)
{
    uint64_t x = s->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    s->rng = x;
    return (double)((x * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

static const char *framework_id_or(const struct tepui_scheduler *s, const char *none)
{
    return s->info->id != NULL ? s->info->id->value : none;
}

/* "host:port[/prefix]", "http://..." or a Location "//host:port/path". A
 * Location names the full path of the API; a configured master a prefix. */
static int endpoint_parse(const char *text, int is_location, struct endpoint *ep, struct error *err)
{
    struct http_endpoint he;
    int rc = http_endpoint_parse(text, 5050, &he, err);
    if (rc != 0)
        return rc;
    memset(ep, 0, sizeof(*ep));
    snprintf(ep->host, sizeof(ep->host), "%s", he.host);
    ep->port = he.port;
    if (is_location && he.prefix[0] != '\0')
        snprintf(ep->path, sizeof(ep->path), "%s", he.prefix);
    else
        snprintf(ep->path, sizeof(ep->path), "%s%s", he.prefix, SCHEDULER_API_PATH);
    return 0;
}

static void set_leader(struct tepui_scheduler *s, const struct endpoint *ep)
{
    s->leader = *ep;
    snprintf(s->leader_text, sizeof(s->leader_text), "%s:%d", ep->host, ep->port);
}

static const char *media_type(enum wire_format f) { return wire_format_media_type(f); }

/* ---- peers (call connections) ---- */

static struct peer *peer_get(struct tepui_scheduler *s, const char *host, int port)
{
    struct peer *p;
    LIST_FOREACH(p, &s->peers, link)
        if (!p->stale && p->port == port && strcmp(p->host, host) == 0) {
            p->refs++;
            return p;
        }
    p = XNEW(struct peer);
    snprintf(p->host, sizeof(p->host), "%s", host);
    p->port = port;
    p->client = http_client_new(s->base, host, port, s->call_timeout);
    p->refs = 1;
    LIST_INSERT_HEAD(&s->peers, p, link);
    return p;
}

static void peer_put(struct peer *p)
{
    if (p == NULL || --p->refs > 0)
        return;
    LIST_REMOVE(p, link);
    http_client_free(p->client);
    free(p);
}

/* Calls follow the subscription to whichever master holds it, on a fresh
 * connection: a kept-alive one may lead to a master that died meanwhile
 * (possibly without a FIN reaching us). Calls in flight keep their own. */
static void use_leader_for_calls(struct tepui_scheduler *s)
{
    struct peer *p;
    LIST_FOREACH(p, &s->peers, link)
        p->stale = 1;
    peer_put(s->peer);
    s->peer = peer_get(s, s->leader.host, s->leader.port);
}

/* ---- the subscription ---- */

static void liveness_arm(struct tepui_scheduler *s)
{
    double secs = s->call_timeout;
    if (s->state == SCHED_SUBSCRIBED)
        secs = s->heartbeat_interval * s->max_missed_heartbeats;
    struct timeval tv = tv_from(secs);
    event_add(s->liveness_timer, &tv);
}

static void stream_drop(struct tepui_scheduler *s)
{
    if (s->stream != NULL) {
        http_client_stream_close(s->stream);
        s->stream = NULL;
    }
    recordio_reader_free(&s->reader);
    s->stream_id[0] = '\0';
    free(s->location);
    s->location = NULL;
    s->heartbeat_interval = 0;
    event_del(s->liveness_timer);
}

static void backoff_schedule(struct tepui_scheduler *s)
{
    double cap = s->backoff_min * pow(2.0, s->attempt);
    if (cap > s->backoff_max)
        cap = s->backoff_max;
    /* Half fixed, half random: spread out schedulers that lost the same
     * master at the same moment, without retrying at once. */
    double delay = cap * (0.5 + 0.5 * random_unit(s));
    s->attempt++;
    s->state = SCHED_BACKOFF;
    /* A new leader is found through the configured master. */
    set_leader(s, &s->master);
    s->redirects = 0;
    log_info("framework %s: subscribing again in %.2fs (attempt %d)", framework_id_or(s, "(new)"),
             delay, s->attempt);
    struct timeval tv = tv_from(delay);
    event_add(s->backoff_timer, &tv);
}

/* The stream (or an attempt at one) is over. retry: worth another try.
 * disconnected runs when a subscription was announced or no retry follows.
 * Returns 1 when the user freed s from the callback. */
static int go_down(struct tepui_scheduler *s, const char *why, int retry)
{
    stream_drop(s);
    s->state = SCHED_IDLE;
    int will_retry = retry && s->auto_reconnect && !s->teardown_sent;
    log_info("framework %s: %s: %s", framework_id_or(s, "(new)"),
             s->announced ? "disconnected" : "subscription attempt failed", why);
    if (will_retry)
        backoff_schedule(s);
    if (s->announced || !will_retry) {
        s->announced = 0;
        if (s->cb.disconnected != NULL)
            s->cb.disconnected(s, why, s->arg);
    }
    return s->dead;
}

static void adopt_framework_id(struct tepui_scheduler *s, const Tepui__FrameworkID *id)
{
    if (s->info->id != NULL && strcmp(s->info->id->value, id->value) == 0)
        return;
    pb_free(s->info->id);
    s->info->id = PB_COPY(Tepui__FrameworkID, id);
}

/* Hands one event to its callback; returns 1 when the stream this event
 * came from is no longer ours to read (freed, stopped, failed over). */
static int dispatch(struct tepui_scheduler *s, struct http_client_stream *st,
                    const Tepui__Scheduler__Event *ev)
{
    const struct tepui_scheduler_callbacks *cb = &s->cb;
    void *arg = s->arg;
    if (!ev->has_type) {
        log_warn("framework %s: event without a type ignored", framework_id_or(s, "(new)"));
        return 0;
    }
#define MISSING(field) \
    do { \
        if (ev->field == NULL) { \
            log_warn("framework %s: %s event without '%s' ignored", framework_id_or(s, "(new)"), \
                     #field, #field); \
            return 0; \
        } \
    } while (0)
    switch (ev->type) {
    case TEPUI__SCHEDULER__EVENT__TYPE__SUBSCRIBED:
        MISSING(subscribed);
        if (ev->subscribed->framework_id == NULL) {
            log_warn("SUBSCRIBED event without a framework_id ignored");
            return 0;
        }
        if (s->stream_id[0] == '\0') {
            /* Every call would be refused (400) without it. */
            go_down(s, "SUBSCRIBE answer lacks the Mesos-Stream-Id header", 1);
            return 1;
        }
        adopt_framework_id(s, ev->subscribed->framework_id);
        s->heartbeat_interval = ev->subscribed->has_heartbeat_interval_seconds &&
                                        ev->subscribed->heartbeat_interval_seconds > 0
                                    ? ev->subscribed->heartbeat_interval_seconds
                                    : DEFAULT_HEARTBEAT_SECS;
        s->state = SCHED_SUBSCRIBED;
        s->attempt = 0;
        liveness_arm(s);
        log_info("framework %s subscribed to %s (heartbeat every %gs)", s->info->id->value,
                 s->leader_text, s->heartbeat_interval);
        if (cb->subscribed)
            cb->subscribed(s, ev->subscribed, arg);
        break;
    case TEPUI__SCHEDULER__EVENT__TYPE__OFFERS:
        MISSING(offers);
        if (cb->offers)
            cb->offers(s, ev->offers, arg);
        break;
    case TEPUI__SCHEDULER__EVENT__TYPE__INVERSE_OFFERS:
        MISSING(inverse_offers);
        if (cb->inverse_offers)
            cb->inverse_offers(s, ev->inverse_offers, arg);
        break;
    case TEPUI__SCHEDULER__EVENT__TYPE__RESCIND:
        MISSING(rescind);
        if (cb->rescind)
            cb->rescind(s, ev->rescind, arg);
        break;
    case TEPUI__SCHEDULER__EVENT__TYPE__RESCIND_INVERSE_OFFER:
        MISSING(rescind_inverse_offer);
        if (cb->rescind_inverse_offer)
            cb->rescind_inverse_offer(s, ev->rescind_inverse_offer, arg);
        break;
    case TEPUI__SCHEDULER__EVENT__TYPE__UPDATE:
        MISSING(update);
        if (cb->update)
            cb->update(s, ev->update, arg);
        break;
    case TEPUI__SCHEDULER__EVENT__TYPE__UPDATE_OPERATION_STATUS:
        MISSING(update_operation_status);
        if (cb->update_operation_status)
            cb->update_operation_status(s, ev->update_operation_status, arg);
        break;
    case TEPUI__SCHEDULER__EVENT__TYPE__MESSAGE:
        MISSING(message);
        if (cb->message)
            cb->message(s, ev->message, arg);
        break;
    case TEPUI__SCHEDULER__EVENT__TYPE__FAILURE:
        MISSING(failure);
        if (cb->failure)
            cb->failure(s, ev->failure, arg);
        break;
    case TEPUI__SCHEDULER__EVENT__TYPE__HEARTBEAT:
        if (cb->heartbeat)
            cb->heartbeat(s, arg);
        break;
    case TEPUI__SCHEDULER__EVENT__TYPE__ERROR: {
        const char *msg = ev->error != NULL && ev->error->message != NULL ? ev->error->message
                                                                          : "(no message)";
        log_warn("framework %s: ERROR event from the master: %s", framework_id_or(s, "(new)"), msg);
        if (cb->error)
            cb->error(s, msg, arg);
        if (s->dead || s->stream != st)
            return 1;
        /* The master ends the subscription after an ERROR; so do we, and a
         * new one is the framework's decision (after a failover, another
         * instance holds the framework now). */
        go_down(s, msg, 0);
        return 1;
    }
    default:
        log_debug("framework %s: event type %d ignored", framework_id_or(s, "(new)"), (int)ev->type);
        break;
    }
#undef MISSING
    return s->dead || s->stream != st;
}

static void on_stream_opened(struct http_client_stream *st, int status,
                             const struct evkeyvalq *headers, void *arg)
{
    struct tepui_scheduler *s = arg;
    if (s->dead || st != s->stream)
        return;
    enter(s);
    struct evkeyvalq *h = (struct evkeyvalq *)headers;
    if (status == 307) {
        const char *loc = evhttp_find_header(h, "Location");
        free(s->location);
        s->location = loc != NULL ? xstrdup(loc) : NULL;
        goto out;
    }
    if (status != 200)
        goto out;
    /* A stream that only carries an ERROR may come without an id (tepui's
     * master sends none then); calls need it, so SUBSCRIBED checks. */
    const char *sid = evhttp_find_header(h, "Mesos-Stream-Id");
    if (sid != NULL && strlen(sid) > MAX_STREAM_ID) {
        go_down(s, "SUBSCRIBE answer has a Mesos-Stream-Id longer than 128 bytes", 1);
        goto out;
    }
    snprintf(s->stream_id, sizeof(s->stream_id), "%s", sid != NULL ? sid : "");
    const char *ct = evhttp_find_header(h, "Content-Type");
    enum wire_format f = ct != NULL ? wire_format_from_content_type(ct) : 0;
    s->stream_format = f != 0 ? f : s->format;
    s->state = SCHED_CONNECTED;
    s->redirects = 0;
    s->announced = 1;
    use_leader_for_calls(s);
    liveness_arm(s);
    log_debug("framework %s: stream %s open at %s", framework_id_or(s, "(new)"), s->stream_id,
              s->leader_text);
    if (s->cb.connected)
        s->cb.connected(s, s->arg);
out:
    leave(s);
}

static void on_stream_data(struct http_client_stream *st, const char *data, size_t len, void *arg)
{
    struct tepui_scheduler *s = arg;
    if (s->dead || st != s->stream)
        return;
    enter(s);
    liveness_arm(s);
    recordio_reader_feed(&s->reader, data, len);
    for (;;) {
        const char *rec;
        size_t n;
        struct error err = {0};
        int rc = recordio_reader_next(&s->reader, &rec, &n, &err);
        if (rc == 0)
            break;
        if (rc < 0) {
            struct buf why = BUF_INIT;
            buf_printf(&why, "malformed event stream: %s", err.msg);
            go_down(s, buf_cstr(&why), 1);
            buf_free(&why);
            break;
        }
        Tepui__Scheduler__Event *ev = (Tepui__Scheduler__Event *)wire_decode(
            &tepui__scheduler__event__descriptor, s->stream_format, rec, n, &err);
        if (ev == NULL) {
            struct buf why = BUF_INIT;
            buf_printf(&why, "undecodable event: %s", err.msg);
            go_down(s, buf_cstr(&why), 1);
            buf_free(&why);
            break;
        }
        int stop = dispatch(s, st, ev);
        pb_free(ev);
        if (stop)
            break;
    }
    leave(s);
}

static void on_stream_closed(struct http_client_stream *st, int status, const char *error,
                             const char *body, void *arg)
{
    struct tepui_scheduler *s = arg;
    if (s->dead || st != s->stream)
        return;
    enter(s);
    struct buf why = BUF_INIT;
    if (status == 307) {
        struct endpoint ep;
        struct error err = {0};
        char *loc = s->location;
        s->location = NULL;
        int ok = loc != NULL && endpoint_parse(loc, 1, &ep, &err) == 0;
        if (ok && ++s->redirects <= MAX_REDIRECTS) {
            log_info("framework %s: %s redirects SUBSCRIBE to %s", framework_id_or(s, "(new)"),
                     s->leader_text, loc);
            stream_drop(s);
            set_leader(s, &ep);
            const char *fail = NULL;
            if (subscribe_now(s, &fail) != 0)
                go_down(s, fail, 1);
        } else {
            buf_printf(&why, "%s from %s: %s",
                       s->redirects > MAX_REDIRECTS ? "too many redirects" : "unusable redirect",
                       s->leader_text, loc != NULL ? (ok ? loc : err.msg) : "no Location header");
            go_down(s, buf_cstr(&why), 1);
        }
        free(loc);
        goto out;
    }
    if (status == 0 || status == 200) {
        if (s->teardown_sent) {
            buf_append_str(&why, "framework torn down");
        } else if (s->state == SCHED_CONNECTING) {
            buf_printf(&why, "cannot subscribe at %s: %s", s->leader_text,
                       error != NULL ? error : "connection failed");
        } else {
            buf_printf(&why, "event stream from %s ended: %s", s->leader_text,
                       error != NULL ? error : "closed");
            if (recordio_reader_buffered(&s->reader) > 0)
                log_warn("framework %s: stream ended inside an event (%zu bytes unread)",
                         framework_id_or(s, "(new)"), recordio_reader_buffered(&s->reader));
        }
        go_down(s, buf_cstr(&why), 1);
        goto out;
    }
    buf_printf(&why, "SUBSCRIBE answered %d by %s: %s", status, s->leader_text,
               body != NULL && body[0] != '\0' ? body : "(no body)");
    if (status >= 500) {
        /* 503: no leader elected yet, or still recovering. Later. */
        go_down(s, buf_cstr(&why), 1);
        goto out;
    }
    /* The master refused this subscription; asking again will not help. */
    log_warn("framework %s: %s", framework_id_or(s, "(new)"), buf_cstr(&why));
    if (s->cb.error) {
        s->cb.error(s, buf_cstr(&why), s->arg);
        if (s->dead || s->stream != st)
            goto out;
    }
    go_down(s, buf_cstr(&why), 0);
out:
    buf_free(&why);
    leave(s);
}

static const struct http_stream_callbacks stream_callbacks = {
    on_stream_opened,
    on_stream_data,
    on_stream_closed,
};

/* Sends SUBSCRIBE to the current leader; fills *why on failure. */
static int subscribe_now(struct tepui_scheduler *s, const char **why)
{
    Tepui__Scheduler__Call call = TEPUI__SCHEDULER__CALL__INIT;
    Tepui__Scheduler__Call__Subscribe sub = TEPUI__SCHEDULER__CALL__SUBSCRIBE__INIT;
    sub.framework_info = s->info;
    call.has_type = 1;
    call.type = TEPUI__SCHEDULER__CALL__TYPE__SUBSCRIBE;
    call.subscribe = &sub;
    /* Re-subscribing (failover) names the framework in both places. */
    call.framework_id = s->info->id;
    struct buf body = BUF_INIT;
    wire_encode(&call.base, s->format, &body);
    const struct http_header headers[] = {
        {"Content-Type", media_type(s->format)},
        {"Accept", media_type(s->format)},
        {NULL, NULL},
    };
    recordio_reader_free(&s->reader);
    recordio_reader_init(&s->reader, MAX_EVENT_BYTES);
    s->stream_id[0] = '\0';
    s->stream = http_client_stream_open(s->base, s->leader.host, s->leader.port, s->leader.path,
                                        headers, body.data, body.len, &stream_callbacks, s);
    buf_free(&body);
    if (s->stream == NULL) {
        *why = "cannot open a connection to the master";
        return -EIO;
    }
    s->state = SCHED_CONNECTING;
    liveness_arm(s);
    log_debug("framework %s: SUBSCRIBE to %s%s", framework_id_or(s, "(new)"), s->leader_text,
              s->leader.path);
    return 0;
}

static void on_backoff(evutil_socket_t fd, short what, void *arg)
{
    struct tepui_scheduler *s = arg;
    (void)fd;
    (void)what;
    if (s->dead || s->state != SCHED_BACKOFF)
        return;
    /* No leading master detected: the detector subscribes once there is. */
    if (s->zk_url != NULL && !s->have_leader)
        return;
    enter(s);
    const char *why = NULL;
    if (subscribe_now(s, &why) != 0)
        go_down(s, why, 1);
    leave(s);
}

static void on_liveness(evutil_socket_t fd, short what, void *arg)
{
    struct tepui_scheduler *s = arg;
    (void)fd;
    (void)what;
    if (s->dead || s->stream == NULL)
        return;
    enter(s);
    struct buf why = BUF_INIT;
    if (s->state == SCHED_SUBSCRIBED)
        buf_printf(&why, "no event from %s for %d heartbeat intervals (%gs)",
                   s->leader_text, s->max_missed_heartbeats,
                   s->heartbeat_interval * s->max_missed_heartbeats);
    else
        buf_printf(&why, "SUBSCRIBE at %s not answered within %gs", s->leader_text,
                   s->call_timeout);
    log_warn("framework %s: %s", framework_id_or(s, "(new)"), buf_cstr(&why));
    go_down(s, buf_cstr(&why), 1);
    buf_free(&why);
    leave(s);
}

/* ---- lifetime ---- */

struct tepui_scheduler *tepui_scheduler_new(struct event_base *base, const Tepui__FrameworkInfo *info,
                                            const struct tepui_scheduler_options *opts,
                                            const struct tepui_scheduler_callbacks *cb, void *arg)
{
    if (base == NULL || info == NULL || opts == NULL || opts->master == NULL) {
        log_error("tepui_scheduler_new: base, info, options and options.master are required");
        return NULL;
    }
    if (!protobuf_c_message_check(&info->base)) {
        log_error("tepui_scheduler_new: FrameworkInfo lacks required fields (user, name)");
        return NULL;
    }
    struct endpoint master;
    struct error err = {0};
    memset(&master, 0, sizeof(master));
    if (zk_url_is(opts->master)) {
        struct zk_url zu;
        if (zk_url_parse(opts->master, &zu, &err) != 0) {
            log_error("tepui_scheduler_new: master %s", err.msg);
            return NULL;
        }
    } else if (endpoint_parse(opts->master, 0, &master, &err) != 0) {
        log_error("tepui_scheduler_new: master %s", err.msg);
        return NULL;
    }
    struct tepui_scheduler *s = XNEW(struct tepui_scheduler);
    if (zk_url_is(opts->master))
        s->zk_url = xstrdup(opts->master);
    s->base = base;
    if (cb != NULL)
        s->cb = *cb;
    s->arg = arg;
    s->info = PB_COPY(Tepui__FrameworkInfo, info);
    s->format = opts->format == TEPUI_FORMAT_JSON ? WIRE_JSON : WIRE_PROTOBUF;
    s->stream_format = s->format;
    s->auto_reconnect = opts->auto_reconnect;
    s->call_timeout = opts->call_timeout_secs > 0 ? opts->call_timeout_secs : DEFAULT_CALL_TIMEOUT_SECS;
    s->backoff_min = opts->backoff_min_secs > 0 ? opts->backoff_min_secs : DEFAULT_BACKOFF_MIN_SECS;
    s->backoff_max = opts->backoff_max_secs > 0 ? opts->backoff_max_secs : DEFAULT_BACKOFF_MAX_SECS;
    if (s->backoff_max < s->backoff_min)
        s->backoff_max = s->backoff_min;
    s->max_missed_heartbeats = opts->max_missed_heartbeats > 0 ? opts->max_missed_heartbeats
                                                               : DEFAULT_MISSED_HEARTBEATS;
    s->master = master;
    set_leader(s, &master);
    if (s->zk_url != NULL)
        snprintf(s->leader_text, sizeof(s->leader_text), "%s", s->zk_url);
    s->state = SCHED_IDLE;
    recordio_reader_init(&s->reader, MAX_EVENT_BYTES);
    s->liveness_timer = event_new(base, -1, 0, on_liveness, s);
    s->backoff_timer = event_new(base, -1, 0, on_backoff, s);
    struct uuid u;
    uuid_random(&u);
    memcpy(&s->rng, u.b, sizeof(s->rng));
    s->rng |= 1;   /* xorshift must not start at 0 */
    LIST_INIT(&s->peers);
    TAILQ_INIT(&s->calls);
    return s;
}

/* The detector names a new leading master, or none: a subscription to
 * another master ends, and the next one goes to the new leader at once. */
static void on_detected(void *arg, const struct detector_leader *leader)
{
    struct tepui_scheduler *s = arg;
    if (s->dead)
        return;
    enter(s);
    if (leader == NULL) {
        s->have_leader = 0;
        log_warn("framework %s: no leading master detected", framework_id_or(s, "(new)"));
        if (s->state == SCHED_CONNECTING || s->state == SCHED_CONNECTED ||
            s->state == SCHED_SUBSCRIBED)
            go_down(s, "no leading master detected", 1);
        goto out;
    }
    struct endpoint ep;
    memset(&ep, 0, sizeof(ep));
    snprintf(ep.host, sizeof(ep.host), "%s", leader->host);
    ep.port = leader->port;
    snprintf(ep.path, sizeof(ep.path), "%s", SCHEDULER_API_PATH);
    s->master = ep;
    s->have_leader = 1;
    log_info("framework %s: detected the leading master %s at %s:%d",
             framework_id_or(s, "(new)"), leader->info->id ? leader->info->id : "?", ep.host,
             ep.port);
    if ((s->state == SCHED_CONNECTING || s->state == SCHED_CONNECTED ||
         s->state == SCHED_SUBSCRIBED) &&
        (s->leader.port != ep.port || strcmp(s->leader.host, ep.host) != 0)) {
        char why[400];
        snprintf(why, sizeof(why), "the leading master is now %s:%d", ep.host, ep.port);
        if (go_down(s, why, 1))
            goto out;
    }
    if (s->state == SCHED_BACKOFF) {
        event_del(s->backoff_timer);
        set_leader(s, &s->master);
        s->redirects = 0;
        /* A new master: the failures with the old one say nothing of it
         * (it may answer 503 for a moment while it takes over). */
        s->attempt = 0;
        const char *why = NULL;
        if (subscribe_now(s, &why) != 0)
            go_down(s, why, 1);
    }
out:
    leave(s);
}

int tepui_scheduler_start(struct tepui_scheduler *s)
{
    if (s == NULL || s->dead)
        return -EINVAL;
    if (s->state != SCHED_IDLE)
        return -EALREADY;
    s->teardown_sent = 0;
    s->attempt = 0;
    s->redirects = 0;
    if (s->zk_url != NULL) {
        if (s->detector == NULL) {
            struct error err = {0};
            s->detector = detector_new(s->base, s->zk_url, ZK_SESSION_TIMEOUT_SECS, on_detected,
                                       s, &err);
            if (s->detector == NULL) {
                log_error("framework %s: %s", framework_id_or(s, "(new)"), err.msg);
                return -EIO;
            }
        }
        if (!s->have_leader) {
            /* Subscribes once the detector names the leading master. */
            s->state = SCHED_BACKOFF;
            return 0;
        }
    }
    set_leader(s, &s->master);
    const char *why = NULL;
    int rc = subscribe_now(s, &why);
    if (rc != 0)
        log_error("framework %s: %s", framework_id_or(s, "(new)"), why);
    return rc;
}

void tepui_scheduler_stop(struct tepui_scheduler *s)
{
    if (s == NULL || s->dead)
        return;
    stream_drop(s);
    event_del(s->backoff_timer);
    s->state = SCHED_IDLE;
    s->announced = 0;
}

static void pending_call_free(struct pending_call *pc)
{
    peer_put(pc->peer);
    buf_free(&pc->body);
    pb_free(pc->new_info);
    free(pc);
}

static void release(struct tepui_scheduler *s)
{
    detector_free(s->detector);
    free(s->zk_url);
    stream_drop(s);
    event_free(s->liveness_timer);
    event_free(s->backoff_timer);
    struct pending_call *pc;
    while ((pc = TAILQ_FIRST(&s->calls)) != NULL) {
        TAILQ_REMOVE(&s->calls, pc, link);
        http_call_cancel(pc->http);
        pending_call_free(pc);
    }
    peer_put(s->peer);
    /* Peers still referenced belonged to the calls just freed. */
    struct peer *p;
    while ((p = LIST_FIRST(&s->peers)) != NULL) {
        p->refs = 1;
        peer_put(p);
    }
    pb_free(s->info);
    free(s);
}

void tepui_scheduler_free(struct tepui_scheduler *s)
{
    if (s == NULL || s->dead)
        return;
    s->dead = 1;
    if (s->busy == 0)
        release(s);
    /* Otherwise a callback of ours is on the stack: the last one to return
     * releases s, and each of them checks dead before calling out again. */
}

const char *tepui_scheduler_framework_id(const struct tepui_scheduler *s)
{
    return s != NULL && s->info->id != NULL ? s->info->id->value : NULL;
}

const char *tepui_scheduler_stream_id(const struct tepui_scheduler *s)
{
    return s != NULL && s->stream_id[0] != '\0' ? s->stream_id : NULL;
}

const char *tepui_scheduler_leader(const struct tepui_scheduler *s)
{
    return s != NULL ? s->leader_text : NULL;
}

int tepui_scheduler_is_subscribed(const struct tepui_scheduler *s)
{
    return s != NULL && s->state == SCHED_SUBSCRIBED;
}

/* ---- calls ---- */

static void on_call_done(const struct http_reply *reply, void *arg);

static int call_send(struct pending_call *pc)
{
    struct tepui_scheduler *s = pc->s;
    const struct http_header headers[] = {
        {"Content-Type", media_type(s->format)},
        {"Accept", media_type(s->format)},
        {"Mesos-Stream-Id", pc->stream_id},
        {NULL, NULL},
    };
    pc->http = http_client_request(pc->peer->client, "POST", pc->path, headers, pc->body.data,
                                   pc->body.len, on_call_done, pc);
    return pc->http != NULL ? 0 : -EIO;
}

static const char *call_type_name(Tepui__Scheduler__Call__Type t)
{
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&tepui__scheduler__call__type__descriptor, (int)t);
    return v != NULL ? v->name : "UNKNOWN";
}

/* A 307 to a call: send it once more where the Location says. */
static int call_redirect(struct pending_call *pc, const char *location)
{
    struct tepui_scheduler *s = pc->s;
    struct endpoint ep;
    struct error err = {0};
    if (location == NULL || ++pc->redirects > MAX_REDIRECTS ||
        endpoint_parse(location, 1, &ep, &err) != 0)
        return -EINVAL;
    log_info("framework %s: %s call redirected to %s", framework_id_or(s, "(new)"),
             call_type_name(pc->type), location);
    struct peer *old = pc->peer;
    pc->peer = peer_get(s, ep.host, ep.port);
    snprintf(pc->path, sizeof(pc->path), "%s", ep.path);
    peer_put(old);
    return call_send(pc);
}

static void on_call_done(const struct http_reply *reply, void *arg)
{
    struct pending_call *pc = arg;
    struct tepui_scheduler *s = pc->s;
    pc->http = NULL;
    if (s->dead)
        return;   /* not reached: release cancels every call */
    enter(s);
    if (reply->status == 307 && call_redirect(pc, http_reply_header(reply, "Location")) == 0)
        goto out;
    TAILQ_REMOVE(&s->calls, pc, link);
    int ok = reply->status >= 200 && reply->status < 300;
    if (pc->type == TEPUI__SCHEDULER__CALL__TYPE__TEARDOWN) {
        if (ok) {
            log_info("framework %s torn down", framework_id_or(s, "(new)"));
            pb_free(s->info->id);
            s->info->id = NULL;
        } else {
            s->teardown_sent = 0;
        }
    }
    if (pc->type == TEPUI__SCHEDULER__CALL__TYPE__UPDATE_FRAMEWORK && ok && pc->new_info != NULL) {
        pb_free(s->info);
        s->info = pc->new_info;
        pc->new_info = NULL;
    }
    if (!ok)
        log_warn("framework %s: %s call answered %d: %s", framework_id_or(s, "(new)"),
                 call_type_name(pc->type), reply->status,
                 reply->status == 0 ? reply->error : reply->body);
    if (pc->done != NULL) {
        struct tepui_call_result r = {
            .status = reply->status,
            .error = reply->status == 0 ? reply->error : NULL,
            .body = reply->body != NULL ? reply->body : "",
            .len = reply->status == 0 ? 0 : reply->len,
        };
        pc->done(s, &r, pc->arg);
    }
    pending_call_free(pc);
out:
    leave(s);
}

/* Encodes call (framework_id added) and sends it to the leader. Takes
 * new_info in every case. */
static int call_submit(struct tepui_scheduler *s, Tepui__Scheduler__Call *call,
                       Tepui__FrameworkInfo *new_info, tepui_call_done_fn done, void *arg)
{
    int rc = 0;
    if (s == NULL || s->dead || call == NULL || !call->has_type ||
        call->type == TEPUI__SCHEDULER__CALL__TYPE__SUBSCRIBE) {
        rc = -EINVAL;
        goto fail;
    }
    if (s->state != SCHED_SUBSCRIBED || s->info->id == NULL || s->peer == NULL) {
        log_warn("framework %s: dropping %s call: not subscribed", framework_id_or(s, "(new)"),
                 call_type_name(call->type));
        rc = -ENOTCONN;
        goto fail;
    }
    /* The caller's message only borrows our id while it is encoded. */
    Tepui__FrameworkID *saved = call->framework_id;
    call->framework_id = s->info->id;
    if (!protobuf_c_message_check(&call->base)) {
        call->framework_id = saved;
        log_warn("framework %s: %s call lacks required fields", s->info->id->value,
                 call_type_name(call->type));
        rc = -EINVAL;
        goto fail;
    }
    struct pending_call *pc = XNEW(struct pending_call);
    pc->s = s;
    pc->type = call->type;
    pc->done = done;
    pc->arg = arg;
    pc->new_info = new_info;
    wire_encode(&call->base, s->format, &pc->body);
    call->framework_id = saved;
    pc->peer = s->peer;
    pc->peer->refs++;
    snprintf(pc->path, sizeof(pc->path), "%s", s->leader.path);
    snprintf(pc->stream_id, sizeof(pc->stream_id), "%s", s->stream_id);
    if (call_send(pc) != 0) {
        pending_call_free(pc);
        return -EIO;
    }
    TAILQ_INSERT_TAIL(&s->calls, pc, link);
    if (call->type == TEPUI__SCHEDULER__CALL__TYPE__TEARDOWN)
        s->teardown_sent = 1;
    log_debug("framework %s: %s call sent", s->info->id->value, call_type_name(call->type));
    return 0;
fail:
    pb_free(new_info);
    return rc;
}

int tepui_scheduler_call(struct tepui_scheduler *s, Tepui__Scheduler__Call *call,
                         tepui_call_done_fn done, void *arg)
{
    return call_submit(s, call, NULL, done, arg);
}

#define CALL_INIT(var, TYPE) \
    Tepui__Scheduler__Call var = TEPUI__SCHEDULER__CALL__INIT; \
    var.has_type = 1; \
    var.type = TEPUI__SCHEDULER__CALL__TYPE__##TYPE

int tepui_scheduler_accept(struct tepui_scheduler *s, Tepui__OfferID *const *offer_ids, size_t n,
                           Tepui__Offer__Operation *const *ops, size_t n_ops,
                           const Tepui__Filters *filters, tepui_call_done_fn done, void *arg)
{
    if ((n > 0 && offer_ids == NULL) || (n_ops > 0 && ops == NULL))
        return -EINVAL;
    CALL_INIT(call, ACCEPT);
    Tepui__Scheduler__Call__Accept a = TEPUI__SCHEDULER__CALL__ACCEPT__INIT;
    a.offer_ids = (Tepui__OfferID **)offer_ids;
    a.n_offer_ids = n;
    a.operations = (Tepui__Offer__Operation **)ops;
    a.n_operations = n_ops;
    a.filters = (Tepui__Filters *)filters;
    call.accept = &a;
    return call_submit(s, &call, NULL, done, arg);
}

int tepui_scheduler_decline(struct tepui_scheduler *s, Tepui__OfferID *const *offer_ids, size_t n,
                            const Tepui__Filters *filters, tepui_call_done_fn done, void *arg)
{
    if (n > 0 && offer_ids == NULL)
        return -EINVAL;
    CALL_INIT(call, DECLINE);
    Tepui__Scheduler__Call__Decline d = TEPUI__SCHEDULER__CALL__DECLINE__INIT;
    d.offer_ids = (Tepui__OfferID **)offer_ids;
    d.n_offer_ids = n;
    d.filters = (Tepui__Filters *)filters;
    call.decline = &d;
    return call_submit(s, &call, NULL, done, arg);
}

int tepui_scheduler_revive(struct tepui_scheduler *s, const char *const *roles, size_t n,
                           tepui_call_done_fn done, void *arg)
{
    if (n > 0 && roles == NULL)
        return -EINVAL;
    CALL_INIT(call, REVIVE);
    Tepui__Scheduler__Call__Revive r = TEPUI__SCHEDULER__CALL__REVIVE__INIT;
    r.roles = (char **)roles;
    r.n_roles = n;
    call.revive = &r;
    return call_submit(s, &call, NULL, done, arg);
}

int tepui_scheduler_suppress(struct tepui_scheduler *s, const char *const *roles, size_t n,
                             tepui_call_done_fn done, void *arg)
{
    if (n > 0 && roles == NULL)
        return -EINVAL;
    CALL_INIT(call, SUPPRESS);
    Tepui__Scheduler__Call__Suppress r = TEPUI__SCHEDULER__CALL__SUPPRESS__INIT;
    r.roles = (char **)roles;
    r.n_roles = n;
    call.suppress = &r;
    return call_submit(s, &call, NULL, done, arg);
}

int tepui_scheduler_kill(struct tepui_scheduler *s, const char *task_id, const char *agent_id,
                         const Tepui__KillPolicy *policy, tepui_call_done_fn done, void *arg)
{
    if (task_id == NULL)
        return -EINVAL;
    CALL_INIT(call, KILL);
    Tepui__Scheduler__Call__Kill k = TEPUI__SCHEDULER__CALL__KILL__INIT;
    Tepui__TaskID tid = TEPUI__TASK_ID__INIT;
    Tepui__AgentID aid = TEPUI__AGENT_ID__INIT;
    tid.value = (char *)task_id;
    k.task_id = &tid;
    if (agent_id != NULL) {
        aid.value = (char *)agent_id;
        k.agent_id = &aid;
    }
    k.kill_policy = (Tepui__KillPolicy *)policy;
    call.kill = &k;
    return call_submit(s, &call, NULL, done, arg);
}

int tepui_scheduler_shutdown(struct tepui_scheduler *s, const char *executor_id,
                             const char *agent_id, tepui_call_done_fn done, void *arg)
{
    if (executor_id == NULL || agent_id == NULL)
        return -EINVAL;
    CALL_INIT(call, SHUTDOWN);
    Tepui__Scheduler__Call__Shutdown sh = TEPUI__SCHEDULER__CALL__SHUTDOWN__INIT;
    Tepui__ExecutorID eid = TEPUI__EXECUTOR_ID__INIT;
    Tepui__AgentID aid = TEPUI__AGENT_ID__INIT;
    eid.value = (char *)executor_id;
    aid.value = (char *)agent_id;
    sh.executor_id = &eid;
    sh.agent_id = &aid;
    call.shutdown = &sh;
    return call_submit(s, &call, NULL, done, arg);
}

int tepui_scheduler_acknowledge(struct tepui_scheduler *s, const char *agent_id, const char *task_id,
                                const uint8_t *uuid, size_t uuid_len, tepui_call_done_fn done,
                                void *arg)
{
    if (agent_id == NULL || task_id == NULL || (uuid == NULL && uuid_len > 0))
        return -EINVAL;
    CALL_INIT(call, ACKNOWLEDGE);
    Tepui__Scheduler__Call__Acknowledge ack = TEPUI__SCHEDULER__CALL__ACKNOWLEDGE__INIT;
    Tepui__TaskID tid = TEPUI__TASK_ID__INIT;
    Tepui__AgentID aid = TEPUI__AGENT_ID__INIT;
    tid.value = (char *)task_id;
    aid.value = (char *)agent_id;
    ack.task_id = &tid;
    ack.agent_id = &aid;
    ack.uuid.data = (uint8_t *)uuid;
    ack.uuid.len = uuid_len;
    call.acknowledge = &ack;
    return call_submit(s, &call, NULL, done, arg);
}

int tepui_scheduler_reconcile(struct tepui_scheduler *s, const char *const *task_ids,
                              const char *const *agent_ids, size_t n, tepui_call_done_fn done,
                              void *arg)
{
    if (n > 0 && task_ids == NULL)
        return -EINVAL;
    for (size_t i = 0; i < n; i++)
        if (task_ids[i] == NULL)
            return -EINVAL;
    CALL_INIT(call, RECONCILE);
    Tepui__Scheduler__Call__Reconcile r = TEPUI__SCHEDULER__CALL__RECONCILE__INIT;
    /* One allocation for the n tasks, their ids and the pointer array. */
    struct item {
        Tepui__Scheduler__Call__Reconcile__Task task;
        Tepui__TaskID tid;
        Tepui__AgentID aid;
    } *items = n > 0 ? xcalloc(n, sizeof(*items)) : NULL;
    Tepui__Scheduler__Call__Reconcile__Task **ptrs = n > 0 ? xcalloc(n, sizeof(*ptrs)) : NULL;
    for (size_t i = 0; i < n; i++) {
        tepui__scheduler__call__reconcile__task__init(&items[i].task);
        tepui__task_id__init(&items[i].tid);
        items[i].tid.value = (char *)task_ids[i];
        items[i].task.task_id = &items[i].tid;
        if (agent_ids != NULL && agent_ids[i] != NULL) {
            tepui__agent_id__init(&items[i].aid);
            items[i].aid.value = (char *)agent_ids[i];
            items[i].task.agent_id = &items[i].aid;
        }
        ptrs[i] = &items[i].task;
    }
    r.tasks = ptrs;
    r.n_tasks = n;
    call.reconcile = &r;
    int rc = call_submit(s, &call, NULL, done, arg);
    free(ptrs);
    free(items);
    return rc;
}

int tepui_scheduler_message(struct tepui_scheduler *s, const char *agent_id, const char *executor_id,
                            const void *data, size_t len, tepui_call_done_fn done, void *arg)
{
    if (agent_id == NULL || executor_id == NULL || (data == NULL && len > 0))
        return -EINVAL;
    CALL_INIT(call, MESSAGE);
    Tepui__Scheduler__Call__Message m = TEPUI__SCHEDULER__CALL__MESSAGE__INIT;
    Tepui__ExecutorID eid = TEPUI__EXECUTOR_ID__INIT;
    Tepui__AgentID aid = TEPUI__AGENT_ID__INIT;
    eid.value = (char *)executor_id;
    aid.value = (char *)agent_id;
    m.agent_id = &aid;
    m.executor_id = &eid;
    m.data.data = (uint8_t *)data;
    m.data.len = len;
    call.message = &m;
    return call_submit(s, &call, NULL, done, arg);
}

int tepui_scheduler_request(struct tepui_scheduler *s, Tepui__Request *const *requests, size_t n,
                            tepui_call_done_fn done, void *arg)
{
    if (n > 0 && requests == NULL)
        return -EINVAL;
    CALL_INIT(call, REQUEST);
    Tepui__Scheduler__Call__Request r = TEPUI__SCHEDULER__CALL__REQUEST__INIT;
    r.requests = (Tepui__Request **)requests;
    r.n_requests = n;
    call.request = &r;
    return call_submit(s, &call, NULL, done, arg);
}

int tepui_scheduler_teardown(struct tepui_scheduler *s, tepui_call_done_fn done, void *arg)
{
    CALL_INIT(call, TEARDOWN);
    return call_submit(s, &call, NULL, done, arg);
}

int tepui_scheduler_update_framework(struct tepui_scheduler *s, const Tepui__FrameworkInfo *info,
                                     const char *const *suppressed_roles, size_t n_suppressed,
                                     tepui_call_done_fn done, void *arg)
{
    if (s == NULL || info == NULL || (n_suppressed > 0 && suppressed_roles == NULL))
        return -EINVAL;
    if (!protobuf_c_message_check(&info->base))
        return -EINVAL;
    Tepui__FrameworkInfo *copy = PB_COPY(Tepui__FrameworkInfo, info);
    if (s->info->id != NULL) {
        pb_free(copy->id);
        copy->id = PB_COPY(Tepui__FrameworkID, s->info->id);
    }
    CALL_INIT(call, UPDATE_FRAMEWORK);
    Tepui__Scheduler__Call__UpdateFramework u = TEPUI__SCHEDULER__CALL__UPDATE_FRAMEWORK__INIT;
    u.framework_info = copy;
    u.suppressed_roles = (char **)suppressed_roles;
    u.n_suppressed_roles = n_suppressed;
    call.update_framework = &u;
    return call_submit(s, &call, copy, done, arg);
}

/* ---- building LAUNCH operations ---- */

Tepui__TaskInfo *tepui_task_command_new(const char *task_id, const char *name, const char *agent_id,
                                        const char *shell_command, double cpus, double mem_mb,
                                        const char *role)
{
    if (task_id == NULL || name == NULL || agent_id == NULL || shell_command == NULL)
        return NULL;
    /* Built on the stack with borrowed strings, then deep-copied. */
    Tepui__TaskInfo t = TEPUI__TASK_INFO__INIT;
    Tepui__TaskID tid = TEPUI__TASK_ID__INIT;
    Tepui__AgentID aid = TEPUI__AGENT_ID__INIT;
    Tepui__CommandInfo cmd = TEPUI__COMMAND_INFO__INIT;
    Tepui__Resource res[2] = {TEPUI__RESOURCE__INIT, TEPUI__RESOURCE__INIT};
    Tepui__Value__Scalar val[2] = {TEPUI__VALUE__SCALAR__INIT, TEPUI__VALUE__SCALAR__INIT};
    Tepui__Resource__AllocationInfo alloc = TEPUI__RESOURCE__ALLOCATION_INFO__INIT;
    Tepui__Resource *rp[2];
    const char *names[2] = {"cpus", "mem"};
    double amounts[2] = {cpus, mem_mb};
    size_t n = 0;
    alloc.role = (char *)role;
    for (size_t i = 0; i < 2; i++) {
        if (!(amounts[i] > 0))
            continue;
        res[n].name = (char *)names[i];
        res[n].type = TEPUI__VALUE__TYPE__SCALAR;
        val[n].value = amounts[i];
        res[n].scalar = &val[n];
        if (role != NULL)
            res[n].allocation_info = &alloc;
        rp[n] = &res[n];
        n++;
    }
    tid.value = (char *)task_id;
    aid.value = (char *)agent_id;
    cmd.has_shell = 1;
    cmd.shell = 1;
    cmd.value = (char *)shell_command;
    t.name = (char *)name;
    t.task_id = &tid;
    t.agent_id = &aid;
    t.command = &cmd;
    t.resources = rp;
    t.n_resources = n;
    return PB_COPY(Tepui__TaskInfo, &t);
}

Tepui__Offer__Operation *tepui_operation_launch_new(Tepui__TaskInfo *const *tasks, size_t n)
{
    if (n > 0 && tasks == NULL)
        return NULL;
    Tepui__Offer__Operation op = TEPUI__OFFER__OPERATION__INIT;
    Tepui__Offer__Operation__Launch launch = TEPUI__OFFER__OPERATION__LAUNCH__INIT;
    launch.task_infos = (Tepui__TaskInfo **)tasks;
    launch.n_task_infos = n;
    op.has_type = 1;
    op.type = TEPUI__OFFER__OPERATION__TYPE__LAUNCH;
    op.launch = &launch;
    return PB_COPY(Tepui__Offer__Operation, &op);
}

void tepui_message_free(void *msg) { pb_free(msg); }
