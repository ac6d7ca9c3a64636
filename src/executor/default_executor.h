/* The default executor (`tepui-executor --task_group`): runs the task groups
 * of LAUNCH_GROUP events, each task as its own process group in a sandbox
 * of its own (<executor sandbox>/tasks/<task id>/, with stdout and stderr
 * files), and treats a group as one unit as Mesos's default executor does:
 * a task that fails or is killed takes the rest of its group down. An
 * executor may run several groups; it ends once every task it ran is over
 * and its updates are acknowledged. Like Mesos's
 * src/launcher/default_executor.cpp, minus nested containers, health checks
 * and checks. */
#ifndef TEPUI_EXECUTOR_DEFAULT_EXECUTOR_H
#define TEPUI_EXECUTOR_DEFAULT_EXECUTOR_H

#include <event2/event.h>

#include "common/error.h"
#include "tepui/executor.h"

struct default_executor;

/* Subscribes once the loop runs; the loop is broken when the executor is
 * done, and default_executor_exit_code says how it ended. switch_user: run
 * each task as its user (CommandInfo.user, else FrameworkInfo.user) when
 * this process is root. */
struct default_executor *default_executor_new(struct event_base *base,
                                              const struct tepui_executor_options *opts,
                                              int switch_user, struct error *err);
/* Kills every task still running (SIGKILL to its process group). Accepts
 * NULL. */
void default_executor_free(struct default_executor *de);
/* 0 once every task ended and its updates were acknowledged (or timed
 * out), or after a shutdown; non-zero when the agent was lost. */
int default_executor_exit_code(const struct default_executor *de);

#endif
