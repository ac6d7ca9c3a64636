/* The decisions of the command executor that need no process: turning a
 * CommandInfo into argv and an environment, picking the user, naming how a
 * command ended (in Mesos's words), and timing the kill escalation. Kept
 * apart from process handling so unit tests can pin them. */
#ifndef TEPUI_EXECUTOR_COMMAND_H
#define TEPUI_EXECUTOR_COMMAND_H

#include "common/error.h"
#include "mesos.pb-c.h"

/* Mesos's command executor gives a task this long between SIGTERM and
 * SIGKILL when neither the KILL nor the task names a grace period. */
#define COMMAND_DEFAULT_KILL_GRACE_SECS 3.0

/* A NULL-terminated argv: shell commands (the default) run as
 * {"/bin/sh", "-c", value}; others exec value with arguments as argv
 * (arguments[0] is argv[0]; with no arguments, argv is {value}).
 * Returns NULL with err set when the command has no value; task_id names
 * the task in the message. Free with command_strv_free. */
char **command_argv(const Tepui__CommandInfo *cmd, const char *task_id, struct error *err);

/* The task's environment: base (the executor's own, with the MESOS_*
 * variables the agent set), then CommandInfo.environment's variables
 * overriding by name, then MESOS_SANDBOX (when base lacks it, from sandbox)
 * and MESOS_ALLOCATION_ROLE (from the task's resources) as Mesos sets them.
 * The executor's authentication token is not passed on. Returns NULL with err
 * set for a SECRET variable (not supported) or a malformed name. */
char **command_environment(char *const *base, const Tepui__TaskInfo *task, const char *sandbox,
                           struct error *err);
void command_strv_free(char **v);
/* Sets name=value in env (a NULL-terminated, allocated environment such as
 * command_environment returns), replacing an earlier definition in place;
 * returns the environment, which may have moved. */
char **command_env_set(char **env, const char *name, const char *value);
/* The value of name in a NULL-terminated environment, or NULL. */
const char *command_env_get(char *const *env, const char *name);

/* The user to run the task as: CommandInfo.user, else FrameworkInfo.user;
 * NULL (or empty) means the executor's own user. */
const char *command_user(const Tepui__CommandInfo *cmd, const Tepui__FrameworkInfo *framework);

/* How the command ended, as Mesos words it: "Command exited with status N",
 * "Command terminated with signal Killed" (strsignal's name), with
 * " (core dumped)" when it did. Returns an allocated string. */
char *command_wait_message(int wait_status);
/* TASK_KILLED when we killed it, TASK_FINISHED on exit status 0,
 * TASK_FAILED otherwise. */
Tepui__TaskState command_wait_state(int wait_status, int killed);

/* Seconds between SIGTERM and SIGKILL: the KILL event's policy wins over the
 * task's, else the default. Either may be NULL. */
double command_kill_grace_period(const Tepui__KillPolicy *kill_event, const Tepui__KillPolicy *task);
/* When to escalate to SIGKILL after another KILL arrives for a task being
 * killed since `started`, escalation due at `deadline`: a kill may shorten
 * the grace period but never lengthen it (retries are no-ops), as in Mesos.
 * Returns the new deadline (== deadline when unchanged). */
double command_kill_deadline(double started, double deadline, double grace);
/* The grace period for killing the task on SHUTDOWN: the executor's own
 * shutdown grace period less a second, to send TASK_KILLED before the agent
 * destroys the container. */
double command_shutdown_grace_period(double executor_shutdown_grace);

/* Whether an update is one a health check or check result asked for
 * (TASK_RUNNING with REASON_TASK_HEALTH_CHECK_STATUS_UPDATED or
 * REASON_TASK_CHECK_STATUS_UPDATED): it carries the latest results. */
int command_is_check_update(Tepui__TaskState state, int has_reason,
                            Tepui__TaskStatus__Reason reason);

int command_framework_has_capability(const Tepui__FrameworkInfo *framework,
                                     Tepui__FrameworkInfo__Capability__Type type);

#endif
