/* The integration test harness: starts real tepui-master and tepui-agent
 * processes on ephemeral loopback ports with temporary work directories,
 * talks to them over plain blocking HTTP (either encoding), and cleans up
 * even when a test fails. A test scheduler reads the real event stream. */
#ifndef TEPUI_TESTS_HARNESS_H
#define TEPUI_TESTS_HARNESS_H

#include <jansson.h>
#include <stddef.h>
#include <sys/types.h>

#include "scheduler.pb-c.h"
#include "wire/codec.h"

#define H_MAX_AGENTS 8

struct h_proc {
    pid_t pid;
    int port;
    char dir[512];        /* its work dir */
    char log[600];        /* its stderr */
};

struct h_cluster {
    char root[256];       /* temporary directory for everything */
    struct h_proc master;
    struct h_proc agents[H_MAX_AGENTS];
    int n_agents;
};

/* Path of a built program ($TEPUI_BUILD_DIR/bin/NAME, default build/). */
const char *h_bin(const char *name);

/* Creates the cluster's temp root; stops everything at exit too. */
void h_cluster_init(struct h_cluster *c);
/* Starts a master with extra flags (NULL-terminated); asserts it serves. */
void h_start_master(struct h_cluster *c, const char *const *flags);
/* The same on a given port, e.g. to restart a stopped master where its
 * agents and schedulers look for it (same work dir and log). */
void h_start_master_on_port(struct h_cluster *c, int port, const char *const *flags);
/* Stops the master (SIGKILL, or sig; a SIGTERM must end in a clean exit)
 * and starts it again on its port with the same work dir, log and extra
 * flags, as a master that fails over onto the same machine. */
void h_restart_master(struct h_cluster *c, int sig, const char *const *flags);
/* Starts an agent with resources (NULL: "cpus:4;mem:4096;disk:4096;ports:[31000-31099]");
 * returns its index; waits until the master lists it. */
int h_start_agent(struct h_cluster *c, const char *resources, const char *const *flags);
/* Starts agent i again after h_stop, on its port, with its work dir and
 * log (appended to) and the flags added (the default resources unless
 * given): a restart that may recover what its last run left. Returns 0 once
 * it serves, -1 if it exited first (not reaped: h_stop returns how). It may
 * not have registered yet (see h_agent_registered). */
int h_restart_agent(struct h_cluster *c, int i, const char *resources, const char *const *flags);
/* Whether the agent serving on port is registered with its master. */
int h_agent_registered(int port);
/* Kills every process left by the cluster's containers (their environment
 * names a sandbox under the cluster's root): executors of checkpointing
 * frameworks outlive their agent. Returns how many it killed. */
int h_kill_leftovers(const struct h_cluster *c);
/* Stops (SIGKILL unless sig given) and reaps a process; returns its wait
 * status. */
int h_stop(struct h_proc *p, int sig);
/* Stops everything (daemons gracefully, each must exit 0) and removes the
 * temporary directory (kept when TEPUI_KEEP_TEST_DIRS is set or a daemon
 * did not exit cleanly). */
void h_cluster_destroy(struct h_cluster *c);
/* Prints the tail of every process log (for failing tests). */
void h_dump_logs(const struct h_cluster *c);
/* Counts lines of a process log containing needle. */
int h_log_count(const struct h_proc *p, const char *needle);
/* The log of a daemon of the cluster that has exited on its own (a crash),
 * NULL while all run; it is not reaped, so h_stop still reports how it
 * exited. Lets a test fail fast instead of waiting out its deadlines. */
const char *h_daemon_died(const struct h_cluster *c);

/* Runs a program to completion (argv[0] a path, NULL-terminated), its stdout
 * and stderr captured into out (NUL-terminated, truncated to n). Returns its
 * wait status, or -1 when it ran past timeout seconds (it is then killed). */
int h_run_capture(const char *const *argv, char *out, size_t n, double timeout);

/* ---- blocking HTTP ---- */
struct h_response {
    int status;
    char *headers;        /* raw header block */
    char *body;
    size_t len;
};
void h_response_free(struct h_response *r);
const char *h_header(const struct h_response *r, const char *name, char *out, size_t n);

/* Sends a raw request (method, path, extra header lines each ending "\r\n",
 * body); returns 0 or -1 when no complete response came within 10 s. */
int h_http(int port, const char *method, const char *path, const char *headers,
           const void *body, size_t len, struct h_response *out);
/* Sends a request whose answer is a stream and collects what arrives within
 * seconds (headers and body, raw); returns the number of bytes read. */
size_t h_http_stream_read(int port, const char *path, const char *headers, const char *body,
                          double seconds, char **out);
/* GET path and parse the JSON body (asserts 200). */
json_t *h_get_json(int port, const char *path);

/* ---- a scheduler on a raw event stream ---- */
struct h_sched {
    int port;
    int fd;
    enum wire_format format;
    char stream_id[128];
    char framework_id[256];
    char *pending;        /* undecoded stream bytes (after de-chunking) */
    size_t n_pending;
    char *raw;            /* bytes read but not de-chunked */
    size_t n_raw;
    Tepui__Scheduler__Event **queue;
    size_t n_queue;
    int closed;
    char location[512];   /* of a SUBSCRIBE answered 307 (a master that does not lead) */
};

/* Subscribes with a FrameworkInfo given as JSON; the format is used both
 * ways. Returns the HTTP status (200 on success, when SUBSCRIBED arrived). */
int h_sched_subscribe(struct h_sched *s, int port, enum wire_format fmt,
                      const char *framework_info_json);
/* Waits up to timeout seconds for an event of the given type (earlier events
 * of other types stay queued); NULL on timeout. The event is the caller's
 * (free with pb_free). type 0 takes any event. */
Tepui__Scheduler__Event *h_sched_next(struct h_sched *s, int type, double timeout);
/* Sends a call given as JSON (framework_id added), in the scheduler's format;
 * returns the HTTP status and fills out (may be NULL). */
int h_sched_call(struct h_sched *s, const char *call_json, struct h_response *out);
/* Accepts an offer launching one command task; returns the HTTP status. */
int h_sched_launch(struct h_sched *s, const Tepui__Offer *offer, const char *task_id,
                   const char *command, const char *resources_json);
/* Waits for an UPDATE of task_id with the given state, acknowledging every
 * update with a uuid on the way; NULL on timeout. */
Tepui__TaskStatus *h_sched_wait_state(struct h_sched *s, const char *task_id, int state,
                                      double timeout);
/* Acknowledges an update that carries a uuid; returns the HTTP status
 * (202), or 0 for an update without uuid (which must not be acknowledged). */
int h_sched_ack(struct h_sched *s, const Tepui__TaskStatus *status);
void h_sched_close(struct h_sched *s);

/* A default framework: {"user": <current user>, "name": name}. */
const char *h_framework_json(const char *name, const char *extra_fields);

/* ---- the agent's sandboxes ---- */

/* The sandbox directory (malloc'd) of an executor as the agent's /state
 * shows it, running or completed; NULL when the agent does not know it. */
char *h_agent_sandbox(const struct h_cluster *c, int agent, const char *framework_id,
                      const char *executor_id);
/* Reads a file through the agent's /files/read (at most 64 KiB from the
 * start); the data (malloc'd), or NULL unless the agent answered 200. */
char *h_agent_read_file(int port, const char *path);

/* A value of GET /metrics/snapshot; -1 when it is absent. */
double h_metric(int port, const char *name);

/* Polls fn(arg) every 20 ms until it returns non-zero or timeout passes. */
int h_wait_until(int (*fn)(void *arg), void *arg, double timeout);

#endif
