/* libtepui's executor API: an executor's side of the Mesos v1 executor HTTP
 * API (POST /api/v1/executor on its agent). One handle per executor process;
 * it subscribes, keeps the event stream, re-subscribes after an agent restart
 * when the framework checkpoints, and keeps every status update until the
 * agent acknowledges it. What the executor runs is the caller's business.
 *
 * Everything runs on the caller's libevent loop; callbacks never run after
 * tepui_executor_free, which may be called from inside any callback. */
#ifndef TEPUI_EXECUTOR_H
#define TEPUI_EXECUTOR_H

#include <event2/event.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "executor.pb-c.h"
#include "mesos.pb-c.h"

struct tepui_executor;

/* Encoding of calls and events; protobuf (0) is the default, as for Mesos's
 * own command executor. */
enum tepui_executor_format {
    TEPUI_EXECUTOR_PROTOBUF = 0,
    TEPUI_EXECUTOR_JSON = 1,
};

/* What an executor needs to know to reach its agent. The agent hands it over
 * in the environment (tepui_executor_options_from_env); tests and custom
 * launchers may fill it by hand. Strings filled by _from_env are owned by the
 * options and released by tepui_executor_options_clear; tepui_executor_new
 * copies what it keeps. */
struct tepui_executor_options {
    char *agent_endpoint;          /* "ip:port", "http://ip:port[/prefix]" (MESOS_AGENT_ENDPOINT) */
    char *api_path;                /* NULL: "/api/v1/executor" */
    char *framework_id;            /* MESOS_FRAMEWORK_ID */
    char *executor_id;             /* MESOS_EXECUTOR_ID */
    char *agent_id;                /* MESOS_SLAVE_ID, optional */
    char *directory;               /* MESOS_DIRECTORY: the sandbox on the host, optional */
    char *sandbox;                 /* MESOS_SANDBOX: the sandbox as the executor sees it, optional */
    char *authentication_token;    /* MESOS_EXECUTOR_AUTHENTICATION_TOKEN, optional: "Bearer" */
    int checkpoint;                /* MESOS_CHECKPOINT == "1" */
    double shutdown_grace_period;  /* seconds (MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD, default 5) */
    double recovery_timeout;       /* seconds (MESOS_RECOVERY_TIMEOUT), with checkpoint */
    double subscription_backoff_max; /* seconds (MESOS_SUBSCRIPTION_BACKOFF_MAX), with checkpoint */
    enum tepui_executor_format format;
};

/* Fills opts from the environment the agent sets. Required:
 * MESOS_AGENT_ENDPOINT (MESOS_SLAVE_PID "slave(1)@ip:port" is accepted
 * instead), MESOS_FRAMEWORK_ID, MESOS_EXECUTOR_ID, and with MESOS_CHECKPOINT=1
 * also MESOS_RECOVERY_TIMEOUT and MESOS_SUBSCRIPTION_BACKOFF_MAX (as Mesos's
 * executor library requires). Durations read like "5secs" or "250ms".
 * Returns 0, or -EINVAL with err naming the missing or malformed variable
 * (opts is then cleared). */
int tepui_executor_options_from_env(struct tepui_executor_options *opts, struct error *err);
/* Frees the strings of opts and zeroes it. */
void tepui_executor_options_clear(struct tepui_executor_options *opts);

/* Callbacks; any may be NULL. Pointers handed to them are borrowed and valid
 * only during the call. */
struct tepui_executor_callbacks {
    /* Every SUBSCRIBED event: the first subscription and each re-subscription
     * after a disconnection. */
    void (*subscribed)(struct tepui_executor *e, const Tepui__Executor__Event__Subscribed *s,
                       void *arg);
    void (*launch)(struct tepui_executor *e, const Tepui__TaskInfo *task, void *arg);
    void (*launch_group)(struct tepui_executor *e, const Tepui__TaskGroupInfo *group, void *arg);
    /* kill_policy is NULL when the KILL event carries none. */
    void (*kill)(struct tepui_executor *e, const Tepui__TaskID *task_id,
                 const Tepui__KillPolicy *kill_policy, void *arg);
    /* The agent has the update (it is checkpointed there); status is the
     * update it acknowledges, NULL when the uuid is not one we sent. */
    void (*acknowledged)(struct tepui_executor *e, const Tepui__TaskID *task_id, const uint8_t *uuid,
                         size_t uuid_len, const Tepui__TaskStatus *status, void *arg);
    void (*message)(struct tepui_executor *e, const uint8_t *data, size_t len, void *arg);
    /* The executor must kill its tasks and exit within the shutdown grace
     * period (the agent then destroys its container). */
    void (*shutdown)(struct tepui_executor *e, void *arg);
    /* An ERROR event, or a call the agent refused. */
    void (*error)(struct tepui_executor *e, const char *message, void *arg);
    void (*heartbeat)(struct tepui_executor *e, void *arg);
    /* The library has given up on the agent: at once for a framework that does
     * not checkpoint, after MESOS_RECOVERY_TIMEOUT of failed re-subscription
     * for one that does. Nothing more will be sent or received; Mesos's rule
     * is that the executor now kills its tasks and exits. */
    void (*disconnected)(struct tepui_executor *e, const char *reason, void *arg);
};

/* Creates the handle; it starts subscribing once the loop runs. Returns NULL
 * with err set when opts lack an id or the endpoint does not parse. */
struct tepui_executor *tepui_executor_new(struct event_base *base,
                                     const struct tepui_executor_options *opts,
                                     const struct tepui_executor_callbacks *cbs, void *arg,
                                     struct error *err);
/* Closes the connections; no callback runs afterwards. Safe from inside any
 * callback. Connections are released on the loop's next turn, so run the
 * loop once more (EVLOOP_NONBLOCK) before event_base_free. Accepts NULL. */
void tepui_executor_free(struct tepui_executor *e);

/* Sends an UPDATE. The library sets uuid (16 random bytes), source
 * (SOURCE_EXECUTOR), executor_id, and timestamp unless the caller set one,
 * and keeps the update until the agent acknowledges it: updates made while
 * disconnected are sent when the subscription is back (inside SUBSCRIBE,
 * as unacknowledged_updates). Returns 0, -EINVAL (no task_id, TASK_STAGING,
 * or a required field missing) or -ENOTCONN once the library has given up. */
int tepui_executor_update(struct tepui_executor *e, const Tepui__TaskStatus *status,
                          struct error *err);
/* Sends a MESSAGE (opaque bytes to the scheduler, best effort; dropped
 * while not subscribed). Returns 0 or -ENOTCONN. */
int tepui_executor_message(struct tepui_executor *e, const void *data, size_t len);

int tepui_executor_is_subscribed(const struct tepui_executor *e);
/* Updates sent but not acknowledged yet. */
size_t tepui_executor_unacknowledged_updates(const struct tepui_executor *e);
/* The options the handle was created with (its own copy). */
const struct tepui_executor_options *tepui_executor_get_options(const struct tepui_executor *e);

#endif
