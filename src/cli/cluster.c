/* tepui cluster up: a master and N agents on this machine, in the
 * foreground. Children get their own process group (so Ctrl-C reaches only
 * us, and we stop agents before the master) and die with us if we are
 * killed. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/clock.h"
#include "common/flags.h"
#include "common/xalloc.h"

#define MAX_AGENTS 64

struct child {
    const char *name;
    pid_t pid;
    char log[1200];
};

static pid_t spawn(char **argv, const char *log, const sigset_t *orig_mask)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        close(fd);
    }
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0)
        dup2(devnull, STDIN_FILENO);
    sigprocmask(SIG_SETMASK, orig_mask, NULL);
    execv(argv[0], argv);
    dprintf(STDERR_FILENO, "tepui: cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

static int read_port(const char *path, pid_t pid, double timeout)
{
    double deadline = clock_mono() + timeout;
    while (clock_mono() < deadline) {
        FILE *f = fopen(path, "r");
        int port = 0;
        if (f != NULL) {
            if (fscanf(f, "%d", &port) != 1)
                port = 0;
            fclose(f);
            if (port > 0)
                return port;
        }
        if (waitpid(pid, NULL, WNOHANG) == pid)
            return -1;
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return -1;
}

static void print_log_tail(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, size > 2000 ? size - 2000 : 0, SEEK_SET);
    char buf[2048];
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    fprintf(stderr, "---- %s ----\n%.*s\n", path, (int)n, buf);
}

static void stop_child(struct child *c, double grace)
{
    if (c->pid <= 0)
        return;
    kill(c->pid, SIGTERM);
    double deadline = clock_mono() + grace;
    while (clock_mono() < deadline) {
        if (waitpid(c->pid, NULL, WNOHANG) == c->pid) {
            c->pid = 0;
            return;
        }
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    kill(c->pid, SIGKILL);
    waitpid(c->pid, NULL, 0);
    c->pid = 0;
}

int cli_cluster(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "up") != 0) {
        fprintf(stderr, "Usage: tepui cluster up [--agents=N] [--work_dir=DIR] [--port=P]\n");
        return 2;
    }
    int n_agents = 1, port = 5050;
    char *work_dir = NULL, *ip = NULL, *resources = NULL, *logging_level = NULL;
    struct flag_def defs[] = {
        {"agents", FLAG_INT, &n_agents, "1", "Number of agents to start"},
        {"work_dir", FLAG_STRING, &work_dir, NULL,
         "Directory for logs, sandboxes and state (default: a new one under /tmp)"},
        {"port", FLAG_INT, &port, "5050", "The master's port (agents take free ports)"},
        {"ip", FLAG_STRING, &ip, "127.0.0.1", "Address everything listens on"},
        {"resources", FLAG_STRING, &resources, NULL,
         "Resources of each agent (default: detected from the machine)"},
        {"logging_level", FLAG_STRING, &logging_level, "INFO", "Logging level of the daemons"},
    };
    struct flag_set fs = {.program = "tepui cluster up",
                          .summary = "Runs a master and agents on this machine until Ctrl-C.",
                          .defs = defs, .n = sizeof(defs) / sizeof(defs[0])};
    struct error err = {0};
    int rc = flags_parse(&fs, argc - 1, argv + 1, NULL, NULL, &err);
    if (rc != 0) {
        if (rc < 0)
            fprintf(stderr, "tepui cluster up: %s\n", err.msg);
        flags_free(&fs);
        return rc < 0 ? 2 : 0;
    }
    if (n_agents < 0 || n_agents > MAX_AGENTS) {
        fprintf(stderr, "tepui cluster up: --agents must be between 0 and %d\n", MAX_AGENTS);
        flags_free(&fs);
        return 2;
    }
    char dir[1024];
    if (work_dir != NULL) {
        snprintf(dir, sizeof(dir), "%s", work_dir);
        if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
            fprintf(stderr, "tepui cluster up: cannot create %s: %s\n", dir, strerror(errno));
            flags_free(&fs);
            return 1;
        }
    } else {
        snprintf(dir, sizeof(dir), "/tmp/tepui-cluster-XXXXXX");
        if (mkdtemp(dir) == NULL) {
            fprintf(stderr, "tepui cluster up: cannot create a work dir: %s\n", strerror(errno));
            flags_free(&fs);
            return 1;
        }
    }

    /* Signals are taken synchronously below; children get the old mask. */
    sigset_t mask, orig;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGCHLD);
    sigprocmask(SIG_BLOCK, &mask, &orig);

    struct child master = {.name = "master"};
    struct child agents[MAX_AGENTS];
    memset(agents, 0, sizeof(agents));
    char bin[1100], port_file[1100], a_port[64], a_ip[300], a_wd[1100], a_pf[1200], a_ll[300];
    snprintf(bin, sizeof(bin), "%s/tepui-master", cli_bin_dir());
    snprintf(port_file, sizeof(port_file), "%s/master.port", dir);
    unlink(port_file);
    snprintf(master.log, sizeof(master.log), "%s/master.log", dir);
    snprintf(a_port, sizeof(a_port), "--port=%d", port);
    snprintf(a_ip, sizeof(a_ip), "--ip=%s", ip);
    snprintf(a_wd, sizeof(a_wd), "--work_dir=%s/master", dir);
    snprintf(a_pf, sizeof(a_pf), "--port_file=%s", port_file);
    snprintf(a_ll, sizeof(a_ll), "--logging_level=%s", logging_level);
    char *margv[] = {bin, a_ip, a_port, a_wd, a_pf, a_ll, NULL};
    master.pid = spawn(margv, master.log, &orig);
    int master_port = read_port(port_file, master.pid, 20);
    if (master_port <= 0) {
        fprintf(stderr, "tepui cluster up: the master did not start\n");
        print_log_tail(master.log);
        stop_child(&master, 1);
        flags_free(&fs);
        return 1;
    }

    char m_flag[300], ab[1100];
    snprintf(m_flag, sizeof(m_flag), "--master=%s:%d", ip, master_port);
    snprintf(ab, sizeof(ab), "%s/tepui-agent", cli_bin_dir());
    for (int i = 0; i < n_agents; i++) {
        char wd[1100], pf[1200], res[4200];
        agents[i].name = "agent";
        snprintf(agents[i].log, sizeof(agents[i].log), "%s/agent%d.log", dir, i);
        snprintf(wd, sizeof(wd), "--work_dir=%s/agent%d", dir, i);
        snprintf(pf, sizeof(pf), "--port_file=%s/agent%d.port", dir, i);
        snprintf(res, sizeof(res), "--resources=%s", resources ? resources : "");
        char *aargv[] = {ab, m_flag, a_ip, "--port=0", wd, pf, a_ll,
                         resources ? res : NULL, NULL};
        agents[i].pid = spawn(aargv, agents[i].log, &orig);
    }

    /* Ready once every agent has registered. */
    double deadline = clock_mono() + 30;
    int registered = 0;
    while (clock_mono() < deadline) {
        json_t *st = cli_get_json(ip, master_port, "/state");
        registered = st ? (int)json_integer_value(json_object_get(st, "activated_slaves")) : 0;
        json_decref(st);
        if (registered >= n_agents)
            break;
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (registered < n_agents) {
        fprintf(stderr, "tepui cluster up: only %d of %d agents registered\n", registered, n_agents);
        for (int i = 0; i < n_agents; i++)
            print_log_tail(agents[i].log);
    }
    printf("tepui cluster up: master at http://%s:%d with %d agent(s); logs and sandboxes in %s\n"
           "Press Ctrl-C to stop.\n", ip, master_port, registered, dir);
    fflush(stdout);

    int exit_code = 0;
    for (;;) {
        siginfo_t si;
        int sig = sigwaitinfo(&mask, &si);
        if (sig == SIGINT || sig == SIGTERM)
            break;
        if (sig != SIGCHLD)
            continue;
        int status;
        pid_t pid;
        int master_died = 0;
        while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
            struct child *c = pid == master.pid ? &master : NULL;
            for (int i = 0; c == NULL && i < n_agents; i++)
                if (agents[i].pid == pid)
                    c = &agents[i];
            if (c == NULL)
                continue;
            fprintf(stderr, "tepui cluster up: %s (pid %d) exited unexpectedly (status %d); see %s\n",
                    c->name, (int)pid, status, c->log);
            c->pid = 0;
            master_died |= c == &master;
        }
        if (master_died) {
            exit_code = 1;
            break;
        }
    }

    printf("tepui cluster up: stopping\n");
    for (int i = 0; i < n_agents; i++)
        stop_child(&agents[i], 15);
    stop_child(&master, 10);
    flags_free(&fs);
    return exit_code;
}
