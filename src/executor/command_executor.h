/* The command executor: runs the one command task of a LAUNCH as a child
 * process, health checks and checks it (checker.c), reports its states
 * through the executor API, kills it on KILL, SHUTDOWN or failed health
 * checks with SIGTERM then SIGKILL, and ends once its terminal update is
 * acknowledged. Like Mesos's src/launcher/executor.cpp, minus containers. */
#ifndef TEPUI_EXECUTOR_COMMAND_EXECUTOR_H
#define TEPUI_EXECUTOR_COMMAND_EXECUTOR_H

#include <event2/event.h>

#include "common/error.h"
#include "tepui/executor.h"

struct command_executor;

/* Subscribes once the loop runs; the loop is broken when the executor is
 * done, and command_executor_exit_code says how it ended. switch_user: run
 * the task as its user (CommandInfo.user, else FrameworkInfo.user) when this
 * process is root; off when the agent runs tasks as itself (its
 * --no-switch_user). */
struct command_executor *command_executor_new(struct event_base *base,
                                              const struct tepui_executor_options *opts,
                                              int switch_user, struct error *err);
/* Kills a task still running (SIGKILL to its process group). Accepts NULL. */
void command_executor_free(struct command_executor *ce);
/* 0 after an acknowledged (or timed-out) terminal update or a shutdown
 * without a task; non-zero when the agent was lost. */
int command_executor_exit_code(const struct command_executor *ce);

#endif
