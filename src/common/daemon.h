/* What every tepui daemon's main() does the same way: stop cleanly on
 * SIGINT/SIGTERM, and tell scripts and tests which port it listens on. */
#ifndef TEPUI_COMMON_DAEMON_H
#define TEPUI_COMMON_DAEMON_H

#include <event2/event.h>

struct daemon_signals {
    struct event *sigint;
    struct event *sigterm;
};

/* Breaks base's loop on SIGINT or SIGTERM (and ignores SIGPIPE). */
void daemon_signals_init(struct daemon_signals *s, struct event_base *base, const char *component);
void daemon_signals_free(struct daemon_signals *s);

/* A new event base for a daemon with many connections. With
 * changelist set, epoll backends apply a turn's changes to the interest
 * set in one pass instead of one epoll_ctl per change (about 20% more
 * tasks per second through the master, bench/scale.sh launch). It is not
 * safe with duplicated descriptors, which the master does not make. */
struct event_base *daemon_event_base(int changelist);

/* Raises the soft limit on open files to the hard limit: a master holds one
 * connection per agent and per scheduler. Returns the new soft limit. */
long daemon_raise_fd_limit(void);

/* Writes "PORT\n" to path atomically (a temporary file renamed), so a
 * reader never sees a partial number. Returns 0 or a negative errno. */
int daemon_write_port_file(const char *path, int port);

#endif
