/* tepui-master: parse flags, create the loop, start the master (HTTP routes,
 * allocator), run until SIGINT or SIGTERM. */
#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/daemon.h"
#include "common/flags.h"
#include "common/log.h"
#include "master/election.h"
#include "master/master.h"

#define LOG_COMPONENT "master"

/* The registry of a single master: --registry=sqlite (in --work_dir, the
 * default when it is set) or in_memory. A corrupt file stops the master
 * unless --no-registry_strict, which keeps what can be recovered. */
static struct registry *open_registry(struct event_base *base, struct master_flags *fl,
                                      struct error *err)
{
    int have_dir = fl->work_dir != NULL && fl->work_dir[0] != '\0';
    const char *kind = fl->registry;
    if (kind == NULL || kind[0] == '\0')
        kind = have_dir ? "sqlite" : "in_memory";
    /* /flags shows the registry in use. */
    if (fl->registry == NULL)
        fl->registry = (char *)kind;
    if (strcmp(kind, "in_memory") == 0)
        return registry_memory_new(base);
    if (strcmp(kind, "zookeeper") == 0) {
        error_set(err, -EINVAL, "--registry=zookeeper needs --zk");
        return NULL;
    }
    if (strcmp(kind, "sqlite") != 0) {
        error_set(err, -EINVAL, "unknown --registry '%s' (in_memory, sqlite or zookeeper)", kind);
        return NULL;
    }
    if (!have_dir) {
        error_set(err, -EINVAL, "--registry=sqlite needs --work_dir");
        return NULL;
    }
    struct registry *r = registry_sqlite_new(base, fl->work_dir, err);
    if (r != NULL || err->code != -EBADMSG)
        return r;
    if (fl->registry_strict) {
        fprintf(stderr, "tepui-master: %s\n", err->msg);
        error_set(err, -EBADMSG,
                  "refusing to start on a corrupt registry: start with --no-registry_strict to "
                  "keep what can be recovered (the corrupt file is kept beside it), or move "
                  "%s/registry.db away to start with an empty registry (every agent then "
                  "registers anew)", fl->work_dir);
        return NULL;
    }
    log_warn("%s; --no-registry_strict: keeping what can be recovered", err->msg);
    if (registry_sqlite_salvage(fl->work_dir, err) < 0)
        return NULL;
    return registry_sqlite_new(base, fl->work_dir, err);
}

