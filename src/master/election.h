/* Several masters (--zk): each contends for leadership in ZooKeeper and
 * detects the leader, as Mesos's ZooKeeperMasterContender and Detector do,
 * and a master that does not lead redirects leader-only requests to the
 * one that does. Not responsible for what leading means: that is
 * master_become_leader / master_stop_leading. */
#ifndef TEPUI_MASTER_ELECTION_H
#define TEPUI_MASTER_ELECTION_H

#include <event2/event.h>

#include "common/error.h"
#include "ha/zk.h"
#include "http/server.h"

struct master;
struct election;

/* Opens the ZooKeeper session of --zk (zk://hosts/path). */
struct election *election_new(struct event_base *base, const char *zk_url, double session_timeout,
                              struct error *err);
/* The session and the group's path, for the ZooKeeper registry. */
struct zk *election_zk(struct election *e);
const char *election_path(const struct election *e);
/* Starts contending for m, once it serves (its MasterInfo is known). */
void election_start(struct election *e, struct master *m);
/* Withdraws (the session closes, so another master is elected at once).
 * After master_free: the master's registry may use the session until then. */
void election_free(struct election *e);

/* Answers a request to a leader-only endpoint on a master that does not
 * lead: 307 with Location //<leader hostname>:<port><path>[?query], or 503
 * "No leader elected" when no other master is known to lead. Returns 1 when
 * it answered, 0 when this master leads and the handler goes on. */
int master_redirect_unless_leading(struct master *m, struct http_request *req);
/* The /redirect endpoint: 307 to the leader's base URL (this master when it
 * leads), 503 when none is known. */
void master_redirect_to_leader(struct master *m, struct http_request *req);

#endif
