/* tepui-agent: parse flags, create the loop, start the agent (HTTP routes,
 * executors, the link to the master), run until SIGINT or SIGTERM. */
#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/images/images.h"
#include "common/daemon.h"
#include "common/flags.h"
#include "common/log.h"

#define LOG_COMPONENT "agent"

int main(int argc, char **argv)
{
    struct agent_flags fl = {0};
    char *port_file = NULL;
    /* The image provisioner's child process (images/provision.c). */
    if (argc == 3 && strcmp(argv[1], IMAGES_PROVISION_ARG) == 0)
        return images_provision_main(argc, argv);
    struct flag_def defs[] = {
        {"master", FLAG_STRING, &fl.master, NULL,
         "The master: HOST:PORT, or zk://host:port[,host:port...]/path to follow the leading "
         "one of several (required)"},
        {"ip", FLAG_STRING, &fl.ip, "127.0.0.1", "IP address to listen on and advertise"},
        {"port", FLAG_INT, &fl.port, "5051", "Port to listen on (0 picks a free one)"},
        {"hostname", FLAG_STRING, &fl.hostname, NULL,
         "Hostname to advertise (default: the machine's hostname)"},
        {"work_dir", FLAG_STRING, &fl.work_dir, NULL,
         "Directory for sandboxes and the agent's state (required)"},
        {"resources", FLAG_STRING, &fl.resources, NULL,
         "Resources to offer, e.g. 'cpus:4;mem:2048;disk:10000;ports:[31000-32000]' or a JSON "
         "array (default: detected)"},
        {"attributes", FLAG_STRING, &fl.attributes, NULL, "Attributes, e.g. 'rack:2;zone:a'"},
        {"default_role", FLAG_STRING, &fl.default_role, "*",
         "Role of resources that --resources does not reserve"},
        {"executor_registration_timeout", FLAG_DURATION, &fl.executor_registration_timeout,
         "1mins", "Time an executor has to subscribe before it is destroyed"},
        {"executor_shutdown_grace_period", FLAG_DURATION, &fl.executor_shutdown_grace_period,
         "5secs", "Time an executor has to exit after SHUTDOWN before it is killed"},
        {"launcher_dir", FLAG_STRING, &fl.launcher_dir, NULL,
         "Directory holding tepui-executor (default: beside this binary)"},
        {"registration_backoff_factor", FLAG_DURATION, &fl.registration_backoff_factor, "1secs",
         "First (re-)registration backoff; doubles on each failure up to a minute"},
        {"executor_heartbeat_interval", FLAG_DURATION, &fl.executor_heartbeat_interval, "30mins",
         "Interval of HEARTBEAT events on executors' subscriptions"},
        {"status_update_retry_interval", FLAG_DURATION, &fl.status_update_retry_interval,
         "10secs", "First retry interval of an unacknowledged status update (doubles to 10mins)"},
        {"switch_user", FLAG_BOOL, &fl.switch_user, "true",
         "Run tasks as their framework's user when the agent is root"},
        {"executor_environment_variables", FLAG_STRING, &fl.executor_environment_variables, NULL,
         "JSON object of the environment executors get instead of the agent's"},
        {"max_body_size", FLAG_BYTES, &fl.max_body_size, "16MB",
         "Largest request body accepted (larger ones get 413)"},
        {"logging_level", FLAG_STRING, &fl.logging_level, "INFO",
         "Least severe level logged: DEBUG, INFO, WARNING or ERROR"},
        {"fetcher_cache_dir", FLAG_STRING, &fl.fetcher_cache_dir, NULL,
         "Directory of the fetcher's cache of URIs (default: <work_dir>/fetch)"},
        {"fetcher_cache_size", FLAG_BYTES, &fl.fetcher_cache_size, "2GB",
         "Size of the fetcher's cache; least recently used files go beyond it (0: no cache)"},
        {"fetcher_stall_timeout", FLAG_DURATION, &fl.fetcher_stall_timeout, "1mins",
         "A download that receives no data for this long fails"},
        {"recover", FLAG_STRING, &fl.recover, "reconnect",
         "On restart: 'reconnect' to executors of checkpointing frameworks that still run, or "
         "'cleanup' to kill them and register as a new agent"},
        {"strict", FLAG_BOOL, &fl.strict, "true",
         "Refuse to start when the checkpoint cannot be recovered in full (--no-strict "
         "recovers what it can)"},
        {"reconfiguration_policy", FLAG_STRING, &fl.reconfiguration_policy, "equal",
         "Changes to --resources and --attributes a restart may make: 'equal' (none) or "
         "'additive' (only additions)"},
        {"executor_reregistration_timeout", FLAG_DURATION, &fl.executor_reregistration_timeout,
         "2secs", "Time executors have to re-subscribe after the agent restarted"},
        {"recovery_timeout", FLAG_DURATION, &fl.recovery_timeout, "15mins",
         "Time executors of checkpointing frameworks wait for a restarted agent"},
        {"zk_session_timeout", FLAG_DURATION, &fl.zk_session_timeout, "10secs",
         "ZooKeeper session timeout when --master is a zk:// URL"},
        {"isolation", FLAG_STRING, &fl.isolation, "posix/cpu,posix/mem",
         "Isolators, comma-separated: posix/cpu, posix/mem, cgroups/cpu, cgroups/mem, "
         "cgroups/pids, cgroups/all, namespaces/pid, filesystem/linux, gpu/nvidia"},
        {"cgroups_hierarchy", FLAG_STRING, &fl.cgroups_hierarchy, "/sys/fs/cgroup",
         "Where the cgroup hierarchies are mounted (v1 controllers below it, or cgroup v2)"},
        {"cgroups_root", FLAG_STRING, &fl.cgroups_root, "tepui",
         "Name of the cgroup holding containers' cgroups in each hierarchy"},
        {"cgroups_enable_cfs", FLAG_BOOL, &fl.cgroups_enable_cfs, "false",
         "Cap containers' CPU time at their cpus with a CFS quota (cgroups/cpu)"},
        {"cgroups_limit_swap", FLAG_BOOL, &fl.cgroups_limit_swap, "false",
         "Limit memory plus swap, not only memory, to the container's mem (cgroups/mem)"},
        {"cgroups_pids_max", FLAG_INT, &fl.cgroups_pids_max, "4096",
         "Most processes and threads one container may have at once (cgroups/pids)"},
        {"image_store_dir", FLAG_STRING, &fl.image_store_dir, NULL,
         "Directory of container images (OCI image layouts, docker-archive directories or "
         "tarballs, found as <name>:<tag> or <name>) for tasks that name one"},
        {"docker_registry", FLAG_STRING, &fl.docker_registry, NULL,
         "Mesos's local docker registry: a directory of <repository>[:<tag>].tar archives "
         "(docker save); only local directories are supported"},
        {"port_file", FLAG_STRING, &port_file, NULL,
         "Write the port actually listened on to this file once serving"},
    };
    struct flag_set fs = {
        .program = "tepui-agent",
        .summary = "The tepui agent: offers this machine's resources and runs tasks on it.",
        .defs = defs,
        .n = sizeof(defs) / sizeof(defs[0]),
    };
    struct error err = {0};
    int rc = flags_parse(&fs, argc, argv, NULL, NULL, &err);
    if (rc != 0) {
        if (rc < 0)
            fprintf(stderr, "tepui-agent: %s\n", err.msg);
        flags_free(&fs);
        return rc < 0 ? 2 : 0;
    }
    int level = log_level_parse(fl.logging_level);
    if (level < 0 || fl.master == NULL || fl.work_dir == NULL) {
        fprintf(stderr, "tepui-agent: %s\n",
                level < 0 ? "unknown --logging_level" : "--master and --work_dir are required");
        flags_free(&fs);
        return 2;
    }
    log_set_level((enum log_level)level);

    struct event_base *base = event_base_new();
    struct agent *a = agent_new(base, &fl, &fs, &err);
    if (a == NULL || agent_start(a, &err) != 0) {
        fprintf(stderr, "tepui-agent: %s\n", err.msg);
        agent_free(a);
        event_base_free(base);
        flags_free(&fs);
        return 1;
    }
    if (port_file != NULL && (rc = daemon_write_port_file(port_file, a->port)) != 0)
        log_error("cannot write --port_file %s: %s", port_file, strerror(-rc));

    struct daemon_signals signals;
    daemon_signals_init(&signals, base, "agent");

    event_base_dispatch(base);

    daemon_signals_free(&signals);
    agent_free(a);
    /* Connections are released on the loop's next turn. */
    event_base_loop(base, EVLOOP_NONBLOCK);
    event_base_free(base);
    flags_free(&fs);
    libevent_global_shutdown();
    return 0;
}
