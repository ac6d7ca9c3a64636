/* Mesos's task states and reasons in one place: names, which states are
 * terminal, and the transitions a task may take. */
#ifndef TEPUI_COMMON_TASK_STATE_H
#define TEPUI_COMMON_TASK_STATE_H

#include "mesos.pb-c.h"

typedef Tepui__TaskState task_state_t;

const char *task_state_name(task_state_t s);
/* FINISHED, FAILED, KILLED, LOST, ERROR, DROPPED, GONE, GONE_BY_OPERATOR
 * (as Mesos's isTerminalState; UNREACHABLE and UNKNOWN are not). */
int task_state_is_terminal(task_state_t s);
/* Whether a task may move from `from` to `to`. Terminal states never change;
 * a task may not go back to STAGING; everything else is allowed, because
 * updates can be lost or reordered across agent restarts. */
int task_state_transition_valid(task_state_t from, task_state_t to);
const char *task_reason_name(Tepui__TaskStatus__Reason r);
const char *task_source_name(Tepui__TaskStatus__Source s);

#endif
