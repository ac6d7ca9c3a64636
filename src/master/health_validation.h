/* Validation of a task's HealthCheck and CheckInfo, as Mesos's master does
 * before a task is launched (src/common/validation.cpp): a type that is
 * set and known, the fields that type needs, no negative durations, a port
 * a connection can be made to. What the executor does with them is
 * src/executor/checker.c's. */
#ifndef TEPUI_MASTER_HEALTH_VALIDATION_H
#define TEPUI_MASTER_HEALTH_VALIDATION_H

#include "common/error.h"
#include "mesos.pb-c.h"

/* Returns 0, or -EINVAL with err naming the offending field. */
int health_validate_health_check(const Tepui__HealthCheck *hc, struct error *err);
int health_validate_check(const Tepui__CheckInfo *check, struct error *err);

/* Both of a task, with Mesos's prefixes ("Task uses invalid health check:
 * ...", "Task uses invalid check: ..."). */
int health_validate_task(const Tepui__TaskInfo *task, struct error *err);

#endif
