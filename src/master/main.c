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
#include "master/master.h"

#define LOG_COMPONENT "master"

int main(int argc, char **argv)
{
    struct master_flags fl = {0};
    char *port_file = NULL;
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

    struct event_base *base = event_base_new();
    struct master *m = master_new(base, &fl, &fs, &err);
    if (m == NULL || master_start(m, &err) != 0) {
        fprintf(stderr, "tepui-master: %s\n", err.msg);
        master_free(m);
        event_base_free(base);
        flags_free(&fs);
        return 1;
    }
    if (port_file != NULL && (rc = daemon_write_port_file(port_file, m->port)) != 0)
        log_error("cannot write --port_file %s: %s", port_file, strerror(-rc));

    struct daemon_signals signals;
    daemon_signals_init(&signals, base, "master");

    event_base_dispatch(base);

    daemon_signals_free(&signals);
    master_free(m);
    /* Connections are released on the loop's next turn. */
    event_base_loop(base, EVLOOP_NONBLOCK);
    event_base_free(base);
    flags_free(&fs);
    libevent_global_shutdown();
    return 0;
}
