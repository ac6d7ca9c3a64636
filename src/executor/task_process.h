/* One task's process, as both built-in executors run it: started from its
 * TaskInfo's command in a process group of its own (as its user, in its
 * sandbox, with its environment, optionally with stdout and stderr files of
 * its own), killed with SIGTERM and then SIGKILL once a grace period has
 * passed, killed at TaskInfo.max_completion_time, and named at its end in
 * Mesos's words. Reaping is the caller's: its SIGCHLD handler hands the wait
 * status back through task_process_reaped. Status updates are the
 * caller's too. */
#ifndef TEPUI_EXECUTOR_TASK_PROCESS_H
#define TEPUI_EXECUTOR_TASK_PROCESS_H

#include <event2/event.h>
#include <sys/types.h>

#include "common/error.h"
#include "mesos.pb-c.h"

struct task_process;

struct task_process_spec {
    const Tepui__TaskInfo *task;            /* its command (required), environment, policies */
    const Tepui__FrameworkInfo *framework;  /* for the user; may be NULL */
    char *const *base_env;                  /* the executor's environment */
    const char *sandbox;                    /* the working directory */
    /* The sandbox is the task's own (the default executor made it below
     * its own): MESOS_SANDBOX points at it, and it goes to the task's user. */
    int own_sandbox;
    const char *stdout_path, *stderr_path;  /* files to append to; NULL: inherit ours */
    int switch_user;                        /* run as the task's user when we are root */
    const char *framework_id, *executor_id; /* for log lines */
};

/* Forks the task's process. Returns NULL with err saying why the task
 * cannot run (no command, a secret variable, an unknown user, a file that
 * cannot be opened, fork failing): it then fails with that message. */
struct task_process *task_process_start(struct event_base *base,
                                        const struct task_process_spec *spec, struct error *err);
pid_t task_process_pid(const struct task_process *p);

/* Starts a helper command of the task (a command check) as the task runs:
 * as its user (cmd->user is ignored, as Mesos's checkers do), in its
 * sandbox, with its environment and cmd's variables on top, in a process
 * group of its own; its output goes to /dev/null. Returns the pid, or -1
 * with err set. Reaping and killing (the group) are the caller's. */
pid_t task_process_spawn_helper(const struct task_process_spec *spec,
                                const Tepui__CommandInfo *cmd, struct error *err);

/* Sends SIGTERM to the process group, and SIGKILL once grace seconds have
 * passed. A later call while the kill is under way may shorten the grace
 * period but never lengthen it (Mesos's rule for retried kills). Returns 1
 * when this call started the kill, 0 when one was under way already or the
 * process is over. */
int task_process_kill(struct task_process *p, double grace);
/* Whether a kill (ours, or the one at max_completion_time) has started. */
int task_process_killing(const struct task_process *p);

/* The process was reaped with wait_status: whatever is left in its group
 * is killed, timers stop, and its terminal state, reason and message (Mesos's
 * words; allocated, the caller frees it) are filled in: TASK_FAILED when it
 * never reached exec (with the reason it gives) or reached
 * max_completion_time (REASON_MAX_COMPLETION_TIME_REACHED), TASK_KILLED
 * when killed, else TASK_FINISHED or TASK_FAILED by its exit status. */
void task_process_reaped(struct task_process *p, int wait_status, Tepui__TaskState *state,
                         int *has_reason, Tepui__TaskStatus__Reason *reason, char **message);
int task_process_is_reaped(const struct task_process *p);

/* Kills the process group with SIGKILL if it was not reaped, and frees
 * everything. Accepts NULL. */
void task_process_free(struct task_process *p);

#endif
