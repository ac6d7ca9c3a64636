/* One attempt of a task's check: a command run as the task runs (its exit
 * status), an HTTP GET to the loopback address (the status code), or a TCP
 * connection to it, each bounded by a timeout. All of it happens on the
 * executor's loop without blocking it: commands are child processes that
 * the executor's SIGCHLD handler hands back (probe_child_exited), HTTP and
 * TCP are non-blocking sockets. Scheduling and interpreting attempts is
 * checker.c's. */
#ifndef TEPUI_EXECUTOR_PROBE_H
#define TEPUI_EXECUTOR_PROBE_H

#include <event2/event.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"
#include "executor/task_process.h"
#include "mesos.pb-c.h"

enum probe_type {
    PROBE_COMMAND = 1,
    PROBE_HTTP,
    PROBE_TCP,
};

struct probe_spec {
    enum probe_type type;
    const Tepui__CommandInfo *command;     /* PROBE_COMMAND */
    const struct task_process_spec *task;  /* PROBE_COMMAND: how the task runs */
    const char *path;                      /* PROBE_HTTP; NULL: "/" */
    int https;                             /* PROBE_HTTP over TLS: not supported, always fails */
    uint16_t port;                         /* PROBE_HTTP, PROBE_TCP */
    int ipv6;                              /* ::1 rather than 127.0.0.1 */
    double timeout;                        /* seconds */
};

struct probe_result {
    /* The attempt got an answer: an exit status, an HTTP status line, or
     * the outcome of a connection attempt (refused counts as an answer).
     * 0: it could not be made or did not end within the timeout. */
    int answered;
    int exit_code;          /* PROBE_COMMAND; -1 when killed by a signal */
    int http_status;        /* PROBE_HTTP */
    int tcp_connected;      /* PROBE_TCP */
    char message[512];      /* what happened, in words, for logs and status messages */
};

/* Called once per attempt, from the loop, never from inside probe_start;
 * the probe may be freed from inside it. */
typedef void (*probe_done_fn)(const struct probe_result *result, void *arg);

struct probe;

/* Starts an attempt. Returns NULL with err set when it cannot even start
 * (a command that cannot be forked, no socket): that counts as a failed
 * attempt. */
struct probe *probe_start(struct event_base *base, const struct probe_spec *spec,
                          probe_done_fn done, void *arg, struct error *err);
/* The executor reaped pid with wait_status: returns 1 when it was this
 * probe's command (done has then been called), else 0. */
int probe_child_exited(struct probe *p, pid_t pid, int wait_status);
/* Abandons the attempt (a command's process group is killed) without
 * calling done. Accepts NULL. */
void probe_free(struct probe *p);

#endif
