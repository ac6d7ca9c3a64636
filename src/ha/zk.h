/* A ZooKeeper session for a libevent loop, on libzookeeper-mt. The library
 * runs its own I/O and completion threads; every completion and watch event
 * is handed to the owner's loop (a queue and an eventfd), so callers touch
 * their state only on the loop. Not responsible for what the znodes mean:
 * election, detection and the registry build on it.
 *
 * Session handling follows Mesos's zookeeper::Group: a session that stays
 * disconnected for its (negotiated) timeout is expired locally, since the
 * server only says so once it is reachable again; then a new session is
 * set up, for as long as the handle lives. */
#ifndef TEPUI_HA_ZK_H
#define TEPUI_HA_ZK_H

#include <event2/event.h>
#include <stddef.h>

#include "common/error.h"

/* "zk://[user:password@]host:port[,host:port...]/path", as Mesos's --zk. */
struct zk_url {
    char hosts[1024];        /* "host:port,host:port" for zookeeper_init */
    char path[512];          /* absolute, no trailing '/' ("/mesos") */
    char auth[256];          /* "user:password" (digest), "" when none */
};
int zk_url_parse(const char *text, struct zk_url *out, struct error *err);
int zk_url_is(const char *text);   /* starts with zk:// */

struct zk;

enum zk_session_event {
    ZK_SESSION_STARTED,      /* connected with a new session: no ephemeral nodes, no watches */
    ZK_RECONNECTED,          /* connected again within the same session */
    ZK_DISCONNECTED,         /* lost the connection; the session may still survive */
    ZK_SESSION_LOST,         /* expired (by the server or locally): ephemeral nodes and
                              * watches are gone; a new session is being set up */
};
const char *zk_session_event_name(enum zk_session_event ev);

struct zk_callbacks {
    void (*session)(struct zk *zk, enum zk_session_event ev, void *arg);
    /* A watch set by zk_children/zk_exists/zk_get fired: type is ZooKeeper's
     * (ZOO_CHILD_EVENT, ZOO_CREATED_EVENT, ...), path the znode's. */
    void (*watch)(struct zk *zk, int type, const char *path, void *arg);
};

/* Starts connecting (asynchronously). hosts as in struct zk_url.
 * session_timeout in seconds. Callbacks run on base's loop. */
struct zk *zk_new(struct event_base *base, const struct zk_url *url, double session_timeout,
                  const struct zk_callbacks *cb, void *arg, struct error *err);
/* Closes the session (its ephemeral nodes go at once). No callback runs
 * afterwards, completions included. Safe from inside a callback. */
void zk_free(struct zk *zk);
int zk_is_connected(const struct zk *zk);
/* The current session's id, 0 before the first connection of a session. */
long long zk_session_id(const struct zk *zk);
struct event_base *zk_base(const struct zk *zk);
/* The negotiated session timeout in seconds (the requested one before). */
double zk_session_timeout(const struct zk *zk);

/* ---- asynchronous operations ----
 * done runs on the loop exactly once, unless the operation's owner is
 * cancelled (zk_cancel) or the handle freed; rc is ZooKeeper's (ZOK,
 * ZNONODE, ZNODEEXISTS, ZCONNECTIONLOSS, ZSESSIONEXPIRED, ...). An
 * operation of a session that is lost fails with ZSESSIONEXPIRED. owner
 * (may be NULL) tags the operation for zk_cancel. */

/* data: GET's value, CREATE's created path (NUL-terminated), else NULL. */
typedef void (*zk_data_fn)(void *arg, int rc, const char *data, size_t len);
typedef void (*zk_children_fn)(void *arg, int rc, char *const *names, size_t n);

/* flags: 0 or ZOO_EPHEMERAL / ZOO_SEQUENCE; open ACL. */
void zk_create(struct zk *zk, void *owner, const char *path, const void *data, size_t len,
               int flags, zk_data_fn done, void *arg);
/* Creates path and every missing parent (persistent, empty); ZOK when it
 * exists already. */
void zk_create_parents(struct zk *zk, void *owner, const char *path, zk_data_fn done, void *arg);
void zk_delete(struct zk *zk, void *owner, const char *path, zk_data_fn done, void *arg);
void zk_get(struct zk *zk, void *owner, const char *path, int watch, zk_data_fn done, void *arg);
void zk_set(struct zk *zk, void *owner, const char *path, const void *data, size_t len,
            zk_data_fn done, void *arg);
/* ZOK when it exists, ZNONODE when not (a watch then fires on creation). */
void zk_exists(struct zk *zk, void *owner, const char *path, int watch, zk_data_fn done,
               void *arg);
void zk_children(struct zk *zk, void *owner, const char *path, int watch, zk_children_fn done,
                 void *arg);
/* Drops the callbacks of owner's operations in flight. */
void zk_cancel(struct zk *zk, void *owner);

/* ---- blocking reads, for a new leader's recovery only ----
 * -ENOENT when the listed node is missing, -EIO otherwise.
 * Pipelined: one round trip for all of paths. Blocks the loop for at most
 * the session timeout. */
int zk_sync_children(struct zk *zk, const char *path, char ***names, size_t *n,
                     struct error *err);
/* values[i] (malloc'd, NULL when the node is gone) and lens[i] for each path. */
int zk_sync_get_many(struct zk *zk, char *const *paths, size_t n, char ***values, size_t **lens,
                     struct error *err);
void zk_strings_free(char **v, size_t n);

const char *zk_error_name(int rc);

#endif
