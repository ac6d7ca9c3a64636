/* libtepui's scheduler API: the framework side of the Mesos v1 scheduler HTTP
 * API (POST /api/v1/scheduler). It subscribes on a streamed connection of its
 * own, decodes the RecordIO event stream, re-subscribes when the stream breaks,
 * and sends calls on a second keep-alive connection, all on the caller's
 * libevent loop. It keeps no offer or task state: that is the framework's. */
#ifndef TEPUI_SCHEDULER_H
#define TEPUI_SCHEDULER_H

#include <event2/event.h>
#include <stddef.h>
#include <stdint.h>

#include "mesos.pb-c.h"
#include "scheduler.pb-c.h"

struct tepui_scheduler;

/* Every callback is optional and runs on the loop the scheduler was created
 * on, never from inside a tepui_scheduler_* call, and never after
 * tepui_scheduler_free (which a callback may call). Event messages are
 * borrowed for the duration of the callback; copy what you keep. */
struct tepui_scheduler_callbacks {
    /* SUBSCRIBE was answered 200: the event stream is open, SUBSCRIBED is next. */
    void (*connected)(struct tepui_scheduler *s, void *arg);
    /* The master accepted the subscription; tepui_scheduler_framework_id now
     * answers, and calls may be sent. Runs again after each re-subscription. */
    void (*subscribed)(struct tepui_scheduler *s, const Tepui__Scheduler__Event__Subscribed *e,
                       void *arg);
    void (*offers)(struct tepui_scheduler *s, const Tepui__Scheduler__Event__Offers *e, void *arg);
    void (*inverse_offers)(struct tepui_scheduler *s,
                           const Tepui__Scheduler__Event__InverseOffers *e, void *arg);
    void (*rescind)(struct tepui_scheduler *s, const Tepui__Scheduler__Event__Rescind *e,
                    void *arg);
    void (*rescind_inverse_offer)(struct tepui_scheduler *s,
                                  const Tepui__Scheduler__Event__RescindInverseOffer *e, void *arg);
    /* A task status update. When e->status->uuid is set the update must be
     * acknowledged (tepui_scheduler_acknowledge); master-generated updates
     * (reconciliation) carry no uuid and must not be. */
    void (*update)(struct tepui_scheduler *s, const Tepui__Scheduler__Event__Update *e, void *arg);
    void (*update_operation_status)(struct tepui_scheduler *s,
                                    const Tepui__Scheduler__Event__UpdateOperationStatus *e,
                                    void *arg);
    void (*message)(struct tepui_scheduler *s, const Tepui__Scheduler__Event__Message *e,
                    void *arg);
    void (*failure)(struct tepui_scheduler *s, const Tepui__Scheduler__Event__Failure *e,
                    void *arg);
    /* An ERROR event (e.g. "Framework failed over"), or a SUBSCRIBE the master
     * refused with a 4xx (message: status and body). The subscription is over:
     * disconnected follows and the library does not re-subscribe on its own;
     * tepui_scheduler_start may be called again. */
    void (*error)(struct tepui_scheduler *s, const char *message, void *arg);
    void (*heartbeat)(struct tepui_scheduler *s, void *arg);
    /* The stream ended or a subscription attempt failed for good. With
     * auto_reconnect, a lost stream is followed by re-subscription attempts;
     * failed attempts in between are only logged, not reported again. */
    void (*disconnected)(struct tepui_scheduler *s, const char *why, void *arg);
};

enum tepui_format {
    TEPUI_FORMAT_DEFAULT = 0,    /* protobuf */
    TEPUI_FORMAT_PROTOBUF = 1,   /* application/x-protobuf both ways */
    TEPUI_FORMAT_JSON = 2,       /* application/json both ways */
};

/* Zero means "the default" for every field but master. */
struct tepui_scheduler_options {
    /* "host:port", "http://host:port[/prefix]", or "zk://host:port[,...]/path":
     * the leading master of several, found through ZooKeeper as Mesos's
     * libraries do; when it changes the library subscribes to the new one
     * (with the framework id) at once. */
    const char *master;
    enum tepui_format format;
    /* Re-subscribe with exponential backoff and jitter when the stream breaks,
     * heartbeats stop (max_missed_heartbeats intervals without an event), a
     * SUBSCRIBE cannot connect or is answered 5xx (503: no leader yet). */
    int auto_reconnect;
    double call_timeout_secs;      /* calls, and a SUBSCRIBE's answer; default 10 */
    double backoff_min_secs;       /* first retry delay; default 0.5 */
    double backoff_max_secs;       /* cap of the doubling delay; default 15 */
    int max_missed_heartbeats;     /* default 5, as Mesos advises */
};

/* The answer to one call. status is the HTTP status (202 Accepted for most
 * calls, 200 for UPDATE_FRAMEWORK, 4xx with the reason in body), or 0 when
 * no answer came, with error saying why. */
struct tepui_call_result {
    int status;
    const char *error;
    const char *body;              /* NUL-terminated, "" when empty */
    size_t len;
};
typedef void (*tepui_call_done_fn)(struct tepui_scheduler *s, const struct tepui_call_result *r,
                                   void *arg);

/* Copies info (user and name are required) and opts; the callbacks struct is
 * copied too. Returns NULL (and logs why) for a missing master, an
 * unparseable master address or an incomplete info. info->id, when set,
 * re-subscribes that framework (failover). Nothing happens until start. */
struct tepui_scheduler *tepui_scheduler_new(struct event_base *base, const Tepui__FrameworkInfo *info,
                                            const struct tepui_scheduler_options *opts,
                                            const struct tepui_scheduler_callbacks *cb, void *arg);
