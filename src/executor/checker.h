/* A task's health check (TaskInfo.health_check) and check (TaskInfo.check),
 * run on the executor's loop with Mesos's semantics (docs/health-checks.md,
 * src/checks/): attempts start after delay_seconds and follow one another
 * interval_seconds after each ends; a health check reports its first
 * result, every failure and the first success after failures, ignores
 * failures within grace_period_seconds of the start until it has once
 * succeeded, and asks for the task to be killed after consecutive_failures
 * failures in a row; a check never kills and reports its status whenever it
 * changes. What goes into status updates is decided here too
 * (checker_fill_status); sending them and killing are the executor's. */
#ifndef TEPUI_EXECUTOR_CHECKER_H
#define TEPUI_EXECUTOR_CHECKER_H

#include <event2/event.h>
#include <sys/types.h>

#include "executor/task_process.h"
#include "mesos.pb-c.h"

struct checker;

struct checker_callbacks {
    /* Send a TASK_RUNNING update filled by checker_fill_status(..., 1),
     * with this reason (REASON_TASK_HEALTH_CHECK_STATUS_UPDATED or
     * REASON_TASK_CHECK_STATUS_UPDATED) and message (may be NULL). */
    void (*update)(void *arg, Tepui__TaskStatus__Reason reason, const char *message);
    /* The health check failed consecutive_failures times in a row: kill the
     * task with its kill policy. Called right after the unhealthy update;
     * the checker has stopped by then. */
    void (*kill)(void *arg, const char *message);
};

/* Starts checking the task that spec describes (copied: nothing of it is
 * kept). Returns NULL when the task has neither a health check nor a check
 * (or neither is usable: the master validates them). */
struct checker *checker_new(struct event_base *base, const struct task_process_spec *spec,
                            const struct checker_callbacks *cbs, void *arg);

/* Fills st's healthy and check_status (pointers into c, valid until the next
 * result or checker_free). latest = 0 is for updates of a state (STARTING,
 * RUNNING, KILLING, the terminal one): the check's type with no result, as
 * Mesos sends, and healthy = false when the health check had the task
 * killed. latest = 1 is for the updates the callbacks ask for: the last
 * check status and health result. Accepts a NULL checker. */
void checker_fill_status(const struct checker *c, Tepui__TaskStatus *st, int latest);

/* The executor reaped pid: returns 1 when it was one of c's commands. */
int checker_child_exited(struct checker *c, pid_t pid, int wait_status);

/* No more attempts and no more callbacks (the task is being killed or has
 * ended, as Mesos pauses its checkers then). Accepts NULL. */
void checker_stop(struct checker *c);

/* Whether the health check had the task killed, and why (NULL if not). */
const char *checker_kill_message(const struct checker *c);

void checker_free(struct checker *c);

#endif
