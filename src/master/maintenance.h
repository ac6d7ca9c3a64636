/* Maintenance, as Mesos: the schedule of machines' unavailability and their
 * modes (UP, DRAINING, DOWN), inverse offers to the frameworks using a
 * draining machine, and the draining and deactivation of single agents
 * (DRAIN_AGENT, DEACTIVATE_AGENT, REACTIVATE_AGENT). What must survive a
 * failover lives in the registry as records. Not here: allocation (agents
 * are only activated or deactivated in the allocator) and task kills on the
 * agent (plain KILL_TASK events). */
#ifndef TEPUI_MASTER_MAINTENANCE_H
#define TEPUI_MASTER_MAINTENANCE_H

#include "http/server.h"
#include "master.pb-c.h"
#include "master/registry.h"
#include "mesos.pb-c.h"
#include "wire/codec.h"

struct master;
struct agent;
struct framework;

/* A new leader takes the schedule, the DOWN machines and the drained or
 * deactivated agents from the registry's records. */
void maintenance_recover(struct master *m, const struct registry_state *s);
/* Forgets everything in memory (stepping down, exiting). */
void maintenance_forget(struct master *m);

/* /maintenance/schedule, /maintenance/status, /machine/down, /machine/up
 * (also under /master/). */
void maintenance_routes(struct master *m);
/* The operator API's maintenance and draining calls: answers and returns 1,
 * or returns 0 for any other call. */
int maintenance_operator_call(struct master *m, struct http_request *req,
                              const Tepui__Master__Call *call, enum wire_format fmt);

/* Why an agent announcing hostname from peer ("ip:port") may not register
 * (its machine is DOWN), or NULL. */
const char *maintenance_refuses_agent(struct master *m, const char *hostname, const char *peer);
/* After an agent (re-)registered: a deactivated or draining agent stays out
 * of the allocation. */
void maintenance_agent_registered(struct agent *a);
/* The unavailability of the agent's machine when it is scheduled for
 * maintenance (borrowed), else NULL: offers carry it. */
const Tepui__Unavailability *maintenance_unavailability(struct master *m, const struct agent *a);
int maintenance_agent_deactivated(struct master *m, const char *agent_id);
/* The agent's DrainInfo (owned, pb_free) or NULL. */
Tepui__DrainInfo *maintenance_drain_info(struct master *m, const char *agent_id);

/* ACCEPT_INVERSE_OFFERS (accept set) and DECLINE_INVERSE_OFFERS. */
void maintenance_answer_inverse_offers(struct framework *f, Tepui__OfferID **ids, size_t n,
                                       const Tepui__Filters *filters, int accept);
/* The framework's outstanding inverse offers (owned array of owned
 * messages, for GET_FRAMEWORKS). */
Tepui__InverseOffer **maintenance_framework_inverse_offers(const struct framework *f, size_t *n);

#endif
