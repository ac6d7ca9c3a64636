/* Harness additions for several masters: a real ZooKeeper server (Debian's
 * zookeeper package, run by the test on a free loopback port with a
 * temporary data directory), masters started with --zk, agents and
 * schedulers that find the leader through it. Processes die with the test
 * process, as the other harness's do. */
#ifndef TEPUI_TESTS_HARNESS_HA_H
#define TEPUI_TESTS_HARNESS_HA_H

#include "harness.h"

#define HA_MAX_MASTERS 4
#define HA_MAX_AGENTS 8

struct h_ha {
    char root[256];
    struct h_proc zk;                 /* port: its client port */
    char zk_url[128];                 /* zk://127.0.0.1:<port>/tepui */
    struct h_proc masters[HA_MAX_MASTERS];
    int n_masters;
    struct h_proc agents[HA_MAX_AGENTS];
    int n_agents;
};

/* Whether Java and ZooKeeper's jar are installed (scripts/install-deps.sh). */
int h_zk_available(void);

void h_ha_init(struct h_ha *c);
/* Starts ZooKeeper (on port, or a free one when 0; the data directory is
 * kept across restarts) and waits until it answers "ruok". tick_ms is its
 * tickTime: sessions may be as short as two ticks. */
void h_zk_start(struct h_ha *c, int port, int tick_ms);
void h_zk_stop(struct h_ha *c);
/* A master with --zk=<zk_url> and extra flags; returns its index. */
int h_ha_start_master(struct h_ha *c, const char *const *flags);
/* An agent with --master=<zk_url> and extra flags (resources default as
 * h_start_agent's); returns its index once it serves (not registered). */
int h_ha_start_agent(struct h_ha *c, const char *const *flags);
/* Starts agent i again (it must have exited) with its work dir, port and log. */
void h_ha_restart_agent(struct h_ha *c, int i, const char *const *flags);
/* Waits for a process to exit on its own and reaps it: its wait status,
 * or -1 when it still runs after timeout seconds. */
int h_ha_wait_exit(struct h_proc *p, double timeout);
/* The index of the master that leads (master/elected is 1 on it alone), -1
 * when none does within timeout. */
int h_ha_wait_leader(struct h_ha *c, double timeout);
/* Reads a znode through a session of its own: its data (malloc'd, *len
 * set), or NULL when it does not exist or ZooKeeper does not answer. */
char *h_zk_get(const struct h_ha *c, const char *path, size_t *len);
/* The port of a Location header "//host:port/path", or -1. */
int h_location_port(const char *location);
/* Stops everything (daemons with SIGTERM must exit 0) and removes the root. */
void h_ha_destroy(struct h_ha *c);
void h_ha_dump_logs(const struct h_ha *c);

#endif
