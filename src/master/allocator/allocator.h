/* The allocator decides which framework is offered which agent's free
 * resources: hierarchical Dominant Resource Fairness, first between roles
 * (with weights), then between the frameworks of a role. It runs in batches,
 * on an interval and soon after events that free or add resources, and
 * honours offer filters (refuse_seconds) and suppression.
 *
 * It knows agents, frameworks and roles by ID only and owns no master
 * state, so it can be driven and measured alone (bench/). Everything it
 * hands out stays allocated until the master recovers it. */
#ifndef TEPUI_MASTER_ALLOCATOR_H
#define TEPUI_MASTER_ALLOCATOR_H

#include <event2/event.h>
#include <stddef.h>
#include <stdint.h>

#include "common/resources.h"

struct allocator;

/* One offer's worth: resources of one agent for one role. */
struct allocation {
    const char *agent_id;
    const char *role;
    struct resources resources;   /* allocation role set; owned by the allocator */
};

/* Called once per framework per cycle with everything it was allocated. */
typedef void (*allocator_offer_fn)(void *arg, const char *framework_id,
                                   const struct allocation *allocations, size_t n);

struct allocator_options {
    double allocation_interval;      /* seconds between batch cycles */
    /* Alternatives of minimum quantities ("cpus:0.01|mem:32"): an agent's free
     * resources are offered only if they hold one of them. The allocator
     * takes ownership of the array. */
    struct resources *min_allocatable;
    size_t n_min_allocatable;
    allocator_offer_fn offer;
    void *arg;
};

struct allocator_metrics {
    uint64_t allocation_runs;
    double last_run_ms;
    double total_run_ms;
};

/* base may be NULL (no timers: cycles run only through allocator_run). */
struct allocator *allocator_new(struct event_base *base, const struct allocator_options *opts);
void allocator_free(struct allocator *a);

/* Frameworks. roles: the roles it subscribes with. */
void allocator_add_framework(struct allocator *a, const char *framework_id, char *const *roles,
                             size_t n_roles, int active);
void allocator_update_framework_roles(struct allocator *a, const char *framework_id,
                                      char *const *roles, size_t n_roles);
/* The master must have recovered everything allocated to it first. */
void allocator_remove_framework(struct allocator *a, const char *framework_id);
void allocator_activate_framework(struct allocator *a, const char *framework_id);
void allocator_deactivate_framework(struct allocator *a, const char *framework_id);
/* roles NULL/n 0 = all the framework's roles. Revive also clears filters. */
void allocator_suppress(struct allocator *a, const char *framework_id, char *const *roles,
                        size_t n);
void allocator_revive(struct allocator *a, const char *framework_id, char *const *roles,
                      size_t n);

/* Agents. used: resources already in use (re-registration), each entry with
 * its allocation role, attributed to the given framework. */
void allocator_add_agent(struct allocator *a, const char *agent_id, const struct resources *total);
/* The master must have recovered everything allocated on it first. */
void allocator_remove_agent(struct allocator *a, const char *agent_id);
void allocator_activate_agent(struct allocator *a, const char *agent_id);
void allocator_deactivate_agent(struct allocator *a, const char *agent_id);
/* Replaces an agent's total resources (operator RESERVE/UNRESERVE,
 * CREATE/DESTROY of volumes, an agent's resource update) while what is
 * allocated on it stays allocated: the free part becomes the new total less
 * what is allocated. The caller makes sure the new total still holds what
 * is allocated (recover or rescind offers first). Filters on the agent stay;
 * their remembered answers are refreshed. */
void allocator_update_agent_total(struct allocator *a, const char *agent_id,
                                  const struct resources *total);
/* Converts resources already allocated to a framework on an agent (offer
 * operations applied in ACCEPT: RESERVE, UNRESERVE, CREATE, DESTROY): from
 * leaves the agent's total and the framework's allocation, to joins both.
 * Both carry their allocation role. Free resources are untouched. */
void allocator_update_allocation(struct allocator *a, const char *framework_id,
                                 const char *agent_id, const struct resources *from,
                                 const struct resources *to);
/* Records resources in use by a framework on an agent that the allocator
 * did not hand out (tasks reported by a re-registering agent). */
void allocator_add_used(struct allocator *a, const char *framework_id, const char *agent_id,
                        const struct resources *used);

/* Gives back resources (offers declined or unused, tasks ended). Each entry
 * carries its allocation role. refuse_seconds > 0 installs a filter so the
 * framework is not offered (at most) these resources of this agent again
 * before it expires. */
void allocator_recover(struct allocator *a, const char *framework_id, const char *agent_id,
                       const struct resources *resources, double refuse_seconds);

/* Asks for a cycle soon (coalesced with other requests). */
void allocator_request_run(struct allocator *a);
/* Runs one cycle now over every active agent. */
void allocator_run(struct allocator *a);

/* Exactly these of the framework's roles are suppressed, the others not
 * (UPDATE_FRAMEWORK's suppressed_roles); filters stay as they are. */
void allocator_set_suppressed_roles(struct allocator *a, const char *framework_id,
                                    char *const *roles, size_t n);

/* A role's weight (> 0; 1 when never set). Kept for roles with no
 * framework yet, and applied among the role's siblings. */
void allocator_set_weight(struct allocator *a, const char *role, double weight);
/* A role's quota (Mesos 1.9+ QuotaConfig): guarantees and limits of
 * scalar resources by name (none given: no guarantee, no limit). Guarantees
 * are met before fair sharing: unallocated resources are held back as
 * headroom for roles whose guarantee is not met yet. Limits are never
 * exceeded by unreserved resources: a role's consumption stays within its
 * limit and every ancestor's. Both count, as Mesos 1.9+, what the role and
 * its descendants are allocated (offers included) plus the reservations
 * to them that nobody is allocated. Setting both empty removes the quota. */
struct allocator_quantity {
    const char *name;
    int64_t value;                  /* thousandths; a limit of 0 is a limit */
};
void allocator_set_quota(struct allocator *a, const char *role,
                         const struct allocator_quantity *guarantees, size_t n_guarantees,
                         const struct allocator_quantity *limits, size_t n_limits);
const struct allocator_metrics *allocator_get_metrics(const struct allocator *a);

/* Parses "cpus:0.01|mem:32" into alternatives. */
int allocator_parse_min_allocatable(const char *text, struct resources **out, size_t *n,
                                    struct error *err);

#endif
