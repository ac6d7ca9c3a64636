/* Shared daemon plumbing: shutdown signals and the port file. */
#include "common/daemon.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "common/log.h"
#include "common/xalloc.h"

#define LOG_COMPONENT "daemon"

static const char *signal_component = "daemon";

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    log_write(LOG_LEVEL_INFO, signal_component, "received signal %d; shutting down", (int)sig);
    event_base_loopbreak(arg);
}

void daemon_signals_init(struct daemon_signals *s, struct event_base *base, const char *component)
{
    signal_component = component;
    signal(SIGPIPE, SIG_IGN);
    daemon_raise_fd_limit();
    s->sigint = evsignal_new(base, SIGINT, on_signal, base);
    s->sigterm = evsignal_new(base, SIGTERM, on_signal, base);
    event_add(s->sigint, NULL);
    event_add(s->sigterm, NULL);
}

void daemon_signals_free(struct daemon_signals *s)
{
    if (s->sigint)
        event_free(s->sigint);
    if (s->sigterm)
        event_free(s->sigterm);
    s->sigint = s->sigterm = NULL;
}

long daemon_raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return -1;
    /* Root may go up to the kernel's ceiling. */
    FILE *f = fopen("/proc/sys/fs/nr_open", "r");
    unsigned long nr_open = 0;
    if (f != NULL) {
        if (fscanf(f, "%lu", &nr_open) != 1)
            nr_open = 0;
        fclose(f);
    }
    if (nr_open > rl.rlim_max) {
        struct rlimit up = {nr_open, nr_open};
        if (setrlimit(RLIMIT_NOFILE, &up) == 0)
            return (long)nr_open;
    }
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            return -1;
    }
    return (long)rl.rlim_cur;
}

int daemon_write_port_file(const char *path, int port)
{
    char *tmp = xasprintf("%s.tmp", path);
    int rc = 0;
    FILE *f = fopen(tmp, "w");
    if (f == NULL) {
        rc = -errno;
        goto out;
    }
    fprintf(f, "%d\n", port);
    if (fclose(f) != 0) {
        rc = -errno;
        goto out;
    }
    if (rename(tmp, path) != 0)
        rc = -errno;
out:
    free(tmp);
    return rc;
}

struct event_base *daemon_event_base(int changelist)
{
    struct event_config *cfg = event_config_new();
    if (cfg == NULL)
        return NULL;
    if (changelist)
        event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    struct event_base *base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    return base;
}