/* Connects and subscribes. 0, -EALREADY when a subscription is already
 * under way or active, -EIO when no connection could be set up. */
int tepui_scheduler_start(struct tepui_scheduler *s);
/* Ends the subscription (closes the stream, cancels retries) without a
 * disconnected callback; calls in flight still complete. start resumes. */
void tepui_scheduler_stop(struct tepui_scheduler *s);
/* Closes everything; no callback runs afterwards, done callbacks of calls in
 * flight included. Safe from inside any callback. Connections are released
 * on the loop's next turn, so run the loop once more (EVLOOP_NONBLOCK)
 * before event_base_free. Accepts NULL. */
void tepui_scheduler_free(struct tepui_scheduler *s);

/* NULL until the first SUBSCRIBED (unless info->id was given), and again
 * after a successful TEARDOWN. Valid until the next callback. */
const char *tepui_scheduler_framework_id(const struct tepui_scheduler *s);
/* The Mesos-Stream-Id of the current stream, NULL when none. */
const char *tepui_scheduler_stream_id(const struct tepui_scheduler *s);
/* "host:port" of the master subscribed to (after redirects), or of the
 * configured master before that (a zk:// URL until a leader is detected). */
const char *tepui_scheduler_leader(const struct tepui_scheduler *s);
/* 1 between SUBSCRIBED and the end of that stream. */
int tepui_scheduler_is_subscribed(const struct tepui_scheduler *s);

/* ---- calls ----
 * Each encodes the call, adds framework_id and the Mesos-Stream-Id header,
 * and sends it asynchronously; done (optional) runs once with the answer. A
 * 307 answer is followed to its Location. Every call returns 0, -ENOTCONN
 * when not subscribed (the call is dropped, as Mesos's library drops it),
 * -EINVAL for a missing argument or a message lacking required fields, or
 * -EIO. Arguments are borrowed only during the call. */
int tepui_scheduler_call(struct tepui_scheduler *s, Tepui__Scheduler__Call *call,
                         tepui_call_done_fn done, void *arg);

int tepui_scheduler_accept(struct tepui_scheduler *s, Tepui__OfferID *const *offer_ids, size_t n,
                           Tepui__Offer__Operation *const *ops, size_t n_ops,
                           const Tepui__Filters *filters, tepui_call_done_fn done, void *arg);
int tepui_scheduler_decline(struct tepui_scheduler *s, Tepui__OfferID *const *offer_ids, size_t n,
                            const Tepui__Filters *filters, tepui_call_done_fn done, void *arg);
/* An empty role list means every role of the framework. */
int tepui_scheduler_revive(struct tepui_scheduler *s, const char *const *roles, size_t n,
                           tepui_call_done_fn done, void *arg);
int tepui_scheduler_suppress(struct tepui_scheduler *s, const char *const *roles, size_t n,
                             tepui_call_done_fn done, void *arg);
/* agent_id and policy may be NULL. */
int tepui_scheduler_kill(struct tepui_scheduler *s, const char *task_id, const char *agent_id,
                         const Tepui__KillPolicy *policy, tepui_call_done_fn done, void *arg);
int tepui_scheduler_shutdown(struct tepui_scheduler *s, const char *executor_id,
                             const char *agent_id, tepui_call_done_fn done, void *arg);
/* uuid: the status's uuid bytes (16). */
int tepui_scheduler_acknowledge(struct tepui_scheduler *s, const char *agent_id, const char *task_id,
                                const uint8_t *uuid, size_t uuid_len, tepui_call_done_fn done,
                                void *arg);
/* task_ids[i] with agent_ids[i] (agent_ids or its entries may be NULL); n 0
 * asks for implicit reconciliation of every task the master knows. */
int tepui_scheduler_reconcile(struct tepui_scheduler *s, const char *const *task_ids,
                              const char *const *agent_ids, size_t n, tepui_call_done_fn done,
                              void *arg);
int tepui_scheduler_message(struct tepui_scheduler *s, const char *agent_id, const char *executor_id,
                            const void *data, size_t len, tepui_call_done_fn done, void *arg);
int tepui_scheduler_request(struct tepui_scheduler *s, Tepui__Request *const *requests, size_t n,
                            tepui_call_done_fn done, void *arg);
/* Removes the framework: its tasks are killed and the stream ends (reported
 * through disconnected, with no re-subscription). */
int tepui_scheduler_teardown(struct tepui_scheduler *s, tepui_call_done_fn done, void *arg);
/* Replaces the FrameworkInfo (its id is filled in); once the master accepts
 * it (200) later re-subscriptions use it. */
int tepui_scheduler_update_framework(struct tepui_scheduler *s, const Tepui__FrameworkInfo *info,
                                     const char *const *suppressed_roles, size_t n_suppressed,
                                     tepui_call_done_fn done, void *arg);

/* ---- building LAUNCH operations ----
 * Owned messages, freed with tepui_message_free. */

/* A command task: "sh -c shell_command" on the offer's agent, using cpus and
 * mem_mb of unreserved scalar resources; role (may be NULL) sets the
 * resources' allocation_info, which MULTI_ROLE frameworks must give. NULL
 * for a missing id, name, agent or command. */
Tepui__TaskInfo *tepui_task_command_new(const char *task_id, const char *name, const char *agent_id,
                                        const char *shell_command, double cpus, double mem_mb,
                                        const char *role);
/* A LAUNCH operation holding copies of the tasks. */
Tepui__Offer__Operation *tepui_operation_launch_new(Tepui__TaskInfo *const *tasks, size_t n);
void tepui_message_free(void *msg);

#endif
