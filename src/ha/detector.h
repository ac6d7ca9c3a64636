/* Leader detection through ZooKeeper, as Mesos's ZooKeeperMasterDetector:
 * the masters' group is the children of the zk:// path named
 * "json.info_<sequence>" (MasterInfo in JSON; "info_<sequence>" with
 * protobuf from older Mesos masters); the lowest sequence leads. Used by
 * the agent, libtepui's scheduler, the CLI and the masters themselves.
 * It only watches: contending is the master's (src/master/election.c). */
#ifndef TEPUI_HA_DETECTOR_H
#define TEPUI_HA_DETECTOR_H

#include <event2/event.h>
#include <stddef.h>

#include "common/error.h"
#include "ha/zk.h"
#include "mesos.pb-c.h"

/* The znode name prefix of a contending master, as Mesos writes it. */
#define DETECTOR_LABEL "json.info"

struct detector_leader {
    const char *node;                 /* "json.info_0000000003" */
    const Tepui__MasterInfo *info;
    char host[256];                   /* where to reach it: address.ip, else ip */
    int port;
    char hostname[256];               /* for Location headers (hostname, else ip) */
};

/* leader is NULL when there is none (none elected, or the session is lost);
 * it is borrowed for the duration of the call. Runs only on changes. */
typedef void (*detector_fn)(void *arg, const struct detector_leader *leader);

struct detector;

/* A detector with a ZooKeeper session of its own. url: zk://hosts/path. */
struct detector *detector_new(struct event_base *base, const char *url, double session_timeout,
                              detector_fn fn, void *arg, struct error *err);
/* A detector on a session its owner keeps and whose events it forwards. */
struct detector *detector_new_on(struct zk *zk, const char *path, detector_fn fn, void *arg);
void detector_session_event(struct detector *d, enum zk_session_event ev);
void detector_watch_event(struct detector *d, int type, const char *path);
/* Safe from inside fn. */
void detector_free(struct detector *d);

/* The current leader, NULL when none. */
const struct detector_leader *detector_leader(const struct detector *d);
/* Whether the last listing of the group had this member (a znode name). */
int detector_has_member(const struct detector *d, const char *node);
/* Whether a listing has completed since the session (re)started. */
int detector_listed(const struct detector *d);
/* Lists the group again (a member was just added). */
void detector_refresh(struct detector *d);

/* Blocks (a private loop) until a leader is known or timeout seconds pass;
 * fills host and port of the leader. For one-shot clients (the CLI). */
int detector_resolve(const char *url, double timeout, char *host, size_t n, int *port,
                     struct error *err);

#endif