int main(int argc, char **argv)
{
    struct master_flags fl = {0};
    char *port_file = NULL;
    char *zk = NULL;
    double zk_session_timeout = 0;
    int quorum = 0;
    struct flag_def defs[] = {
        {"ip", FLAG_STRING, &fl.ip, "127.0.0.1", "IP address to listen on and advertise"},
        {"port", FLAG_INT, &fl.port, "5050", "Port to listen on (0 picks a free one)"},
        {"hostname", FLAG_STRING, &fl.hostname, NULL,
         "Hostname to advertise (default: the machine's hostname)"},
        {"work_dir", FLAG_STRING, &fl.work_dir, NULL, "Directory for the master's persistent state"},
        {"cluster", FLAG_STRING, &fl.cluster, NULL, "Human-readable name for the cluster"},
        {"allocation_interval", FLAG_DURATION, &fl.allocation_interval, "1secs",
         "Interval between batch allocation cycles"},
        {"offer_timeout", FLAG_DURATION, &fl.offer_timeout, "0secs",
         "Time after which an unused offer is rescinded (0: never)"},
        {"min_allocatable_resources", FLAG_STRING, &fl.min_allocatable_resources,
         "cpus:0.01|mem:32",
         "Smallest free resources worth offering: alternatives separated by '|'"},
        {"agent_ping_timeout", FLAG_DURATION, &fl.agent_ping_timeout, "15secs",
         "Time to wait for an agent's answer to a ping"},
        {"max_agent_ping_timeouts", FLAG_INT, &fl.max_agent_ping_timeouts, "5",
         "Missed pings after which an agent is considered unreachable"},
        {"framework_heartbeat_interval", FLAG_DURATION, &fl.framework_heartbeat_interval, "15secs",
         "Interval of HEARTBEAT events on scheduler streams"},
        {"max_completed_frameworks", FLAG_INT, &fl.max_completed_frameworks, "50",
         "Completed frameworks kept for the endpoints"},
        {"max_completed_tasks_per_framework", FLAG_INT, &fl.max_completed_tasks_per_framework,
         "1000", "Completed tasks kept per framework"},
        {"max_body_size", FLAG_BYTES, &fl.max_body_size, "16MB",
         "Largest request body accepted (larger ones get 413)"},
        {"logging_level", FLAG_STRING, &fl.logging_level, "INFO",
         "Least severe level logged: DEBUG, INFO, WARNING or ERROR"},
        {"port_file", FLAG_STRING, &port_file, NULL,
         "Write the port actually listened on to this file once serving"},
        {"registry", FLAG_STRING, &fl.registry, NULL,
         "Where the registry (admitted, unreachable and gone agents) is kept: sqlite (a file in "
         "--work_dir; the default when it is set), in_memory (the default otherwise) or "
         "zookeeper (under --zk's path; the default with --zk)"},
        {"registry_strict", FLAG_BOOL, &fl.registry_strict, "true",
         "Refuse to start on a corrupt registry; --no-registry_strict keeps what can be "
         "recovered (the corrupt file is kept beside it)"},
        {"agent_reregister_timeout", FLAG_DURATION, &fl.agent_reregister_timeout, "10mins",
         "Time the agents in the registry have to re-register after a failover; those that do "
         "not are marked unreachable"},
        {"registry_gc_interval", FLAG_DURATION, &fl.registry_gc_interval, "15mins",
         "How often unreachable and gone agents are pruned from the registry"},
        {"registry_max_agent_age", FLAG_DURATION, &fl.registry_max_agent_age, "2weeks",
         "How long the registry remembers an unreachable or gone agent"},
        {"registry_max_agent_count", FLAG_INT, &fl.registry_max_agent_count, "102400",
         "Most unreachable (and, apart, gone) agents the registry remembers; the oldest go "
         "first"},
        {"zk", FLAG_STRING, &zk, NULL,
         "ZooKeeper URL through which several masters elect a leader: "
         "zk://host:port[,host:port...]/path (default: a single master leads alone)"},
        {"zk_session_timeout", FLAG_DURATION, &zk_session_timeout, "10secs",
         "ZooKeeper session timeout: how long a leader cut off from ZooKeeper keeps leading"},
        {"quorum", FLAG_INT, &quorum, "0",
         "Accepted for Mesos compatibility; the registry of several masters is in ZooKeeper"},
    };
    struct flag_set fs = {
        .program = "tepui-master",
        .summary = "The tepui master: pools agents' resources and offers them to frameworks.",
        .defs = defs,
        .n = sizeof(defs) / sizeof(defs[0]),
    };
    struct error err = {0};
    int rc = flags_parse(&fs, argc, argv, NULL, NULL, &err);
    if (rc != 0) {
        if (rc < 0)
            fprintf(stderr, "tepui-master: %s\n", err.msg);
        flags_free(&fs);
        return rc < 0 ? 2 : 0;
    }
    int level = log_level_parse(fl.logging_level);
    if (level < 0) {
        fprintf(stderr, "tepui-master: unknown --logging_level '%s'\n", fl.logging_level);
        flags_free(&fs);
        return 2;
    }
    log_set_level((enum log_level)level);
    if (fl.max_agent_ping_timeouts < 1 || fl.agent_ping_timeout <= 0) {
        fprintf(stderr, "tepui-master: --agent_ping_timeout and --max_agent_ping_timeouts must be positive\n");
        flags_free(&fs);
        return 2;
    }

    struct event_base *base = daemon_event_base(1);
    if (base == NULL) {
        fprintf(stderr, "tepui-master: cannot create the event loop\n");
        flags_free(&fs);
        return 1;
    }
    struct election *election = NULL;
    if (zk != NULL && zk[0] != '\0' &&
        (election = election_new(base, zk, zk_session_timeout, &err)) == NULL) {
        fprintf(stderr, "tepui-master: %s\n", err.msg);
        event_base_free(base);
        flags_free(&fs);
        return 2;
    }
    struct master *m = master_new(base, &fl, &fs, &err);
    /* A single master keeps its registry itself; with --zk it is in
     * ZooKeeper unless --registry names one. */
    if (m != NULL &&
        (election == NULL || (fl.registry != NULL && strcmp(fl.registry, "zookeeper") != 0)) &&
        (m->registry = open_registry(base, &fl, &err)) == NULL) {
        fprintf(stderr, "tepui-master: %s\n", err.msg);
        master_free(m);
        election_free(election);
        event_base_free(base);
        flags_free(&fs);
        return 1;
    }
    if (m == NULL || master_start(m, &err) != 0 ||
        (election == NULL && master_become_leader(m, &err) != 0)) {
        fprintf(stderr, "tepui-master: %s\n", err.msg);
        master_free(m);
        election_free(election);
        event_base_free(base);
        flags_free(&fs);
        return 1;
    }
    if (port_file != NULL && (rc = daemon_write_port_file(port_file, m->port)) != 0)
        log_error("cannot write --port_file %s: %s", port_file, strerror(-rc));
    /* With --zk the master leads only once elected, and redirects until then. */
    if (election != NULL) {
        if (m->registry == NULL)
            m->registry = registry_zk_new(base, election_zk(election), election_path(election),
                                          &err);
        election_start(election, m);
    }

    struct daemon_signals signals;
    daemon_signals_init(&signals, base, "master");

    event_base_dispatch(base);

    daemon_signals_free(&signals);
    int failed = m->registry_failed;
    master_free(m);
    election_free(election);
    /* Connections are released on the loop's next turn. */
    event_base_loop(base, EVLOOP_NONBLOCK);
    event_base_free(base);
    flags_free(&fs);
    libevent_global_shutdown();
    return failed ? 1 : 0;
}
